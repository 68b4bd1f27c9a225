import CustodyBase
import CustodyBundle
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger
import CustodyTransfer

/// Why a custody history could not be gathered.
public enum CustodyHistoryError: CustodyFailure, Equatable {
    /// The ledger at `path` could not be opened, verified or read (`reason` says why).
    case unreadableLedger(path: String, reason: String)

    /// A ledger that cannot be read is an operation that could not be done.
    public var kind: FailureKind { .operational }

    /// The one-line message.
    public var description: String {
        switch self {
        case .unreadableLedger(let path, let reason): "ledger \(path): cannot be read as a custody ledger: \(reason)"
        }
    }
}

/// A ledger entry in a report's custody history and where it was read.
public struct SourcedEntry: Sendable {
    /// The entry.
    public var entry: LedgerEntry
    /// Where the entry was read: `bundle` (the bundle's ledger excerpt) and/or ledger file paths.
    public var sources: [String]
    /// What the checks found wrong with this entry (empty when nothing).
    public var failures: [String]

    /// An entry read from `sources`, with what its checks found.
    public init(entry: LedgerEntry, sources: [String], failures: [String] = []) {
        self.entry = entry
        self.sources = sources
        self.failures = failures
    }
}

/// A signed receipt (`DIR.receipt`) given to a report, with what checking it found.
public struct ReceiptRecord: Sendable {
    /// The receipt file.
    public var path: String
    /// What the receipt says.
    public var statement: ReceiptStatement
    /// When the receipt says it was signed (nil when the time does not parse).
    public var time: Timestamp?
    /// SHA-256 (hex) of the receipt file's bytes.
    public var digest: String
    /// What the checks found wrong (empty when the receipt verified).
    public var failures: [String]

    /// Whether every check of the receipt passed.
    public var verified: Bool { failures.isEmpty }
}

/// The custody history a report tells: the bundle's own ledger excerpt plus, from outside the bundle, the entries
/// of local ledgers that mention the bundle or its items and the receivers' signed receipts, each checked.
public struct CustodyHistory: Sendable {
    /// The entries, bundle excerpt first, then those found in the ledgers.
    public var entries: [SourcedEntry] = []
    /// The receipts given, each checked.
    public var receipts: [ReceiptRecord] = []

    /// A history of `entries` and `receipts`.
    public init(entries: [SourcedEntry] = [], receipts: [ReceiptRecord] = []) {
        self.entries = entries
        self.receipts = receipts
    }

    /// The bundle's excerpt alone, each entry marked with the failed checks of `report` naming it (`entry N`).
    public init(bundle summary: BundleSummary, report: VerificationReport) {
        let failures = CustodyTimeline.entryFailures(report)
        entries = summary.entries.map {
            SourcedEntry(entry: $0, sources: ["bundle"], failures: failures[$0.sequence] ?? [])
        }
    }

    /// The bundle's history with the entries about it from `ledgers` and the receipts at `receipts`, each checked;
    /// one check per ledger and per receipt is added to `report` (failed when anything did not verify).
    /// `openLedger` opens each of `ledgers` (default: a ledger file, read-only; the command line passes its opener,
    /// which also takes PostgreSQL URLs).
    /// - Throws: an operational error when a ledger cannot be opened or a receipt file cannot be read.
    public static func gather(
        summary: BundleSummary, report: inout VerificationReport, ledgers: [String], receipts: [String],
        trust: TrustStore?, openLedger: (String) throws -> Ledger = { try Ledger.open(path: $0, readOnly: true) }
    ) throws -> CustodyHistory {
        var history = CustodyHistory(bundle: summary, report: report)
        let known = KnownKeys(trust: trust, identities: summary.identities)
        let ids = ([summary.bundleID].compactMap { $0 } + summary.items.map(\.id)).filter { !$0.isEmpty }
        for path in ledgers {
            try history.addLedger(path, ids: ids, known: known, report: &report, open: openLedger)
        }
        for path in receipts {
            try history.addReceipt(path, bundleID: summary.bundleID, known: known, report: &report)
        }
        return history
    }

