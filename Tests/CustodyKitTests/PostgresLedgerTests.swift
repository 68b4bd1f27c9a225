import XCTest

import CustodyKit
import CustodyPostgres
import CustodyTestSupport

/// The PostgreSQL ledger store against a real server (`CUSTODY_TEST_POSTGRES`, started by `.ci/run`): the
/// conformance suite every backend passes, its own schema checks, errors, and concurrent writers. URL parsing needs
/// no server.
final class PostgresLedgerTests: XCTestCase {
    var key: SigningKey!

    override func setUpWithError() throws {
        let privateKey = try Ed25519PrivateKey.generate()
        key = try SigningKey(
            identity: Identity(name: "alice", agency: "Police", jurisdiction: "FR", publicKey: privateKey.publicKey),
            privateKey: privateKey)
    }

    /// The test server, or a skip naming what is missing.
    func server() throws -> PostgresTestServer {
        guard let server = try PostgresTestServer.fromEnvironment() else {
            throw XCTSkip(PostgresTestServer.skipMessage)
        }
        return server
    }

    func makeLedger(_ server: PostgresTestServer, entries: Int) throws -> (Ledger, PostgresLedgerAddress) {
        let address = try server.makeDatabase()
        let ledger = try Ledger.create(origin: "police.example/custody", key: key) {
            try PostgresLedgerStore.create(address: address, origin: $0, ownerDocument: $1)
        }
        try LedgerStoreConformance.appendSampleEntries(entries, to: ledger, key: key)
        return (ledger, address)
    }

