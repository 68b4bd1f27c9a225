import CustodyBase
import CustodyCrypto
import CustodyLedger
internal import NIOCore
internal import PostgresNIO

/// A ledger in a PostgreSQL database (one ledger per database), for an agency whose examiners append from many
/// processes on many hosts.
///
/// Schema (`custody`, the tables of `SQLiteLedgerStore` with `bigint` numbers and `bytea` values):
/// `meta(key text, value bytea)` holds `origin`, `owner`, `head_size` (decimal text) and `head_leaf`;
/// `entries(seq, data)`; `nodes(pos, hash)`; `checkpoints(size, note)`; the schema's comment marks it as custody's
/// with its version. Opening checks all of it, as SQLite's store checks its file: no other table, index, view,
/// sequence, trigger, rule, policy, inheriting table, function or type in or on the schema.
///
/// Writes are serialised inside the database: each write transaction takes `LOCK TABLE custody.meta IN EXCLUSIVE
/// MODE` (which readers do not wait for) before `Ledger` reads the head, so appenders anywhere queue on the lock
/// and each sees every earlier commit (READ COMMITTED: each statement after the lock reads the latest commits).
/// A transaction commits with `synchronous_commit = on`: the COMMIT returns once the server's WAL is flushed.
/// Reads run in `REPEATABLE READ READ ONLY` transactions: one snapshot.
public final class PostgresLedgerStore: LedgerStore {
    /// The schema holding the ledger's tables.
    public static let schemaName = "custody"
    /// The version of the schema below, kept in the schema's comment.
    public static let schemaVersion: Int64 = 1
    /// The schema comment, before the version number.
    static let marker = "custody ledger, schema version "

    /// The tables exactly as `create` makes them and `open` requires them: each table's columns and constraints
    /// as the catalog describes them (see `checkSchema`).
    static let tables: [(name: String, sql: String, described: String)] = [
        ("meta", "CREATE TABLE custody.meta (key text PRIMARY KEY, value bytea NOT NULL)",
         "key text NOT NULL, value bytea NOT NULL; PRIMARY KEY (key)"),
        ("entries", "CREATE TABLE custody.entries (seq bigint PRIMARY KEY, data bytea NOT NULL)",
         "seq bigint NOT NULL, data bytea NOT NULL; PRIMARY KEY (seq)"),
        ("nodes", "CREATE TABLE custody.nodes (pos bigint PRIMARY KEY, hash bytea NOT NULL)",
         "pos bigint NOT NULL, hash bytea NOT NULL; PRIMARY KEY (pos)"),
        ("checkpoints", "CREATE TABLE custody.checkpoints (size bigint PRIMARY KEY, note bytea NOT NULL)",
         "size bigint NOT NULL, note bytea NOT NULL; PRIMARY KEY (size)"),
    ]

    /// Where the ledger is (its password, if any, is used to connect and shown nowhere).
    public let address: PostgresLedgerAddress
    /// The connection (package: the test-support tampering hook and benchmarks write through one like it).
    package let session: PostgresSession
    /// Whether this connection runs read-only transactions only.
    public let isReadOnly: Bool
    private var transactionDepth = 0

    /// The URL without its password.
    public var location: String { address.location }

    private init(address: PostgresLedgerAddress, session: PostgresSession, readOnly: Bool) {
        self.address = address
        self.session = session
        self.isReadOnly = readOnly
    }

    /// Opens the ledger in the database at `address`, checking that it is one (the schema's mark and version, its
    /// tables, nothing foreign on them); never creates or repairs anything. `readOnly` makes every transaction of
    /// the connection read-only.
    /// - Throws: `LedgerError.noSuchLedger` when the database has no `custody` schema,
    ///   `PostgresLedgerError.notALedger`, `LedgerError.unsupportedSchema`, `LedgerError.damaged`, or
    ///   `PostgresLedgerError` when the server cannot be reached or refuses.
    public static func open(address: PostgresLedgerAddress, readOnly: Bool = false) throws -> PostgresLedgerStore {
        let store = PostgresLedgerStore(
            address: address, session: try PostgresSession.connect(address, readOnly: readOnly), readOnly: readOnly)
        try store.readTransaction { try store.checkSchema() }
        return store
    }

