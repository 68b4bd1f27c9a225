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
import Synchronization

/// Reads a file sequentially while computing its SHA-256 (the encrypted file's digest, in the same read as
/// decryption).
final class HashingFileReader: ChunkReader, Sendable {
    private struct State: ~Copyable {
        var next: UInt64 = 0
        let digester = Digester(.sha256)
    }

    let base: FileChunkReader
    private let state = Mutex(State())

    init(_ base: FileChunkReader) { self.base = base }

    var knownSize: UInt64? { base.knownSize }
    var supportsPositionalReads: Bool { false }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        try state.withLock { state in
            guard offset == state.next else {
                throw TransferError.readOutOfOrder(path: base.descriptor.path, offset: offset)
            }
            let count = try base.read(into: buffer, at: offset)
            state.digester.update(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            state.next += UInt64(count)
            return count
        }
    }

    /// The SHA-256 of everything read, and the byte count.
    func finish() -> (sha256: [UInt8], size: UInt64) {
        state.withLock { ($0.digester.finalize(), $0.next) }
    }
}

/// How `custody receive` checks what arrives.
public struct ReceiveOptions: Sendable {
    /// The trust store to check the sender's signature against.
    public var trust: TrustStore?
    /// Names the identity file in messages.
    public var identityLabel = "the identity"
    /// Called with the file and the bytes decrypted so far.
    public var progress: (@Sendable (String, UInt64) -> Void)?
    /// Limits on the archive inside (entries, sizes, depth); by default `TarLimits.collections`, whose memory does
    /// not grow with the member count.
    public var limits = TarLimits.collections
    /// Polled between decrypted batches; when it returns true the receive stops and leaves nothing.
    public var shouldStop: (@Sendable () -> Bool)?
    /// Called after the `receive` entry is appended, before the receipt is written: a test hook to fail what
    /// follows the append (a full disk).
    package var afterLedgerAppend: (@Sendable () throws -> Void)?

    /// The default options.
    public init() {}
}

/// What a receive did.
public struct ReceiveResult: Sendable {
    /// Where the bundle was written.
    public var bundlePath: String
    /// The bundle ID, from the bundle or the transfer statement.
    public var bundleID: String?
    /// The signed transfer statement inside the archive, when it verified.
    public var transfer: TransferStatement?
    /// Transfer checks first, then the bundle's verification.
    public var report: VerificationReport
    /// What the verification of the received bundle read.
    public var summary: BundleSummary
    /// The `receive` entry appended.
    public var entry: LedgerEntry
    /// The signed receipt written for the sender.
    public var receipt: ReceiptStatement
    /// Where the receipt was written.
    public var receiptPath: String
    /// The SHA-256 of the encrypted file, hex.
    public var fileSHA256: String
    /// The size of the encrypted file.
    public var fileSize: UInt64
    /// Staging folders of earlier receives into the same DIR whose process is gone (killed mid-way), removed.
    public var removedStaging: [String] = []
    /// True when an earlier run had received into DIR and appended the entry but not written the receipt, and this
    /// run only wrote the receipt from that entry (`report` then restates the entry's result and failures).
    public var regenerated = false
}

/// `custody receive`: decrypts a transfer file into a temporary directory beside DIR (safe extraction), checks the
/// sender's statements, verifies the bundle fully, moves it to DIR, records a `receive` entry and writes the
/// signed receipt `DIR.receipt`. A bundle that fails verification is still moved to DIR for inspection and gets a
/// receipt saying what failed.
public enum BundleReceiver {
    /// The most failed checks a `receive` entry and its receipt list one by one.
    static let recordedFailures = 200

    /// The subject ID of a `receive` entry for a bundle that names none.
    static let unidentifiedBundle = "unidentified-bundle"

