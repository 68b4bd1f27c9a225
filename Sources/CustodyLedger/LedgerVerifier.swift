import CustodyBase
import CustodyCrypto
import CustodyIO
import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One thing `Ledger.verify` found wrong.
public struct LedgerProblem: Sendable, Equatable {
    /// What a problem concerns.
    public enum Kind: String, Sendable {
        /// An entry is malformed, mis-signed, out of place, missing or does not chain.
        case entry
        /// A stored tree node differs from the recomputed tree.
        case tree
        /// A checkpoint is invalid or does not match the entries.
        case checkpoint
        /// The recorded head disagrees with the stored entries.
        case head
        /// Two entries record checkpoints of another log with one origin and size but different roots (a fork).
        case recordedCheckpoint = "recorded-checkpoint"
    }

    /// What the problem concerns.
    public var kind: Kind
    /// The entry concerned, if any.
    public var entry: UInt64?
    /// The checkpoint sizes concerned, if any.
    public var checkpoints: [UInt64]
    /// The one-line message naming the entry, node or checkpoint and what is wrong.
    public var message: String

    /// The JSON form: kind, message, and the entry and checkpoints when known.
    public var json: JSONValue {
        var members: [String: JSONValue] = ["kind": .string(kind.rawValue), "message": .string(message)]
        if let entry { members["entry"] = .int(Int64(entry)) }
        if !checkpoints.isEmpty { members["checkpoints"] = .array(checkpoints.map { .int(Int64($0)) }) }
        return .object(members)
    }
}

/// The result of recomputing a whole ledger.
public struct LedgerVerificationReport: Sendable {
    /// Where the ledger lives.
    public var location: String
    /// Entries examined.
    public var entries: UInt64
    /// The entry count the head records.
    public var recordedSize: UInt64
    /// The root recomputed from the entries.
    public var root: Hash32
    /// Checkpoints checked (stored and external).
    public var checkpointsChecked: Int
    /// Problems, in the order found (at most `LedgerVerificationReport.problemLimit`).
    public var problems: [LedgerProblem]
    /// Problems found in all, including those beyond the limit.
    public var problemCount: Int
    /// The first entry found bad (edited, missing, out of order, inserted, truncated), if any.
    public var firstBadEntry: UInt64?
    /// Pairs of checkpoint sizes that cannot both be right.
    public var inconsistentCheckpoints: [(UInt64, UInt64)]

    /// The most problems a report lists (all are counted).
    public static let problemLimit = 100

    /// Whether nothing was found wrong.
    public var passed: Bool { problemCount == 0 }

    /// The JSON form (`custody ledger verify --json`).
    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "ledger": .string(location),
            "passed": .bool(passed),
            "entries": .int(Int64(entries)),
            "recordedSize": .int(Int64(recordedSize)),
            "root": .string(root.hex),
            "checkpoints": .int(Int64(checkpointsChecked)),
            "problemCount": .int(Int64(problemCount)),
            "problems": .array(problems.map(\.json)),
            "inconsistentCheckpoints": .array(
                inconsistentCheckpoints.map { .array([.int(Int64($0.0)), .int(Int64($0.1))]) }),
        ]
        members["firstBadEntry"] = firstBadEntry.map { .int(Int64($0)) } ?? .null
        return .object(members)
    }
}

/// A box for handing non-Sendable state between the verification stages, which never touch it concurrently.
private final class Unchecked<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

/// Reusable verification contexts for concurrent workers (a context serves one thread at a time).
private final class VerifierPool: @unchecked Sendable {
    private let publicKey: Ed25519PublicKey
    private let lock = PthreadMutex()
    private var idle: [Ed25519Verifier] = []

    init(_ publicKey: Ed25519PublicKey) { self.publicKey = publicKey }

    func take() -> Ed25519Verifier {
        lock.withLock { idle.popLast() } ?? Ed25519Verifier(publicKey)
    }

    func give(_ verifier: Ed25519Verifier) {
        lock.withLock { idle.append(verifier) }
    }
}

