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

/// What a ledger fixes at creation.
public struct LedgerMetadata: Sendable, Equatable {
    /// The checkpoint origin line.
    public var origin: String
    /// The identity whose key signs the entries and the checkpoints.
    public var owner: Identity
    /// The owner's identity file bytes as stored (self-signed).
    public var ownerDocument: [UInt8]
}

/// The storage a ledger needs: entries, tree nodes by position, checkpoints and a recorded head, with
/// transactions. Positions follow `MerkleNodePosition`. Implemented by `SQLiteLedgerStore`; a PostgreSQL store
/// would implement the same operations (transactions map to SERIALIZABLE or a table lock).
public protocol LedgerStore: AnyObject {
    /// Where the store lives (a path), for messages.
    var location: String { get }
    /// The metadata fixed at creation.
    func metadata() throws -> LedgerMetadata
    /// Runs `body` in an exclusive write transaction that sees every earlier commit; commits durably (fsync)
    /// when `body` returns, rolls back when it throws.
    func writeTransaction<R>(_ body: () throws -> R) throws -> R
    /// Runs `body` in a read transaction: one consistent snapshot.
    func readTransaction<R>(_ body: () throws -> R) throws -> R
    /// The entry count and last leaf hash recorded by the last append.
    func head() throws -> (size: UInt64, lastLeaf: Hash32)
    func setHead(size: UInt64, lastLeaf: Hash32) throws
    /// The lowest stored sequence number and the highest plus one ((0, 0) when empty); a number out of range throws.
    func entryExtent() throws -> (first: UInt64, end: UInt64)
    func entry(at sequence: UInt64) throws -> [UInt8]?
    func insertEntry(sequence: UInt64, bytes: [UInt8]) throws
    /// Calls `body` for up to `limit` stored entries with sequence numbers at or above `start`, in order.
    func entries(from start: UInt64, limit: Int, _ body: (UInt64, [UInt8]) throws -> Void) throws
    func node(at position: UInt64) throws -> Hash32?
    func insertNode(at position: UInt64, hash: Hash32) throws
    /// Calls `body` for the stored nodes with positions in `range`, in order (raw bytes: damage shows as a length).
    func nodes(in range: Range<UInt64>, _ body: (UInt64, [UInt8]) throws -> Void) throws
    /// The number of stored nodes.
    func nodeCount() throws -> UInt64
    func insertCheckpoint(size: UInt64, note: [UInt8]) throws
    func checkpoint(size: UInt64) throws -> [UInt8]?
    /// Every stored checkpoint, by size.
    func checkpoints() throws -> [(size: UInt64, note: [UInt8])]
    /// The stored checkpoint of the largest size.
    func latestCheckpoint() throws -> (size: UInt64, note: [UInt8])?
    /// A second connection to the same store, for use on another thread.
    func makeReader() throws -> LedgerStore
}

/// A ledger in one SQLite file (system libsqlite3): WAL journal, `synchronous=FULL`, `BEGIN IMMEDIATE` writes.
///
/// Schema: `meta(key, value)` holds `origin`, `owner` (the identity file), `head_size` and `head_leaf`;
/// `entries(seq, data)`; `nodes(pos, hash)`; `checkpoints(size, note)`. `application_id` is 0x43555354 ("CUST"),
/// `user_version` 1.
public final class SQLiteLedgerStore: LedgerStore {
    public static let applicationID: Int64 = 0x4355_5354
    public static let schemaVersion: Int64 = 1
    /// The largest sequence number, tree size or head size a ledger file may hold (2^48 entries): numbers read
    /// from the file outside 0...largestSize mean a file not written by custody and are refused, so no tree
    /// arithmetic on them can overflow.
    public static let largestSize: UInt64 = 1 << 48

    /// The schema, exactly as `create` writes it and `open` requires it (no other table, index, view or trigger:
    /// a trigger planted in the file would otherwise run inside custody's own appends).
    static let schema: [(name: String, sql: String)] = [
        ("meta", "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID"),
        ("entries", "CREATE TABLE entries (seq INTEGER PRIMARY KEY NOT NULL, data BLOB NOT NULL)"),
        ("nodes", "CREATE TABLE nodes (pos INTEGER PRIMARY KEY NOT NULL, hash BLOB NOT NULL)"),
        ("checkpoints", "CREATE TABLE checkpoints (size INTEGER PRIMARY KEY NOT NULL, note BLOB NOT NULL)"),
    ]
    /// The largest owner identity document a ledger file may hold.
    static let largestOwnerDocument = 64 << 10

