import CustodyBase
import CustodyCrypto
import CustodyLedger

/// Writes to a ledger store behind the ledger's back, as an attacker or a damaged disk would: the tamper cases of
/// the conformance suite, expressed per backend. Numbers are signed 64-bit, so rows out of any valid range can be
/// written. Each operation commits on its own.
public protocol LedgerStoreTampering {
    /// Replaces the bytes of stored entry `sequence`.
    func overwriteEntry(_ sequence: Int64, with bytes: [UInt8]) throws
    /// Writes an entry row under any sequence number (none is stored under it).
    func insertEntry(_ sequence: Int64, bytes: [UInt8]) throws
    /// Moves stored entry `sequence` to `newSequence` (none is stored there).
    func renumberEntry(_ sequence: Int64, to newSequence: Int64) throws
    /// Deletes the stored entries numbered `sequences`.
    func deleteEntries(_ sequences: ClosedRange<Int64>) throws
    /// Replaces the bytes of the stored tree node at `position`.
    func overwriteNode(at position: UInt64, with bytes: [UInt8]) throws
    /// Deletes every stored tree node at or after `position`.
    func deleteNodes(from position: UInt64) throws
    /// Writes a checkpoint row under any size (none is stored under it).
    func insertCheckpoint(size: Int64, note: [UInt8]) throws
    /// Deletes the stored checkpoint of `size`, or every one when `size` is nil.
    func deleteCheckpoints(size: Int64?) throws
    /// Rewrites the recorded head.
    func overwriteHead(size: UInt64, lastLeaf: [UInt8]) throws
    /// Rewrites the stored origin record.
    func overwriteOrigin(_ bytes: [UInt8]) throws
}

/// A ledger backend under test: how to create a store, open it again, and tamper with it.
public protocol LedgerStoreHarness {
    /// A new store holding `origin` and `ownerDocument`, as `Ledger.create` asks of a backend.
    func makeStore(origin: String, ownerDocument: [UInt8]) throws -> LedgerStore
    /// The same store opened again, as another process would open it.
    func reopen(_ store: LedgerStore) throws -> LedgerStore
    /// A tampering hook writing to `store`'s records directly.
    func tampering(with store: LedgerStore) throws -> LedgerStoreTampering
}

/// A conformance check that did not hold: which check, and what was found.
public struct LedgerStoreConformanceFailure: Error, CustomStringConvertible, Sendable {
    /// The failed checks, each as `check: what was found`.
    public var findings: [String]

    /// Every failed check, in one line.
    public var description: String {
        "ledger store conformance: \(findings.count) failed: " + findings.joined(separator: "; ")
    }
}

/// The suite every ledger backend must pass (SQLite today; PostgreSQL adds its harness): appending and reading,
/// ranges, ordering, checkpoints, metadata, transactions and reopening, and that `Ledger` refuses or reports every
/// tampering with the outcome custody gives for SQLite. Plain throwing checks, so any test framework can run it.
public enum LedgerStoreConformance {
    /// One named check.
    public typealias Check = (name: String, run: @Sendable (LedgerStoreHarness) throws -> Void)

    /// The origin the suite's ledgers use.
    public static let origin = "police.example/custody"

    /// Every check, by name.
    public static let checks: [Check] = storageChecks + tamperChecks

    /// Runs every check against `harness`.
    /// - Throws: `LedgerStoreConformanceFailure` naming each check that failed.
    public static func run(_ harness: LedgerStoreHarness) throws {
        var findings: [String] = []
        for check in checks {
            do {
                try check.run(harness)
            } catch {
                findings.append("\(check.name): \(error)")
            }
        }
        if !findings.isEmpty { throw LedgerStoreConformanceFailure(findings: findings) }
    }

    // MARK: - Building blocks

    /// A check's own failure.
    struct Finding: Error, CustomStringConvertible {
        var description: String
    }

    static func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw Finding(description: message()) }
    }

    static func expectEqual<T: Equatable>(_ actual: T, _ expected: T, _ what: String) throws {
        try expect(actual == expected, "\(what): \(actual), expected \(expected)")
    }

    /// Expects `body` to throw an error whose message contains `fragment`.
    static func expectThrows(_ fragment: String, _ what: String, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch {
            try expect("\(error)".contains(fragment), "\(what): threw '\(error)', expected '\(fragment)'")
            return
        }
        throw Finding(description: "\(what): did not throw (expected '\(fragment)')")
    }

    /// A signing key for the ledger owner (`alice`), or another key under the same name.
    static func makeKey() throws -> SigningKey {
        let privateKey = try Ed25519PrivateKey.generate()
        return try SigningKey(
            identity: Identity(name: "alice", agency: "Police", jurisdiction: "FR", publicKey: privateKey.publicKey),
            privateKey: privateKey)
    }

    /// A ledger in a new store of `harness` with `entries` entries appended one by one.
    static func makeLedger(_ harness: LedgerStoreHarness, key: SigningKey, entries: Int) throws -> Ledger {
        let ledger = try Ledger.create(origin: origin, key: key) {
            try harness.makeStore(origin: $0, ownerDocument: $1)
        }
        try appendSampleEntries(entries, to: ledger, key: key)
        return ledger
    }

    /// Appends `count` entries one by one (one transaction and checkpoint each): entry N is an `access` of
    /// `item-N` with a sha256 attribute and the detail `n: N`, counting from the ledger's size.
    public static func appendSampleEntries(_ count: Int, to ledger: Ledger, key: SigningKey) throws {
        let start = Int(try ledger.size())
        for index in start..<start + count {
            let subject = try LedgerSubject(
                id: "item-\(index)", attributes: ["sha256": .string(String(repeating: "ab", count: 32))])
            try ledger.append(
                LedgerEntryDraft(action: .access, subjects: [subject], details: ["n": .int(Int64(index))]), key: key)
        }
    }

    /// The ledger of `store` opened again, as a new process would.
    static func reopened(_ ledger: Ledger, _ harness: LedgerStoreHarness) throws -> Ledger {
        try Ledger(store: harness.reopen(ledger.store))
    }
}