/// A pthread mutex.
private final class PthreadMutex: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func withLock<R>(_ body: () -> R) -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body()
    }
}

/// What the parallel stage learns about one entry.
private struct EntryCheck {
    var storedSequence: UInt64 = 0
    var leaf = Merkle.emptyRoot
    var fieldSequence: UInt64?
    var previous: Hash32?
    var problem: String?
    var recorded: [RecordedCheckpoint] = []
}

/// A batch read from the store.
private struct VerifyBatch {
    var sequences: [UInt64] = []
    var data: [[UInt8]] = []
    var nodes: [(UInt64, [UInt8])] = []
    var checks: [EntryCheck] = []
}

/// A checkpoint to compare with the recomputed tree.
private struct CheckpointClaim {
    var size: UInt64
    var root: Hash32?
    var source: String
    var problem: String?
    var matched = false
}

/// The in-order part of verification: sequence, chain, tree nodes, checkpoints.
private final class SequentialVerifier {
    var frontier = TreeFrontier()
    var previous = LedgerEntry.noPrevious
    var nextSequence: UInt64 = 0
    var treeComparable = true
    var problems: [LedgerProblem] = []
    var problemCount = 0
    var firstBadEntry: UInt64?
    var claims: [CheckpointClaim]
    var claimCursor = 0
    var recordedCheckpoints = RecordedCheckpointBook()

    init(claims: [CheckpointClaim]) {
        self.claims = claims
        checkClaims()
    }

    func report(_ kind: LedgerProblem.Kind, entry: UInt64?, checkpoints: [UInt64] = [], _ message: String) {
        problemCount += 1
        if problems.count < LedgerVerificationReport.problemLimit {
            problems.append(LedgerProblem(kind: kind, entry: entry, checkpoints: checkpoints, message: message))
        }
        if let entry, kind == .entry || kind == .head { firstBadEntry = min(firstBadEntry ?? entry, entry) }
    }

    /// Compares checkpoints whose size the tree has reached.
    func checkClaims() {
        while claimCursor < claims.count, claims[claimCursor].size <= frontier.size {
            if claims[claimCursor].size == frontier.size, claims[claimCursor].problem == nil {
                claims[claimCursor].matched = claims[claimCursor].root == frontier.root
            }
            claimCursor += 1
        }
    }

    func process(_ batch: VerifyBatch) {
        var nodeIndex = 0
        for check in batch.checks {
            let stored = check.storedSequence
            if stored != nextSequence {
                if stored > nextSequence {
                    let range =
                        stored - nextSequence == 1
                        ? "entry \(nextSequence) is" : "entries \(nextSequence) to \(stored - 1) are"
                    report(.entry, entry: nextSequence, "\(range) missing (deleted)")
                }
                treeComparable = false
            }
            if let problem = check.problem {
                report(.entry, entry: stored, "entry \(stored): \(problem)")
            } else if let field = check.fieldSequence, field != stored {
                report(
                    .entry, entry: stored,
                    "entry \(stored): holds sequence number \(field) (entries reordered "
                        + "or inserted)")
            }
            if let prev = check.previous, prev != previous {
                report(
                    .entry, entry: stored,
                    "entry \(stored): does not chain to the entry before it (prev "
                        + "\(prev.hex.prefix(16))..., expected \(previous.hex.prefix(16))...)")
            }
            for recorded in check.recorded {
                if let earlier = recordedCheckpoints.add(recorded) {
                    report(
                        .recordedCheckpoint, entry: stored,
                        "entry \(stored) records \(recorded.origin) at size \(recorded.size) with root "
                            + "\(recorded.root.hex.prefix(16))... (\(recorded.field)), entry \(earlier.entry) with "
                            + "root \(earlier.root.hex.prefix(16))... (\(earlier.field)): that log forked; ask its "
                            + "holder which is genuine")
                }
            }
            previous = check.leaf
            nextSequence = stored + 1
            let compare = treeComparable
            frontier.append(check.leaf) { position, hash in
                guard compare else { return }
                while nodeIndex < batch.nodes.count, batch.nodes[nodeIndex].0 < position { nodeIndex += 1 }
                if nodeIndex < batch.nodes.count, batch.nodes[nodeIndex].0 == position {
                    if Hash32(batch.nodes[nodeIndex].1) != hash {
                        report(
                            .tree, entry: nil,
                            "stored tree node \(position) (covering entry \(stored)) differs "
                                + "from the recomputed tree")
                    }
                    nodeIndex += 1
                } else {
                    report(.tree, entry: nil, "stored tree node \(position) (covering entry \(stored)) is missing")
                }
            }
            checkClaims()
        }
    }
}

