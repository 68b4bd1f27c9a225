import CustodyAge
import CustodyBase
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger
#if canImport(Glibc)
import Glibc
#endif

/// What a collection seal produced.
public struct CollectionSealResult: Sendable {
    /// The bundle ID.
    public var bundleID: String
    /// Where the bundle is.
    public var path: String
    /// Items recorded (files, directories, links and the rest).
    public var items: Int
    /// Regular files whose content is stored.
    public var files: Int
    /// Content bytes read and stored.
    public var bytes: UInt64
    /// Payload bytes written.
    public var storedBytes: UInt64
    /// The items tree root (hex).
    public var itemsRoot: String
    /// Items recorded with an error (unreadable, vanished, changed during the read), by display path.
    public var failures: [(path: String, error: String)]
    /// How many items carry an error (`failures` keeps the first 100).
    public var failureCount: Int
    /// The ledger entries appended (acquire, seal).
    public var entries: [UInt64]
    /// The checkpoint size the proofs lead to.
    public var checkpointSize: UInt64
}

/// Seals a collection of files (one or more directories, and files beside them) into a bundle whose items are
/// records in `custody/items.jsonl` committed by one Merkle root (SPEC.md section 5.13): the statement and the
/// ledger entries stay the same size whatever the item count, and nothing holds every item in memory.
public enum CollectionSealer {
    /// Failures kept in the result for people (all are in the records).
    public static let failuresKept = 100

    /// What the walk and the packing report as they go: items and content bytes done.
    public typealias Progress = @Sendable (_ items: Int, _ bytes: UInt64, _ current: String) -> Void

