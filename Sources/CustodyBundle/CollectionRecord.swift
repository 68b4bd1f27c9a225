import CustodyBase
import CustodyCrypto
import CustodyEngine

/// One item of a collection bundle as `custody/items.jsonl` holds it (SPEC.md section 5.13): a canonical JSON
/// object on one line. The lines are the leaves of the items tree (RFC 6962 leaf hash of the line's bytes), whose
/// root the seal and the ledger commit to, so a record can be proved to be in a bundle without the others.
public struct CollectionRecord: Sendable, Equatable {
    /// What the walk met at the path.
    public enum Kind: String, Sendable, CaseIterable {
        /// A regular file: its content is stored in the payload (unless it could not be read).
        case file
        /// A directory (listed so empty directories and their metadata are kept).
        case directory
        /// A symbolic link: recorded with its target, never followed.
        case symlink
        /// A further name of a regular file met earlier (`linkTo`): its content is stored once.
        case hardlink
        /// A named pipe: recorded, never opened.
        case fifo
        /// A socket: recorded, never opened.
        case socket
        /// A character device node: recorded, never opened.
        case characterDevice = "char-device"
        /// A block device node met inside a directory: recorded, never opened.
        case blockDevice = "block-device"
    }

    /// File-system metadata as `statx` gives it; times as RFC 3339 UTC with nanoseconds.
    public struct Metadata: Sendable, Equatable {
        /// `st_mode` (type and permission bits).
        public var mode: UInt32
        /// Owner and group IDs.
        public var uid: UInt32, gid: UInt32
        /// Inode number and device ID (`major:minor`).
        public var inode: UInt64, device: String
        /// Hard link count.
        public var links: UInt64
        /// Bytes allocated on disk (blocks x 512): below `size` for a sparse file.
        public var allocated: UInt64
        /// Modification, access and status-change times.
        public var modified: String, accessed: String, changed: String
        /// Birth time, when the file system gives it.
        public var born: String?

        /// Metadata of the given values.
        public init(mode: UInt32, uid: UInt32, gid: UInt32, inode: UInt64, device: String, links: UInt64,
                    allocated: UInt64, modified: String, accessed: String, changed: String, born: String?) {
            self.mode = mode
            self.uid = uid
            self.gid = gid
            self.inode = inode
            self.device = device
            self.links = links
            self.allocated = allocated
            self.modified = modified
            self.accessed = accessed
            self.changed = changed
            self.born = born
        }
    }

    /// The stored content of a regular file.
    public struct Content: Sendable, Equatable {
        /// Content bytes.
        public var size: UInt64
        /// Bag-relative payload path (`data/...`).
        public var payload: String
        /// How the payload stores the content.
        public var encoding: PayloadEncoding
        /// Payload file bytes.
        public var storedSize: UInt64
        /// The tree digest's chunk size.
        public var chunkSize: Int
        /// Tree digest of the content (hex).
        public var tree: String
        /// Linear digests of the content (hex) by algorithm name; always `sha256`.
        public var digests: [String: String]
        /// Byte offset of the content's leaf hashes in `custody/leaves.bin`, for content of more than one chunk
        /// (one chunk's leaf is the tree digest itself).
        public var leavesOffset: UInt64?

        /// Content of the given values.
        public init(size: UInt64, payload: String, encoding: PayloadEncoding, storedSize: UInt64, chunkSize: Int,
                    tree: String, digests: [String: String], leavesOffset: UInt64?) {
            self.size = size
            self.payload = payload
            self.encoding = encoding
            self.storedSize = storedSize
            self.chunkSize = chunkSize
            self.tree = tree
            self.digests = digests
            self.leavesOffset = leavesOffset
        }

        /// How many chunks (and leaves) the content has.
        public var chunkCount: UInt64 { (size + UInt64(chunkSize) - 1) / UInt64(chunkSize) }
    }

