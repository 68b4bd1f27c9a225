import ArgumentParser
import CustodyKit
import CustodyPostgres

#if canImport(Glibc)
import Glibc
#endif

/// `custody export case|dfxml BUNDLE`: the bundle's items and custody history for other tools.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a bundle's items and custody history as CASE/UCO JSON-LD or DFXML, or its files' digests as "
            + "a hashdeep or sha256sum list.",
        discussion: """
            The bundle is verified first (as custody verify; --fast skips re-hashing content). A bundle that \
            fails verification is still exported, marked as failed, with a warning on stderr and exit status 1; \
            --no-verify exports without acting on verification (exit 0, marked "not performed"). Exit 2 when the \
            bundle cannot be read or the output cannot be written.
            """,
        subcommands: [ExportCaseCommand.self, ExportDFXMLCommand.self, ExportHashdeepCommand.self,
                      ExportSHA256SumCommand.self]
    )
}

/// Options shared by the export subcommands.
struct ExportOptions: ParsableArguments {
    @Argument(help: "The bundle directory.") var bundle: String
    @Option(help: "Write to FILE (atomically; an existing one only with --force) instead of standard output.")
    var out: String?
    @OptionGroup var forceOption: ForceOption
    @Option(help: "Trust store of agencies' keys to verify the signers against.") var trust: String?
    @Flag(help: "Skip only the decompression and re-hashing of item content.") var fast = false
    @Flag(name: .customLong("no-verify"), help: "Export without acting on verification (exit 0 even if it fails).")
    var noVerify = false
    @OptionGroup var history: HistoryOptions
    @OptionGroup var quietOption: QuietOption

    /// Reads and verifies the bundle and the extra history; throws (exit 2) when it is not a bundle directory at
    /// all or a ledger or receipt cannot be read.
    func load() throws -> (report: VerificationReport, summary: BundleSummary, history: CustodyHistory) {
        try BundleInput.requireDirectory(bundle)
        if let out {
            try ReportOutput.requireOutside(bundle, output: out)
            try InputCheck.requireNew(out, "--out", force: forceOption.force)
        }
        let store = try trust.map { try TrustStore.load($0) }
        var (report, summary) = BundleInput.verify(bundle, trust: store, fast: fast || noVerify,
                                                   quiet: quietOption.quiet)
        let story = try history.gather(summary: summary, report: &report, trust: store)
        return (report, summary, story)
    }

    /// Writes an export as a stream (a collection bundle's records are read one at a time) to `--out` (a temporary
    /// file renamed into place only when complete) or stdout. Records that cannot all be read again, or differ from
    /// those verified, abort the export (exit 2, no file) unless the verification already failed (then what was
    /// read is exported, marked as failed, and the reason is a second warning).
    func stream(report: VerificationReport, what: String,
                _ body: (StreamedText) throws -> CollectionRecordStream.Outcome) throws {
        let target = try OutputTarget(path: out ?? "-", overwrite: true)
        let outcome: CollectionRecordStream.Outcome
        do {
            outcome = try body(StreamedText(target.sink))
            if let problem = outcome.problem, noVerify || report.passed {
                throw CommandError.operational("\(bundle): \(problem); \(what) not exported "
                    + "(\(target.stoppedOutcome))")
            }
            try target.commit()
        } catch {
            target.discard()
            throw error
        }
        if let problem = outcome.problem {
            Terminal.error("warning: \(bundle): \(problem): \(what) holds the \(outcome.records) records read "
                + "before it")
        }
        if !noVerify, !report.passed {
            Terminal.error("warning: \(bundle) FAILED verification (\(BundleInput.failureSummary(report))); "
                + "\(what) exported anyway and marked as failed: run custody verify \(bundle) for the details")
            throw ExitCode(ExitStatus.verificationFailed.rawValue)
        }
    }

    func verification(_ report: VerificationReport) -> CaseExport.Verification {
        noVerify ? .notPerformed : report.passed ? .passed : .failed
    }

