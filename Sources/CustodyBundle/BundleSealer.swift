import CustodyAge
import CustodyBase
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How `custody seal` stores and describes items.
public struct SealOptions: Sendable {
    public var chunkSize = TreeChunkSize.default
    public var level = EvidencePacker.defaultLevel
    /// Store content packed (custody gzip) or raw.
    public var compress = true
    /// Linear digests of each item's content (sha256 always included).
    public var linearDigests: [DigestAlgorithm] = [.sha256]
    public var readers = 1
    /// Read retries before an unreadable range is narrowed to sectors and zero-filled.
    public var readRetries = 3
    /// Apply the bad-sector policy (retry, narrow, zero-fill, record) to regular files too, not only to block
    /// devices: for images kept on failing media. Otherwise a file read error fails the seal.
    public var tolerateFileReadErrors = false
    /// Wraps each item's reader (fault injection in tests; the real reader is passed in).
    package var wrapReader: (@Sendable (ChunkReader) -> ChunkReader)?
    public var caseNumber: String?
    public var evidenceNumber: String?
    public var examiner: String?
    public var itemDescription: String?
    public var notes: String?
    public var conditions = Conditions()
    /// Called with (item path, bytes done) while an item is read.
    public var progress: (@Sendable (String, UInt64) -> Void)?
    public var shouldStop: (@Sendable () -> Bool)?
    /// Called with one-line notices (resuming an item, reusing ledger entries).
    public var notice: (@Sendable (String) -> Void)?
    /// The payload is synced (and the seal journal updated) after this many chunks or `syncSeconds`,
    /// whichever comes first: the most an interrupted raw item re-copies after a crash.
    public var syncChunks: UInt64 = 256
    public var syncSeconds = 2.0

    public init() {}
}

/// What a seal produced.
public struct SealResult: Sendable {
    public var bundleID: String
    public var path: String
    public var items: [ItemRecord]
    /// Ledger sequence numbers of the entries the seal appended.
    public var entries: [UInt64]
    /// The checkpoint's tree size.
    public var checkpointSize: UInt64
    /// Links and special files met inside input directories and left out (also in the seal entry's details).
    public var skipped: [String] = []
}

/// The statement the sealing officer signs (`custody/seal.txt`, a C2SP signed note):
///
/// ```
/// custody seal v1
/// bundle urn:uuid:...
/// tagmanifest-sha256 HEX
/// item 1 urn:uuid:... TREE-SHA256-1M HEX size N
/// ```
public struct SealStatement: Sendable, Equatable {
    public static let header = "custody seal v1"
    public var bundleID: String
    /// SHA-256 of tagmanifest-sha256.txt without the seal's own line.
    public var tagManifestDigest: [UInt8]
    public var items: [(number: Int, id: String, chunkSize: Int, tree: String, size: UInt64)]

    public init(bundleID: String, tagManifestDigest: [UInt8],
                items: [(number: Int, id: String, chunkSize: Int, tree: String, size: UInt64)]) {
        self.bundleID = bundleID
        self.tagManifestDigest = tagManifestDigest
        self.items = items
    }

