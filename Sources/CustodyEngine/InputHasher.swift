import CustodyBase
import CustodyCrypto
import CustodyIO
#if canImport(Glibc)
import Glibc
#endif

/// The digests of one input.
public struct FileDigests: Sendable, Equatable {
    /// The path as given (or found by the recursive walk); `-` for standard input.
    public var path: String
    /// Bytes read.
    public var size: UInt64
    /// The tree digest's chunk size.
    public var chunkSize: Int
    /// The tree digest, when computed.
    public var tree: Hash32?
    /// The linear digests computed.
    public var digests: [DigestAlgorithm: [UInt8]]
    /// Every chunk's leaf hash, when asked for.
    public var leaves: [Hash32]

    /// Digests of the given values.
    public init(path: String, size: UInt64, chunkSize: Int, tree: Hash32?, digests: [DigestAlgorithm: [UInt8]],
                leaves: [Hash32] = []) {
        self.path = path
        self.size = size
        self.chunkSize = chunkSize
        self.tree = tree
        self.digests = digests
        self.leaves = leaves
    }

    /// Hex of the named algorithm's value, if computed.
    public func hex(_ algorithm: HashAlgorithm) -> String? {
        if algorithm == .tree { return tree?.hex }
        return algorithm.linear.flatMap { digests[$0] }.map { Hex.encode($0) }
    }
}

/// One input to hash: what it is and how big.
public struct HashInput: Sendable, Equatable {
    /// What the input is: a regular file, a block device, or a stream read once.
    public enum Kind: Sendable, Equatable {
        /// A regular file.
        case regularFile
        /// A block device.
        case blockDevice
        /// Anything read once: standard input, a FIFO, a character device.
        case stream
    }
    /// The path as given or found (`-` for standard input).
    public var path: String
    /// What it is.
    public var kind: Kind

    /// An input at `path` of `kind`.
    public init(path: String, kind: Kind) {
        self.path = path
        self.kind = kind
    }
}

/// Opens inputs and runs the chunk pipeline over them.
public enum InputHasher {
    /// Lists the inputs named by `paths`: files as they are, directories walked (with `recursive`) in a
    /// stable byte-wise order. Problems (missing paths, directories without `recursive`, special files in
    /// a walk) are reported through `note` with whether they count as errors; hashing goes on.
    public static func enumerate(_ paths: [String], recursive: Bool, followSymlinks: Bool,
                                 note: (_ message: String, _ isError: Bool) -> Void) -> [HashInput] {
        var inputs: [HashInput] = []
        for path in paths {
            if path == "-" {
                inputs.append(HashInput(path: "-", kind: .stream))
                continue
            }
            visit(path, named: true, recursive: recursive, followSymlinks: followSymlinks, into: &inputs, note: note)
        }
        return inputs
    }

    /// Adds what `path` holds to `inputs`. A path `named` by the caller has its links followed and is kept whatever
    /// it is (a directory is walked only when `recursive`); a path met in a walk has its links followed only with
    /// `followSymlinks`, and only its regular files and directories are kept, the rest noted as skipped.
    private static func visit(_ path: String, named: Bool, recursive: Bool, followSymlinks: Bool,
                              into inputs: inout [HashInput], note: (String, Bool) -> Void) {
        var info: stat
        do {
            info = try FileSystem.status(path, followLinks: named)
            if info.st_mode & S_IFMT == S_IFLNK {
                guard followSymlinks else {
                    note("\(path): symbolic link skipped (use -L to follow links)", false)
                    return
                }
                info = try FileSystem.status(path, followLinks: true)
            }
        } catch {
            note("\(error)", true)
            return
        }
        switch info.st_mode & S_IFMT {
        case S_IFDIR:
            guard recursive else {
                note("\(path): is a directory (use -r to hash its files)", true)
                return
            }
            let names: [String]
            do {
                names = try FileSystem.directoryEntries(path)
            } catch {
                note("\(error)", true)
                return
            }
            for name in names {
                let child = path.hasSuffix("/") ? path + name : path + "/" + name
                visit(child, named: false, recursive: true, followSymlinks: followSymlinks, into: &inputs, note: note)
            }
        case S_IFREG:
            inputs.append(HashInput(path: path, kind: .regularFile))
        case S_IFBLK where named:
            inputs.append(HashInput(path: path, kind: .blockDevice))
        default:
            if named {
                inputs.append(HashInput(path: path, kind: .stream))
            } else {
                note("\(path): special file skipped", false)
            }
        }
    }

    /// Hashes one input through `pipeline`. Throws on open/read errors and when a file changes size while
    /// being read.
    public static func hash(_ input: HashInput, pipeline: ChunkPipeline) throws -> FileDigests {
        let source = try EvidenceSource.open(input.path, describingDevice: false)
        defer { source.close() }
        let result = try pipeline.run(source.plainReader())
        if let change = try source.sizeChange(read: result.size) {
            throw EngineError.changedSize(path: input.path, change, activity: .hash)
        }
        return FileDigests(path: input.path, size: result.size, chunkSize: result.chunkSize, tree: result.treeRoot,
                           digests: result.digests, leaves: result.leaves)
    }

    /// The size of a regular file (from fstat) or block device (from seeking to its end); nil for streams.
    public static func currentSize(of descriptor: FileDescriptor, kind: HashInput.Kind) throws -> UInt64? {
        try EvidenceSource.currentSize(of: descriptor, kind: kind.sourceKind)
    }
}

extension HashInput.Kind {
    /// The same kind as a source description names it.
    public var sourceKind: SourceDescription.Kind {
        switch self {
        case .regularFile: return .file
        case .blockDevice: return .blockDevice
        case .stream: return .stream
        }
    }
}
