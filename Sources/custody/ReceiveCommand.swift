import ArgumentParser
import CustodyKit

struct ReceiveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receive",
        abstract: "Receive a transfer: decrypt, unpack safely, verify, record it and sign a receipt.",
        discussion: """
            Decrypts FILE with the age identity and unpacks it into a temporary directory beside DIR (no path \
            escaping it, no links, no devices, sizes bounded), checks the sender's signed statement (and FILE.note \
            when present), verifies the bundle fully, moves it to DIR, appends a receive entry to the ledger and \
            writes the signed receipt DIR.receipt. A bundle that fails verification is still kept at DIR for \
            inspection, and its receipt says what failed (exit 1). When an earlier run recorded the receive but \
            could not write DIR.receipt (a full disk), the same command run again writes the receipt from the \
            ledger entry and records nothing again. A file that is altered or truncated leaves \
            nothing behind (exit 1); a file not encrypted to the identity is exit 2.
            """
    )

    @Argument(help: "The encrypted transfer file.") var file: String
    @Option(help: "The receiver's age identity file (NAME.age; may be passphrase-protected).") var identity: String
    @Option(help: "The receiver's ledger (its owner's key must be --key).") var ledger: String
    @OptionGroup var signing: KeyOptions<ReceiverKey>
    @Option(help: "The bundle directory to create (must not exist); the receipt goes to DIR.receipt.") var out: String
    @Option(help: "Trust store of agencies' keys (the sender and the sealer).") var trust: String?
    @Flag(name: .long, help: "Print the result as JSON.") var json = false
    @OptionGroup var quietOption: QuietOption

    func run() throws {
        try InputCheck.requireExisting(file, "")
        try InputCheck.requireExisting(identity, "--identity")
        let ledgerFile = try LedgerLocation.open(ledger)
        let store = try trust.map { try TrustStore.load($0) }
        let signer = try signing.signingKey()
        let identities = try ReceiveCommand.readIdentities(identity, passphrase: signing.passphrase.source)
        var options = ReceiveOptions()
        options.trust = store
        options.identityLabel = identity
        let display = ProgressReporter(label: "decrypting", totalBytes: ProgressReporter.size(of: file),
                                       quiet: quietOption.quiet)
        let encrypted = file
        options.progress = { path, done in
            if path != encrypted, display.label == "decrypting" { display.startPhase("verifying") }
            display.item(path, bytesDone: done)
        }
        try InterruptFlag.install()
        defer { InterruptFlag.uninstall() }
        options.shouldStop = InterruptFlag.shouldStop
        let result = try BundleReceiver.receive(file: file, identities: identities, ledger: ledgerFile, key: signer,
                                                out: out, options: options)
        display.finish()
        for path in result.removedStaging { Terminal.error("removed \(path), left by an interrupted receive") }
        if json {
            var members = VerifyCommand.json(report: result.report, summary: result.summary,
                                             signersChecked: store != nil).objectValue ?? [:]
            members["bundlePath"] = .string(result.bundlePath)
            members["receipt"] = .string(result.receiptPath)
            members["ledgerEntry"] = .int(Int64(result.entry.sequence))
            members["fileSha256"] = .string(result.fileSHA256)
            if result.regenerated { members["receiptWrittenAgain"] = .bool(true) }
            if let transfer = result.transfer {
                members["transfer"] = .string(transfer.transferID)
                members["transferConditions"] = transfer.conditions.json
            }
            Terminal.line(JSONValue.object(members).canonicalString)
        } else if result.regenerated {
            Terminal.line("\(file) was already received into \(result.bundlePath) (ledger entry "
                + "\(result.entry.sequence), \(result.report.passed ? "passed" : "failed")); wrote its missing "
                + "receipt \(result.receiptPath) from that entry; nothing was recorded again")
            VerifyCommand.printChecks(result.report)
        } else {
            Terminal.line("received \(file) into \(result.bundlePath) (bundle \(result.bundleID ?? "unidentified"))")
            VerifyCommand.printChecks(result.report)
            Terminal.line("ledger entry \(result.entry.sequence) (receive); signed receipt \(result.receiptPath)")
            let outcome = VerifyOutcome(report: result.report, signersChecked: store != nil)
            Terminal.line(result.report.passed ? outcome.line
                : "FAILED: \(result.report.failures.count) check(s) failed; the bundle is kept at "
                    + "\(result.bundlePath) for inspection and the receipt says what failed")
        }
        if !result.report.passed { throw ExitCode(ExitStatus.verificationFailed.rawValue) }
    }

    /// Reads an age identity file, asking for its passphrase (--passphrase-file, CUSTODY_PASSPHRASE or a prompt)
    /// only when it is protected.
    /// A wrong passphrase typed at the terminal is asked once more.
    static func readIdentities(_ path: String, passphrase: PassphraseSource) throws -> [AgeX25519Identity] {
        var attempt = 1
        while true {
            do {
                return try AgeIdentityFile.read(path) {
                    guard let secret = try passphrase.passphrase(prompt: "Passphrase for \(path): ") else {
                        throw CommandError.operational("\(path) is passphrase-protected: give its passphrase with "
                            + "--passphrase-file, CUSTODY_PASSPHRASE or on a terminal")
                    }
                    return String(decoding: secret, as: UTF8.self)
                }
            } catch AgeError.badKey(let reason) where reason.hasSuffix("wrong passphrase") && passphrase.prompts
                        && attempt < PassphraseSource.terminalAttempts {
                PassphraseSource.tellTerminal("\(reason); try again\n")
                attempt += 1
            } catch let error as AgeError {
                throw CommandError.operational("\(error)")
            }
        }
    }
}
