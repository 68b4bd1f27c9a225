import CustodyBase
import CustodyCrypto
import CustodyIO
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What a ledger fixes at creation, as read and checked by `Ledger`.
public struct LedgerMetadata: Sendable, Equatable {
    /// The checkpoint origin line.
    public var origin: String
    /// The identity whose key signs the entries and the checkpoints.
    public var owner: Identity
    /// The owner's identity file bytes as stored (self-signed).
    public var ownerDocument: [UInt8]
}

/// The storage a ledger needs: entries, tree nodes by position, checkpoints, a recorded head and the metadata
/// fixed at creation, with transactions. Positions follow `MerkleNodePosition`.
///
/// A store only stores and reads: it returns what it holds as it holds it. Everything that decides whether what
/// it returns can be trusted (numbers in range, hashes of the right length, the origin and owner, a checkpoint
/// never replaced by a different one) is checked above it, by `Ledger`, for every store alike; a store checks only
/// what is particular to its medium (SQLite: the file, its schema objects). Implemented by `SQLiteLedgerStore`; a
/// PostgreSQL store implements the same operations (transactions map to SERIALIZABLE or a table lock) and must
/// pass the conformance suite in CustodyTestSupport (`LedgerStoreConformance`).
public protocol LedgerStore: AnyObject {
    /// Where the store lives (a path, a URL without credentials), for messages.
    var location: String { get }
    /// The origin and the owner's identity document stored at creation, as stored; nil when either is missing.
    func storedMetadata() throws -> (origin: [UInt8], ownerDocument: [UInt8])?
    /// Runs `body` in an exclusive write transaction that sees every earlier commit; commits durably (fsync)
    /// when `body` returns, rolls back when it throws.
    func writeTransaction<R>(_ body: () throws -> R) throws -> R
    /// Runs `body` in a read transaction: one consistent snapshot.
    func readTransaction<R>(_ body: () throws -> R) throws -> R
    /// The entry count and last leaf hash recorded by the last append, as stored; nil when the record is missing
    /// or not a number.
    func storedHead() throws -> (size: UInt64, lastLeaf: [UInt8])?
    /// Records the entry count and the last leaf hash (inside a write transaction).
    func setHead(size: UInt64, lastLeaf: Hash32) throws
    /// The lowest and highest stored sequence numbers, as stored (a negative one as its bit pattern); nil when
    /// no entry is stored.
    func storedEntryBounds() throws -> (lowest: UInt64, highest: UInt64)?
    /// The stored bytes of entry `sequence`, if any.
    func entry(at sequence: UInt64) throws -> [UInt8]?
    /// Stores entry `sequence` (inside a write transaction); the sequence number is new.
    func insertEntry(sequence: UInt64, bytes: [UInt8]) throws
    /// Calls `body` for up to `limit` stored entries with sequence numbers at or above `start` (compared as
    /// signed 64-bit numbers), in order, each number as stored (a negative one as its bit pattern).
    func entries(from start: UInt64, limit: Int, _ body: (UInt64, [UInt8]) throws -> Void) throws
    /// The stored bytes of the tree node at `position`, if any.
    func node(at position: UInt64) throws -> [UInt8]?
    /// Stores the tree node at `position` (inside a write transaction); the position is new.
    func insertNode(at position: UInt64, hash: Hash32) throws
    /// Calls `body` for the stored nodes with positions in `range`, in order (raw bytes: damage shows as a length).
    func nodes(in range: Range<UInt64>, _ body: (UInt64, [UInt8]) throws -> Void) throws
    /// The number of stored nodes.
    func nodeCount() throws -> UInt64
    /// Stores the checkpoint note for `size` (inside a write transaction); none is stored for that size yet.
    func insertCheckpoint(size: UInt64, note: [UInt8]) throws
    /// The stored checkpoint note for `size`, if any.
    func checkpoint(size: UInt64) throws -> [UInt8]?
    /// Every stored checkpoint, by size (each size as stored, a negative one as its bit pattern).
    func checkpoints() throws -> [(size: UInt64, note: [UInt8])]
    /// The stored checkpoint of the largest size (compared as signed 64-bit numbers), if any.
    func latestCheckpoint() throws -> (size: UInt64, note: [UInt8])?
    /// A second connection to the same store, for use on another thread.
    func makeReader() throws -> LedgerStore
    /// The stored bytes of the tree nodes at `positions` that are stored, by position: the nodes a proof needs, in
    /// one read where the backend can (PostgreSQL: one query instead of one per node).
    func nodes(at positions: [UInt64]) throws -> [UInt64: [UInt8]]
}