    /// 1-based position in the bundle (walk order).
    public var number: Int
    /// The original path, exact bytes, relative to the sealed input's parent (`BASE/...`).
    public var path: [UInt8]
    /// What it is.
    public var kind: Kind
    /// Its metadata, when it could be read.
    public var metadata: Metadata?
    /// The stored content (regular files that were read).
    public var content: Content?
    /// A symbolic link's target, exact bytes.
    public var target: [UInt8]?
    /// For a hard link: the path of the first name met.
    public var linkTo: [UInt8]?
    /// Extended attributes, name and value.
    public var extendedAttributes: [String: [UInt8]]
    /// Why the item (or part of it) could not be acquired: unreadable, vanished, changed during the read.
    public var error: String?
    /// 16 random bytes (hex) that make the record's leaf hash unguessable, so a proof for one record reveals
    /// nothing about the records beside it (selective disclosure).
    public var salt: String

    /// A record of the given values.
    public init(number: Int, path: [UInt8], kind: Kind, metadata: Metadata?, content: Content? = nil,
                target: [UInt8]? = nil, linkTo: [UInt8]? = nil, extendedAttributes: [String: [UInt8]] = [:],
                error: String? = nil, salt: String) {
        self.number = number
        self.path = path
        self.kind = kind
        self.metadata = metadata
        self.content = content
        self.target = target
        self.linkTo = linkTo
        self.extendedAttributes = extendedAttributes
        self.error = error
        self.salt = salt
    }

    /// A fresh random salt.
    public static func newSalt() -> String { Hex.encode(SecureRandom.bytes(16)) }

    /// The path for people: the bytes as UTF-8 with invalid bytes and controls shown as `\xHH`.
    public var displayPath: String { Printable.escapingControls(RawName.decode(path)) }

    /// The record as its line holds it (without the `\n`).
    public var json: JSONValue {
        var members: [String: JSONValue] = ["n": .int(Int64(number)), "kind": .string(kind.rawValue),
                                            "salt": .string(salt)]
        CollectionRecord.putBytes(path, "path", into: &members)
        if let metadata {
            members["mode"] = .int(Int64(metadata.mode))
            members["uid"] = .int(Int64(metadata.uid))
            members["gid"] = .int(Int64(metadata.gid))
            members["inode"] = .int(Int64(bitPattern: metadata.inode))
            members["device"] = .string(metadata.device)
            members["links"] = .int(Int64(metadata.links))
            members["allocated"] = .int(Int64(metadata.allocated))
            members["mtime"] = .string(metadata.modified)
            members["atime"] = .string(metadata.accessed)
            members["ctime"] = .string(metadata.changed)
            if let born = metadata.born { members["btime"] = .string(born) }
        }
        if let content {
            members["size"] = .int(Int64(content.size))
            members["payload"] = .string(content.payload)
            members["encoding"] = .string(content.encoding.rawValue)
            members["storedSize"] = .int(Int64(content.storedSize))
            members["chunkSize"] = .int(Int64(content.chunkSize))
            members["tree"] = .string(content.tree)
            members["digests"] = .object(content.digests.mapValues { .string($0) })
            if let offset = content.leavesOffset { members["leaves"] = .int(Int64(offset)) }
        }
        if let target { CollectionRecord.putBytes(target, "target", into: &members) }
        if let linkTo { CollectionRecord.putBytes(linkTo, "linkTo", into: &members) }
        if !extendedAttributes.isEmpty {
            members["xattrs"] = .object(extendedAttributes.mapValues { .string(Base64.encode($0)) })
        }
        if let error { members["error"] = .string(error) }
        return .object(members)
    }

    /// The record's line: canonical JSON, without the `\n`.
    public var line: [UInt8] { json.canonicalBytes }

    /// The record's leaf hash in the items tree.
    public var leafHash: Hash32 { Merkle.leafHash(line) }

    /// Raw bytes go in as a string when they are valid UTF-8, else base64 under `NAME64`.
    private static func putBytes(_ bytes: [UInt8], _ name: String, into members: inout [String: JSONValue]) {
        if PayloadNames.isValidUTF8(bytes) {
            members[name] = .string(String(decoding: bytes, as: UTF8.self))
        } else {
            members[name + "64"] = .string(Base64.encode(bytes))
        }
    }