    /// Writes the export, then warns and exits 1 when verification failed (unless --no-verify).
    func finish(_ text: String, report: VerificationReport, what: String) throws {
        if let out {
            try FileSystem.writeAtomically(out, Array(text.utf8))
        } else {
            try FileDescriptor(rawValue: 1, path: "stdout").writeAll(Array(text.utf8))
        }
        if !noVerify, !report.passed {
            Terminal.error("warning: \(bundle) FAILED verification (\(BundleInput.failureSummary(report))); "
                + "\(what) exported anyway and marked as failed: run custody verify \(bundle) for the details")
            throw ExitCode(ExitStatus.verificationFailed.rawValue)
        }
    }
}

struct ExportCaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "case",
        abstract: "Items, digests and custody history as CASE 1.4 / UCO 1.4 JSON-LD (caseontology.org).",
        discussion: """
            Each item is a uco-observable:File with a FileFacet and a ContentDataFacet carrying its uco-types:Hash \
            values; each ledger entry a case-investigation:InvestigativeAction with performer, location, objects, \
            start time and a case-investigation:ProvenanceRecord as result. IRIs end in name-based UUIDs, so the \
            same bundle always exports the same graph. With --ledger and --receipt, the entries about the bundle in \
            local ledgers and the receivers' signed receipts are exported as actions too, each marked with where \
            it was read and whether it verified. Check it with case_validate (PyPI case-utils).
            """
    )

    @OptionGroup var options: ExportOptions

    func run() throws {
        let (report, summary, history) = try options.load()
        if summary.collection != nil {
            return try options.stream(report: report, what: "the CASE graph") { out in
                try CaseExport.writeCollection(bundle: options.bundle, summary: summary,
                                               verification: options.verification(report), history: history, to: out)
            }
        }
        let text = CaseExport.text(summary: summary, verification: options.verification(report), history: history)
        try options.finish(text, report: report, what: "the CASE graph")
    }
}

struct ExportDFXMLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dfxml",
        abstract: "Items and digests as DFXML, the way hashdeep -d writes it: one fileobject per item.",
        discussion: """
            filename is the item's original name, filesize its content size, and hashdigest the MD5, SHA1, SHA256 \
            and SHA512 digests sealed with it plus the tree digest (type TREE-SHA256-<chunk size>).
            """
    )

    @OptionGroup var options: ExportOptions

    func run() throws {
        let (report, summary, _) = try options.load()
        let commandLine = (["custody"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        if summary.collection != nil {
            return try options.stream(report: report, what: "the DFXML") { out in
                try DFXMLExport.writeCollection(bundle: options.bundle, summary: summary, commandLine: commandLine,
                                                verification: options.verification(report), to: out)
            }
        }
        let text = DFXMLExport.text(summary: summary, commandLine: commandLine,
                                     verification: options.verification(report), exportedAt: Timestamp.now())
        try options.finish(text, report: report, what: "the DFXML")
    }
}

struct ExportHashdeepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hashdeep",
        abstract: "The files' sizes and digests as a hashdeep list, for hashdeep -a -k LIST -r FOLDER.",
        discussion: """
            One row per file (size, md5 and sha1 when sealed with them, sha256, name). For a collection bundle the \
            names are the original paths from the item records (BASE/..., BASE being the sealed folder; a further \
            name of a hard-linked file is listed with its content's digests), put under --prefix (default: the \
            current directory) and made absolute, as hashdeep writes and compares names: run in the sealed folder's \
            parent (or give --prefix PARENT), hashdeep -a -k LIST -r BASE audits the original folder. Symbolic \
            links, which hashdeep follows, are not listed (give hashdeep -o f).
            """
    )

    @OptionGroup var options: ExportOptions
    @Option(help: "A folder put before every name (e.g. where the original folder's parent is now).")
    var prefix: String?

    func run() throws {
        let (report, summary, _) = try options.load()
        let commandLine = (["custody"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        try options.stream(report: report, what: "the hashdeep list") { out in
            try HashListExport.write(.hashdeep, bundle: options.bundle, summary: summary, prefix: prefix,
                                     workingDirectory: currentDirectory(), commandLine: commandLine, to: out)
        }
    }
}

struct ExportSHA256SumCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sha256sum",
        abstract: "The files' SHA-256 digests as sha256sum lines, for sha256sum -c LIST.",
        discussion: """
            One line per file, as sha256sum writes them (coreutils escaping). For a collection bundle the names \
            are the original paths from the item records (BASE/..., relative to the sealed folder's parent; a \
            further name of a hard-linked file is listed with its content's digest), so sha256sum -c LIST run in \
            that parent checks the original folder. --prefix puts a folder before every name.
            """
    )

    @OptionGroup var options: ExportOptions
    @Option(help: "A folder put before every name (e.g. where the original folder's parent is now).")
    var prefix: String?

    func run() throws {
        let (report, summary, _) = try options.load()
        try options.stream(report: report, what: "the sha256sum list") { out in
            try HashListExport.write(.sha256sum, bundle: options.bundle, summary: summary, prefix: prefix,
                                     workingDirectory: currentDirectory(), commandLine: "", to: out)
        }
    }
}

