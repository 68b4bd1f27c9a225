import ArgumentParser
import CustodyKit

struct ReceiptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receipt",
        abstract: "Record a receiver's signed receipt for a transfer.",
        subcommands: [ReceiptImportCommand.self]
    )
}

struct ReceiptImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Check a receipt and record it in the sender's ledger.",
        discussion: """
            Checks the receipt's signature against the trust store (or, without one, against the recipient key \
            the transfer-out entry recorded), that it answers a transfer-out entry of the ledger (transfer, bundle \
            and file digest), and the receiver's signed checkpoint; then appends a receipt entry. Exit 0 when the \
            receiver reports the bundle verified, 1 when the receipt does not check or reports a failure (it is \
            recorded all the same), 2 on unreadable input.
            """
    )

    @Argument(help: "The receipt (DIR.receipt written by custody receive).") var receipt: String
    @Option(help: "The sender's ledger.") var ledger: String
    @OptionGroup var signing: KeyOptions<ReceiptRecorderKey>
    @Option(help: "Trust store holding the receiver's key.") var trust: String?
    @Flag(name: .long, help: "Print the result as JSON.") var json = false

    func run() throws {
        try InputCheck.requireExisting(receipt, "")
        let ledgerFile = try LedgerLocation.open(ledger)
        let store = try trust.map { try TrustStore.load($0) }
        let signer = try signing.signingKey()
        let result: ReceiptImportResult
        do {
            result = try ReceiptImporter.importReceipt(receipt, ledger: ledgerFile, key: signer,
                                                       trust: store)
        } catch let error as TransferError {
            guard case .receiverKeyNotRecorded = error else { throw error }
            throw CommandError("\(error) with --trust", kind: error.kind)
        }
        let statement = result.receipt
        if json {
            Terminal.line(JSONValue.object([
                "transfer": .string(statement.transferID ?? ""), "bundle": .string(statement.bundleID ?? ""),
                "result": .string(statement.passed ? "passed" : "failed"),
                "failures": .array(statement.failures.map { .string($0) }),
                "receiver": statement.receiver.json, "transferEntry": .int(Int64(result.transferEntry)),
                "ledgerEntry": .int(Int64(result.entry.sequence)), "alreadyRecorded": .bool(result.alreadyRecorded),
                "receiverCheckpoint": .object(["origin": .string(result.receiverCheckpoint.origin),
                                               "size": .int(Int64(result.receiverCheckpoint.size)),
                                               "root": .string(result.receiverCheckpoint.root.hex)]),
                "unproven": .array(result.unproven.map { .string($0) }),
            ]).canonicalString)
        } else {
            Terminal.line("receipt from \(statement.receiver.description) for transfer \(statement.transferID ?? "?") "
                + "(bundle \(statement.bundleID ?? "?"), transfer-out entry \(result.transferEntry))")
            Terminal.line("  the receiver recorded it at entry \(statement.entry) of "
                + "\(result.receiverCheckpoint.origin) (signed checkpoint at size \(result.receiverCheckpoint.size))")
            Terminal.line(result.alreadyRecorded ? "  already recorded at ledger entry \(result.entry.sequence)"
                : "  recorded at ledger entry \(result.entry.sequence) (receipt)")
            for warning in result.unproven { Terminal.line("  WARN  receiver checkpoints: \(warning)") }
            if statement.passed {
                Terminal.line("  the receiver verified the bundle: passed")
            } else {
                Terminal.line("  the receiver's verification FAILED:")
                for failure in statement.failures { Terminal.line("    \(failure)") }
            }
        }
        if !statement.passed { throw ExitCode(ExitStatus.verificationFailed.rawValue) }
    }
}
