import CustodyBase
import CustodyCrypto

/// Why a log submission (SPEC 4.9) is refused or does not check.
public enum LogSubmissionError: CustodyFailure, Equatable {
    /// The request is not JSON, or not `{"submission": {...}, "sig": BASE64}` with the submission's members.
    case malformed(String)
    /// The officer's signature does not verify with the officer's public key.
    case badSignature
    /// The officer's `keyId` is not the one derived from their name and public key.
    case keyIDMismatch(stated: String, derived: String)
    /// The submission names another log.
    case wrongLog(submitted: String, log: String)
    /// The submission's time is more than `window` seconds from the log's clock.
    case timeOutsideWindow(time: String, now: String, window: Int64)
    /// The same submission (officer key and nonce) is already in the log.
    case replayed(nonce: String)
    /// The officer's key is not in the trust store.
    case untrustedOfficer(String)
    /// The entry the submission would make is larger than `limit` bytes.
    case entryTooLarge(size: Int, limit: Int)

    /// Every refusal is a submission that could not be accepted.
    public var kind: FailureKind { .operational }

    /// The one-line reason.
    public var description: String {
        switch self {
        case .malformed(let reason): "malformed submission: \(reason)"
        case .badSignature: "the officer's signature does not verify"
        case .keyIDMismatch(let stated, let derived):
            "the officer's keyId \(stated) is not the one their name and public key give (\(derived))"
        case .wrongLog(let submitted, let log): "the submission is for log '\(submitted)', this is '\(log)'"
        case .timeOutsideWindow(let time, let now, let window):
            "the submission's time \(time) is more than \(window) s from the log's clock (\(now))"
        case .replayed(let nonce): "the submission with nonce \(nonce) by this officer is already in the log"
        case .untrustedOfficer(let officer): "officer \(officer) is not in the log's trust store"
        case .entryTooLarge(let size, let limit):
            "the entry would take \(size) bytes, more than the log's limit of \(limit)"
        }
    }
}

/// The officer who signed a submission: identity fields and the Ed25519 public key.
public struct LogOfficer: Sendable, Equatable {
    /// The officer's name (the identity and signed-note key name).
    public var name: String
    /// The officer's agency.
    public var agency: String
    /// The officer's jurisdiction.
    public var jurisdiction: String
    /// The signed-note key ID (hex8) of `name` and `publicKey`.
    public var keyID: String
    /// The officer's public key.
    public var publicKey: Ed25519PublicKey

    /// The officer holding `identity`.
    public init(_ identity: Identity) {
        name = identity.name
        agency = identity.agency
        jurisdiction = identity.jurisdiction
        keyID = identity.keyIDHex
        publicKey = identity.publicKey
    }

    init(json: JSONValue) throws {
        guard let object = json.objectValue, object.count == 5, let name = object["name"]?.stringValue,
              let agency = object["agency"]?.stringValue, let jurisdiction = object["jurisdiction"]?.stringValue,
              let keyID = object["keyId"]?.stringValue, let keyText = object["publicKey"]?.stringValue,
              let raw = Base64.decode(keyText), raw.count == 32, let key = try? Ed25519PublicKey(rawBytes: raw)
        else {
            throw LogSubmissionError.malformed(
                "officer must be {agency, jurisdiction, keyId, name, publicKey} with a 32-byte base64 key")
        }
        self.name = name
        self.agency = agency
        self.jurisdiction = jurisdiction
        self.keyID = keyID
        publicKey = key
    }

    /// The JSON form `{"agency","jurisdiction","keyId","name","publicKey"}`.
    public var json: JSONValue {
        .object([
            "name": .string(name), "agency": .string(agency), "jurisdiction": .string(jurisdiction),
            "keyId": .string(keyID), "publicKey": .string(Base64.encode(publicKey.rawBytes)),
        ])
    }

    /// `name+keyId`, as messages name a signer.
    public var label: String { "\(name)+\(keyID)" }

    /// The key ID `name` and `publicKey` give (4.6).
    public var derivedKeyID: String {
        (try? NoteVerifierKey(name: name, publicKey: publicKey))?.keyIDHex ?? ""
    }
}

