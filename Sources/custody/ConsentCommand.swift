import ArgumentParser
import CustodyKit

struct ConsentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consent",
        abstract: "The original sender's signed consent to an onward transfer to a third jurisdiction.",
        subcommands: [ConsentGrantCommand.self, ConsentImportCommand.self]
    )
}

struct ConsentGrantCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grant",
        abstract: "Sign consent (as the bundle's original sender) to pass a bundle on to another jurisdiction.",
        discussion: """
            Writes FILE, a signed note naming the bundle, the jurisdiction (and optionally the agency) it may go \
            to, the purpose and an expiry date. With --ledger, a consent entry records the grant. The holder \
            records it with custody consent import.
            """
    )

    @Argument(help: "The bundle ID (urn:uuid:...).") var bundleID: String
    @Option(name: .customLong("to-jurisdiction"), help: "ISO 3166-1 alpha-2 code of the third jurisdiction.")
    var toJurisdiction: String
    @Option(name: .customLong("to-agency"), help: "Only to this agency (as the trust store names it).")
    var toAgency: String?
    @Option(help: "The purpose the consent is given for.") var purpose: String?
    @Option(help: "Last day the consent may be used (YYYY-MM-DD).") var expires: String?
    @OptionGroup var signing: KeyOptions<ConsentGrantorKey>
    @Option(help: "The consent file to write (an existing one only with --force).") var out: String
    @OptionGroup var forceOption: ForceOption
    @Option(help: "The sender's ledger, to record the grant.") var ledger: String?

    func run() throws {
        guard Identifier.isURN(bundleID) else {
            throw CommandError.operational("'\(BagIt.printable(bundleID))' is not a bundle ID (urn:uuid:..., as "
                + "custody seal prints it)")
        }
        var expiry: CivilDate?
        if let expires {
            guard let date = CivilDate(parsing: expires) else {
                throw CommandError.operational("--expires '\(expires)' is not a date (YYYY-MM-DD)")
            }
            if date < CivilDate.today() {
                Terminal.error("warning: --expires \(expires) is already past: the consent can never be used")
            }
            expiry = date
        }
        try InputCheck.requireNew(out, "--out", force: forceOption.force)
        let ledgerFile = try ledger.map { try LedgerLocation.open($0) }
        let signer = try signing.signingKey()
        let result = try ConsentManager.grant(bundleID: bundleID, toJurisdiction: toJurisdiction, toAgency: toAgency,
                                              purpose: purpose, expires: expiry, key: signer, ledger: ledgerFile)
        try FileSystem.writeAtomically(out, result.note.bytes)
        if ledger == nil {
            Terminal.error("warning: no --ledger: the grant is in \(out) only, not recorded in your ledger (give "
                + "--ledger LEDGER so that your custody history shows it)")
        }
        Terminal.line("consent \(result.statement.consentID): bundle \(result.statement.bundleID) may go to "
            + "\(result.statement.toJurisdiction)" + (toAgency.map { " (\($0))" } ?? "")
            + (expiry.map { " until \($0)" } ?? "") + "; written to \(out)"
            + (result.entry.map { "; ledger entry \($0.sequence)" } ?? ""))
    }
}

struct ConsentImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Record the original sender's consent in the holder's ledger.",
        discussion: """
            Checks that the consent is signed by a key in the trust store that sealed a bundle this ledger \
            received, then appends a consent entry; custody transfer then allows the onward transfer it covers. \
            Exit 1 when the consent does not check, 2 on unreadable input.
            """
    )

    @Argument(help: "The consent file (from custody consent grant).") var file: String
    @Option(help: "The holder's ledger.") var ledger: String
    @OptionGroup var signing: KeyOptions<ConsentHolderKey>
    @Option(help: "Trust store holding the original sender's key.") var trust: String

    func run() throws {
        try InputCheck.requireExisting(file, "")
        let ledgerFile = try LedgerLocation.open(ledger)
        let store = try TrustStore.load(trust)
        let signer = try signing.signingKey()
        let (statement, entry, already) = try ConsentManager.importConsent(
            file, ledger: ledgerFile, key: signer, trust: store)
        Terminal.line("recorded consent \(statement.consentID) by \(statement.grantedBy.description): bundle "
            + "\(statement.bundleID) may go to \(statement.toJurisdiction)"
            + (statement.toAgency.map { " (\($0))" } ?? "") + (statement.expires.map { " until \($0)" } ?? "")
            + (already ? "; already recorded at ledger entry \(entry.sequence)" : "; ledger entry \(entry.sequence)"))
    }
}
