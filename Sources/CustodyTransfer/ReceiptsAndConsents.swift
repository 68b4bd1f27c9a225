import CustodyAge
import CustodyBase
import CustodyBundle
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger
import CustodyTar

/// What `custody receipt import` recorded.
public struct ReceiptImportResult: Sendable {
    /// The receipt as signed.
    public var receipt: ReceiptStatement
    /// The sender's `transfer-out` entry the receipt answers.
    public var transferEntry: UInt64
    /// The `receipt` entry appended (or the one already recording this receipt).
    public var entry: LedgerEntry
    /// Whether the ledger already recorded this receipt.
    public var alreadyRecorded: Bool
    /// The receiver's checkpoint in the receipt, verified.
    public var receiverCheckpoint: Checkpoint
    /// Pairs of the receiver's checkpoints recorded without a consistency proof (the receipt carried none), one
    /// line each.
    public var unproven: [String] = []
}

/// `custody receipt import`: checks a receipt's signature (against the trust store, else the recipient key the
/// transfer-out entry recorded), that it answers a transfer-out entry of this ledger (transfer ID, bundle, file
/// digest, tag manifest, sender), that its receiver agrees with the trust store and the entry, the receiver's
/// signed checkpoint (its entry inside it, consistent with the receiver's checkpoints already recorded); then
/// appends a `receipt` entry.
public enum ReceiptImporter {
    /// Checks the receipt at `path` and appends a `receipt` entry to `ledger` signed with `key`; `trust`, when given,
    /// must hold the receiver.
    public static func importReceipt(_ path: String, ledger: Ledger, key: SigningKey,
                                     trust: TrustStore?) throws -> ReceiptImportResult {
        let (bytes, _, receipt, entries) = try SignedImport.read(
            path, ledger: ledger, key: key, parse: ReceiptStatement.init(text:)) { $0.receiver.key }
        let signer = receipt.receiver.key
        guard let transferID = receipt.transferID,
              let transfer = entries.last(where: {
                  $0.action == .transferOut && $0.details["transfer"]?.stringValue == transferID
              }) else {
            throw TransferError.noSuchTransfer(path: path, transferID: receipt.transferID,
                                               ledger: ledger.store.location)
        }
        if let trust {
            try SignedImport.requireTrusted(signer, in: trust, path: path)
        } else {
            guard let recorded = transfer.details["recipient"]?["verifierKey"]?.stringValue else {
                throw TransferError.receiverKeyNotRecorded(path: path)
            }
            guard recorded == signer.encoded else {
                throw TransferError.receiverKeyMismatch(path: path, signer: signer.encoded, entry: transfer.sequence,
                                                        recorded: recorded)
            }
        }
        var problems: [String] = []
        if receipt.bundleID != transfer.subjects.first?.id {
            problems.append("it names bundle \(receipt.bundleID ?? "(none)"), the transfer sent "
                + "\(transfer.subjects.first?.id ?? "(none)")")
        }
        if receipt.fileSHA256 != transfer.details["fileSha256"]?.stringValue {
            problems.append("the file it received (sha256 \(receipt.fileSHA256.prefix(16))...) is not the file sent")
        }
        if let first = problems.first {
            throw TransferError.receiptMismatch(path: path, entry: transfer.sequence, problem: first)
        }
        let checkpoint: Checkpoint
        do {
            checkpoint = try Checkpoint.open(receipt.checkpoint, keys: [signer])
        } catch {
            throw TransferError.receiverCheckpointInvalid(path: path, reason: "\(error)")
        }
        try crossCheck(receipt, path: path, transfer: transfer, checkpoint: checkpoint, owner: ledger.owner,
                       trust: trust)
        let digest = Hex.encode(Digester.digest(.sha256, bytes))
        if let existing = entries.first(where: {
            $0.action == .receipt && $0.details["receiptSha256"]?.stringValue == digest
        }) {
            return ReceiptImportResult(receipt: receipt, transferEntry: transfer.sequence, entry: existing,
                                       alreadyRecorded: true, receiverCheckpoint: checkpoint)
        }
        let anchor = ProofAnchor(checkpoint, proofs: receipt.consistency)
        let supplied = !receipt.consistency.isEmpty
        let unproven = try CheckpointCrossCheck.check(
            [(checkpoint, "the receipt's checkpoint")], anchor: anchor, supplied: supplied,
            history: CheckpointCrossCheck.History(entries), what: path)
        var details: [String: JSONValue] = [
            "transfer": .string(transferID), "transferEntry": .int(Int64(transfer.sequence)),
            "result": .string(receipt.passed ? "passed" : "failed"),
            "failures": .array(receipt.failures.map { .string($0) }),
            "receiver": receipt.receiver.json, "receiverEntry": .int(Int64(receipt.entry)),
            "receiverCheckpoint": BundleReceiver.checkpointJSON(checkpoint),
            "receiptSha256": .string(digest), "receipt": .string(String(decoding: bytes, as: UTF8.self)),
        ]
        if supplied { details[CheckpointCrossCheck.proofsField] = anchor.json }
        let entry = try ledger.append(LedgerEntryDraft(
            action: .receipt, subjects: transfer.subjects, legalBasis: transfer.legalBasis, details: details),
            key: key)
        return ReceiptImportResult(receipt: receipt, transferEntry: transfer.sequence, entry: entry,
                                   alreadyRecorded: false, receiverCheckpoint: checkpoint, unproven: unproven)
    }

