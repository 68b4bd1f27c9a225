import CustodyBase
import CustodyCrypto
import CustodyIO

/// The right edge of an append-only tree: the perfect subtrees covering the leaves so far, largest first.
struct TreeFrontier {
    private(set) var peaks: [(level: Int, index: UInt64, hash: Hash32)] = []
    private(set) var size: UInt64 = 0

    /// Loads the frontier of a tree of `size` leaves from stored nodes.
    init(size: UInt64, node: (UInt64) throws -> Hash32?) throws {
        var start: UInt64 = 0
        for level in stride(from: 63, through: 0, by: -1) where size & (1 << UInt64(level)) != 0 {
            let index = start >> UInt64(level)
            let position = MerkleNodePosition.position(level: level, index: index)
            guard let hash = try node(position) else {
                throw CustodyError.operational("tree node \(position) (level \(level)) is missing")
            }
            peaks.append((level, index, hash))
            start += 1 << UInt64(level)
        }
        self.size = size
    }

    init() {}

    /// Appends a leaf; calls `created` for the leaf node and every perfect node it completes, in position order.
    mutating func append(_ leaf: Hash32, created: (UInt64, Hash32) throws -> Void) rethrows {
        var node = (level: 0, index: size, hash: leaf)
        try created(MerkleNodePosition.position(level: 0, index: size), leaf)
        while let last = peaks.last, last.level == node.level {
            peaks.removeLast()
            node = (node.level + 1, last.index >> 1, Merkle.nodeHash(last.hash, node.hash))
            try created(MerkleNodePosition.position(level: node.level, index: node.index), node.hash)
        }
        peaks.append(node)
        size += 1
    }

    /// The root of the leaves so far.
    var root: Hash32 {
        guard var result = peaks.last?.hash else { return Merkle.emptyRoot }
        for peak in peaks.dropLast().reversed() { result = Merkle.nodeHash(peak.hash, result) }
        return result
    }
}

/// Reads perfect nodes from a store, failing with a damage message when one is missing.
struct StoreNodeSource: MerkleNodeSource {
    let store: LedgerStore

    func perfectNode(level: Int, index: UInt64) throws -> Hash32 {
        let position = MerkleNodePosition.position(level: level, index: index)
        guard let hash = try store.node(at: position) else {
            throw CustodyError.operational(
                "\(store.location): the ledger file is damaged: tree node \(position) "
                    + "is missing; run custody ledger verify")
        }
        return hash
    }
}

/// A custody ledger: signed, hash-chained entries under an RFC 6962 tree with signed C2SP checkpoints.
///
/// Every append runs in one write transaction: it checks the stored tail, adds the entries and their tree nodes,
/// records the new head and stores a checkpoint for the new size signed by the ledger key, then commits durably.
public final class Ledger {
    public let store: LedgerStore
    public let metadata: LedgerMetadata

    /// The checkpoint origin.
    public var origin: String { metadata.origin }
    /// The identity whose key signs entries and checkpoints.
    public var owner: Identity { metadata.owner }

    public init(store: LedgerStore) throws {
        self.store = store
        metadata = try store.metadata()
    }

    /// Creates a ledger file owned by `key` (see `SQLiteLedgerStore.create`).
    public static func create(path: String, origin: String, key: SigningKey) throws -> Ledger {
        try Checkpoint.validateOrigin(origin)
        let document = try key.identity.document(signedWith: key.privateKey)
        return try Ledger(store: SQLiteLedgerStore.create(path: path, origin: origin, ownerDocument: document))
    }

    /// Opens an existing ledger file.
    public static func open(path: String) throws -> Ledger {
        try Ledger(store: SQLiteLedgerStore.open(path: path))
    }

    /// The number of entries.
    public func size() throws -> UInt64 { try store.head().size }

    private func checkOwner(_ key: SigningKey) throws {
        guard key.identity.publicKey == owner.publicKey, key.identity.name == owner.name else {
            throw CustodyError.operational(
                "key \(key.identity.name)+\(key.identity.keyIDHex) does not match the "
                    + "ledger's key \(owner.name)+\(owner.keyIDHex) (\(store.location))")
        }
    }

