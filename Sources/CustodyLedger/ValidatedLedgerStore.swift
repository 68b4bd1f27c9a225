import CustodyBase
import CustodyCrypto

/// Any `LedgerStore` as `Ledger` reads it: every value a store returns is checked here, once for all backends,
/// before any tree arithmetic or signature check sees it. Numbers outside 0...`Ledger.largestSize`, hashes that
/// are not 32 bytes, an origin or owner record `Ledger.create` would not write, and a second, different checkpoint
/// for a size already signed are refused as damage naming the store.
package struct ValidatedLedgerStore {
    /// The backend, which only stores and reads.
    package let backend: LedgerStore

    /// Validates what `backend` returns.
    package init(_ backend: LedgerStore) { self.backend = backend }

    /// Where the store lives, for messages.
    package var location: String { backend.location }

    private func damaged(_ damage: LedgerDamage) -> LedgerError {
        LedgerError.damaged(location: location, damage)
    }

    /// A sequence number or tree size as the store returned it, checked against `Ledger.largestSize`.
    private func inRange(_ value: UInt64, _ what: LedgerDamage.StoredNumber) throws -> UInt64 {
        guard value <= Ledger.largestSize else {
            throw damaged(.numberOutOfRange(what, Int64(bitPattern: value)))
        }
        return value
    }

    /// The metadata, checked: an origin `Ledger.create` accepts, stored as its exact UTF-8, and a self-signed owner
    /// identity of at most `Ledger.largestOwnerDocument` bytes.
    package func metadata() throws -> LedgerMetadata {
        guard let (origin, owner) = try backend.storedMetadata() else { throw damaged(.metadataMissing) }
        let originText = String(decoding: origin, as: UTF8.self)
        guard (try? Checkpoint.validateOrigin(originText)) != nil, Array(originText.utf8) == origin,
              owner.count <= Ledger.largestOwnerDocument else {
            throw damaged(.metadataInvalid)
        }
        let identity = try Identity.parse(owner, source: "\(location) (owner identity)")
        return LedgerMetadata(origin: originText, owner: identity, ownerDocument: owner)
    }

    /// See `LedgerStore.writeTransaction`.
    package func writeTransaction<R>(_ body: () throws -> R) throws -> R { try backend.writeTransaction(body) }

    /// See `LedgerStore.readTransaction`.
    package func readTransaction<R>(_ body: () throws -> R) throws -> R { try backend.readTransaction(body) }

    /// The recorded head: a size in range and a 32-byte leaf hash.
    package func head() throws -> (size: UInt64, lastLeaf: Hash32) {
        guard let (size, leafBytes) = try backend.storedHead(), size <= Ledger.largestSize,
              let leaf = Hash32(leafBytes) else {
            throw damaged(.headInvalid)
        }
        return (size, leaf)
    }

    /// See `LedgerStore.setHead`.
    package func setHead(size: UInt64, lastLeaf: Hash32) throws { try backend.setHead(size: size, lastLeaf: lastLeaf) }

    /// The lowest stored sequence number and the highest plus one ((0, 0) when empty); a number out of range throws.
    package func entryExtent() throws -> (first: UInt64, end: UInt64) {
        guard let bounds = try backend.storedEntryBounds() else { return (0, 0) }
        return (try inRange(bounds.lowest, .sequence), try inRange(bounds.highest, .sequence) + 1)
    }

    /// See `LedgerStore.entry(at:)`.
    package func entry(at sequence: UInt64) throws -> [UInt8]? { try backend.entry(at: sequence) }

    /// See `LedgerStore.insertEntry`.
    package func insertEntry(sequence: UInt64, bytes: [UInt8]) throws {
        try backend.insertEntry(sequence: sequence, bytes: bytes)
    }

    /// Calls `body` for up to `limit` entries from `start`, in order; a sequence number out of range throws.
    package func entries(from start: UInt64, limit: Int, _ body: (UInt64, [UInt8]) throws -> Void) throws {
        try backend.entries(from: start, limit: limit) { sequence, bytes in
            try body(try inRange(sequence, .sequence), bytes)
        }
    }

    /// The tree node at `position`, if stored; one that is not 32 bytes throws.
    package func node(at position: UInt64) throws -> Hash32? {
        guard let bytes = try backend.node(at: position) else { return nil }
        guard let hash = Hash32(bytes) else { throw damaged(.nodeNotAHash(position: position)) }
        return hash
    }

    /// The stored tree nodes at `positions`, in one read where the backend can; one that is not 32 bytes throws.
    package func nodes(at positions: [UInt64]) throws -> [UInt64: Hash32] {
        var hashes: [UInt64: Hash32] = [:]
        for (position, bytes) in try backend.nodes(at: positions) {
            guard let hash = Hash32(bytes) else { throw damaged(.nodeNotAHash(position: position)) }
            hashes[position] = hash
        }
        return hashes
    }

    /// See `LedgerStore.insertNode`.
    package func insertNode(at position: UInt64, hash: Hash32) throws {
        try backend.insertNode(at: position, hash: hash)
    }

    /// See `LedgerStore.nodes(in:)`: raw bytes, which the verifier compares with the recomputed tree.
    package func nodes(in range: Range<UInt64>, _ body: (UInt64, [UInt8]) throws -> Void) throws {
        try backend.nodes(in: range, body)
    }

    /// See `LedgerStore.nodeCount`.
    package func nodeCount() throws -> UInt64 { try backend.nodeCount() }

    /// Stores the checkpoint note for `size` unless the very same note is stored; a different one is refused: a
    /// signed checkpoint is never replaced.
    package func insertCheckpoint(size: UInt64, note: [UInt8]) throws {
        if let existing = try backend.checkpoint(size: size) {
            guard existing == note else { throw LedgerError.differentCheckpointStored(location: location, size: size) }
            return
        }
        try backend.insertCheckpoint(size: size, note: note)
    }

    /// See `LedgerStore.checkpoint(size:)`.
    package func checkpoint(size: UInt64) throws -> [UInt8]? { try backend.checkpoint(size: size) }

    /// Every stored checkpoint, by size; a size out of range throws.
    package func checkpoints() throws -> [(size: UInt64, note: [UInt8])] {
        try backend.checkpoints().map { (try inRange($0.size, .checkpointSize), $0.note) }
    }

    /// The stored checkpoint of the largest size; a size out of range throws.
    package func latestCheckpoint() throws -> (size: UInt64, note: [UInt8])? {
        guard let (size, note) = try backend.latestCheckpoint() else { return nil }
        return (try inRange(size, .checkpointSize), note)
    }

    /// A second connection to the same store, validated alike.
    package func makeReader() throws -> ValidatedLedgerStore { ValidatedLedgerStore(try backend.makeReader()) }
}
