import CustodyBase
import CustodyBundle
import CustodyCrypto
import CustodyIO
import CustodyLedger
#if canImport(Glibc)
import Glibc
#endif

/// Finishing a `transfer` or `receive` whose ledger entry was appended but whose signed note or receipt was not
/// written (a full disk, a crash after the append): the entry holds everything the note or receipt signs, so the
/// same command run again writes the missing file from it instead of sending or receiving a second time
/// (SPEC.md 6.5, 6.6).
enum TransferRecovery {
    /// The SHA-256 (hex) and size of the regular file at `path`; nil when it is not a regular file.
    static func fileDigest(_ path: String) throws -> (sha256: String, size: UInt64)? {
        let descriptor = try FileDescriptor.openForReading(path)
        defer { descriptor.close() }
        guard try descriptor.status().st_mode & S_IFMT == S_IFREG else { return nil }
        let digester = Digester(.sha256)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var size: UInt64 = 0
        while true {
            let count = try descriptor.read(into: buffer)
            if count == 0 { break }
            digester.update(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            size += UInt64(count)
        }
        return (Hex.encode(digester.finalize()), size)
    }

    /// The last entry of `action` signed by `key` whose details name `values` (detail name and string value).
    static func lastEntry(_ ledger: Ledger, action: LedgerAction, key: SigningKey,
                          values: [String: String]) throws -> LedgerEntry? {
        let keyID = key.identity.verifierKey.keyIDHex
        return try BundleTransfer.allEntries(ledger).last { entry in
            entry.action == action && entry.actor.keyID == keyID && entry.actor.name == key.identity.name
                && values.allSatisfy { entry.details[$0.key]?.stringValue == $0.value }
        }
    }

    /// The signed checkpoint just after `entry`, else the latest (which includes it).
    static func checkpoint(after entry: LedgerEntry, ledger: Ledger, action: String) throws -> SignedNote {
        if let note = try ledger.checkpoint(size: entry.sequence + 1) ?? ledger.latestCheckpoint() { return note }
        throw TransferError.noCheckpointAfter(action: action, ledger: ledger.store.location)
    }

    /// A party object of an entry's details (`{agency,jurisdiction,keyId,name,verifierKey}`).
    static func party(_ json: JSONValue?) -> StatementParty? {
        guard let members = json?.objectValue, let encoded = members["verifierKey"]?.stringValue,
              let key = try? NoteVerifierKey(parsing: encoded), let agency = members["agency"]?.stringValue,
              let jurisdiction = members["jurisdiction"]?.stringValue else { return nil }
        return StatementParty(key: key, agency: agency, jurisdiction: jurisdiction)
    }

    /// When `out` exists without its note: the `transfer-out` entry of an earlier run of the same transfer (the
    /// same file, by digest, the same bundle and recipient), with the note written again from it. nil when the
    /// ledger records no such transfer (the caller refuses the existing file as before).
    static func finishTransfer(bundle: String, to recipient: TransferRecipient, out: String, notePath: String,
                               ledger: Ledger, key: SigningKey) throws -> TransferResult? {
        guard let entry = try lastEntry(ledger, action: .transferOut, key: key, values: ["file": out]),
              let subject = entry.subjects.first,
              let recorded = entry.details["recipient"]?.objectValue,
              recorded["ageRecipient"]?.stringValue == recipient.ageRecipient.encoded,
              let file = try fileDigest(out),
              entry.details["fileSha256"]?.stringValue == file.sha256,
              entry.details["fileSize"]?.intValue == Int64(file.size),
              let manifest = try? FileSystem.readFile(bundle + "/" + BundleLayout.tagManifestName(.sha256),
                                                      limit: BagValidator.tagFileLimit),
              subject.attributes["tagmanifest-sha256"]?.stringValue == Hex.encode(Digester.digest(.sha256, manifest))
        else { return nil }
        func refuse(_ reason: String) -> TransferError {
            .noteCannotBeWrittenAgain(note: notePath, entry: entry.sequence, reason: reason)
        }
        guard let transferID = entry.details["transfer"]?.stringValue,
              let time = entry.details[BundleTransfer.statementTimeDetail]?.stringValue else {
            throw refuse("the entry does not record the statement's time (made by an earlier custody)")
        }
        guard let conditionsJSON = entry.details["conditions"],
              let conditions = try? Conditions(json: conditionsJSON, source: "ledger entry \(entry.sequence)") else {
            throw refuse("the entry's conditions do not parse")
        }
        var named = TransferRecipient(ageRecipient: recipient.ageRecipient, name: recorded["name"]?.stringValue,
                                      agency: recorded["agency"]?.stringValue,
                                      jurisdiction: recorded["jurisdiction"]?.stringValue)
        if let text = recorded["verifierKey"]?.stringValue {
            guard let parsed = try? NoteVerifierKey(parsing: text) else {
                throw refuse("the entry's recipient key does not parse")
            }
            named.key = parsed
        }
        var statement = TransferStatement(
            transferID: transferID, bundleID: subject.id,
            tagManifestDigest: subject.attributes["tagmanifest-sha256"]?.stringValue ?? "", time: time,
            sender: StatementParty(key.identity), recipient: named, legalBasis: conditions.legalBasis,
            mlaReference: conditions.mlaReference, conditions: conditions,
            items: ItemsCommitment(subject: subject))
        guard statement.conditionsDigest == entry.details["conditionsSha256"]?.stringValue else {
            throw refuse("the entry's conditions do not hash to its conditionsSha256")
        }
        let checkpointNote = try checkpoint(after: entry, ledger: ledger, action: "transfer-out")
        let before = Array(try BundleTransfer.allEntries(ledger).prefix(Int(entry.sequence)))
        let sent = entry.details["bundleCheckpoint"]?.objectValue
        let bundleCheckpoint = sent.flatMap { sent -> (origin: String, size: UInt64)? in
            guard let origin = sent["origin"]?.stringValue, let size = sent["size"]?.intValue, size >= 0 else {
                return nil
            }
            return (origin, UInt64(size))
        }
        let consistency = try BundleTransfer.consistencyProofs(
            ledger, before: before, recipient: named, bundleCheckpoint: bundleCheckpoint,
            to: try Checkpoint(text: checkpointNote.text).size)
        statement.file = .init(sha256: file.sha256, size: file.size, entry: entry.sequence,
                               checkpoint: checkpointNote.bytes, consistency: consistency)
        let note = try SignedNote.sign(text: statement.text, name: key.identity.name, key: key.privateKey)
        try FileSystem.writeAtomically(notePath, note.bytes)
        try FileSystem.syncDirectory(FileSystem.parentDirectory(of: out))
        var consentEntry: UInt64?
        if let consent = entry.details["consentEntry"]?.intValue { consentEntry = UInt64(consent) }
        let decision: OnwardTransferRule.Decision
        if let sealer = party(entry.details["sealer"]),
           let identity = try? Identity(name: sealer.key.name, agency: sealer.agency,
                                        jurisdiction: sealer.jurisdiction, publicKey: sealer.key.publicKey) {
            decision = OnwardTransferRule.evaluate(sealer: identity, holder: key.identity,
                                                   target: named.jurisdiction, rule: conditions.onwardTransfer)
        } else {
            throw refuse("the entry's sealer does not parse")
        }
        // The ledger names the recipient only (an X25519 stanza does not say whom it is for).
        return TransferResult(statement: statement, file: out, notePath: notePath, entry: entry,
                              checkpoint: try Checkpoint(text: checkpointNote.text), decision: decision,
                              consentEntry: consentEntry, encryptedTo: [recipient.ageRecipient.encoded],
                              regenerated: true)
    }

    /// When `out` exists without its receipt: the `receive` entry of an earlier run of the same receive (the same
    /// file, by digest, into the same DIR holding the same bundle), with the receipt written again from it. nil
    /// when the ledger records no such receive (the caller refuses the existing DIR as before).
    static func finishReceive(file: String, out: String, receiptPath: String, ledger: Ledger,
                              key: SigningKey) throws -> ReceiveResult? {
        guard let entry = try lastEntry(ledger, action: .receive, key: key, values: ["file": file, "bundlePath": out]),
              let subject = entry.subjects.first,
              let digest = try fileDigest(file),
              entry.details["fileSha256"]?.stringValue == digest.sha256 else { return nil }
        let tagManifest = subject.attributes["tagmanifest-sha256"]?.stringValue
        if let tagManifest {
            guard let bytes = try? FileSystem.readFile(out + "/" + BundleLayout.tagManifestName(.sha256),
                                                       limit: BagValidator.tagFileLimit),
                  Hex.encode(Digester.digest(.sha256, bytes)) == tagManifest else { return nil }
        }
        func refuse(_ reason: String) -> TransferError {
            .receiptCannotBeWrittenAgain(receipt: receiptPath, entry: entry.sequence, reason: reason)
        }
        guard let result = entry.details["result"]?.stringValue, result == "passed" || result == "failed",
              let failures = entry.details["failures"]?.arrayValue?.compactMap(\.stringValue) else {
            throw refuse("the entry does not record the result and failures")
        }
        var sender: NoteVerifierKey?
        if let json = entry.details["sender"] {
            guard let party = party(json) else { throw refuse("the entry's sender does not parse") }
            sender = party.key
        }
        let checkpointNote = try checkpoint(after: entry, ledger: ledger, action: "receive")
        let before = Array(try BundleTransfer.allEntries(ledger).prefix(Int(entry.sequence)))
        let consistency = try BundleReceiver.consistencyProofs(ledger, before: before, sender: sender,
                                                               to: try Checkpoint(text: checkpointNote.text).size)
        let bundleID = subject.id == BundleReceiver.unidentifiedBundle ? nil : subject.id
        let receipt = ReceiptStatement(
            transferID: entry.details["transfer"]?.stringValue, bundleID: bundleID, tagManifestDigest: tagManifest,
            fileSHA256: digest.sha256, passed: result == "passed", failures: failures,
            receiver: StatementParty(key.identity), sender: sender, entry: entry.sequence,
            checkpoint: checkpointNote.bytes, consistency: consistency, time: Timestamp.now().description,
            items: ItemsCommitment(subject: subject))
        let signed = try SignedNote.sign(text: receipt.text, name: key.identity.name, key: key.privateKey)
        try FileSystem.writeAtomically(receiptPath, signed.bytes)
        try FileSystem.syncDirectory(FileSystem.parentDirectory(of: receiptPath))
        var report = VerificationReport()
        for failure in failures {
            let parts = failure.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            report.fail(String(parts[0]), parts.count > 1 ? String(parts[1].drop { $0 == " " }) : "")
        }
        report.pass("receipt", "receive entry \(entry.sequence) already records this file received into \(out) "
            + "(\(result)); the missing receipt was written from it")
        var summary = BundleSummary()
        summary.bundleID = bundleID
        return ReceiveResult(bundlePath: out, bundleID: bundleID, transfer: nil, report: report, summary: summary,
                             entry: entry, receipt: receipt, receiptPath: receiptPath, fileSHA256: digest.sha256,
                             fileSize: digest.size, regenerated: true)
    }
}