    /// Decrypts `file` with `identities`, extracts and verifies the bundle into `out`, appends a `receive` entry to
    /// `ledger` signed with `key` and writes the signed receipt beside `out`.
    public static func receive(file: String, identities: [AgeX25519Identity], ledger: Ledger, key: SigningKey,
                               out: String, options: ReceiveOptions) throws -> ReceiveResult {
        try BundleTransfer.checkOwner(ledger, key)
        let receiptPath = out + TransferLayout.receiptSuffix
        if FileSystem.exists(out) && !FileSystem.exists(receiptPath),
           let finished = try TransferRecovery.finishReceive(file: file, out: out, receiptPath: receiptPath,
                                                             ledger: ledger, key: key) {
            return finished
        }
        for path in [out, receiptPath] where FileSystem.exists(path) {
            throw TransferError.outputExists(path: path, sending: false)
        }
        let removedStaging = removeStaleStaging(out: out)
        let staging = out + ".receiving-\(getpid())"
        let (sha256, size) = try decrypt(file: file, identities: identities, into: staging, options: options)
        var stagingKept = true
        defer { if stagingKept { FileSystem.removeTree(staging) } }
        let fileSHA256 = Hex.encode(sha256)

        let (bagRoot, statementBytes) = try layout(staging, file: file)
        var report = VerificationReport()
        let transfer = checkStatement(statementBytes, trust: options.trust, identities: identities, into: &report)
        let note = checkNote(file: file, transfer: transfer, sha256: fileSHA256, size: size, trust: options.trust,
                             into: &report)
        var verifier = BundleVerifier(root: bagRoot, trust: options.trust)
        verifier.progress = options.progress
        let (bundleReport, summary) = verifier.verify()
        report.checks += bundleReport.checks
        var tagManifest: String?
        if let bytes = try? FileSystem.readFile(bagRoot + "/" + BundleLayout.tagManifestName(.sha256),
                                                limit: BagValidator.tagFileLimit) {
            tagManifest = Hex.encode(Digester.digest(.sha256, bytes))
        }
        let items = ItemsCommitment(summary)
        if let transfer {
            if let stated = transfer.items, stated != items {
                report.fail("transfer statement", "the statement names \(stated.count) items with root "
                    + "\(stated.root.prefix(16))..., the archive's records are "
                    + (items.map { "\($0.count) with root \($0.root.prefix(16))..." } ?? "not a verified collection"))
            }
            if transfer.bundleID != summary.bundleID || transfer.tagManifestDigest != tagManifest {
                report.fail("transfer statement", "the statement names bundle \(transfer.bundleID) with tag manifest "
                    + "\(transfer.tagManifestDigest.prefix(16))..., the archive holds \(summary.bundleID ?? "none") "
                    + "with \(tagManifest?.prefix(16) ?? "none")...")
            }
        }

        // The sender's checkpoints against those this ledger already records (SPEC 6.6): refused before anything
        // is moved or recorded.
        let entries = try BundleTransfer.allEntries(ledger)
        var incoming: [(checkpoint: Checkpoint, source: String)] = []
        if let checkpoint = summary.checkpoint { incoming.append((checkpoint, "the bundle's checkpoint")) }
        var anchor: ProofAnchor?
        var supplied = false
        if let fields = note?.file, let signed = try? SignedNote.parse(fields.checkpoint),
           let body = try? Checkpoint(text: signed.text) {
            incoming.append((body, "the transfer note's checkpoint"))
            anchor = ProofAnchor(body, proofs: fields.consistency)
            supplied = !fields.consistency.isEmpty
        }
        let unproven = try CheckpointCrossCheck.check(incoming, anchor: anchor, supplied: supplied,
                                                      history: CheckpointCrossCheck.History(entries), what: file)
        for warning in unproven { report.warn("sender checkpoints", warning) }

        // Move the bundle into place: verified or not, it is kept for inspection.
        guard rename(bagRoot, out) == 0 else {
            throw SystemError(operation: "rename \(bagRoot) to", path: out, code: errno)
        }
        if bagRoot == staging { stagingKept = false }
        try FileSystem.syncDirectory(FileSystem.parentDirectory(of: out))

        // At most `recordedFailures` lines (a collection may fail many items), so the entry and the receipt stay
        // far below their 1 MiB limits; the count of the others is the last line.
        var failures = report.failures.prefix(recordedFailures).map { "\($0.name): \($0.detail)" }
        if report.failures.count > recordedFailures {
            failures.append("failures: and \(report.failures.count - recordedFailures) more failed checks (run "
                + "custody verify \(out) for all)")
        }
        var details: [String: JSONValue] = [
            "file": .string(file), "fileSha256": .string(fileSHA256), "fileSize": .int(Int64(size)),
            "bundlePath": .string(out), "result": .string(report.passed ? "passed" : "failed"),
            "failures": .array(failures.map { .string($0) }),
        ]
        if let transfer {
            details["transfer"] = .string(transfer.transferID)
            details["sender"] = transfer.sender.json
            details["conditions"] = transfer.conditions.json
            if let mla = transfer.mlaReference { details["mlaReference"] = .string(mla) }
        } else if let conditions = summary.conditions {
            details["conditions"] = conditions.json
        }
        if let sealer = summary.sealer { details["sealer"] = StatementParty(sealer).json }
        if let checkpoint = summary.checkpoint {
            details["senderCheckpoint"] = checkpointJSON(checkpoint)
        }
        if let file = note?.file, let checkpoint = try? SignedNote.parse(file.checkpoint),
           let body = try? Checkpoint(text: checkpoint.text) {
            details["transferCheckpoint"] = checkpointJSON(body)
            details["transferEntry"] = .int(Int64(file.entry))
        }
        if let anchor, supplied { details[CheckpointCrossCheck.proofsField] = anchor.json }
        var attributes: [String: JSONValue] = ["sha256": .string(fileSHA256)]
        if let tagManifest { attributes["tagmanifest-sha256"] = .string(tagManifest) }
        for (name, value) in items?.attributes ?? [:] { attributes[name] = value }
        let bundleID = summary.bundleID ?? transfer?.bundleID
        let entry = try ledger.append(LedgerEntryDraft(
            action: .receive,
            subjects: [try LedgerSubject(id: bundleID ?? unidentifiedBundle, attributes: attributes)],
            legalBasis: transfer?.legalBasis ?? summary.conditions?.legalBasis ?? "", details: details), key: key)
        // The entry is committed: from here a failure says how the same command run again writes the receipt
        // from the entry.
        let receipt: ReceiptStatement
        do {
            try options.afterLedgerAppend?()
            // The checkpoint at the entry's own size (every append stores one), whatever was appended since: the
            // size a later receipt proves consistency from (SPEC 6.6).
            guard let checkpoint = try ledger.checkpoint(size: entry.sequence + 1) else {
                throw TransferError.noCheckpointAfter(action: "receive", ledger: ledger.store.location)
            }
            let consistency = try consistencyProofs(ledger, before: entries,
                                                    sender: transfer?.sender.key ?? note?.sender.key,
                                                    to: try Checkpoint(text: checkpoint.text).size)
            receipt = ReceiptStatement(
                transferID: transfer?.transferID, bundleID: bundleID, tagManifestDigest: tagManifest,
                fileSHA256: fileSHA256, passed: report.passed, failures: failures,
                receiver: StatementParty(key.identity), sender: transfer?.sender.key, entry: entry.sequence,
                checkpoint: checkpoint.bytes, consistency: consistency, time: Timestamp.now().description,
                items: items)
            let signed = try SignedNote.sign(text: receipt.text, name: key.identity.name, key: key.privateKey)
            try FileSystem.writeAtomically(receiptPath, signed.bytes)
            try FileSystem.syncDirectory(FileSystem.parentDirectory(of: receiptPath))
        } catch {
            throw TransferError.receiptNotWritten(receipt: receiptPath, bundle: out, entry: entry.sequence,
                                                  reason: "\(error)")
        }
        return ReceiveResult(bundlePath: out, bundleID: bundleID, transfer: transfer, report: report,
                             summary: summary, entry: entry, receipt: receipt, receiptPath: receiptPath,
                             fileSHA256: fileSHA256, fileSize: size, removedStaging: removedStaging)
    }

