import CustodyBase
import CustodyLedger
import CustodyPostgres
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A PostgreSQL server the tests may use, named by `CUSTODY_TEST_POSTGRES` (a URL whose role may create
/// databases, such as `postgres://postgres@127.0.0.1:PORT/postgres`; `.ci/run` starts one). Each test makes its
/// own throw-away databases through it and drops them after.
public final class PostgresTestServer {
    /// The environment variable naming the server.
    public static let variable = "CUSTODY_TEST_POSTGRES"
    /// What a test that needs the server says when it skips.
    public static let skipMessage = "PostgreSQL not available: set CUSTODY_TEST_POSTGRES (.ci/run starts one)"

    /// The administrative database's address (from the variable).
    public let admin: PostgresLedgerAddress
    private let session: PostgresSession
    private var created: [String] = []
    private var counter = 0
    /// Tells this object's databases from those of others in the same process.
    private let tag = String(UInt32.random(in: 0...UInt32.max), radix: 16)

    /// The server the environment names, or nil when `CUSTODY_TEST_POSTGRES` is unset or empty.
    /// - Throws: when the URL does not parse or the server cannot be reached (a set variable is never ignored).
    public static func fromEnvironment() throws -> PostgresTestServer? {
        guard let value = getenv(variable).map({ String(cString: $0) }), !value.isEmpty else { return nil }
        return try PostgresTestServer(admin: PostgresLedgerAddress(url: value))
    }

    /// Connects to `admin`.
    public init(admin: PostgresLedgerAddress) throws {
        self.admin = admin
        session = try PostgresSession.connect(admin, readOnly: false)
    }

    deinit { dropAll() }

    /// A new empty database (`custody_test_PID_TAG_N`) and its address.
    public func makeDatabase() throws -> PostgresLedgerAddress {
        counter += 1
        let name = "custody_test_\(getpid())_\(tag)_\(counter)"
        try session.run("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        try session.run("CREATE DATABASE \(name)")
        created.append(name)
        var address = admin
        address.database = name
        return address
    }

    /// Drops `address`'s database now (ending its connections).
    public func drop(_ address: PostgresLedgerAddress) {
        _ = try? session.run("DROP DATABASE IF EXISTS \(address.database) WITH (FORCE)")
        created.removeAll { $0 == address.database }
    }

    /// Drops every database this server object made (ending their connections).
    public func dropAll() {
        for name in created { _ = try? session.run("DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
        created.removeAll()
    }

    /// Runs `SELECT 1` on this object's own connection (made when it was created).
    public func ping() throws {
        try session.run("SELECT 1")
    }

    /// Runs SQL on the database at `address` (set-up and tampering in tests).
    public func run(_ sql: String, in address: PostgresLedgerAddress) throws {
        try PostgresSession.connect(address, readOnly: false).run(sql)
    }

    /// The environment a `custody` process needs beside the URL (`PGPASSWORD` when the admin URL has a password).
    public var environment: [String: String] {
        admin.password.map { ["PGPASSWORD": $0] } ?? [:]
    }
}

/// The conformance harness of the PostgreSQL backend: one new database per ledger, tampered with through SQL on a
/// second connection, as a database user with write access to the tables would.
public final class PostgresLedgerStoreHarness: LedgerStoreHarness {
    /// The server the databases are made on.
    public let server: PostgresTestServer

    /// A harness making its databases on `server`.
    public init(server: PostgresTestServer) { self.server = server }

    /// A new ledger in a new database.
    public func makeStore(origin: String, ownerDocument: [UInt8]) throws -> LedgerStore {
        try PostgresLedgerStore.create(address: server.makeDatabase(), origin: origin, ownerDocument: ownerDocument)
    }

    /// The same database opened again.
    public func reopen(_ store: LedgerStore) throws -> LedgerStore {
        try PostgresLedgerStore.open(address: Self.address(of: store))
    }

    /// SQL on a second connection to the database.
    public func tampering(with store: LedgerStore) throws -> LedgerStoreTampering {
        try PostgresLedgerTampering(address: Self.address(of: store))
    }

    private static func address(of store: LedgerStore) throws -> PostgresLedgerAddress {
        guard let store = store as? PostgresLedgerStore else {
            throw LedgerStoreConformance.HarnessError(description: "not a PostgreSQL store: \(store.location)")
        }
        return store.address
    }
}

extension LedgerStoreConformance {
    /// A harness given a store of another backend.
    public struct HarnessError: Error, CustomStringConvertible {
        /// What was wrong.
        public var description: String
    }
}

/// Raw SQL on a ledger database: the PostgreSQL implementation of the conformance suite's tampering hook (each
/// statement commits on its own).
public struct PostgresLedgerTampering: LedgerStoreTampering {
    private let session: PostgresSession

    /// A second connection to the ledger database at `address`.
    public init(address: PostgresLedgerAddress) throws {
        session = try PostgresSession.connect(address, readOnly: false)
    }

    /// `UPDATE custody.entries SET data`.
    public func overwriteEntry(_ sequence: Int64, with bytes: [UInt8]) throws {
        try session.run("UPDATE custody.entries SET data = $1 WHERE seq = $2", [.bytes(bytes), .int(sequence)])
    }

    /// `INSERT INTO custody.entries`.
    public func insertEntry(_ sequence: Int64, bytes: [UInt8]) throws {
        try session.run("INSERT INTO custody.entries (seq, data) VALUES ($1, $2)", [.int(sequence), .bytes(bytes)])
    }

    /// `UPDATE custody.entries SET seq`.
    public func renumberEntry(_ sequence: Int64, to newSequence: Int64) throws {
        try session.run("UPDATE custody.entries SET seq = $1 WHERE seq = $2", [.int(newSequence), .int(sequence)])
    }

    /// `DELETE FROM custody.entries`.
    public func deleteEntries(_ sequences: ClosedRange<Int64>) throws {
        try session.run("DELETE FROM custody.entries WHERE seq >= $1 AND seq <= $2",
                        [.int(sequences.lowerBound), .int(sequences.upperBound)])
    }

    /// `UPDATE custody.nodes SET hash`.
    public func overwriteNode(at position: UInt64, with bytes: [UInt8]) throws {
        try session.run("UPDATE custody.nodes SET hash = $1 WHERE pos = $2",
                        [.bytes(bytes), .int(Int64(bitPattern: position))])
    }

    /// `DELETE FROM custody.nodes`.
    public func deleteNodes(from position: UInt64) throws {
        try session.run("DELETE FROM custody.nodes WHERE pos >= $1", [.int(Int64(bitPattern: position))])
    }

    /// `INSERT INTO custody.checkpoints`.
    public func insertCheckpoint(size: Int64, note: [UInt8]) throws {
        try session.run("INSERT INTO custody.checkpoints (size, note) VALUES ($1, $2)", [.int(size), .bytes(note)])
    }

    /// `DELETE FROM custody.checkpoints`.
    public func deleteCheckpoints(size: Int64?) throws {
        if let size {
            try session.run("DELETE FROM custody.checkpoints WHERE size = $1", [.int(size)])
        } else {
            try session.run("DELETE FROM custody.checkpoints")
        }
    }

    /// `UPDATE custody.meta` for `head_size` (decimal text) and `head_leaf`.
    public func overwriteHead(size: UInt64, lastLeaf: [UInt8]) throws {
        try session.run("UPDATE custody.meta SET value = $1 WHERE key = 'head_size'",
                        [.bytes(Array(String(size).utf8))])
        try session.run("UPDATE custody.meta SET value = $1 WHERE key = 'head_leaf'", [.bytes(lastLeaf)])
    }

    /// `UPDATE custody.meta` for `origin`.
    public func overwriteOrigin(_ bytes: [UInt8]) throws {
        try session.run("UPDATE custody.meta SET value = $1 WHERE key = 'origin'", [.bytes(bytes)])
    }
}
