import CustodyAge
import CustodyBase
import CustodyBundle
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger
import CustodyTar
#if canImport(Glibc)
import Glibc
#endif

/// Member names inside a transfer archive.
public enum TransferLayout {
    /// The sealed bundle's directory.
    public static let bundle = "bundle"
    /// The sender's signed transfer statement (without the file fields).
    public static let statement = "transfer.txt"
    /// The sender's note beside the encrypted file: `FILE` + this suffix.
    public static let noteSuffix = ".note"
    /// The receiver's receipt beside the received bundle: `DIR` + this suffix.
    public static let receiptSuffix = ".receipt"
}

/// How `custody transfer` sends a bundle.
public struct TransferOptions: Sendable {
    /// Overrides the conditions' legal basis.
    public var legalBasis: String?
    /// The mutual legal assistance request reference to state.
    public var mlaReference: String?
    /// The conditions of this transfer (default: the bundle's sealed conditions).
    public var conditions: Conditions?
    /// The trust store to check the bundle's signers against.
    public var trust: TrustStore?
    /// The sender's own age recipient, so the sender can reopen the file.
    public var selfRecipient: AgeX25519Recipient?
    /// Called with the bundle path and the bytes verified so far.
    public var progress: (@Sendable (String, UInt64) -> Void)?
    /// Today, for consent expiry (default: the current UTC date).
    public var today: CivilDate?
    /// Polled between archive blocks; when it returns true the transfer stops and leaves nothing.
    public var shouldStop: (@Sendable () -> Bool)?
    /// Called after the `transfer-out` entry is appended, before the file and note are put in place: a test hook
    /// to fail what follows the append (a full disk).
    package var afterLedgerAppend: (@Sendable () throws -> Void)?

    /// The default options.
    public init() {}
}

/// What a transfer did.
public struct TransferResult: Sendable {
    /// The statement as signed in the note beside the file (with the file fields).
    public var statement: TransferStatement
    /// The encrypted file written.
    public var file: String
    /// The signed note written beside it.
    public var notePath: String
    /// The `transfer-out` entry appended.
    public var entry: LedgerEntry
    /// The checkpoint after that entry.
    public var checkpoint: Checkpoint
    /// How the onward-transfer condition was met.
    public var decision: OnwardTransferRule.Decision
    /// The consent entry that allowed an onward transfer.
    public var consentEntry: UInt64?
    /// The age recipients the file is encrypted to.
    public var encryptedTo: [String]
    /// True when an earlier run had sent the file and appended the entry but not written the note, and this run
    /// only wrote the note from that entry (nothing was sent again; `encryptedTo` then names the recipient only).
    public var regenerated = false
}

/// `custody transfer`: verifies a bundle, checks the onward-transfer condition, streams it as a tar archive
/// through age encryption into a new file, records a `transfer-out` entry and writes the signed note beside it.
public enum BundleTransfer {
    /// The `transfer-out` detail holding the statement's `time`: with the others it gives back the whole statement,
    /// so a lost note can be written again from the entry.
    static let statementTimeDetail = "statementTime"

