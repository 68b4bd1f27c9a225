import CustodyBase
import CustodyCrypto
import CustodyIO
import Synchronization

/// The leaf hashes of the item in progress, 32 bytes each in chunk order, kept beside the journal so that a
/// resumed seal does not hash the chunks it verifies again. Appended in memory as chunks are packed and written
/// and synced at the payload's durable points; only the synced count (`durableLeaves` in the journal) is trusted.
final class LeafLog: @unchecked Sendable {
    let descriptor: FileDescriptor
    /// Leaves appended but not yet written, the number durable in the file, and the next chunk index expected.
    private let state = Mutex<(pending: [UInt8], count: UInt64, next: UInt64)>(([], 0, 0))

    /// Opens (creating) the log and keeps its first `valid` leaves, or fewer if the file is shorter.
    init(path: String, valid: UInt64) throws {
        descriptor = try FileDescriptor.openOwnWorkFile(path)
        let size = UInt64(try descriptor.status().st_size)
        let count = min(valid, size / 32)
        try descriptor.truncate(to: count * 32)
        _ = try descriptor.seek(to: Int64(count * 32))
        state.withLock { state in
            state.count = count
            state.next = count
        }
    }

    deinit { descriptor.close() }

    /// The leaves kept.
    func kept() throws -> [Hash32] {
        let count = state.withLock { $0.count }
        var bytes = [UInt8](repeating: 0, count: Int(count) * 32)
        let got = try bytes.withUnsafeMutableBytes { try descriptor.readFully(into: $0, at: 0) }
        return stride(from: 0, to: got - got % 32, by: 32).compactMap { Hash32(bytes[$0..<($0 + 32)]) }
    }

    /// Makes the log hold exactly `leaves` (a prefix of it is already there): cuts it and appends the rest.
    func reset(to leaves: [Hash32]) throws {
        let kept = min(state.withLock { $0.count }, UInt64(leaves.count))
        try descriptor.truncate(to: kept * 32)
        _ = try descriptor.seek(to: Int64(kept * 32))
        state.withLock { state in
            state.count = kept
            state.next = UInt64(leaves.count)
            state.pending = []
            for leaf in leaves[Int(kept)...] { leaf.withBytes { state.pending.append(contentsOf: $0) } }
        }
    }

    /// Adds chunk `index`'s leaf (called in chunk order).
    func append(_ index: UInt64, _ leaf: Hash32) {
        state.withLock { state in
            guard index == state.next else { return }
            state.next += 1
            leaf.withBytes { state.pending.append(contentsOf: $0) }
        }
    }

    /// Writes and syncs what was appended; returns the number of leaves now durable. Appending goes on
    /// meanwhile; flushes must not overlap (the seal makes them one at a time).
    func flush() throws -> UInt64 {
        let (bytes, base) = state.withLock { state -> ([UInt8], UInt64) in
            defer { state.pending = [] }
            return (state.pending, state.count)
        }
        if !bytes.isEmpty { try descriptor.writeAll(bytes) }
        try descriptor.sync()
        let total = base + UInt64(bytes.count / 32)
        state.withLock { $0.count = total }
        return total
    }
}