    /// Creates a new ledger in the existing database at `address`: the `custody` schema, its tables and the
    /// metadata, in one transaction (all or nothing). `origin` and `ownerDocument` are stored as given
    /// (`Ledger.create` checks them).
    /// - Throws: `LedgerError.alreadyExists` when the database has a `custody` schema already.
    public static func create(
        address: PostgresLedgerAddress, origin: String, ownerDocument: [UInt8]
    ) throws -> PostgresLedgerStore {
        let session = try PostgresSession.connect(address, readOnly: false)
        try session.execute("BEGIN")
        do {
            guard try session.rows("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'custody'").isEmpty else {
                throw LedgerError.alreadyExists(path: address.location)
            }
            try session.execute("CREATE SCHEMA custody")
            try session.execute(PostgresQuery(
                unsafeSQL: "COMMENT ON SCHEMA custody IS '\(marker)\(schemaVersion)'"))
            for table in tables { try session.execute(PostgresQuery(unsafeSQL: table.sql)) }
            let rows: [(String, [UInt8])] = [
                ("origin", Array(origin.utf8)), ("owner", ownerDocument), ("head_size", Array("0".utf8)),
                ("head_leaf", LedgerEntry.noPrevious.bytes),
            ]
            for (key, value) in rows {
                try session.execute("INSERT INTO custody.meta (key, value) VALUES (\(key), \(value.buffer))")
            }
            guard try session.execute("COMMIT") == "COMMIT" else {
                throw LedgerError.storeFailed(
                    location: address.location, reason: "creating the ledger was rolled back", damaged: false)
            }
        } catch {
            _ = try? session.execute("ROLLBACK")
            // Another process created the schema meanwhile.
            if PostgresSession.sqlState(of: error) == "42P06" {
                throw LedgerError.alreadyExists(path: address.location)
            }
            throw error
        }
        return try open(address: address)
    }

