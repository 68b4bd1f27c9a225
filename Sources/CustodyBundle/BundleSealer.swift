import CustodyAge
import CustodyBase
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger

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
        var problems: [SealError] = []
        var notes: [String] = []
        var result: [(HashInput, String)] = []
        for path in paths {
            let found = InputHasher.enumerate([path], recursive: true, followSymlinks: false) { message, isError in
                if isError { problems.append(.inputRefused(problem: message)) } else { notes.append(message) }
            }
            for input in found {
                if input.kind == .stream {
                    problems.append(.notFileOrDevice(path: input.path))
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
        if let first = problems.first { throw first }
        guard !result.isEmpty else { throw SealError.nothingToSeal(paths: paths) }
        skipped += notes
        return result
    }

    /// Seals `paths` into a new bundle at `out`. With `resume`, continues the interrupted seal of `out` (its
    /// work directory and journal, SPEC.md section 7.5): `paths` and the output-shaping options must be the
    /// interrupted run's (see `SealParameters.apply(to:)` to take them from the journal).
    public static func seal(paths: [String], out: String, ledger: Ledger, key: SigningKey,
                            options: SealOptions, resume: Bool = false) throws -> SealResult {
        guard key.identity.publicKey == ledger.owner.publicKey else {
            throw SealError.keyDoesNotOwnLedger(key: key.identity.name, owner: ledger.owner.name)
        }
        let writer = try BundleWriter(out: out, resume: resume)
        var skipped: [String] = []
        let inputs = try items(paths, skipped: &skipped)
        guard inputs.count <= BundleSealer.maximumItems else {
            throw SealError.tooManyItems(count: inputs.count, maximum: BundleSealer.maximumItems)
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
                let acquisition = SealItemAcquisition(input: item.input, name: item.name, number: number,
                                                      writer: writer, journal: journal, options: options,
                                                      linear: linear)
                records.append(try acquisition.acquire())
            }
        } catch {
            if options.shouldStop?() == true {
                writer.keep()
                throw SealError.interrupted(finalPath: writer.finalPath, workPath: writer.workPath)
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
        let checkpointSize = try writeLedgerFiles(entries, ledger: ledger, key: key, writer: writer)
        let bagInfo = makeBagInfo(bundleID: bundleID, key: key, records: records, options: options,
                                  oxum: writer.payloadOxum)
        let tagManifest = try writer.writeManifests(bagInfo: bagInfo)
        let statement = SealStatement(
            bundleID: bundleID, tagManifestDigest: tagManifest.digest,
            items: records.map { ($0.number, $0.id, $0.chunkSize, $0.tree, $0.size) })
        let note = try SignedNote.sign(text: statement.text, name: key.identity.name, key: key.privateKey)
        try writer.finish(seal: note.bytes)
        return SealResult(bundleID: bundleID, path: writer.finalPath, items: records,
                          entries: entries.map(\.sequence), checkpointSize: checkpointSize, skipped: skipped)
    }

    /// The parameters (inputs and output-shaping options) the interrupted seal of `out` was started with, read
    /// from its journal: for `custody seal --resume --out OUT` without INPUTs.
    public static func interruptedParameters(out: String) throws -> SealParameters {
        let work = BundleWriter.workPath(for: out).work
        guard FileSystem.exists(work) else {
            throw SealError.noInterruptedSeal(finalPath: out, workPath: work)
        }
        return try SealJournal.load(workPath: work).snapshot.parameters
    }
}
