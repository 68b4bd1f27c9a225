import CustodyBase
import CustodyIO
#if canImport(Glibc)
import Glibc
#endif

/// Bounds applied to untrusted archives.
public struct TarLimits: Sendable {
    /// Members (files and directories) at most.
    public var maximumEntries = 100_000
    /// Bytes in one file at most.
    public var maximumFileSize: UInt64 = 1 << 40
    /// Bytes in all files together at most.
    public var maximumTotalSize: UInt64 = 4 << 40
    /// Bytes in a member name at most.
    public var maximumNameLength = 4096
    /// Bytes in a pax extended header at most.
    public var maximumExtendedHeaderSize = 64 << 10
    /// How members whose names collide are found.
    public var nameCheck = TarNameCheck.foldedNames

    /// Limits; the defaults suit transfers of up to 4 TiB.
    public init(maximumEntries: Int = 100_000, maximumFileSize: UInt64 = 1 << 40,
                maximumTotalSize: UInt64 = 4 << 40) {
        self.maximumEntries = maximumEntries
        self.maximumFileSize = maximumFileSize
        self.maximumTotalSize = maximumTotalSize
    }

    /// The limits `custody receive` applies: up to 50 million members (a collection bundle of ten million items
    /// has a payload file per regular file, a folder per directory, and its tag files), names checked by the file
    /// system (`TarNameCheck.fileSystem`), so memory does not grow with the member count.
    public static let collections: TarLimits = {
        var limits = TarLimits(maximumEntries: 50_000_000)
        limits.nameCheck = .fileSystem
        return limits
    }()
}

/// How an extraction finds two members with colliding names.
public enum TarNameCheck: Sendable, Equatable {
    /// Every member name is remembered, folded (case and Unicode normalization ignored): two that match are
    /// refused, as they would collide on some file system. Memory grows with the member count (bounded by
    /// `TarLimits.maximumEntries`); directories and files are each synced as they are written.
    case foldedNames
    /// Nothing is remembered per member: a member whose name already exists in the destination (the same name,
    /// or one the destination's file system folds onto it) is refused by the file system itself (`O_EXCL`,
    /// `mkdir`). Memory does not grow with the member count; a durable extraction syncs the file system once
    /// (`syncfs`) at the end instead of each file. For collections, whose original names may differ only in case.
    case fileSystem
}

/// Why an archive was refused: which member, where in the stream, and what.
public struct TarError: CustodyFailure, Equatable {
    /// 1-based member number (counting pax/long-name headers with the member they describe).
    public var entry: Int
    /// The member name when known.
    public var name: String?
    /// Offset of the member's first header in the tar stream.
    public var byteOffset: UInt64
    /// Why the member is refused.
    public var reason: String

    /// An archive that cannot be extracted: an operation that could not be done (a caller that received the
    /// archive decides whether that is a failed check).
    public var kind: FailureKind { .operational }

    /// `tar entry N "NAME" at byte OFFSET: REASON`.
    public var description: String {
        let named = name.map { " \"\(TarError.printable($0))\"" } ?? ""
        return "tar entry \(entry)\(named) at byte \(byteOffset): \(reason)"
    }

    /// The name with control characters escaped, safe for a terminal line.
    static func printable(_ text: String) -> String { Printable.escapingControls(text, limit: 256) }
}

/// What an extraction produced.
public struct TarExtractionSummary: Sendable, Equatable {
    /// Regular files created.
    public var files = 0
    /// Directories created (the destination not counted).
    public var directories = 0
    /// Bytes of file content written.
    public var bytes: UInt64 = 0
    /// Length of the tar stream up to the end-of-archive marker.
    public var archiveSize: UInt64 = 0
}

