import CustodyBase
import CustodyBundle
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger
import CustodyTransfer

/// Name-based identifiers: the same name always gives the same UUID, so exports of the same bundle are identical.
public enum StableIdentifier {
    /// The RFC 4122 (RFC 9562) URL namespace, `6ba7b811-9dad-11d1-80b4-00c04fd430c8`.
    static let namespace: [UInt8] = [0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1,
                                     0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8]

    /// A version 5 UUID (SHA-1 name-based, RFC 9562 section 5.5) of `name` in the URL namespace, lower-case
    /// (Python: `uuid.uuid5(uuid.NAMESPACE_URL, name)`).
    public static func uuid(_ name: String) -> String {
        Identifier.uuidString(Digester.digest(.sha1, namespace + Array(name.utf8)), version: 5)
    }
}

/// How one item fared in a verification.
public enum ItemVerdict: String, Sendable, Equatable {
    /// Payload and content verified.
    case verified
    /// Payload verified; content not re-hashed (`--fast`).
    case payloadOnly = "payload verified"
    /// A check about the item failed.
    case failed
    /// No check named the item.
    case unchecked = "not checked"

    /// The verdict for item `number` from the checks named `item N ...`.
    public static func of(item number: Int, in report: VerificationReport) -> ItemVerdict {
        let prefix = "item \(number) "
        let checks = report.checks.filter { $0.name.hasPrefix(prefix) }
        if checks.contains(where: { $0.status == .failed }) { return .failed }
        let content = checks.first { $0.name == prefix + "content" }
        if content?.status == .passed { return .verified }
        if checks.contains(where: { $0.status == .passed }) { return .payloadOnly }
        return .unchecked
    }
}

/// The other party of a transfer as a ledger entry's details name it (any spelling close to the usual ones).
public struct TransferParty: Sendable, Equatable {
    /// The party's jurisdiction.
    public var jurisdiction: String?
    /// The party's agency.
    public var agency: String?
    /// The party's signer name or officer.
    public var name: String?
    /// The signed-note key ID (hex8) of the party's key, when recorded.
    public var keyID: String?

    /// A party from what is known of it.
    public init(jurisdiction: String? = nil, agency: String? = nil, name: String? = nil, keyID: String? = nil) {
        self.jurisdiction = jurisdiction
        self.agency = agency
        self.name = name
        self.keyID = keyID
    }

    /// The detail key under which custody's own entries record the other party: `recipient` in `transfer-out`
    /// (`TransferRecipient.json`), `sender` in `receive` and `receiver` in `receipt` (`StatementParty.json`).
    public static func recordedKey(_ action: LedgerAction) -> String? {
        switch action {
        case .transferOut: return "recipient"
        case .receive: return "sender"
        case .receipt: return "receiver"
        default: return nil
        }
    }

    /// The other party of a `transfer-out`, `receive` or `receipt` entry: first from the exact object custody's
    /// transfer code writes (`name`, `agency`, `jurisdiction`, `keyId` and/or `verifierKey`), else from the usual
    /// spellings (`find(in:roles:)`).
    public static func recorded(in entry: LedgerEntry) -> TransferParty? {
        if let key = recordedKey(entry.action), let object = entry.details[key]?.objectValue,
           let jurisdiction = object["jurisdiction"]?.stringValue, !jurisdiction.isEmpty {
            let verifier = object["verifierKey"]?.stringValue.flatMap { try? NoteVerifierKey(parsing: $0) }
            var party = TransferParty(jurisdiction: jurisdiction, agency: object["agency"]?.stringValue,
                                      name: object["name"]?.stringValue ?? verifier?.name,
                                      keyID: object["keyId"]?.stringValue ?? verifier?.keyIDHex)
            if let verifier, party.keyID != verifier.keyIDHex || party.name != verifier.name { party.keyID = nil }
            return party
        }
        let roles = entry.action == .transferOut ? recipientRoles
            : entry.action == .receive ? senderRoles : entry.action == .receipt ? ["receiver"] : []
        return roles.isEmpty ? nil : find(in: entry.details, roles: roles)
    }

    /// Role words that name the receiving party in a `transfer-out` entry's details.
    public static let recipientRoles = ["recipient", "to", "receiver", "destination"]
    /// Role words that name the sending party in a `receive` entry's details.
    public static let senderRoles = ["sender", "from", "origin", "source"]

    /// Reads the party from details keys such as `recipientJurisdiction`, `to_jurisdiction`, `toAgency`, or an
    /// object under a role key (`"recipient": {"jurisdiction": ..., "agency": ..., "name": ...}`). Returns nil when
    /// nothing is found. Jurisdictions of two letters are upper-cased.
    public static func find(in details: [String: JSONValue], roles: [String]) -> TransferParty? {
        var party = TransferParty()
        func assign(_ field: String, _ value: JSONValue) {
            guard let text = value.stringValue?.trimmingWhitespace(), !text.isEmpty, text.count <= 200 else { return }
            switch field {
            case "jurisdiction", "country", "countrycode":
                if party.jurisdiction == nil { party.jurisdiction = text.count == 2 ? text.uppercased() : text }
            case "agency", "organization", "organisation":
                if party.agency == nil { party.agency = text }
            case "name", "officer":
                if party.name == nil { party.name = text }
            default: break
            }
        }
        for key in details.keys.sorted() {
            let normalized = String(key.lowercased().filter { $0 != "_" && $0 != "-" })
            guard let role = roles.first(where: { normalized.hasPrefix($0) }) else { continue }
            let field = String(normalized.dropFirst(role.count))
            if field.isEmpty, let members = details[key]?.objectValue {
                for (inner, value) in members.sorted(by: { $0.key < $1.key }) {
                    assign(String(inner.lowercased().filter { $0 != "_" && $0 != "-" }), value)
                }
            } else {
                assign(field, details[key]!)
            }
        }
        return party == TransferParty() ? nil : party
    }
}

/// Escaping and small text helpers for the HTML and SVG report.
public enum HTMLText {
    /// Escapes text for HTML/SVG character data and quoted attribute values (`MarkupEscaping`, HTML dialect):
    /// `& < > " '`; control characters other than tab and newline, and the bytes of file names that are not UTF-8
    /// (`RawName`), become U+FFFD.
    public static func escaped(_ text: String) -> String { MarkupEscaping.escaped(text, for: .html) }

    /// `text` cut to at most `limit` characters, with an ellipsis when cut.
    public static func truncated(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(max(0, limit - 1))) + "…"
    }
}
