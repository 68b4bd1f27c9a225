import CustodyBase
import CustodyCrypto

extension Ledger {
    /// The hashes of `count` consecutive perfect subtrees of `2^level` leaves, from subtree `start` on (the tree
    /// hashes a C2SP tlog-tiles tile lists), read in one snapshot.
    /// - Throws: `LedgerError.sizeExceedsLedger` when the ledger does not yet hold them all, `damaged` when a
    ///   stored node is missing.
    public func subtreeHashes(level: Int, from start: UInt64, count: Int) throws -> [Hash32] {
        precondition(level >= 0 && level < 48 && count >= 0)
        return try records.readTransaction {
            let size = try records.head().size
            let (end, overflow) = (start + UInt64(count)).multipliedReportingOverflow(by: 1 << UInt64(level))
            guard !overflow, end <= size else {
                throw LedgerError.sizeExceedsLedger(size: overflow ? UInt64.max : end, current: size)
            }
            let source = StoreNodeSource(store: records)
            return try (0..<UInt64(count)).map { try source.perfectNode(level: level, index: start + $0) }
        }
    }

    /// The exact bytes of entries `start..<start + count`, read in one snapshot.
    /// - Throws: `LedgerError.rangeOutsideLedger` when the ledger does not hold them all.
    public func entryBytes(from start: UInt64, count: Int) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        out.reserveCapacity(count)
        let (end, overflow) = start.addingReportingOverflow(UInt64(count))
        guard !overflow else { throw LedgerError.rangeOutsideLedger(from: start, end: UInt64.max, size: try size()) }
        try export(from: start, to: end) { out.append($0) }
        return out
    }

    /// The latest stored checkpoint note and its size, read in one snapshot with nothing else.
    public func latestCheckpointWithSize() throws -> (size: UInt64, note: [UInt8])? {
        try records.latestCheckpoint()
    }
}

extension Ledger {
    /// Copies entries made by another copy of this ledger (a log service read through its tiles) exactly, after
    /// the last one held, with their tree nodes and head, and stores `checkpoint` (a note of the copied log) for
    /// the size it states, in one transaction. Nothing here checks the entries: `verify` on the copy recomputes
    /// every signature, the chain, the tree and the checkpoint against the entries, as for any ledger.
    public func mirrorAppend(_ entries: [[UInt8]], checkpoint: [UInt8]? = nil) throws {
        try records.writeTransaction {
            let head = try checkTail()
            var frontier = try TreeFrontier(size: head.size) { try records.node(at: $0) }
            var previous = head.lastLeaf
            for bytes in entries {
                guard bytes.count <= LedgerEntry.maximumSize else { throw LedgerError.invalid(.entryTooLarge) }
                try records.insertEntry(sequence: frontier.size, bytes: bytes)
                previous = Merkle.leafHash(bytes)
                try frontier.append(previous) { try records.insertNode(at: $0, hash: $1) }
            }
            try records.setHead(size: frontier.size, lastLeaf: previous)
            if let checkpoint {
                let stated = try Checkpoint(text: SignedNote.parse(checkpoint).text).size
                try records.insertCheckpoint(size: stated, note: checkpoint)
            }
        }
    }
}

/// Perfect nodes read from a store once each (a batch of proofs shares most of its path).
private final class CachedNodeSource: MerkleNodeSource {
    let source: StoreNodeSource
    var cache: [UInt64: Hash32] = [:]

    init(_ source: StoreNodeSource) { self.source = source }

    func perfectNode(level: Int, index: UInt64) throws -> Hash32 {
        let position = MerkleNodePosition.position(level: level, index: index)
        if let known = cache[position] { return known }
        let hash = try source.perfectNode(level: level, index: index)
        cache[position] = hash
        return hash
    }
}

extension Ledger {
    /// The inclusion proofs of entries `indices` in the tree of `size` entries, in one snapshot, reading each
    /// tree node once (what a log service answers an integration's appends with).
    /// - Throws: `LedgerError.sizeExceedsLedger` or `indexNotBelowSize` for a tree or entry the ledger lacks.
    public func inclusionProofs(for indices: Range<UInt64>, size: UInt64) throws -> [InclusionProof] {
        try records.readTransaction {
            let current = try records.head().size
            guard size <= current else { throw LedgerError.sizeExceedsLedger(size: size, current: current) }
            guard indices.upperBound <= size else {
                throw LedgerError.indexNotBelowSize(index: indices.upperBound - 1, size: size)
            }
            let source = CachedNodeSource(StoreNodeSource(store: records))
            let root = try MerkleProofs.root(source, size: size)
            return try indices.map { index in
                InclusionProof(
                    index: index, size: size, leafHash: try source.perfectNode(level: 0, index: index),
                    proof: try MerkleProofs.inclusionProof(source, index: index, size: size), root: root)
            }
        }
    }
}

extension LedgerEntry {
    /// The size in bytes of the entry `make` would build from these values (the signature has a fixed length).
    public static func encodedSize(
        _ draft: LedgerEntryDraft, sequence: UInt64, time: Timestamp, origin: String, actor: LedgerActor
    ) -> Int {
        let parts = split(
            unsignedMembers(
                sequence: sequence, time: time, origin: origin, draft: draft, actor: actor,
                previous: LedgerEntry.noPrevious))
        let signature = Base64.encode([UInt8](repeating: 0, count: 64))
        return encoding(before: parts.before, after: parts.after, signature: signature).count
    }
}
