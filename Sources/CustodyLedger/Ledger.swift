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
                throw LedgerError.frontierNodeMissing(position: position, level: level)
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
    let store: ValidatedLedgerStore

    func perfectNode(level: Int, index: UInt64) throws -> Hash32 {
        let position = MerkleNodePosition.position(level: level, index: index)
        guard let hash = try store.node(at: position) else {
            throw LedgerError.damaged(location: store.location, .nodeMissing(position: position))
        }
        return hash
    }
}

/// What `Ledger.appendBatch(key:time:prepare:)` shows its caller inside the write transaction.
public struct LedgerAppendView {
    /// The number of entries committed (the head's size), which the appended entries follow.
    public let size: UInt64
    let ledger: Ledger

    /// Calls `body` with the sequence number and exact bytes of each committed entry from `start` to the head.
    public func entries(from start: UInt64, _ body: (UInt64, [UInt8]) throws -> Void) throws {
        var next = start
        while next < size {
            var seen = 0
            try ledger.records.entries(from: next, limit: Int(min(size - next, 4096))) { sequence, bytes in
                guard sequence == next else {
                    throw LedgerError.damaged(location: ledger.store.location, .entryMissing(sequence: next))
                }
                try body(sequence, bytes)
                next += 1
                seen += 1
            }
            if seen == 0 { throw LedgerError.damaged(location: ledger.store.location, .entryMissing(sequence: next)) }
        }
    }
}

/// Records the nodes a proof reads, answering each with a placeholder: which nodes a proof reads depends only on
/// the sizes and the index, never on the hashes, so a first pass with this source lists them for one read.
final class RecordingNodeSource: MerkleNodeSource {
    private(set) var positions: [UInt64] = []

    func perfectNode(level: Int, index: UInt64) throws -> Hash32 {
        positions.append(MerkleNodePosition.position(level: level, index: index))
        return Merkle.emptyRoot
    }
}

/// Nodes read in one go (`ValidatedLedgerStore.nodes(at:)`), then served from memory; any other node is read
/// from the store (and a missing one reported there).
struct PrefetchedNodeSource: MerkleNodeSource {
    let nodes: [UInt64: Hash32]
    let store: StoreNodeSource

    /// The nodes `proof` reads when given `store`'s nodes, read in one go.
    init(_ store: ValidatedLedgerStore, for proof: (MerkleNodeSource) throws -> Void) throws {
        let recorder = RecordingNodeSource()
        try? proof(recorder)
        nodes = try store.nodes(at: recorder.positions)
        self.store = StoreNodeSource(store: store)
    }

    func perfectNode(level: Int, index: UInt64) throws -> Hash32 {
        if let hash = nodes[MerkleNodePosition.position(level: level, index: index)] { return hash }
        return try store.perfectNode(level: level, index: index)
    }
}

/// A custody ledger: signed, hash-chained entries under an RFC 6962 tree with signed C2SP checkpoints.
///
/// Every append runs in one write transaction: it checks the stored tail, adds the entries and their tree nodes,
/// records the new head and stores a checkpoint for the new size signed by the ledger key, then commits durably.
/// Every value a store returns is checked above the store (`ValidatedLedgerStore`), so any backend gets the same
/// checks.
public final class Ledger {
    /// The largest sequence number, tree size or head size a ledger may hold (2^48 entries): numbers read from a
    /// store outside 0...largestSize mean records not written by custody and are refused, so no tree arithmetic on
    /// them can overflow.
    public static let largestSize: UInt64 = 1 << 48
    /// The largest owner identity document a ledger may hold.
    public static let largestOwnerDocument = 64 << 10

    /// The backend (where the ledger lives: `store.location`).
    public let store: LedgerStore
    /// The backend as the ledger reads it: everything it returns checked.
    let records: ValidatedLedgerStore
    /// The origin and owner fixed at creation, checked.
    public let metadata: LedgerMetadata

    /// The checkpoint origin.
    public var origin: String { metadata.origin }
    /// The identity whose key signs entries and checkpoints.
    public var owner: Identity { metadata.owner }

    /// The ledger held by `store`, whose metadata is read and checked now.
    public init(store: LedgerStore) throws {
        self.store = store
        records = ValidatedLedgerStore(store)
        metadata = try records.metadata()
    }

    /// Creates a ledger owned by `key` in the store `makeStore` creates from the origin and the owner's
    /// self-signed identity document (after checking the origin).
    public static func create(
        origin: String, key: SigningKey,
        in makeStore: (_ origin: String, _ ownerDocument: [UInt8]) throws -> LedgerStore
    ) throws -> Ledger {
        try Checkpoint.validateOrigin(origin)
        let document = try key.identity.document(signedWith: key.privateKey)
        return try Ledger(store: makeStore(origin, document))
    }