    let database: SQLiteDatabase
    public let location: String
    private var statements: [String: SQLiteStatement] = [:]

    private init(database: SQLiteDatabase, location: String) {
        self.database = database
        self.location = location
    }

    /// A sequence number or tree size as the file stores it, checked against `largestSize`.
    private func stored(_ value: Int64, _ what: String) throws -> UInt64 {
        guard value >= 0, UInt64(value) <= SQLiteLedgerStore.largestSize else {
            throw CustodyError.operational(
                "\(location): the ledger file is damaged: \(what) \(value) is out of range (0 to 2^48)")
        }
        return UInt64(value)
    }

    private func statement(_ sql: String) throws -> SQLiteStatement {
        if let cached = statements[sql] { return cached }
        let prepared = try database.prepare(sql)
        statements[sql] = prepared
        return prepared
    }

    /// Opens an existing ledger file, checking that it is one (application ID, schema version, tables); never
    /// creates or repairs anything.
    public static func open(path: String, readOnly: Bool = false) throws -> SQLiteLedgerStore {
        guard FileSystem.exists(path) else {
            throw CustodyError.operational("\(path): no such ledger (create it with custody ledger init)")
        }
        let database = try SQLiteDatabase(path: path, create: false, readOnly: readOnly)
        let store = SQLiteLedgerStore(database: database, location: path)
        try store.configure()
        guard try database.integer("PRAGMA application_id") == applicationID else {
            throw CustodyError.operational("\(path): not a custody ledger (wrong SQLite application_id)")
        }
        let version = try database.integer("PRAGMA user_version") ?? 0
        guard version == schemaVersion else {
            throw CustodyError.operational("\(path): ledger schema version \(version) is not supported (expected 1)")
        }
        let objects = try database.prepare("SELECT type, name, coalesce(sql, '') FROM sqlite_master ORDER BY name")
        var found: [String: (type: String, sql: String)] = [:]
        while try objects.step() {
            found[objects.text(1)] = (objects.text(0), objects.text(2))
        }
        for (name, sql) in schema {
            guard let object = found.removeValue(forKey: name) else {
                throw CustodyError.operational("\(path): the ledger file is damaged: table \(name) missing")
            }
            guard object.type == "table", object.sql == sql else {
                throw CustodyError.operational("\(path): the ledger file is damaged: \(name) is not custody's table")
            }
        }
        if let (name, object) = found.min(by: { $0.key < $1.key }) {
            throw CustodyError.operational("\(path): the ledger file is damaged: it holds a \(object.type) "
                + "'\(name.prefix(64))' that custody does not create (refused, never run)")
        }
        return store
    }

    private func configure() throws {
        database.setBusyTimeout(60_000)
        try database.execute("PRAGMA synchronous = FULL")
        try database.execute("PRAGMA foreign_keys = OFF")
    }