/// An officer-signed request to a log service to record a custody action (SPEC 4.9): what to record, which log,
/// when, a random nonce, and who signs, without the sequence number or chain the officer cannot know. The log
/// wraps it in an ordinary entry signed by the log's key, whose `details` carry the officer's part intact
/// (`detailMember`), so `ledger verify` checks the log's signature and chain and the officer's signature.
public struct LogSubmission: Sendable, Equatable {
    /// What the officer's signature covers before the canonical JSON of the submission.
    public static let signaturePrefix = Array("custody log submission v1\n".utf8)
    /// The `details` member of an entry that carries a submission's officer, time, nonce and signature.
    public static let detailMember = "officerSubmission"

    /// What to record (action, subjects, legal basis, details).
    public let draft: LedgerEntryDraft
    /// The origin of the log it is for.
    public let log: String
    /// When the officer signed it.
    public let time: Timestamp
    /// 32 lower-case hex digits (16 random bytes), unique per submission.
    public let nonce: String
    /// Who signed it.
    public let officer: LogOfficer
    /// The officer's Ed25519 signature over `signaturePrefix` and `canonicalBytes`.
    public let signature: [UInt8]

    /// The canonical JSON the officer signs: `{"action","details","legalBasis","log","nonce","officer",
    /// "subjects","time"}`.
    public var canonicalBytes: [UInt8] {
        Self.unsigned(draft: draft, log: log, time: time, nonce: nonce, officer: officer).canonicalBytes
    }

    static func unsigned(
        draft: LedgerEntryDraft, log: String, time: Timestamp, nonce: String, officer: LogOfficer
    ) -> JSONValue {
        .object([
            "action": .string(draft.action.rawValue), "subjects": .array(draft.subjects.map(\.json)),
            "legalBasis": .string(draft.legalBasis), "details": .object(draft.details), "log": .string(log),
            "time": .string(time.description), "nonce": .string(nonce), "officer": officer.json,
        ])
    }

    private init(
        draft: LedgerEntryDraft, log: String, time: Timestamp, nonce: String, officer: LogOfficer,
        signature: [UInt8]
    ) {
        self.draft = draft
        self.log = log
        self.time = time
        self.nonce = nonce
        self.officer = officer
        self.signature = signature
    }

    /// Signs `draft` for the log `log` as the officer holding `key`, with a fresh random nonce.
    /// - Throws: `LogSubmissionError.malformed` when the draft's details use `detailMember`.
    public static func sign(
        _ draft: LedgerEntryDraft, log: String, key: SigningKey, time: Timestamp = .now()
    ) throws -> LogSubmission {
        guard draft.details[detailMember] == nil else {
            throw LogSubmissionError.malformed("details may not hold the member '\(detailMember)'")
        }
        let officer = LogOfficer(key.identity)
        let nonce = Hex.encode(SecureRandom.bytes(16))
        let body = unsigned(draft: draft, log: log, time: time, nonce: nonce, officer: officer).canonicalBytes
        let signature = try key.privateKey.sign(signaturePrefix + body)
        return LogSubmission(
            draft: draft, log: log, time: time, nonce: nonce, officer: officer, signature: signature)
    }

    /// The body of `POST /add`: `{"sig": BASE64, "submission": {...}}`, canonical JSON.
    public var requestBody: [UInt8] {
        JSONValue.object([
            "submission": Self.unsigned(draft: draft, log: log, time: time, nonce: nonce, officer: officer),
            "sig": .string(Base64.encode(signature)),
        ]).canonicalBytes
    }

    /// Parses a `POST /add` body strictly (members, types, draft rules) without checking the signature.
    /// - Throws: `LogSubmissionError.malformed` naming what is wrong.
    public init(requestBody bytes: [UInt8]) throws {
        let value: JSONValue
        do { value = try JSONValue.parse(bytes, maxDepth: 32) } catch {
            throw LogSubmissionError.malformed("not JSON (\(error))")
        }
        guard let object = value.objectValue, object.count == 2, let submission = object["submission"]?.objectValue,
              let sigText = object["sig"]?.stringValue
        else {
            throw LogSubmissionError.malformed("expected exactly {\"submission\": {...}, \"sig\": BASE64}")
        }
        guard let signature = Base64.decode(sigText), signature.count == 64 else {
            throw LogSubmissionError.malformed("sig is not a base64 64-byte Ed25519 signature")
        }
        let expected: Set<String> = ["action", "subjects", "legalBasis", "details", "log", "time", "nonce", "officer"]
        guard Set(submission.keys) == expected else {
            let missing = expected.subtracting(submission.keys).sorted()
            let extra = Set(submission.keys).subtracting(expected).sorted()
            throw LogSubmissionError.malformed(
                extra.isEmpty ? "missing member '\(missing[0])'" : "unknown member '\(extra[0])'")
        }
        try self.init(members: submission, signature: signature)
    }

