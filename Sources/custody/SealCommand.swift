import ArgumentParser
import CustodyKit

struct SealCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seal",
        abstract: "Seal files, directories or block devices into a signed BagIt evidence bundle.",
        discussion: """
            Each input becomes an evidence item: packed (custody gzip, readable with gzip -dc) or stored raw with \
            --no-compress, its tree digest and linear digests computed in the same read. acquire and seal entries \
            are appended to the ledger, a checkpoint is signed, and the bundle carries the ledger excerpt, its \
            inclusion proofs, the checkpoint, the conditions and the seal signed by KEY (the ledger's owner). \
            The bundle appears at --out only when complete; it is built in .NAME.partial beside it. An interrupted \
            seal (Ctrl-C, SIGTERM, kill -9, power loss) keeps that directory: run the same command with --resume \
            (or only --resume, --out, --ledger and --key: the inputs and options are then the interrupted run's) \
            to continue from its last durable point, re-reading and verifying what was already written.
            """
    )

    @Option(help: "The ledger: a file or a postgres:// URL (its owner's key must be --key).") var ledger: String
    @OptionGroup var signing: KeyOptions<SealingOfficerKey>
    @Option(help: "The bundle directory to create (must not exist).") var out: String
    @Option(name: .customLong("case"), help: "Case number or identifier.") var caseNumber: String?
    @Option(name: .customLong("evidence-number"), help: "Evidence number.") var evidenceNumber: String?
    @Option(help: "Examiner's name.") var examiner: String?
    @Option(help: "Description of the evidence.") var description: String?
    @Option(help: "Notes recorded with each item.") var notes: String?
    @Option(name: .customLong("legal-basis"), help: "Legal basis (overrides the conditions file's).")
    var legalBasis: String?
    @Option(help: "Conditions JSON: legalBasis, case, useLimitations, personalData (see SPEC.md).")
    var conditions: String?
    @Flag(name: .customLong("no-compress"), help: "Store content raw instead of custody gzip.") var noCompress = false
    @OptionGroup var levelOption: LevelOption<CompressionLevelHelp>
    @Option(name: [.customShort("a"), .customLong("algorithms")],
            help: "Linear digests of each item besides sha256: md5, sha1, sha512 (comma-separated).")
    var algorithms: String?
    @Flag(name: .customLong("md5-sha1"),
          help: "Also record MD5 and SHA-1 (for hash sets such as NSRL, Project VIC, CAID; about 2x the hashing CPU).")
    var md5AndSHA1 = false
    @OptionGroup var chunk: ChunkSizeOption
    @OptionGroup var readersOption: ReadersOption
    /// `--retries` as seal describes it.
    enum RetriesHelp: OptionHelpText {
        static let text: ArgumentHelp =
            "Read retries before an unreadable range of a device is narrowed to sectors and zero-filled."
    }

    @OptionGroup var retriesOption: RetriesOption<RetriesHelp>
    @Flag(name: .customLong("tolerate-read-errors"),
          help: "Zero-fill and record unreadable ranges of image files too (devices always are).")
    var tolerateReadErrors = false
    @Flag(help: "Continue the interrupted seal of --out (same INPUTs and options, or none to reuse the journal's).")
    var resume = false
    @Option(name: .customLong("read-order"),
            help: "How a folder's entries are read: name (default), inode or physical (spinning disks).")
    var readOrder: String = "name"
    @Flag(help: "With a folder: print one line per item recorded (number, kind, size, path) after the summary.")
    var list = false
    @Flag(name: .long, help: "Print the result as JSON.") var json = false
    @OptionGroup var quietOption: QuietOption
    @Argument(help: "Files, directories or block devices to seal.") var inputs: [String] = []

    func validate() throws {
        if inputs.isEmpty && !resume { throw ValidationError("name at least one INPUT to seal") }
        guard ["name", "inode", "physical"].contains(readOrder) else {
            throw ValidationError("--read-order must be name, inode or physical, not '\(readOrder)'")
        }
        _ = try linearDigests()
    }

    func linearDigests() throws -> [DigestAlgorithm] {
        var chosen: [DigestAlgorithm] = [.sha256]
        if let algorithms { chosen = try HashAlgorithm.parseList(algorithms).compactMap(\.linear) }
        if md5AndSHA1 {
            for algorithm in [DigestAlgorithm.md5, .sha1] where !chosen.contains(algorithm) {
                chosen.append(algorithm)
            }
        }
        return chosen.isEmpty ? [.sha256] : chosen
    }

    func run() throws {
        var options = SealOptions()
        options.chunkSize = try chunk.chunkSize
        options.level = levelOption.level
        options.compress = !noCompress
        options.linearDigests = try linearDigests()
        options.readers = readersOption.readers
        options.readRetries = retriesOption.retries
        options.tolerateFileReadErrors = tolerateReadErrors
        options.readOrder = ["inode": .inode, "physical": .physical][readOrder] ?? .name
        options.caseNumber = caseNumber
        options.evidenceNumber = evidenceNumber
        options.examiner = examiner
        options.itemDescription = description
        options.notes = notes
        if let conditions { options.conditions = try Conditions.load(conditions) }
        if let legalBasis { options.conditions.legalBasis = legalBasis }
        if let caseNumber, options.conditions.caseID == nil { options.conditions.caseID = caseNumber }
        var paths = inputs
        if resume && inputs.isEmpty {
            let recorded: SealParameters
            do {
                recorded = try BundleSealer.interruptedParameters(out: out)
            } catch let error as SealError {
                throw Self.worded(error)
            }
            try recorded.apply(to: &options)
            paths = recorded.inputs
        }
        // Inputs, output and ledger are checked before the key's passphrase is asked for.
        let store = try LedgerLocation.open(ledger)
        let outName = out.split(separator: "/").last.map(String.init) ?? ""
        if !resume, ![".", ".."].contains(outName), (try? FileSystem.status(out, followLinks: false)) != nil {
            throw Self.worded(.bundleExists(path: out))
        }
        let collection = CollectionSealer.isCollection(paths)
        if collection {
            if !resume { for path in paths { try InputCheck.requireExisting(path, "") } }
        } else if !resume {
            do {
                var skipped: [String] = []
                _ = try BundleSealer.items(paths, skipped: &skipped)
            } catch let error as SealError {
                throw Self.worded(error)
            }
        }
        let totals = quietOption.quiet || collection ? nil : ProgressReporter.totals(of: paths)
        let display = ProgressReporter(label: "sealing", totalBytes: totals?.bytes, totalFiles: totals?.files,
                                       quiet: quietOption.quiet)
        options.progress = { path, done in display.item(path, bytesDone: done) }
        let quiet = quietOption.quiet
        options.notice = { text in
            if !quiet { Terminal.error(text) }
        }
        // Keys and passphrases are read before the stop handler goes in: until then SIGINT and SIGTERM end the
        // command at once, even while an open waits on a FIFO named as a key or passphrase file.
        let signer = try signing.signingKey()
        try InterruptFlag.install()
        defer { InterruptFlag.uninstall() }
        options.shouldStop = InterruptFlag.shouldStop
        if collection {
            try sealCollection(paths, options: options, signer: signer, store: store)
            return
        }
        let result: SealResult
        do {
            result = try BundleSealer.seal(paths: paths, out: out, ledger: store, key: signer, options: options,
                                           resume: resume)
        } catch let error as SealError {
            throw Self.worded(error)
        }
        display.finish()
        for note in result.skipped { Terminal.error("warning: \(note) (not sealed; recorded in the seal entry)") }
        if json {
            Terminal.line(JSONValue.object([
                "bundle": .string(result.bundleID), "path": .string(result.path),
                "items": .array(result.items.map(\.json)),
                "ledgerEntries": .array(result.entries.map { .int(Int64($0)) }),
                "checkpointSize": .int(Int64(result.checkpointSize)),
            ]).canonicalString)
            return
        }
        Terminal.line("sealed \(result.path): bundle \(result.bundleID)")
        for item in result.items {
            if !item.badRanges.isEmpty {
                Terminal.error("\(BagIt.printable(item.originalName)): \(item.badRanges.count) unreadable range(s) "
                    + "zero-filled; recorded in the item metadata and the ledger")
            }
            Terminal.line("  item \(item.number): \(BagIt.printable(item.originalName)) "
                + "\(ByteSize.describe(item.size)) -> "
                + "\(item.payloadPath) (\(ByteSize.describe(item.storedSize)))")
            Terminal.line("    \(TreeChunkSize.digestName(item.chunkSize)) \(item.tree)")
            for (name, hex) in item.digests.sorted(by: { $0.key < $1.key }) {
                Terminal.line("    \(name.uppercased()) \(hex)")
            }
        }
        Terminal.line("  ledger entries \(result.entries.map(String.init).joined(separator: ", ")); "
            + "checkpoint at size \(result.checkpointSize)")
    }

    /// Seals a collection (any INPUT a directory): a summary, not a line per item; the items that could not be
    /// acquired are listed on stderr (at most 100) and all in `--json`.
    func sealCollection(_ paths: [String], options: SealOptions, signer: SigningKey, store: Ledger) throws {
        let display = ProgressReporter(label: "sealing", quiet: quietOption.quiet)
        let result: CollectionSealResult
        do {
            result = try CollectionSealer.seal(paths: paths, out: out, ledger: store, key: signer, options: options,
                                               resume: resume, progress: quietOption.quiet ? nil : { state in
                if let totals = state.totals { display.setTotals(bytes: totals.bytes, files: totals.files) }
                display.set(filesDone: state.files, bytesDone: state.bytes, current: state.current)
            })
        } catch let error as SealError {
            throw Self.worded(error)
        }
        display.finish()
        for failure in result.failures.prefix(100) {
            Terminal.error("\(failure.path): \(failure.error)")
        }
        if result.failureCount > 100 {
            Terminal.error("... and \(result.failureCount - 100) more items recorded with an error (see --json or "
                + "custody/items.jsonl)")
        }
        if json {
            Terminal.line(JSONValue.object([
                "bundle": .string(result.bundleID), "path": .string(result.path),
                "items": .int(Int64(result.items)), "files": .int(Int64(result.files)),
                "bytes": .int(Int64(result.bytes)), "storedBytes": .int(Int64(result.storedBytes)),
                "itemsRoot": .string(result.itemsRoot), "failureCount": .int(Int64(result.failureCount)),
                "failures": .array(result.failures.map { .object(["path": .string($0.path), "error": .string($0.error)]) }),
                "ledgerEntries": .array(result.entries.map { .int(Int64($0)) }),
                "checkpointSize": .int(Int64(result.checkpointSize)),
            ]).canonicalString)
            return
        }
        Terminal.line("sealed \(result.path): bundle \(result.bundleID)")
        Terminal.line("  \(result.items) items: \(result.files) files, \(ByteSize.describe(result.bytes)) of content -> "
            + "\(ByteSize.describe(result.storedBytes)) stored"
            + (result.failureCount > 0 ? "; \(result.failureCount) recorded with an error" : ""))
        Terminal.line("  items root \(result.itemsRoot)")
        Terminal.line("  ledger entries \(result.entries.map(String.init).joined(separator: ", ")); "
            + "checkpoint at size \(result.checkpointSize)")
        if list { try Self.listItems(of: result.path) }
    }

    /// One line per record of the bundle at `bundle`: `N KIND SIZE PATH` (`-` for no content), `! ERROR` after it
    /// when the item was recorded with one; read from the records as a stream.
    static func listItems(of bundle: String) throws {
        var reader = try ItemRecordsReader(path: bundle + "/" + BundleLayout.itemRecords)
        defer { reader.close() }
        while let record = try reader.next() {
            let size = record.content.map { String($0.size) } ?? "-"
            var line = "  \(record.number) \(record.kind.rawValue) \(size) \(record.displayPath)"
            if let error = record.error { line += "  ! \(error)" }
            Terminal.line(line)
        }
    }

    /// The seal's errors as the command line words them, naming the flags that answer them (`--out`, `--resume`,
    /// the options a resume must repeat); a stop on a signal names the signal.
    static func worded(_ error: SealError) -> Error {
        switch error {
        case .interrupted(let finalPath, let workPath):
            let what = "the partial seal of \(finalPath) is kept in \(workPath); run the same command with --resume "
                + "to continue"
            if InterruptFlag.isSet { return InterruptFlag.stoppedError(what: what) }
            return CommandError.operational("interrupted: " + what)
        case .noInterruptedSeal(let finalPath, let workPath):
            return CommandError.operational("no interrupted seal of \(finalPath) to resume: \(workPath) does not "
                + "exist (seal without --resume)")
        case .bundlePathUnnamed(let out):
            return CommandError.operational("--out '\(out)': name the new bundle folder (for example case-42)")
        case .bundleExists(let path):
            return CommandError.operational("\(path): already exists; choose a new --out path")
        case .interruptedSealExists(let finalPath, let workPath):
            return CommandError.operational("an interrupted seal of \(finalPath) exists at \(workPath): resume it "
                + "with --resume, or remove it")
        case .parametersDiffer(let workPath, let difference):
            return CommandError.operational("cannot resume the seal in \(workPath): "
                + "\(option(for: difference.parameter)) differs: the interrupted seal used \(difference.recorded), "
                + "this command gives \(difference.given) (resume with the same arguments, or with only --resume, "
                + "--out, --ledger and --key)")
        default:
            return error
        }
    }

    /// The argument or option that sets a seal parameter.
    static func option(for parameter: SealParameter) -> String {
        switch parameter {
        case .inputs: return "INPUT"
        case .chunkSize: return "--chunk-size"
        case .compress: return "--no-compress"
        case .level: return "--level"
        case .linearDigests: return "--algorithms"
        case .caseNumber: return "--case"
        case .evidenceNumber: return "--evidence-number"
        case .examiner: return "--examiner"
        case .description: return "--description"
        case .notes: return "--notes"
        case .conditions: return "--conditions/--legal-basis"
        }
    }
}