    /// Verifies `bundle`, checks its onward-transfer condition, writes it encrypted to `recipient` at `out`, appends a
    /// `transfer-out` entry to `ledger` signed with `key` and writes the signed note beside `out`. Nothing is written
    /// when a check fails.
    public static func send(bundle: String, to recipient: TransferRecipient, out: String, ledger: Ledger,
                            key: SigningKey, options: TransferOptions) throws -> TransferResult {
        try checkOwner(ledger, key)
        let notePath = out + TransferLayout.noteSuffix
        if FileSystem.exists(out) && !FileSystem.exists(notePath),
           let finished = try TransferRecovery.finishTransfer(bundle: bundle, to: recipient, out: out,
                                                              notePath: notePath, ledger: ledger, key: key) {
            return finished
        }
        for path in [out, notePath] where FileSystem.exists(path) {
            throw TransferError.outputExists(path: path, sending: true)
        }
        // The sender trusts its own key when checking what it sends.
        var verificationTrust = options.trust
        if var trust = verificationTrust, trust.entry(named: key.identity.name) == nil {
            try trust.add(TrustStore.Entry(name: key.identity.name, agency: key.identity.agency,
                                           jurisdiction: key.identity.jurisdiction, publicKey: key.identity.publicKey,
                                           added: Timestamp.now().description))
            verificationTrust = trust
        }
        var verifier = BundleVerifier(root: bundle, trust: verificationTrust)
        verifier.progress = options.progress
        let (report, summary) = verifier.verify()
        guard report.passed else {
            let first = report.failures[0]
            throw TransferError.bundleDoesNotVerify(bundle: bundle, failed: report.failures.count,
                                                    firstCheck: first.name, firstDetail: first.detail)
        }
        guard let bundleID = summary.bundleID, let sealer = summary.sealer else {
            throw TransferError.bundleUnidentified(bundle: bundle)
        }
        let sealed = summary.conditions ?? Conditions()
        let entries = try allEntries(ledger)
        var rule = sealed.onwardTransfer
        for entry in entries where entry.action == .receive && entry.subjects.contains(where: { $0.id == bundleID }) {
            if let json = entry.details["conditions"], let received = try? Conditions(json: json, source: "ledger") {
                rule = OnwardTransferRule.strictest(rule, received.onwardTransfer)
            }
        }
        let decision = OnwardTransferRule.evaluate(sealer: sealer, holder: key.identity,
                                                   target: recipient.jurisdiction, rule: rule)
        let party = TransferError.Party(name: sealer.name, agency: sealer.agency, jurisdiction: sealer.jurisdiction)
        var consentEntry: UInt64?
        let today = options.today ?? CivilDate.today()
        switch decision {
        case .ownEvidence, .notThirdJurisdiction, .allowed:
            break
        case .unknownJurisdiction:
            throw TransferError.recipientJurisdictionUnknown(rule: rule.rawValue, bundle: bundle, sealer: party)
        case .forbidden(let target):
            throw TransferError.onwardTransferForbidden(bundleID: bundleID, sealer: party, target: target)
        case .needsConsent(let target):
            consentEntry = try findConsent(entries, bundleID: bundleID, sealer: sealer, jurisdiction: target,
                                           agency: recipient.agency, on: today)
            guard consentEntry != nil else {
                throw TransferError.consentMissing(bundleID: bundleID, sealer: party, target: target,
                                                   ledger: ledger.store.location)
            }
        }
        var conditions = options.conditions ?? sealed
        if let legalBasis = options.legalBasis { conditions.legalBasis = legalBasis }
        if let mla = options.mlaReference { conditions.mlaReference = mla }
        if sealer.jurisdiction != key.identity.jurisdiction {
            // A holder passes the evidence on under conditions at least as strict as it received.
            conditions.onwardTransfer = OnwardTransferRule.strictest(conditions.onwardTransfer, rule)
        }
        let tagManifest = try FileSystem.readFile(bundle + "/" + BundleLayout.tagManifestName(.sha256),
                                                  limit: BagValidator.tagFileLimit)
        let statement = TransferStatement(
            transferID: Identifier.urn(), bundleID: bundleID,
            tagManifestDigest: Hex.encode(Digester.digest(.sha256, tagManifest)), time: Timestamp.now().description,
            sender: StatementParty(key.identity), recipient: recipient, legalBasis: conditions.legalBasis,
            mlaReference: conditions.mlaReference, conditions: conditions, items: ItemsCommitment(summary))
        let inner = try SignedNote.sign(text: statement.text, name: key.identity.name, key: key.privateKey)
        var recipients: [any AgeRecipient] = [recipient.ageRecipient]
        if let mine = options.selfRecipient, mine != recipient.ageRecipient { recipients.append(mine) }

        let temporary = out + ".partial-\(getpid())"
        let output = try FileDescriptor.open(temporary, O_WRONLY | O_CREAT | O_EXCL, mode: 0o644)
        var linked = false, keepTemporary = false
        defer {
            if !linked && !keepTemporary { unlink(temporary) }
        }
        let digester = Digester(.sha256)
        let fileSize: UInt64
        do {
            defer { output.close() }
            let stream = try AgeEncryptor(recipients: recipients).makeStream { bytes in
                digester.update(bytes)
                try output.writeAll(bytes)
            }
            var written: UInt64 = 0
            let progress = options.progress, shouldStop = options.shouldStop
            let tar = TarWriter { bytes in
                if shouldStop?() == true {
                    throw InterruptFlag.stoppedError(what: "the transfer: nothing was sent, \(out) was not written")
                }
                try stream.write(bytes)
                written += UInt64(bytes.count)
                progress?(out, written)
            }
            try tar.addFile(TransferLayout.statement, bytes: inner.bytes)
            try tar.addTree(bundle, as: TransferLayout.bundle)
            try tar.finish()
            fileSize = try stream.finish().fileSize
            try output.sync()
        }
        let fileDigest = Hex.encode(digester.finalize())
        var details: [String: JSONValue] = [
            "transfer": .string(statement.transferID), "file": .string(out), "fileSha256": .string(fileDigest),
            "fileSize": .int(Int64(fileSize)), "recipient": recipient.json,
            "conditions": conditions.json, "conditionsSha256": .string(statement.conditionsDigest),
            "sealer": StatementParty(sealer).json, statementTimeDetail: .string(statement.time),
        ]
        if let mla = conditions.mlaReference { details["mlaReference"] = .string(mla) }
        if let consentEntry { details["consentEntry"] = .int(Int64(consentEntry)) }
        if let sealed = summary.checkpoint { details["bundleCheckpoint"] = BundleReceiver.checkpointJSON(sealed) }
        let entry = try ledger.append(LedgerEntryDraft(
            action: .transferOut,
            subjects: [try LedgerSubject(id: bundleID, attributes: [
                "tagmanifest-sha256": .string(statement.tagManifestDigest), "sha256": .string(fileDigest),
            ].merging(statement.items?.attributes ?? [:]) { first, _ in first })],
            legalBasis: conditions.legalBasis ?? "", details: details), key: key)
        // The entry is committed: from here a failure leaves the file in place (or kept) and says how the same
        // command run again writes the note from the entry.
        do {
            guard link(temporary, out) == 0 else { throw SystemError(operation: "create", path: out, code: errno) }
            linked = true
            unlink(temporary)
            try FileSystem.syncDirectory(FileSystem.parentDirectory(of: out))
        } catch {
            keepTemporary = true
            throw TransferError.transferFileNotPlaced(file: out, kept: temporary, entry: entry.sequence,
                                                      reason: "\(error)")
        }
        let checkpoint: Checkpoint
        var outer = statement
        do {
            try options.afterLedgerAppend?()
            // The checkpoint at the entry's own size (every append stores one), whatever was appended since: the
            // size a later transfer proves consistency from (SPEC 6.6).
            guard let checkpointNote = try ledger.checkpoint(size: entry.sequence + 1) else {
                throw TransferError.noCheckpointAfter(action: "transfer-out", ledger: ledger.store.location)
            }
            checkpoint = try Checkpoint(text: checkpointNote.text)
            let consistency = try consistencyProofs(ledger, before: entries, recipient: recipient,
                                                    bundleCheckpoint: summary.checkpoint.map { ($0.origin, $0.size) },
                                                    to: checkpoint.size)
            outer.file = .init(sha256: fileDigest, size: fileSize, entry: entry.sequence,
                               checkpoint: checkpointNote.bytes, consistency: consistency)
            let note = try SignedNote.sign(text: outer.text, name: key.identity.name, key: key.privateKey)
            try FileSystem.writeAtomically(notePath, note.bytes)
            try FileSystem.syncDirectory(FileSystem.parentDirectory(of: out))
        } catch {
            throw TransferError.transferNoteNotWritten(note: notePath, file: out, entry: entry.sequence,
                                                       reason: "\(error)")
        }
        return TransferResult(statement: outer, file: out, notePath: notePath, entry: entry, checkpoint: checkpoint,
                              decision: decision, consentEntry: consentEntry,
                              encryptedTo: recipients.compactMap { ($0 as? AgeX25519Recipient)?.encoded })
    }

