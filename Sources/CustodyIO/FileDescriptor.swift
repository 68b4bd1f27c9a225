import CustodyBase
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
internal import CCustodySystem

/// The system's description of an errno value.
public func systemErrorDescription(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "error \(code)" }
    return String(cString: text)
}

/// A system call failure carrying errno.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var path: String?
    public var code: Int32

    /// A failure of `operation` on `path` (if any) with errno `code`.
    public init(operation: String, path: String? = nil, code: Int32) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    public var description: String {
        let reason = systemErrorDescription(code)
        if let path { return "\(path): \(operation): \(reason)" }
        return "\(operation): \(reason)"
    }
}

/// A thin owner-less wrapper over a file descriptor: EINTR retried, errors thrown with errno and path.
///
/// Closing is explicit (`close()`); positional reads (`pread`) make it safe to share between workers.
public struct FileDescriptor: Sendable {
    public let rawValue: Int32
    /// The path shown in error messages.
    public let path: String

    public init(rawValue: Int32, path: String) {
        self.rawValue = rawValue
        self.path = path
    }

    public static let standardInput = FileDescriptor(rawValue: 0, path: "-")
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

    /// Truncates or extends the file to `size` bytes.
    public func truncate(to size: UInt64) throws {
        while ftruncate(rawValue, off_t(size)) != 0 {
            if errno == EINTR { continue }
            throw SystemError(operation: "truncate", path: path, code: errno)
        }
    }
}

/// File-system helpers with the same error conventions.
public enum FileSystem {
    /// `stat` (or `lstat` when `followLinks` is false) of a path.
    public static func status(_ path: String, followLinks: Bool = true) throws -> stat {
        var info = stat()
        let result = RawName.withCString(path) { followLinks ? stat($0, &info) : lstat($0, &info) }
        guard result == 0 else { throw SystemError(operation: "stat", path: path, code: errno) }
        return info
    }

    /// Whether something exists at `path` (without following a final symlink).
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Entry names of a directory, excluding `.` and `..`, sorted bytewise (a stable order).
    public static func directoryEntries(_ path: String) throws -> [String] {
        guard let dir = RawName.withCString(path, { opendir($0) }) else {
            throw SystemError(operation: "open directory", path: path, code: errno)
        }
        defer { closedir(dir) }
        var names: [[UInt8]] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw SystemError(operation: "read directory", path: path, code: errno) }
                break
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw -> [UInt8] in
                Array(raw.prefix { $0 != 0 })
            }
            if name == [46] || name == [46, 46] { continue }
            names.append(name)
        }
        names.sort { $0.lexicographicallyPrecedes($1) }
        return names.map { RawName.decode($0) }
    }

    /// Creates a directory (and parents) with `mode`.
    public static func createDirectory(_ path: String, mode: mode_t = 0o755) throws {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, mode) != 0 && errno != EEXIST {
                throw SystemError(operation: "create directory", path: prefix, code: errno)
            }
            prefix += "/"
        }
    }

    /// Makes a rename or creation inside `directory` durable by syncing the directory.
    public static func syncDirectory(_ directory: String) throws {
        let fd = try FileDescriptor.open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY)
        defer { fd.close() }
        try fd.sync()
    }

    /// Writes `bytes` to `path` atomically and durably: a temporary file beside it (`PATH.tmp-PID`), fsync, rename,
    /// fsync dir.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
        let directory = parentDirectory(of: path)
        let temporary = path + atomicTemporarySuffix + "\(getpid())"
        let fd = try FileDescriptor.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_EXCL, mode: mode)
        do {
            _ = fchmod(fd.rawValue, mode)
            try fd.writeAll(bytes)
            try fd.sync()
            fd.close()
        } catch {
            fd.close()
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw SystemError(operation: "rename", path: path, code: code)
        }
        try syncDirectory(directory)
    }

    /// What `writeAtomically` appends to a path, before the process ID, to name its temporary file.
    static let atomicTemporarySuffix = ".tmp-"

    /// Whether `path` is a temporary `writeAtomically` left (`NAME.tmp-DIGITS`): a process killed between creating
    /// and renaming it leaves one behind.
    public static func isAtomicTemporary(_ path: String) -> Bool {
        let digits = path.reversed().prefix { $0.isASCII && $0.isNumber }
        return !digits.isEmpty && path.dropLast(digits.count).hasSuffix(atomicTemporarySuffix)
    }

    /// Removes the temporaries killed `writeAtomically` calls for `path` left beside it.
    public static func removeAtomicTemporaries(of path: String) throws {
        let parent = parentDirectory(of: path)
        let prefix = (path.split(separator: "/").last.map(String.init) ?? path) + atomicTemporarySuffix
        for name in try directoryEntries(parent) where name.hasPrefix(prefix) && isAtomicTemporary(name) {
            unlink(parent + "/" + name)
        }
    }

    /// Reads a whole file, refusing files larger than `limit` bytes.
    public static func readFile(_ path: String, limit: Int = 64 << 20) throws -> [UInt8] {
        let fd = try FileDescriptor.openForReading(path)
        defer { fd.close() }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try fd.read(into: $0) }
            if n == 0 { break }
            out.append(contentsOf: buffer[0..<n])
            if out.count > limit {
                throw IOError.tooLarge(path: path, limit: limit)
            }
        }
        return out
    }

    /// The directory part of a path (`.` when there is none).
    public static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }
}

extension FileSystem {
    /// Removes a file or a directory tree without following symbolic links. Missing paths are fine.
    public static func removeTree(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            for name in (try? directoryEntries(path)) ?? [] { removeTree(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}