    /// Reads a record from its line, naming `location` and the first member missing or ill-typed. The line must
    /// be the record's canonical form (so the leaf hash a verifier computes is the one sealed).
    public init(line: [UInt8], where location: String) throws {
        let json: JSONValue
        do { json = try JSONValue.parse(line, maxDepth: 4) } catch {
            throw BundleError.recordMalformed(location: location, problem: "\(error)")
        }
        guard case .object(let members) = json else {
            throw BundleError.recordMalformed(location: location, problem: "not a JSON object")
        }
        func fail(_ problem: String) -> BundleError { .recordMalformed(location: location, problem: problem) }
        func count(_ key: String) throws -> UInt64 {
            guard let value = members[key]?.intValue, value >= 0 else { throw fail("'\(key)' is not a count") }
            return UInt64(value)
        }
        func string(_ key: String) throws -> String {
            guard let value = members[key]?.stringValue else { throw fail("'\(key)' is not a string") }
            return value
        }
        func bytes(_ key: String) throws -> [UInt8]? {
            if let text = members[key]?.stringValue { return Array(text.utf8) }
            if let text = members[key + "64"]?.stringValue {
                guard let decoded = Base64.decode(text), !PayloadNames.isValidUTF8(decoded) else {
                    throw fail("'\(key)64' is not base64 of a non-UTF-8 name")
                }
                return decoded
            }
            if members[key] != nil || members[key + "64"] != nil { throw fail("'\(key)' is not a string") }
            return nil
        }
        number = Int(try count("n"))
        guard let path = try bytes("path"), !path.isEmpty else { throw fail("no 'path'") }
        self.path = path
        guard let kind = Kind(rawValue: try string("kind")) else { throw fail("unknown 'kind'") }
        self.kind = kind
        salt = try string("salt")
        guard salt.utf8.count == 32, Hex.decode(salt) != nil else { throw fail("'salt' is not 32 hex digits") }
        if members["mode"] != nil {
            metadata = Metadata(
                mode: UInt32(truncatingIfNeeded: try count("mode")), uid: UInt32(truncatingIfNeeded: try count("uid")),
                gid: UInt32(truncatingIfNeeded: try count("gid")),
                inode: UInt64(bitPattern: members["inode"]?.intValue ?? 0), device: try string("device"),
                links: try count("links"), allocated: try count("allocated"), modified: try string("mtime"),
                accessed: try string("atime"), changed: try string("ctime"), born: members["btime"]?.stringValue)
        } else {
            metadata = nil
        }
        if members["payload"] != nil {
            guard let encoding = PayloadEncoding(rawValue: try string("encoding")) else {
                throw fail("unknown 'encoding'")
            }
            let chunk: Int
            do { chunk = try TreeChunkSize.validate(try count("chunkSize")) } catch { throw fail("bad 'chunkSize'") }
            guard let digestObject = members["digests"]?.objectValue else { throw fail("no 'digests' object") }
            var digests: [String: String] = [:]
            for (name, value) in digestObject {
                guard let hex = value.stringValue else { throw fail("digest '\(name)' is not a string") }
                digests[name] = hex
            }
            guard digests["sha256"] != nil else { throw fail("no 'sha256' digest") }
            let tree = try string("tree")
            guard Hash32(hex: tree) != nil else { throw fail("'tree' is not 64 hex digits") }
            content = Content(size: try count("size"), payload: try string("payload"), encoding: encoding,
                              storedSize: try count("storedSize"), chunkSize: chunk, tree: tree, digests: digests,
                              leavesOffset: members["leaves"] == nil ? nil : try count("leaves"))
        } else {
            content = nil
        }
        target = try bytes("target")
        linkTo = try bytes("linkTo")
        var attributes: [String: [UInt8]] = [:]
        if let object = members["xattrs"] {
            guard let object = object.objectValue else { throw fail("'xattrs' is not an object") }
            for (name, value) in object {
                guard let text = value.stringValue, let decoded = Base64.decode(text) else {
                    throw fail("xattr '\(name)' is not base64")
                }
                attributes[name] = decoded
            }
        }
        extendedAttributes = attributes
        error = members["error"]?.stringValue
        guard self.line == line else { throw fail("not in canonical form (or holds unknown members)") }
    }
}