    static func checkOwner(_ ledger: Ledger, _ key: SigningKey) throws {
        guard key.identity.publicKey == ledger.owner.publicKey else {
            throw TransferError.notLedgerOwner(key: key.identity.name, ledger: ledger.store.location,
                                               owner: ledger.owner.name)
        }
    }

    /// Every entry of a ledger, parsed.
    static func allEntries(_ ledger: Ledger) throws -> [LedgerEntry] {
        var entries: [LedgerEntry] = []
        try ledger.export { bytes in
            do {
                entries.append(try LedgerEntry.parse(bytes))
            } catch LedgerError.invalid(let problem) {
                throw TransferError.ledgerEntryDamaged(ledger: ledger.store.location, entry: entries.count,
                                                       reason: "\(problem)")
            }
        }
        return entries
    }

    /// Proofs that the checkpoint at `size` extends every checkpoint of this ledger it gave `recipient` before,
    /// found in `entries` (those before the transfer-out entry), and the bundle's own checkpoint (SPEC 6.6). The
    /// transfer and a run that writes its note again compute them alike.
    static func consistencyProofs(_ ledger: Ledger, before entries: [LedgerEntry], recipient: TransferRecipient,
                                  bundleCheckpoint: (origin: String, size: UInt64)?, to size: UInt64) throws
        -> [CarriedProof] {
        var given = CheckpointCrossCheck.sizesGiven(entries, origin: ledger.origin, key: recipient.key,
                                                    ageRecipient: recipient.ageRecipient.encoded)
        if let sealed = bundleCheckpoint, sealed.origin == ledger.origin { given.insert(sealed.size) }
        return try CheckpointCrossCheck.proofs(ledger, from: given, to: size)
    }

    /// The consent entry in the holder's ledger, signed by the sealer, covering this bundle and jurisdiction.
    static func findConsent(_ entries: [LedgerEntry], bundleID: String, sealer: Identity, jurisdiction: String,
                            agency: String?, on date: CivilDate) throws -> UInt64? {
        for entry in entries.reversed() where entry.action == .consent {
            guard entry.subjects.contains(where: { $0.id == bundleID }),
                  let text = entry.details["note"]?.stringValue,
                  let note = try? SignedNote.parse(Array(text.utf8)),
                  (try? note.verify(with: [sealer.verifierKey])) != nil,
                  let consent = try? ConsentStatement(text: note.text) else { continue }
            if OnwardTransferRule.covers(consent, bundleID: bundleID, jurisdiction: jurisdiction, agency: agency,
                                         on: date) {
                return entry.sequence
            }
        }
        return nil
    }
}