    private init(members: [String: JSONValue], signature: [UInt8]) throws {
        guard let log = members["log"]?.stringValue, let timeText = members["time"]?.stringValue,
              let time = Timestamp(parsing: timeText), time.description == timeText
        else {
            throw LogSubmissionError.malformed("log must be a string and time an RFC 3339 UTC time to the second")
        }
        guard let nonce = members["nonce"]?.stringValue, nonce.utf8.count == 32, Hex.decode(nonce) != nil,
              nonce == nonce.lowercased()
        else {
            throw LogSubmissionError.malformed("nonce must be 32 lower-case hex digits")
        }
        guard let details = members["details"]?.objectValue, details[Self.detailMember] == nil else {
            throw LogSubmissionError.malformed("details must be an object without '\(Self.detailMember)'")
        }
        var line: [String: JSONValue] = ["details": .object(details)]
        for name in ["action", "subjects", "legalBasis"] { line[name] = members[name] }
        let draft: LedgerEntryDraft
        do {
            draft = try LedgerEntryDraft(jsonLine: JSONValue.object(line).canonicalBytes)
        } catch let failure as LedgerError {
            throw LogSubmissionError.malformed("\(failure)")
        }
        self.init(
            draft: draft, log: log, time: time, nonce: nonce, officer: try LogOfficer(json: members["officer"]!),
            signature: signature)
    }

    /// Checks the officer's key ID and signature.
    /// - Throws: `LogSubmissionError.keyIDMismatch` or `.badSignature`.
    public func checkSignature() throws {
        let derived = officer.derivedKeyID
        guard officer.keyID == derived else {
            throw LogSubmissionError.keyIDMismatch(stated: officer.keyID, derived: derived)
        }
        guard officer.publicKey.verify(signature: signature, message: Self.signaturePrefix + canonicalBytes) else {
            throw LogSubmissionError.badSignature
        }
    }

    /// What identifies the submission for replay checks: the officer's public key and the nonce.
    public var replayKey: String { Base64.encode(officer.publicKey.rawBytes) + ":" + nonce }

    /// The draft of the log's entry: the submission's action, subjects and legal basis, and its details plus
    /// `detailMember` = `{"nonce","officer","sig","time"}`.
    public var entryDraft: LedgerEntryDraft {
        var details = draft.details
        details[Self.detailMember] = .object([
            "nonce": .string(nonce), "officer": officer.json, "sig": .string(Base64.encode(signature)),
            "time": .string(time.description),
        ])
        // The members were checked when the submission was made or parsed.
        return try! LedgerEntryDraft(
            action: draft.action, subjects: draft.subjects, legalBasis: draft.legalBasis, details: details)
    }

    /// The submission an entry carries, rebuilt from the entry (its ledger is the log, its action, subjects, legal
    /// basis and details less `detailMember` what was submitted), or nil when the entry carries none.
    /// - Throws: `LogSubmissionError.malformed` when `detailMember` is present but not well formed.
    public static func embedded(in entry: LedgerEntry) throws -> LogSubmission? {
        guard let carried = entry.details[detailMember] else { return nil }
        guard let object = carried.objectValue, object.count == 4, let officer = object["officer"],
              let sigText = object["sig"]?.stringValue, let signature = Base64.decode(sigText), signature.count == 64
        else {
            throw LogSubmissionError.malformed("\(detailMember) must be {nonce, officer, sig, time}")
        }
        var details = entry.details
        details[detailMember] = nil
        return try LogSubmission(
            members: [
                "action": .string(entry.action.rawValue), "subjects": .array(entry.subjects.map(\.json)),
                "legalBasis": .string(entry.legalBasis), "details": .object(details), "log": .string(entry.origin),
                "time": object["time"] ?? .null, "nonce": object["nonce"] ?? .null, "officer": officer,
            ], signature: signature)
    }
}
