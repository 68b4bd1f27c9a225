import CustodyBase
#if canImport(Glibc)
import Glibc
#endif
internal import CCustodySystem

/// A streaming depth-first walk of one or more roots, yielding one `WalkEntry` per root and per thing found below
/// (regular files, directories, empty or not, symbolic links, FIFOs, sockets, devices).
///
/// Invariants:
/// - Memory: the names of one directory per level of the current path (packed in one byte array per level), the
///   (device, inode) of the directories on the current path, and (device, inode) → first path for regular files
///   with more than one link. Never the whole tree.
/// - Nothing below a root is followed: every status is `statx`/`fstatat` with `AT_SYMLINK_NOFOLLOW` relative to the
///   parent directory's descriptor, every open is `openat` with `O_NOFOLLOW` (so depth and path length are not
///   bounded by `PATH_MAX`). FIFOs, sockets and devices are recorded, never opened.
/// - A directory already on the current path (a bind-mount loop) is recorded with an error, not entered again.
/// - At most `maximumOpenDirectories` directory descriptors are open; shallower levels are closed and reopened
///   through `..` of their child, checked to be the same (device, inode), on the way back up.
/// - An entry that cannot be examined (permission denied, vanished between listing and status, a directory that
///   cannot be listed) is yielded with `error` set; the walk goes on. Nothing here throws or traps.
///
/// Used on one thread at a time (an iterator); entries are values that may cross threads.
public final class CollectionWalker: Sequence, IteratorProtocol {
    /// (device, inode) of a file.
    private struct FileIdentity: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    /// The names of one listed directory, packed: each name's bytes in `bytes`, located by `spans`.
    private struct Listing {
        struct Span {
            var offset: Int
            var count: Int
            var type: UInt8
            var inode: UInt64
        }
        var bytes: [UInt8] = []
        var spans: [Span] = []

        func name(_ index: Int) -> ArraySlice<UInt8> {
            let span = spans[index]
            return bytes[span.offset..<(span.offset + span.count)]
        }
    }

    /// One directory on the current path whose entries are being yielded.
    private struct Level {
        var descriptor: Int32
        var identity: FileIdentity
        var pathPrefix: [UInt8]
        var relativePrefix: [UInt8]
        var depth: Int
        var listing: Listing
        var next = 0
        /// Why the rest of this directory cannot be examined (it could not be reopened), or nil.
        var lostReason: (message: String, code: Int32)?
    }

    private let roots: [String]
    private let options: WalkOptions
    private var nextRoot = 0
    private var stack: [Level] = []
    private var directoriesOnPath: [FileIdentity: [UInt8]] = [:]
    private var firstLinks: [FileIdentity: [UInt8]] = [:]

    /// A walk of `roots` (paths as given, walked in that order) with `options`.
    public init(roots: [String], options: WalkOptions = WalkOptions()) {
        self.roots = roots
        self.options = options
    }

    deinit {
        for level in stack where level.descriptor >= 0 { close(level.descriptor) }
    }

    /// The next entry, or nil when every root has been walked.
    public func next() -> WalkEntry? {
        while true {
            if !stack.isEmpty {
                let top = stack.count - 1
                if stack[top].next < stack[top].listing.spans.count {
                    let index = stack[top].next
                    stack[top].next += 1
                    return visitChild(index, of: top)
                }
                leaveDirectory()
                continue
            }
            guard nextRoot < roots.count else { return nil }
            nextRoot += 1
            return visitRoot(nextRoot - 1)
        }
    }

    // MARK: - Roots and children

