import CustodyAge
import CustodyBase
import CustodyBundle
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger
import CustodyTar

/// Where a transfer goes: the age recipient and, when the trust store names it, the agency behind it.
public struct TransferRecipient: Sendable, Equatable {
    /// The age X25519 recipient the file is encrypted to.
    public var ageRecipient: AgeX25519Recipient
    /// The trust-store name, when the recipient was given by name.
    public var name: String?
    /// The recipient's agency, when named from the trust store.
    public var agency: String?
    /// The recipient's jurisdiction, when named from the trust store.
    public var jurisdiction: String?
    /// The recipient's signed-note key (from the trust store), used to check its receipt.
    public var key: NoteVerifierKey?

    /// A recipient from its age recipient and, when known, who it is.
    public init(ageRecipient: AgeX25519Recipient, name: String? = nil, agency: String? = nil,
                jurisdiction: String? = nil, key: NoteVerifierKey? = nil) {
        self.ageRecipient = ageRecipient
        self.name = name
        self.agency = agency
        self.jurisdiction = jurisdiction
        self.key = key
    }

    /// Resolves `text`: an `age1...` recipient, or the name of a trust-store entry that has a `recipient`.
    public static func resolve(_ text: String, trust: TrustStore?) throws -> TransferRecipient {
        if text.hasPrefix("age1") {
            do {
                return TransferRecipient(ageRecipient: try AgeX25519Recipient(parsing: text))
            } catch {
                throw TransferError.recipientInvalid(text: text, reason: "\(error)")
            }
        }
        guard let trust else {
            throw TransferError.recipientNeedsTrustStore(text: text)
        }
        guard let entry = trust.entry(named: text) else {
            throw TransferError.recipientNotInTrustStore(text: text)
        }
        guard let recipientText = entry.recipient else {
            throw TransferError.recipientWithoutAgeRecipient(text: text)
        }
        let recipient: AgeX25519Recipient
        do {
            recipient = try AgeX25519Recipient(parsing: recipientText)
        } catch {
            throw TransferError.trustEntryRecipientInvalid(name: text, reason: "\(error)")
        }
        return TransferRecipient(ageRecipient: recipient, name: entry.name, agency: entry.agency,
                                 jurisdiction: entry.jurisdiction, key: entry.verifierKey)
    }

    var json: JSONValue {
        var members: [String: JSONValue] = ["ageRecipient": .string(ageRecipient.encoded)]
        if let name { members["name"] = .string(name) }
        if let agency { members["agency"] = .string(agency) }
        if let jurisdiction { members["jurisdiction"] = .string(jurisdiction) }
        if let key { members["verifierKey"] = .string(key.encoded) }
        return .object(members)
    }
}

/// What a statement says about the items of a collection bundle (SPEC.md 5.13): their count and the root of the
/// items tree, the same whatever the number of items. Written `items COUNT ROOT`.
public struct ItemsCommitment: Sendable, Equatable {
    /// How many item records the bundle holds.
    public var count: UInt64
    /// The items root (64 hex digits, lower case).
    public var root: String

    /// A commitment to `count` records hashing to `root`.
    public init(count: UInt64, root: String) {
        self.count = count
        self.root = root
    }

    /// The commitment a verified collection bundle's summary gives, or nil (an image bundle, or records that did
    /// not hash to a root).
    public init?(_ summary: BundleSummary) {
        guard let collection = summary.collection, let root = collection.itemsRoot else { return nil }
        self.init(count: UInt64(collection.items), root: root.hex)
    }

    /// The commitment a ledger subject records (`items`, `items-root`), or nil.
    public init?(subject: LedgerSubject) {
        guard let count = subject.attributes["items"]?.intValue, count >= 0,
              let root = subject.attributes["items-root"]?.stringValue else { return nil }
        self.init(count: UInt64(count), root: root)
    }

    /// The field's value: `COUNT ROOT`.
    public var field: String { "\(count) \(root)" }

    /// The subject attributes that record it.
    public var attributes: [String: JSONValue] { ["items": .int(Int64(count)), "items-root": .string(root)] }

    /// Parses `COUNT ROOT`; `header` names the statement in the error.
    init(field: String, header: String) throws {
        let parts = field.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2, let count = UInt64(parts[0]), parts[1].utf8.count == 64,
              parts[1].allSatisfy({ ("0"..."9").contains($0) || ("a"..."f").contains($0) }) else {
            throw TransferError.statementMalformed(header: header, reason: "items is not COUNT and 64 hex digits")
        }
        self.init(count: count, root: String(parts[1]))
    }
}