    /// Checks the receipt's remaining fields against the transfer-out entry it answers, its own checkpoint, this
    /// ledger's owner and the trust store (SPEC 6.7); throws `CrossCheckError.fieldContradicts` naming the first
    /// field that disagrees.
    static func crossCheck(_ receipt: ReceiptStatement, path: String, transfer: LedgerEntry, checkpoint: Checkpoint,
                           owner: Identity, trust: TrustStore?) throws {
        func refuse(_ field: String, _ value: String, _ record: String, _ expected: String) -> CrossCheckError {
            .fieldContradicts(what: path, field: field, value: value, record: record, expected: expected)
        }
        let entry = "transfer-out entry \(transfer.sequence)"
        let sent = transfer.subjects.first?.attributes["tagmanifest-sha256"]?.stringValue
        if let sent, let received = receipt.tagManifestDigest, received != sent {
            throw refuse("tagmanifest-sha256", received, entry, sent)
        }
        // A collection: the receiver's count and root of the records must be those sent.
        if let sentItems = transfer.subjects.first.flatMap({ ItemsCommitment(subject: $0) }),
           let receivedItems = receipt.items, receivedItems != sentItems {
            throw refuse("items", receivedItems.field, entry, sentItems.field)
        }
        if let sender = receipt.sender, sender != owner.verifierKey {
            throw refuse("sender", sender.encoded, "this ledger's owner", owner.verifierKey.encoded)
        }
        guard receipt.entry < checkpoint.size else {
            throw refuse("entry", String(receipt.entry), "the receiver's checkpoint in the receipt",
                         "size \(checkpoint.size) (entries below \(checkpoint.size))")
        }
        let recipient = transfer.details["recipient"]
        var records: [(String, String?, String?)] = [
            (entry, recipient?["agency"]?.stringValue, recipient?["jurisdiction"]?.stringValue),
        ]
        if let trusted = trust?.entry(named: receipt.receiver.key.name) {
            records.insert(("the trust store entry \(trusted.name)", trusted.agency, trusted.jurisdiction), at: 0)
        }
        for (record, agency, jurisdiction) in records {
            if let agency, receipt.receiver.agency != agency {
                throw refuse("receiver-agency", receipt.receiver.agency, record, agency)
            }
            if let jurisdiction, receipt.receiver.jurisdiction != jurisdiction {
                throw refuse("receiver-jurisdiction", receipt.receiver.jurisdiction, record, jurisdiction)
            }
        }
        if let recorded = recipient?["verifierKey"]?.stringValue, recorded != receipt.receiver.key.encoded {
            throw TransferError.receiverKeyMismatch(path: path, signer: receipt.receiver.key.encoded,
                                                    entry: transfer.sequence, recorded: recorded)
        }
    }
}

/// `custody consent grant` and `custody consent import`.
public enum ConsentManager {
    /// The original sender signs consent to pass `bundleID` on to `toJurisdiction`; with a ledger, a `consent`
    /// entry records the grant.
    public static func grant(bundleID: String, toJurisdiction: String, toAgency: String?, purpose: String?,
                             expires: CivilDate?, key: SigningKey, ledger: Ledger?) throws
        -> (note: SignedNote, statement: ConsentStatement, entry: LedgerEntry?) {
        let jurisdiction = try CountryCode.validate(toJurisdiction)
        guard !bundleID.isEmpty, bundleID.utf8.count <= 1024 else {
            throw TransferError.bundleIDLength
        }
        let statement = ConsentStatement(
            consentID: Identifier.urn(), bundleID: Statement.singleLine(bundleID), toJurisdiction: jurisdiction,
            toAgency: toAgency.map(Statement.singleLine), purpose: purpose.map(Statement.singleLine),
            expires: expires, grantedBy: StatementParty(key.identity), time: Timestamp.now().description)
        let note = try SignedNote.sign(text: statement.text, name: key.identity.name, key: key.privateKey)
        var entry: LedgerEntry?
        if let ledger {
            try BundleTransfer.checkOwner(ledger, key)
            entry = try ledger.append(LedgerEntryDraft(
                action: .consent, subjects: [try LedgerSubject(id: statement.bundleID)],
                details: details(statement, note: note, role: "granted")), key: key)
        }
        return (note, statement, entry)
    }

    static func details(_ statement: ConsentStatement, note: SignedNote, role: String) -> [String: JSONValue] {
        var details: [String: JSONValue] = [
            "consent": .string(statement.consentID), "role": .string(role),
            "toJurisdiction": .string(statement.toJurisdiction), "grantedBy": statement.grantedBy.json,
            "note": .string(note.encoded),
        ]
        if let agency = statement.toAgency { details["toAgency"] = .string(agency) }
        if let purpose = statement.purpose { details["purpose"] = .string(purpose) }
        if let expires = statement.expires { details["expires"] = .string(expires.description) }
        return details
    }

