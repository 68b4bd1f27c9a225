import ArgumentParser
import CustodyKit

/// `custody report BUNDLE --html OUT`: the verification and the custody story as one self-contained HTML file.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Verify a bundle and write a self-contained HTML report with an SVG custody timeline.",
        discussion: """
            The report (one HTML file: inline CSS and SVG, no script, nothing fetched) shows every check, every \
            item with its sizes, digests and status, the conditions, the custody timeline (one column per agency \
            and jurisdiction, transfers as arrows, failures in red) and the ledger entries; it prints on paper. \
            It is written even when verification fails. \
            --ledger L (repeatable) adds the entries of a local ledger file that mention the bundle or one of its \
            items (a transfer-out in the sender's ledger, a receive in the receiver's), each checked against its \
            ledger (signature, chain, tree, checkpoints; the ledger's key holder known from the trust store or the \
            bundle's identities); --receipt R (repeatable) adds a receiver's signed receipt (DIR.receipt), its \
            signature checked against those keys. Entries of several ledgers are merged by time; whatever does not \
            verify is shown in red and fails the report. Exit 0 when everything verified, 1 when a check failed, \
            2 when the bundle, a ledger or a receipt cannot be read or OUT cannot be written.
            """
    )

    @Argument(help: "The bundle directory.") var bundle: String
    @Option(help: "The HTML file to write (atomically; an existing one only with --force).") var html: String
    @OptionGroup var forceOption: ForceOption
    @Option(help: "Trust store of agencies' keys to verify the signers against.") var trust: String?
    @Flag(help: "Skip only the decompression and re-hashing of item content.") var fast = false
    @OptionGroup var history: HistoryOptions
    @Flag(name: .long, help: "Print the outcome as JSON.") var json = false
    @OptionGroup var quietOption: QuietOption

    func run() throws {
        try BundleInput.requireDirectory(bundle)
        try ReportOutput.requireOutside(bundle, output: html)
        try InputCheck.requireNew(html, "--html", force: forceOption.force)
        let store = try trust.map { try TrustStore.load($0) }
        var (report, summary) = BundleInput.verify(bundle, trust: store, fast: fast, quiet: quietOption.quiet)
        let story = try history.gather(summary: summary, report: &report, trust: store)
        let input = HTMLReport.Input(report: report, summary: summary, bundlePath: bundle,
                                     generatedAt: Timestamp.now(), trustStore: trust, fast: fast, history: story)
        try FileSystem.writeAtomically(html, Array(HTMLReport.render(input).utf8))
        if json {
            var members: [String: JSONValue] = [
                "html": .string(html), "passed": .bool(report.passed), "signersChecked": .bool(store != nil),
                "checks": .int(Int64(report.checks.count)), "failed": .int(Int64(report.failures.count)),
            ]
            if let id = summary.bundleID { members["bundle"] = .string(id) }
            Terminal.line(JSONValue.object(members).canonicalString)
        } else {
            let verified = store == nil ? "bundle verified, signers NOT checked (no --trust)"
                : "bundle verified, every check passed"
            Terminal.line("report written to \(html): " + (report.passed ? verified
                : "bundle FAILED verification (\(BundleInput.failureSummary(report)))"))
        }
        if !report.passed { throw ExitCode(ExitStatus.verificationFailed.rawValue) }
    }
}