    /// Whether an entry names one of `ids` as a subject or anywhere in its details.
    static func mentions(_ entry: LedgerEntry, _ ids: [String]) -> Bool {
        if entry.subjects.contains(where: { ids.contains($0.id) }) { return true }
        let details = JSONValue.object(entry.details).canonicalString
        return ids.contains { details.contains($0) }
    }

    private mutating func addLedger(_ path: String, ids: [String], known: KnownKeys,
                                    report: inout VerificationReport, open: (String) throws -> Ledger) throws {
        let ledger: Ledger
        let verification: LedgerVerificationReport
        var found: [(sequence: UInt64, bytes: [UInt8])] = []
        do {
            ledger = try open(path)
            verification = try ledger.verify()
            var sequence: UInt64 = 0
            let needles = ids.map { Array($0.utf8) }
            try ledger.export { bytes in
                if needles.contains(where: { bytes.contains($0) }) { found.append((sequence, bytes)) }
                sequence += 1
            }
        } catch {
            throw CustodyHistoryError.unreadableLedger(path: path, reason: "\(error)")
        }
        let check = "ledger \(path)"
        var problems: [String] = []
        let owner = ledger.owner
        let ownerProblem = known.problem(with: owner.verifierKey).map {
            "its key holder \(owner.name) (\(owner.agency), \(owner.jurisdiction)): \($0)"
        }
        if let ownerProblem { problems.append(ownerProblem) }
        let byEntry = Dictionary(grouping: verification.problems.filter { $0.entry != nil }, by: { $0.entry! })
        var about: [UInt64] = []
        for (sequence, bytes) in found {
            let entry: LedgerEntry
            do {
                entry = try LedgerEntry.parse(bytes)
            } catch {
                problems.append("entry \(sequence) mentions the bundle but is malformed: \(error)")
                continue
            }
            about.append(sequence)
            var failures = (byEntry[sequence] ?? []).map { "\(check): entry \(sequence): \($0.message)" }
            if let first = verification.firstBadEntry, first < sequence, failures.isEmpty {
                failures.append("\(check): entry \(sequence) follows bad entry \(first), so its place in the chain "
                    + "is not verified")
            }
            if let ownerProblem { failures.append("\(check): \(ownerProblem)") }
            merge(SourcedEntry(entry: entry, sources: [path], failures: failures))
        }
        if !verification.passed {
            let first = verification.problems.first.map { ": " + $0.message } ?? ""
            problems.append("ledger verify found \(verification.problemCount) problem"
                + "\(verification.problemCount == 1 ? "" : "s")"
                + (verification.firstBadEntry.map { ", first bad entry \($0)" } ?? "") + first)
        }
        if problems.isEmpty {
            report.pass(check, "origin \(ledger.origin), \(verification.entries) entries verified (signatures, "
                + "chain, tree, \(verification.checkpointsChecked) checkpoints) by the key of \(owner.name) "
                + "(\(owner.agency), \(owner.jurisdiction)); \(about.count) about this bundle: "
                + (about.isEmpty ? "none" : "entries " + about.map(String.init).joined(separator: ", ")))
        } else {
            report.fail(check, problems.joined(separator: "; "))
        }
    }

    /// Adds an entry, or the source to an entry already known; a different entry at the same place fails both.
    private mutating func merge(_ incoming: SourcedEntry) {
        let entry = incoming.entry
        guard let index = entries.firstIndex(where: {
            $0.entry.origin == entry.origin && $0.entry.sequence == entry.sequence
        }) else {
            entries.append(incoming)
            return
        }
        if entries[index].entry.bytes == entry.bytes {
            entries[index].sources += incoming.sources.filter { !entries[index].sources.contains($0) }
            entries[index].failures += incoming.failures
            return
        }
        let conflict = "entry \(entry.sequence) of \(entry.origin) differs between "
            + (entries[index].sources + incoming.sources).joined(separator: " and ") + " (edited or forked ledger)"
        entries[index].failures.append(conflict)
        var other = incoming
        other.failures.append(conflict)
        entries.append(other)
    }