    /// Seals `paths` (directories and regular files) into a new collection bundle at `out`.
    public static func seal(paths: [String], out: String, ledger: Ledger, key: SigningKey, options: SealOptions,
                            progress: Progress? = nil) throws -> CollectionSealResult {
        guard key.identity.publicKey == ledger.owner.publicKey else {
            throw SealError.keyDoesNotOwnLedger(key: key.identity.name, owner: ledger.owner.name)
        }
        let roots = try checkRoots(paths)
        let writer = try BundleWriter(out: out, collection: true)
        writer.discardOnFailure()
        let bundleID = Identifier.urn()
        let parameters = SealParameters(options: options, paths: paths)
        let journal = SealJournal(path: SealJournal.path(workPath: writer.workPath), state: SealJournal.State(
            bundleID: bundleID, parameters: parameters, items: roots.map { (path: $0, name: $0) }))
        try journal.save()
        defer {
            if !writer.keepsWorkDirectory { FileSystem.removeTree(journal.path) }
        }
        var run = try CollectionRun(writer: writer, options: options, progress: progress)
        let started = Timestamp.now().description
        do {
            try run.walk(roots)
        } catch {
            if options.shouldStop?() == true {
                throw SealError.interrupted(finalPath: writer.finalPath, workPath: writer.workPath)
            }
            throw error
        }
        let finished = Timestamp.now().description
        let written = try run.finishFiles()
        let root = run.root.hex
        try writer.writeTagFile(BundleLayout.conditions, options.conditions.json.canonicalBytes + [10])
        let manifestDigest = written.manifestSHA256
        let legalBasis = options.conditions.legalBasis ?? ""
        var acquireDetails: [String: JSONValue] = [
            "bundle": .string(bundleID), "started": .string(started), "finished": .string(finished),
            "tool": .string("custody \(CustodyVersion.string)"), "files": .int(Int64(run.files)),
            "failures": .int(Int64(run.failureCount)),
            "roots": .array(roots.map { .string(Printable.escapingControls($0)) }),
        ]
        if run.failureCount > 0 { acquireDetails["failures"] = .int(Int64(run.failureCount)) }
        let itemsSubject = try LedgerSubject(id: bundleID, attributes: [
            "items-root": .string(root), "items": .int(Int64(run.count)), "bytes": .int(Int64(run.bytes)),
        ])
        let drafts = [
            try LedgerEntryDraft(action: .acquire, subjects: [itemsSubject], legalBasis: legalBasis,
                                 details: acquireDetails),
            try LedgerEntryDraft(
                action: .seal,
                subjects: [try LedgerSubject(id: bundleID, attributes: [
                    "manifest-sha256": .string(Hex.encode(manifestDigest)), "items-root": .string(root),
                    "items": .int(Int64(run.count)),
                ])],
                legalBasis: legalBasis,
                details: BundleSealer.sealDetails(bundleID: bundleID, count: run.count, skipped: [],
                                                  options: options)),
        ]
        let entries = try BundleSealer.appendOnce(drafts, bundleID: bundleID, ledger: ledger, key: key,
                                                  journal: journal, options: options)
        writer.keep()
        let checkpoint = try ledger.makeCheckpoint(key: key)
        let checkpointBody = try Checkpoint.open(checkpoint.bytes, keys: [key.identity.verifierKey])
        var excerpt: [UInt8] = []
        var proofs: [JSONValue] = []
        for entry in entries {
            excerpt += entry.bytes + [10]
            proofs.append(try ledger.inclusionProof(index: entry.sequence, size: checkpointBody.size).json)
        }
        try writer.writeTagFile(BundleLayout.ledgerExcerpt, excerpt)
        try writer.writeTagFile(BundleLayout.proofs, JSONValue.array(proofs).canonicalBytes + [10])
        try writer.writeTagFile(BundleLayout.checkpoint, checkpoint.bytes)
        try writer.writeTagFile(BundleLayout.identities, try key.identity.document(signedWith: key.privateKey))
        var bagInfo = BundleSealer.makeBagInfo(bundleID: bundleID, key: key, records: [], options: options,
                                               oxum: "\(run.storedBytes).\(run.files)")
        if let index = bagInfo.firstIndex(where: { $0.label == "Custody-Item-Count" }) {
            bagInfo[index].value = String(run.count)
        }
        bagInfo.append(("Custody-Items-Root", root))
        writer.usePayloadManifestsWritten()
        let tagManifest = try writer.writeManifests(bagInfo: bagInfo)
        let statement = CollectionSealStatement(bundleID: bundleID, tagManifestDigest: tagManifest.digest,
                                                itemCount: UInt64(run.count), itemsRoot: run.root)
        let note = try SignedNote.sign(text: statement.text, name: key.identity.name, key: key.privateKey)
        try writer.finish(seal: note.bytes, syncingFileSystem: true)
        FileSystem.removeTree(journal.path)
        return CollectionSealResult(
            bundleID: bundleID, path: writer.finalPath, items: run.count, files: run.files, bytes: run.bytes,
            storedBytes: run.storedBytes, itemsRoot: root, failures: run.failures, failureCount: run.failureCount,
            entries: entries.map(\.sequence), checkpointSize: checkpointBody.size)
    }

    /// Whether `paths` ask for a collection seal: any of them a directory.
    public static func isCollection(_ paths: [String]) -> Bool {
        paths.contains { path in
            guard let info = try? FileSystem.status(path) else { return false }
            return info.st_mode & S_IFMT == S_IFDIR
        }
    }

    /// Checks the inputs before anything is written: each a directory or a regular file (a link named on the
    /// command line is followed), their last components distinct (they name the top folders of `data/`).
    static func checkRoots(_ paths: [String]) throws -> [String] {
        guard !paths.isEmpty else { throw SealError.nothingToSeal(paths: paths) }
        var names: [String: String] = [:]
        for path in paths {
            let info: stat
            do { info = try FileSystem.status(path) } catch {
                throw SealError.inputRefused(problem: "\(path): \(error)")
            }
            let type = info.st_mode & S_IFMT
            guard type == S_IFDIR || type == S_IFREG else {
                throw SealError.inputRefused(problem: "\(Printable.escapingControls(path)): not a directory or "
                    + "regular file (seal block devices and streams in a bundle of their own)")
            }
            var trimmed = path
            while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
            let name = trimmed.split(separator: "/").last.map(String.init) ?? trimmed
            guard name != "." && name != ".." && name != "/" else {
                throw SealError.inputRefused(problem: "\(path): name the folder itself (its last component "
                    + "becomes the top folder of data/), not '\(name)'")
            }
            if let other = names[name] {
                throw SealError.inputRefused(problem: "\(Printable.escapingControls(other)) and "
                    + "\(Printable.escapingControls(path)) both end in '\(name)': seal them in separate bundles "
                    + "or rename one")
            }
            names[name] = path
        }
        return paths.sorted { RawName.encode(lastComponent($0)).lexicographicallyPrecedes(
            RawName.encode(lastComponent($1))) }
    }