extension Ledger {
    /// The number of CPUs online.
    public static var processorCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Recomputes everything from the stored entries: each entry's syntax, origin, actor and signature (in
    /// parallel on every CPU, in chunks of 64 entries), the sequence, the hash chain, every stored tree node, the
    /// head and every stored checkpoint (signature and root), plus `externalCheckpoints` (signed notes from
    /// elsewhere); and that no two entries record checkpoints of another log (`RecordedCheckpoint`) with one
    /// origin and size but different roots. An entry carrying an officer's submission (SPEC 4.9) must also hold
    /// a well-formed submission whose officer signature verifies; with `trustedOfficer`, the officer must be
    /// trusted by it.
    /// - Throws: only when the store cannot be read or returns what custody never writes (`LedgerError`);
    ///   findings go in the report.
    public func verify(
        externalCheckpoints: [(source: String, note: [UInt8])] = [],
        batchSize: Int = 4096,
        trustedOfficer: (@Sendable (LogOfficer) -> Bool)? = nil
    ) throws -> LedgerVerificationReport {
        let reader = try records.makeReader()
        let owner = self.owner
        let origin = self.origin
        let ownerKey = owner.verifierKey
        return try reader.readTransaction {
            let head = try reader.head()
            // Every stored row's number is in range (the store refuses others), so the streaming below sees them all.
            _ = try reader.entryExtent()
            let stored = try reader.checkpoints()
            var claims: [CheckpointClaim] = stored.map { size, note in
                Ledger.claim(
                    size: size, note: note, source: "stored checkpoint \(size)", key: ownerKey, origin: origin)
            }
            for external in externalCheckpoints {
                var claim = Ledger.claim(
                    size: nil, note: external.note, source: external.source, key: ownerKey,
                    origin: origin)
                if claim.size == UInt64.max { claim.size = 0 }
                claims.append(claim)
            }
            claims.sort { $0.size < $1.size }
            let sequential = Unchecked(SequentialVerifier(claims: claims))
            let readerBox = Unchecked(reader)
            let serial = DispatchQueue(label: "custody.ledger.verify.sequential")
            let readQueue = DispatchQueue(label: "custody.ledger.verify.read")
            let group = DispatchGroup()
            let verifiers = VerifierPool(owner.publicKey)
            let ownerKeyID = owner.keyIDHex
            let failure = Unchecked<Error?>(nil)

            @Sendable func read(from start: UInt64) -> VerifyBatch {
                var batch = VerifyBatch()
                do {
                    try readerBox.value.entries(from: start, limit: batchSize) { sequence, data in
                        batch.sequences.append(sequence)
                        batch.data.append(data)
                    }
                    if let first = batch.sequences.first, let last = batch.sequences.last {
                        let low = MerkleNodePosition.count(forSize: first)
                        let high = MerkleNodePosition.count(forSize: last + 1)
                        try readerBox.value.nodes(in: low..<high) { batch.nodes.append(($0, $1)) }
                    }
                } catch {
                    failure.value = error
                    batch = VerifyBatch()
                }
                return batch
            }

            var current = read(from: 0)
            while !current.sequences.isEmpty {
                let nextStart = current.sequences.last! + 1
                let prefetched = Unchecked(VerifyBatch())
                readQueue.async(group: group) { prefetched.value = read(from: nextStart) }
                let data = current.data
                let sequences = current.sequences
                let count = sequences.count
                // Small chunks, so a worker slowed by the reading or in-order stage does not hold up the batch.
                let chunk = 64
                let chunks = (count + chunk - 1) / chunk
                var checks = [EntryCheck](repeating: EntryCheck(), count: count)
                checks.withUnsafeMutableBufferPointer { buffer in
                    let output = Unchecked(buffer)
                    DispatchQueue.concurrentPerform(iterations: chunks) { part in
                        let verifier = verifiers.take()
                        defer { verifiers.give(verifier) }
                        for index in (part * chunk)..<min(count, (part + 1) * chunk) {
                            output.value[index] = Ledger.check(
                                data[index], sequence: sequences[index], origin: origin,
                                owner: owner, ownerKeyID: ownerKeyID, verifier: verifier,
                                trustedOfficer: trustedOfficer)
                        }
                    }
                }
                current.checks = checks
                current.data = []
                let box = Unchecked(current)
                serial.async(group: group) { sequential.value.process(box.value) }
                readQueue.sync {}
                current = prefetched.value
            }
            group.wait()
            if let error = failure.value { throw error }

            let state = sequential.value
            let examined = state.frontier.size
            if head.size != state.nextSequence {
                if head.size > state.nextSequence {
                    let missing =
                        head.size - state.nextSequence == 1
                        ? "entry \(state.nextSequence) is"
                        : "entries \(state.nextSequence) to \(head.size - 1) are"
                    state.report(
                        .head, entry: state.nextSequence,
                        "\(missing) missing: the head records \(head.size) "
                            + "entries (ledger truncated)")
                } else {
                    state.report(
                        .head, entry: head.size,
                        "entries from \(head.size) on are not recorded in the "
                            + "head, which records \(head.size) entries (inserted outside custody)")
                }
            } else if head.size > 0 && head.lastLeaf != state.previous {
                state.report(.head, entry: head.size - 1, "the last entry does not match the recorded head")
            }
            // Every append stores a checkpoint for the size it reaches: the head's must be there.
            if head.size > 0 && !stored.contains(where: { $0.size == head.size }) {
                state.report(.checkpoint, entry: nil, checkpoints: [head.size],
                             "no stored checkpoint for the head size \(head.size) (every append stores one: removed)")
            }
            let expectedNodes = MerkleNodePosition.count(forSize: state.nextSequence)
            let storedNodes = try reader.nodeCount()
            if state.treeComparable && storedNodes != expectedNodes {
                state.report(.tree, entry: nil, "\(storedNodes) tree nodes are stored, \(expectedNodes) expected")
            }
            let inconsistent = Ledger.judge(claims: state.claims, entries: examined, state: state)
            return LedgerVerificationReport(
                location: store.location, entries: examined, recordedSize: head.size, root: state.frontier.root,
                checkpointsChecked: state.claims.count, problems: state.problems, problemCount: state.problemCount,
                firstBadEntry: state.firstBadEntry, inconsistentCheckpoints: inconsistent)
        }
    }

