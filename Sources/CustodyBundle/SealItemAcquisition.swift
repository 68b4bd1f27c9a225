import CustodyBase
import CustodyCrypto
import CustodyEngine
import CustodyIO
import Synchronization

/// One item's acquisition inside a seal: opens the evidence, reads and digests it, packs it (or stores it raw)
/// through a durable sink into the bag's payload, and journals its durable points. It owns the item's resume
/// state: an item the journal shows in progress continues from its last durable point (SPEC.md section 7.5).
struct SealItemAcquisition {
    /// The input as listed.
    let input: HashInput
    /// The item's name in the bundle.
    let name: String
    /// The item's number (1-based).
    let number: Int
    /// The bag being written.
    let writer: BundleWriter
    /// The seal's journal.
    let journal: SealJournal
    /// The seal's options.
    let options: SealOptions
    /// The linear digests of the content (the journal's, sorted, sha256 included).
    let linear: [DigestAlgorithm]

    /// The payload file, relative to the bag: `data/NNNN-NAME` (`.gz` when packed).
    var payloadPath: String {
        "\(BundleLayout.payloadDirectory)/\(numberText)-\(BagIt.safeFileName(name))" + (options.compress ? ".gz" : "")
    }

    /// The leaf file, relative to the bag: `custody/leaves/NNNN.bin`.
    var leavesPath: String { "\(BundleLayout.leavesDirectory)/\(numberText).bin" }

    private var numberText: String {
        String(repeating: "0", count: max(0, 4 - String(number).count)) + String(number)
    }

    /// Acquires the item and returns its record, journaled as completed.
    func acquire() throws -> ItemRecord {
        let payload = payloadPath
        let source = try EvidenceSource.open(input.path)
        defer { source.close() }
        let resuming = try enterJournal(SourceIdentity(source))
        guard let current = journal.snapshot.current else {
            throw SealError.lostItemInProgress(journalPath: journal.path)
        }
        let sectorSize = source.description.logicalSectorSize ?? 512
        let badSectors = JournaledBadSectors(journal: journal)
        let base: ChunkReader = source.plainReader()
        let wrapped = options.wrapReader?(base) ?? base
        let reader: ChunkReader = source.kind == .blockDevice || options.tolerateFileReadErrors
            ? source.resilientReader(over: wrapped, policy: ReadPolicy(retries: options.readRetries,
                                                                      sectorSize: sectorSize),
                                     log: badSectors.log, shouldStop: options.shouldStop)
            : wrapped
        let output: FileDescriptor
        if resuming || FileSystem.exists(writer.absolute(payload)) {
            output = try writer.openPayloadForResume(payload)
        } else {
            output = try writer.createPayload(payload)
        }
        if !resuming { try output.truncate(to: 0) }
        let sink = DurableSink(output, syncChunks: options.syncChunks, syncSeconds: options.syncSeconds,
                               positioned: !resuming)
        // Bad ranges reach the journal before the chunk holding them reaches the payload; durable points after
        // each periodic sync.
        sink.beforeWrite = { try badSectors.journalNewRanges() }
        let leafLog = try LeafLog(path: SealJournal.leafLogPath(workPath: writer.workPath),
                                  valid: resuming ? current.durableLeaves : 0)
        // Captures the journal, not the acquisition: work still finishing on other threads after an interruption
        // must not keep the bag's writer (and its lock on the work directory) alive after the seal returns.
        let journal = self.journal
        sink.afterSync = { chunks in
            let leaves = try leafLog.flush()
            try journal.update {
                $0.current?.durableChunks = chunks
                $0.current?.durableLeaves = leaves
            }
        }
        let state = ResumeState(current: current, output: output, sink: sink, leafLog: leafLog,
                                badSectors: badSectors, sectorSize: sectorSize)
        let result: PackResult
        do {
            if options.compress {
                result = try pack(reader, state: state, resuming: resuming)
            } else {
                result = try copy(reader, state: state, resuming: resuming)
            }
            try sink.drain()
            try output.sync()
            output.close()
        } catch {
            let drained = (try? sink.drain()) != nil
            if drained && options.shouldStop?() == true && sink.positioned {
                // Keep the durable point exact for a resume (not when stopped while verifying the prefix).
                if (try? output.sync()) != nil, let leaves = try? leafLog.flush() {
                    try? journal.update {
                        $0.current?.durableChunks = sink.chunks
                        $0.current?.durableLeaves = leaves
                        $0.current?.badRanges = badSectors.log.ranges
                    }
                }
            }
            output.close()
            throw error
        }
        if let change = try source.changeDuringRead(read: result.size) {
            if let sizeChange = change.sizeChange { throw SealError.changedSize(path: input.path, sizeChange) }
            throw SealError.changedWhileRead(path: input.path, change)
        }
        return try complete(result, current: current, source: source, badRanges: badSectors.log.ranges)
    }

