import CustodyAge
import CustodyBase
import CustodyBundle
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger
import CustodyTar

/// The text of a custody statement signed as a C2SP signed note: a header line (`custody transfer v1`...), then
/// one field per line, `KEY VALUE` (the key, one space, the value up to the line end) or `KEY` alone for an empty
/// value. Keys are 1 to 32 of `a-z 0-9 -`; values hold no control characters. A key may repeat when the
/// statement type allows it; field order is kept.
public struct Statement: Sendable, Equatable {
    /// The first line, naming the statement type.
    public var header: String
    /// The fields, in order.
    public var fields: [(key: String, value: String)]

    /// A statement of `header` with `fields`.
    public init(header: String, fields: [(key: String, value: String)] = []) {
        self.header = header
        self.fields = fields
    }

    /// A statement about one transfer of one bundle: `header`, then the `transfer`, `bundle` and
    /// `tagmanifest-sha256` fields, each when present.
    init(header: String, transferID: String?, bundleID: String?, tagManifestDigest: String?) {
        self.init(header: header)
        add("transfer", transferID)
        add("bundle", bundleID)
        add("tagmanifest-sha256", tagManifestDigest)
    }

    /// Adds a field; control characters in the value are replaced by `?` (values are single lines).
    public mutating func add(_ key: String, _ value: String) {
        fields.append((key, Statement.singleLine(value)))
    }

    /// Adds a field when the value is present.
    public mutating func add(_ key: String, _ value: String?) {
        if let value { add(key, value) }
    }

    /// The value with control characters replaced, so it fits on one line of a note.
    public static func singleLine(_ value: String) -> String {
        String(String.UnicodeScalarView(value.unicodeScalars.map {
            Printable.isControl($0) ? "?" : $0
        }))
    }

    /// The note text (ending in a newline).
    public var text: String {
        ([header] + fields.map { $0.value.isEmpty ? $0.key : "\($0.key) \($0.value)" }).joined(separator: "\n") + "\n"
    }

    /// The first value for `key`.
    public func value(_ key: String) -> String? { fields.first { $0.key == key }?.value }

    /// Every value for `key`, in order.
    public func values(_ key: String) -> [String] { fields.filter { $0.key == key }.map(\.value) }

    /// The value for a required key, or a verification error naming the statement and key.
    public func required(_ key: String) throws -> String {
        guard let value = value(key) else {
            throw TransferError.statementFieldMissing(header: header, field: key)
        }
        return value
    }

    /// Parses a statement whose first line must be `header`, accepting only `allowed` keys and letting only
    /// `repeatable` ones occur more than once.
    public init(parsing text: String, header: String, allowed: Set<String>, repeatable: Set<String> = []) throws {
        func bad(_ why: String) -> TransferError { .statementMalformed(header: header, reason: why) }
        guard text.hasSuffix("\n") else { throw bad("text does not end with a newline") }
        let lines = text.dropLast().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.first == header else {
            let first = Statement.singleLine(String((lines.first ?? "").prefix(60)))
            throw bad("first line is '\(first)', not '\(header)'")
        }
        self.header = header
        fields = []
        var seen = Set<String>()
        for (number, line) in lines.enumerated().dropFirst() {
            // The writer replaces control characters (`singleLine`); one here (DEL: the note format already
            // refuses the others) would be a field no statement custody writes could hold.
            guard !Printable.hasControls(line) else { throw bad("line \(number + 1): control character") }
            let key: String, value: String
            if let space = line.firstIndex(of: " ") {
                key = String(line[..<space])
                value = String(line[line.index(after: space)...])
            } else {
                key = line
                value = ""
            }
            guard allowed.contains(key) else { throw bad("line \(number + 1): unknown field '\(key.prefix(40))'") }
            guard !seen.contains(key) || repeatable.contains(key) else {
                throw bad("line \(number + 1): field '\(key)' repeated")
            }
            seen.insert(key)
            fields.append((key, value))
        }
    }

    /// Statements are equal when their texts are.
    public static func == (lhs: Statement, rhs: Statement) -> Bool { lhs.text == rhs.text }
}

/// A party named in a statement: the signed-note verifier key (`NAME+KEYID+BASE64`), agency and jurisdiction.
public struct StatementParty: Sendable, Equatable {
    /// The party's signed-note verifier key.
    public var key: NoteVerifierKey
    /// The agency.
    public var agency: String
    /// The two-letter jurisdiction.
    public var jurisdiction: String

    /// A party from its key, agency and jurisdiction.
    public init(key: NoteVerifierKey, agency: String, jurisdiction: String) {
        self.key = key
        self.agency = agency
        self.jurisdiction = jurisdiction
    }

    /// The party an identity describes.
    public init(_ identity: Identity) {
        self.init(key: identity.verifierKey, agency: identity.agency, jurisdiction: identity.jurisdiction)
    }

    func add(to statement: inout Statement, prefix: String) {
        statement.add(prefix, key.encoded)
        statement.add(prefix + "-agency", agency)
        statement.add(prefix + "-jurisdiction", jurisdiction)
    }

    init(from statement: Statement, prefix: String) throws {
        let encoded = try statement.required(prefix)
        do {
            key = try NoteVerifierKey(parsing: encoded)
        } catch let error as any CustodyFailure {
            throw TransferError.statementPartyKeyInvalid(header: statement.header, field: prefix,
                                                         reason: error.description)
        }
        agency = try statement.required(prefix + "-agency")
        jurisdiction = try statement.required(prefix + "-jurisdiction")
    }

    static func keys(_ prefix: String) -> [String] { [prefix, prefix + "-agency", prefix + "-jurisdiction"] }

    /// `{"agency","jurisdiction","keyId","name","verifierKey"}` for ledger details.
    public var json: JSONValue {
        .object(["name": .string(key.name), "keyId": .string(key.keyIDHex), "verifierKey": .string(key.encoded),
                 "agency": .string(agency), "jurisdiction": .string(jurisdiction)])
    }

    /// `name (agency, CC)`.
    public var description: String { "\(key.name) (\(agency), \(jurisdiction))" }
}

extension SignedNote {
    /// Verifies the note against one key, mapping every failure to a verification error naming `what`.
    func verifySigned(by key: NoteVerifierKey, what: String) throws {
        do {
            try verify(with: [key])
        } catch let error as any CustodyFailure {
            throw TransferError.signatureInvalid(what: what, reason: error.description)
        }
    }
}
