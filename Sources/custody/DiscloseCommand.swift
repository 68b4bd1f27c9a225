import ArgumentParser
import CustodyKit

struct DiscloseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disclose",
        abstract: "Disclose chosen items (or byte ranges) of a sealed collection, verifiable against its seal.",
        discussion: """
            Writes SUB, a BagIt bundle holding only the items named by --item / --items-from (whole) and the \
            chunks covering each --range PATH:START-END (content byte offsets, inclusive), with the original seal \
            and checkpoint, the proofs that lead every disclosed record and chunk to them, and a statement signed \
            by KEY (what, to whom, legal basis, MLA reference, how many items were withheld), recorded as a \
            disclose entry in LEDGER. PATH is an item's original path as sealed (BASE/...); a glob (fnmatch, * \
            also matches /) names several. Nothing about withheld items but their count is in SUB. BUNDLE is \
            verified first (seal, ledger proofs, tag files, the records' root; the disclosed payloads in full; \
            withheld payloads are not read); a disclosure can be disclosed again, narrower. Exit 1 when BUNDLE \
            does not verify, 2 when the selection or the key is refused; nothing is written then.
            """
    )

    @Argument(help: "The sealed collection bundle (or a disclosure) to disclose from.") var bundle: String
    @Option(help: "The disclosure bundle to create (must not exist).") var out: String
    @Option(name: .customLong("item"), help: "An item to disclose whole: its original path, or a glob (repeatable).")
    var items: [String] = []
    @Option(name: .customLong("items-from"), help: "A file of item paths or globs, one per line.")
    var itemsFrom: String?
    @Option(name: .customLong("range"), help: "PATH:START-END, content bytes of one item, inclusive (repeatable).")
    var ranges: [String] = []
    @Option(help: "The discloser's ledger (its owner's key must be --key).") var ledger: String
    @OptionGroup var signing: KeyOptions<DiscloserKey>
    @Option(name: .customLong("legal-basis"), help: "Legal basis of the disclosure.") var legalBasis = ""
    @Option(name: .customLong("mla-ref"), help: "Mutual legal assistance request reference.") var mlaRef = ""
    @Option(name: .customLong("to"), help: "The recipient: a name in the trust store, or an age1... recipient.")
    var recipient = ""
    @Option(help: "Trust store: checks the bundle's signers and names the recipient.") var trust: String?
    @Flag(name: .long, help: "Print the result as JSON.") var json = false
    @OptionGroup var quietOption: QuietOption

    func validate() throws {
        for (flag, text) in [("--to", recipient), ("--legal-basis", legalBasis), ("--mla-ref", mlaRef)]
            where !DisclosureStatement.isOneLine(text) {
            throw CommandError.operational("\(flag): must be one line without control characters")
        }
    }

    func run() throws {
        try BundleInput.requireDirectory(bundle)
        try InputCheck.requireNew(out, "--out", forceAllowed: false)
        var request = DisclosureRequest()
        request.items = items
        if let itemsFrom {
            try InputCheck.requireExisting(itemsFrom, "--items-from")
            let bytes: [UInt8]
            do { bytes = try FileSystem.readFile(itemsFrom, limit: 64 << 20) } catch {
                throw CommandError.operational("--items-from \(itemsFrom): \(error)")
            }
            for line in bytes.split(separator: 10) where !line.isEmpty {
                request.items.append(RawName.decode(Array(line.last == 13 ? line.dropLast() : line)))
            }
        }
        request.ranges = ranges
        request.legalBasis = legalBasis
        request.mlaReference = mlaRef
        request.trust = try trust.map { try TrustStore.load($0) }
        request.recipient = try recipientText(store: request.trust)
        let ledgerFile = try LedgerLocation.open(ledger)
        let signer = try signing.signingKey()
        let result = try Discloser.disclose(bundle: bundle, out: out, request: request, ledger: ledgerFile,
                                            key: signer)
        let statement = result.statement
        if json {
            let items: [JSONValue] = statement.items.map { item in
                var members: [String: JSONValue] = ["n": .int(Int64(item.number))]
                switch item.extent {
                case .whole: members["whole"] = .bool(true)
                case .ranges(let ranges):
                    members["ranges"] = .array(ranges.map {
                        .array([.int(Int64($0.lowerBound)), .int(Int64($0.upperBound))]) })
                }
                return .object(members)
            }
            Terminal.line(JSONValue.object([
                "disclosure": .string(result.path), "bundle": .string(statement.bundleID),
                "items": .int(Int64(statement.itemCount)), "disclosed": .int(Int64(statement.items.count)),
                "withheld": .int(Int64(statement.withheld)), "disclosedItems": .array(items),
                "payloadBytes": .int(Int64(result.payloadBytes)), "ledgerEntry": .int(Int64(result.entry.sequence)),
                "checkpointSize": .int(Int64(result.checkpointSize)), "to": .string(statement.recipient),
            ]).canonicalString)
            return
        }
        let checked = result.sourceChecks.filter { $0.status != .skipped }.map(\.name)
        Terminal.line("disclosed \(statement.items.count) of \(statement.itemCount) items of bundle "
            + "\(statement.bundleID) into \(result.path) (\(statement.withheld) withheld)")
        Terminal.line("  source checked: \(checked.joined(separator: ", ")), and every disclosed byte; withheld "
            + "payloads were not read")
        Terminal.line("  \(ByteSize.describe(result.payloadBytes)) of payload; to '\(statement.recipient)'; legal "
            + "basis '\(statement.legalBasis)'; MLA reference '\(statement.mlaReference)'")
        Terminal.line("  ledger entry \(result.entry.sequence) (disclose); checkpoint at size \(result.checkpointSize)")
    }

    /// `--to` as the statement records it: `NAME (AGENCY, CC)` for a trust-store name, the age1... recipient as
    /// given, or empty.
    func recipientText(store: TrustStore?) throws -> String {
        guard !recipient.isEmpty else { return "" }
        if recipient.hasPrefix("age1") {
            _ = try TransferCommand.namingOptions { try TransferRecipient.resolve(recipient, trust: nil) }
            return recipient
        }
        guard let store else {
            throw CommandError.operational("--to '\(recipient)' is not an age1... recipient; to name an agency, give "
                + "the trust store that holds it with --trust")
        }
        guard let entry = store.entry(named: recipient) else {
            throw CommandError.operational("--to '\(recipient)': no such name in the trust store (see custody trust "
                + "list)")
        }
        return "\(entry.name) (\(entry.agency), \(entry.jurisdiction))"
    }
}
