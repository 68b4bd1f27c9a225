import CustodyBase
import CustodyCrypto
import CustodyIO
import CustodyLedger

/// A log service as `custody ledger` commands use it (SPEC 4.9.6): its identity and checkpoint, appends signed
/// here (the key never leaves), proofs, entries from tlog-tiles entry bundles, and a local mirror to verify.
/// Every checkpoint is checked against the log's key, and every append's answer against the submission.
public struct RemoteLog: Sendable {
    /// The HTTP client.
    public let client: LogClient
    /// The log's owner, from `/identity` (self-signed).
    public let owner: Identity

    /// Connects to `url` and reads the log's identity.
    public init(url: String) throws {
        client = try LogClient(url: url)
        let document = try client.fetch("/identity", limit: 64 << 10)
        do {
            owner = try Identity.parse(document, source: "\(url)/identity")
        } catch {
            throw LogClientError.unproven(url: url, reason: "its /identity is not a custody identity: \(error)")
        }
    }

    /// The latest checkpoint note, its signature checked with the log's key.
    public func checkpoint() throws -> (note: [UInt8], checkpoint: Checkpoint) {
        let note = try client.fetch("/checkpoint", limit: 1 << 20)
        do {
            return (note, try Checkpoint.open(note, keys: [owner.verifierKey]))
        } catch {
            throw LogClientError.unproven(url: client.url, reason: "its checkpoint does not check: \(error)")
        }
    }

    /// Signs `draft` as the officer holding `key`, submits it, and returns the answer once the log has made it
    /// durable, after checking that the entry carries this submission intact, is signed by the log, and is
    /// proven included in the log-signed checkpoint returned.
    public func append(_ draft: LedgerEntryDraft, key: SigningKey) throws -> LogAppendResult {
        let origin = try checkpointOrigin()
        let submission = try LogSubmission.sign(draft, log: origin, key: key)
        let answer = try client.post("/add", body: submission.requestBody)
        try client.check(answer)
        return try checkAnswer(answer.body, submission: submission)
    }

    private func checkpointOrigin() throws -> String {
        try checkpoint().checkpoint.origin
    }

    func checkAnswer(_ body: [UInt8], submission: LogSubmission) throws -> LogAppendResult {
        func fail(_ reason: String) -> LogClientError { .unproven(url: client.url, reason: reason) }
        guard let json = try? JSONValue.parse(body), let entryText = json["entry"]?.stringValue,
              let noteText = json["checkpoint"]?.stringValue, let proofJSON = json["proof"]
        else { throw fail("the append's answer is not {entry, checkpoint, proof}") }
        let entryBytes = Array(entryText.utf8)
        let note = Array(noteText.utf8)
        let proof = try InclusionProof(json: proofJSON.canonicalBytes, source: "the append's proof")
        let checkpoint: Checkpoint
        do { checkpoint = try Checkpoint.open(note, keys: [owner.verifierKey]) } catch {
            throw fail("the append's checkpoint does not check: \(error)")
        }
        let entry = try LedgerEntry.parse(entryBytes)
        guard try entry.verifySignature(with: owner.publicKey), entry.actor.keyID == owner.keyIDHex else {
            throw fail("the appended entry is not signed by the log's key")
        }
        guard let carried = try LogSubmission.embedded(in: entry), carried == submission else {
            throw fail("the appended entry does not carry the submission as signed")
        }
        let mismatches = proof.mismatches(entry: entryBytes, key: owner.verifierKey, to: checkpoint)
        guard mismatches.isEmpty else {
            let reasons = mismatches.map(\.description).joined(separator: "; ")
            throw fail("the append's inclusion proof does not check: \(reasons)")
        }
        return LogAppendResult(entry: entryBytes, checkpoint: note, proof: proof)
    }

    /// The inclusion proof of entry `index` in the tree of `size` entries (default: the latest).
    public func inclusionProof(index: UInt64, size: UInt64?) throws -> InclusionProof {
        let query = "/proof/inclusion?index=\(index)" + (size.map { "&size=\($0)" } ?? "")
        let proof = try InclusionProof(json: client.fetch(query), source: "\(client.url) inclusion proof")
        guard proof.verify() else {
            throw LogClientError.unproven(url: client.url, reason: "its inclusion proof does not verify")
        }
        return proof
    }