    /// Checks the schema's mark and version, and that the schema holds exactly custody's tables and nothing on them.
    private func checkSchema() throws {
        let marks = try session.rows(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_catalog.pg_namespace WHERE nspname = 'custody'")
        guard let mark = marks.first else { throw LedgerError.noSuchLedger(path: location) }
        let comment = try session.decodeOne(mark, as: String?.self)
        guard let comment, comment.hasPrefix(Self.marker),
              let version = Int64(comment.dropFirst(Self.marker.count)) else {
            throw PostgresLedgerError.notALedger(location: location)
        }
        guard version == Self.schemaVersion else {
            throw LedgerError.unsupportedSchema(path: location, version: version)
        }
        // Every relation in the schema, with its columns and constraints as the catalog describes them.
        let relations = try session.rows("""
            SELECT c.relname::text, c.relkind::text, c.relrowsecurity OR c.relforcerowsecurity,
              coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                  || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
                  || CASE WHEN a.atthasdef OR a.attgenerated <> '' OR a.attidentity <> '' THEN ' DEFAULT' ELSE '' END,
                  ', ' ORDER BY a.attnum)
                FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
              || '; ' || coalesce((SELECT string_agg(pg_get_constraintdef(k.oid), ', ' ORDER BY k.conname)
                FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid), '')
            FROM pg_catalog.pg_class c
            WHERE c.relnamespace = (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'custody')
            ORDER BY c.relname
            """)
        var found: [String: (kind: String, secured: Bool, described: String)] = [:]
        for row in relations {
            let (name, kind, secured, described) = try session.decode(row, as: (String, String, Bool, String).self)
            found[name] = (kind, secured, described)
        }
        for table in Self.tables {
            guard let relation = found.removeValue(forKey: table.name) else {
                throw LedgerError.damaged(location: location, .tableMissing(table.name))
            }
            guard relation.kind == "r", !relation.secured, relation.described == table.described,
                  found.removeValue(forKey: table.name + "_pkey")?.kind == "i" else {
                throw LedgerError.damaged(location: location, .alteredTable(table.name))
            }
        }
        if let (name, relation) = found.min(by: { $0.key < $1.key }) {
            throw LedgerError.damaged(
                location: location, .foreignObject(type: Self.kindName(relation.kind), name: name))
        }
        // What could run inside custody's statements or change what they read: triggers, rules and policies on
        // its tables, tables inheriting from them or they from others, functions and types in its schema.
        let attached = try session.rows("""
            WITH n AS (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'custody'),
              r AS (SELECT c.oid FROM pg_catalog.pg_class c, n WHERE c.relnamespace = n.oid)
            SELECT 'trigger', t.tgname::text FROM pg_catalog.pg_trigger t
              WHERE t.tgrelid IN (SELECT oid FROM r) AND NOT t.tgisinternal
            UNION ALL SELECT 'rule', w.rulename::text FROM pg_catalog.pg_rewrite w
              WHERE w.ev_class IN (SELECT oid FROM r)
            UNION ALL SELECT 'policy', p.polname::text FROM pg_catalog.pg_policy p
              WHERE p.polrelid IN (SELECT oid FROM r)
            UNION ALL SELECT 'inheriting table', i.inhrelid::regclass::text FROM pg_catalog.pg_inherits i
              WHERE i.inhparent IN (SELECT oid FROM r) OR i.inhrelid IN (SELECT oid FROM r)
            UNION ALL SELECT 'function', f.proname::text FROM pg_catalog.pg_proc f, n WHERE f.pronamespace = n.oid
            UNION ALL SELECT 'type', y.typname::text FROM pg_catalog.pg_type y, n
              WHERE y.typnamespace = n.oid AND y.typrelid = 0 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type e
                WHERE e.oid = y.typelem AND e.typrelid IN (SELECT oid FROM r))
            ORDER BY 1, 2
            """)
        if let first = attached.first {
            let (type, name) = try session.decode(first, as: (String, String).self)
            throw LedgerError.damaged(location: location, .foreignObject(type: type, name: name))
        }
    }

    private static func kindName(_ kind: String) -> String {
        switch kind {
        case "r": "table"
        case "i", "I": "index"
        case "S": "sequence"
        case "v": "view"
        case "m": "materialized view"
        case "c": "composite type"
        case "f": "foreign table"
        case "p": "partitioned table"
        default: "relation"
        }
    }

    /// Opens the same ledger again on a second connection, read-only.
    public func makeReader() throws -> LedgerStore {
        try PostgresLedgerStore.open(address: address, readOnly: true)
    }

    private func metaValues(_ keys: (String, String)) throws -> (first: [UInt8]?, second: [UInt8]?) {
        var first: [UInt8]?
        var second: [UInt8]?
        for row in try session.rows(
            "SELECT key, value FROM custody.meta WHERE key = \(keys.0) OR key = \(keys.1)") {
            let (key, value) = try session.decode(row, as: (String, ByteBuffer).self)
            if key == keys.0 { first = value.bytes } else { second = value.bytes }
        }
        return (first, second)
    }

    /// The `origin` and `owner` rows of `meta`.
    public func storedMetadata() throws -> (origin: [UInt8], ownerDocument: [UInt8])? {
        let (origin, owner) = try metaValues(("origin", "owner"))
        guard let origin, let owner else { return nil }
        return (origin, owner)
    }

    /// `BEGIN` (READ COMMITTED), `LOCK TABLE custody.meta IN EXCLUSIVE MODE`, the body, then `COMMIT` (durable:
    /// `synchronous_commit = on`) or `ROLLBACK`. A transaction the server ended by rolling back is an error.
    public func writeTransaction<R>(_ body: () throws -> R) throws -> R {
        if transactionDepth > 0 { return try body() }
        try session.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        transactionDepth += 1
        defer { transactionDepth -= 1 }
        do {
            try session.execute("LOCK TABLE custody.meta IN EXCLUSIVE MODE")
            let result = try body()
            guard try session.execute("COMMIT") == "COMMIT" else {
                throw LedgerError.storeFailed(
                    location: location, reason: "the server rolled the transaction back", damaged: false)
            }
            return result
        } catch {
            _ = try? session.execute("ROLLBACK")
            throw error
        }
    }

    /// `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY` (one snapshot), then `COMMIT`.
    public func readTransaction<R>(_ body: () throws -> R) throws -> R {
        if transactionDepth > 0 { return try body() }
        try session.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        transactionDepth += 1
        defer { transactionDepth -= 1 }
        do {
            let result = try body()
            try session.execute("COMMIT")
            return result
        } catch {
            _ = try? session.execute("ROLLBACK")
            throw error
        }
    }

    /// The `head_size` (decimal text) and `head_leaf` rows of `meta`; nil when missing or not a number.
    public func storedHead() throws -> (size: UInt64, lastLeaf: [UInt8])? {
        let (sizeText, leaf) = try metaValues(("head_size", "head_leaf"))
        guard let sizeText, let size = UInt64(String(decoding: sizeText, as: UTF8.self)), let leaf else { return nil }
        return (size, leaf)
    }

    /// Rewrites (or writes again) the `head_size` and `head_leaf` rows.
    public func setHead(size: UInt64, lastLeaf: Hash32) throws {
        try session.execute("""
            INSERT INTO custody.meta (key, value) VALUES ('head_size', \(Array(String(size).utf8).buffer)),
              ('head_leaf', \(lastLeaf.bytes.buffer))
            ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
            """)
    }

    /// The smallest and largest `seq` of `entries` (two index look-ups).
    public func storedEntryBounds() throws -> (lowest: UInt64, highest: UInt64)? {
        guard let row = try session.rows("SELECT min(seq), max(seq) FROM custody.entries").first else { return nil }
        let (lowest, highest) = try session.decode(row, as: (Int64?, Int64?).self)
        guard let lowest, let highest else { return nil }
        return (UInt64(bitPattern: lowest), UInt64(bitPattern: highest))
    }

    private func bytes(_ query: PostgresQuery) throws -> [UInt8]? {
        guard let row = try session.rows(query).first else { return nil }
        return try session.decodeOne(row, as: ByteBuffer.self).bytes
    }

    /// The `data` of entry `sequence`.
    public func entry(at sequence: UInt64) throws -> [UInt8]? {
        try bytes("SELECT data FROM custody.entries WHERE seq = \(Int64(bitPattern: sequence))")
    }

    /// Inserts a row into `entries`.
    public func insertEntry(sequence: UInt64, bytes: [UInt8]) throws {
        try session.execute(
            "INSERT INTO custody.entries (seq, data) VALUES (\(Int64(bitPattern: sequence)), \(bytes.buffer))")
    }

    /// The rows of `entries` from `start`, by `seq` (at most `limit`, read in one query).
    public func entries(from start: UInt64, limit: Int, _ body: (UInt64, [UInt8]) throws -> Void) throws {
        let rows = try session.rows("""
            SELECT seq, data FROM custody.entries WHERE seq >= \(Int64(bitPattern: start)) ORDER BY seq
            LIMIT \(Int64(max(0, limit)))
            """)
        for row in rows {
            let (sequence, data) = try session.decode(row, as: (Int64, ByteBuffer).self)
            try body(UInt64(bitPattern: sequence), data.bytes)
        }
    }

    /// The `hash` of the node at `position`.
    public func node(at position: UInt64) throws -> [UInt8]? {
        try bytes("SELECT hash FROM custody.nodes WHERE pos = \(Int64(bitPattern: position))")
    }

    /// Inserts a row into `nodes`.
    public func insertNode(at position: UInt64, hash: Hash32) throws {
        try session.execute(
            "INSERT INTO custody.nodes (pos, hash) VALUES (\(Int64(bitPattern: position)), \(hash.bytes.buffer))")
    }

    /// The rows of `nodes` in `range`, by `pos` (read in one query: the verifier asks for one batch's nodes).
    public func nodes(in range: Range<UInt64>, _ body: (UInt64, [UInt8]) throws -> Void) throws {
        let rows = try session.rows("""
            SELECT pos, hash FROM custody.nodes WHERE pos >= \(Int64(bitPattern: range.lowerBound))
              AND pos < \(Int64(bitPattern: range.upperBound)) ORDER BY pos
            """)
        for row in rows {
            let (position, hash) = try session.decode(row, as: (Int64, ByteBuffer).self)
            try body(UInt64(bitPattern: position), hash.bytes)
        }
    }

    /// The rows of `nodes` at `positions`, in one query (`pos = ANY(...)`): a proof's nodes in one round trip.
    public func nodes(at positions: [UInt64]) throws -> [UInt64: [UInt8]] {
        guard !positions.isEmpty else { return [:] }
        let wanted = positions.map { Int64(bitPattern: $0) }
        var found: [UInt64: [UInt8]] = [:]
        for row in try session.rows("SELECT pos, hash FROM custody.nodes WHERE pos = ANY(\(wanted))") {
            let (position, hash) = try session.decode(row, as: (Int64, ByteBuffer).self)
            found[UInt64(bitPattern: position)] = hash.bytes
        }
        return found
    }

    /// The number of rows of `nodes`.
    public func nodeCount() throws -> UInt64 {
        guard let row = try session.rows("SELECT count(*) FROM custody.nodes").first else { return 0 }
        return UInt64(max(0, try session.decodeOne(row, as: Int64.self)))
    }

    /// Inserts a row into `checkpoints`.
    public func insertCheckpoint(size: UInt64, note: [UInt8]) throws {
        try session.execute(
            "INSERT INTO custody.checkpoints (size, note) VALUES (\(Int64(bitPattern: size)), \(note.buffer))")
    }

    /// The `note` stored for `size`.
    public func checkpoint(size: UInt64) throws -> [UInt8]? {
        try bytes("SELECT note FROM custody.checkpoints WHERE size = \(Int64(bitPattern: size))")
    }

    private func checkpointRows(_ query: PostgresQuery) throws -> [(size: UInt64, note: [UInt8])] {
        try session.rows(query).map { row in
            let (size, note) = try session.decode(row, as: (Int64, ByteBuffer).self)
            return (UInt64(bitPattern: size), note.bytes)
        }
    }

    /// Every row of `checkpoints`, by size.
    public func checkpoints() throws -> [(size: UInt64, note: [UInt8])] {
        try checkpointRows("SELECT size, note FROM custody.checkpoints ORDER BY size")
    }

    /// The row of `checkpoints` of the largest size.
    public func latestCheckpoint() throws -> (size: UInt64, note: [UInt8])? {
        try checkpointRows("SELECT size, note FROM custody.checkpoints ORDER BY size DESC LIMIT 1").first
    }
}