    /// Creates a new ledger file at `path` atomically: built beside it, then linked into place (failing if
    /// `path` exists), and the directory synced.
    public static func create(path: String, origin: String, ownerDocument: [UInt8]) throws -> SQLiteLedgerStore {
        for existing in [path, path + "-wal", path + "-shm", path + "-journal"] where FileSystem.exists(existing) {
            throw CustodyError.operational("\(existing): already exists; not replaced")
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

    public func makeReader() throws -> LedgerStore {
        try SQLiteLedgerStore.open(path: location, readOnly: true)
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

    public func metadata() throws -> LedgerMetadata {
        guard let origin = try metaValue("origin"), let owner = try metaValue("owner") else {
            throw CustodyError.operational("\(location): the ledger file is damaged: metadata missing")
        }
        let originText = String(decoding: origin, as: UTF8.self)
        guard (try? Checkpoint.validateOrigin(originText)) != nil, Array(originText.utf8) == origin,
              owner.count <= SQLiteLedgerStore.largestOwnerDocument else {
            throw CustodyError.operational("\(location): the ledger file is damaged: its origin or owner record is "
                + "not one custody writes")
        }
        let identity = try Identity.parse(owner, source: "\(location) (owner identity)")
        return LedgerMetadata(origin: originText, owner: identity, ownerDocument: owner)
    }

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

    public func readTransaction<R>(_ body: () throws -> R) throws -> R {
        try database.execute("BEGIN DEFERRED")
        // Take the snapshot now, so everything below reads the same state.
        _ = try database.integer("SELECT count(*) FROM meta")
        defer { try? database.execute("COMMIT") }
        return try body()
    }

    public func head() throws -> (size: UInt64, lastLeaf: Hash32) {
        guard let sizeText = try metaValue("head_size"), let size = UInt64(String(decoding: sizeText, as: UTF8.self)),
            size <= SQLiteLedgerStore.largestSize, let leafBytes = try metaValue("head_leaf"),
            let leaf = Hash32(leafBytes)
        else {
            throw CustodyError.operational("\(location): the ledger file is damaged: head record missing or invalid")
        }
        return (size, leaf)
    }

    public func setHead(size: UInt64, lastLeaf: Hash32) throws {
        try setMeta("head_size", Array(String(size).utf8))
        try setMeta("head_leaf", lastLeaf.bytes)
    }

    public func entryExtent() throws -> (first: UInt64, end: UInt64) {
        // Two lookups at the ends of the rowid b-tree: O(log n), whatever the ledger's size.
        func sequence(_ order: String) throws -> UInt64? {
            let query = try statement("SELECT seq FROM entries ORDER BY seq \(order) LIMIT 1")
            try query.bind()
            defer { query.reset() }
            return try query.step() ? try stored(query.int64(0), "sequence number") : nil
        }
        guard let first = try sequence("ASC"), let last = try sequence("DESC") else { return (0, 0) }
        return (first, last + 1)
    }

    public func entry(at sequence: UInt64) throws -> [UInt8]? {
        let query = try statement("SELECT data FROM entries WHERE seq = ?")
        try query.bind(sequence)
        defer { query.reset() }
        return try query.step() ? query.blob(0) : nil
    }

    public func insertEntry(sequence: UInt64, bytes: [UInt8]) throws {
        try statement("INSERT INTO entries (seq, data) VALUES (?, ?)").run(sequence, bytes)
    }

    public func entries(from start: UInt64, limit: Int, _ body: (UInt64, [UInt8]) throws -> Void) throws {
        let query = try statement("SELECT seq, data FROM entries WHERE seq >= ? ORDER BY seq LIMIT ?")
        try query.bind(start, limit)
        defer { query.reset() }
        while try query.step() {
            try body(try stored(query.int64(0), "sequence number"), query.blob(1))
        }
    }

    public func node(at position: UInt64) throws -> Hash32? {
        let query = try statement("SELECT hash FROM nodes WHERE pos = ?")
        try query.bind(position)
        defer { query.reset() }
        guard try query.step() else { return nil }
        guard let hash = Hash32(query.blob(0)) else {
            throw CustodyError.operational(
                "\(location): the ledger file is damaged: tree node \(position) is not 32 bytes")
        }
        return hash
    }

    public func insertNode(at position: UInt64, hash: Hash32) throws {
        try statement("INSERT INTO nodes (pos, hash) VALUES (?, ?)").run(position, hash.bytes)
    }

    public func nodes(in range: Range<UInt64>, _ body: (UInt64, [UInt8]) throws -> Void) throws {
        let query = try statement("SELECT pos, hash FROM nodes WHERE pos >= ? AND pos < ? ORDER BY pos")
        try query.bind(range.lowerBound, range.upperBound)
        defer { query.reset() }
        while try query.step() {
            try body(UInt64(bitPattern: query.int64(0)), query.blob(1))
        }
    }

    public func nodeCount() throws -> UInt64 {
        UInt64(max(0, try database.integer("SELECT count(*) FROM nodes") ?? 0))
    }

    public func insertCheckpoint(size: UInt64, note: [UInt8]) throws {
        if let existing = try checkpoint(size: size) {
            guard existing == note else {
                throw CustodyError.operational(
                    "\(location): a different checkpoint is already stored for size \(size)")
            }
            return
        }
        try statement("INSERT INTO checkpoints (size, note) VALUES (?, ?)").run(size, note)
    }

    public func checkpoint(size: UInt64) throws -> [UInt8]? {
        let query = try statement("SELECT note FROM checkpoints WHERE size = ?")
        try query.bind(size)
        defer { query.reset() }
        return try query.step() ? query.blob(0) : nil
    }

    public func checkpoints() throws -> [(size: UInt64, note: [UInt8])] {
        let query = try statement("SELECT size, note FROM checkpoints ORDER BY size")
        try query.bind()
        defer { query.reset() }
        var result: [(UInt64, [UInt8])] = []
        while try query.step() { result.append((try stored(query.int64(0), "checkpoint size"), query.blob(1))) }
        return result
    }

    public func latestCheckpoint() throws -> (size: UInt64, note: [UInt8])? {
        let query = try statement("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1")
        try query.bind()
        defer { query.reset() }
        return try query.step() ? (try stored(query.int64(0), "checkpoint size"), query.blob(1)) : nil
    }
}