    /// Proofs that the checkpoint at `size` extends every checkpoint of this ledger it gave `sender` before, found
    /// in `entries` (those before the receive entry) (SPEC 6.6). The receive and a run that writes its receipt
    /// again compute them alike.
    static func consistencyProofs(_ ledger: Ledger, before entries: [LedgerEntry], sender: NoteVerifierKey?,
                                  to size: UInt64) throws -> [CarriedProof] {
        let given = CheckpointCrossCheck.sizesGiven(entries, origin: ledger.origin, key: sender, ageRecipient: nil)
        return try CheckpointCrossCheck.proofs(ledger, from: given, to: size)
    }

    /// A checkpoint as a ledger entry records it: origin, size and root.
    static func checkpointJSON(_ checkpoint: Checkpoint) -> JSONValue {
        .object(["origin": .string(checkpoint.origin), "size": .int(Int64(checkpoint.size)),
                 "root": .string(checkpoint.root.hex)])
    }

    /// Removes `OUT.receiving-PID` folders whose process no longer runs: a receive killed with SIGKILL (or a crash)
    /// leaves decrypted evidence there, which must not outlive it. Returns the folders removed.
    static func removeStaleStaging(out: String) -> [String] {
        let parent = FileSystem.parentDirectory(of: out)
        let prefix = String(out.split(separator: "/").last ?? "") + ".receiving-"
        guard let names = try? FileSystem.directoryEntries(parent) else { return [] }
        var removed: [String] = []
        for name in names where name.hasPrefix(prefix) {
            guard let pid = pid_t(name.dropFirst(prefix.count)), pid > 0, pid != getpid(),
                  kill(pid, 0) != 0, errno == ESRCH else { continue }
            let path = parent + "/" + name
            FileSystem.removeTree(path)
            if !FileSystem.exists(path) { removed.append(path) }
        }
        return removed
    }