    /// Reports checkpoints that are invalid, beyond the entries or do not match them, and pairs that disagree.
    private static func judge(
        claims: [CheckpointClaim], entries: UInt64, state: SequentialVerifier
    ) -> [(UInt64, UInt64)] {
        var pairs: [(UInt64, UInt64)] = []
        let matched = claims.filter(\.matched)
        for claim in claims where !claim.matched {
            if let problem = claim.problem {
                state.report(.checkpoint, entry: nil, checkpoints: [claim.size], "\(claim.source): \(problem)")
                continue
            }
            let partner = matched.last { $0.size <= claim.size } ?? matched.first
            if let partner { pairs.append((min(partner.size, claim.size), max(partner.size, claim.size))) }
            let against = partner.map { " and is inconsistent with the checkpoint at size \($0.size)" } ?? ""
            if claim.size > entries {
                state.report(
                    .checkpoint, entry: entries, checkpoints: [claim.size],
                    "\(claim.source) covers "
                        + "\(claim.size) entries but the ledger holds \(entries) (truncated)\(against)")
                state.firstBadEntry = min(state.firstBadEntry ?? entries, entries)
            } else {
                state.report(
                    .checkpoint, entry: nil, checkpoints: [claim.size],
                    "\(claim.source): root "
                        + "\(claim.root?.hex.prefix(16) ?? "")... does not match the entries' tree\(against)")
            }
        }
        // Two signed checkpoints for one size with different roots prove a fork on their own.
        for (index, claim) in claims.enumerated() {
            for other in claims[(index + 1)...]
            where other.size == claim.size && other.root != claim.root
                && claim.root != nil && other.root != nil
            {
                pairs.append((claim.size, other.size))
                state.report(
                    .checkpoint, entry: nil, checkpoints: [claim.size],
                    "\(claim.source) and \(other.source) "
                        + "sign different roots for size \(claim.size) (forked log)")
            }
        }
        return pairs
    }

