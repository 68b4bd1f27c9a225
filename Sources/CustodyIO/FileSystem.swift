import CustodyBase
internal import CCustodySystem
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

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

    /// Flushes every file of the file system holding `path` to stable storage (`syncfs`): one call where a
    /// collection would need an `fsync` per file. Its error (`EIO` of any file written back) is thrown.
    public static func syncFileSystem(of path: String) throws {
        let fd = try FileDescriptor.open(path.isEmpty ? "." : path, O_RDONLY | O_DIRECTORY)
        defer { fd.close() }
        guard custody_sync_file_system(fd.rawValue) == 0 else {
            throw SystemError(operation: "syncfs", path: path, code: errno)
        }
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
        guard let bytes = try fd.readToEnd(limit: limit) else { throw IOError.tooLarge(path: path, limit: limit) }
        return bytes
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

extension FileDescriptor {
    /// Reads from the current position to the end, in 64 KiB reads; nil as soon as more than `limit` bytes come
    /// (a file that grew past its limit, or one that lied about its size). `expectedSize` only reserves memory.
    public func readToEnd(limit: Int, expectedSize: Int = 0) throws -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(min(expectedSize, limit))
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = try buffer.withUnsafeMutableBytes { try read(into: $0) }
            if count == 0 { return out }
            out.append(contentsOf: buffer[0..<count])
            if out.count > limit { return nil }
        }
    }
}