extension LedgerStore {
    /// One `node(at:)` per position (a local file answers each at once).
    public func nodes(at positions: [UInt64]) throws -> [UInt64: [UInt8]] {
        var found: [UInt64: [UInt8]] = [:]
        for position in positions where found[position] == nil {
            if let bytes = try node(at: position) { found[position] = bytes }
        }
        return found
    }
}

/// A ledger in one SQLite file (system libsqlite3): WAL journal, `synchronous=FULL`, `BEGIN IMMEDIATE` writes.
///
/// Schema: `meta(key, value)` holds `origin`, `owner` (the identity file), `head_size` and `head_leaf`;
/// `entries(seq, data)`; `nodes(pos, hash)`; `checkpoints(size, note)`. `application_id` is 0x43555354 ("CUST"),
/// `user_version` 1. What is particular to SQLite is checked here (the file is a custody ledger, its schema is
/// exactly custody's); what any store returns is checked by `Ledger`.
public final class SQLiteLedgerStore: LedgerStore {
    /// The SQLite `application_id` of a ledger file ("CUST").
    public static let applicationID: Int64 = 0x4355_5354
    /// The SQLite `user_version` of the schema below.
    public static let schemaVersion: Int64 = 1

    /// The schema, exactly as `create` writes it and `open` requires it (no other table, index, view or trigger:
    /// a trigger planted in the file would otherwise run inside custody's own appends).
    static let schema: [(name: String, sql: String)] = [
        ("meta", "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID"),
        ("entries", "CREATE TABLE entries (seq INTEGER PRIMARY KEY NOT NULL, data BLOB NOT NULL)"),
        ("nodes", "CREATE TABLE nodes (pos INTEGER PRIMARY KEY NOT NULL, hash BLOB NOT NULL)"),
        ("checkpoints", "CREATE TABLE checkpoints (size INTEGER PRIMARY KEY NOT NULL, note BLOB NOT NULL)"),
    ]

    /// The connection (package: the test-support tampering hook writes through it).
    package let database: SQLiteDatabase
    /// The ledger file's path.
    public let location: String
    private var statements: [String: SQLiteStatement] = [:]

    private init(database: SQLiteDatabase, location: String) {
        self.database = database
        self.location = location
    }

    private func statement(_ sql: String) throws -> SQLiteStatement {
        if let cached = statements[sql] { return cached }
        let prepared = try database.prepare(sql)
        statements[sql] = prepared
        return prepared
    }

    /// Opens an existing ledger file, checking that it is one (application ID, schema version, tables); never
    /// creates or repairs anything. `readOnly` opens it for reading only and creates nothing beside it (no `-wal`,
    /// `-shm` or journal), so it can be read from read-only or write-blocked media and on a full disk (SPEC 4.8).
    public static func open(path: String, readOnly: Bool = false) throws -> SQLiteLedgerStore {
        try open(path: path, readOnly: readOnly, immutable: nil)
    }

    private static func open(path: String, readOnly: Bool, immutable: Bool?) throws -> SQLiteLedgerStore {
        guard FileSystem.exists(path) else { throw LedgerError.noSuchLedger(path: path) }
        let database = try SQLiteDatabase(path: path, create: false, readOnly: readOnly, immutable: immutable)
        let store = SQLiteLedgerStore(database: database, location: path)
        try store.configure()
        guard try database.integer("PRAGMA application_id") == applicationID else {
            throw LedgerError.notALedger(path: path)
        }
        let version = try database.integer("PRAGMA user_version") ?? 0
        guard version == schemaVersion else { throw LedgerError.unsupportedSchema(path: path, version: version) }
        let objects = try database.prepare("SELECT type, name, coalesce(sql, '') FROM sqlite_master ORDER BY name")
        var found: [String: (type: String, sql: String)] = [:]
        while try objects.step() {
            found[objects.text(1)] = (objects.text(0), objects.text(2))
        }
        for (name, sql) in schema {
            guard let object = found.removeValue(forKey: name) else {
                throw LedgerError.damaged(location: path, .tableMissing(name))
            }
            guard object.type == "table", object.sql == sql else {
                throw LedgerError.damaged(location: path, .alteredTable(name))
            }
        }
        if let (name, object) = found.min(by: { $0.key < $1.key }) {
            throw LedgerError.damaged(location: path, .foreignObject(type: object.type, name: name))
        }
        return store
    }

