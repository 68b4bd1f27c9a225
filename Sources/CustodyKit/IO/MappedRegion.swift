#if canImport(Glibc)
import Glibc
#endif
import CCustodySystem

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
    private let guardIndex: Int32
    private var mapped = true

    private init(bytes: UnsafeRawBufferPointer, offset: UInt64, path: String, guardIndex: Int32) {
        self.bytes = bytes
        self.offset = offset
        self.path = path
        self.guardIndex = guardIndex
    }

    /// The error for a damaged region.
    public var damageError: CustodyError {
        CustodyError.operational("\(path): changed size while being read (bytes in \(offset)-"
            + "\(offset + UInt64(bytes.count) - 1) vanished, or the medium failed under them); read it again once "
            + "it is stable")
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
