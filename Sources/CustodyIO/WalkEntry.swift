import CustodyBase
#if canImport(Glibc)
import Glibc
#endif

/// A time stamp of a file: seconds and nanoseconds since 1970-01-01 UTC.
public struct WalkTime: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// Whole seconds since the epoch (negative before it).
    public var seconds: Int64
    /// Nanoseconds within the second, 0 to 999,999,999.
    public var nanoseconds: UInt32

    /// The time `seconds` and `nanoseconds` after the epoch.
    public init(seconds: Int64, nanoseconds: UInt32) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    /// `SECONDS.NANOSECONDS`, nine digits after the point.
    public var description: String {
        let digits = String(nanoseconds)
        return "\(seconds).\(String(repeating: "0", count: Swift.max(0, 9 - digits.count)))\(digits)"
    }
}

/// What the file system says of one entry (`statx`, or `fstatat` where the system lacks it).
public struct WalkMetadata: Sendable, Equatable {
    /// Size in bytes (a symbolic link: the length of its target).
    public var size: UInt64
    /// The mode: type and permission bits (`st_mode`).
    public var mode: UInt32
    /// Owner's user ID.
    public var uid: UInt32
    /// Group ID.
    public var gid: UInt32
    /// Inode number.
    public var inode: UInt64
    /// Device the entry lives on.
    public var device: UInt64
    /// Number of hard links.
    public var linkCount: UInt64
    /// Bytes the file system allocated (blocks × 512): less than `size` for a sparse file.
    public var allocatedBytes: UInt64
    /// Last modification of the content.
    public var modified: WalkTime
    /// Last access.
    public var accessed: WalkTime
    /// Last change of the inode (metadata or content).
    public var changed: WalkTime
    /// Creation, when the file system records it and the system reports it (`statx` `STATX_BTIME`).
    public var born: WalkTime?

    /// Whether fewer bytes are allocated than the size holds (a regular file with holes).
    public var isSparse: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFREG) && allocatedBytes < size }
}

/// One extended attribute of a file: its name (with its namespace, e.g. `user.origin`) and its value, as bytes.
public struct ExtendedAttribute: Sendable, Equatable {
    /// The attribute's full name.
    public var name: [UInt8]
    /// Its value.
    public var value: [UInt8]

    /// The attribute `name` holding `value`.
    public init(name: [UInt8], value: [UInt8]) {
        self.name = name
        self.value = value
    }
}

/// One entry of a walk (`CollectionWalker`): a root or something found under one, with what the file system says
/// of it. Anything that could not be read carries `error` instead of stopping the walk.
public struct WalkEntry: Sendable {
    /// What an entry is.
    public enum Kind: String, Sendable, Equatable {
        /// A regular file.
        case regular
        /// A directory.
        case directory
        /// A symbolic link (never followed below a root).
        case symlink
        /// A named pipe (never opened).
        case fifo
        /// A Unix-domain socket.
        case socket
        /// A character device (never opened).
        case characterDevice
        /// A block device (never opened).
        case blockDevice
        /// Unknown: the entry vanished or could not be examined before its type was known.
        case unknown
    }

    /// Which of the walker's roots the entry is under (0-based).
    public var rootIndex: Int
    /// The path as reached: the root as given, then `/` and the names below it. Exact bytes (may not be UTF-8).
    public var path: [UInt8]
    /// The path relative to the root's parent: the root's last component, then `/` and the names below it
    /// (`phone/DCIM/a.jpg` for root `/mnt/x/phone`). Exact bytes.
    public var relativePath: [UInt8]
    /// Levels below the root (the root is 0).
    public var depth: Int
    /// What it is (from the status; from the directory listing when the status could not be read).
    public var kind: Kind
    /// The status, nil when it could not be read (then `error` says why).
    public var metadata: WalkMetadata?
    /// A symbolic link's target, as stored (not resolved).
    public var symlinkTarget: [UInt8]?
    /// Extended attributes, when asked for and readable (empty when the entry has none or the file system keeps
    /// none).
    public var extendedAttributes: [ExtendedAttribute]?
    /// For a regular file with more than one link met before in this walk: the `relativePath` it was first met at.
    public var hardLinkTarget: [UInt8]?
    /// The file, opened read-only (`O_NOFOLLOW | O_NONBLOCK`) relative to its directory, when the walker was asked
    /// to open regular files and could. The consumer owns it and must close it.
    public var openFile: FileDescriptor?
    /// What went wrong, in the system's words (`open directory: Permission denied`), or nil.
    public var error: String?
    /// The `errno` value behind `error`, when there is one.
    public var errorCode: Int32?

    /// `path` as a string (bytes outside UTF-8 escaped as `RawName` does), for opening and messages.
    public var pathString: String { RawName.decode(path) }
    /// `relativePath` as a string (as `pathString`).
    public var relativePathString: String { RawName.decode(relativePath) }
}

/// How a `CollectionWalker` walks.
public struct WalkOptions: Sendable {
    /// The order of the entries within each directory.
    public enum Order: Sendable, Equatable {
        /// By the names' raw bytes (a stable order, the default).
        case name
        /// By inode number: a cheap approximation of the on-disk order, for spinning disks.
        case inode
        /// Regular files by the physical offset of their first extent (`FIEMAP`; opens each file while listing),
        /// after the directory's other entries in name order; files the file system cannot place come last, by
        /// inode. For spinning disks.
        case physical
    }

    /// Whether a root that is a symbolic link is followed (links below a root never are).
    public var followRootLinks: Bool
    /// Whether extended attributes are read.
    public var readsExtendedAttributes: Bool
    /// The most bytes of extended attributes (names and values) recorded for one entry; above it the entry carries
    /// an error and none.
    public var extendedAttributeLimit: Int
    /// The order within a directory.
    public var order: Order
    /// Whether regular files are opened by the walker (relative to their directory) and handed over in
    /// `WalkEntry.openFile`.
    public var opensRegularFiles: Bool
    /// The most directory descriptors held open at once (at least 2): deeper walks close the shallower ones and
    /// reopen them through `..` (checking device and inode) on the way back.
    public var maximumOpenDirectories: Int

    /// Options with the given values; the defaults walk in name order, follow named root links, read no extended
    /// attributes and open nothing.
    public init(followRootLinks: Bool = true, readsExtendedAttributes: Bool = false,
                extendedAttributeLimit: Int = 64 << 10, order: Order = .name, opensRegularFiles: Bool = false,
                maximumOpenDirectories: Int = 64) {
        self.followRootLinks = followRootLinks
        self.readsExtendedAttributes = readsExtendedAttributes
        self.extendedAttributeLimit = extendedAttributeLimit
        self.order = order
        self.opensRegularFiles = opensRegularFiles
        self.maximumOpenDirectories = max(2, maximumOpenDirectories)
    }
}
