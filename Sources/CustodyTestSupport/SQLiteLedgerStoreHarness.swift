import CustodyBase
import CustodyLedger

/// The conformance harness of the SQLite backend: ledger files in a directory, tampered with through SQL on a
/// second connection, as an attacker with the file would.
public final class SQLiteLedgerStoreHarness: LedgerStoreHarness {
    /// The directory the ledger files are created in.
    public let directory: String
    private var created = 0

    /// A harness creating its ledger files in `directory` (which exists).
    public init(directory: String) { self.directory = directory }

    /// A new ledger file `conformance-N.ledger` in `directory`.
    public func makeStore(origin: String, ownerDocument: [UInt8]) throws -> LedgerStore {
        created += 1
        return try SQLiteLedgerStore.create(
            path: "\(directory)/conformance-\(created).ledger", origin: origin, ownerDocument: ownerDocument)
    }

    /// The same file opened again.
    public func reopen(_ store: LedgerStore) throws -> LedgerStore {
        try SQLiteLedgerStore.open(path: store.location)
    }

    /// SQL on a second connection to the file.
    public func tampering(with store: LedgerStore) throws -> LedgerStoreTampering {
        try SQLiteLedgerTampering(path: store.location)
    }
}

/// Raw SQL on a ledger file: the SQLite implementation of the conformance suite's tampering hook.
public struct SQLiteLedgerTampering: LedgerStoreTampering {
    private let database: SQLiteDatabase

    /// A second connection to the ledger file at `path`.
    public init(path: String) throws {
        database = try SQLiteDatabase(path: path, create: false)
    }

    private func run(_ sql: String, _ values: Any...) throws {
        try database.prepare(sql).run(arguments: values)
    }

    /// `UPDATE entries SET data`.
    public func overwriteEntry(_ sequence: Int64, with bytes: [UInt8]) throws {
        try run("UPDATE entries SET data = ? WHERE seq = ?", bytes, sequence)
    }

    /// `INSERT INTO entries`.
    public func insertEntry(_ sequence: Int64, bytes: [UInt8]) throws {
        try run("INSERT INTO entries (seq, data) VALUES (?, ?)", sequence, bytes)
    }

    /// `UPDATE entries SET seq`.
    public func renumberEntry(_ sequence: Int64, to newSequence: Int64) throws {
        try run("UPDATE entries SET seq = ? WHERE seq = ?", newSequence, sequence)
    }

    /// `DELETE FROM entries`.
    public func deleteEntries(_ sequences: ClosedRange<Int64>) throws {
        try run("DELETE FROM entries WHERE seq >= ? AND seq <= ?", sequences.lowerBound, sequences.upperBound)
    }

    /// `UPDATE nodes SET hash`.
    public func overwriteNode(at position: UInt64, with bytes: [UInt8]) throws {
        try run("UPDATE nodes SET hash = ? WHERE pos = ?", bytes, position)
    }

    /// `DELETE FROM nodes`.
    public func deleteNodes(from position: UInt64) throws {
        try run("DELETE FROM nodes WHERE pos >= ?", position)
    }

    /// `INSERT INTO checkpoints`.
    public func insertCheckpoint(size: Int64, note: [UInt8]) throws {
        try run("INSERT INTO checkpoints (size, note) VALUES (?, ?)", size, note)
    }

    /// `DELETE FROM checkpoints`.
    public func deleteCheckpoints(size: Int64?) throws {
        if let size {
            try run("DELETE FROM checkpoints WHERE size = ?", size)
        } else {
            try run("DELETE FROM checkpoints")
        }
    }

    /// `UPDATE meta` for `head_size` (decimal text) and `head_leaf`.
    public func overwriteHead(size: UInt64, lastLeaf: [UInt8]) throws {
        try run("UPDATE meta SET value = ? WHERE key = 'head_size'", Array(String(size).utf8))
        try run("UPDATE meta SET value = ? WHERE key = 'head_leaf'", lastLeaf)
    }

    /// `UPDATE meta` for `origin`.
    public func overwriteOrigin(_ bytes: [UInt8]) throws {
        try run("UPDATE meta SET value = ? WHERE key = 'origin'", bytes)
    }
}