/// Extracts a tar stream (ustar, pax or GNU format) into a new directory, safely:
/// - only regular files and directories; symbolic and hard links, devices, FIFOs, sparse and volume members are
///   refused; pax `path`/`size` records and GNU long names are honoured;
/// - names must be relative, without `..`, control characters or backslashes; `.` components and repeated
///   slashes are dropped; two members whose names match after that, ignoring case and Unicode normalization,
///   are refused (they would collide on some file systems);
/// - header checksums are checked; sizes, member count and name lengths are bounded by `TarLimits`;
/// - files are created with `O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0644, directories 0755, inside a destination
///   created by the extractor with mode 0700 while it works (an existing empty directory is accepted);
/// - with `TarNameCheck.fileSystem` the member names are not remembered (memory stays bounded whatever the member
///   count): collisions are those the destination's file system itself reports;
/// - on any error, everything extracted so far is removed before the error is reported (the destination was
///   empty, so all it holds), so no partial tree is left looking complete. With `durable`, files and directories
///   are synced before `finish` returns.
///
/// Feed bytes with `write` in any pieces, then call `finish`.
public final class TarExtractor {
    /// The directory the archive is extracted into.
    public let destination: String
    /// The bounds the archive must stay within.
    public let limits: TarLimits
    /// Whether files and directories are fsynced before `finish` returns.
    public let durable: Bool

    private enum State {
        case header
        case fileData(remaining: UInt64)
        case extendedHeader(remaining: UInt64, global: Bool)
        case longName(remaining: UInt64)
        case padding(remaining: Int)
        case endMarker
        case finished
    }

    private enum Kind { case file, directory }

    private var state = State.header
    private var block: [UInt8] = []
    private var offset: UInt64 = 0
    private var entryIndex = 0
    private var entryOffset: UInt64 = 0
    private var entryName: String?
    private var pendingPath: [UInt8]?
    private var pendingSize: UInt64?
    /// Whether pax or long-name headers were read and their member header is still to come.
    private var entryOpen = false
    private var metadata: [UInt8] = []
    private var members = 0
    /// Folded name -> kind of every member and implicit directory (`TarNameCheck.foldedNames` only).
    private var kinds: [String: Kind] = [:]
    /// Directories created (`TarNameCheck.foldedNames` only: they are synced at the end).
    private var createdDirectories: [String] = []
    /// The components of the deepest directory known to exist (`TarNameCheck.fileSystem`): the parents of the next
    /// member usually share it, so they need no `mkdir`.
    private var directoryChain: [String] = []
    private var createdDestination = false
    private var output: FileDescriptor?
    private var summary = TarExtractionSummary()
    private var failed = false
    /// Set once what was extracted has been removed by `abort` or kept by `finish`: never removed after that.
    private var settled = false