    /// The consistency proof between sizes `from` and `to` (default: the latest).
    public func consistencyProof(from: UInt64, to: UInt64?) throws -> ConsistencyProof {
        let query = "/proof/consistency?from=\(from)" + (to.map { "&to=\($0)" } ?? "")
        return try ConsistencyProof(json: client.fetch(query), source: "\(client.url) consistency proof")
    }

    /// Calls `body` with the exact bytes of entries `from..<to`, read from tlog-tiles entry bundles (partial
    /// bundles for the tail), each bundle's entries checked against the level-0 tile of the same range.
    public func entries(from: UInt64, to: UInt64, _ body: ([UInt8]) throws -> Void) throws {
        var next = from
        while next < to {
            let bundle = next / TilePath.width
            let end = min((bundle + 1) * TilePath.width, to)
            let full = (bundle + 1) * TilePath.width <= to
            let width = full ? nil : Int(end - bundle * TilePath.width)
            let bundlePath = TilePath(level: nil, index: bundle, partialWidth: width)
            let tilePath = TilePath(level: 0, index: bundle, partialWidth: width)
            let bytes = try client.fetch("/" + bundlePath.path, limit: 256 * 65_537)
            let hashes = try client.fetch("/" + tilePath.path, limit: 8192)
            let entries = try Self.splitBundle(bytes, url: client.url)
            guard entries.count == bundlePath.count, hashes.count == 32 * bundlePath.count else {
                throw LogClientError.unproven(
                    url: client.url,
                    reason: "\(bundlePath.path) holds \(entries.count) entries, not \(bundlePath.count)")
            }
            for (offset, entry) in entries.enumerated() {
                let position = bundle * TilePath.width + UInt64(offset)
                guard position >= next, position < end else { continue }
                guard Merkle.leafHash(entry).bytes == Array(hashes[(offset * 32)..<(offset * 32 + 32)]) else {
                    throw LogClientError.unproven(
                        url: client.url, reason: "entry \(position) does not hash to its leaf in \(tilePath.path)")
                }
                try body(entry)
            }
            next = end
        }
    }

    /// The entries of an entry bundle: each behind its big-endian uint16 length.
    public static func splitBundle(_ bytes: [UInt8], url: String) throws -> [[UInt8]] {
        var entries: [[UInt8]] = []
        var position = 0
        while position < bytes.count {
            guard position + 2 <= bytes.count else {
                throw LogClientError.badAnswer(url: url, reason: "an entry bundle ends inside a length")
            }
            let length = Int(bytes[position]) << 8 | Int(bytes[position + 1])
            position += 2
            guard position + length <= bytes.count else {
                throw LogClientError.badAnswer(url: url, reason: "an entry bundle ends inside an entry")
            }
            entries.append(Array(bytes[position..<(position + length)]))
            position += length
        }
        return entries
    }

    /// Copies the log, up to its latest checkpoint, into a new ledger file at `path` (owned by the log's identity)
    /// and returns it with the checkpoint, ready for `verify`.
    public func mirror(to path: String) throws -> (ledger: Ledger, checkpoint: [UInt8]) {
        let (note, checkpoint) = try self.checkpoint()
        let document = try client.fetch("/identity", limit: 64 << 10)
        let trimmed = document.last == 10 ? Array(document.dropLast()) : document
        let ledger = try Ledger(store: SQLiteLedgerStore.create(
            path: path, origin: checkpoint.origin, ownerDocument: trimmed))
        var pending: [[UInt8]] = []
        try entries(from: 0, to: checkpoint.size) { entry in
            pending.append(entry)
            if pending.count == 4096 {
                try ledger.mirrorAppend(pending)
                pending.removeAll(keepingCapacity: true)
            }
        }
        try ledger.mirrorAppend(pending, checkpoint: note)
        return (ledger, note)
    }
}
