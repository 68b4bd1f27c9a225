import CustodyBase

/// Why a transfer, receive, receipt or consent was refused or failed: each case carries the files, entries, keys
/// and parties a caller needs, and `description` says it in one line (nothing was sent, received or recorded).
public enum TransferError: CustodyFailure, Equatable {
    /// The signer as a message names it: name, agency and jurisdiction.
    public struct Party: Sendable, Equatable {
        /// The signer name.
        public var name: String
        /// The agency.
        public var agency: String
        /// The two-letter jurisdiction.
        public var jurisdiction: String
    }

    /// A receive read its file out of order (a programming error: the reader hashes as it goes).
    case readOutOfOrder(path: String, offset: UInt64)
    /// An output file already exists; `sending` tells a transfer (nothing was sent) from a receive.
    case outputExists(path: String, sending: Bool)
    /// The ledger wrote no checkpoint after the entry of `action` just appended.
    case noCheckpointAfter(action: String, ledger: String)
    /// The `transfer-out` entry is appended and the file in place, but the note could not be written (`reason`).
    case transferNoteNotWritten(note: String, file: String, entry: UInt64, reason: String)
    /// The `transfer-out` entry is appended, but the file could not be linked into place; it is `kept`.
    case transferFileNotPlaced(file: String, kept: String, entry: UInt64, reason: String)
    /// The `receive` entry is appended and the bundle in place, but the receipt could not be written (`reason`).
    case receiptNotWritten(receipt: String, bundle: String, entry: UInt64, reason: String)
    /// A missing note whose `transfer-out` entry does not give back what it signs.
    case noteCannotBeWrittenAgain(note: String, entry: UInt64, reason: String)
    /// A missing receipt whose `receive` entry does not give back what it signs.
    case receiptCannotBeWrittenAgain(receipt: String, entry: UInt64, reason: String)
    /// The transfer file is not a regular file.
    case notRegularFile(path: String)
    /// The file is not encrypted to any of the receiver's identities (`identity` as the user named them,
    /// `recipients` their age recipients); `reason` from the decryptor.
    case notEncryptedToReceiver(file: String, identity: String, recipients: String, reason: String)
    /// The receiver's identity could not open the file's key (`reason` from the decryptor).
    case decryptionKeyRefused(file: String, reason: String)
    /// The encrypted file was altered or truncated (`reason` from the decryptor).
    case ciphertextDamaged(file: String, reason: String)
    /// The archive inside the file was refused (`reason` from the extractor).
    case archiveRefused(file: String, reason: String)
    /// The archive does not hold one bundle directory and an optional statement; `names` are its top entries.
    case archiveLayoutUnexpected(file: String, names: [String], statement: String)
    /// The archive's statement is larger than a signed statement may be.
    case archiveStatementTooLarge(file: String, statement: String, size: Int64, limit: Int)
    /// A statement (`header` names its type) lacks a required field.
    case statementFieldMissing(header: String, field: String)
    /// A statement (`header` names its type) is malformed; `reason` says how.
    case statementMalformed(header: String, reason: String)
    /// A statement party's key field does not parse.
    case statementPartyKeyInvalid(header: String, field: String, reason: String)
    /// A signed note (`what` names it) does not verify with the expected key.
    case signatureInvalid(what: String, reason: String)
    /// A note beside a transfer file carries no file fields.
    case noteWithoutFileFields(path: String)
    /// The bundle to send does not verify: `failed` checks failed, the first named.
    case bundleDoesNotVerify(bundle: String, failed: Int, firstCheck: String, firstDetail: String)
    /// The bundle to send has no bundle ID or sealer.
    case bundleUnidentified(bundle: String)
    /// An onward-transfer condition applies but the recipient's jurisdiction is unknown (the recipient was given
    /// as a bare age recipient). The command line adds how to name the recipient from the trust store.
    case recipientJurisdictionUnknown(rule: String, bundle: String, sealer: Party)
    /// The bundle's conditions forbid passing it on to `target`.
    case onwardTransferForbidden(bundleID: String, sealer: Party, target: String)
    /// The bundle's conditions require the sealer's consent to pass it on to `target`, and the ledger records none.
    case consentMissing(bundleID: String, sealer: Party, target: String, ledger: String)
    /// The signing key is not the ledger owner's.
    case notLedgerOwner(key: String, ledger: String, owner: String)
    /// A ledger entry (0-based `entry`, as counted while reading) does not parse.
    case ledgerEntryDamaged(ledger: String, entry: Int, reason: String)
    /// A recipient given as `age1...` that does not parse.
    case recipientInvalid(text: String, reason: String)
    /// A recipient name given without a trust store to look it up in.
    case recipientNeedsTrustStore(text: String)
    /// A recipient name the trust store does not hold.
    case recipientNotInTrustStore(text: String)
    /// A trust store entry without an age recipient. The command line adds how to give it one.
    case recipientWithoutAgeRecipient(text: String)
    /// A trust store entry whose age recipient does not parse.
    case trustEntryRecipientInvalid(name: String, reason: String)
    /// A receipt or consent file whose statement does not parse.
    case statementRefused(path: String, reason: String)
    /// A receipt answering a transfer the ledger has no transfer-out entry for.
    case noSuchTransfer(path: String, transferID: String?, ledger: String)
    /// A signer whose name the trust store holds with a different key (`trustedKeyID`).
    case signerKeyDiffers(path: String, signer: String, keyID: String, trustedKeyID: String)
    /// A signer the trust store does not hold.
    case signerNotTrusted(path: String, signer: String, keyID: String)
    /// A receipt for a transfer made to a bare age recipient, checked without a trust store: the receiver's key is
    /// not recorded. The command line adds which option gives the trust store.
    case receiverKeyNotRecorded(path: String)
    /// A receipt signed by another key than the recipient key the transfer-out entry recorded.
    case receiverKeyMismatch(path: String, signer: String, entry: UInt64, recorded: String)
    /// A receipt that does not match its transfer-out entry; `problem` says how.
    case receiptMismatch(path: String, entry: UInt64, problem: String)
    /// The receiver's checkpoint in a receipt does not verify.
    case receiverCheckpointInvalid(path: String, reason: String)
    /// A bundle ID that is empty or longer than 1024 bytes.
    case bundleIDLength
    /// A consent for a bundle the ledger has not received.
    case consentForUnreceivedBundle(path: String, bundleID: String, ledger: String)
    /// A consent signed by someone other than the bundle's sealer.
    case consentNotBySealer(path: String, signer: String, bundleID: String, sealer: String)