/// The sender's signed statement about a transfer. The copy inside the encrypted archive (`transfer.txt`) has the
/// fields known before encryption; the note beside the file (`FILE.note`) repeats them and adds the encrypted
/// file's digest and size, the sender's `transfer-out` entry and the sender's checkpoint after it.
///
/// ```
/// custody transfer v1
/// transfer urn:uuid:...
/// bundle urn:uuid:...
/// tagmanifest-sha256 HEX
/// items COUNT ROOT                     (a collection bundle: its item count and items root)
/// time 2026-11-23T21:48:24Z
/// sender NAME+KEYID+BASE64
/// sender-agency ...
/// sender-jurisdiction FR
/// recipient age1...
/// recipient-name de-officer            (optional, with the three below)
/// recipient-agency ...
/// recipient-jurisdiction DE
/// recipient-key NAME+KEYID+BASE64
/// legal-basis ...                      (optional)
/// mla-ref ...                          (optional)
/// conditions {canonical JSON}
/// file-sha256 HEX                      (FILE.note only, with the three below)
/// file-size N
/// entry N
/// checkpoint BASE64(signed checkpoint note)
/// ```
public struct TransferStatement: Sendable, Equatable {
    /// The first line of a transfer statement.
    public static let header = "custody transfer v1"
    /// The transfer ID (`urn:uuid:`).
    public var transferID: String
    /// The bundle ID.
    public var bundleID: String
    /// SHA-256 of the bundle's `tagmanifest-sha256.txt` as sent.
    public var tagManifestDigest: String
    /// For a collection bundle: its item count and items root (nil for an image bundle).
    public var items: ItemsCommitment?
    /// When the transfer was made (RFC 3339, UTC).
    public var time: String
    /// The sender.
    public var sender: StatementParty
    /// The recipient.
    public var recipient: TransferRecipient
    /// The legal basis of the transfer.
    public var legalBasis: String?
    /// The mutual legal assistance request reference.
    public var mlaReference: String?
    /// The conditions the transfer is made under (canonical JSON in the statement).
    public var conditions: Conditions
    /// The file fields, in the note beside the file only.
    public var file: FileFields?

    /// What only the note beside the encrypted file carries.
    public struct FileFields: Sendable, Equatable {
        /// The SHA-256 of the encrypted file, hex.
        public var sha256: String
        /// The size of the encrypted file.
        public var size: UInt64
        /// The sender's `transfer-out` entry.
        public var entry: UInt64
        /// The sender's signed checkpoint after that entry.
        public var checkpoint: [UInt8]
        /// Consistency proofs from the sizes of the sender's checkpoints it gave this recipient before to the size
        /// of `checkpoint` (empty in notes made before custody carried them).
        public var consistency: [CarriedProof] = []

        /// File fields from their parts.
        public init(sha256: String, size: UInt64, entry: UInt64, checkpoint: [UInt8],
                    consistency: [CarriedProof] = []) {
            self.consistency = consistency
            self.sha256 = sha256
            self.size = size
            self.entry = entry
            self.checkpoint = checkpoint
        }
    }

    /// A statement from its fields.
    public init(transferID: String, bundleID: String, tagManifestDigest: String, time: String,
                sender: StatementParty, recipient: TransferRecipient, legalBasis: String?, mlaReference: String?,
                conditions: Conditions, file: FileFields? = nil, items: ItemsCommitment? = nil) {
        self.items = items
        self.transferID = transferID
        self.bundleID = bundleID
        self.tagManifestDigest = tagManifestDigest
        self.time = time
        self.sender = sender
        self.recipient = recipient
        self.legalBasis = legalBasis
        self.mlaReference = mlaReference
        self.conditions = conditions
        self.file = file
    }