    static func lastComponent(_ path: String) -> String {
        var trimmed = path
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        return trimmed.split(separator: "/").last.map(String.init) ?? trimmed
    }
}

/// The files a collection seal writes as it walks, and their digests once done.
struct CollectionFiles {
    /// SHA-256 of `manifest-sha256.txt` (the seal entry names it).
    var manifestSHA256: [UInt8]
}

/// One collection seal's walk: records every entry, packs every regular file into its payload, appends the
/// records, manifests and leaves as it goes.
struct CollectionRun {
    let writer: BundleWriter
    let options: SealOptions
    let progress: CollectionSealer.Progress?
    let records: DigestingAppender
    let leaves: DigestingAppender
    let manifests: [DigestAlgorithm: DigestingAppender]
    var accumulator = MerkleAccumulator()
    private(set) var count = 0
    private(set) var files = 0
    private(set) var bytes: UInt64 = 0
    private(set) var storedBytes: UInt64 = 0
    private(set) var failures: [(path: String, error: String)] = []
    private(set) var failureCount = 0
    private var lastProgress: UInt64 = 0

    init(writer: BundleWriter, options: SealOptions, progress: CollectionSealer.Progress?) throws {
        self.writer = writer
        self.options = options
        self.progress = progress
        records = try DigestingAppender(creating: writer.absolute(BundleLayout.itemRecords))
        leaves = try DigestingAppender(creating: writer.absolute(BundleLayout.leavesFile))
        var manifests: [DigestAlgorithm: DigestingAppender] = [:]
        for algorithm in BundleLayout.payloadManifests {
            manifests[algorithm] = try DigestingAppender(creating: writer.absolute(
                BundleLayout.manifestName(algorithm)))
        }
        self.manifests = manifests
    }

    var root: Hash32 { accumulator.root }

    mutating func walk(_ roots: [String]) throws {
        let walker = CollectionWalker(roots: roots, options: WalkOptions(
            followRootLinks: true, readsExtendedAttributes: true))
        while let entry = walker.next() {
            if options.shouldStop?() == true { throw SealError.interrupted(finalPath: writer.finalPath,
                                                                           workPath: writer.workPath) }
            try record(entry)
        }
    }

    private mutating func record(_ entry: WalkEntry) throws {
        let number = count + 1
        var record = CollectionRecord(number: number, path: entry.relativePath, kind: .file,
                                      metadata: entry.metadata.map(CollectionRun.metadata),
                                      extendedAttributes: CollectionRun.attributes(entry.extendedAttributes),
                                      error: entry.error, salt: CollectionRecord.newSalt())
        switch entry.kind {
        case .directory:
            record.kind = .directory
            if entry.error == nil || entry.metadata != nil {
                let payload = PayloadNames.payloadPath(entry.relativePath, isDirectory: true, suffix: "")
                try FileSystem.createDirectory(writer.absolute(payload))
            }
        case .symlink:
            record.kind = .symlink
            record.target = entry.symlinkTarget
        case .fifo: record.kind = .fifo
        case .socket: record.kind = .socket
        case .characterDevice: record.kind = .characterDevice
        case .blockDevice: record.kind = .blockDevice
        case .unknown:
            record.kind = .file
            if record.error == nil { record.error = "vanished before it could be examined" }
        case .regular:
            if let first = entry.hardLinkTarget {
                record.kind = .hardlink
                record.linkTo = first
            } else if entry.error == nil {
                do {
                    let stored = try pack(entry)
                    record.content = stored.content
                    record.error = stored.problem
                } catch {
                    // Out of room in the bag, or asked to stop: the seal cannot go on. Anything else is the
                    // file's own problem (a read error): recorded with the item, the partial payload removed.
                    if options.shouldStop?() == true { throw error }
                    if let system = error as? SystemError, [ENOSPC, EDQUOT, EROFS].contains(system.code) {
                        throw error
                    }
                    let suffix = options.compress ? ".gz" : ""
                    unlink(writer.absolute(PayloadNames.payloadPath(entry.relativePath, isDirectory: false,
                                                                    suffix: suffix)))
                    record.error = "\(error)"
                }
            }
        }
        if let error = record.error {
            failureCount += 1
            if failures.count < CollectionSealer.failuresKept { failures.append((record.displayPath, error)) }
        }
        let line = record.line
        accumulator.append(Merkle.leafHash(line))
        try records.append(line)
        try records.append(CollectionOfOne(10))
        count = number
        if let progress, count % 256 == 0 || bytes - lastProgress > 64 << 20 {
            lastProgress = bytes
            progress(count, bytes, record.displayPath)
        }
    }

