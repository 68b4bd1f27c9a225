import CustodyBase
#if canImport(Glibc)
import Glibc
#endif
internal import CCustodySystem
import Synchronization

/// A read-only mapping of part of a file, guarded against the file shrinking (or failing) under it: pages lost
/// while mapped read as zeros instead of killing the process with SIGBUS, and `isDamaged` says so. Readers check
/// it before trusting what they read, and `unmap()` reports it once more.
public final class MappedRegion: @unchecked Sendable {
    /// The mapped bytes; valid until `unmap()`.
    public let bytes: UnsafeRawBufferPointer
    /// Offset of the first byte in the file.
    public let offset: UInt64
    /// The file's path, for messages.
    public let path: String
    /// Whether the region lends zeros for a hole of a sparse file instead of mapping it.
    public let isHole: Bool
    private let guardIndex: Int32
    private var mapped = true

    private init(bytes: UnsafeRawBufferPointer, offset: UInt64, path: String, guardIndex: Int32,
                 isHole: Bool = false) {
        self.bytes = bytes
        self.offset = offset
        self.path = path
        self.guardIndex = guardIndex
        self.isHole = isHole
        if isHole { mapped = false }
    }

    /// `count` zero bytes standing for a hole of the file at `offset`: a shared read-only buffer, so a sparse image's
    /// holes are neither mapped nor put in the page cache.
    public static func hole(count: Int, offset: UInt64, path: String) -> MappedRegion {
        MappedRegion(bytes: UnsafeRawBufferPointer(start: ZeroBuffer.shared.bytes(count), count: count),
                     offset: offset, path: path, guardIndex: -1, isHole: true)
    }

    /// The error for a damaged region.
    public var damageError: IOError {
        IOError.changedUnderMapping(path: path, offset: offset, count: bytes.count)
    }

    /// Maps `count` bytes of `descriptor` from `offset` (a multiple of the page size). `populate` pre-faults the
    /// pages in the calling thread, as a read would. Throws when the system refuses the mapping (the caller falls
    /// back to reading).
    public static func map(_ descriptor: FileDescriptor, offset: UInt64, count: Int,
                           populate: Bool = true) throws -> MappedRegion {
        var address: UnsafeMutableRawPointer?
        var guardIndex: Int32 = -1
        let status = custody_map_guarded(descriptor.rawValue, offset, count, populate ? 1 : 0, &address, &guardIndex)
        guard status == 0, let address else {
            throw SystemError(operation: "map \(count) bytes at byte \(offset)", path: descriptor.path, code: status)
        }
        return MappedRegion(bytes: UnsafeRawBufferPointer(start: address, count: count), offset: offset,
                            path: descriptor.path, guardIndex: guardIndex)
    }

    /// Whether pages of the mapping were lost (the file shrank or failed) since it was made; false once unmapped
    /// (the guard may then watch another mapping: `unmap()` reports the damage).
    public var isDamaged: Bool { mapped && custody_mapping_damaged(guardIndex) != 0 }

    /// Unmaps the region and returns whether it was damaged. Calling it twice is harmless.
    @discardableResult
    public func unmap() -> Bool {
        guard mapped else { return false }
        mapped = false
        return custody_unmap_guarded(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count,
                                     guardIndex) != 0
    }

    deinit { unmap() }
}

/// One zeroed allocation for every hole region, grown to the largest size asked for (at most a chunk, 64 MiB) and
/// never freed or written, so every region lent from it stays valid.
final class ZeroBuffer: @unchecked Sendable {
    static let shared = ZeroBuffer()
    private let state = Mutex<[UnsafeMutableRawPointer]>([])
    private var largest = 0

    /// At least `count` zero bytes.
    func bytes(_ count: Int) -> UnsafeRawPointer {
        state.withLock { buffers in
            if let last = buffers.last, largest >= count { return UnsafeRawPointer(last) }
            // calloc of a large size maps fresh zero pages: reading them costs no copy and no page cache.
            let buffer = calloc(max(count, 1), 1)!
            buffers.append(buffer)
            largest = count
            return UnsafeRawPointer(buffer)
        }
    }
}
