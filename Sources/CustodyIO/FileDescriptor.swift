import CustodyBase
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
internal import CCustodySystem

/// A thin owner-less wrapper over a file descriptor: EINTR retried, errors thrown with errno and path.
///
/// Closing is explicit (`close()`); positional reads (`pread`) make it safe to share between workers.
public struct FileDescriptor: Sendable {
    /// The descriptor number.
    public let rawValue: Int32
    /// The path shown in error messages.
    public let path: String

    /// Wraps descriptor `rawValue`, opened on `path`.
    public init(rawValue: Int32, path: String) {
        self.rawValue = rawValue
        self.path = path
    }

    /// Standard input, shown as `-`.
    public static let standardInput = FileDescriptor(rawValue: 0, path: "-")
    /// Standard output, shown as `-`.
    public static let standardOutput = FileDescriptor(rawValue: 1, path: "-")

    /// Opens a file; `flags` are the `O_*` flags, `mode` applies when creating.
    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws -> FileDescriptor {
        while true {
            let fd = RawName.withCString(path) { Glibc.open($0, flags | O_CLOEXEC, mode) }
            if fd >= 0 { return FileDescriptor(rawValue: fd, path: path) }
            if errno == EINTR { continue }
            throw SystemError(operation: "open", path: path, code: errno)
        }
    }

    /// Opens a file read-only.
    public static func openForReading(_ path: String) throws -> FileDescriptor {
        try open(path, O_RDONLY)
    }

    /// Opens a working file custody keeps for itself (a journal, leaf log or partial payload) for reading and
    /// writing, creating it when missing. Whatever sits at `path` is never followed or blocked on: a symbolic link,
    /// FIFO, device or a file with another hard link (something planted there, which writing would damage) is
    /// refused.
    public static func openOwnWorkFile(_ path: String, mode: mode_t = 0o644) throws -> FileDescriptor {
        let descriptor = try open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK, mode: mode)
        do {
            let info = try descriptor.status()
            guard info.st_mode & S_IFMT == S_IFREG, info.st_nlink == 1 else {
                throw IOError.notOwnWorkFile(path: path)
            }
            let flags = fcntl(descriptor.rawValue, F_GETFL)
            _ = fcntl(descriptor.rawValue, F_SETFL, flags & ~O_NONBLOCK)
        } catch {
            descriptor.close()
            throw error
        }
        return descriptor
    }

    /// Closes the descriptor, ignoring errors (a descriptor only read from).
    public func close() {
        _ = Glibc.close(rawValue)
    }

    /// Reads up to `buffer.count` bytes at the current offset; 0 means end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.read(rawValue, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR || errno == EAGAIN { continue }
            throw SystemError(operation: "read", path: path, code: errno)
        }
    }

    /// Reads up to `buffer.count` bytes at `offset` without moving the file offset.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        while true {
            let n = Glibc.pread(rawValue, buffer.baseAddress, buffer.count, off_t(offset))
            if n >= 0 { return n }
            if errno == EINTR || errno == EAGAIN { continue }
            throw SystemError(operation: "read at byte \(offset)", path: path, code: errno)
        }
    }

    /// Fills `buffer` completely unless end of file comes first; returns the number of bytes read.
    public func readFully(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if n == 0 { break }
            filled += n
        }
        return filled
    }

    /// Fills `buffer` from `offset` completely unless end of file comes first.
    public func readFully(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]),
                             at: offset + UInt64(filled))
            if n == 0 { break }
            filled += n
        }
        return filled
    }

    /// Writes all of `bytes`, retrying short writes and EINTR.
    public func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var written = 0
        while written < bytes.count {
            let n = Glibc.write(rawValue, bytes.baseAddress! + written, bytes.count - written)
            if n >= 0 {
                written += n
                continue
            }
            if errno == EINTR || errno == EAGAIN { continue }
            throw SystemError(operation: "write", path: path, code: errno)
        }
    }

    /// Writes all of `bytes`.
    public func writeAll(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try writeAll($0) }
    }

    /// Writes all of `bytes` at `offset` (pwrite), leaving the file offset alone.
    public func writeAll(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        var written = 0
        while written < bytes.count {
            let n = Glibc.pwrite(rawValue, bytes.baseAddress! + written, bytes.count - written,
                                 off_t(offset + UInt64(written)))
            if n >= 0 {
                written += n
                continue
            }
            if errno == EINTR || errno == EAGAIN { continue }
            throw SystemError(operation: "write at byte \(offset)", path: path, code: errno)
        }
    }

    /// Flushes data and metadata to stable storage.
    public func sync() throws {
        while Glibc.fsync(rawValue) != 0 {
            if errno == EINTR { continue }
            // Pipes and terminals cannot be synced; that is not an error for a stream.
            if errno == EINVAL || errno == EROFS { return }
            throw SystemError(operation: "fsync", path: path, code: errno)
        }
    }

    /// The file's status.
    public func status() throws -> stat {
        var info = stat()
        guard fstat(rawValue, &info) == 0 else { throw SystemError(operation: "stat", path: path, code: errno) }
        return info
    }

    /// Moves the file offset; returns the new offset.
    @discardableResult
    public func seek(to offset: Int64, whence: Int32 = SEEK_SET) throws -> UInt64 {
        let result = lseek(rawValue, off_t(offset), whence)
        guard result >= 0 else { throw SystemError(operation: "seek", path: path, code: errno) }
        return UInt64(result)
    }

    /// The offset of the first byte of data at or after `offset` (`SEEK_DATA`; moves the file offset): nil when
    /// only a hole follows. Throws where the file system or the system cannot tell.
    public func nextData(from offset: UInt64) throws -> UInt64? {
        var next: UInt64 = 0
        let status = custody_next_data(rawValue, offset, &next)
        if status == 0 { return next }
        if status == ENXIO { return nil }
        throw SystemError(operation: "seek to data from byte \(offset)", path: path, code: status)
    }

    /// The offset of the first hole at or after `offset` (`lseek` `SEEK_HOLE`): the end of the file when the
    /// file has no hole there.
    public func nextHole(from offset: UInt64) throws -> UInt64 {
        var next: UInt64 = 0
        let status = custody_next_hole(rawValue, offset, &next)
        if status == 0 { return next }
        throw SystemError(operation: "seek to a hole from byte \(offset)", path: path, code: status)
    }

    /// Truncates or extends the file to `size` bytes.
    public func truncate(to size: UInt64) throws {
        while ftruncate(rawValue, off_t(size)) != 0 {
            if errno == EINTR { continue }
            throw SystemError(operation: "truncate", path: path, code: errno)
        }
    }
}
