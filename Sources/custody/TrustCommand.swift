import ArgumentParser
import CustodyKit

struct TrustCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trust",
        abstract: "Manage a trust store of foreign agencies' public keys.",
        discussion: """
            A key given as NAME.identity.json, or as NAME.pub or NAME.vkey beside it, comes with the holder's \
            signed identity: NAME, --jurisdiction and --agency must then say what it says (they default to it).
            """,
        subcommands: [TrustAddCommand.self, TrustUpdateCommand.self, TrustRemoveCommand.self, TrustListCommand.self]
    )

    /// Prints what a store now holds for `entry`.
    static func describe(_ verb: String, _ entry: TrustStore.Entry) {
        Terminal.line("\(verb) \(entry.name) (\(entry.agency), \(entry.jurisdiction)): \(entry.verifierKey.encoded)"
            + (entry.recipient.map { ", recipient \($0)" } ?? ""))
    }
}

/// The options that describe an agency's entry, for `trust add` and `trust update`.
struct TrustEntryOptions: ParsableArguments {
    @Option(help: "ISO 3166-1 alpha-2 country code (default: the signed identity's).") var jurisdiction: String?
    @Option(help: "Their agency (default: the signed identity's).") var agency: String?
    @Option(help: "Their age recipient (age1..., or a NAME.recipient file) for transfers.") var recipient: String?

    /// The recipient as given, or read from the file it names.
    func recipientValue() throws -> String? {
        guard let recipient else { return nil }
        guard !recipient.hasPrefix("age1"), FileSystem.exists(recipient) else { return recipient }
        let text = String(decoding: try FileSystem.readFile(recipient, limit: 4096), as: UTF8.self)
        return text.split(whereSeparator: \.isNewline).first { !$0.hasPrefix("#") }.map(String.init) ?? ""
    }
}

struct TrustAddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Add an agency's key to a store.")

    @Argument(help: "The trust store file (created if missing).") var store: String
    @Argument(help: "The key holder's name (as in their signatures).") var name: String
    @Option(help: "Their public key: NAME.pub (PEM), NAME.vkey or NAME.identity.json.") var key: String
    @OptionGroup var details: TrustEntryOptions

    func run() throws {
        var trustStore = try TrustStore.loadOrEmpty(store)
        let source = try TrustStore.readKeySource(key)
        guard let jurisdiction = details.jurisdiction ?? source.identity?.jurisdiction,
              let agency = details.agency ?? source.identity?.agency else {
            throw CommandError.operational("--key \(key) carries no signed identity: give --jurisdiction and --agency")
        }
        // The entry's own rules first (name, code, agency, recipient, a name already there), then the identity.
        try trustStore.add(TrustStore.Entry(name: name, agency: agency, jurisdiction: jurisdiction,
                                            publicKey: source.publicKey, recipient: try details.recipientValue(),
                                            added: Timestamp.now().description))
        try source.check(name: name, jurisdiction: details.jurisdiction, agency: details.agency)
        try trustStore.save(store)
        TrustCommand.describe("trusted", trustStore.entry(named: name)!)
    }
}

struct TrustUpdateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update",
        abstract: "Change an agency's entry: its key, jurisdiction, agency or age recipient.")

    @Argument(help: "The trust store file.") var store: String
    @Argument(help: "The key holder's name, as in the store.") var name: String
    @Option(help: "Their new public key: NAME.pub (PEM), NAME.vkey or NAME.identity.json.") var key: String?
    @OptionGroup var details: TrustEntryOptions

    func validate() throws {
        if key == nil && details.jurisdiction == nil && details.agency == nil && details.recipient == nil {
            throw ValidationError("give what changes: --key, --jurisdiction, --agency or --recipient")
        }
    }

    func run() throws {
        var trustStore = try TrustStore.load(store)
        guard var entry = trustStore.entry(named: name) else { throw BundleError.trustEntryMissing(name: name) }
        var source: TrustStore.KeySource?
        if let key {
            source = try TrustStore.readKeySource(key)
            try source!.check(name: name, jurisdiction: details.jurisdiction, agency: details.agency)
            entry.publicKey = source!.publicKey
        }
        if let jurisdiction = details.jurisdiction ?? source?.identity?.jurisdiction {
            entry.jurisdiction = jurisdiction
        }
        if let agency = details.agency ?? source?.identity?.agency { entry.agency = agency }
        if let recipient = try details.recipientValue() { entry.recipient = recipient }
        try trustStore.update(entry)
        try trustStore.save(store)
        TrustCommand.describe("updated", trustStore.entry(named: name)!)
    }
}

struct TrustRemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove an agency from a store.")

    @Argument(help: "The trust store file.") var store: String
    @Argument(help: "The key holder's name, as in the store.") var name: String

    func run() throws {
        var trustStore = try TrustStore.load(store)
        try trustStore.remove(named: name)
        try trustStore.save(store)
        Terminal.line("removed \(name) from \(store)")
    }
}

struct TrustListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List a store's agencies.")

    @Argument(help: "The trust store file.") var store: String
    @Flag(name: .long, help: "Print JSON.") var json = false

    func run() throws {
        let trustStore = try TrustStore.load(store)
        if json {
            Terminal.line(JSONValue.array(trustStore.entries.map(\.json)).canonicalString)
            return
        }
        for entry in trustStore.entries {
            Terminal.line("\(entry.name)\t\(entry.jurisdiction)\t\(entry.agency)\tkey \(entry.verifierKey.keyIDHex)"
                + (entry.recipient.map { "\t\($0)" } ?? ""))
        }
    }
}