    private func visitRoot(_ index: Int) -> WalkEntry {
        let root = roots[index]
        let path = RawName.encode(root)
        var entry = WalkEntry(rootIndex: index, path: path, relativePath: Self.lastComponent(of: path), depth: 0,
                              kind: .unknown)
        var status = custody_file_status()
        let code = RawName.withCString(root) {
            custody_status_at(AT_FDCWD, $0, options.followRootLinks ? 1 : 0, &status)
        }
        guard code == 0 else {
            record("stat", code, in: &entry)
            return entry
        }
        describe(&entry, status: status, directory: AT_FDCWD, name: path)
        if entry.kind == .directory {
            let flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (options.followRootLinks ? 0 : O_NOFOLLOW)
            let descriptor = RawName.withCString(root) { open($0, flags) }
            enter(&entry, descriptor: descriptor, openErrno: errno, depth: 0)
        } else if entry.kind == .regular && options.opensRegularFiles {
            let flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (options.followRootLinks ? 0 : O_NOFOLLOW)
            let descriptor = RawName.withCString(root) { open($0, flags) }
            adoptOpenFile(&entry, descriptor: descriptor, openErrno: errno, root: root)
        }
        return entry
    }

    private func visitChild(_ index: Int, of levelIndex: Int) -> WalkEntry {
        let level = stack[levelIndex]
        let span = level.listing.spans[index]
        let name = level.listing.name(index)
        var entry = WalkEntry(rootIndex: nextRoot - 1, path: level.pathPrefix + name,
                              relativePath: level.relativePrefix + name, depth: level.depth + 1,
                              kind: Self.kind(ofDirectoryType: span.type))
        if let lost = level.lostReason {
            entry.error = lost.message
            entry.errorCode = lost.code
            return entry
        }
        let cName = Array(name) + [0]
        // A regular file to hand over is opened first and its descriptor examined: two calls instead of three.
        if options.opensRegularFiles && span.type == UInt8(DT_REG) {
            let descriptor = Self.openAt(cName, in: level.descriptor, Self.fileFlags)
            if descriptor >= 0 {
                var status = custody_file_status()
                if custody_status_at(descriptor, "", 0, &status) == 0,
                   status.mode & UInt32(S_IFMT) == UInt32(S_IFREG) {
                    describe(&entry, status: status, directory: level.descriptor, name: Array(name), file: descriptor)
                    entry.openFile = FileDescriptor(rawValue: descriptor, path: entry.pathString)
                    return entry
                }
                close(descriptor)
            } else if errno != ELOOP && errno != ENOENT && errno != ENXIO {
                let openErrno = errno
                var status = custody_file_status()
                if Self.status(of: cName, in: level.descriptor, into: &status) == 0 {
                    describe(&entry, status: status, directory: level.descriptor, name: Array(name))
                }
                record("open", openErrno, in: &entry)
                return entry
            }
            // Replaced by a link or something else since the listing, or gone: examined below as it is now.
        }
        var status = custody_file_status()
        let code = Self.status(of: cName, in: level.descriptor, into: &status)
        guard code == 0 else {
            record("stat", code, in: &entry)
            return entry
        }
        describe(&entry, status: status, directory: level.descriptor, name: Array(name))
        if entry.kind == .directory {
            let descriptor = Self.openAt(cName, in: level.descriptor, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            enter(&entry, descriptor: descriptor, openErrno: errno, depth: level.depth + 1)
        } else if entry.kind == .regular && options.opensRegularFiles {
            let descriptor = Self.openAt(cName, in: level.descriptor, Self.fileFlags)
            adoptOpenFile(&entry, descriptor: descriptor, openErrno: errno, root: nil)
        }
        return entry
    }

    /// Hands `descriptor` over in `entry` when it is still the regular file `entry` describes; records why not.
    private func adoptOpenFile(_ entry: inout WalkEntry, descriptor: Int32, openErrno: Int32, root: String?) {
        guard descriptor >= 0 else {
            record("open", openErrno, in: &entry)
            return
        }
        var status = custody_file_status()
        guard custody_status_at(descriptor, "", 0, &status) == 0, status.mode & UInt32(S_IFMT) == UInt32(S_IFREG),
              status.device == entry.metadata?.device, status.inode == entry.metadata?.inode else {
            close(descriptor)
            entry.error = "open: replaced by another file during the walk"
            return
        }
        entry.openFile = FileDescriptor(rawValue: descriptor, path: root ?? entry.pathString)
    }

    // MARK: - Directories

    /// Enters the directory `entry` (opened as `descriptor`, or not, with `openErrno`): checks it is the one the
    /// status described and not already on the path, lists it and pushes its level. Failures go into `entry`.
    private func enter(_ entry: inout WalkEntry, descriptor: Int32, openErrno: Int32, depth: Int) {
        guard let metadata = entry.metadata else { return }
        let identity = FileIdentity(device: metadata.device, inode: metadata.inode)
        if let first = directoriesOnPath[identity] {
            if descriptor >= 0 { close(descriptor) }
            entry.error = "directory loop: the same directory as \(Printable.escapingControls(RawName.decode(first))) "
                + "above it on the path (a bind mount?); not entered again"
            return
        }
        guard descriptor >= 0 else {
            record("open directory", openErrno, in: &entry)
            return
        }
        var opened = custody_file_status()
        guard custody_status_at(descriptor, "", 0, &opened) == 0,
              opened.device == identity.device, opened.inode == identity.inode else {
            close(descriptor)
            entry.error = "open directory: replaced by another directory during the walk"
            return
        }
        let listing: Listing
        do {
            listing = try list(descriptor)
        } catch let failure as SystemError {
            close(descriptor)
            record("read directory", failure.code, in: &entry)
            return
        } catch {
            close(descriptor)
            entry.error = "read directory: \(error)"
            return
        }
        let separator: [UInt8] = entry.path.last == UInt8(ascii: "/") ? [] : [UInt8(ascii: "/")]
        let relativeSeparator: [UInt8] = entry.relativePath.last == UInt8(ascii: "/") ? [] : [UInt8(ascii: "/")]
        directoriesOnPath[identity] = entry.relativePath
        stack.append(Level(descriptor: descriptor, identity: identity, pathPrefix: entry.path + separator,
                           relativePrefix: entry.relativePath + relativeSeparator, depth: depth, listing: listing))
        boundOpenDirectories()
    }

    /// Closes the shallowest open directory descriptors while more than the limit are open (never the deepest).
    private func boundOpenDirectories() {
        var open = stack.reduce(0) { $0 + ($1.descriptor >= 0 ? 1 : 0) }
        var index = 0
        while open > options.maximumOpenDirectories && index < stack.count - 1 {
            if stack[index].descriptor >= 0 {
                close(stack[index].descriptor)
                stack[index].descriptor = -1
                open -= 1
            }
            index += 1
        }
    }

    /// Pops the finished directory; reopens its parent through `..` when the parent's descriptor was closed.
    private func leaveDirectory() {
        let finished = stack.removeLast()
        directoriesOnPath[finished.identity] = nil
        defer { if finished.descriptor >= 0 { close(finished.descriptor) } }
        guard let parentIndex = stack.indices.last, stack[parentIndex].descriptor < 0 else { return }
        let parent = stack[parentIndex]
        guard finished.descriptor >= 0 else {
            stack[parentIndex].lostReason = ("open directory: could not be reopened", EBADF)
            return
        }
        let descriptor = openat(finished.descriptor, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            stack[parentIndex].lostReason = ("open directory: reopening the parent failed: "
                                                + systemErrorDescription(code), code)
            return
        }
        var status = custody_file_status()
        guard custody_status_at(descriptor, "", 0, &status) == 0, status.device == parent.identity.device,
              status.inode == parent.identity.inode else {
            close(descriptor)
            stack[parentIndex].lostReason = ("open directory: the directory was moved during the walk; "
                                                + "its remaining entries were not examined", ESTALE)
            return
        }
        stack[parentIndex].descriptor = descriptor
    }

    /// The entries of the open directory `descriptor` (without `.` and `..`), in the walk's order.
    private func list(_ descriptor: Int32) throws -> Listing {
        let copy = dup(descriptor)
        guard copy >= 0 else { throw SystemError(operation: "read directory", code: errno) }
        guard let stream = fdopendir(copy) else {
            let code = errno
            close(copy)
            throw SystemError(operation: "read directory", code: code)
        }
        defer { closedir(stream) }
        var listing = Listing()
        while true {
            errno = 0
            guard let record = readdir(stream) else {
                if errno != 0 { throw SystemError(operation: "read directory", code: errno) }
                break
            }
            let start = listing.bytes.count
            withUnsafeBytes(of: record.pointee.d_name) { raw in
                for byte in raw {
                    if byte == 0 { break }
                    listing.bytes.append(byte)
                }
            }
            let count = listing.bytes.count - start
            let isDot = count == 1 && listing.bytes[start] == 46
            let isDotDot = count == 2 && listing.bytes[start] == 46 && listing.bytes[start + 1] == 46
            if isDot || isDotDot {
                listing.bytes.removeLast(count)
                continue
            }
            listing.spans.append(Listing.Span(offset: start, count: count, type: record.pointee.d_type,
                                              inode: UInt64(record.pointee.d_ino)))
        }
        order(&listing, in: descriptor)
        return listing
    }

    /// Sorts `listing` as the options ask.
    private func order(_ listing: inout Listing, in descriptor: Int32) {
        let bytes = listing.bytes
        func byName(_ left: Listing.Span, _ right: Listing.Span) -> Bool {
            bytes[left.offset..<(left.offset + left.count)]
                .lexicographicallyPrecedes(bytes[right.offset..<(right.offset + right.count)])
        }
        switch options.order {
        case .name:
            listing.spans.sort(by: byName)
        case .inode:
            listing.spans.sort { $0.inode != $1.inode ? $0.inode < $1.inode : byName($0, $1) }
        case .physical:
            // Group 0: everything but regular files, by name; 1: placed files by offset; 2: unplaced, by inode.
            var keys: [(group: Int, key: UInt64)] = []
            keys.reserveCapacity(listing.spans.count)
            for span in listing.spans {
                guard span.type == UInt8(DT_REG) else {
                    keys.append((0, 0))
                    continue
                }
                let name = Array(bytes[span.offset..<(span.offset + span.count)]) + [0]
                let file = Self.openAt(name, in: descriptor, Self.fileFlags)
                var physical: UInt64 = 0
                if file >= 0 && custody_first_physical_extent(file, &physical) == 0 {
                    keys.append((1, physical))
                } else {
                    keys.append((2, span.inode))
                }
                if file >= 0 { close(file) }
            }
            let sorted = zip(listing.spans, keys).sorted { left, right in
                if left.1.group != right.1.group { return left.1.group < right.1.group }
                if left.1.group != 0 && left.1.key != right.1.key { return left.1.key < right.1.key }
                return byName(left.0, right.0)
            }
            listing.spans = sorted.map(\.0)
        }
    }

    // MARK: - What an entry is

    /// Fills `entry` from `status`: kind, metadata, link target, hard link, extended attributes. `name` is the
    /// entry's name in `directory` (the whole path for a root, with `AT_FDCWD`); `file` an open descriptor of it.
    private func describe(_ entry: inout WalkEntry, status: custody_file_status, directory: Int32, name: [UInt8],
                          file: Int32 = -1) {
        let metadata = WalkMetadata(
            size: status.size, mode: status.mode, uid: status.uid, gid: status.gid, inode: status.inode,
            device: status.device, linkCount: status.link_count, allocatedBytes: status.allocated_bytes,
            modified: WalkTime(seconds: status.modified_seconds, nanoseconds: status.modified_nanoseconds),
            accessed: WalkTime(seconds: status.accessed_seconds, nanoseconds: status.accessed_nanoseconds),
            changed: WalkTime(seconds: status.changed_seconds, nanoseconds: status.changed_nanoseconds),
            born: status.has_birth_time != 0
                ? WalkTime(seconds: status.birth_seconds, nanoseconds: status.birth_nanoseconds) : nil)
        entry.metadata = metadata
        entry.kind = Self.kind(ofMode: status.mode)
        let cName = name + [0]
        if entry.kind == .symlink {
            switch Self.readLink(cName, in: directory, size: Int(Swift.min(status.size, 1 << 20))) {
            case .success(let target): entry.symlinkTarget = target
            case .failure(let failure): record("read link", failure.code, in: &entry)
            }
        }
        if entry.kind == .regular && status.link_count > 1 {
            let identity = FileIdentity(device: status.device, inode: status.inode)
            if let first = firstLinks[identity] {
                entry.hardLinkTarget = first
            } else {
                firstLinks[identity] = entry.relativePath
            }
        }
        if options.readsExtendedAttributes {
            readAttributes(&entry, directory: directory, name: name, file: file)
        }
    }

    /// Reads the extended attributes into `entry`, or records why not.
    private func readAttributes(_ entry: inout WalkEntry, directory: Int32, name: [UInt8], file: Int32) {
        // Without an open file, the entry is named through its directory's descriptor in /proc, so that neither
        // links are followed (the l- calls) nor the path length limited.
        let path: [UInt8] = directory == AT_FDCWD ? name : Array("/proc/self/fd/\(directory)/".utf8) + name
        let attributes = (path + [0]).withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { cPath in
                ExtendedAttributeReader.read(limit: options.extendedAttributeLimit, list: { list, size in
                    custody_xattr_list(file, cPath.baseAddress!, list, size)
                }, get: { attribute, value, size in
                    custody_xattr_get(file, cPath.baseAddress!, attribute, value, size)
                })
            }
        }
        switch attributes {
        case .success(let list): entry.extendedAttributes = list
        case .failure(let failure):
            if failure.code == E2BIG {
                entry.error = entry.error ?? "extended attributes: more than "
                    + "\(ByteSize.describe(UInt64(options.extendedAttributeLimit))), not recorded"
                entry.errorCode = entry.errorCode ?? E2BIG
            } else {
                record("read extended attributes", failure.code, in: &entry)
            }
        }
    }