    private mutating func addReceipt(_ path: String, bundleID: String?, known: KnownKeys,
                                     report: inout VerificationReport) throws {
        let check = "receipt \(path)"
        let bytes = try FileSystem.readFile(path, limit: SignedNote.maximumSize)
        let note: SignedNote
        let statement: ReceiptStatement
        do {
            note = try SignedNote.parse(bytes)
            statement = try ReceiptStatement(text: note.text)
        } catch {
            report.fail(check, "not a custody receipt: \(error)")
            return
        }
        let signer = statement.receiver.key
        var failures: [String] = []
        if let problem = known.problem(with: signer) {
            failures.append("signer \(signer.name) (key \(signer.keyIDHex)): \(problem)")
        } else {
            do {
                _ = try note.verify(with: [signer])
            } catch {
                failures.append("the signature of \(signer.name) does not verify: \(error)")
            }
        }
        if statement.bundleID != bundleID {
            failures.append("it names bundle \(statement.bundleID ?? "(none)"), not \(bundleID ?? "(none)")")
        }
        var checkpointText = ""
        do {
            let checkpoint = try Checkpoint.open(statement.checkpoint, keys: [signer])
            checkpointText = "; receiver's ledger \(checkpoint.origin) at size \(checkpoint.size)"
            if let receive = entries.first(where: {
                $0.entry.origin == checkpoint.origin && $0.entry.sequence == statement.entry
            }) {
                if receive.entry.action != .receive
                    || receive.entry.details["transfer"]?.stringValue != statement.transferID {
                    failures.append("entry \(statement.entry) of \(checkpoint.origin) is not the receive entry of "
                        + "transfer \(statement.transferID ?? "(none)")")
                } else {
                    checkpointText += ", receive entry \(statement.entry) read from "
                        + receive.sources.joined(separator: ", ")
                }
            }
        } catch {
            failures.append("the receiver's checkpoint does not verify: \(error)")
        }
        if !statement.passed {
            failures.append("the receiver reports its verification FAILED: "
                + statement.failures.joined(separator: "; "))
        }
        let time = Timestamp(parsing: statement.time)
        if time == nil { failures.append("time '\(statement.time.prefix(40))' is not an RFC 3339 UTC time") }
        let digest = Hex.encode(Digester.digest(.sha256, bytes))
        receipts.append(ReceiptRecord(path: path, statement: statement, time: time, digest: digest,
                                      failures: failures.map { "\(check): \($0)" }))
        if failures.isEmpty {
            report.pass(check, "signed by \(statement.receiver.description), result passed\(checkpointText)")
        } else {
            report.fail(check, failures.joined(separator: "; "))
        }
    }
}

/// The keys a report can check extra input against: a trust store and the bundle's identities.
struct KnownKeys {
    var trust: TrustStore?
    var identities: [Identity]

    /// Why `key` is not known to belong to its name, or nil when it is.
    func problem(with key: NoteVerifierKey) -> String? {
        if let trust {
            switch trust.standing(name: key.name, key: key.publicKey) {
            case .trusted: return nil
            case .wrongKey(let entry):
                return "the trust store holds a different key for \(key.name) (\(entry.verifierKey.keyIDHex))"
            case .unknown: break
            }
        }
        if let identity = identities.first(where: { $0.name == key.name }) {
            return identity.publicKey == key.publicKey ? nil
                : "the bundle's identities hold a different key for \(key.name) (\(identity.keyIDHex))"
        }
        return trust == nil ? "not among the bundle's identities (give the trust store holding it with --trust)"
            : "neither in the trust store nor among the bundle's identities"
    }
}