    /// Journals the item as started, or as resumed when the journal shows it in progress (refusing a source that
    /// changed since); returns whether it resumes.
    private func enterJournal(_ identity: SourceIdentity) throws -> Bool {
        if let current = journal.snapshot.current, current.number == number {
            guard current.source.matches(identity) else {
                writer.keep()
                throw SealError.sourceChanged(path: input.path, recorded: current.source.text, now: identity.text,
                                              workPath: writer.workPath)
            }
            try journal.update { $0.current?.resumed += 1 }
            return true
        }
        let fresh = SealJournal.Current(number: number, id: Identifier.urn(), started: Timestamp.now().description,
                                        resumed: 0, durableChunks: 0, badRanges: [], source: identity)
        try journal.update { $0.current = fresh }
        return false
    }

    /// What packing or copying the item works with, and what a resume restores.
    struct ResumeState {
        /// The item in progress as the journal holds it.
        let current: SealJournal.Current
        /// The payload file.
        let output: FileDescriptor
        /// The payload's durable sink.
        let sink: DurableSink
        /// The leaf hashes written so far.
        let leafLog: LeafLog
        /// The unreadable ranges met, and those journaled.
        let badSectors: JournaledBadSectors
        /// The granularity bad ranges are counted in.
        let sectorSize: Int
    }

    /// Packs the item (custody gzip), continuing after the verified prefix of an interrupted run's payload.
    private func pack(_ reader: ChunkReader, state: ResumeState, resuming: Bool) throws -> PackResult {
        var packer = EvidencePacker(level: options.level, chunkSize: options.chunkSize, linearDigests: linear)
        packer.packedDigests = BundleLayout.payloadManifests
        packer.readers = options.readers
        packer.shouldStop = options.shouldStop
        if let report = options.progress {
            let path = input.path
            packer.progress = { report(path, $0) }
        }
        let leafLog = state.leafLog
        packer.leafObserver = { leafLog.append($0, $1) }
        if resuming {
            let written = UInt64(try state.output.status().st_size)
            options.notice?("resuming item \(number) (\(name)) at \(written) bytes (verifying what was written)")
            let prefix = try packer.verifyPrefix(of: state.output, knownLeaves: try leafLog.kept())
            try leafLog.reset(to: prefix.resumePoint.content.leaves)
            try state.sink.restart(at: prefix.validSize, chunks: prefix.chunkCount)
            let offset = prefix.chunkCount * UInt64(options.chunkSize)
            state.badSectors.restore(state.current.badRanges, before: offset, sectorSize: state.sectorSize)
            var note = "item \(number): \(prefix.chunkCount) chunk(s) verified (\(prefix.validSize) packed bytes)"
            if let reason = prefix.stopReason, prefix.validSize < prefix.fileSize {
                note += "; cut \(prefix.fileSize - prefix.validSize) bytes from \(reason)"
            }
            options.notice?(note + "; packing from content byte \(offset)")
            packer.resumePoint = prefix.resumePoint
        }
        return try packer.pack(reader, to: state.sink)
    }