    /// Creates a ledger file owned by `key` (see `SQLiteLedgerStore.create`).
    public static func create(path: String, origin: String, key: SigningKey) throws -> Ledger {
        try create(origin: origin, key: key) {
            try SQLiteLedgerStore.create(path: path, origin: $0, ownerDocument: $1)
        }
    }

    /// Opens an existing ledger file; `readOnly` opens it for reading only (a report's history, a check).
    public static func open(path: String, readOnly: Bool = false) throws -> Ledger {
        try Ledger(store: SQLiteLedgerStore.open(path: path, readOnly: readOnly))
    }

    /// The number of entries.
    public func size() throws -> UInt64 { try records.head().size }

    private func checkOwner(_ key: SigningKey) throws {
        guard key.identity.publicKey == owner.publicKey, key.identity.name == owner.name else {
            throw LedgerError.ownerKeyMismatch(
                key: "\(key.identity.name)+\(key.identity.keyIDHex)", owner: "\(owner.name)+\(owner.keyIDHex)",
                location: store.location)
        }
    }

    /// Checks, inside a write transaction, that the stored tail agrees with the recorded head, so a damaged or
    /// truncated file is reported and never extended.
    func checkTail() throws -> (size: UInt64, lastLeaf: Hash32) {
        let head = try records.head()
        let extent = try records.entryExtent()
        guard extent.end == head.size, extent.first == 0 else {
            throw LedgerError.damaged(
                location: store.location, .tailMismatch(headSize: head.size, first: extent.first, end: extent.end))
        }
        if head.size > 0 {
            guard let last = try records.entry(at: head.size - 1), Merkle.leafHash(last) == head.lastLeaf,
                try records.node(at: MerkleNodePosition.position(level: 0, index: head.size - 1)) == head.lastLeaf
            else {
                throw LedgerError.damaged(location: store.location, .headEntryMismatch(sequence: head.size - 1))
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
        guard !drafts.isEmpty else {
            try checkOwner(key)
            return []
        }
        return try appendBatch(key: key, time: time) { _ in drafts }.entries
    }

    /// Appends the drafts `prepare` returns, in one transaction (one fsync), and returns them with the checkpoint
    /// stored for the new size once they are durable. `prepare` runs inside the write transaction, after the
    /// stored tail is checked, and sees the head and every committed entry (`LedgerAppendView`): a log service
    /// reads there what other writers appended before deciding what to append. Nothing is written when `prepare`
    /// throws or returns no draft (the checkpoint is then nil).
    public func appendBatch(
        key: SigningKey, time: Timestamp? = nil, prepare: (LedgerAppendView) throws -> [LedgerEntryDraft]
    ) throws -> (entries: [LedgerEntry], checkpoint: SignedNote?) {
        try checkOwner(key)
        return try records.writeTransaction {
            let head = try checkTail()
            let drafts = try prepare(LedgerAppendView(size: head.size, ledger: self))
            guard !drafts.isEmpty else { return ([], nil) }
            var frontier = try TreeFrontier(size: head.size) { try records.node(at: $0) }
            var previous = head.lastLeaf
            var appended: [LedgerEntry] = []
            appended.reserveCapacity(drafts.count)
            let now = time ?? Timestamp.now()
            for draft in drafts {
                let entry = try LedgerEntry.make(
                    draft, sequence: frontier.size, time: now, origin: origin,
                    previous: previous, key: key)
                try records.insertEntry(sequence: entry.sequence, bytes: entry.bytes)
                previous = entry.leafHash
                try frontier.append(previous) { try records.insertNode(at: $0, hash: $1) }
                appended.append(entry)
            }
            try records.setHead(size: frontier.size, lastLeaf: previous)
            let checkpoint = try Checkpoint(origin: origin, size: frontier.size, root: frontier.root).signed(by: key)
            try records.insertCheckpoint(size: frontier.size, note: checkpoint.bytes)
            return (appended, checkpoint)
        }
    }

    /// The exact bytes of entry `sequence`.
    public func entryBytes(at sequence: UInt64) throws -> [UInt8] {
        guard let bytes = try records.entry(at: sequence) else {
            throw LedgerError.noEntry(location: store.location, sequence: sequence, size: try size())
        }
        return bytes
    }

    /// Entry `sequence`, parsed.
    public func entry(at sequence: UInt64) throws -> LedgerEntry {
        let bytes = try entryBytes(at: sequence)
        do {
            return try LedgerEntry.parse(bytes)
        } catch LedgerError.invalid(let problem) {
            throw LedgerError.damagedEntry(location: store.location, sequence: sequence, problem: problem)
        }
    }

    /// Calls `body` with the exact bytes of entries `from..<to` (`to` defaults to the size), in order, from one
    /// snapshot; a gap in the sequence numbers is reported as damage.
    public func export(from: UInt64 = 0, to: UInt64? = nil, _ body: ([UInt8]) throws -> Void) throws {
        try records.readTransaction {
            let size = try records.head().size
            let end = to ?? size
            guard from <= end, end <= size else {
                throw LedgerError.rangeOutsideLedger(from: from, end: end, size: size)
            }
            var next = from
            while next < end {
                let batch = Int(min(end - next, 4096))
                var seen = 0
                try records.entries(from: next, limit: batch) { sequence, bytes in
                    guard sequence == next else {
                        throw LedgerError.damaged(location: store.location, .entryMissing(sequence: next))
                    }
                    try body(bytes)
                    next += 1
                    seen += 1
                }
                if seen == 0 {
                    throw LedgerError.damaged(location: store.location, .entryMissing(sequence: next))
                }
            }
        }
    }

    /// The latest stored checkpoint note (for the current size after any append).
    public func latestCheckpoint() throws -> SignedNote? {
        guard let (_, note) = try records.latestCheckpoint() else { return nil }
        return try SignedNote.parse(note)
    }

    /// The stored checkpoint note for `size`, if one was made.
    public func checkpoint(size: UInt64) throws -> SignedNote? {
        try records.checkpoint(size: size).map(SignedNote.parse)
    }

    /// Signs and stores a checkpoint for the current size (appends already do this), returning it.
    @discardableResult
    public func makeCheckpoint(key: SigningKey) throws -> SignedNote {
        try checkOwner(key)
        return try records.writeTransaction {
            let head = try checkTail()
            let root = try MerkleProofs.root(StoreNodeSource(store: records), size: head.size)
            let note = try Checkpoint(origin: origin, size: head.size, root: root).signed(by: key)
            try records.insertCheckpoint(size: head.size, note: note.bytes)
            return note
        }
    }

    /// Runs `body` in a read transaction with the tree size asked for (`requested`, default: the current size),
    /// refused when the ledger is not that large.
    private func withTree<R>(size requested: UInt64?, _ body: (UInt64) throws -> R) throws -> R {
        try records.readTransaction {
            let current = try records.head().size
            let size = requested ?? current
            guard size <= current else { throw LedgerError.sizeExceedsLedger(size: size, current: current) }
            return try body(size)
        }
    }

    /// The tree root at `size` (default: the current size).
    public func root(size: UInt64? = nil) throws -> Hash32 {
        try withTree(size: size) { try MerkleProofs.root(StoreNodeSource(store: records), size: $0) }
    }

    /// The inclusion proof of entry `index` in the tree of `size` entries (default: the current size).
    public func inclusionProof(index: UInt64, size: UInt64? = nil) throws -> InclusionProof {
        try withTree(size: size) { size in
            guard index < size else { throw LedgerError.indexNotBelowSize(index: index, size: size) }
            let source = try PrefetchedNodeSource(records) { source in
                _ = try source.perfectNode(level: 0, index: index)
                _ = try MerkleProofs.inclusionProof(source, index: index, size: size)
                _ = try MerkleProofs.root(source, size: size)
            }
            let leaf = try source.perfectNode(level: 0, index: index)
            guard let bytes = try records.entry(at: index), Merkle.leafHash(bytes) == leaf else {
                throw LedgerError.damaged(location: store.location, .leafMismatch(sequence: index))
            }
            let path = try MerkleProofs.inclusionProof(source, index: index, size: size)
            let root = try MerkleProofs.root(source, size: size)
            return InclusionProof(index: index, size: size, leafHash: leaf, proof: path, root: root)
        }
    }

    /// The consistency proof between the trees of `from` and `to` entries (default: the current size).
    public func consistencyProof(from: UInt64, to: UInt64? = nil) throws -> ConsistencyProof {
        try withTree(size: to) { to in
            guard from >= 1, from <= to else { throw LedgerError.consistencySizes(from: from, to: to) }
            let source = try PrefetchedNodeSource(records) { source in
                _ = try MerkleProofs.root(source, size: from)
                _ = try MerkleProofs.root(source, size: to)
                _ = try MerkleProofs.consistencyProof(source, from: from, to: to)
            }
            return ConsistencyProof(
                from: from, to: to, fromRoot: try MerkleProofs.root(source, size: from),
                toRoot: try MerkleProofs.root(source, size: to),
                proof: try MerkleProofs.consistencyProof(source, from: from, to: to))
        }
    }
}