    /// Prepares extraction into `destination`, creating it (mode 0700 until `finish`); an existing directory must
    /// be empty.
    public init(destination: String, limits: TarLimits = TarLimits(), durable: Bool = true) throws {
        self.destination = destination
        self.limits = limits
        self.durable = durable
        if mkdir(destination, 0o700) == 0 {
            createdDestination = true
        } else if errno == EEXIST {
            let info = try FileSystem.status(destination, followLinks: false)
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw TarArchiveError.destinationNotDirectory(destination)
            }
            guard try FileSystem.directoryEntries(destination).isEmpty else {
                throw TarArchiveError.destinationNotEmpty(destination)
            }
        } else {
            throw SystemError(operation: "create directory", path: destination, code: errno)
        }
    }

    deinit {
        if case .finished = state { return }
        abort()
    }

    /// Removes everything extracted so far (and the destination if the extractor created it).
    public func abort() {
        output?.close()
        output = nil
        if !settled {
            TarExtractor.removeContents(of: destination)
            if createdDestination {
                rmdir(destination)
                createdDestination = false
            }
            settled = true
        }
        state = .finished
    }

    /// Removes everything inside `directory` (never following a link) as a stream: files as the walk meets them,
    /// directories deepest first at the end, so memory holds one listing per level and the directories' paths,
    /// not every file of a collection.
    static func removeContents(of directory: String) {
        let walker = CollectionWalker(roots: [directory], options: WalkOptions(followRootLinks: false))
        var directories: [String] = []
        while let entry = walker.next() {
            guard entry.depth > 0 else { continue }
            if entry.kind == .directory && entry.error == nil {
                directories.append(entry.pathString)
            } else {
                RawName.withCString(entry.pathString) { _ = unlink($0) }
            }
        }
        for path in directories.reversed() { RawName.withCString(path) { _ = rmdir($0) } }
    }

    private func fail(_ reason: String) -> TarError {
        TarError(entry: max(entryIndex, 1), name: entryName, byteOffset: entryOffset, reason: reason)
    }

    /// Consumes the next bytes of the archive. On error, what was extracted is removed and the error rethrown.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !failed else { throw TarArchiveError.extractionAlreadyFailed }
        do {
            try consume(bytes)
        } catch {
            failed = true
            abort()
            throw error
        }
    }

    /// Consumes the next bytes of the archive.
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    private func consume(_ input: UnsafeRawBufferPointer) throws {
        var rest = input
        while !rest.isEmpty {
            switch state {
            case .header, .endMarker:
                let take = min(TarFormat.blockSize - block.count, rest.count)
                block.append(contentsOf: rest[0..<take])
                rest = UnsafeRawBufferPointer(rebasing: rest[take...])
                offset += UInt64(take)
                if block.count == TarFormat.blockSize {
                    let full = block
                    block = []
                    try full.withUnsafeBytes { try headerBlock($0) }
                }
            case .fileData(let remaining):
                let take = Int(min(UInt64(rest.count), remaining))
                if let output { try output.writeAll(UnsafeRawBufferPointer(rebasing: rest[0..<take])) }
                rest = UnsafeRawBufferPointer(rebasing: rest[take...])
                offset += UInt64(take)
                summary.bytes += UInt64(take)
                if remaining == UInt64(take) {
                    try closeFile()
                    state = paddingState(afterOffset: offset)
                } else {
                    state = .fileData(remaining: remaining - UInt64(take))
                }
            case .extendedHeader(let remaining, let global):
                let take = Int(min(UInt64(rest.count), remaining))
                metadata.append(contentsOf: rest[0..<take])
                rest = UnsafeRawBufferPointer(rebasing: rest[take...])
                offset += UInt64(take)
                if remaining == UInt64(take) {
                    try finishExtendedHeader(global: global)
                    state = paddingState(afterOffset: offset)
                } else {
                    state = .extendedHeader(remaining: remaining - UInt64(take), global: global)
                }
            case .longName(let remaining):
                let take = Int(min(UInt64(rest.count), remaining))
                metadata.append(contentsOf: rest[0..<take])
                rest = UnsafeRawBufferPointer(rebasing: rest[take...])
                offset += UInt64(take)
                if remaining == UInt64(take) {
                    try finishLongName()
                    state = paddingState(afterOffset: offset)
                } else {
                    state = .longName(remaining: remaining - UInt64(take))
                }
            case .padding(let remaining):
                let take = min(rest.count, remaining)
                rest = UnsafeRawBufferPointer(rebasing: rest[take...])
                offset += UInt64(take)
                state = remaining == take ? .header : .padding(remaining: remaining - take)
            case .finished:
                // Trailing blocks after the end marker must be zero (GNU tar pads to a 10 KiB record).
                if let bad = rest.firstIndex(where: { $0 != 0 }) {
                    entryName = nil
                    throw TarError(entry: entryIndex + 1, name: nil, byteOffset: offset + UInt64(bad),
                                   reason: "data after the end-of-archive marker")
                }
                offset += UInt64(rest.count)
                rest = UnsafeRawBufferPointer(rebasing: rest[rest.count...])
            }
        }
    }

    private func paddingState(afterOffset position: UInt64) -> State {
        let remainder = Int(position % UInt64(TarFormat.blockSize))
        return remainder == 0 ? .header : .padding(remaining: TarFormat.blockSize - remainder)
    }

    private func headerBlock(_ header: UnsafeRawBufferPointer) throws {
        let blockStart = offset - UInt64(TarFormat.blockSize)
        if header.allSatisfy({ $0 == 0 }) {
            if case .endMarker = state {
                summary.archiveSize = offset
                state = .finished
                return
            }
            if entryOpen { throw fail("extended header not followed by a member") }
            entryOffset = blockStart
            state = .endMarker
            return
        }
        if case .endMarker = state {
            entryOffset = blockStart
            throw fail("a single zero block followed by more members (corrupt archive)")
        }
        if !entryOpen {
            entryIndex += 1
            entryOffset = blockStart
            entryName = nil
        }
        let sums = TarFormat.checksums(header)
        guard let recorded = TarFormat.parseNumber(header, TarFormat.Field.checksum),
              recorded == UInt64(sums.unsigned) || Int(recorded) == sums.signed else {
            throw fail("header checksum mismatch at byte \(blockStart) (corrupt or not a tar archive)")
        }
        let magic = Array(UnsafeRawBufferPointer(rebasing: header[257..<265]))
        let posix = magic == Array("ustar".utf8) + [0, 0x30, 0x30]
        let gnu = magic == Array("ustar  ".utf8) + [0]
        guard posix || gnu else { throw fail("not a ustar, pax or GNU tar header") }
        guard let headerSize = TarFormat.parseNumber(header, TarFormat.Field.size) else {
            throw fail("malformed size field")
        }
        let typeflag = header[TarFormat.Field.typeflag]
        switch typeflag {
        case UInt8(ascii: "x"), UInt8(ascii: "g"):
            guard headerSize <= UInt64(limits.maximumExtendedHeaderSize) else {
                throw fail("pax extended header of \(headerSize) bytes exceeds \(limits.maximumExtendedHeaderSize)")
            }
            metadata = []
            entryOpen = true
            state = headerSize == 0 ? .header : .extendedHeader(remaining: headerSize, global: typeflag == 0x67)
            return
        case UInt8(ascii: "L"):
            guard headerSize <= UInt64(limits.maximumNameLength + 1) else {
                throw fail("GNU long name of \(headerSize) bytes exceeds \(limits.maximumNameLength)")
            }
            metadata = []
            entryOpen = true
            state = headerSize == 0 ? .header : .longName(remaining: headerSize)
            return
        default:
            break
        }
        // A member header: the name from pax, GNU long name, or the ustar prefix and name fields.
        var rawName: [UInt8]
        if let pendingPath {
            rawName = pendingPath
        } else {
            rawName = TarFormat.string(header, TarFormat.Field.name)
            let prefix = posix ? TarFormat.string(header, TarFormat.Field.prefix) : []
            if !prefix.isEmpty { rawName = prefix + [UInt8(ascii: "/")] + rawName }
        }
        let size = pendingSize ?? headerSize
        pendingPath = nil
        pendingSize = nil
        metadata = []
        entryOpen = false
        entryName = String(decoding: rawName, as: UTF8.self)
        switch typeflag {
        case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):
            try beginFile(rawName, size: size)
        case UInt8(ascii: "5"):
            if size != 0 { throw fail("directory with a non-zero size") }
            try makeDirectory(rawName)
            state = .header
        case UInt8(ascii: "1"): throw fail("hard link refused")
        case UInt8(ascii: "2"): throw fail("symbolic link refused")
        case UInt8(ascii: "K"): throw fail("GNU long link name refused (links are not extracted)")
        case UInt8(ascii: "3"), UInt8(ascii: "4"): throw fail("device file refused")
        case UInt8(ascii: "6"): throw fail("FIFO refused")
        case UInt8(ascii: "S"): throw fail("GNU sparse file refused")
        default:
            throw fail("unsupported member type '\(TarError.printable(String(UnicodeScalar(typeflag))))' refused")
        }
    }

    private func finishLongName() throws {
        var name = metadata
        while name.last == 0 { name.removeLast() }
        if name.contains(0) { throw fail("GNU long name holds a NUL byte") }
        pendingPath = name
        metadata = []
    }

    private func finishExtendedHeader(global: Bool) throws {
        let records = try parsePax(metadata)
        metadata = []
        for (key, value) in records {
            if key.hasPrefix("GNU.sparse") { throw fail("GNU sparse file refused") }
            if global {
                if key == "path" || key == "size" || key == "linkpath" {
                    throw fail("global pax header setting '\(key)' refused")
                }
                continue
            }
            switch key {
            case "path":
                if value.contains(0) { throw fail("pax path holds a NUL byte") }
                pendingPath = value
            case "size":
                guard let text = String(validating: value, as: UTF8.self), let size = UInt64(text),
                      text.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                    throw fail("malformed pax size record")
                }
                pendingSize = size
            default:
                continue
            }
        }
    }

    /// Parses pax records `LENGTH key=value\n`.
    private func parsePax(_ bytes: [UInt8]) throws -> [(String, [UInt8])] {
        var records: [(String, [UInt8])] = []
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0 && bytes[index...].allSatisfy({ $0 == 0 }) { break }
            guard let space = bytes[index...].firstIndex(of: UInt8(ascii: " ")), space > index, space - index <= 10,
                  let length = Int(String(decoding: bytes[index..<space], as: UTF8.self)),
                  length > space - index + 1, index + length <= bytes.count,
                  bytes[index + length - 1] == 0x0A else {
                throw fail("malformed pax extended header record at offset \(index)")
            }
            let record = bytes[(space + 1)..<(index + length - 1)]
            guard let equals = record.firstIndex(of: UInt8(ascii: "=")) else {
                throw fail("pax record without '=' at offset \(index)")
            }
            records.append((String(decoding: record[..<equals], as: UTF8.self), Array(record[(equals + 1)...])))
            index += length
        }
        return records
    }

    /// Validates and normalizes a member name into path components.
    private func components(_ raw: [UInt8]) throws -> [String] {
        guard raw.count <= limits.maximumNameLength else {
            throw fail("name longer than \(limits.maximumNameLength) bytes")
        }
        guard let name = String(validating: raw, as: UTF8.self) else { throw fail("name is not valid UTF-8") }
        if raw.first == UInt8(ascii: "/") { throw fail("absolute path refused") }
        if raw.contains(where: { $0 < 0x20 || $0 == 0x7F }) { throw fail("control character in name refused") }
        if raw.contains(UInt8(ascii: "\\")) { throw fail("backslash in name refused") }
        var parts: [String] = []
        for component in name.split(separator: "/", omittingEmptySubsequences: true) {
            if component == "." { continue }
            if component == ".." { throw fail("'..' component refused (path escaping the destination)") }
            parts.append(String(component))
        }
        return parts
    }

    /// The key two names collide under: case and Unicode normalization ignored.
    private static func collisionKey(_ parts: ArraySlice<String>) -> String {
        parts.map { $0.lowercased() }.joined(separator: "/")
    }

    /// Creates missing parent directories of `parts` (implicit members) and checks none is a file.
    private func ensureParents(_ parts: [String]) throws {
        if limits.nameCheck == .fileSystem {
            try ensureParentsOnDisk(parts)
            return
        }
        for depth in 1..<max(parts.count, 1) where depth < parts.count {
            let key = TarExtractor.collisionKey(parts[0..<depth])
            switch kinds[key] {
            case .file:
                throw fail("'\(parts[0..<depth].joined(separator: "/"))' is a file, not a directory")
            case .directory:
                continue
            case nil:
                try createDirectory(parts[0..<depth])
                kinds[key] = .directory
            }
        }
    }

    /// `ensureParents` without remembered names: the parents shared with the last directory known to exist are
    /// skipped (compared byte for byte), the others made with `mkdir`, an existing one checked to be a directory.
    private func ensureParentsOnDisk(_ parts: [String]) throws {
        let parents = parts.dropLast()
        var common = 0
        while common < min(parents.count, directoryChain.count)
                && parents[common].utf8.elementsEqual(directoryChain[common].utf8) {
            common += 1
        }
        for depth in common..<parents.count {
            let target = path(parts[0...depth])
            if mkdir(target, 0o755) != 0 {
                let code = errno
                var info = stat()
                guard code == EEXIST, lstat(target, &info) == 0 else {
                    throw fail("cannot create directory: \(systemErrorDescription(code))")
                }
                guard info.st_mode & S_IFMT == S_IFDIR else {
                    throw fail("'\(parts[0...depth].joined(separator: "/"))' is a file, not a directory")
                }
            }
        }
        directoryChain = Array(parents)
    }

    private func path(_ parts: ArraySlice<String>) -> String {
        destination + "/" + parts.joined(separator: "/")
    }

    private func createDirectory(_ parts: ArraySlice<String>) throws {
        let target = path(parts)
        guard mkdir(target, 0o755) == 0 else {
            if errno == EEXIST && limits.nameCheck == .fileSystem {
                throw fail("name collides with an earlier member (the same name, or one this file system does not "
                    + "tell apart from it)")
            }
            throw fail("cannot create directory: \(systemErrorDescription(errno))")
        }
        if limits.nameCheck == .foldedNames { createdDirectories.append(target) }
    }

    private func countMember() throws {
        members += 1
        if members > limits.maximumEntries { throw fail("more than \(limits.maximumEntries) members") }
    }

    private func makeDirectory(_ raw: [UInt8]) throws {
        let parts = try components(raw)
        if parts.isEmpty { return }  // "./": the destination itself
        try countMember()
        if limits.nameCheck == .fileSystem {
            try ensureParentsOnDisk(parts)
            try createDirectory(parts[...])
            directoryChain = parts
            summary.directories += 1
            return
        }
        let key = TarExtractor.collisionKey(parts[...])
        if kinds[key] != nil { throw fail("name collides with an earlier member (case or normalization)") }
        try ensureParents(parts)
        try createDirectory(parts[...])
        kinds[key] = .directory
        summary.directories += 1
    }

    private func beginFile(_ raw: [UInt8], size: UInt64) throws {
        let parts = try components(raw)
        if parts.isEmpty { throw fail("regular file with an empty name") }
        try countMember()
        guard size <= limits.maximumFileSize else {
            throw fail("file of \(size) bytes exceeds the limit of \(limits.maximumFileSize)")
        }
        guard summary.bytes + size <= limits.maximumTotalSize else {
            throw fail("archive content exceeds the limit of \(limits.maximumTotalSize) bytes")
        }
        let folded = limits.nameCheck == .foldedNames
        let key = folded ? TarExtractor.collisionKey(parts[...]) : ""
        if folded && kinds[key] != nil { throw fail("name collides with an earlier member (case or normalization)") }
        try ensureParents(parts)
        let target = path(parts[...])
        let descriptor: FileDescriptor
        do {
            descriptor = try FileDescriptor.open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o644)
        } catch let error as SystemError {
            if error.code == EEXIST && !folded {
                throw fail("name collides with an earlier member (the same name, or one this file system does not "
                    + "tell apart from it)")
            }
            throw fail("cannot create file: \(systemErrorDescription(error.code))")
        }
        if folded { kinds[key] = .file }
        output = descriptor
        summary.files += 1
        if size == 0 {
            try closeFile()
            state = .header
        } else {
            state = .fileData(remaining: size)
        }
    }

    private func closeFile() throws {
        guard let descriptor = output else { return }
        output = nil
        defer { descriptor.close() }
        if durable && limits.nameCheck == .foldedNames { try descriptor.sync() }
    }

    /// Checks the archive ended properly, makes the tree durable and returns what was extracted.
    @discardableResult
    public func finish() throws -> TarExtractionSummary {
        guard !failed else { throw TarArchiveError.extractionAlreadyFailed }
        do {
            guard case .finished = state else {
                entryOffset = offset
                throw fail("archive ends without its end-of-archive marker (truncated)")
            }
            if durable {
                if limits.nameCheck == .fileSystem {
                    try FileSystem.syncFileSystem(of: destination)
                } else {
                    for directory in createdDirectories.reversed() { try FileSystem.syncDirectory(directory) }
                }
                try FileSystem.syncDirectory(destination)
            }
            if createdDestination {
                chmod(destination, 0o755)
                if durable { try FileSystem.syncDirectory(FileSystem.parentDirectory(of: destination)) }
            }
            settled = true
            createdDestination = false
            return summary
        } catch {
            failed = true
            abort()
            throw error
        }
    }

    /// Extracts a whole tar stream from `reader` into `destination`.
    @discardableResult
    public static func extract(from reader: ChunkReader, into destination: String,
                               limits: TarLimits = TarLimits(), durable: Bool = true) throws -> TarExtractionSummary {
        let extractor = try TarExtractor(destination: destination, limits: limits, durable: durable)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var position: UInt64 = 0
        while true {
            let count = try buffer.withUnsafeMutableBytes { try reader.read(into: $0, at: position) }
            if count == 0 { break }
            try buffer.withUnsafeBytes { try extractor.write(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            position += UInt64(count)
        }
        return try extractor.finish()
    }
}