    /// Checks, inside a write transaction, that the stored tail agrees with the recorded head, so a damaged or
    /// truncated file is reported and never extended.
    private func checkTail() throws -> (size: UInt64, lastLeaf: Hash32) {
        let head = try store.head()
        let extent = try store.entryExtent()
        func damaged(_ what: String) -> CustodyError {
            CustodyError.operational(
                "\(store.location): the ledger file is damaged: \(what); nothing was appended "
                    + "(run custody ledger verify)")
        }
        guard extent.end == head.size, extent.first == 0 else {
            throw damaged("the head records \(head.size) entries but the stored ones run from \(extent.first) to "
                + "\(Int64(extent.end) - 1)")
        }
        if head.size > 0 {
            guard let last = try store.entry(at: head.size - 1), Merkle.leafHash(last) == head.lastLeaf,
                try store.node(at: MerkleNodePosition.position(level: 0, index: head.size - 1)) == head.lastLeaf
            else {
                throw damaged("entry \(head.size - 1) does not match the recorded head")
            }
        }
        return head
    }

    /// Appends one entry signed by `key` and returns it once it is durable.
    @discardableResult
    public func append(_ draft: LedgerEntryDraft, key: SigningKey, time: Timestamp? = nil) throws -> LedgerEntry {
        try appendBatch([draft], key: key, time: time)[0]
    }

    /// Appends entries in one transaction (one fsync) and returns them once they are durable.
    @discardableResult
    public func appendBatch(_ drafts: [LedgerEntryDraft], key: SigningKey,
                            time: Timestamp? = nil) throws -> [LedgerEntry] {
        try checkOwner(key)
        guard !drafts.isEmpty else { return [] }
        return try store.writeTransaction {
            let head = try checkTail()
            var frontier = try TreeFrontier(size: head.size) { try store.node(at: $0) }
            var previous = head.lastLeaf
            var appended: [LedgerEntry] = []
            appended.reserveCapacity(drafts.count)
            let now = time ?? Timestamp.now()
            for draft in drafts {
                let entry = try LedgerEntry.make(
                    draft, sequence: frontier.size, time: now, origin: origin,
                    previous: previous, key: key)
                try store.insertEntry(sequence: entry.sequence, bytes: entry.bytes)
                previous = entry.leafHash
                try frontier.append(previous) { try store.insertNode(at: $0, hash: $1) }
                appended.append(entry)
            }
            try store.setHead(size: frontier.size, lastLeaf: previous)
            let checkpoint = try Checkpoint(origin: origin, size: frontier.size, root: frontier.root)
            try store.insertCheckpoint(size: frontier.size, note: checkpoint.signed(by: key).bytes)
            return appended
        }
    }

    /// The exact bytes of entry `sequence`.
    public func entryBytes(at sequence: UInt64) throws -> [UInt8] {
        guard let bytes = try store.entry(at: sequence) else {
            throw CustodyError.operational("\(store.location): no entry \(sequence) (the ledger has \(try size()))")
        }
        return bytes
    }

    /// Entry `sequence`, parsed.
    public func entry(at sequence: UInt64) throws -> LedgerEntry {
        let bytes = try entryBytes(at: sequence)
        do {
            return try LedgerEntry.parse(bytes)
        } catch let error as CustodyError {
            throw CustodyError.operational("\(store.location): entry \(sequence) is damaged: \(error.message)")
        }
    }

