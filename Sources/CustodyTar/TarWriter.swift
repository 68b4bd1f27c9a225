import CustodyBase
import CustodyIO
#if canImport(Glibc)
import Glibc
#endif

/// Writes a deterministic POSIX tar stream (ustar headers, pax extended headers where ustar cannot hold a name or
/// size): regular files and directories only, owner and group 0 with empty names, mode 0644 for files and 0755
/// for directories, modification time as given (0 by default). Output goes to `sink` in order.
public final class TarWriter {
    private let sink: (UnsafeRawBufferPointer) throws -> Void
    /// Bytes written so far.
    public private(set) var bytesWritten: UInt64 = 0
    private var finished = false
    /// The copy buffer, made at the first file and kept for the next (one allocation per archive, not per file).
    private var buffer: [UInt8] = []

    /// A writer handing every block to `sink`.
    public init(sink: @escaping (UnsafeRawBufferPointer) throws -> Void) {
        self.sink = sink
    }

    private func emit(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try sink($0) }
        bytesWritten += UInt64(bytes.count)
    }

    /// Checks an archive member name: relative, `/`-separated, no empty, `.` or `..` components, no NUL or
    /// control characters, no backslash.
    public static func validateName(_ name: String) throws {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty else { throw TarArchiveError.emptyMemberName }
        if bytes.first == UInt8(ascii: "/") { throw TarArchiveError.absoluteMemberName(name) }
        if bytes.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "\\") }) {
            throw TarArchiveError.controlCharacterInMemberName(name)
        }
        for component in name.split(separator: "/", omittingEmptySubsequences: false)
        where component.isEmpty || component == "." || component == ".." {
            throw TarArchiveError.badComponentInMemberName(name)
        }
    }

    /// Writes the header (and a pax header before it when needed) of one member.
    private func writeHeader(name: String, isDirectory: Bool, size: UInt64, modificationTime: UInt64) throws {
        precondition(!finished, "TarWriter used after finish")
        try TarWriter.validateName(name)
        let stored = Array((isDirectory ? name + "/" : name).utf8)
        var pax: [UInt8] = []
        var ustarName = stored
        var prefix: [UInt8] = []
        if stored.contains(where: { $0 >= 0x80 }) || !TarWriter.split(stored, name: &ustarName, prefix: &prefix) {
            pax += TarFormat.paxRecord("path", stored)
            // Old readers see a truncated ASCII stand-in.
            ustarName = Array(stored.suffix(99).map { $0 >= 0x80 ? UInt8(ascii: "_") : $0 })
            prefix = []
        }
        if size > TarFormat.maximumOctal11 { pax += TarFormat.paxRecord("size", Array(String(size).utf8)) }
        if modificationTime > TarFormat.maximumOctal11 {
            pax += TarFormat.paxRecord("mtime", Array(String(modificationTime).utf8))
        }
        if !pax.isEmpty {
            var header = TarWriter.header(name: Array("././@PaxHeader".utf8), prefix: [], typeflag: UInt8(ascii: "x"),
                                          mode: 0o644, size: UInt64(pax.count), modificationTime: 0)
            TarFormat.seal(&header)
            try emit(header)
            try emit(pax + TarWriter.padding(for: UInt64(pax.count)))
        }
        var header = TarWriter.header(name: ustarName, prefix: prefix,
                                      typeflag: isDirectory ? UInt8(ascii: "5") : UInt8(ascii: "0"),
                                      mode: isDirectory ? 0o755 : 0o644,
                                      size: min(size, TarFormat.maximumOctal11),
                                      modificationTime: min(modificationTime, TarFormat.maximumOctal11))
        TarFormat.seal(&header)
        try emit(header)
    }

    /// Splits a name into ustar `prefix` (≤ 155 bytes) and `name` (≤ 100 bytes) at a slash; false if impossible.
    private static func split(_ stored: [UInt8], name: inout [UInt8], prefix: inout [UInt8]) -> Bool {
        if stored.count <= 100 {
            name = stored
            prefix = []
            return true
        }
        // The last slash that leaves a name of at most 100 bytes and a prefix of at most 155 bytes.
        let trimmed = stored.last == UInt8(ascii: "/") ? Array(stored.dropLast()) : stored
        for index in stride(from: trimmed.count - 1, through: 0, by: -1) where trimmed[index] == UInt8(ascii: "/") {
            let rest = Array(stored[(index + 1)...])
            if rest.count > 100 { return false }
            if index <= 155 {
                name = rest
                prefix = Array(stored[..<index])
                return true
            }
        }
        return false
    }

    private static func header(name: [UInt8], prefix: [UInt8], typeflag: UInt8, mode: UInt64, size: UInt64,
                               modificationTime: UInt64) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: TarFormat.blockSize)
        TarFormat.putString(name, TarFormat.Field.name, into: &block)
        TarFormat.putOctal(mode, TarFormat.Field.mode, into: &block)
        TarFormat.putOctal(0, TarFormat.Field.uid, into: &block)
        TarFormat.putOctal(0, TarFormat.Field.gid, into: &block)
        TarFormat.putOctal(size, TarFormat.Field.size, into: &block)
        TarFormat.putOctal(modificationTime, TarFormat.Field.mtime, into: &block)
        block[TarFormat.Field.typeflag] = typeflag
        TarFormat.putString(Array("ustar".utf8) + [0], TarFormat.Field.magic, into: &block)
        TarFormat.putString(Array("00".utf8), TarFormat.Field.version, into: &block)
        TarFormat.putString(prefix, TarFormat.Field.prefix, into: &block)
        return block
    }

    private static func padding(for size: UInt64) -> [UInt8] {
        let remainder = Int(size % UInt64(TarFormat.blockSize))
        return remainder == 0 ? [] : [UInt8](repeating: 0, count: TarFormat.blockSize - remainder)
    }

    /// Adds a directory member (`name` without a trailing slash).
    public func addDirectory(_ name: String, modificationTime: UInt64 = 0) throws {
        try writeHeader(name: name, isDirectory: true, size: 0, modificationTime: modificationTime)
    }

    /// Adds a regular file of exactly `size` bytes read sequentially from `content`; fails if the content is
    /// shorter or longer (a file changing while it is archived).
    public func addFile(_ name: String, size: UInt64, modificationTime: UInt64 = 0, content: ChunkReader) throws {
        try writeHeader(name: name, isDirectory: false, size: size, modificationTime: modificationTime)
        if buffer.isEmpty { buffer = [UInt8](repeating: 0, count: 1 << 20) }
        var offset: UInt64 = 0
        while offset < size {
            let want = Int(min(UInt64(buffer.count), size - offset))
            let count = try buffer.withUnsafeMutableBytes {
                try content.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<want]), at: offset)
            }
            if count == 0 {
                throw TarArchiveError.inputShrank(member: name, byteOffset: offset, expectedSize: size)
            }
            try buffer.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            bytesWritten += UInt64(count)
            offset += UInt64(count)
        }
        let extra = try buffer.withUnsafeMutableBytes {
            try content.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<1]), at: offset)
        }
        if extra != 0 { throw TarArchiveError.inputGrew(member: name, expectedSize: size) }
        try emit(TarWriter.padding(for: size))
    }

    /// Adds a regular file held in memory.
    public func addFile(_ name: String, bytes: [UInt8], modificationTime: UInt64 = 0) throws {
        try addFile(name, size: UInt64(bytes.count), modificationTime: modificationTime,
                    content: MemoryChunkReader(bytes))
    }

    /// Adds a directory tree from disk under the member name `name`: the directory, then its entries in bytewise
    /// name order, depth first. Only regular files and directories are accepted; anything else (symbolic link,
    /// device, socket, FIFO) is refused. Modification times are kept when `keepModificationTimes` is set, else 0.
    ///
    /// The tree is walked as a stream (`CollectionWalker`): memory holds one directory's names per level of the
    /// current path, never the whole tree, so a bundle of millions of files is archived in bounded memory.
    public func addTree(_ path: String, as name: String, keepModificationTimes: Bool = false) throws {
        let walker = CollectionWalker(roots: [path], options: WalkOptions(followRootLinks: false,
                                                                          opensRegularFiles: true))
        var rootComponent = 0
        while let entry = walker.next() {
            defer { entry.openFile?.close() }
            if entry.depth == 0 { rootComponent = entry.relativePath.count }
            if let error = entry.error {
                if entry.kind != .regular && entry.kind != .directory && entry.kind != .unknown {
                    throw TarArchiveError.unsupportedFileType(path: entry.pathString)
                }
                throw TarArchiveError.unreadable(path: entry.pathString, reason: error)
            }
            let member = name + RawName.decode(Array(entry.relativePath.dropFirst(rootComponent)))
            let mtime = keepModificationTimes ? UInt64(max(0, entry.metadata?.modified.seconds ?? 0)) : 0
            switch entry.kind {
            case .directory:
                try addDirectory(member, modificationTime: mtime)
            case .regular:
                guard let descriptor = entry.openFile else {
                    throw TarArchiveError.unreadable(path: entry.pathString, reason: "not opened")
                }
                guard let size = entry.metadata?.size else {
                    throw TarArchiveError.unreadable(path: entry.pathString, reason: "no status")
                }
                try addFile(member, size: size, modificationTime: mtime,
                            content: FileChunkReader(descriptor: descriptor, size: size))
            default:
                throw TarArchiveError.unsupportedFileType(path: entry.pathString)
            }
        }
    }

    /// Writes the end-of-archive marker (two zero blocks).
    public func finish() throws {
        precondition(!finished, "TarWriter finished twice")
        try emit([UInt8](repeating: 0, count: 2 * TarFormat.blockSize))
        finished = true
    }
}
