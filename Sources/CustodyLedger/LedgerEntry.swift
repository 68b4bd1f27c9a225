import CustodyBase
import CustodyCrypto
import CustodyIO

/// The custody actions a ledger entry may record.
public enum LedgerAction: String, CaseIterable, Sendable {
    /// Evidence acquired (imaged, seized, collected).
    case acquire
    /// Evidence sealed into a bundle.
    case seal
    /// A bundle or item verified.
    case verify
    /// Evidence accessed (opened, viewed).
    case access
    /// Evidence examined or analysed.
    case examine
    /// A working copy made.
    case copy
    /// Evidence sent to another agency.
    case transferOut = "transfer-out"
    /// Evidence received from another agency.
    case receive
    /// A receipt for a transfer recorded (ours or the recipient's).
    case receipt
    /// Consent to onward transfer given or recorded.
    case consent
    /// A preservation order started.
    case preserve
    /// A preservation order renewed.
    case preserveRenew = "preserve-renew"
    /// A preservation order released or expired.
    case preserveRelease = "preserve-release"
    /// Evidence disclosed (to a court, the defence, another party).
    case disclose
    /// Evidence returned to its owner or sender.
    case `return`
    /// Evidence destroyed.
    case destroy
    /// A free-form note for the record.
    case note

    /// Parses an action name; unknown names are a usage error listing the known ones.
    public static func parse(_ text: String) throws -> LedgerAction {
        guard let action = LedgerAction(rawValue: text) else {
            throw LedgerError.invalid(.unknownAction(text))
        }
        return action
    }
}

/// Who made an entry: the signing identity's name, agency, jurisdiction and signed-note key ID (hex8).
public struct LedgerActor: Sendable, Equatable {
    /// The signer's name (the identity and signed-note key name).
    public var name: String
    /// The signer's agency.
    public var agency: String
    /// The signer's jurisdiction (ISO 3166 country code).
    public var jurisdiction: String
    /// The signed-note key ID, 8 hex digits.
    public var keyID: String

    /// An actor from its parts.
    public init(name: String, agency: String, jurisdiction: String, keyID: String) {
        self.name = name
        self.agency = agency
        self.jurisdiction = jurisdiction
        self.keyID = keyID
    }

    /// The actor signing with `identity`.
    public init(_ identity: Identity) {
        self.init(
            name: identity.name, agency: identity.agency, jurisdiction: identity.jurisdiction,
            keyID: identity.keyIDHex)
    }

    var json: JSONValue {
        .object([
            "name": .string(name), "agency": .string(agency), "jurisdiction": .string(jurisdiction),
            "keyId": .string(keyID),
        ])
    }
}

/// What an entry is about: an evidence, item or bundle ID and, optionally, its digests and other attributes.
///
/// JSON: `{"id": ID, ATTRIBUTE: VALUE...}`; attribute names are 1 to 32 of `a-z 0-9 -`; values are strings or
/// integers; `md5`, `sha1`, `sha256`, `sha512` must be lower-case hex of their digest's length.
public struct LedgerSubject: Sendable, Equatable {
    /// The evidence, item or bundle ID.
    public var id: String
    /// Digests and other attributes, by name.
    public var attributes: [String: JSONValue]

    /// A subject; the ID and every attribute are checked.
    public init(id: String, attributes: [String: JSONValue] = [:]) throws {
        guard !id.isEmpty, id.utf8.count <= 1024 else {
            throw LedgerError.invalid(.subjectIDLength)
        }
        for (name, value) in attributes {
            try LedgerSubject.validate(name: name, value: value)
        }
        self.id = id
        self.attributes = attributes
    }

    private static let hexLengths = ["md5": 32, "sha1": 40, "sha256": 64, "sha512": 128]

    static func validate(name: String, value: JSONValue) throws {
        guard name != "id", (1...32).contains(name.utf8.count),
            name.utf8.allSatisfy({ (97...122).contains($0) || (48...57).contains($0) || $0 == 45 })
        else {
            throw LedgerError.invalid(.subjectAttributeName(name))
        }
        switch value {
        case .string(let text):
            guard text.utf8.count <= 4096 else {
                throw LedgerError.invalid(.subjectAttributeTooLong(name))
            }
            if let length = hexLengths[name] {
                guard text.utf8.count == length, Hex.decode(text) != nil, text == text.lowercased() else {
                    throw LedgerError.invalid(.subjectDigest(name: name, length: length))
                }
            }
        case .int:
            guard hexLengths[name] == nil else {
                throw LedgerError.invalid(.subjectDigestNotString(name))
            }
        default:
            throw LedgerError.invalid(.subjectAttributeType(name))
        }
    }