    /// Records the first failure of an entry.
    private func record(_ operation: String, _ code: Int32, in entry: inout WalkEntry) {
        guard entry.error == nil else { return }
        entry.error = "\(operation): \(systemErrorDescription(code))"
        entry.errorCode = code
    }

    // MARK: - Helpers

    /// How a regular file is opened: read-only, never through a link, never blocking (should it have become a FIFO).
    static let fileFlags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC

    /// `openat` of the NUL-terminated name `cName` in `directory`: the descriptor, or -1 with `errno` set.
    private static func openAt(_ cName: [UInt8], in directory: Int32, _ flags: Int32) -> Int32 {
        cName.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { openat(directory, $0.baseAddress!, flags) }
        }
    }

    private static func status(of cName: [UInt8], in directory: Int32, into status: inout custody_file_status)
        -> Int32 {
        cName.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { custody_status_at(directory, $0.baseAddress!, 0, &status) }
        }
    }

    private static func readLink(_ cName: [UInt8], in directory: Int32, size: Int) -> Result<[UInt8], SystemError> {
        var capacity = Swift.max(size + 1, 256)
        while capacity <= (1 << 20) + 1 {
            var buffer = [UInt8](repeating: 0, count: capacity)
            let count = cName.withUnsafeBufferPointer { name in
                name.withMemoryRebound(to: CChar.self) { cName in
                    buffer.withUnsafeMutableBytes {
                        readlinkat(directory, cName.baseAddress!, $0.baseAddress!.assumingMemoryBound(to: CChar.self),
                                   capacity)
                    }
                }
            }
            if count < 0 { return .failure(SystemError(operation: "read link", code: errno)) }
            if count < capacity { return .success(Array(buffer[0..<count])) }
            capacity *= 2
        }
        return .failure(SystemError(operation: "read link", code: ENAMETOOLONG))
    }

    private static func kind(ofMode mode: UInt32) -> WalkEntry.Kind {
        switch mode & UInt32(S_IFMT) {
        case UInt32(S_IFREG): return .regular
        case UInt32(S_IFDIR): return .directory
        case UInt32(S_IFLNK): return .symlink
        case UInt32(S_IFIFO): return .fifo
        case UInt32(S_IFSOCK): return .socket
        case UInt32(S_IFCHR): return .characterDevice
        case UInt32(S_IFBLK): return .blockDevice
        default: return .unknown
        }
    }

    private static func kind(ofDirectoryType type: UInt8) -> WalkEntry.Kind {
        switch Int(type) {
        case Int(DT_REG): return .regular
        case Int(DT_DIR): return .directory
        case Int(DT_LNK): return .symlink
        case Int(DT_FIFO): return .fifo
        case Int(DT_SOCK): return .socket
        case Int(DT_CHR): return .characterDevice
        case Int(DT_BLK): return .blockDevice
        default: return .unknown
        }
    }

    /// The last component of `path` without trailing slashes (`/` for the root directory itself).
    static func lastComponent(of path: [UInt8]) -> [UInt8] {
        let slash = UInt8(ascii: "/")
        var end = path.count
        while end > 1 && path[end - 1] == slash { end -= 1 }
        let trimmed = path[0..<end]
        if trimmed == [slash] { return [slash] }
        guard let last = trimmed.lastIndex(of: slash) else { return Array(trimmed) }
        return Array(trimmed[(last + 1)...])
    }
}