    /// Verification for what was received or read and fails its checks; operational for what could not be done.
    public var kind: FailureKind {
        switch self {
        case .ciphertextDamaged, .archiveRefused, .archiveLayoutUnexpected, .archiveStatementTooLarge,
             .statementFieldMissing, .statementMalformed, .statementPartyKeyInvalid, .signatureInvalid,
             .noteWithoutFileFields, .bundleDoesNotVerify, .bundleUnidentified, .statementRefused, .noSuchTransfer,
             .signerKeyDiffers, .signerNotTrusted, .receiverKeyMismatch, .receiptMismatch,
             .receiverCheckpointInvalid, .consentNotBySealer:
            return .verification
        default:
            return .operational
        }
    }

    /// The one-line message.
    public var description: String {
        switch self {
        case .readOutOfOrder(let path, let offset): return "\(path): read out of order at byte \(offset)"
        case .outputExists(let path, let sending):
            return "\(path): already exists; not overwriting (nothing was \(sending ? "sent" : "received"))"
        case .noCheckpointAfter(let action, let ledger): return "\(ledger): no checkpoint after the \(action) entry"
        case .transferNoteNotWritten(let note, let file, let entry, let reason):
            return "\(file) was sent and transfer-out entry \(entry) is recorded, but \(note) could not be written "
                + "(\(reason)); free the space and run the same command again: it writes the note from the entry "
                + "and sends nothing again"
        case .transferFileNotPlaced(let file, let kept, let entry, let reason):
            return "transfer-out entry \(entry) is recorded, but \(file) could not be put in place (\(reason)); the "
                + "encrypted file is kept at \(kept): move it to \(file) and run the same command again to write "
                + "its note from the entry"
        case .receiptNotWritten(let receipt, let bundle, let entry, let reason):
            return "the bundle was received into \(bundle) and receive entry \(entry) is recorded, but \(receipt) "
                + "could not be written (\(reason)); free the space and run the same command again: it writes the "
                + "receipt from the entry and records nothing again"
        case .noteCannotBeWrittenAgain(let note, let entry, let reason):
            return "\(note) is missing and transfer-out entry \(entry) cannot give it back: \(reason)"
        case .receiptCannotBeWrittenAgain(let receipt, let entry, let reason):
            return "\(receipt) is missing and receive entry \(entry) cannot give it back: \(reason)"
        case .notRegularFile(let path): return "\(path): not a regular file"
        case .notEncryptedToReceiver(let file, let identity, let recipients, let reason):
            return "\(file): not encrypted to \(identity) (\(recipients)): \(reason); nothing was received"
        case .decryptionKeyRefused(let file, let reason): return "\(file): \(reason); nothing was received"
        case .ciphertextDamaged(let file, let reason):
            return "\(file): \(reason): the file was altered or truncated; nothing was received"
        case .archiveRefused(let file, let reason):
            return "\(file): the archive inside is refused: \(reason); nothing was received"
        case .archiveLayoutUnexpected(let file, let names, let statement):
            return "\(file): the archive holds \(names.prefix(5).joined(separator: ", "))"
                + "\(names.count > 5 ? "..." : ""); expected one bundle directory and \(statement); nothing was "
                + "received"
        case .archiveStatementTooLarge(let file, let statement, let size, let limit):
            return "\(file): the archive's \(statement) holds \(size) bytes, more than a signed statement may "
                + "(\(limit)); nothing was received"
        case .statementFieldMissing(let header, let field): return "\(header): field '\(field)' is missing"
        case .statementMalformed(let header, let reason): return "\(header): \(reason)"
        case .statementPartyKeyInvalid(let header, let field, let reason):
            return "\(header): field '\(field)': \(reason)"
        case .signatureInvalid(let what, let reason): return "\(what): \(reason)"
        case .noteWithoutFileFields(let path): return "\(path): no file-sha256 (not the note beside a transfer file)"
        case .bundleDoesNotVerify(let bundle, let failed, let firstCheck, let firstDetail):
            return "\(bundle) does not verify (\(failed) check(s) failed, first: \(firstCheck): \(firstDetail)); "
                + "nothing was sent (see custody verify)"
        case .bundleUnidentified(let bundle): return "\(bundle): no bundle ID or sealer; nothing was sent"
        case .recipientJurisdictionUnknown(let rule, let bundle, let sealer):
            return "onward transfer condition (\(rule)): \(bundle) was sealed by \(sealer.name) (\(sealer.agency), "
                + "\(sealer.jurisdiction)); the recipient's jurisdiction is unknown, so name the recipient from the "
                + "trust store; nothing was sent"
        case .onwardTransferForbidden(let bundleID, let sealer, let target):
            return "onward transfer forbidden: the conditions of bundle \(bundleID) (useLimitations.onwardTransfer = "
                + "forbidden, set by \(sealer.name), \(sealer.agency), \(sealer.jurisdiction)) do not allow passing "
                + "it to \(target); nothing was sent"
        case .consentMissing(let bundleID, let sealer, let target, let ledger):
            return "onward transfer requires consent: the conditions of bundle \(bundleID) "
                + "(useLimitations.onwardTransfer = requires-consent) allow passing it to a third jurisdiction "
                + "(\(target)) only with the signed consent of the original sender \(sealer.name) (\(sealer.agency), "
                + "\(sealer.jurisdiction)), and \(ledger) records none; import it with custody consent import; "
                + "nothing was sent"
        case .notLedgerOwner(let key, let ledger, let owner):
            return "the key '\(key)' does not own the ledger \(ledger) (owner: \(owner)); use the ledger owner's key"
        case .ledgerEntryDamaged(let ledger, let entry, let reason):
            return "\(ledger): entry \(entry) is damaged: \(reason); run custody ledger verify"
        case .recipientInvalid(let text, let reason): return "recipient '\(text.prefix(80))': \(reason)"
        case .recipientNeedsTrustStore(let text):
            return "recipient '\(text)' is not an age1... recipient; to name an agency, give the trust store that "
                + "holds it"
        case .recipientNotInTrustStore(let text):
            return "recipient '\(text)': no such name in the trust store (see custody trust list)"
        case .recipientWithoutAgeRecipient(let text):
            return "recipient '\(text)': the trust store has no age recipient for \(text)"
        case .trustEntryRecipientInvalid(let name, let reason):
            return "trust store entry '\(name)': recipient: \(reason)"
        case .statementRefused(let path, let reason): return "\(path): \(reason)"
        case .noSuchTransfer(let path, let transferID, let ledger):
            return "\(path): the receipt answers transfer \(transferID ?? "(none)"), for which \(ledger) has no "
                + "transfer-out entry"
        case .signerKeyDiffers(let path, let signer, let keyID, let trustedKeyID):
            return "\(path): signed by \(signer) with key \(keyID), but the trust store holds a different key for "
                + "\(signer) (\(trustedKeyID))"
        case .signerNotTrusted(let path, let signer, let keyID):
            return "\(path): signed by \(signer) (key \(keyID)), which is not in the trust store"
        case .receiverKeyNotRecorded(let path):
            return "\(path): the transfer was made to a bare age recipient, so the receiver's key is not recorded; "
                + "give the trust store holding it"
        case .receiverKeyMismatch(let path, let signer, let entry, let recorded):
            return "\(path): signed by \(signer), but transfer-out entry \(entry) recorded the recipient key "
                + "\(recorded)"
        case .receiptMismatch(let path, let entry, let problem):
            return "\(path): the receipt does not match transfer-out entry \(entry): \(problem)"
        case .receiverCheckpointInvalid(let path, let reason):
            return "\(path): the receiver's checkpoint does not verify: \(reason)"
        case .bundleIDLength: return "the bundle ID must be 1 to 1024 bytes"
        case .consentForUnreceivedBundle(let path, let bundleID, let ledger):
            return "\(path): consent for bundle \(bundleID), which \(ledger) has not received"
        case .consentNotBySealer(let path, let signer, let bundleID, let sealer):
            return "\(path): signed by \(signer), but bundle \(bundleID) was sealed by \(sealer): only the original "
                + "sender can consent to an onward transfer"
        }
    }
}