    /// Parses the compact form `ID` or `ID=NAME:VALUE[,NAME:VALUE]...` (for example
    /// `item-1=sha256:9f86...,size:1024`). Values of `size` are integers; the ID may not contain `=`.
    /// - Throws: `LedgerError.invalid(.subjectSyntax(text:_:))` for text not in that form, and the subject
    ///   checks of `init(id:attributes:)`.
    public init(compactForm text: String) throws {
        guard let equals = text.firstIndex(of: "=") else {
            try self.init(id: text)
            return
        }
        func bad(_ problem: SubjectSyntaxProblem) -> LedgerError { .invalid(.subjectSyntax(text: text, problem)) }
        var attributes: [String: JSONValue] = [:]
        for pair in text[text.index(after: equals)...].split(separator: ",", omittingEmptySubsequences: false) {
            guard let colon = pair.firstIndex(of: ":") else { throw bad(.expectedPairs) }
            let name = String(pair[..<colon])
            let valueText = String(pair[pair.index(after: colon)...])
            guard attributes[name] == nil else { throw bad(.repeatedAttribute(name)) }
            if name == "size" {
                guard let size = Int64(valueText), size >= 0 else { throw bad(.size) }
                attributes[name] = .int(size)
            } else {
                attributes[name] = .string(valueText)
            }
        }
        try self.init(id: String(text[..<equals]), attributes: attributes)
    }

    /// The JSON form `{"id": ID, ATTRIBUTE: VALUE...}`.
    public var json: JSONValue {
        var members = attributes
        members["id"] = .string(id)
        return .object(members)
    }

    init(json: JSONValue) throws {
        guard case .object(var members) = json, let id = members["id"]?.stringValue else {
            throw LedgerError.invalid(.subjectNotObject)
        }
        members["id"] = nil
        try self.init(id: id, attributes: members)
    }
}

/// What a caller asks to record; the ledger adds sequence, time, origin, actor, chain and signature.
public struct LedgerEntryDraft: Sendable, Equatable {
    /// What was done.
    public var action: LedgerAction
    /// What it was done to.
    public var subjects: [LedgerSubject]
    /// The legal basis (empty when none is given).
    public var legalBasis: String
    /// Free-form details (integers, strings, arrays and objects; no fractions).
    public var details: [String: JSONValue]

    /// A draft; the legal basis and the detail names and values are checked.
    public init(
        action: LedgerAction, subjects: [LedgerSubject] = [], legalBasis: String = "",
        details: [String: JSONValue] = [:]
    ) throws {
        guard legalBasis.utf8.count <= 4096 else {
            throw LedgerError.invalid(.legalBasisTooLong)
        }
        for (key, value) in details {
            guard !key.isEmpty, key.utf8.count <= 128 else {
                throw LedgerError.invalid(.detailNameLength)
            }
            try LedgerEntryDraft.checkNoFloats(value, path: key)
        }
        self.action = action
        self.subjects = subjects
        self.legalBasis = legalBasis
        self.details = details
    }

    private static func checkNoFloats(_ value: JSONValue, path: String) throws {
        switch value {
        case .double:
            throw LedgerError.invalid(.detailNotInteger(path))
        case .array(let values): for item in values { try checkNoFloats(item, path: path) }
        case .object(let members): for (_, item) in members { try checkNoFloats(item, path: path) }
        default: break
        }
    }