    /// Whether the ledger was opened for reading only as it is on its medium (`immutable`, nothing created).
    package var isImmutable: Bool { database.isImmutable }

    private func configure() throws {
        database.setBusyTimeout(60_000)
        if database.isReadOnly { return }
        try database.execute("PRAGMA synchronous = FULL")
        try database.execute("PRAGMA foreign_keys = OFF")
    }

    /// Creates a new ledger file at `path` atomically: built beside it, then linked into place (failing if
    /// `path` exists), and the directory synced. `origin` and `ownerDocument` are stored as given (`Ledger.create`
    /// checks them).
    public static func create(path: String, origin: String, ownerDocument: [UInt8]) throws -> SQLiteLedgerStore {
        for existing in [path, path + "-wal", path + "-shm", path + "-journal"] where FileSystem.exists(existing) {
            throw LedgerError.alreadyExists(path: existing)
        }
        let temporary = path + ".tmp-\(getpid())"
        unlink(temporary)
        do {
            let database = try SQLiteDatabase(path: temporary, create: true)
            let store = SQLiteLedgerStore(database: database, location: temporary)
            try store.configure()
            try database.execute("PRAGMA journal_mode = WAL")
            try database.execute(
                """
                BEGIN IMMEDIATE;
                PRAGMA application_id = \(applicationID);
                PRAGMA user_version = \(schemaVersion);
                """ + schema.map { $0.sql + ";\n" }.joined())
            let insert = try database.prepare("INSERT INTO meta (key, value) VALUES (?, ?)")
            try insert.run("origin", Array(origin.utf8))
            try insert.run("owner", ownerDocument)
            try insert.run("head_size", [UInt8]("0".utf8))
            try insert.run("head_leaf", LedgerEntry.noPrevious.bytes)
            try database.execute("COMMIT")
        } catch {
            unlink(temporary)
            unlink(temporary + "-wal")
            unlink(temporary + "-shm")
            throw error
        }
        // The connection above is closed: the WAL is checkpointed into the file and removed.
        guard link(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw SystemError(operation: "create ledger", path: path, code: code)
        }
        unlink(temporary)
        try FileSystem.syncDirectory(FileSystem.parentDirectory(of: path))
        return try open(path: path)
    }

    /// Opens the file again, read-only (immutable when this connection is, so both read the same file state).
    public func makeReader() throws -> LedgerStore {
        try SQLiteLedgerStore.open(path: location, readOnly: true, immutable: database.isImmutable)
    }

    private func metaValue(_ key: String) throws -> [UInt8]? {
        let query = try statement("SELECT value FROM meta WHERE key = ?")
        try query.bind(key)
        defer { query.reset() }
        return try query.step() ? query.blob(0) : nil
    }

    private func setMeta(_ key: String, _ value: [UInt8]) throws {
        try statement("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)").run(key, value)
    }

    /// The `origin` and `owner` rows of `meta`.
    public func storedMetadata() throws -> (origin: [UInt8], ownerDocument: [UInt8])? {
        guard let origin = try metaValue("origin"), let owner = try metaValue("owner") else { return nil }
        return (origin, owner)
    }