    func expectError(
        _ fragment: String, _ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(fragment), "\(error) (expected '\(fragment)')", file: file, line: line)
            XCTAssertFalse("\(error)".contains("\n"), "not one line: \(error)", file: file, line: line)
        }
    }

    // MARK: - URLs (no server)

    func testURLForms() throws {
        let tcp = try PostgresLedgerAddress(url: "postgres://alice:s%40cret@db.example:6543/custody%2Dfr")
        XCTAssertEqual(tcp.user, "alice")
        XCTAssertEqual(tcp.password, "s@cret")
        XCTAssertEqual(tcp.endpoint, .tcp(host: "db.example", port: 6543))
        XCTAssertEqual(tcp.database, "custody-fr")
        XCTAssertEqual(tcp.location, "postgres://alice@db.example:6543/custody-fr")
        let defaults = try PostgresLedgerAddress(url: "postgresql://bob@127.0.0.1/ledger")
        XCTAssertEqual(defaults.endpoint, .tcp(host: "127.0.0.1", port: 5432))
        XCTAssertNil(defaults.password)
        let v6 = try PostgresLedgerAddress(url: "POSTGRES://bob@[::1]:5433/ledger")
        XCTAssertEqual(v6.endpoint, .tcp(host: "::1", port: 5433))
        XCTAssertEqual(v6.location, "postgres://bob@[::1]:5433/ledger")
        let socket = try PostgresLedgerAddress(url: "postgres://bob@/ledger?host=/run/postgresql")
        XCTAssertEqual(socket.endpoint, .unixSocket(directory: "/run/postgresql", port: 5432))
        XCTAssertEqual(socket.location, "postgres://bob@/ledger?host=/run/postgresql")
        let encodedSocket = try PostgresLedgerAddress(url: "postgres://bob@%2Ftmp%2Fpg/ledger?port=5999")
        XCTAssertEqual(encodedSocket.endpoint, .unixSocket(directory: "/tmp/pg", port: 5999))
        XCTAssertTrue(PostgresLedgerAddress.isPostgresURL("postgresql://x@y/z"))
        XCTAssertFalse(PostgresLedgerAddress.isPostgresURL("/var/ledgers/postgres://x"))
    }

    func testBadURLsNameThePartAndNeverThePassword() {
        let cases: [(String, String)] = [
            ("mysql://a@b/c", "scheme"),
            ("postgres://a@b", "database: missing"),
            ("postgres://a@b/", "database: missing"),
            ("postgres://b/c", "user: missing"),
            ("postgres://:pw@b/c", "user: missing"),
            ("postgres://a:pw@b:0/c", "port: '0'"),
            ("postgres://a:pw@b:65536/c", "port: '65536'"),
            ("postgres://a:pw@b:x/c", "port: 'x'"),
            ("postgres://a:pw@/c", "host: missing"),
            ("postgres://a:pw@b/c?sslmode=require", "parameter sslmode: not supported"),
            ("postgres://a:pw@b/c?host", "parameter host: expected NAME=VALUE"),
            ("postgres://a:pw@b/c?host=/x", "host: given both"),
            ("postgres://a%zz:pw@b/c", "user: bad percent-encoding"),
            ("postgres://a:pw@b/c/d", "is not one database name"),
            ("postgres://a:pw@[::1/c", "host: unclosed"),
            ("postgres://a:pw@b c/d", "is not a host name"),
        ]
        for (url, fragment) in cases {
            XCTAssertThrowsError(try PostgresLedgerAddress(url: url), url) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(fragment), "\(url): \(message)")
                XCTAssertFalse(message.contains("pw"), "\(url): the password is shown: \(message)")
                XCTAssertEqual((error as? CustodyFailure)?.kind, .operational, url)
            }
        }
    }

    // MARK: - Against a server

    /// Every ledger store must pass the conformance suite (see `testSQLiteStorePassesTheConformanceSuite`).
    func testPostgresStorePassesTheConformanceSuite() throws {
        let server = try server()
        let harness = PostgresLedgerStoreHarness(server: server)
        for check in LedgerStoreConformance.checks {
            XCTAssertNoThrow(try check.run(harness), check.name)
            server.dropAll()
        }
    }

    /// Opening checks the schema as SQLite's store checks its file: no ledger, another schema, an unknown version,
    /// a missing or altered table, and anything planted on or beside custody's tables are refused before anything
    /// runs; init refuses a database that has a ledger.
    func testSchemaIsCheckedOnOpen() throws {
        let server = try server()
        let empty = try server.makeDatabase()
        expectError("no such ledger") { _ = try PostgresLedgerStore.open(address: empty) }
        let plants: [(sql: String, error: String)] = [
            ("COMMENT ON SCHEMA custody IS 'mine'", "not a custody ledger"),
            ("COMMENT ON SCHEMA custody IS 'custody ledger, schema version 2'", "schema version 2 is not supported"),
            ("DROP TABLE custody.nodes", "table nodes missing"),
            ("ALTER TABLE custody.entries ADD COLUMN note text", "entries is not custody's table"),
            ("ALTER TABLE custody.meta ALTER COLUMN value DROP NOT NULL", "meta is not custody's table"),
            ("ALTER TABLE custody.checkpoints ADD CHECK (size > 0)", "checkpoints is not custody's table"),
            ("ALTER TABLE custody.entries ENABLE ROW LEVEL SECURITY", "entries is not custody's table"),
            ("CREATE INDEX i ON custody.checkpoints (note)", "index 'i'"),
            ("CREATE VIEW custody.v AS SELECT * FROM custody.entries", "view 'v'"),
            ("CREATE TABLE custody.extra (x int)", "table 'extra'"),
            ("CREATE SEQUENCE custody.s", "sequence 's'"),
            ("""
             CREATE FUNCTION public.f() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
             CREATE TRIGGER t BEFORE INSERT ON custody.entries FOR EACH ROW EXECUTE FUNCTION public.f()
             """, "trigger 't'"),
            ("CREATE RULE r AS ON INSERT TO custody.nodes DO INSTEAD NOTHING", "rule 'r'"),
            ("CREATE TABLE public.child () INHERITS (custody.entries)", "inheriting table"),
            ("CREATE FUNCTION custody.g() RETURNS int LANGUAGE sql AS 'SELECT 1'", "function 'g'"),
            ("CREATE TYPE custody.mood AS ENUM ('a')", "mood'"),
        ]
        for (sql, fragment) in plants {
            let (ledger, address) = try makeLedger(server, entries: 2)
            let before = try ledger.entryBytes(at: 0)
            for statement in sql.components(separatedBy: ";\n") { try server.run(statement, in: address) }
            expectError(fragment) { _ = try PostgresLedgerStore.open(address: address) }
            expectError(fragment) { _ = try PostgresLedgerStore.open(address: address, readOnly: true) }
            if !sql.hasPrefix("DROP"), !sql.contains("ALTER"), !sql.hasPrefix("COMMENT") {
                XCTAssertEqual(try ledger.entryBytes(at: 0), before)
            }
            server.drop(address)
        }
        let (_, address) = try makeLedger(server, entries: 1)
        expectError("already exists") {
            _ = try PostgresLedgerStore.create(address: address, origin: "x.example/log", ownerDocument: [1])
        }
    }

    /// Server and connection failures are typed, one line, name the ledger without its password, and exit 2.
    func testFailuresAreOneLineWithoutThePassword() throws {
        let server = try server()
        var missing = server.admin
        missing.database = "custody_no_such_database"
        missing.password = "sekrit-pw"
        expectError("PostgreSQL error 3D000") { _ = try PostgresLedgerStore.open(address: missing) }
        XCTAssertThrowsError(try PostgresLedgerStore.open(address: missing)) { error in
            XCTAssertFalse("\(error)".contains("sekrit"), "\(error)")
            XCTAssertTrue("\(error)".contains(missing.location), "\(error)")
            XCTAssertEqual((error as? CustodyFailure)?.kind, .operational)
        }
        let closed = PostgresLedgerAddress(
            user: "postgres", password: "sekrit-pw", endpoint: .tcp(host: "127.0.0.1", port: 1), database: "x")
        expectError("cannot reach PostgreSQL") { _ = try PostgresLedgerStore.open(address: closed) }
        XCTAssertThrowsError(try PostgresLedgerStore.open(address: closed)) { error in
            XCTAssertFalse("\(error)".contains("sekrit"), "\(error)")
        }
        // A read-only connection cannot write, whatever is asked of it.
        let (_, address) = try makeLedger(server, entries: 1)
        let reader = try Ledger(store: PostgresLedgerStore.open(address: address, readOnly: true))
        expectError("25006") { try reader.append(LedgerEntryDraft(action: .note), key: key) }
        XCTAssertEqual(try reader.size(), 1)
    }

    /// Writers on many connections (as many processes would be) append at once: the database's lock sequences
    /// them, so every entry is stored exactly once, the chain and tree are whole, and the ledger verifies.
    func testConcurrentWritersNeverForkTheLog() throws {
        let server = try server()
        let (ledger, address) = try makeLedger(server, entries: 1)
        let writers = 6, appendsEach = 15
        let failures = Failures()
        let key: SigningKey = key
        DispatchQueue.concurrentPerform(iterations: writers) { writer in
            do {
                let mine = try Ledger(store: PostgresLedgerStore.open(address: address))
                for index in 0..<appendsEach {
                    let subject = try LedgerSubject(id: "w\(writer)-\(index)")
                    try mine.append(LedgerEntryDraft(action: .access, subjects: [subject]), key: key)
                }
            } catch {
                failures.add("\(error)")
            }
        }
        XCTAssertEqual(failures.all, [])
        XCTAssertEqual(try ledger.size(), UInt64(1 + writers * appendsEach))
        var seen: [String: Int] = [:]
        var previous = LedgerEntry.noPrevious
        try ledger.export { bytes in
            let entry = try LedgerEntry.parse(bytes)
            XCTAssertEqual(entry.previous, previous)
            previous = Merkle.leafHash(bytes)
            for subject in entry.subjects { seen[subject.id, default: 0] += 1 }
        }
        for writer in 0..<writers {
            for index in 0..<appendsEach { XCTAssertEqual(seen["w\(writer)-\(index)"], 1, "w\(writer)-\(index)") }
        }
        let report = try ledger.verify()
        XCTAssertTrue(report.passed, "\(report.problems.map(\.message))")
        XCTAssertEqual(report.checkpointsChecked, 1 + writers * appendsEach)
    }
}

/// Failure messages gathered from concurrent workers.
final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [String] = []

    func add(_ message: String) {
        lock.lock()
        messages.append(message)
        lock.unlock()
    }

    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return messages
    }
}