    /// Parses one batch line: `{"action": NAME, "subjects": [...], "legalBasis": TEXT, "details": {...}}`; only
    /// `action` is required, and no other member is allowed.
    /// - Throws: `LedgerError.invalid` saying what is wrong.
    public init(jsonLine bytes: [UInt8]) throws {
        let value: JSONValue
        do { value = try JSONValue.parse(bytes) } catch { throw LedgerError.invalid(.json("\(error)")) }
        guard case .object(let members) = value else { throw LedgerError.invalid(.draftNotObject) }
        let allowed: Set<String> = ["action", "subjects", "legalBasis", "details"]
        if let extra = members.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw LedgerError.invalid(.draftUnknownMember(extra))
        }
        guard let actionText = members["action"]?.stringValue else { throw LedgerError.invalid(.draftMissingAction) }
        func wrongType(_ member: String, _ expected: String) -> LedgerError {
            .invalid(.draftMemberType(member: member, expected: expected))
        }
        var subjects: [LedgerSubject] = []
        if let list = members["subjects"] {
            guard let items = list.arrayValue else { throw wrongType("subjects", "an array") }
            subjects = try items.map { item in
                if let id = item.stringValue { return try LedgerSubject(id: id) }
                return try LedgerSubject(json: item)
            }
        }
        var legalBasis = ""
        if let basis = members["legalBasis"] {
            guard let text = basis.stringValue else { throw wrongType("legalBasis", "a string") }
            legalBasis = text
        }
        var details: [String: JSONValue] = [:]
        if let detailValue = members["details"] {
            guard let object = detailValue.objectValue else { throw wrongType("details", "an object") }
            details = object
        }
        try self.init(
            action: LedgerAction.parse(actionText), subjects: subjects, legalBasis: legalBasis,
            details: details)
    }
}

/// One signed ledger entry: its fields and its exact canonical bytes (the Merkle leaf).
public struct LedgerEntry: Sendable, Equatable {
    /// The entry format version.
    public static let version: Int64 = 1
    /// What the signature covers before the canonical JSON of the entry without `sig`.
    public static let signaturePrefix = Array("custody ledger entry v1\n".utf8)
    /// The largest entry accepted.
    public static let maximumSize = 1 << 20
    /// The `prev` of the first entry.
    public static let noPrevious = Hash32([UInt8](repeating: 0, count: 32))!

    /// The entry's sequence number (its leaf index).
    public let sequence: UInt64
    /// When the entry was made (UTC, RFC 3339).
    public let time: Timestamp
    /// The ledger's origin.
    public let origin: String
    /// What was done.
    public let action: LedgerAction
    /// Who signed the entry.
    public let actor: LedgerActor
    /// What it was done to.
    public let subjects: [LedgerSubject]
    /// The legal basis (empty when none was given).
    public let legalBasis: String
    /// Free-form details.
    public let details: [String: JSONValue]
    /// The RFC 6962 leaf hash of the previous entry (all zeros for entry 0).
    public let previous: Hash32
    /// The Ed25519 signature over `signaturePrefix` and the entry without `sig`.
    public let signature: [UInt8]
    /// The canonical JSON bytes, signature included: the Merkle leaf and what export writes.
    public let bytes: [UInt8]

    /// The RFC 6962 leaf hash of `bytes`.
    public var leafHash: Hash32 { Merkle.leafHash(bytes) }

    static func unsignedMembers(
        sequence: UInt64, time: Timestamp, origin: String, draft: LedgerEntryDraft,
        actor: LedgerActor, previous: Hash32
    ) -> [String: JSONValue] {
        [
            "v": .int(version),
            "seq": .int(Int64(sequence)),
            "time": .string(time.description),
            "ledger": .string(origin),
            "action": .string(draft.action.rawValue),
            "actor": actor.json,
            "subjects": .array(draft.subjects.map(\.json)),
            "legalBasis": .string(draft.legalBasis),
            "details": .object(draft.details),
            "prev": .string(previous.hex),
        ]
    }

    /// The canonical encoding of entry members with `sig` left out or put in its sorted place: the members
    /// sorting before and after `sig` are each encoded once (entries always have members on both sides).
    static func encoding(before: ArraySlice<UInt8>, after: ArraySlice<UInt8>, signature: String?) -> [UInt8] {
        var out: [UInt8] = [0x7b]
        out.reserveCapacity(before.count + after.count + 110)
        out.append(contentsOf: before)
        out.append(0x2c)
        if let signature {
            out.append(contentsOf: Array("\"sig\":".utf8))
            JSONValue.writeString(signature, into: &out)
            out.append(0x2c)
        }
        out.append(contentsOf: after)
        out.append(0x7d)
        return out
    }

    /// The inner canonical encodings of the members sorting before and after `sig`.
    static func split(_ members: [String: JSONValue]) -> (before: ArraySlice<UInt8>, after: ArraySlice<UInt8>) {
        (
            JSONValue.object(members.filter { $0.key < "sig" }).canonicalBytes.dropFirst().dropLast(),
            JSONValue.object(members.filter { $0.key > "sig" }).canonicalBytes.dropFirst().dropLast()
        )
    }

