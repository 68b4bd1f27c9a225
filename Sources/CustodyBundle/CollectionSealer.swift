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

    /// How far a collection seal has got: items and content bytes done, what the walk has found so far (the
    /// totals once `walkFinished`), and the item just recorded.
    public struct ProgressState: Sendable {
        /// Items recorded and content bytes stored.
        public var items: Int, bytes: UInt64
        /// Items and file bytes the walk has found so far.
        public var itemsFound: Int, bytesFound: UInt64
        /// Whether the walk is over (the found counts are the totals).
        public var walkFinished: Bool
        /// The item just recorded, for people.
        public var current: String
        /// Regular files stored so far.
        public var files: Int = 0
        /// The regular files and their bytes in the whole input, once a count ahead of the seal has finished.
        public var totals: (files: Int, bytes: UInt64)?
    }

    /// Called now and then on the sealing thread with how far the seal has got.
    public typealias Progress = (ProgressState) -> Void

    /// Seals `paths` (directories and regular files) into a new collection bundle at `out`. With `resume`,
    /// continues the interrupted collection seal of `out` from its last durable point: `paths` and the options
    /// must be the interrupted run's.
    public static func seal(paths: [String], out: String, ledger: Ledger, key: SigningKey, options: SealOptions,
                            resume: Bool = false, progress: Progress? = nil) throws -> CollectionSealResult {
        guard key.identity.publicKey == ledger.owner.publicKey else {
            throw SealError.keyDoesNotOwnLedger(key: key.identity.name, owner: ledger.owner.name)
        }
        let roots = try checkRoots(paths)
        let writer = try BundleWriter(out: out, resume: resume, collection: true)
        let parameters = SealParameters(options: options, paths: paths)
        let rootList = roots.map { (path: $0, name: $0) }
        let journal: SealJournal
        let journalPath = CollectionJournal.path(workPath: writer.workPath)
        var state = CollectionJournal()
        if resume {
            journal = try SealJournal.load(workPath: writer.workPath)
            try journal.check(parameters: parameters, items: rootList)
            try FileSystem.removeAtomicTemporaries(of: journal.path)
            try FileSystem.removeAtomicTemporaries(of: journalPath)
            if FileSystem.exists(journalPath) { state = try CollectionJournal(path: journalPath) }
        } else {
            writer.discardOnFailure()
            journal = SealJournal(path: SealJournal.path(workPath: writer.workPath), state: SealJournal.State(
                bundleID: Identifier.urn(), parameters: parameters, items: rootList))
            try journal.save()
        }
        let bundleID = journal.snapshot.bundleID
        defer {
            if !writer.keepsWorkDirectory {
                FileSystem.removeTree(journal.path)
                FileSystem.removeTree(journalPath)
            }
        }
        let run = try CollectionRun(writer: writer, options: options, progress: progress,
                                    resuming: resume ? state : nil, journalPath: journalPath)
        let started = run.started
        if !state.walkComplete {
            do {
                try run.walk(roots)
            } catch {
                if options.shouldStop?() == true {
                    writer.keep()
                    try? run.journalPoint()
                    throw SealError.interrupted(finalPath: writer.finalPath, workPath: writer.workPath)
                }
                throw error
            }
            writer.keep()
            try run.journalPoint(walkComplete: true)
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
        let checkpointSize = try BundleSealer.writeLedgerFiles(entries, ledger: ledger, key: key, writer: writer)
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
        FileSystem.removeTree(journalPath)
        return CollectionSealResult(
            bundleID: bundleID, path: writer.finalPath, items: run.count, files: run.files, bytes: run.bytes,
            storedBytes: run.storedBytes, itemsRoot: root, failures: run.failures, failureCount: run.failureCount,
            entries: entries.map(\.sequence), checkpointSize: checkpointSize)
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

/// One collection seal's walk: the small-file engine (`CollectionHasher`) reads and hashes many files at once and
/// writes each payload through `PayloadOutput`; this consumer, in walk order, records every entry and appends the
/// records, manifests and leaves.
final class CollectionRun {
    let writer: BundleWriter
    let options: SealOptions
    let progress: CollectionSealer.Progress?
    let records: DigestingAppender
    let leaves: DigestingAppender
    let manifests: [DigestAlgorithm: DigestingAppender]
    private var accumulator = MerkleAccumulator()
    private(set) var count = 0
    private(set) var files = 0
    private(set) var bytes: UInt64 = 0
    private(set) var storedBytes: UInt64 = 0
    private(set) var failures: [(path: String, error: String)] = []
    private(set) var failureCount = 0
    private var lastProgress: UInt64 = 0
    private let journalPath: String
    private var lastJournalPoint = MonotonicClock.seconds()
    private var lastPath: [UInt8] = []
    /// Entries recorded before the interruption, which the resumed walk passes over.
    private let resumedRecords: UInt64
    /// Whether this run continues an interrupted one (whose payload files, even past its last journal point or
    /// before its first, may be on disk and are written over).
    private let isResumed: Bool
    /// When the acquisition started (the interrupted run's start, for a resumed one).
    let started: String
    /// The walk's order within folders (the interrupted run's, for a resumed one).
    let order: WalkOptions.Order

    /// A run writing a new bundle's files, or (with `resuming`) continuing an interrupted one's from its journaled
    /// lengths: the records kept are read again for the root, the counts and the failures.
    init(writer: BundleWriter, options: SealOptions, progress: CollectionSealer.Progress?,
         resuming: CollectionJournal?, journalPath: String) throws {
        self.writer = writer
        self.options = options
        self.progress = progress
        self.journalPath = journalPath
        func appender(_ relative: String, _ size: UInt64?) throws -> DigestingAppender {
            if let size { return try DigestingAppender(resuming: writer.absolute(relative), size: size) }
            return try DigestingAppender(creating: writer.absolute(relative))
        }
        records = try appender(BundleLayout.itemRecords, resuming?.recordsSize)
        leaves = try appender(BundleLayout.leavesFile, resuming?.leavesSize)
        var manifests: [DigestAlgorithm: DigestingAppender] = [:]
        for algorithm in BundleLayout.payloadManifests {
            manifests[algorithm] = try appender(BundleLayout.manifestName(algorithm),
                                                resuming.map { $0.manifestSizes[algorithm] ?? 0 })
        }
        self.manifests = manifests
        resumedRecords = resuming?.records ?? 0
        isResumed = resuming != nil
        started = resuming?.started ?? Timestamp.now().description
        order = resuming?.order ?? options.readOrder
        if let resuming { try reread(resuming) }
    }

    /// Reads the kept records again: the items tree, the counts and the failures as they were.
    private func reread(_ state: CollectionJournal) throws {
        var reader = try ItemRecordsReader(path: writer.absolute(BundleLayout.itemRecords))
        defer { reader.close() }
        while let record = try reader.next() {
            accumulator.append(record.leafHash)
            count = record.number
            lastPath = record.path
            if let content = record.content {
                files += 1
                bytes += content.size
                storedBytes += content.storedSize
            }
            if let error = record.error {
                failureCount += 1
                if failures.count < CollectionSealer.failuresKept { failures.append((record.displayPath, error)) }
            }
        }
        guard UInt64(count) == state.records, lastPath == state.lastPath else {
            throw SealError.malformedJournal(
                journalPath: journalPath, workPath: writer.workPath,
                problem: "it names \(state.records) records, \(BundleLayout.itemRecords) holds \(count) up to its "
                    + "journaled length")
        }
    }

    /// Makes everything recorded so far durable (the appended files flushed, one `syncfs` for them and every
    /// payload written), then journals the lengths: a resumed seal starts from here.
    func journalPoint(walkComplete: Bool = false) throws {
        try records.flush()
        try leaves.flush()
        for manifest in manifests.values { try manifest.flush() }
        try FileSystem.syncFileSystem(of: writer.workPath)
        var state = CollectionJournal()
        state.records = UInt64(count)
        state.recordsSize = records.size
        state.leavesSize = leaves.size
        for (algorithm, manifest) in manifests { state.manifestSizes[algorithm] = manifest.size }
        state.lastPath = lastPath
        state.walkComplete = walkComplete
        state.started = started
        state.order = order
        try state.save(to: journalPath)
        lastJournalPoint = MonotonicClock.seconds()
    }

    var root: Hash32 { accumulator.root }

    func walk(_ roots: [String]) throws {
        var hasher = CollectionHasher(
            chunkSize: options.chunkSize, linearDigests: SealParameters.normalized(options.linearDigests),
            computesTree: true,
            keepsLeaves: true, walkOptions: WalkOptions(followRootLinks: true, readsExtendedAttributes: true,
                                                        order: order))
        hasher.skippedEntries = resumedRecords
        hasher.countsAhead = progress != nil
        let output = try PayloadOutput(workPath: writer.workPath, compress: options.compress, level: options.level,
                                       chunkSize: options.chunkSize, replacing: isResumed)
        let summary = try hasher.run(roots: roots, output: output, shouldStop: options.shouldStop) { item, tally in
            try record(item, tally: tally)
        }
        if summary.interrupted || options.shouldStop?() == true {
            throw SealError.interrupted(finalPath: writer.finalPath, workPath: writer.workPath)
        }
    }

    private func record(_ item: CollectionItem, tally: CollectionTally) throws {
        let entry = item.entry
        if item.sequence < resumedRecords {
            // Done before the interruption: the walk must pass the same entries in the same order.
            if item.sequence == resumedRecords - 1 && entry.relativePath != lastPath {
                throw SealError.sourceChanged(
                    path: entry.pathString, recorded: "entry \(resumedRecords) was " + RawName.decode(lastPath),
                    now: "it is " + entry.relativePathString, workPath: writer.workPath)
            }
            return
        }
        let number = count + 1
        var record = CollectionRecord(number: number, path: entry.relativePath, kind: .file,
                                      metadata: entry.metadata.map(CollectionRun.metadata),
                                      extendedAttributes: CollectionRun.attributes(entry.extendedAttributes),
                                      error: item.problem, salt: CollectionRecord.newSalt())
        switch entry.kind {
        case .directory:
            record.kind = .directory
            if entry.metadata != nil {
                try FileSystem.createDirectory(writer.absolute(
                    PayloadNames.payloadPath(entry.relativePath, isDirectory: true, suffix: "")))
            }
        case .symlink:
            record.kind = .symlink
            record.target = entry.symlinkTarget
        case .fifo: record.kind = .fifo
        case .socket: record.kind = .socket
        case .characterDevice: record.kind = .characterDevice
        case .blockDevice: record.kind = .blockDevice
        case .unknown:
            if record.error == nil { record.error = "vanished before it could be examined" }
        case .regular:
            if let first = entry.hardLinkTarget {
                record.kind = .hardlink
                record.linkTo = first
            } else if let digests = item.digests, let stored = item.output, item.problem == nil {
                record.content = try content(digests, stored)
            } else if record.error == nil {
                record.error = "not read"
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
        lastPath = record.path
        if MonotonicClock.seconds() - lastJournalPoint >= 2 { try journalPoint() }
        if let progress, count % 64 == 0 || bytes - lastProgress > 32 << 20 || tally.walkFinished {
            lastProgress = bytes
            progress(CollectionSealer.ProgressState(
                items: count, bytes: bytes, itemsFound: Int(tally.entriesFound),
                bytesFound: tally.bytesFound, walkFinished: tally.walkFinished, current: record.displayPath,
                files: files, totals: tally.totals.map { (Int($0.files), $0.bytes) }))
        }
    }

    /// The record's content from the engine's digests and the payload output's result; appends the manifests'
    /// lines and the leaves.
    private func content(_ digests: FileDigests, _ stored: ItemOutputResult) throws -> CollectionRecord.Content {
        let payload = String(decoding: stored.storedName ?? [], as: UTF8.self)
        let chunkCount = (digests.size + UInt64(digests.chunkSize) - 1) / UInt64(digests.chunkSize)
        var leavesOffset: UInt64?
        if chunkCount > 1 {
            leavesOffset = leaves.size
            for leaf in digests.leaves { try leaves.append(leaf.bytes) }
        }
        var hex: [String: String] = [:]
        for (algorithm, value) in digests.digests { hex[algorithm.rawValue] = Hex.encode(value) }
        for algorithm in BundleLayout.payloadManifests {
            guard let digest = stored.storedDigests[algorithm], let manifest = manifests[algorithm] else { continue }
            try manifest.append(Array((Hex.encode(digest) + "  " + BagIt.encodePath(payload) + "\n").utf8))
        }
        files += 1
        bytes += digests.size
        storedBytes += stored.storedSize
        return CollectionRecord.Content(
            size: digests.size, payload: payload, encoding: options.compress ? .gzip : .raw,
            storedSize: stored.storedSize, chunkSize: digests.chunkSize,
            tree: (digests.tree ?? Merkle.emptyRoot).hex, digests: hex, leavesOffset: leavesOffset)
    }

    /// Closes the records, leaves and manifests, lists them for the tag manifests and returns their digests.
    func finishFiles() throws -> CollectionFiles {
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