/// Reads a file's extended attributes through the two calls given (list names, get one value; each returns a
/// length or minus an errno value), bounded.
enum ExtendedAttributeReader {
    /// The attributes, or the failure: `E2BIG` when names and values together pass `limit`. A file system that
    /// keeps no attributes (`ENOTSUP`) gives an empty list.
    static func read(limit: Int, list: (UnsafeMutablePointer<CChar>?, Int) -> Int,
                     get: (UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int)
        -> Result<[ExtendedAttribute], SystemError> {
        let namesSize = list(nil, 0)
        if namesSize < 0 {
            let code = Int32(-namesSize)
            return code == ENOTSUP ? .success([]) : .failure(SystemError(operation: "list", code: code))
        }
        if namesSize == 0 { return .success([]) }
        if namesSize > limit { return .failure(SystemError(operation: "list", code: E2BIG)) }
        var names = [CChar](repeating: 0, count: namesSize)
        let listed = names.withUnsafeMutableBufferPointer { list($0.baseAddress, namesSize) }
        if listed < 0 {
            let code = Int32(-listed)
            return .failure(SystemError(operation: "list", code: code == ERANGE ? E2BIG : code))
        }
        var attributes: [ExtendedAttribute] = []
        var total = listed
        var start = 0
        while start < listed {
            var end = start
            while end < listed && names[end] != 0 { end += 1 }
            defer { start = end + 1 }
            let nameBytes = names[start..<end].map { UInt8(bitPattern: $0) }
            let valueSize = names.withUnsafeBufferPointer { get($0.baseAddress! + start, nil, 0) }
            if valueSize == -Int(ENODATA) { continue }  // removed since the listing
            if valueSize < 0 { return .failure(SystemError(operation: "get", code: Int32(-valueSize))) }
            total += valueSize
            if total > limit { return .failure(SystemError(operation: "get", code: E2BIG)) }
            var value = [UInt8](repeating: 0, count: valueSize)
            let got = names.withUnsafeBufferPointer { namePointer in
                value.withUnsafeMutableBytes { get(namePointer.baseAddress! + start, $0.baseAddress, valueSize) }
            }
            if got < 0 {
                let code = Int32(-got)
                return .failure(SystemError(operation: "get", code: code == ERANGE ? E2BIG : code))
            }
            attributes.append(ExtendedAttribute(name: nameBytes, value: Array(value[0..<got])))
        }
        attributes.sort { $0.name.lexicographicallyPrecedes($1.name) }
        return .success(attributes)
    }
}