    /// Packs one regular file into its payload; returns its content (nil when it could not be read) and, when it
    /// changed or was replaced during the seal, why.
    private mutating func pack(_ entry: WalkEntry) throws -> (content: CollectionRecord.Content?, problem: String?) {
        let suffix = options.compress ? ".gz" : ""
        let payload = PayloadNames.payloadPath(entry.relativePath, isDirectory: false, suffix: suffix)
        let source: EvidenceSource
        do { source = try EvidenceSource.open(entry.pathString, describingDevice: false) } catch {
            return (nil, "\(error)")
        }
        defer { source.close() }
        let opened = try source.descriptor.status()
        guard opened.st_mode & S_IFMT == S_IFREG, let seen = entry.metadata,
              UInt64(opened.st_ino) == seen.inode, UInt64(opened.st_dev) == seen.device else {
            return (nil, "replaced by another file after it was listed: not read")
        }
        let output = try FileDescriptor.open(writer.absolute(payload), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
                                             mode: 0o644)
        defer { output.close() }
        let sink = DescriptorSink(output)
        let reader = source.plainReader(mapsRegularFiles: false)
        let size: UInt64, chunkSize: Int, chunkCount: UInt64, tree: Hash32, leafList: [Hash32]
        let contentDigests: [DigestAlgorithm: [UInt8]], stored: [DigestAlgorithm: [UInt8]], storedSize: UInt64
        if options.compress {
            var packer = EvidencePacker(level: options.level, chunkSize: options.chunkSize,
                                        linearDigests: options.linearDigests,
                                        packedDigests: BundleLayout.payloadManifests, readers: 1)
            packer.shouldStop = options.shouldStop
            let result = try packer.pack(reader, to: sink)
            (size, chunkSize, chunkCount) = (result.size, result.chunkSize, result.chunkCount)
            (tree, leafList, contentDigests) = (result.treeRoot, result.leaves, result.digests)
            (stored, storedSize) = (result.packedDigests, result.packedSize)
        } else {
            let linear = options.linearDigests
            var pipeline = ChunkPipeline(chunkSize: options.chunkSize,
                                         linearDigests: linear + BundleLayout.payloadManifests.filter {
                                             !linear.contains($0) },
                                         keepLeaves: true, readers: 1)
            pipeline.shouldStop = options.shouldStop
            let result = try pipeline.run(reader, parallel: { _ in () }, ordered: { chunk, _ in
                try sink.write(chunk.bytes)
            })
            (size, chunkSize, chunkCount) = (result.size, result.chunkSize, result.chunkCount)
            (tree, leafList) = (result.treeRoot ?? Merkle.emptyRoot, result.leaves)
            contentDigests = result.digests.filter { linear.contains($0.key) }
            stored = result.digests.filter { BundleLayout.payloadManifests.contains($0.key) }
            storedSize = result.size
        }
        try sink.flush()
        var problem: String?
        if let change = try source.changeDuringRead(read: size) {
            problem = "changed while being sealed (\(change.summary)): its digests are of the bytes read, which may "
                + "be no version of the file"
        }
        var leavesOffset: UInt64?
        if chunkCount > 1 {
            leavesOffset = leaves.size
            for leaf in leafList { try leaves.append(leaf.bytes) }
        }
        var digests: [String: String] = [:]
        for (algorithm, value) in contentDigests { digests[algorithm.rawValue] = Hex.encode(value) }
        for algorithm in BundleLayout.payloadManifests {
            guard let digest = stored[algorithm], let manifest = manifests[algorithm] else { continue }
            try manifest.append(Array((Hex.encode(digest) + "  " + BagIt.encodePath(payload) + "\n").utf8))
        }
        files += 1
        bytes += size
        storedBytes += storedSize
        return (CollectionRecord.Content(
            size: size, payload: payload, encoding: options.compress ? .gzip : .raw, storedSize: storedSize,
            chunkSize: chunkSize, tree: tree.hex, digests: digests, leavesOffset: leavesOffset), problem)
    }