    /// Calls `body` with the exact bytes of entries `from..<to` (`to` defaults to the size), in order, from one
    /// snapshot; a gap in the sequence numbers is reported as damage.
    public func export(from: UInt64 = 0, to: UInt64? = nil, _ body: ([UInt8]) throws -> Void) throws {
        try store.readTransaction {
            let size = try store.head().size
            let end = to ?? size
            guard from <= end, end <= size else {
                throw CustodyError.operational("range \(from)..<\(end) is outside the ledger's \(size) entries")
            }
            var next = from
            while next < end {
                let batch = Int(min(end - next, 4096))
                var seen = 0
                try store.entries(from: next, limit: batch) { sequence, bytes in
                    guard sequence == next else {
                        throw CustodyError.operational(
                            "\(store.location): the ledger file is damaged: entry \(next) "
                                + "is missing")
                    }
                    try body(bytes)
                    next += 1
                    seen += 1
                }
                if seen == 0 {
                    throw CustodyError.operational(
                        "\(store.location): the ledger file is damaged: entry \(next) is missing")
                }
            }
        }
    }

    /// The latest stored checkpoint note (for the current size after any append).
    public func latestCheckpoint() throws -> SignedNote? {
        guard let (_, note) = try store.latestCheckpoint() else { return nil }
        return try SignedNote.parse(note)
    }

    /// The stored checkpoint note for `size`, if one was made.
    public func checkpoint(size: UInt64) throws -> SignedNote? {
        try store.checkpoint(size: size).map(SignedNote.parse)
    }

    /// Signs and stores a checkpoint for the current size (appends already do this), returning it.
    @discardableResult
    public func makeCheckpoint(key: SigningKey) throws -> SignedNote {
        try checkOwner(key)
        return try store.writeTransaction {
            let head = try checkTail()
            let root = try MerkleProofs.root(StoreNodeSource(store: store), size: head.size)
            let note = try Checkpoint(origin: origin, size: head.size, root: root).signed(by: key)
            try store.insertCheckpoint(size: head.size, note: note.bytes)
            return note
        }
    }

    /// The tree root at `size` (default: the current size).
    public func root(size: UInt64? = nil) throws -> Hash32 {
        try store.readTransaction {
            let current = try store.head().size
            let size = size ?? current
            guard size <= current else {
                throw CustodyError.operational("size \(size) exceeds the ledger's \(current) entries")
            }
            return try MerkleProofs.root(StoreNodeSource(store: store), size: size)
        }
    }

    /// The inclusion proof of entry `index` in the tree of `size` entries (default: the current size).
    public func inclusionProof(index: UInt64, size: UInt64? = nil) throws -> InclusionProof {
        try store.readTransaction {
            let current = try store.head().size
            let size = size ?? current
            guard size <= current else {
                throw CustodyError.operational("size \(size) exceeds the ledger's \(current) entries")
            }
            guard index < size else {
                throw CustodyError.operational("index \(index) is not below the tree size \(size)")
            }
            let source = StoreNodeSource(store: store)
            let leaf = try source.perfectNode(level: 0, index: index)
            guard let bytes = try store.entry(at: index), Merkle.leafHash(bytes) == leaf else {
                throw CustodyError.operational(
                    "\(store.location): the ledger file is damaged: entry \(index) does "
                        + "not match its tree leaf; run custody ledger verify")
            }
            let path = try MerkleProofs.inclusionProof(source, index: index, size: size)
            let root = try MerkleProofs.root(source, size: size)
            return InclusionProof(index: index, size: size, leafHash: leaf, proof: path, root: root)
        }
    }

    /// The consistency proof between the trees of `from` and `to` entries (default: the current size).
    public func consistencyProof(from: UInt64, to: UInt64? = nil) throws -> ConsistencyProof {
        try store.readTransaction {
            let current = try store.head().size
            let to = to ?? current
            guard to <= current else {
                throw CustodyError.operational("size \(to) exceeds the ledger's \(current) entries")
            }
            guard from >= 1, from <= to else {
                throw CustodyError.operational("a consistency proof needs 1 <= from (\(from)) <= to (\(to))")
            }
            let source = StoreNodeSource(store: store)
            return ConsistencyProof(
                from: from, to: to, fromRoot: try MerkleProofs.root(source, size: from),
                toRoot: try MerkleProofs.root(source, size: to),
                proof: try MerkleProofs.consistencyProof(source, from: from, to: to))
        }
    }
}