    public var text: String {
        var lines = [SealStatement.header, "bundle \(bundleID)", "tagmanifest-sha256 \(Hex.encode(tagManifestDigest))"]
        for item in items {
            lines.append("item \(item.number) \(item.id) \(TreeChunkSize.digestName(item.chunkSize)) \(item.tree) "
                + "size \(item.size)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Parses a statement, naming the first line that does not fit.
    public init(text: String) throws {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        guard lines.count >= 3, lines[0] == SealStatement.header else {
            throw CustodyError.verification("seal: first line is not '\(SealStatement.header)'")
        }
        guard lines[1].hasPrefix("bundle "), lines[2].hasPrefix("tagmanifest-sha256 "),
              let digest = Hex.decode(lines[2].dropFirst("tagmanifest-sha256 ".count)), digest.count == 32 else {
            throw CustodyError.verification("seal: lines 2-3 must be 'bundle ID' and 'tagmanifest-sha256 HEX'")
        }
        bundleID = String(lines[1].dropFirst("bundle ".count))
        tagManifestDigest = digest
        items = []
        for (offset, line) in lines.enumerated().dropFirst(3) {
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count == 7, fields[0] == "item", let number = Int(fields[1]),
                  fields[3].hasPrefix("TREE-SHA256-"), let chunk = ByteSize.parse(String(fields[3].dropFirst(12))),
                  let chunkSize = try? TreeChunkSize.validate(chunk), Hash32(hex: fields[4]) != nil,
                  fields[5] == "size", let size = UInt64(fields[6]) else {
                throw CustodyError.verification("seal: line \(offset + 1) is not 'item N ID TREE-SHA256-S HEX size N'")
            }
            items.append((number, fields[2], chunkSize, fields[4], size))
        }
    }

    public static func == (lhs: SealStatement, rhs: SealStatement) -> Bool { lhs.text == rhs.text }
}

/// Seals inputs into a bundle: packs and hashes each item in one read, records `acquire` and `seal` entries in
/// the ledger, writes the BagIt bag with the custody tag files, and signs the seal.
public enum BundleSealer {
    /// Items in one bundle at most: the seal entry names every item (about 230 bytes each) and a ledger entry
    /// holds at most 1 MiB.
    public static let maximumItems = 4000

    /// Lists the items `paths` name: files and block devices as they are, the regular files inside directories.
    /// Symbolic links and special files met inside directories are not followed; they are listed in `skipped`.
    /// Any other input (standard input, a FIFO, a character device) is refused.
    public static func items(_ paths: [String], skipped: inout [String]) throws -> [(input: HashInput, name: String)] {
        var problems: [String] = []
        var notes: [String] = []
        var result: [(HashInput, String)] = []
        for path in paths {
            let found = InputHasher.enumerate([path], recursive: true, followSymlinks: false) { message, isError in
                if isError { problems.append(message) } else { notes.append(message) }
            }
            for input in found {
                if input.kind == .stream {
                    problems.append("\(input.path): seal reads files, directories and block devices, not standard "
                        + "input, FIFOs or character devices")
                    continue
                }
                let base = path.split(separator: "/").last.map(String.init) ?? path
                var name = input.path
                if input.path != path {
                    name = base + "/" + String(input.path.dropFirst(path.count).drop { $0 == "/" })
                } else {
                    name = base
                }
                result.append((input, name))
            }
        }
        if let first = problems.first { throw CustodyError.operational(first) }
        guard !result.isEmpty else {
            throw CustodyError.operational("no files to seal in \(paths.joined(separator: ", "))")
        }
        skipped += notes
        return result
    }

    /// Seals `paths` into a new bundle at `out`. With `resume`, continues the interrupted seal of `out` (its
    /// work directory and journal, SPEC.md section 7.5): `paths` and the output-shaping options must be the
    /// interrupted run's (see `SealParameters.apply(to:)` to take them from the journal).
    public static func seal(paths: [String], out: String, ledger: Ledger, key: SigningKey,
                            options: SealOptions, resume: Bool = false) throws -> SealResult {
        guard key.identity.publicKey == ledger.owner.publicKey else {
            throw CustodyError.operational("the key '\(key.identity.name)' does not own the ledger (owner: "
                + "\(ledger.owner.name)); seal with the ledger owner's key")
        }
        let writer = try BundleWriter(out: out, resume: resume)
        var skipped: [String] = []
        let inputs = try items(paths, skipped: &skipped)
        guard inputs.count <= BundleSealer.maximumItems else {
            throw CustodyError.operational("the inputs hold \(inputs.count) items; a bundle holds at most "
                + "\(BundleSealer.maximumItems) (its seal entry lists every item within the ledger's 1 MiB entry "
                + "limit): archive the folder (tar) and seal the archive, or seal it in parts")
        }
        let parameters = SealParameters(options: options, paths: paths)
        let itemList = inputs.map { (path: $0.input.path, name: $0.name) }
        let journal: SealJournal
        if resume {
            journal = try SealJournal.load(workPath: writer.workPath)
            try journal.check(parameters: parameters, items: itemList)
            // A run killed inside an atomic write leaves its temporary beside the file: never part of the bag.
            try writer.removeStrayTemporaryFiles()
            try FileSystem.removeAtomicTemporaries(of: journal.path)
        } else {
            journal = SealJournal(path: SealJournal.path(workPath: writer.workPath), state: SealJournal.State(
                bundleID: Identifier.urn(), parameters: parameters, items: itemList))
            try journal.save()
        }
        // A new seal that fails cleans up after itself; a resume never throws away the interrupted seal's work.
        if !resume && journal.snapshot.ledgerEntries == nil { writer.discardOnFailure() }
        do {
            let result = try seal(inputs, skipped: skipped, writer: writer, journal: journal, ledger: ledger, key: key,
                                  options: options)
            FileSystem.removeTree(SealJournal.leafLogPath(workPath: writer.workPath))
            FileSystem.removeTree(journal.path)
            try FileSystem.syncDirectory(FileSystem.parentDirectory(of: journal.path))
            return result
        } catch {
            if !writer.keepsWorkDirectory {
                FileSystem.removeTree(SealJournal.leafLogPath(workPath: writer.workPath))
                FileSystem.removeTree(journal.path)
            }
            throw error
        }
    }

    private static func seal(_ inputs: [(input: HashInput, name: String)], skipped: [String], writer: BundleWriter,
                             journal: SealJournal, ledger: Ledger, key: SigningKey,
                             options: SealOptions) throws -> SealResult {
        let linear = journal.snapshot.parameters.linearDigests
        let bundleID = journal.snapshot.bundleID
        var records: [ItemRecord] = []
        do {
            for (offset, item) in inputs.enumerated() {
                let number = offset + 1
                let completed = journal.snapshot.completed
                if number <= completed.count {
                    let done = completed[number - 1]
                    try writer.adoptPayload(done.record.payloadPath, size: done.packedSize,
                                            digests: done.packedDigests)
                    let chunks = (done.record.size + UInt64(done.record.chunkSize) - 1) / UInt64(done.record.chunkSize)
                    try writer.adoptTagFile(done.record.leavesPath, size: 32 * chunks)
                    records.append(done.record)
                    continue
                }
                records.append(try sealItem(item.input, name: item.name, number: number, writer: writer,
                                            linear: linear, options: options, journal: journal))
            }
        } catch {
            if options.shouldStop?() == true {
                writer.keep()
                throw CustodyError.operational("interrupted: the partial seal of \(writer.finalPath) is kept in "
                    + "\(writer.workPath); run the same command with --resume to continue")
            }
            throw error
        }
        try writer.checkNoStrayFiles()
        var drafts: [LedgerEntryDraft] = []
        let legalBasis = options.conditions.legalBasis ?? ""
        for record in records {
            drafts.append(try LedgerEntryDraft(
                action: .acquire,
                subjects: [try subject(for: record)],
                legalBasis: legalBasis,
                details: acquireDetails(record, bundleID: bundleID)))
        }
        let itemsJSON = JSONValue.object(["bundle": .string(bundleID), "items": .array(records.map(\.json))])
        try writer.writeTagFile(BundleLayout.items, itemsJSON.canonicalBytes + [10])
        try writer.writeTagFile(BundleLayout.conditions, options.conditions.json.canonicalBytes + [10])
        let manifestDigest = writer.payloadManifestSHA256()
        drafts.append(try LedgerEntryDraft(
            action: .seal,
            subjects: [try LedgerSubject(id: bundleID,
                                         attributes: ["manifest-sha256": .string(Hex.encode(manifestDigest))])]
                + records.map { try subject(for: $0) },
            legalBasis: legalBasis,
            details: sealDetails(bundleID: bundleID, count: records.count, skipped: skipped, options: options)))
        let entries = try appendOnce(drafts, bundleID: bundleID, ledger: ledger, key: key, journal: journal,
                                     options: options)
        // From here on the ledger records the seal: whatever happens, keep the work directory so that --resume
        // can finish the bundle without appending again.
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
        let identityDocument = try key.identity.document(signedWith: key.privateKey)
        try writer.writeTagFile(BundleLayout.identities, identityDocument)
        let bagInfo = makeBagInfo(bundleID: bundleID, key: key, records: records, options: options,
                                  oxum: writer.payloadOxum)
        let tagManifest = try writer.writeManifests(bagInfo: bagInfo)
        let statement = SealStatement(
            bundleID: bundleID, tagManifestDigest: tagManifest.digest,
            items: records.map { ($0.number, $0.id, $0.chunkSize, $0.tree, $0.size) })
        let note = try SignedNote.sign(text: statement.text, name: key.identity.name, key: key.privateKey)
        try writer.finish(seal: note.bytes)
        return SealResult(bundleID: bundleID, path: writer.finalPath, items: records,
                          entries: entries.map(\.sequence), checkpointSize: checkpointBody.size, skipped: skipped)
    }

    static func sealDetails(bundleID: String, count: Int, skipped: [String],
                            options: SealOptions) -> [String: JSONValue] {
        var details: [String: JSONValue] = [
            "bundle": .string(bundleID), "items": .int(Int64(count)),
            "case": .string(options.caseNumber ?? options.conditions.caseID ?? ""),
        ]
        if !skipped.isEmpty { details["skipped"] = .array(skipped.map { .string($0) }) }
        return details
    }

    /// The parameters (inputs and output-shaping options) the interrupted seal of `out` was started with, read
    /// from its journal: for `custody seal --resume --out OUT` without INPUTs.
    public static func interruptedParameters(out: String) throws -> SealParameters {
        let work = BundleWriter.workPath(for: out).work
        guard FileSystem.exists(work) else {
            throw CustodyError.operational("no interrupted seal of \(out) to resume: \(work) does not exist (seal "
                + "without --resume)")
        }
        return try SealJournal.load(workPath: work).snapshot.parameters
    }

    /// Appends the seal's ledger entries exactly once across interruptions: the ledger size is journaled before
    /// the append and the sequence numbers after it; a resumed seal reuses entries already there (found by
    /// their `bundle` detail from the journaled size on) instead of appending them again.
    private static func appendOnce(_ drafts: [LedgerEntryDraft], bundleID: String, ledger: Ledger, key: SigningKey,
                                   journal: SealJournal, options: SealOptions) throws -> [LedgerEntry] {
        func ours(_ entry: LedgerEntry) -> Bool { entry.details["bundle"] == .string(bundleID) }
        if let sequences = journal.snapshot.ledgerEntries {
            let entries = try sequences.map { try ledger.entry(at: $0) }
            guard entries.count == drafts.count, entries.allSatisfy(ours) else {
                throw CustodyError.operational("\(journal.path): the journaled ledger entries \(sequences) are not "
                    + "this seal's (bundle \(bundleID))")
            }
            return entries
        }
        let from: UInt64
        if let recorded = journal.snapshot.ledgerFrom {
            from = recorded
        } else {
            from = try ledger.size()
            try journal.update { $0.ledgerFrom = from }
        }
        let size = try ledger.size()
        // A ledger only grows: a journaled size beyond it means the journal (or the ledger) was altered, and
        // searching from there would miss entries already appended and append them twice.
        guard from <= size else {
            let location = ledger.store.location
            throw CustodyError.operational("\(journal.path): records the ledger at \(from) entries but \(location) "
                + "holds \(size) (the journal or the ledger was altered); nothing was appended")
        }
        var found: [LedgerEntry] = []
        if from < size {
            for sequence in from..<size {
                let entry = try ledger.entry(at: sequence)
                if ours(entry) { found.append(entry) }
            }
        }
        let entries: [LedgerEntry]
        if found.isEmpty {
            entries = try ledger.appendBatch(drafts, key: key)
        } else if found.count == drafts.count {
            entries = found
            let numbers = found.map { String($0.sequence) }.joined(separator: ", ")
            options.notice?("the ledger already holds this seal's entries \(numbers) (appended before the "
                + "interruption): not appending them again")
        } else {
            throw CustodyError.operational("\(ledger.store.location): \(found.count) entries for bundle \(bundleID) "
                + "from entry \(from) on, expected \(drafts.count) or none; the interrupted seal cannot be finished")
        }
        try journal.update { $0.ledgerEntries = entries.map(\.sequence) }
        return entries
    }

    static func subject(for record: ItemRecord) throws -> LedgerSubject {
        var attributes: [String: JSONValue] = [
            "tree": .string(record.tree), "chunk-size": .int(Int64(record.chunkSize)), "size": .int(Int64(record.size)),
        ]
        for (name, hex) in record.digests { attributes[name] = .string(hex) }
        return try LedgerSubject(id: record.id, attributes: attributes)
    }

    static func acquireDetails(_ record: ItemRecord, bundleID: String) -> [String: JSONValue] {
        var details: [String: JSONValue] = [
            "bundle": .string(bundleID), "item": .int(Int64(record.number)), "name": .string(record.originalName),
            "source": .object(record.source), "started": .string(record.acquisitionStart),
            "finished": .string(record.acquisitionEnd), "tool": .string(record.tool),
        ]
        if !record.badRanges.isEmpty { details["badRanges"] = .array(record.badRanges) }
        return details
    }

    private static func sealItem(_ input: HashInput, name: String, number: Int, writer: BundleWriter,
                                 linear: [DigestAlgorithm], options: SealOptions,
                                 journal: SealJournal) throws -> ItemRecord {
        let safeName = BagIt.safeFileName(name)
        let numberText = String(repeating: "0", count: max(0, 4 - String(number).count)) + String(number)
        let payload = "\(BundleLayout.payloadDirectory)/\(numberText)-\(safeName)" + (options.compress ? ".gz" : "")
        let leavesPath = "\(BundleLayout.leavesDirectory)/\(numberText).bin"
        let descriptor = try FileDescriptor.openForReading(input.path)
        defer { descriptor.close() }
        let size = try InputHasher.currentSize(of: descriptor, kind: input.kind)
        let identity = try SourceIdentity(descriptor: descriptor, kind: input.kind, size: size)
        var source = try SourceDescription.describe(descriptor)
        var resumed: SealJournal.Current?
        if let current = journal.snapshot.current, current.number == number {
            guard current.source.matches(identity) else {
                writer.keep()
                throw CustodyError.operational("\(input.path): changed since the interrupted seal (then "
                    + "\(current.source.text), now \(identity.text)); resume with the original source, or remove "
                    + "\(writer.workPath) and seal again")
            }
            resumed = current
            try journal.update { $0.current?.resumed += 1 }
        } else {
            let fresh = SealJournal.Current(number: number, id: Identifier.urn(), started: Timestamp.now().description,
                                            resumed: 0, durableChunks: 0, badRanges: [], source: identity)
            try journal.update { $0.current = fresh }
        }
        guard let current = journal.snapshot.current else {
            throw CustodyError.operational("\(journal.path): lost the item in progress")
        }
        let badSectors = BadSectorLog()
        let base: ChunkReader = FileChunkReader(descriptor: descriptor, size: size)
        let wrapped = options.wrapReader?(base) ?? base
        let sectorSize = source.logicalSectorSize ?? 512
        let reader: ChunkReader = input.kind == .blockDevice || options.tolerateFileReadErrors
            ? ResilientReader(wrapped, policy: ReadPolicy(retries: options.readRetries,
                                                          sectorSize: sectorSize),
                              log: badSectors, shouldStop: options.shouldStop)
            : wrapped
        let output: FileDescriptor
        if resumed != nil || FileSystem.exists(writer.absolute(payload)) {
            output = try writer.openPayloadForResume(payload)
        } else {
            output = try writer.createPayload(payload)
        }
        if resumed == nil { try output.truncate(to: 0) }
        let sink = DurableSink(output, syncChunks: options.syncChunks, syncSeconds: options.syncSeconds,
                               positioned: resumed == nil)
        // Bad ranges reach the journal before the chunk holding them reaches the payload; durable points after
        // each periodic sync.
        let journaledBadBytes = Mutex<UInt64>(0)
        sink.beforeWrite = {
            let bad = badSectors.badBytes
            guard journaledBadBytes.withLock({ $0 }) != bad else { return }
            try journal.update { $0.current?.badRanges = badSectors.ranges }
            journaledBadBytes.withLock { $0 = bad }
        }
        let leafLog = try LeafLog(path: SealJournal.leafLogPath(workPath: writer.workPath),
                                  valid: resumed == nil ? 0 : current.durableLeaves)
        sink.afterSync = { chunks in
            let leaves = try leafLog.flush()
            try journal.update {
                $0.current?.durableChunks = chunks
                $0.current?.durableLeaves = leaves
            }
        }
        let result: PackResult
        do {
            if options.compress {
                var packer = EvidencePacker(level: options.level, chunkSize: options.chunkSize, linearDigests: linear)
                packer.packedDigests = BundleLayout.payloadManifests
                packer.readers = options.readers
                packer.shouldStop = options.shouldStop
                if let report = options.progress { packer.progress = { report(input.path, $0) } }
                packer.leafObserver = { leafLog.append($0, $1) }
                if resumed != nil {
                    let written = UInt64(try output.status().st_size)
                    options.notice?("resuming item \(number) (\(name)) at \(written) bytes "
                        + "(verifying what was written)")
                    let prefix = try packer.verifyPrefix(of: output, knownLeaves: try leafLog.kept())
                    try leafLog.reset(to: prefix.resumePoint.content.leaves)
                    try sink.restart(at: prefix.validSize, chunks: prefix.chunkCount)
                    let offset = prefix.chunkCount * UInt64(options.chunkSize)
                    restore(current.badRanges, before: offset, into: badSectors, sectorSize: sectorSize)
                    journaledBadBytes.withLock { $0 = badSectors.badBytes }
                    var note = "item \(number): \(prefix.chunkCount) chunk(s) verified "
                        + "(\(prefix.validSize) packed bytes)"
                    if let reason = prefix.stopReason, prefix.validSize < prefix.fileSize {
                        note += "; cut \(prefix.fileSize - prefix.validSize) bytes from \(reason)"
                    }
                    options.notice?(note + "; packing from content byte \(offset)")
                    packer.resumePoint = prefix.resumePoint
                }
                result = try packer.pack(reader, to: sink)
                try sink.drain()
            } else {
                var start: ChunkPipeline.ResumePoint?
                if resumed != nil {
                    let written = UInt64(try output.status().st_size)
                    let chunks = min(current.durableChunks, written / UInt64(options.chunkSize))
                    options.notice?("resuming item \(number) (\(name)) at \(chunks * UInt64(options.chunkSize)) bytes "
                        + "(re-hashing what was written)")
                    start = try rehashRaw(output, chunks: chunks, linear: linear, options: options,
                                          knownLeaves: try leafLog.kept())
                    try leafLog.reset(to: start?.leaves ?? [])
                    try sink.restart(at: chunks * UInt64(options.chunkSize), chunks: chunks)
                    restore(current.badRanges, before: chunks * UInt64(options.chunkSize), into: badSectors,
                            sectorSize: sectorSize)
                    journaledBadBytes.withLock { $0 = badSectors.badBytes }
                }
                result = try copyRaw(reader, to: sink, linear: linear, options: options, input: input, start: start,
                                     leafLog: leafLog)
                try sink.drain()
            }
            try output.sync()
            output.close()
        } catch {
            let drained = (try? sink.drain()) != nil
            if drained && options.shouldStop?() == true && sink.positioned {
                // Keep the durable point exact for --resume (not when stopped while verifying the prefix).
                if (try? output.sync()) != nil, let leaves = try? leafLog.flush() {
                    try? journal.update {
                        $0.current?.durableChunks = sink.chunks
                        $0.current?.durableLeaves = leaves
                        $0.current?.badRanges = badSectors.ranges
                    }
                }
            }
            output.close()
            throw error
        }
        if input.kind == .regularFile, let size {
            let after = try InputHasher.currentSize(of: descriptor, kind: input.kind) ?? size
            if after != size || result.size != size {
                throw CustodyError.operational("\(input.path): changed size while being sealed (\(size) bytes at "
                    + "start, \(after) at end, \(result.size) read); seal it again once it is stable")
            }
        }
        source.size = result.size
        writer.recordPayload(payload, size: result.packedSize, digests: result.packedDigests)
        var leafBytes: [UInt8] = []
        leafBytes.reserveCapacity(result.leaves.count * 32)
        for leaf in result.leaves { leaf.withBytes { leafBytes.append(contentsOf: $0) } }
        try writer.writeTagFile(leavesPath, leafBytes)
        var digests: [String: String] = [:]
        for (algorithm, value) in result.digests { digests[algorithm.rawValue] = Hex.encode(value) }
        var record = ItemRecord(
            id: current.id, number: number, payloadPath: payload, encoding: options.compress ? .gzip : .raw,
            originalName: name, size: result.size, storedSize: result.packedSize, chunkSize: result.chunkSize,
            tree: result.treeRoot.hex, digests: digests, leavesPath: leavesPath,
            source: source.json.objectValue ?? [:], acquisitionStart: current.started,
            acquisitionEnd: Timestamp.now().description, tool: "custody \(CustodyVersion.string)",
            caseNumber: options.caseNumber ?? options.conditions.caseID, evidenceNumber: options.evidenceNumber,
            examiner: options.examiner, itemDescription: options.itemDescription, notes: options.notes,
            badRanges: badSectors.ranges.map(\.json))
        record.resumed = current.resumed
        let packedSize = result.packedSize
        let packedDigests = result.packedDigests
        try journal.update { state in
            state.completed.append(SealJournal.Completed(record: record, packedSize: packedSize,
                                                         packedDigests: packedDigests))
            state.current = nil
        }
        return record
    }

    /// Puts the journaled bad ranges below `offset` (the resume point) back into the log; ranges past it are
    /// met again when those chunks are read.
    private static func restore(_ ranges: [BadRange], before offset: UInt64, into log: BadSectorLog,
                                sectorSize: Int) {
        for range in ranges where range.offset < offset {
            let length = min(range.end, offset) - range.offset
            let sectors = max(1, (length + UInt64(sectorSize) - 1) / UInt64(sectorSize))
            log.recordBad(offset: range.offset, length: length, sectors: sectors)
        }
    }

    /// Re-hashes the first `chunks` chunks of a raw payload (the interrupted run's durable part), cuts the file
    /// there and returns the state to continue copying from.
    private static func rehashRaw(_ output: FileDescriptor, chunks: UInt64, linear: [DigestAlgorithm],
                                  options: SealOptions, knownLeaves: [Hash32]) throws -> ChunkPipeline.ResumePoint {
        let packedExtra = BundleLayout.payloadManifests.filter { !linear.contains($0) }
        var pipeline = ChunkPipeline(chunkSize: options.chunkSize, linearDigests: linear + packedExtra,
                                     keepLeaves: true, readers: max(options.readers, activeProcessorCount()))
        pipeline.shouldStop = options.shouldStop
        pipeline.knownLeaves = knownLeaves
        let limit = chunks * UInt64(options.chunkSize)
        let point = try pipeline.runToResumePoint(PrefixChunkReader(output, limit: limit), parallel: { _ in () },
                                                  ordered: nil)
        guard point.chunkCount == chunks else {
            throw CustodyError.operational("\(output.path): holds \(point.chunkCount) chunks, the journal "
                + "\(chunks); remove the partial seal and seal again")
        }
        return point
    }

    /// Copies content unchanged while computing the same digests as packing.
    private static func copyRaw(_ reader: ChunkReader, to sink: DurableSink, linear: [DigestAlgorithm],
                                options: SealOptions, input: HashInput, start: ChunkPipeline.ResumePoint?,
                                leafLog: LeafLog) throws -> PackResult {
        let packedExtra = BundleLayout.payloadManifests.filter { !linear.contains($0) }
        var pipeline = ChunkPipeline(chunkSize: options.chunkSize, linearDigests: linear + packedExtra,
                                     keepLeaves: true, readers: options.readers)
        pipeline.shouldStop = options.shouldStop
        pipeline.resumePoint = start
        pipeline.leafObserver = { leafLog.append($0, $1) }
        if let report = options.progress { pipeline.progress = { report(input.path, $0) } }
        let result = try pipeline.run(reader, parallel: { _ in () }, ordered: { chunk, _ in
            try sink.write(chunk.bytes)
        })
        var contentDigests: [DigestAlgorithm: [UInt8]] = [:]
        for algorithm in linear { contentDigests[algorithm] = result.digests[algorithm] }
        var stored: [DigestAlgorithm: [UInt8]] = [:]
        for algorithm in BundleLayout.payloadManifests { stored[algorithm] = result.digests[algorithm] }
        return PackResult(size: result.size, packedSize: result.size, chunkSize: result.chunkSize,
                          chunkCount: result.chunkCount, treeRoot: result.treeRoot ?? Merkle.emptyRoot,
                          leaves: result.leaves, digests: contentDigests, packedDigests: stored, storedChunks: 0,
                          zeroChunks: 0)
    }

    static func makeBagInfo(bundleID: String, key: SigningKey, records: [ItemRecord], options: SealOptions,
                            oxum: String) -> [(label: String, value: String)] {
        var fields: [(label: String, value: String)] = [
            ("Source-Organization", key.identity.agency),
            ("Contact-Name", options.examiner ?? key.identity.name),
            ("External-Identifier", bundleID),
            ("Bagging-Date", Timestamp.now().dateString),
            ("Payload-Oxum", oxum),
            ("Bag-Software-Agent", "custody \(CustodyVersion.string)"),
            ("Custody-Jurisdiction", key.identity.jurisdiction),
            ("Custody-Sealed-By", "\(key.identity.name) (key \(key.identity.keyIDHex))"),
            ("Custody-Item-Count", String(records.count)),
        ]
        if let caseNumber = options.caseNumber ?? options.conditions.caseID {
            fields.append(("Custody-Case", caseNumber))
        }
        if let evidence = options.evidenceNumber { fields.append(("Custody-Evidence-Number", evidence)) }
        if let legal = options.conditions.legalBasis { fields.append(("Custody-Legal-Basis", legal)) }
        if let description = options.itemDescription { fields.append(("External-Description", description)) }
        return fields
    }
}

/// A payload file being written: counts the writes (one per chunk), syncs the file every `syncChunks` writes or
/// `syncSeconds` and reports each durable point. Written only from a pipeline's ordered stage, through a
/// `DirectWriter` flushed before each sync; the periodic syncs run on a queue of their own (one at a time), so that
/// writing does not wait for the disk.
final class DurableSink: ByteSink, @unchecked Sendable {
    let output: FileDescriptor
    let syncChunks: UInt64
    let syncSeconds: Double
    /// Called before each write (journals new bad ranges first).
    var beforeWrite: (() throws -> Void)?
    /// Called after each periodic sync with the writes made durable.
    var afterSync: ((UInt64) throws -> Void)?
    /// Writes so far, including those of an interrupted run the sink continues.
    private(set) var chunks: UInt64 = 0
    /// False for a sink continuing an interrupted payload until `restart` has positioned it.
    private(set) var positioned: Bool
    private var sinceSync: UInt64 = 0
    private var lastSync = ContinuousClock.now
    private let syncQueue = DispatchQueue(label: "custody.seal.sync", qos: .userInitiated)
    private let syncState = Mutex<(inFlight: Bool, error: CustodyErrorBox?)>((false, nil))
    private var writer: DirectWriter?

    init(_ output: FileDescriptor, syncChunks: UInt64, syncSeconds: Double, positioned: Bool) {
        self.output = output
        self.positioned = positioned
        self.syncChunks = max(1, syncChunks)
        self.syncSeconds = syncSeconds
    }

    /// Cuts the file to `size` (what an interrupted run wrote and was verified), syncs it and appends from there.
    func restart(at size: UInt64, chunks: UInt64) throws {
        try output.truncate(to: size)
        try output.sync()
        _ = try output.seek(to: Int64(size))
        writer = DirectWriter(output, at: size)
        self.chunks = chunks
        positioned = true
        try afterSync?(chunks)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        try beforeWrite?()
        if let failure = syncState.withLock({ $0.error }) { throw failure.error }
        if writer == nil { writer = DirectWriter(output, at: try output.seek(to: 0, whence: SEEK_CUR)) }
        try writer!.write(bytes)
        chunks += 1
        sinceSync += 1
        let elapsed = ContinuousClock.now - lastSync
        guard sinceSync >= syncChunks || elapsed >= .milliseconds(Int64(syncSeconds * 1000)) else { return }
        let start = syncState.withLock { state -> Bool in
            if state.inFlight { return false }
            state.inFlight = true
            return true
        }
        guard start else { return }
        do { try writer!.flush() } catch {
            syncState.withLock { $0.inFlight = false }
            throw error
        }
        sinceSync = 0
        lastSync = .now
        let durable = chunks
        syncQueue.async {
            do {
                try self.output.sync()
                try self.afterSync?(durable)
                self.syncState.withLock { $0.inFlight = false }
            } catch {
                self.syncState.withLock { $0 = (false, CustodyErrorBox(error)) }
            }
        }
    }

    /// Puts every byte written into the file, waits for the sync in flight, if any, and rethrows a failure.
    func drain() throws {
        syncQueue.sync {}
        try writer?.finish()
        if let failure = syncState.withLock({ $0.error }) { throw failure.error }
    }
}