    /// Builds and signs the entry.
    public static func make(
        _ draft: LedgerEntryDraft, sequence: UInt64, time: Timestamp, origin: String,
        previous: Hash32, key: SigningKey
    ) throws -> LedgerEntry {
        let actor = LedgerActor(key.identity)
        let parts = split(
            unsignedMembers(
                sequence: sequence, time: time, origin: origin, draft: draft, actor: actor,
                previous: previous))
        let signature = try key.privateKey.sign(
            signaturePrefix + encoding(before: parts.before, after: parts.after, signature: nil))
        let bytes = encoding(before: parts.before, after: parts.after, signature: Base64.encode(signature))
        guard bytes.count <= maximumSize else {
            throw LedgerError.invalid(.entryTooLarge)
        }
        return LedgerEntry(
            sequence: sequence, time: time, origin: origin, action: draft.action, actor: actor,
            subjects: draft.subjects, legalBasis: draft.legalBasis, details: draft.details,
            previous: previous, signature: signature, bytes: bytes)
    }

    /// Parses entry bytes strictly: canonical JSON, exactly the entry members, a known action, valid fields.
    /// - Returns: the entry and its signing input.
    public static func parseWithSigningInput(_ bytes: [UInt8]) throws -> (LedgerEntry, [UInt8]) {
        guard bytes.count <= maximumSize else {
            throw LedgerError.invalid(.entryTooLarge)
        }
        let value: JSONValue
        do { value = try JSONValue.parse(bytes) } catch { throw LedgerError.invalid(.json("\(error)")) }
        guard case .object(var members) = value, members.count == 11 else {
            throw LedgerError.invalid(.entryMemberCount)
        }
        guard members["v"]?.intValue == version else { throw LedgerError.invalid(.entryVersion) }
        guard let seq = members["seq"]?.intValue, seq >= 0,
            let timeText = members["time"]?.stringValue, let time = Timestamp(parsing: timeText),
            time.description == timeText,
            let origin = members["ledger"]?.stringValue,
            let actionText = members["action"]?.stringValue,
            let actorObject = members["actor"], let actorName = actorObject["name"]?.stringValue,
            let agency = actorObject["agency"]?.stringValue,
            let jurisdiction = actorObject["jurisdiction"]?.stringValue,
            let keyID = actorObject["keyId"]?.stringValue, actorObject.objectValue?.count == 4,
            let subjectList = members["subjects"]?.arrayValue,
            let legalBasis = members["legalBasis"]?.stringValue,
            let details = members["details"]?.objectValue,
            let prevText = members["prev"]?.stringValue, let previous = Hash32(hex: prevText),
            let sigText = members["sig"]?.stringValue, let signature = Base64.decode(sigText), signature.count == 64
        else {
            throw LedgerError.invalid(.entryMember)
        }
        let action = try LedgerAction.parse(actionText)
        let draft = try LedgerEntryDraft(
            action: action, subjects: subjectList.map(LedgerSubject.init(json:)),
            legalBasis: legalBasis, details: details)
        members["sig"] = nil
        let parts = split(members)
        guard encoding(before: parts.before, after: parts.after, signature: sigText) == bytes else {
            throw LedgerError.invalid(.entryNotCanonical)
        }
        let entry = LedgerEntry(
            sequence: UInt64(seq), time: time, origin: origin, action: action,
            actor: LedgerActor(
                name: actorName, agency: agency, jurisdiction: jurisdiction,
                keyID: keyID),
            subjects: draft.subjects, legalBasis: legalBasis, details: details,
            previous: previous, signature: signature, bytes: bytes)
        return (entry, signaturePrefix + encoding(before: parts.before, after: parts.after, signature: nil))
    }

    /// Parses entry bytes strictly (see `parseWithSigningInput`).
    public static func parse(_ bytes: [UInt8]) throws -> LedgerEntry {
        try parseWithSigningInput(bytes).0
    }

    /// Whether the entry's signature verifies with `key`.
    public func verifySignature(with key: Ed25519PublicKey) throws -> Bool {
        let (_, input) = try LedgerEntry.parseWithSigningInput(bytes)
        return key.verify(signature: signature, message: input)
    }
}
