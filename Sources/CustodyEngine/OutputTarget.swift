import CustodyBase
import CustodyCrypto
import CustodyIO
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// Where a command writes a large output: standard output (`-`), a device or pipe written in place, or a
/// regular file written to a temporary file beside it, synced and renamed into place only on `commit()` so
/// a partial output never looks complete.
public final class OutputTarget: @unchecked Sendable {
    /// The output's path (`-` for standard output).
    public let path: String
    /// The descriptor written (a temporary file's, for a regular file).
    public let descriptor: FileDescriptor
    private let temporaryPath: String?
    private var finished = false

    /// Opens `path` for writing. An existing regular file is refused unless `overwrite` is set, and always when it is
    /// the file open as `input` (it would be replaced by what is made of it); an existing device or pipe (e.g.
    /// /dev/null) is written directly.
    public init(path: String, overwrite: Bool, mode: mode_t = 0o644, input: FileDescriptor? = nil) throws {
        self.path = path
        if path == "-" {
            descriptor = .standardOutput
            temporaryPath = nil
            return
        }
        var info = stat()
        if stat(path, &info) == 0 {
            if let read = try? input?.status(), read.st_dev == info.st_dev, read.st_ino == info.st_ino {
                throw EngineError.outputIsInput(path: path)
            }
            if info.st_mode & S_IFMT != S_IFREG {
                guard info.st_mode & S_IFMT != S_IFDIR else {
                    throw EngineError.outputIsDirectory(path: path)
                }
                descriptor = try FileDescriptor.open(path, O_WRONLY)
                temporaryPath = nil
                return
            }
            guard overwrite else {
                throw EngineError.outputExists(path: path)
            }
        }
        let temporary = path + ".partial-\(getpid())"
        descriptor = try FileDescriptor.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC, mode: mode)
        temporaryPath = temporary
    }

    /// A sink over the output. A new file is written with direct I/O from aligned buffers (`DirectWriter`), or
    /// where the file system refuses that, through the page cache with a background sync every 64 MiB, so that the
    /// final sync in `commit()` waits only for the tail; standard output and devices are written as they are.
    public lazy var sink: ByteSink = {
        guard isAtomic else { return isStandardOutput ? descriptor : WritebackSink(descriptor: descriptor) }
        let writer = DirectWriter(descriptor, at: 0)
        return writer.isDirect ? DirectSink(writer) : WritebackSink(descriptor: descriptor)
    }()

    /// Whether the output goes through a temporary file renamed on `commit()` (false for stdout and devices).
    public var isAtomic: Bool { temporaryPath != nil }

    /// Whether the output is standard output.
    public var isStandardOutput: Bool { path == "-" }

    /// What a command stopped before `commit()` leaves, for its message: a regular file was not written (its
    /// temporary file is removed by `discard()`); standard output or a device holds what was written so far.
    public var stoppedOutcome: String {
        if isAtomic { return "\(path) was not written" }
        return isStandardOutput ? "the output on stdout is incomplete" : "\(path) holds an incomplete output"
    }

    /// Syncs, closes and renames the output into place.
    public func commit() throws {
        guard !finished else { return }
        finished = true
        (sink as? WritebackSink)?.drain()
        if let direct = sink as? DirectSink {
            do { try direct.writer.finish() } catch {
                discardFile()
                throw error
            }
        }
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
            discardFile()
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
        (sink as? WritebackSink)?.drain()
        discardFile()
    }

    private func discardFile() {
        (sink as? DirectSink)?.writer.waitForBackgroundWrites()
        if !isStandardOutput { descriptor.close() }
        if let temporaryPath { unlink(temporaryPath) }
    }

    deinit { discard() }
}

/// Writes to a file descriptor and syncs it on a background queue every `interval` bytes.
final class WritebackSink: ByteSink, @unchecked Sendable {
    let descriptor: FileDescriptor
    let interval: Int
    private let queue = DispatchQueue(label: "custody.writeback", qos: .utility)
    private let pending = Mutex(false)
    // Touched only by the (single) writer.
    private var sinceSync = 0

    init(descriptor: FileDescriptor, interval: Int = 64 << 20) {
        self.descriptor = descriptor
        self.interval = interval
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        try descriptor.writeAll(bytes)
        sinceSync += bytes.count
        guard sinceSync >= interval else { return }
        sinceSync = 0
        let alreadyPending = pending.withLock { value -> Bool in
            defer { value = true }
            return value
        }
        if alreadyPending { return }
        let fd = descriptor.rawValue
        queue.async {
            // Errors surface in the final fsync of commit().
            _ = fdatasync(fd)
            self.pending.withLock { $0 = false }
        }
    }

    /// Waits for a background sync in progress.
    func drain() {
        queue.sync {}
    }
}
