import ArgumentParser
import CustodyKit

struct TransferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transfer",
        abstract: "Send a sealed bundle to another agency: verified, archived (tar) and encrypted (age) to it.",
        discussion: """
            Verifies BUNDLE fully, checks its onward-transfer condition, streams it as one tar archive (with the \
            signed transfer statement) through age encryption to the recipient and to the sender's own age \
            recipient (NAME.recipient beside the key), records a transfer-out entry in the ledger and writes the \
            signed note FILE.note beside FILE. No plaintext copy is written; FILE appears only when complete. \
            RECIPIENT is an age1... recipient or a name in the trust store (which gives its agency and \
            jurisdiction). When an earlier run sent FILE and recorded it but could not write FILE.note (a full \
            disk), the same command run again writes the note from the ledger entry and sends nothing again. \
            Exit 1 when the bundle does not verify, 2 when the transfer is refused or fails.
            """
    )

    @Argument(help: "The sealed bundle directory.") var bundle: String
    @Option(name: .customLong("to"), help: "An age1... recipient or a name in the trust store.") var recipient: String
    @Option(help: "The sender's ledger (its owner's key must be --key).") var ledger: String
    @OptionGroup var signing: KeyOptions<SenderKey>
    @Option(help: "The encrypted file to create (must not exist); the note is written to FILE.note.") var out: String
    @Option(name: .customLong("legal-basis"), help: "Legal basis of the transfer.") var legalBasis: String?
    @Option(name: .customLong("mla-ref"), help: "Mutual legal assistance request reference.") var mlaRef: String?
    @Option(help: "Conditions JSON of this transfer (default: the bundle's sealed conditions).")
    var conditions: String?
    @Option(help: "Trust store: verifies the bundle's signers and names recipients.") var trust: String?
    @Flag(name: .long, help: "Print the result as JSON.") var json = false
    @OptionGroup var quietOption: QuietOption

    func run() throws {
        try BundleInput.requireDirectory(bundle)
        let ledgerFile = try LedgerLocation.open(ledger)
        let store = try trust.map { try TrustStore.load($0) }
        let target = try TransferCommand.namingOptions { try TransferRecipient.resolve(recipient, trust: store) }
        var options = TransferOptions()
        options.trust = store
        options.legalBasis = legalBasis
        options.mlaReference = mlaRef
        if let conditions { options.conditions = try Conditions.load(conditions) }
        let recipientFile = KeyDirectory(keyPath: signing.key).path(.ageRecipient)
        if FileSystem.exists(recipientFile) {
            do {
                options.selfRecipient = try AgeRecipientFile.read(recipientFile).first
            } catch {
                throw CommandError.operational("\(error)")
            }
        } else if !quietOption.quiet {
            Terminal.error("warning: no \(recipientFile) beside the key: the file is encrypted to the recipient only, "
                + "so the sender cannot reopen it")
        }
        let display = ProgressReporter(label: "verifying", quiet: quietOption.quiet)
        let output = out
        options.progress = { path, done in
            if path == output, display.label == "verifying" { display.startPhase("encrypting") }
            display.item(path, bytesDone: done)
        }
        try InterruptFlag.install()
        defer { InterruptFlag.uninstall() }
        options.shouldStop = InterruptFlag.shouldStop
        let signer = try signing.signingKey()
        let result = try TransferCommand.namingOptions {
            try BundleTransfer.send(bundle: bundle, to: target, out: out, ledger: ledgerFile,
                                    key: signer, options: options)
        }
        display.finish()
        let statement = result.statement
        let file = statement.file!
        if json {
            var members: [String: JSONValue] = [
                "transfer": .string(statement.transferID), "bundle": .string(statement.bundleID),
                "file": .string(result.file), "note": .string(result.notePath), "fileSha256": .string(file.sha256),
                "fileSize": .int(Int64(file.size)), "ledgerEntry": .int(Int64(result.entry.sequence)),
                "checkpointSize": .int(Int64(result.checkpoint.size)),
                "encryptedTo": .array(result.encryptedTo.map { .string($0) }),
                "conditions": statement.conditions.json,
            ]
            if let consent = result.consentEntry { members["consentEntry"] = .int(Int64(consent)) }
            if result.regenerated { members["noteWrittenAgain"] = .bool(true) }
            Terminal.line(JSONValue.object(members).canonicalString)
            return
        }
        if result.regenerated {
            Terminal.line("\(result.file) was already sent (ledger entry \(result.entry.sequence), transfer "
                + "\(statement.transferID)); wrote its missing note \(result.notePath) from that entry; nothing was "
                + "sent again")
            return
        }
        let to = statement.recipient
        Terminal.line("transferred bundle \(statement.bundleID) to "
            + (to.name.map { "\($0) (\(to.agency ?? "?"), \(to.jurisdiction ?? "?"))" } ?? to.ageRecipient.encoded))
        Terminal.line("  file \(result.file): \(ByteSize.describe(file.size)), sha256 \(file.sha256)")
        Terminal.line("  encrypted to \(result.encryptedTo.joined(separator: ", "))")
        Terminal.line("  transfer \(statement.transferID); note \(result.notePath)")
        for line in statement.conditions.summaryLines { Terminal.line("  \(line)") }
        if let consent = result.consentEntry {
            Terminal.line("  onward transfer allowed by the original sender's consent (ledger entry \(consent))")
        }
        Terminal.line("  ledger entry \(result.entry.sequence) (transfer-out); checkpoint at size "
            + "\(result.checkpoint.size)")
    }

    /// Runs `body`, naming the options a user gives in the messages about the recipient: `--to` for it, `--trust`
    /// for the trust store that names it.
    static func namingOptions<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as TransferError {
            let message: String
            switch error {
            case .recipientInvalid(let text, let reason):
                message = "--to '\(text.prefix(80))': \(reason)"
            case .recipientNeedsTrustStore(let text):
                message = "--to '\(text)' is not an age1... recipient; to name an agency, give the trust store that "
                    + "holds it with --trust"
            case .recipientNotInTrustStore(let text):
                message = "--to '\(text)': no such name in the trust store (see custody trust list)"
            case .recipientWithoutAgeRecipient(let text):
                message = "--to '\(text)': the trust store has no age recipient for \(text) (add one with custody "
                    + "trust add ... --recipient age1...)"
            case .recipientJurisdictionUnknown(let rule, let bundle, let sealer):
                message = "onward transfer condition (\(rule)): \(bundle) was sealed by \(sealer.name) "
                    + "(\(sealer.agency), \(sealer.jurisdiction)); the recipient's jurisdiction is unknown, so name "
                    + "the recipient from the trust store (--to NAME --trust STORE); nothing was sent"
            default:
                throw error
            }
            throw CommandError(message, kind: error.kind)
        }
    }
}
