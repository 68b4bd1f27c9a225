#if canImport(Glibc)
import Glibc
#endif

/// Where a command writes a large output: standard output (`-`), a device or pipe written in place, or a
/// regular file written to a temporary file beside it, synced and renamed into place only on `commit()` so
/// a partial output never looks complete.
public final class OutputTarget: @unchecked Sendable {
    public let path: String
    public let descriptor: FileDescriptor
    private let temporaryPath: String?
    private var finished = false

    /// Opens `path` for writing. An existing regular file is refused unless `overwrite` is set; an existing
    /// device or pipe (e.g. /dev/null) is written directly.
    public init(path: String, overwrite: Bool, mode: mode_t = 0o644) throws {
        self.path = path
        if path == "-" {
            descriptor = .standardOutput
            temporaryPath = nil
            return
        }
        var info = stat()
        if stat(path, &info) == 0 {
            if info.st_mode & S_IFMT != S_IFREG {
                guard info.st_mode & S_IFMT != S_IFDIR else {
                    throw CustodyError.operational("\(path): is a directory; name an output file")
                }
                descriptor = try FileDescriptor.open(path, O_WRONLY)
                temporaryPath = nil
                return
            }
            guard overwrite else {
                throw CustodyError.operational("\(path): already exists; choose another name or use --force")
            }
        }
        let temporary = path + ".partial-\(getpid())"
        descriptor = try FileDescriptor.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC, mode: mode)
        temporaryPath = temporary
    }

    /// Whether the output is standard output.
    public var isStandardOutput: Bool { path == "-" }

    /// Syncs, closes and renames the output into place.
    public func commit() throws {
        guard !finished else { return }
        finished = true
        guard let temporaryPath else {
            if !isStandardOutput {
                try descriptor.sync()
                descriptor.close()
            }
            return
        }
        do {
            try descriptor.sync()
            descriptor.close()
        } catch {
            descriptor.close()
            unlink(temporaryPath)
            throw error
        }
        guard rename(temporaryPath, path) == 0 else {
            let code = errno
            unlink(temporaryPath)
            throw SystemError(operation: "rename", path: path, code: code)
        }
        try FileSystem.syncDirectory(FileSystem.parentDirectory(of: path))
    }

    /// Closes and removes a temporary output (nothing is left under the final name).
    public func discard() {
        guard !finished else { return }
        finished = true
        if !isStandardOutput { descriptor.close() }
        if let temporaryPath { unlink(temporaryPath) }
    }

    deinit { discard() }
}
