import CustodyAge
import CustodyBase
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger
#if canImport(Glibc)
import Glibc
#endif

/// Builds a bag in a temporary directory beside its final path, and moves it into place only when every file is
/// written and synced, so that an interrupted seal never leaves a bundle that looks complete.
public final class BundleWriter {
    /// Where the bundle will be.
    public let finalPath: String
    /// Where it is built.
    public let workPath: String
    private var payloadDigests: [String: [DigestAlgorithm: [UInt8]]] = [:]
    private var payloadSizes: [String: UInt64] = [:]
    private var tagFiles: [String] = []
    private var precomputedTagDigests: [String: [DigestAlgorithm: [UInt8]]] = [:]
    private var streamedPayloadManifests = false
    private var finished = false

    private var kept = false
    private var lock: FileDescriptor?

    /// The work directory of a bundle at `out`: `.NAME.partial` beside it, the same for every run so that an
    /// interrupted seal can be found and resumed.
    public static func workPath(for out: String) -> (final: String, work: String) {
        var trimmed = out
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        let parent = FileSystem.parentDirectory(of: trimmed)
        let base = trimmed.split(separator: "/").last.map(String.init) ?? trimmed
        return (trimmed, (parent == "." && !trimmed.hasPrefix("./") ? "" : parent + "/") + ".\(base).partial")
    }

    /// Prepares the work directory; refuses an existing output path. Without `resume`, an existing work
    /// directory (an interrupted seal) is refused; with it, the work directory must exist and is reused. The
    /// work directory is locked (`flock`) for the writer's lifetime, so two runs never build the same bundle.
    /// A collection bundle (`collection`) keeps its leaves in one file and has no `custody/leaves/` folder.
    public init(out: String, resume: Bool = false, collection: Bool = false) throws {
        let name = out.split(separator: "/").last.map(String.init) ?? ""
        guard !name.isEmpty, name != ".", name != ".." else {
            throw SealError.bundlePathUnnamed(out: out)
        }
        let paths = BundleWriter.workPath(for: out)
        guard !FileSystem.exists(paths.final) else {
            throw SealError.bundleExists(path: paths.final)
        }
        finalPath = paths.final
        workPath = paths.work
        if resume {
            guard FileSystem.exists(workPath) else {
                throw SealError.noInterruptedSeal(finalPath: finalPath, workPath: workPath)
            }
            kept = true
        } else {
            try FileSystem.createDirectory(FileSystem.parentDirectory(of: workPath))
            if mkdir(workPath, 0o755) != 0 {
                let code = errno
                kept = true
                if code == EEXIST {
                    _ = try BundleWriter.lockWorkDirectory(workPath).close()
                    throw SealError.interruptedSealExists(finalPath: finalPath, workPath: workPath)
                }
                throw SystemError(operation: "create directory", path: workPath, code: code)
            }
        }
        do {
            lock = try BundleWriter.lockWorkDirectory(workPath)
        } catch {
            kept = true
            throw error
        }
        // Everything is written below these: a link planted in their place would send the writes elsewhere.
        let folders = collection ? [BundleLayout.payloadDirectory, BundleLayout.custodyDirectory]
            : [BundleLayout.payloadDirectory, BundleLayout.leavesDirectory]
        let directories = folders.flatMap { relative in
            let parts = relative.split(separator: "/")
            return (1...parts.count).map { parts.prefix($0).joined(separator: "/") }
        }
        for relative in directories {
            let path = workPath + "/" + relative
            if let info = try? FileSystem.status(path, followLinks: false), info.st_mode & S_IFMT != S_IFDIR {
                kept = true
                throw SealError.notADirectory(path: path, workPath: workPath)
            }
            try FileSystem.createDirectory(path)
        }
    }