    /// `BEGIN IMMEDIATE`, then `COMMIT` (durable: `synchronous=FULL`) or `ROLLBACK`.
    public func writeTransaction<R>(_ body: () throws -> R) throws -> R {
        try database.execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try database.execute("COMMIT")
            return result
        } catch {
            try? database.execute("ROLLBACK")
            throw error
        }
    }

    /// `BEGIN DEFERRED` with the snapshot taken at once, then `COMMIT`.
    public func readTransaction<R>(_ body: () throws -> R) throws -> R {
        try database.execute("BEGIN DEFERRED")
        // Take the snapshot now, so everything below reads the same state.
        _ = try database.integer("SELECT count(*) FROM meta")
        defer { try? database.execute("COMMIT") }
        return try body()
    }

    /// The `head_size` (decimal text) and `head_leaf` rows of `meta`; nil when missing or not a number.
    public func storedHead() throws -> (size: UInt64, lastLeaf: [UInt8])? {
        // The size is stored as decimal text.
        guard let sizeText = try metaValue("head_size"), let size = UInt64(String(decoding: sizeText, as: UTF8.self)),
              let leaf = try metaValue("head_leaf") else { return nil }
        return (size, leaf)
    }

    /// Rewrites the `head_size` and `head_leaf` rows.
    public func setHead(size: UInt64, lastLeaf: Hash32) throws {
        try setMeta("head_size", Array(String(size).utf8))
        try setMeta("head_leaf", lastLeaf.bytes)
    }

    /// The first and last `seq` of `entries`.
    public func storedEntryBounds() throws -> (lowest: UInt64, highest: UInt64)? {
        // Two lookups at the ends of the rowid b-tree: O(log n), whatever the ledger's size.
        func sequence(_ order: String) throws -> UInt64? {
            let query = try statement("SELECT seq FROM entries ORDER BY seq \(order) LIMIT 1")
            try query.bind()
            defer { query.reset() }
            return try query.step() ? UInt64(bitPattern: query.int64(0)) : nil
        }
        guard let lowest = try sequence("ASC"), let highest = try sequence("DESC") else { return nil }
        return (lowest, highest)
    }

    /// The `data` of entry `sequence`.
    public func entry(at sequence: UInt64) throws -> [UInt8]? {
        let query = try statement("SELECT data FROM entries WHERE seq = ?")
        try query.bind(sequence)
        defer { query.reset() }
        return try query.step() ? query.blob(0) : nil
    }

    /// Inserts a row into `entries`.
    public func insertEntry(sequence: UInt64, bytes: [UInt8]) throws {
        try statement("INSERT INTO entries (seq, data) VALUES (?, ?)").run(sequence, bytes)
    }

    /// The rows of `entries` from `start`, by `seq`.
    public func entries(from start: UInt64, limit: Int, _ body: (UInt64, [UInt8]) throws -> Void) throws {
        let query = try statement("SELECT seq, data FROM entries WHERE seq >= ? ORDER BY seq LIMIT ?")
        try query.bind(start, limit)
        defer { query.reset() }
        while try query.step() {
            try body(UInt64(bitPattern: query.int64(0)), query.blob(1))
        }
    }

    /// The `hash` of the node at `position`.
    public func node(at position: UInt64) throws -> [UInt8]? {
        let query = try statement("SELECT hash FROM nodes WHERE pos = ?")
        try query.bind(position)
        defer { query.reset() }
        return try query.step() ? query.blob(0) : nil
    }

    /// Inserts a row into `nodes`.
    public func insertNode(at position: UInt64, hash: Hash32) throws {
        try statement("INSERT INTO nodes (pos, hash) VALUES (?, ?)").run(position, hash.bytes)
    }

    /// The rows of `nodes` in `range`, by `pos`.
    public func nodes(in range: Range<UInt64>, _ body: (UInt64, [UInt8]) throws -> Void) throws {
        let query = try statement("SELECT pos, hash FROM nodes WHERE pos >= ? AND pos < ? ORDER BY pos")
        try query.bind(range.lowerBound, range.upperBound)
        defer { query.reset() }
        while try query.step() {
            try body(UInt64(bitPattern: query.int64(0)), query.blob(1))
        }
    }

    /// The number of rows of `nodes`.
    public func nodeCount() throws -> UInt64 {
        UInt64(max(0, try database.integer("SELECT count(*) FROM nodes") ?? 0))
    }

    /// Inserts a row into `checkpoints`.
    public func insertCheckpoint(size: UInt64, note: [UInt8]) throws {
        try statement("INSERT INTO checkpoints (size, note) VALUES (?, ?)").run(size, note)
    }

    /// The `note` stored for `size`.
    public func checkpoint(size: UInt64) throws -> [UInt8]? {
        let query = try statement("SELECT note FROM checkpoints WHERE size = ?")
        try query.bind(size)
        defer { query.reset() }
        return try query.step() ? query.blob(0) : nil
    }

    /// Every row of `checkpoints`, by size.
    public func checkpoints() throws -> [(size: UInt64, note: [UInt8])] {
        let query = try statement("SELECT size, note FROM checkpoints ORDER BY size")
        try query.bind()
        defer { query.reset() }
        var result: [(UInt64, [UInt8])] = []
        while try query.step() { result.append((UInt64(bitPattern: query.int64(0)), query.blob(1))) }
        return result
    }

    /// The row of `checkpoints` of the largest size.
    public func latestCheckpoint() throws -> (size: UInt64, note: [UInt8])? {
        let query = try statement("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1")
        try query.bind()
        defer { query.reset() }
        return try query.step() ? (UInt64(bitPattern: query.int64(0)), query.blob(1)) : nil
    }
}