    /// Stores the item raw, continuing after the journaled durable chunks of an interrupted run's payload.
    private func copy(_ reader: ChunkReader, state: ResumeState, resuming: Bool) throws -> PackResult {
        let copier = SealRawCopy(chunkSize: options.chunkSize, linear: linear, readers: options.readers,
                                 shouldStop: options.shouldStop)
        var start: ChunkPipeline.ResumePoint?
        if resuming {
            let written = UInt64(try state.output.status().st_size)
            let chunks = min(state.current.durableChunks, written / UInt64(options.chunkSize))
            options.notice?("resuming item \(number) (\(name)) at \(chunks * UInt64(options.chunkSize)) bytes "
                + "(re-hashing what was written)")
            start = try copier.rehash(state.output, chunks: chunks, knownLeaves: try state.leafLog.kept())
            try state.leafLog.reset(to: start?.leaves ?? [])
            try state.sink.restart(at: chunks * UInt64(options.chunkSize), chunks: chunks)
            state.badSectors.restore(state.current.badRanges, before: chunks * UInt64(options.chunkSize),
                                     sectorSize: state.sectorSize)
        }
        var progress: (@Sendable (UInt64) -> Void)?
        if let report = options.progress {
            let path = input.path
            progress = { report(path, $0) }
        }
        return try copier.copy(reader, to: state.sink, start: start, leafLog: state.leafLog, progress: progress)
    }

    /// Records the acquired item: its leaves as a tag file, its payload in the bag, its record in the journal.
    private func complete(_ result: PackResult, current: SealJournal.Current, source: EvidenceSource,
                          badRanges: [BadRange]) throws -> ItemRecord {
        var description = source.description
        description.size = result.size
        writer.recordPayload(payloadPath, size: result.packedSize, digests: result.packedDigests)
        var leafBytes: [UInt8] = []
        leafBytes.reserveCapacity(result.leaves.count * 32)
        for leaf in result.leaves { leaf.withBytes { leafBytes.append(contentsOf: $0) } }
        try writer.writeTagFile(leavesPath, leafBytes)
        var digests: [String: String] = [:]
        for (algorithm, value) in result.digests { digests[algorithm.rawValue] = Hex.encode(value) }
        var record = ItemRecord(
            id: current.id, number: number, payloadPath: payloadPath, encoding: options.compress ? .gzip : .raw,
            originalName: name, size: result.size, storedSize: result.packedSize, chunkSize: result.chunkSize,
            tree: result.treeRoot.hex, digests: digests, leavesPath: leavesPath,
            source: description.json.objectValue ?? [:], acquisitionStart: current.started,
            acquisitionEnd: Timestamp.now().description, tool: "custody \(CustodyVersion.string)",
            caseNumber: options.caseNumber ?? options.conditions.caseID, evidenceNumber: options.evidenceNumber,
            examiner: options.examiner, itemDescription: options.itemDescription, notes: options.notes,
            badRanges: badRanges.map(\.json))
        record.resumed = current.resumed
        let packedSize = result.packedSize
        let packedDigests = result.packedDigests
        let completed = record
        try journal.update { state in
            state.completed.append(SealJournal.Completed(record: completed, packedSize: packedSize,
                                                         packedDigests: packedDigests))
            state.current = nil
        }
        return record
    }
}

/// An item's unreadable ranges (the reader's log) and how many of their bytes the journal holds: new ranges
/// reach the journal before the chunk holding them reaches the payload.
final class JournaledBadSectors: Sendable {
    /// The log the resilient reader records into.
    let log = BadSectorLog()
    private let journal: SealJournal
    private let journaledBytes = Mutex<UInt64>(0)

    /// Ranges journaled into `journal`'s item in progress.
    init(journal: SealJournal) {
        self.journal = journal
    }

    /// Journals the ranges when the log holds bytes the journal does not.
    func journalNewRanges() throws {
        let bad = log.badBytes
        guard journaledBytes.withLock({ $0 }) != bad else { return }
        try journal.update { $0.current?.badRanges = self.log.ranges }
        journaledBytes.withLock { $0 = bad }
    }

    /// Puts the journaled ranges below `offset` (the resume point) back into the log; ranges past it are met
    /// again when those chunks are read.
    func restore(_ ranges: [BadRange], before offset: UInt64, sectorSize: Int) {
        for range in ranges where range.offset < offset {
            let length = min(range.end, offset) - range.offset
            let sectors = max(1, (length + UInt64(sectorSize) - 1) / UInt64(sectorSize))
            log.recordBad(offset: range.offset, length: length, sectors: sectors)
        }
        journaledBytes.withLock { $0 = log.badBytes }
    }
}