    /// Opens the work directory itself (never through a symbolic link) and takes its lock; a live seal holding it
    /// is named as such.
    private static func lockWorkDirectory(_ workPath: String) throws -> FileDescriptor {
        let directory = try FileDescriptor.open(workPath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
        guard flock(directory.rawValue, LOCK_EX | LOCK_NB) == 0 else {
            directory.close()
            throw SealError.workDirectoryInUse(workPath: workPath)
        }
        return directory
    }

    deinit {
        if !finished && !kept { FileSystem.removeTree(workPath) }
        lock?.close()
    }

    /// Whether the work directory stays if the writer goes away unfinished.
    public var keepsWorkDirectory: Bool { kept }

    /// Keeps the work directory when the writer goes away unfinished (an interrupted seal, to be resumed).
    public func keep() { kept = true }

    /// Removes the work directory when the writer goes away unfinished (the default for a new seal).
    public func discardOnFailure() { kept = false }

    /// Absolute (work) path of a bag-relative path.
    public func absolute(_ relative: String) -> String { workPath + "/" + relative }

    /// Creates a payload file for writing (mode 0644, must not exist).
    public func createPayload(_ relative: String) throws -> FileDescriptor {
        _ = try BagIt.safeComponents(relative)
        precondition(relative.hasPrefix(BundleLayout.payloadDirectory + "/"))
        let directory = FileSystem.parentDirectory(of: absolute(relative))
        try FileSystem.createDirectory(directory)
        return try FileDescriptor.open(absolute(relative), O_WRONLY | O_CREAT | O_EXCL, mode: 0o644)
    }

    /// Opens a payload file of an interrupted seal for reading and appending (created when missing).
    public func openPayloadForResume(_ relative: String) throws -> FileDescriptor {
        _ = try BagIt.safeComponents(relative)
        precondition(relative.hasPrefix(BundleLayout.payloadDirectory + "/"))
        try FileSystem.createDirectory(FileSystem.parentDirectory(of: absolute(relative)))
        return try FileDescriptor.openOwnWorkFile(absolute(relative))
    }

    /// Takes a tag file an interrupted run already wrote (durably) into the tag manifests; it must still be a
    /// regular file, of `size` bytes when given.
    public func adoptTagFile(_ relative: String, size: UInt64? = nil) throws {
        try checkKept(relative, size: size)
        if !tagFiles.contains(relative) { tagFiles.append(relative) }
    }

    /// Takes the payload of an item an interrupted run completed: still a regular file of the recorded size.
    public func adoptPayload(_ relative: String, size: UInt64, digests: [DigestAlgorithm: [UInt8]]) throws {
        try checkKept(relative, size: size)
        recordPayload(relative, size: size, digests: digests)
    }

    private func checkKept(_ relative: String, size: UInt64?) throws {
        _ = try BagIt.safeComponents(relative)
        let path = absolute(relative)
        guard let info = try? FileSystem.status(path, followLinks: false), info.st_mode & S_IFMT == S_IFREG,
              size.map({ UInt64(info.st_size) == $0 }) ?? true else {
            throw SealError.keptFileChanged(path: path, workPath: workPath)
        }
    }

    /// Removes what a run killed inside an atomic write left (`NAME.tmp-PID` files: never part of the bag).
    public func removeStrayTemporaryFiles() throws {
        for path in try BagTree.list(workPath).files.keys where FileSystem.isAtomicTemporary(path) {
            unlink(absolute(path))
        }
    }

    /// Refuses files in the work directory that the bag will not list (dropped in while the seal was
    /// interrupted), before anything is recorded: only the payload and tag files recorded so far and the bag's
    /// fixed files may be there.
    public func checkNoStrayFiles() throws {
        let known = Set(tagFiles).union(payloadSizes.keys).union(BundleLayout.fixedFiles)
        let listing = try BagTree.list(workPath)
        if let unexpected = listing.unexpected.first {
            throw SealError.unexpectedEntry(path: absolute(unexpected.path), kind: "\(unexpected.kind)",
                                            workPath: workPath)
        }
        if let stray = listing.files.keys.sorted().first(where: { !known.contains($0) }) {
            throw SealError.strayFile(path: absolute(stray), workPath: workPath)
        }
    }

    /// Records a payload file's digests (of its stored bytes) and size for the manifests and Payload-Oxum.
    public func recordPayload(_ relative: String, size: UInt64, digests: [DigestAlgorithm: [UInt8]]) {
        payloadDigests[relative] = digests
        payloadSizes[relative] = size
    }

    /// Writes a tag file durably and remembers it for the tag manifests.
    public func writeTagFile(_ relative: String, _ bytes: [UInt8]) throws {
        _ = try BagIt.safeComponents(relative)
        try FileSystem.createDirectory(FileSystem.parentDirectory(of: absolute(relative)))
        try FileSystem.writeAtomically(absolute(relative), bytes)
        if !tagFiles.contains(relative) { tagFiles.append(relative) }
    }

    /// Lists a tag file written (and synced) by the caller, with its digests computed as it was written: large
    /// tag files (a collection's records and leaves, its payload manifests) are never read back whole.
    public func recordTagFile(_ relative: String, digests: [DigestAlgorithm: [UInt8]]) throws {
        _ = try BagIt.safeComponents(relative)
        precomputedTagDigests[relative] = digests
        if !tagFiles.contains(relative) { tagFiles.append(relative) }
    }

    /// Payload manifests the caller wrote itself (in item order, as they were packed): `writeManifests` leaves
    /// them as they are; they must have been listed with `recordTagFile`.
    public func usePayloadManifestsWritten() { streamedPayloadManifests = true }

    /// SHA-256 of `manifest-sha256.txt` as `writeManifests` will write it.
    public func payloadManifestSHA256() -> [UInt8] {
        let entries = payloadDigests.map { (path: $0.key, hex: Hex.encode($0.value[.sha256] ?? [])) }
        return Digester.digest(.sha256, Array(BagIt.manifest(entries).utf8))
    }

    /// `octets.files` of the payload.
    public var payloadOxum: String {
        "\(payloadSizes.values.reduce(0, +)).\(payloadSizes.count)"
    }

    /// Writes the declaration, bag-info, payload manifests and the SHA-256 tag manifest; returns that tag
    /// manifest's text and its SHA-256 (the digest the seal signs). Call `finish(seal:)` next.
    public func writeManifests(bagInfo: [(label: String, value: String)]) throws -> (text: String, digest: [UInt8]) {
        try writeTagFile(BundleLayout.declaration, Array(BagIt.declaration.utf8))
        try writeTagFile(BundleLayout.bagInfo, Array(BagIt.bagInfo(bagInfo).utf8))
        for algorithm in BundleLayout.payloadManifests where !streamedPayloadManifests {
            let entries = payloadDigests.map { (path: $0.key, hex: Hex.encode($0.value[algorithm] ?? [])) }
            try writeTagFile(BundleLayout.manifestName(algorithm), Array(BagIt.manifest(entries).utf8))
        }
        let text = try tagManifestText(.sha256)
        return (text, Digester.digest(.sha256, Array(text.utf8)))
    }

    private func tagManifestText(_ algorithm: DigestAlgorithm) throws -> String {
        var entries: [(path: String, hex: String)] = []
        for relative in tagFiles {
            if let digest = precomputedTagDigests[relative]?[algorithm] {
                entries.append((relative, Hex.encode(digest)))
                continue
            }
            let bytes = try FileSystem.readFile(absolute(relative), limit: BagValidator.tagFileLimit)
            entries.append((relative, Hex.encode(Digester.digest(algorithm, bytes))))
        }
        return BagIt.manifest(entries)
    }

    /// Writes the seal and the final tag manifests, syncs everything and moves the bag into place. With
    /// `syncingFileSystem`, one `syncfs` of the work directory's file system replaces an `fsync` per file (a
    /// collection of a million files).
    public func finish(seal: [UInt8], syncingFileSystem: Bool = false) throws {
        try writeTagFile(BundleLayout.seal, seal)
        for algorithm in BundleLayout.tagManifests {
            try FileSystem.writeAtomically(absolute(BundleLayout.tagManifestName(algorithm)),
                                           Array(try tagManifestText(algorithm).utf8))
        }
        if syncingFileSystem {
            try FileSystem.syncFileSystem(of: workPath)
        } else {
            try syncTree(workPath)
        }
        guard rename(workPath, finalPath) == 0 else {
            throw SystemError(operation: "rename \(workPath) to", path: finalPath, code: errno)
        }
        finished = true
        try FileSystem.syncDirectory(FileSystem.parentDirectory(of: finalPath))
    }

    private func syncTree(_ path: String) throws {
        for name in try FileSystem.directoryEntries(path) {
            let child = path + "/" + name
            let info = try FileSystem.status(child, followLinks: false)
            if info.st_mode & S_IFMT == S_IFDIR {
                try syncTree(child)
            } else {
                let fd = try FileDescriptor.openForReading(child)
                defer { fd.close() }
                try fd.sync()
            }
        }
        try FileSystem.syncDirectory(path)
    }
}

/// The digest the seal signs: SHA-256 of `tagmanifest-sha256.txt` without the line for the seal itself.
public enum SealDigest {
    /// SHA-256 of tagmanifest-sha256.txt without the seal's own line: what the seal statement signs.
    public static func tagManifestDigest(withoutSeal tagManifest: [UInt8]) -> [UInt8] {
        let text = String(decoding: tagManifest, as: UTF8.self)
        let kept = text.split(separator: "\n", omittingEmptySubsequences: true).filter { line in
            guard let space = line.firstIndex(of: " ") else { return true }
            let path = line[space...].drop { $0 == " " || $0 == "\t" }
            return BagIt.decodePath(String(path)) != BundleLayout.seal
        }
        let rebuilt = kept.map { $0 + "\n" }.joined()
        return Digester.digest(.sha256, Array(rebuilt.utf8))
    }
}