    /// The statement as fields, in the order signed.
    public var statement: Statement {
        var statement = Statement(header: TransferStatement.header, transferID: transferID, bundleID: bundleID,
                                  tagManifestDigest: tagManifestDigest)
        statement.add("items", items?.field)
        statement.add("time", time)
        sender.add(to: &statement, prefix: "sender")
        statement.add("recipient", recipient.ageRecipient.encoded)
        statement.add("recipient-name", recipient.name)
        statement.add("recipient-agency", recipient.agency)
        statement.add("recipient-jurisdiction", recipient.jurisdiction)
        statement.add("recipient-key", recipient.key?.encoded)
        statement.add("legal-basis", legalBasis)
        statement.add("mla-ref", mlaReference)
        statement.add("conditions", conditions.json.canonicalString)
        if let file {
            statement.add("file-sha256", file.sha256)
            statement.add("file-size", String(file.size))
            statement.add("entry", String(file.entry))
            statement.add("checkpoint", Base64.encode(file.checkpoint))
            for proof in file.consistency { statement.add("consistency", proof.field) }
        }
        return statement
    }

    /// The text that is signed.
    public var text: String { statement.text }

    static let keys: Set<String> = Set(["transfer", "bundle", "tagmanifest-sha256", "items", "time", "recipient",
                                        "recipient-name", "recipient-agency", "recipient-jurisdiction",
                                        "recipient-key", "legal-basis", "mla-ref", "conditions", "file-sha256",
                                        "file-size", "entry", "checkpoint", "consistency"]
                                        + StatementParty.keys("sender"))

    /// Parses a statement's text (the signature is checked separately).
    public init(text: String) throws {
        let statement = try Statement(parsing: text, header: TransferStatement.header, allowed: TransferStatement.keys,
                                      repeatable: ["consistency"])
        func bad(_ why: String) -> TransferError { .statementMalformed(header: TransferStatement.header, reason: why) }
        transferID = try statement.required("transfer")
        bundleID = try statement.required("bundle")
        tagManifestDigest = try statement.required("tagmanifest-sha256")
        guard tagManifestDigest.utf8.count == 64, Hex.decode(tagManifestDigest) != nil else {
            throw bad("tagmanifest-sha256 is not 64 hex digits")
        }
        items = try statement.value("items").map { try ItemsCommitment(field: $0, header: TransferStatement.header) }
        time = try statement.required("time")
        sender = try StatementParty(from: statement, prefix: "sender")
        let recipientText = try statement.required("recipient")
        var recipient: TransferRecipient
        do {
            recipient = TransferRecipient(ageRecipient: try AgeX25519Recipient(parsing: recipientText))
        } catch {
            throw bad("recipient: \(error)")
        }
        recipient.name = statement.value("recipient-name")
        recipient.agency = statement.value("recipient-agency")
        recipient.jurisdiction = statement.value("recipient-jurisdiction")
        if let key = statement.value("recipient-key") {
            guard let parsed = try? NoteVerifierKey(parsing: key) else {
                throw bad("recipient-key is not a verifier key")
            }
            recipient.key = parsed
        }
        self.recipient = recipient
        legalBasis = statement.value("legal-basis")
        mlaReference = statement.value("mla-ref")
        do {
            conditions = try Conditions(json: try JSONValue.parse(try statement.required("conditions")),
                                        source: "transfer statement conditions")
        } catch let error as any CustodyFailure {
            throw bad(error.description)
        } catch {
            throw bad("conditions: \(error)")
        }
        if let sha = statement.value("file-sha256") {
            guard sha.utf8.count == 64, Hex.decode(sha) != nil,
                  let size = statement.value("file-size").flatMap({ UInt64($0) }),
                  let entry = statement.value("entry").flatMap({ UInt64($0) }),
                  let checkpoint = statement.value("checkpoint").flatMap({ Base64.decode($0) }) else {
                throw bad("file-sha256, file-size, entry and checkpoint must come together and be well formed")
            }
            file = FileFields(sha256: sha, size: size, entry: entry, checkpoint: checkpoint,
                              consistency: try CarriedProof.parse(statement, header: TransferStatement.header))
        } else {
            guard statement.value("consistency") == nil else { throw bad("consistency without the file fields") }
            file = nil
        }
    }

    /// SHA-256 (hex) of the conditions' canonical JSON.
    public var conditionsDigest: String { Hex.encode(Digester.digest(.sha256, conditions.json.canonicalBytes)) }
}

