import CustodyBase
import CustodyBundle
import CustodyCrypto
import CustodyLedger
import Dispatch
import Synchronization

/// Limits the service applies (SPEC 4.9.4).
public struct LogServiceLimits: Sendable {
    /// The largest entry the log appends: 65,535 bytes, so every entry fits a tlog-tiles entry bundle.
    public var entryBytes = 65_535
    /// The largest `POST /add` body.
    public var requestBytes = 128 << 10
    /// How far a submission's time may be from the log's clock, in seconds.
    public var timeWindow: Int64 = 300
    /// Appends per second one officer key may make (a token bucket holding `officerBurst`).
    public var officerRate: Double = 50
    /// The most appends one officer key may make at once.
    public var officerBurst: Double = 200
    /// The most submissions waiting for integration; more are refused with 503.
    public var pendingSubmissions = 65_536
    /// The most submissions one integration appends.
    public var batchSize = 4_096
    /// Full tiles and entry bundles kept in memory.
    public var cachedTiles = 4_096

    /// The defaults.
    public init() {}
}

/// What a service request could not do: an HTTP status and a one-line reason.
public struct LogServiceError: CustodyFailure, Equatable {
    /// The HTTP status code.
    public var status: Int
    /// Why.
    public var message: String

    /// An error with its status.
    public init(status: Int, _ message: String) {
        self.status = status
        self.message = message
    }

    /// Refusals and failures are operations that could not be done.
    public var kind: FailureKind { .operational }
    /// The message.
    public var description: String { message }

    /// The status of a refused submission.
    static func refusal(_ error: LogSubmissionError) -> LogServiceError {
        let status =
            switch error {
            case .malformed: 400
            case .badSignature, .keyIDMismatch: 401
            case .untrustedOfficer: 403
            case .replayed: 409
            case .entryTooLarge: 413
            case .wrongLog, .timeOutsideWindow: 422
            }
        return LogServiceError(status: status, error.description)
    }
}

/// The answer to an accepted submission: the entry as appended, the checkpoint of the integration that
/// included it and the entry's inclusion proof against that checkpoint.
public struct LogAppendResult: Sendable {
    /// The entry's exact bytes.
    public var entry: [UInt8]
    /// The checkpoint note.
    public var checkpoint: [UInt8]
    /// The inclusion proof of the entry in the checkpoint's tree.
    public var proof: InclusionProof

    /// An answer from its parts.
    public init(entry: [UInt8], checkpoint: [UInt8], proof: InclusionProof) {
        self.entry = entry
        self.checkpoint = checkpoint
        self.proof = proof
    }