    /// Decrypts and extracts into `staging`; on any failure nothing is left there.
    static func decrypt(file: String, identities: [AgeX25519Identity], into staging: String,
                        options: ReceiveOptions) throws -> (sha256: [UInt8], size: UInt64) {
        let descriptor = try FileDescriptor.openForReading(file)
        defer { descriptor.close() }
        let info = try descriptor.status()
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw TransferError.notRegularFile(path: file)
        }
        let reader = HashingFileReader(FileChunkReader(descriptor: descriptor, size: UInt64(info.st_size)))
        let extractor = try TarExtractor(destination: staging, limits: options.limits)
        var done: UInt64 = 0
        do {
            try AgeDecryptor(identities: identities).decrypt(from: reader) { bytes in
                if options.shouldStop?() == true {
                    throw InterruptFlag.stoppedError(what: "the receive: nothing was received or recorded")
                }
                try extractor.write(bytes)
                done += UInt64(bytes.count)
                options.progress?(file, done)
            }
            try extractor.finish()
        } catch let error as AgeError {
            extractor.abort()
            switch error.failureClass {
            case .noMatch:
                let mine = identities.map(\.recipient.encoded).joined(separator: ", ")
                throw TransferError.notEncryptedToReceiver(file: file, identity: options.identityLabel,
                                                           recipients: mine, reason: "\(error)")
            case .key:
                throw TransferError.decryptionKeyRefused(file: file, reason: "\(error)")
            default:
                throw TransferError.ciphertextDamaged(file: file, reason: "\(error)")
            }
        } catch let error as TarError {
            extractor.abort()
            throw TransferError.archiveRefused(file: file, reason: "\(error)")
        } catch {
            extractor.abort()
            throw error
        }
        return reader.finish()
    }

    /// Finds the bag in the extracted tree: one directory beside an optional `transfer.txt`, or a bag at the top.
    static func layout(_ staging: String, file: String) throws -> (bagRoot: String, statement: [UInt8]?) {
        let names = try FileSystem.directoryEntries(staging)
        if names.contains(BundleLayout.declaration) { return (staging, nil) }
        let directories = try names.filter {
            try FileSystem.status(staging + "/" + $0, followLinks: false).st_mode & S_IFMT == S_IFDIR
        }
        let others = names.filter { !directories.contains($0) }
        guard directories.count == 1, others.allSatisfy({ $0 == TransferLayout.statement }) else {
            throw TransferError.archiveLayoutUnexpected(file: file, names: names, statement: TransferLayout.statement)
        }
        var statement: [UInt8]?
        if others.contains(TransferLayout.statement) {
            let path = staging + "/" + TransferLayout.statement
            let size = try FileSystem.status(path, followLinks: false).st_size
            guard size <= SignedNote.maximumSize else {
                throw TransferError.archiveStatementTooLarge(file: file, statement: TransferLayout.statement,
                                                             size: Int64(size), limit: SignedNote.maximumSize)
            }
            statement = try FileSystem.readFile(path, limit: SignedNote.maximumSize)
        }
        return (staging + "/" + directories[0], statement)
    }

    /// Checks a signer against the trust store, as a report line.
    static func standing(_ key: NoteVerifierKey, trust: TrustStore?, what: String) -> VerificationCheck {
        guard let trust else {
            return VerificationCheck(what, .warning, "valid signature by \(key.name) (key \(key.keyIDHex)); no trust "
                + "store given, so the sender is not known to be trusted")
        }
        switch trust.standing(name: key.name, key: key.publicKey) {
        case .trusted(let entry):
            return VerificationCheck(what, .passed, "valid signature by \(key.name) (key \(key.keyIDHex)), trusted: "
                + "\(entry.agency), \(entry.jurisdiction)")
        case .wrongKey(let entry):
            return VerificationCheck(what, .failed, "signed by \(key.name) with key \(key.keyIDHex), but the trust "
                + "store holds a different key for \(key.name) (\(entry.verifierKey.keyIDHex))")
        case .unknown:
            return VerificationCheck(what, .failed, "valid signature by \(key.name) (key \(key.keyIDHex)), but that "
                + "key is not in the trust store")
        }
    }

    static func checkStatement(_ bytes: [UInt8]?, trust: TrustStore?, identities: [AgeX25519Identity],
                               into report: inout VerificationReport) -> TransferStatement? {
        guard let bytes else {
            report.warn("transfer statement", "the archive carries no \(TransferLayout.statement) (made by other "
                + "tools, such as tar | age -r): sender, legal basis and transfer conditions are not known")
            return nil
        }
        do {
            let note = try SignedNote.parse(bytes)
            let statement = try TransferStatement(text: note.text)
            guard statement.file == nil else {
                throw TransferError.statementMalformed(header: TransferStatement.header,
                                                       reason: "file fields inside the archive")
            }
            try note.verifySigned(by: statement.sender.key, what: TransferLayout.statement)
            report.checks.append(standing(statement.sender.key, trust: trust, what: "transfer statement"))
            if !identities.contains(where: { $0.recipient == statement.recipient.ageRecipient }) {
                report.warn("transfer recipient", "the statement names recipient \(statement.recipient.ageRecipient), "
                    + "not this identity (a copy for the sender?)")
            }
            report.pass("transfer conditions", statement.conditions.summaryLines.joined(separator: "; "))
            return statement
        } catch {
            report.fail("transfer statement", "\(TransferLayout.statement): \(error)")
            return nil
        }
    }

    static func checkNote(file: String, transfer: TransferStatement?, sha256: String, size: UInt64,
                          trust: TrustStore?, into report: inout VerificationReport) -> TransferStatement? {
        let path = file + TransferLayout.noteSuffix
        guard FileSystem.exists(path) else {
            report.skip("transfer note", "no \(path) beside the file: its digest is not checked against the sender's")
            return nil
        }
        do {
            // Found by name rather than given: a FIFO, device or link there is not followed or read.
            let note = try SignedNote.parse(try BagTree.readRegular(path, limit: SignedNote.maximumSize))
            let statement = try TransferStatement(text: note.text)
            let key = transfer?.sender.key ?? statement.sender.key
            try note.verifySigned(by: key, what: path)
            if transfer == nil { report.checks.append(standing(key, trust: trust, what: "transfer note signer")) }
            guard let fields = statement.file else {
                throw TransferError.noteWithoutFileFields(path: path)
            }
            var problems: [String] = []
            if fields.sha256 != sha256 || fields.size != size {
                problems.append("\(file) (\(size) bytes, sha256 \(sha256.prefix(16))...) is not the file the note "
                    + "describes (\(fields.size) bytes, sha256 \(fields.sha256.prefix(16))...)")
            }
            var bare = statement
            bare.file = nil
            if let transfer, bare != transfer {
                problems.append("the note and the statement inside the archive differ")
            }
            do {
                _ = try Checkpoint.open(fields.checkpoint, keys: [key])
            } catch {
                problems.append("the sender's checkpoint in the note does not verify: \(error)")
            }
            if problems.isEmpty {
                report.pass("transfer note", "\(path): signed by \(key.name); file digest, size and sender checkpoint "
                    + "match")
            } else {
                for problem in problems { report.fail("transfer note", problem) }
            }
            return statement
        } catch {
            let text = "\(error)"
            report.fail("transfer note", text.hasPrefix(path) ? text : "\(path): \(text)")
            return nil
        }
    }
}