/// The receiver's signed receipt (`DIR.receipt`):
///
/// ```
/// custody receipt v1
/// transfer urn:uuid:...                (when the archive carried a transfer statement)
/// bundle urn:uuid:...
/// tagmanifest-sha256 HEX
/// items COUNT ROOT                     (a collection bundle whose records hash to a root: count and root)
/// file-sha256 HEX
/// result passed | failed
/// failure CHECK: DETAIL                (one per failed check)
/// receiver NAME+KEYID+BASE64
/// receiver-agency ...
/// receiver-jurisdiction DE
/// sender NAME+KEYID+BASE64             (when known)
/// entry N                              (the receiver's receive entry)
/// checkpoint BASE64(signed checkpoint note of the receiver's ledger after that entry)
/// consistency FROM HEX,HEX,...         (repeatable: proofs from the receiver's earlier checkpoints given the
///                                      sender to this one; `consistency N` alone for this one's own size)
/// time 2026-11-23T21:48:30Z
/// ```
public struct ReceiptStatement: Sendable, Equatable {
    /// The first line of a receipt.
    public static let header = "custody receipt v1"
    /// The transfer the receipt answers, when the archive carried a statement.
    public var transferID: String?
    /// The received bundle ID, if readable.
    public var bundleID: String?
    /// The SHA-256 of the received bundle's `tagmanifest-sha256.txt`, hex, if readable.
    public var tagManifestDigest: String?
    /// For a collection bundle: the item count and items root the receiver computed (nil for an image bundle).
    public var items: ItemsCommitment?
    /// The SHA-256 of the encrypted file received, hex.
    public var fileSHA256: String
    /// Whether the received bundle verified.
    public var passed: Bool
    /// The checks that failed, one line each.
    public var failures: [String]
    /// The receiver.
    public var receiver: StatementParty
    /// The sender's verifier key, when the transfer statement named it.
    public var sender: NoteVerifierKey?
    /// The receiver's `receive` entry.
    public var entry: UInt64
    /// The receiver's signed checkpoint after that entry.
    public var checkpoint: [UInt8]
    /// Consistency proofs from the sizes of the receiver's checkpoints it gave the sender before to the size of
    /// `checkpoint` (empty in receipts made before custody carried them).
    public var consistency: [CarriedProof] = []
    /// When the receipt was made (RFC 3339, UTC).
    public var time: String

    /// A receipt from its fields.
    public init(transferID: String?, bundleID: String?, tagManifestDigest: String?, fileSHA256: String,
                passed: Bool, failures: [String], receiver: StatementParty, sender: NoteVerifierKey?, entry: UInt64,
                checkpoint: [UInt8], consistency: [CarriedProof] = [], time: String, items: ItemsCommitment? = nil) {
        self.items = items
        self.consistency = consistency
        self.transferID = transferID
        self.bundleID = bundleID
        self.tagManifestDigest = tagManifestDigest
        self.fileSHA256 = fileSHA256
        self.passed = passed
        self.failures = failures
        self.receiver = receiver
        self.sender = sender
        self.entry = entry
        self.checkpoint = checkpoint
        self.time = time
    }

    /// The text that is signed.
    public var text: String {
        var statement = Statement(header: ReceiptStatement.header, transferID: transferID, bundleID: bundleID,
                                  tagManifestDigest: tagManifestDigest)
        statement.add("items", items?.field)
        statement.add("file-sha256", fileSHA256)
        statement.add("result", passed ? "passed" : "failed")
        for failure in failures { statement.add("failure", failure) }
        receiver.add(to: &statement, prefix: "receiver")
        statement.add("sender", sender?.encoded)
        statement.add("entry", String(entry))
        statement.add("checkpoint", Base64.encode(checkpoint))
        for proof in consistency { statement.add("consistency", proof.field) }
        statement.add("time", time)
        return statement.text
    }