    private static func claim(
        size: UInt64?, note: [UInt8], source: String, key: NoteVerifierKey,
        origin: String
    ) -> CheckpointClaim {
        var claim = CheckpointClaim(size: size ?? UInt64.max, root: nil, source: source)
        do {
            let parsed = try SignedNote.parse(note)
            try parsed.verify(with: [key])
            let checkpoint = try Checkpoint(text: parsed.text)
            guard checkpoint.origin == origin else {
                claim.problem = "origin '\(checkpoint.origin)' is not this ledger's '\(origin)'"
                return claim
            }
            if let size, size != checkpoint.size {
                claim.problem = "stored for size \(size) but says \(checkpoint.size)"
                return claim
            }
            claim.size = checkpoint.size
            claim.root = checkpoint.root
        } catch {
            claim.problem = "\(error)"
        }
        return claim
    }

    /// What is wrong with the officer's submission an entry carries, if anything.
    private static func submissionProblem(
        _ entry: LedgerEntry, trustedOfficer: (@Sendable (LogOfficer) -> Bool)?
    ) -> String? {
        do {
            guard let submission = try LogSubmission.embedded(in: entry) else { return nil }
            try submission.checkSignature()
            if let trustedOfficer, !trustedOfficer(submission.officer) {
                return "submitted by officer \(submission.officer.label), who is not in the trust store"
            }
            return nil
        } catch let failure as LogSubmissionError {
            return "the officer's submission it carries: \(failure)"
        } catch {
            return "the officer's submission it carries: \(error)"
        }
    }

    private static func check(
        _ data: [UInt8], sequence: UInt64, origin: String, owner: Identity, ownerKeyID: String,
        verifier: Ed25519Verifier, trustedOfficer: (@Sendable (LogOfficer) -> Bool)?
    ) -> EntryCheck {
        var check = EntryCheck(storedSequence: sequence, leaf: Merkle.leafHash(data))
        do {
            let (entry, input) = try LedgerEntry.parseWithSigningInput(data)
            check.fieldSequence = entry.sequence
            check.previous = entry.previous
            if entry.origin != origin {
                check.problem = "belongs to ledger '\(entry.origin)', not '\(origin)'"
            } else if entry.actor.keyID != ownerKeyID || entry.actor.name != owner.name
                || entry.actor.agency != owner.agency || entry.actor.jurisdiction != owner.jurisdiction
            {
                check.problem = "actor \(entry.actor.name)+\(entry.actor.keyID) is not the ledger's key holder"
            } else {
                let valid = entry.signature.withUnsafeBytes { signature in
                    input.withUnsafeBytes { verifier.verify(signature: signature, message: $0) }
                }
                if !valid {
                    check.problem = "signature does not verify (entry edited)"
                } else {
                    check.problem = submissionProblem(entry, trustedOfficer: trustedOfficer)
                }
            }
            check.recorded = RecordedCheckpoint.recorded(in: entry)
        } catch {
            check.problem = "malformed: \(error)"
        }
        return check
    }
}
