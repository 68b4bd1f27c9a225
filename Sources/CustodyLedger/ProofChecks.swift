import CustodyBase
import CustodyCrypto

/// One way an inclusion proof fails to take an entry to a signed checkpoint's root.
public enum InclusionMismatch: Sendable, Equatable, CustomStringConvertible {
    /// The entry's leaf hash is not the one the proof names.
    case leafHash
    /// The proof is for a tree of another size than the checkpoint's.
    case treeSize(proof: UInt64, checkpoint: UInt64)
    /// The proof names another root than the checkpoint's.
    case root
    /// The audit path does not take the entry's leaf hash to the checkpoint's root.
    case path
    /// The entry holds another sequence number than the proof's index.
    case entrySequence(entry: UInt64, proof: UInt64)
    /// The entry names the key (name+keyID) but its signature does not verify with it.
    case entrySignature(key: String)
    /// The bytes given as the entry are not a well-formed ledger entry.
    case malformedEntry

    /// What is wrong, as the offline check prints it.
    public var description: String {
        switch self {
        case .leafHash: "the entry's leaf hash is not the proof's leafHash"
        case .treeSize(let proof, let checkpoint):
            "the proof is for tree size \(proof), the checkpoint for \(checkpoint)"
        case .root: "the proof's root is not the checkpoint's root"
        case .path: "the proof does not take the entry to the checkpoint's root"
        case .entrySequence(let entry, let proof):
            "the entry holds sequence number \(entry), the proof is for \(proof)"
        case .entrySignature(let key): "the entry's signature does not verify with \(key)"
        case .malformedEntry: "the entry is not a well-formed ledger entry"
        }
    }
}

/// One way a consistency proof fails to show that a newer signed checkpoint extends an older one.
public enum ConsistencyMismatch: Sendable, Equatable, CustomStringConvertible {
    /// The checkpoints have different origins.
    case differentLogs
    /// The proof is for other sizes than the checkpoints'.
    case sizes(proofFrom: UInt64, proofTo: UInt64, older: UInt64, newer: UInt64)
    /// The proof's older root is not the older checkpoint's.
    case fromRoot
    /// The proof's newer root is not the newer checkpoint's.
    case toRoot
    /// The path does not show the newer tree extends the older one.
    case notExtending(older: UInt64, newer: UInt64)

    /// What is wrong, as the offline check prints it.
    public var description: String {
        switch self {
        case .differentLogs: "the checkpoints are for different logs"
        case .sizes(let from, let to, let older, let newer):
            "the proof is for sizes \(from) to \(to), the checkpoints for \(older) and \(newer)"
        case .fromRoot: "the proof's fromRoot is not the older checkpoint's root"
        case .toRoot: "the proof's toRoot is not the newer checkpoint's root"
        case .notExtending(let older, let newer): "the proof does not show size \(newer) extends size \(older)"
        }
    }
}

extension InclusionProof {
    /// Every way this proof fails to take the entry whose leaf hash is `leafHash` to the root of `checkpoint`
    /// (whose signature the caller has checked); empty when the entry is proven included at the checkpoint's size.
    public func mismatches(leading leafHash: Hash32, to checkpoint: Checkpoint) -> [InclusionMismatch] {
        var found: [InclusionMismatch] = []
        if leafHash != self.leafHash { found.append(.leafHash) }
        if size != checkpoint.size { found.append(.treeSize(proof: size, checkpoint: checkpoint.size)) }
        if root != checkpoint.root { found.append(.root) }
        let included = MerkleProofs.verifyInclusion(
            leafHash: leafHash.bytes, index: index, size: checkpoint.size, proof: proof.map(\.bytes),
            root: checkpoint.root.bytes)
        if !included { found.append(.path) }
        return found
    }

    /// Every way this proof fails to show that the entry whose exact bytes are `entryBytes` is included at
    /// `checkpoint` (signed by `key`, checked by the caller): the proof's own mismatches, then the entry's sequence
    /// number against the proof's index and, when the entry names `key`'s ID, its signature. For checks made
    /// without the ledger.
    public func mismatches(entry entryBytes: [UInt8], key: NoteVerifierKey, to checkpoint: Checkpoint)
        -> [InclusionMismatch] {
        var found = mismatches(leading: Merkle.leafHash(entryBytes), to: checkpoint)
        guard let entry = try? LedgerEntry.parse(entryBytes) else { return found + [.malformedEntry] }
        if entry.sequence != index { found.append(.entrySequence(entry: entry.sequence, proof: index)) }
        if entry.actor.keyID == key.keyIDHex, (try? entry.verifySignature(with: key.publicKey)) != true {
            found.append(.entrySignature(key: "\(key.name)+\(key.keyIDHex)"))
        }
        return found
    }

    /// Checks that this proof takes the entry whose leaf hash is `leafHash` to the root of `checkpoint`.
    /// - Throws: `LedgerError.inclusionNotProven` with every mismatch found.
    public func check(leading leafHash: Hash32, to checkpoint: Checkpoint) throws {
        let found = mismatches(leading: leafHash, to: checkpoint)
        guard found.isEmpty else {
            throw LedgerError.inclusionNotProven(index: index, checkpointSize: checkpoint.size, mismatches: found)
        }
    }
}

extension ConsistencyProof {
    /// Every way this proof fails to show that `newer` extends `older` (both signed checkpoints whose signatures
    /// the caller has checked); empty when it shows it.
    public func mismatches(from older: Checkpoint, to newer: Checkpoint) -> [ConsistencyMismatch] {
        var found: [ConsistencyMismatch] = []
        if older.origin != newer.origin { found.append(.differentLogs) }
        if from != older.size || to != newer.size {
            found.append(.sizes(proofFrom: from, proofTo: to, older: older.size, newer: newer.size))
        }
        if fromRoot != older.root { found.append(.fromRoot) }
        if toRoot != newer.root { found.append(.toRoot) }
        let consistent = MerkleProofs.verifyConsistency(
            fromSize: older.size, toSize: newer.size, fromRoot: older.root.bytes, toRoot: newer.root.bytes,
            proof: proof.map(\.bytes))
        if !consistent { found.append(.notExtending(older: older.size, newer: newer.size)) }
        return found
    }
}