    /// Parses a receipt's text (the signature is checked separately).
    public init(text: String) throws {
        let allowed = Set(["transfer", "bundle", "tagmanifest-sha256", "items", "file-sha256", "result", "failure",
                           "sender",
                           "entry", "checkpoint", "consistency", "time"] + StatementParty.keys("receiver"))
        let statement = try Statement(parsing: text, header: ReceiptStatement.header, allowed: allowed,
                                      repeatable: ["failure", "consistency"])
        func bad(_ why: String) -> TransferError { .statementMalformed(header: ReceiptStatement.header, reason: why) }
        transferID = statement.value("transfer")
        bundleID = statement.value("bundle")
        tagManifestDigest = statement.value("tagmanifest-sha256")
        items = try statement.value("items").map { try ItemsCommitment(field: $0, header: ReceiptStatement.header) }
        fileSHA256 = try statement.required("file-sha256")
        switch try statement.required("result") {
        case "passed": passed = true
        case "failed": passed = false
        case let other: throw bad("result '\(other.prefix(40))' is neither passed nor failed")
        }
        failures = statement.values("failure")
        if passed && !failures.isEmpty { throw bad("result passed but failures listed") }
        receiver = try StatementParty(from: statement, prefix: "receiver")
        if let sender = statement.value("sender") {
            guard let key = try? NoteVerifierKey(parsing: sender) else { throw bad("sender is not a verifier key") }
            self.sender = key
        }
        guard let entry = UInt64(try statement.required("entry")) else { throw bad("entry is not a number") }
        self.entry = entry
        guard let checkpoint = Base64.decode(try statement.required("checkpoint")) else {
            throw bad("checkpoint is not base64")
        }
        self.checkpoint = checkpoint
        consistency = try CarriedProof.parse(statement, header: ReceiptStatement.header)
        time = try statement.required("time")
    }
}

/// The original sender's signed consent to an onward transfer of a bundle to another jurisdiction:
///
/// ```
/// custody consent v1
/// consent urn:uuid:...
/// bundle urn:uuid:...
/// to-jurisdiction US
/// to-agency ...                        (optional: only to this agency)
/// purpose ...                          (optional)
/// expires 2027-01-31                   (optional: last day the consent may be used)
/// granted-by NAME+KEYID+BASE64
/// granted-by-agency ...
/// granted-by-jurisdiction FR
/// time 2026-11-23T21:48:24Z
/// ```
public struct ConsentStatement: Sendable, Equatable {
    /// The first line of a consent.
    public static let header = "custody consent v1"
    /// The consent ID (`urn:uuid:`).
    public var consentID: String
    /// The bundle the consent covers.
    public var bundleID: String
    /// The jurisdiction the bundle may be passed on to.
    public var toJurisdiction: String
    /// The only agency it may be passed on to, when limited.
    public var toAgency: String?
    /// The purpose the consent is given for.
    public var purpose: String?
    /// The last day the consent may be used.
    public var expires: CivilDate?
    /// The original sender granting it.
    public var grantedBy: StatementParty
    /// When the consent was granted (RFC 3339, UTC).
    public var time: String

    /// A consent from its fields.
    public init(consentID: String, bundleID: String, toJurisdiction: String, toAgency: String?, purpose: String?,
                expires: CivilDate?, grantedBy: StatementParty, time: String) {
        self.consentID = consentID
        self.bundleID = bundleID
        self.toJurisdiction = toJurisdiction
        self.toAgency = toAgency
        self.purpose = purpose
        self.expires = expires
        self.grantedBy = grantedBy
        self.time = time
    }

    /// The text that is signed.
    public var text: String {
        var statement = Statement(header: ConsentStatement.header)
        statement.add("consent", consentID)
        statement.add("bundle", bundleID)
        statement.add("to-jurisdiction", toJurisdiction)
        statement.add("to-agency", toAgency)
        statement.add("purpose", purpose)
        statement.add("expires", expires?.description)
        grantedBy.add(to: &statement, prefix: "granted-by")
        statement.add("time", time)
        return statement.text
    }

    /// Parses a consent's text (the signature is checked separately).
    public init(text: String) throws {
        let allowed = Set(["consent", "bundle", "to-jurisdiction", "to-agency", "purpose", "expires", "time"]
            + StatementParty.keys("granted-by"))
        let statement = try Statement(parsing: text, header: ConsentStatement.header, allowed: allowed)
        consentID = try statement.required("consent")
        bundleID = try statement.required("bundle")
        toJurisdiction = try statement.required("to-jurisdiction")
        toAgency = statement.value("to-agency")
        purpose = statement.value("purpose")
        if let text = statement.value("expires") {
            guard let date = CivilDate(parsing: text) else {
                throw TransferError.statementMalformed(
                    header: ConsentStatement.header, reason: "expires '\(text.prefix(20))' is not a date (YYYY-MM-DD)")
            }
            expires = date
        }
        grantedBy = try StatementParty(from: statement, prefix: "granted-by")
        time = try statement.required("time")
    }
}
