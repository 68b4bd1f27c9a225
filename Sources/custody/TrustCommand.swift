import ArgumentParser
import CustodyKit

struct TrustCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trust",
        abstract: "Manage a trust store of foreign agencies' public keys.",
        subcommands: [TrustAddCommand.self, TrustListCommand.self]
    )
}

struct TrustAddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Add an agency's key to a store.")

    @Argument(help: "The trust store file (created if missing).") var store: String
    @Argument(help: "The key holder's name (as in their signatures).") var name: String
    @Option(help: "Their public key: NAME.pub (PEM), NAME.vkey or NAME.identity.json.") var key: String
    @Option(help: "ISO 3166-1 alpha-2 country code.") var jurisdiction: String
    @Option(help: "Their agency.") var agency: String
    @Option(help: "Their age recipient (age1...) for transfers.") var recipient: String?

    func run() throws {
        var trustStore = try TrustStore.loadOrEmpty(store)
        let publicKey = try TrustStore.readPublicKey(key)
        try trustStore.add(TrustStore.Entry(name: name, agency: agency, jurisdiction: jurisdiction,
                                            publicKey: publicKey, recipient: recipient,
                                            added: Timestamp.now().description))
        try trustStore.save(store)
        let entry = trustStore.entry(named: name)!
        Terminal.line("trusted \(name) (\(entry.agency), \(entry.jurisdiction)): \(entry.verifierKey.encoded)")
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