    /// Checks the consent's granting party against the trust store and against the sealer the `receive` entries
    /// of its bundle recorded (SPEC 6.8); throws `CrossCheckError.fieldContradicts` naming the field.
    static func crossCheck(_ statement: ConsentStatement, path: String, received: [LedgerEntry],
                           trust: TrustStore) throws {
        let party = statement.grantedBy
        var records: [(String, String?, String?)] = []
        if let trusted = trust.entry(named: party.key.name) {
            records.append(("the trust store entry \(trusted.name)", trusted.agency, trusted.jurisdiction))
        }
        for entry in received where entry.details["sealer"]?["verifierKey"]?.stringValue == party.key.encoded {
            let sealer = entry.details["sealer"]
            records.append(("receive entry \(entry.sequence) (sealer)", sealer?["agency"]?.stringValue,
                            sealer?["jurisdiction"]?.stringValue))
        }
        for (record, agency, jurisdiction) in records {
            if let agency, party.agency != agency {
                throw CrossCheckError.fieldContradicts(what: path, field: "granted-by-agency", value: party.agency,
                                                       record: record, expected: agency)
            }
            if let jurisdiction, party.jurisdiction != jurisdiction {
                throw CrossCheckError.fieldContradicts(what: path, field: "granted-by-jurisdiction",
                                                       value: party.jurisdiction, record: record,
                                                       expected: jurisdiction)
            }
        }
    }

    /// The holder records a consent: it must be signed by a trusted key that sealed a bundle this ledger received,
    /// and its granting party must agree with the trust store and the sealer recorded.
    /// A consent already recorded is not recorded twice: its entry is returned with `alreadyRecorded` set.
    public static func importConsent(_ path: String, ledger: Ledger, key: SigningKey, trust: TrustStore) throws
        -> (statement: ConsentStatement, entry: LedgerEntry, alreadyRecorded: Bool) {
        let (_, note, statement, entries) = try SignedImport.read(
            path, ledger: ledger, key: key, parse: ConsentStatement.init(text:)) { $0.grantedBy.key }
        let signer = statement.grantedBy.key
        let received = entries.filter {
            $0.action == .receive && $0.subjects.contains { $0.id == statement.bundleID }
        }
        guard !received.isEmpty else {
            throw TransferError.consentForUnreceivedBundle(path: path, bundleID: statement.bundleID,
                                                           ledger: ledger.store.location)
        }
        guard received.contains(where: { $0.details["sealer"]?["verifierKey"]?.stringValue == signer.encoded }) else {
            let sealer = received.last?.details["sealer"]?["name"]?.stringValue ?? "unknown"
            throw TransferError.consentNotBySealer(path: path, signer: signer.name, bundleID: statement.bundleID,
                                                   sealer: sealer)
        }
        try SignedImport.requireTrusted(signer, in: trust, path: path)
        try crossCheck(statement, path: path, received: received, trust: trust)
        if let existing = entries.first(where: {
            $0.action == .consent && $0.details["consent"]?.stringValue == statement.consentID
        }) {
            return (statement, existing, true)
        }
        let entry = try ledger.append(LedgerEntryDraft(
            action: .consent, subjects: [try LedgerSubject(id: statement.bundleID)],
            details: details(statement, note: note, role: "received")), key: key)
        return (statement, entry, false)
    }
}

/// Reading a signed receipt or consent for import into a ledger.
enum SignedImport {
    /// Checks that `key` owns `ledger`, reads the signed note at `path`, parses its statement with `parse` (a
    /// failure names the file) and checks its signature with the key `signer` names; returns the file's bytes, the
    /// note, the statement and the ledger's entries.
    static func read<Statement>(_ path: String, ledger: Ledger, key: SigningKey,
                                parse: (String) throws -> Statement,
                                signer: (Statement) -> NoteVerifierKey) throws
        -> (bytes: [UInt8], note: SignedNote, statement: Statement, entries: [LedgerEntry]) {
        try BundleTransfer.checkOwner(ledger, key)
        let bytes = try FileSystem.readFile(path, limit: SignedNote.maximumSize)
        let note = try SignedNote.parse(bytes, source: path)
        let statement: Statement
        do {
            statement = try parse(note.text)
        } catch let error as any CustodyFailure {
            throw TransferError.statementRefused(path: path, reason: error.description)
        }
        try note.verifySigned(by: signer(statement), what: path)
        return (bytes, note, statement, try BundleTransfer.allEntries(ledger))
    }

    /// Throws unless the trust store holds `signer` with its key.
    static func requireTrusted(_ signer: NoteVerifierKey, in trust: TrustStore, path: String) throws {
        switch trust.standing(name: signer.name, key: signer.publicKey) {
        case .trusted:
            return
        case .wrongKey(let entry):
            throw TransferError.signerKeyDiffers(path: path, signer: signer.name, keyID: signer.keyIDHex,
                                                 trustedKeyID: entry.verifierKey.keyIDHex)
        case .unknown:
            throw TransferError.signerNotTrusted(path: path, signer: signer.name, keyID: signer.keyIDHex)
        }
    }
}