    /// Closes the records, leaves and manifests, lists them for the tag manifests and returns their digests.
    mutating func finishFiles() throws -> CollectionFiles {
        let recordDigests = try records.finish()
        try writer.recordTagFile(BundleLayout.itemRecords, digests: recordDigests)
        try writer.recordTagFile(BundleLayout.leavesFile, digests: try leaves.finish())
        var manifestSHA256: [UInt8] = []
        for algorithm in BundleLayout.payloadManifests {
            guard let manifest = manifests[algorithm] else { continue }
            let digests = try manifest.finish()
            if algorithm == .sha256 { manifestSHA256 = digests[.sha256] ?? [] }
            try writer.recordTagFile(BundleLayout.manifestName(algorithm), digests: digests)
        }
        return CollectionFiles(manifestSHA256: manifestSHA256)
    }

    static func metadata(_ walked: WalkMetadata) -> CollectionRecord.Metadata {
        CollectionRecord.Metadata(
            mode: walked.mode, uid: walked.uid, gid: walked.gid, inode: walked.inode,
            device: "\(major(walked.device)):\(minor(walked.device))", links: walked.linkCount,
            allocated: walked.allocatedBytes, modified: time(walked.modified), accessed: time(walked.accessed),
            changed: time(walked.changed), born: walked.born.map(time))
    }

    static func attributes(_ walked: [ExtendedAttribute]?) -> [String: [UInt8]] {
        var result: [String: [UInt8]] = [:]
        for attribute in walked ?? [] {
            result[RawName.decode(attribute.name)] = attribute.value
        }
        return result
    }

    /// RFC 3339 UTC with nanoseconds: `2026-12-07T19:44:01.123456789Z`.
    static func time(_ value: WalkTime) -> String {
        let base = Timestamp(secondsSinceEpoch: value.seconds).description
        guard base.hasSuffix("Z") else { return base }
        let fraction = String(value.nanoseconds)
        return String(base.dropLast()) + "." + String(repeating: "0", count: 9 - fraction.count) + fraction + "Z"
    }

    private static func major(_ device: UInt64) -> UInt64 { ((device >> 32) & 0xffff_f000) | ((device >> 8) & 0xfff) }
    private static func minor(_ device: UInt64) -> UInt64 { ((device >> 12) & 0xffff_ff00) | (device & 0xff) }
}

/// A buffered sink writing to a file descriptor.
final class DescriptorSink: ByteSink, @unchecked Sendable {
    private let descriptor: FileDescriptor
    private var buffer: [UInt8] = []

    init(_ descriptor: FileDescriptor) {
        self.descriptor = descriptor
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if buffer.count + bytes.count > 1 << 20 { try flush() }
        if bytes.count >= 1 << 20 {
            try descriptor.writeAll(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    func flush() throws {
        guard !buffer.isEmpty else { return }
        try descriptor.writeAll(buffer)
        buffer.removeAll(keepingCapacity: true)
    }
}
