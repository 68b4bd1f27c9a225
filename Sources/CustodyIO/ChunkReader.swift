import CustodyBase
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Where a pipeline's bytes come from. The real readers and test readers (fault injection) share it.
public protocol ChunkReader: Sendable {
    /// The input's size when known in advance (regular files, block devices); nil for streams.
    var knownSize: UInt64? { get }
    /// Whether `read(into:at:)` may be called from several threads at once at arbitrary offsets.
    var supportsPositionalReads: Bool { get }
    /// Fills `buffer` with the bytes at `offset`, stopping early only at end of input. Without positional
    /// support it is called from one thread, with offsets increasing by the previous call's result.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int
    /// Lends the `count` bytes at `offset` (all inside `knownSize`) without copying them, when the reader can
    /// (a mapped regular file); nil when it cannot, and the caller reads them instead.
    func borrow(at offset: UInt64, count: Int) -> MappedRegion?
}

extension ChunkReader {
    /// Lends nothing: the caller reads every range.
    public func borrow(at offset: UInt64, count: Int) -> MappedRegion? { nil }
}

/// Reads a file, block device or stream through a file descriptor. Regular files are lent to the pipeline as
/// guarded mappings (no copy through a buffer) unless mapping is turned off (`mapsRegularFiles`); devices and
/// streams are read with `pread`/`read`.
public struct FileChunkReader: ChunkReader {
    /// Whether readers made without saying otherwise map regular files: true unless the program that uses the
    /// library turns it off for the whole process (the command line does, for `CUSTODY_NO_MMAP`).
    public static var mapsRegularFilesByDefault: Bool {
        get { mappingDefault.load(ordering: .relaxed) }
        set { mappingDefault.store(newValue, ordering: .relaxed) }
    }
    private static let mappingDefault = Atomic<Bool>(true)

    /// The descriptor read from (not closed by the reader).
    public let descriptor: FileDescriptor
    /// The size at the start of the read; nil for a stream.
    public let knownSize: UInt64?
    /// True when the size is known: files and devices are read with `pread` at any offset.
    public let supportsPositionalReads: Bool
    /// Whether `borrow` maps the file.
    public let lendsMappings: Bool
    /// The mappings chunks are lent from, when the reader maps its file.
    private let windows: MappedWindows?

    /// A reader over `descriptor`; `size` nil means a stream read sequentially with `read(2)`. A regular file is
    /// mapped when `mapsRegularFiles` (by default `mapsRegularFilesByDefault`), else read with `pread`.
    public init(descriptor: FileDescriptor, size: UInt64?,
                mapsRegularFiles: Bool = FileChunkReader.mapsRegularFilesByDefault) {
        self.descriptor = descriptor
        self.knownSize = size
        self.supportsPositionalReads = size != nil
        var info = stat()
        lendsMappings = size != nil && mapsRegularFiles && fstat(descriptor.rawValue, &info) == 0
            && info.st_mode & S_IFMT == S_IFREG
        windows = lendsMappings ? size.map { MappedWindows(descriptor, size: $0) } : nil
    }

    /// Lends the range from a mapping of it and its neighbouring chunks (or a hole as zeros) when the reader maps
    /// its file; nil otherwise or when mapping fails, and the caller reads instead.
    public func borrow(at offset: UInt64, count: Int) -> MappedRegion? {
        guard let windows, count > 0 else { return nil }
        return windows.borrow(at: offset, count: count)
    }

    /// Reads with `pread` at `offset` (files, devices) or sequentially with `read` (streams).
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        if supportsPositionalReads {
            return try descriptor.readFully(into: buffer, at: offset)
        }
        return try descriptor.readFully(into: buffer)
    }
}

/// Reads from memory: synthetic benchmark inputs and tests.
public struct MemoryChunkReader: ChunkReader {
    /// The whole input.
    public let bytes: [UInt8]
    /// The number of bytes.
    public var knownSize: UInt64? { UInt64(bytes.count) }
    /// Always true: memory reads at any offset.
    public var supportsPositionalReads: Bool { true }

    /// A reader over `bytes`.
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Copies the bytes at `offset` into `buffer`.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        guard offset < UInt64(bytes.count) else { return 0 }
        let count = min(buffer.count, bytes.count - Int(offset))
        bytes.withUnsafeBytes { source in
            buffer.baseAddress!.copyMemory(from: source.baseAddress! + Int(offset), byteCount: count)
        }
        return count
    }
}

/// Reads the first `limit` bytes of a file (the durable part of an interrupted raw payload).
package struct PrefixChunkReader: ChunkReader {
    let descriptor: FileDescriptor
    let limit: UInt64
    /// The prefix's length.
    package var knownSize: UInt64? { limit }
    /// Always true: the file is read with `pread`.
    package var supportsPositionalReads: Bool { true }

    /// A reader over the first `limit` bytes of `descriptor`.
    package init(_ descriptor: FileDescriptor, limit: UInt64) {
        self.descriptor = descriptor
        self.limit = limit
    }

    /// Reads the bytes at `offset`, stopping at `limit`.
    package func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        guard offset < limit else { return 0 }
        let count = Int(min(UInt64(buffer.count), limit - offset))
        return try descriptor.readFully(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]), at: offset)
    }
}