/// `--ledger` and `--receipt`: custody history from outside the bundle, for reports and exports.
struct HistoryOptions: ParsableArguments {
    @Option(name: .customLong("ledger"), help: ArgumentHelp(
        "A ledger (a file or a postgres:// URL) whose entries about the bundle are added, each checked (repeatable).",
        valueName: "ledger"))
    var ledgers: [String] = []
    @Option(name: .customLong("receipt"), help: ArgumentHelp(
        "A receiver's signed receipt (DIR.receipt) to add, its signature checked (repeatable).",
        valueName: "receipt"))
    var receipts: [String] = []

    /// The bundle's history with the ledgers' entries and the receipts, their checks added to `report`.
    func gather(summary: BundleSummary, report: inout VerificationReport, trust: TrustStore?) throws
        -> CustodyHistory {
        // Ledgers are named by their arguments without any password; each is opened by the one opener.
        var arguments: [String: String] = [:]
        for ledger in ledgers { arguments[PostgresLedgerAddress.redacted(ledger)] = ledger }
        do {
            return try CustodyHistory.gather(
                summary: summary, report: &report, ledgers: ledgers.map(PostgresLedgerAddress.redacted),
                receipts: receipts, trust: trust,
                openLedger: { try LedgerLocation.open(arguments[$0] ?? $0, readOnly: true) })
        } catch CustodyHistoryError.unreadableLedger(let path, let reason) {
            throw CommandError.operational("--ledger \(path): cannot be read as a custody ledger: \(reason)")
        }
    }
}

/// Reading a bundle for exports and reports.
enum BundleInput {
    /// Throws an operational error (exit 2) unless `path` is a directory.
    static func requireDirectory(_ path: String) throws {
        guard let info = try? FileSystem.status(path, followLinks: true), info.st_mode & S_IFMT == S_IFDIR else {
            throw CommandError.operational("\(path): not a bundle directory (custody seal writes one)")
        }
    }

    static func verify(_ path: String, trust: TrustStore?, fast: Bool, quiet: Bool)
        -> (report: VerificationReport, summary: BundleSummary) {
        var verifier = BundleVerifier(root: path, trust: trust, fast: fast)
        let display = ProgressReporter(label: "verifying", quiet: quiet)
        verifier.itemsLoaded = { items in
            display.setTotals(bytes: fast ? nil : items.reduce(0) { $0 + $1.size }, files: items.count)
        }
        verifier.progress = { path, done in display.item(path, bytesDone: done) }
        let result = verifier.verify()
        display.finish()
        return result
    }

    /// `N checks failed: NAME, NAME`.
    static func failureSummary(_ report: VerificationReport) -> String {
        var seen = Set<String>()
        let names = report.failures.map(\.name).filter { seen.insert($0).inserted }
        let count = report.failures.count
        return "\(count) check\(count == 1 ? "" : "s") failed: " + names.joined(separator: ", ")
    }
}