    /// The canonical JSON of `json`, written directly (the entry is escaped once, not parsed and re-encoded).
    public var canonicalBytes: [UInt8] {
        var out: [UInt8] = Array(#"{"checkpoint":"#.utf8)
        out.reserveCapacity(entry.count * 5 / 4 + checkpoint.count + 1024)
        JSONValue.writeString(String(decoding: checkpoint, as: UTF8.self), into: &out)
        out += Array(#","entry":"#.utf8)
        JSONValue.writeString(String(decoding: entry, as: UTF8.self), into: &out)
        out += Array(#","index":\#(proof.index),"proof":"#.utf8)
        out += proof.json.canonicalBytes
        out.append(0x7d)
        return out
    }

    /// The JSON answer `{"checkpoint","entry","index","proof"}` (entry and checkpoint as text).
    public var json: JSONValue {
        .object([
            "index": .int(Int64(proof.index)), "entry": .string(String(decoding: entry, as: UTF8.self)),
            "checkpoint": .string(String(decoding: checkpoint, as: UTF8.self)), "proof": proof.json,
        ])
    }
}

/// Which officers may submit: those whose name and public key a trust store holds together.
public struct OfficerTrust: Sendable {
    private let keys: Set<String>

    /// Officers of `store`.
    public init(_ store: TrustStore) {
        keys = Set(store.entries.map { $0.name + "\u{0}" + Base64.encode($0.publicKey.rawBytes) })
    }

    /// Whether `officer` (name and key) is trusted.
    public func trusts(_ officer: LogOfficer) -> Bool {
        keys.contains(officer.name + "\u{0}" + Base64.encode(officer.publicKey.rawBytes))
    }
}

/// A non-Sendable value handed between threads that never use it at once.
final class Handoff<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

/// The agency log service (SPEC 4.9): accepts officer-signed submissions, sequences them in batches
/// (integrations, one durable transaction and one checkpoint each), and reads checkpoints, tiles and entries.
/// It keeps no state the log does not hold but caches and the replay window, which it rebuilds from the log:
/// several services on one store form one log.
public final class LogService: Sendable {
    /// The limits in force.
    public let limits: LogServiceLimits
    /// The log's origin.
    public let origin: String
    /// The log owner's identity document (what `GET /identity` serves).
    public let ownerDocument: [UInt8]
    let key: SigningKey
    let trust: OfficerTrust
    let openLedger: @Sendable (_ forWriting: Bool) throws -> Ledger
    private let readers = Mutex<[Handoff<Ledger>]>([])
    private let readQueue = DispatchQueue(label: "custody.serve.read", attributes: .concurrent)
    let integrator: Integrator
    private let buckets = Mutex<[String: (tokens: Double, at: Double)]>([:])
    let tileCache: TileCache

    /// A service over the ledger `openLedger` opens (read-write when `forWriting`), signing with `key` (the
    /// ledger owner's), accepting officers `trust` holds.
    public init(
        key: SigningKey, trust: TrustStore, limits: LogServiceLimits = LogServiceLimits(),
        openLedger: @escaping @Sendable (_ forWriting: Bool) throws -> Ledger
    ) throws {
        let writer = try openLedger(true)
        guard writer.owner.publicKey == key.identity.publicKey, writer.owner.name == key.identity.name else {
            throw LedgerError.ownerKeyMismatch(
                key: "\(key.identity.name)+\(key.identity.keyIDHex)",
                owner: "\(writer.owner.name)+\(writer.owner.keyIDHex)", location: writer.store.location)
        }
        self.limits = limits
        self.key = key
        self.trust = OfficerTrust(trust)
        self.openLedger = openLedger
        origin = writer.origin
        ownerDocument = try writer.owner.document(signedWith: key.privateKey)
        tileCache = TileCache(capacity: limits.cachedTiles)
        // A new log serves a checkpoint from the start (size 0), so clients learn its origin and key.
        if try writer.latestCheckpoint() == nil { try writer.makeCheckpoint(key: key) }
        integrator = try Integrator(ledger: writer, key: key, limits: limits)
    }

    /// Runs `body` with a reading ledger off the event loops, on the read queue.
    func read<R: Sendable>(_ body: @escaping @Sendable (Ledger) throws -> R) async throws -> R {
        try await withCheckedThrowingContinuation { continuation in
            readQueue.async {
                do {
                    let reader = try self.readers.withLock { $0.popLast() } ?? Handoff(self.openLedger(false))
                    defer { self.readers.withLock { $0.append(reader) } }
                    continuation.resume(returning: try body(reader.value))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Checks a `POST /add` body and, when it passes, waits until it is durable in the log.
    public func add(_ body: [UInt8]) async throws -> LogAppendResult {
        guard body.count <= limits.requestBytes else {
            throw LogServiceError(status: 413, "the request is larger than \(limits.requestBytes) bytes")
        }
        let submission: LogSubmission
        do {
            submission = try LogSubmission(requestBody: body)
            try submission.checkSignature()
            guard trust.trusts(submission.officer) else {
                throw LogSubmissionError.untrustedOfficer(submission.officer.label)
            }
            guard submission.log == origin else {
                throw LogSubmissionError.wrongLog(submitted: submission.log, log: origin)
            }
            let now = Timestamp.now()
            guard abs(submission.time.secondsSinceEpoch - now.secondsSinceEpoch) <= limits.timeWindow else {
                throw LogSubmissionError.timeOutsideWindow(
                    time: submission.time.description, now: now.description, window: limits.timeWindow)
            }
            // The largest the entry can be: the longest sequence number a ledger can hold.
            let size = LedgerEntry.encodedSize(
                submission.entryDraft, sequence: Ledger.largestSize, time: now, origin: origin,
                actor: LedgerActor(key.identity))
            guard size <= limits.entryBytes else {
                throw LogSubmissionError.entryTooLarge(size: size, limit: limits.entryBytes)
            }
        } catch let error as LogSubmissionError {
            throw LogServiceError.refusal(error)
        } catch let error as LedgerError {
            throw LogServiceError(status: 400, "malformed submission: \(error)")
        }
        try takeToken(for: submission.officer)
        return try await integrator.submit(submission)
    }

    private func takeToken(for officer: LogOfficer) throws {
        let now = MonotonicClock.seconds()
        let rate = limits.officerRate
        let burst = limits.officerBurst
        let allowed = buckets.withLock { buckets -> Bool in
            let name = Base64.encode(officer.publicKey.rawBytes)
            var bucket = buckets[name] ?? (burst, now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.at) * rate)
            bucket.at = now
            let allowed = bucket.tokens >= 1
            if allowed { bucket.tokens -= 1 }
            buckets[name] = bucket
            if buckets.count > 100_000 { buckets = buckets.filter { now - $0.value.at < 60 } }
            return allowed
        }
        guard allowed else {
            throw LogServiceError(
                status: 429, "officer \(officer.label) is over the log's rate of \(Int(rate)) appends a second")
        }
    }

    /// The latest checkpoint note.
    public func checkpoint() async throws -> [UInt8] {
        try await read { ledger in
            guard let (_, note) = try ledger.latestCheckpointWithSize() else {
                throw LogServiceError(status: 404, "the log has no checkpoint yet (no entries)")
            }
            return note
        }
    }

    /// The bytes of a tile or entry bundle, or a 404 error when the tree does not hold it.
    public func tile(_ path: TilePath) async throws -> [UInt8] {
        if path.partialWidth == nil, let cached = tileCache.get(path) { return cached }
        let bytes: [UInt8] = try await read { ledger in
            let start = path.index * TilePath.width
            do {
                if path.level == nil {
                    var out: [UInt8] = []
                    for entry in try ledger.entryBytes(from: start, count: path.count) {
                        guard entry.count <= 65_535 else {
                            throw LogServiceError(
                                status: 500, "an entry in this bundle is larger than 65,535 bytes and cannot be served")
                        }
                        out.append(UInt8(entry.count >> 8))
                        out.append(UInt8(entry.count & 0xff))
                        out.append(contentsOf: entry)
                    }
                    return out
                }
                let level = path.level! * TilePath.height
                guard level < 48 else { throw LedgerError.sizeExceedsLedger(size: UInt64.max, current: 0) }
                return try ledger.subtreeHashes(level: level, from: start, count: path.count).flatMap(\.bytes)
            } catch LedgerError.sizeExceedsLedger, LedgerError.rangeOutsideLedger {
                throw LogServiceError(status: 404, "\(path.path) is beyond the log's tree")
            }
        }
        if path.partialWidth == nil { tileCache.put(path, bytes) }
        return bytes
    }
}

/// Full tiles and entry bundles (immutable) kept in memory, the oldest dropped first.
final class TileCache: Sendable {
    private let state = Mutex<(tiles: [String: [UInt8]], order: [String], head: Int)>(([:], [], 0))
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func get(_ path: TilePath) -> [UInt8]? { state.withLock { $0.tiles[path.path] } }

    func put(_ path: TilePath, _ bytes: [UInt8]) {
        guard capacity > 0 else { return }
        let name = path.path
        state.withLock { state in
            guard state.tiles[name] == nil else { return }
            if state.order.count < capacity {
                state.order.append(name)
            } else {
                state.tiles[state.order[state.head]] = nil
                state.order[state.head] = name
                state.head = (state.head + 1) % capacity
            }
            state.tiles[name] = bytes
        }
    }
}
