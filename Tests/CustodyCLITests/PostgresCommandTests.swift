import Foundation
import XCTest

import CustodyKit
import CustodyPostgres
import CustodyTestSupport

/// LEDGER arguments that are not ledgers: usage errors (exit 2) naming the wrong part, never a password. No server.
final class LedgerArgumentTests: CLITestCase {
    func testBadLedgerURLsAreUsageErrors() throws {
        let cases: [([String], String)] = [
            (["ledger", "verify", "postgres://alice@db.example"], "database: missing"),
            (["ledger", "export", "postgres://alice:topsecret@db.example:99999/custody"], "port: '99999'"),
            (["ledger", "prove", "postgresql://@db.example/custody", "--index", "0"], "user: missing"),
            (["ledger", "export", "postgres://alice:topsecret@db.example/c?sslmode=verify-full"], "sslmode"),
            (["ledger", "export", "https://log.example/agency"], "https is not built in"),
            (["preserve", "list", "--ledger", "http://log.example/agency"], "served by custody serve"),
            (["ledger", "export", "ftp://log.example/agency"], "not a ledger"),
        ]
        for (arguments, fragment) in cases {
            let result = try custody(arguments, expect: 2)
            XCTAssertTrue(result.err.contains(fragment), "\(arguments): \(result.err)")
            XCTAssertFalse(result.err.contains("topsecret"), "\(arguments): the password is shown: \(result.err)")
            XCTAssertEqual(result.err.split(separator: "\n").count, 1, result.err)
            XCTAssertEqual(result.out, "")
        }
    }
}

/// Every command that takes a ledger, on a PostgreSQL ledger (`CUSTODY_TEST_POSTGRES`, started by `.ci/run`).
final class PostgresCommandTests: CLITestCase {
    var server: PostgresTestServer!

    override func setUpWithError() throws {
        try super.setUpWithError()
        guard let server = try PostgresTestServer.fromEnvironment() else {
            throw XCTSkip(PostgresTestServer.skipMessage)
        }
        self.server = server
        addTeardownBlock { server.dropAll() }
    }

    /// A new database's URL (no password: `server.environment` carries it).
    func newLedgerURL() throws -> String { try server.makeDatabase().location }

    func run(_ arguments: [String], expect status: Int32 = 0, stdin: Data? = nil,
             file: StaticString = #filePath, line: UInt = #line) throws -> CLI.Result {
        let result = try CLI.run(arguments, stdin: stdin, environment: server.environment)
        XCTAssertEqual(result.status, status, "custody \(arguments.joined(separator: " ")): \(result.err)",
                       file: file, line: line)
        return result
    }

    func testLedgerCommandsOnPostgres() throws {
        try makeKeys("alice", agency: "Police", jurisdiction: "FR", in: dir.path)
        let key = path("alice.key")
        let ledger = try newLedgerURL()
        let created = try run(["ledger", "init", ledger, "--origin", "police.example/custody", "--key", key])
        XCTAssertTrue(created.out.hasPrefix("created \(ledger): origin police.example/custody"), created.out)
        let again = try run(["ledger", "init", ledger, "--origin", "police.example/custody", "--key", key],
                            expect: 2)
        XCTAssertTrue(again.err.contains("already exists"), again.err)

        for action in ["acquire", "seal", "copy"] {
            _ = try run(["ledger", "append", ledger, "--key", key, "--action", action, "--subject", "disk-1"])
        }
        let lines = (0..<5).map { "{\"action\":\"access\",\"subjects\":[\"item-\($0)\"]}" }
        let batch = try run(["ledger", "append", ledger, "--key", key, "--batch"],
                            stdin: Data((lines.joined(separator: "\n") + "\n").utf8))
        XCTAssertEqual(batch.out.split(separator: "\n").count, 5)

        let export = try run(["ledger", "export", ledger])
        let entries = export.out.split(separator: "\n").map(String.init)
        XCTAssertEqual(entries.count, 8)
        XCTAssertEqual(try run(["ledger", "export", ledger, "--from", "2", "--to", "4"]).out,
                       entries[2] + "\n" + entries[3] + "\n")

        let checkpoint = try run(["ledger", "checkpoint", ledger])
        XCTAssertTrue(checkpoint.out.hasPrefix("police.example/custody\n8\n"), checkpoint.out)
        try checkpoint.out.write(toFile: path("cp8"), atomically: true, encoding: .utf8)
        let proof = try run(["ledger", "prove", ledger, "--index", "5", "--json"])
        try proof.out.write(toFile: path("proof.json"), atomically: true, encoding: .utf8)
        try (entries[5] + "\n").write(toFile: path("entry5"), atomically: true, encoding: .utf8)
        // The proof from PostgreSQL checks offline against the checkpoint, as one from a file does.
        let check = try run(["ledger", "check-inclusion", "--proof", path("proof.json"), "--leaf", path("entry5"),
                             "--checkpoint", path("cp8"), "--key", path("alice.vkey")])
        XCTAssertTrue(check.out.contains("entry 5 is included in police.example/custody at size 8"), check.out)
        let consistency = try run(["ledger", "consistency", ledger, "--from", "3", "--json"])
        XCTAssertTrue(consistency.out.contains("\"to\":8"), consistency.out)

        let verify = try run(["ledger", "verify", ledger])
        XCTAssertTrue(verify.out.contains("\(ledger): verified: 8 entries, 4 checkpoints"), verify.out)

        // A tampered entry is found by verify (exit 1), as in a file.
        try server.run("UPDATE custody.entries SET data = convert_to(replace(convert_from(data, 'UTF8'), "
                       + "'item-2', 'item-9'), 'UTF8') WHERE seq = 5", in: PostgresLedgerAddress(url: ledger))
        let tampered = try run(["ledger", "verify", ledger], expect: 1)
        XCTAssertTrue(tampered.out.contains("entry 5: signature does not verify"), tampered.out)
    }

    /// Seal, transfer, receive, receipt import and report with both agencies' ledgers in PostgreSQL.
    func testSealTransferAndReceiveOnPostgres() throws {
        try setUpHandOff()
        let fr = try newLedgerURL(), de = try newLedgerURL()
        _ = try run(["ledger", "init", fr, "--origin", "fr.example/custody", "--key", key("fr")])
        _ = try run(["ledger", "init", de, "--origin", "de.example/custody", "--key", key("de")])
        let sealed = try run(["seal", "--ledger", fr, "--key", key("fr"), "--out", path("bundle"),
                              "--legal-basis", "UNCC art. 40", "--json", path("evidence")])
        XCTAssertTrue(sealed.out.contains("\"ledgerEntries\""), sealed.out)
        _ = try run(["verify", path("bundle"), "--trust", path("de-trust.json")])
        _ = try run(["transfer", path("bundle"), "--to", "de", "--trust", path("fr-trust.json"), "--ledger", fr,
                     "--key", key("fr"), "--out", path("to-de.age"), "--mla-ref", "MLA-2026-17"])
        _ = try run(["receive", path("to-de.age"), "--identity", path("keys/de.age"), "--ledger", de,
                     "--key", key("de"), "--out", path("received"), "--trust", path("de-trust.json")])
        let receipt = path("received.receipt")
        _ = try run(["receipt", "import", receipt, "--ledger", fr, "--key", key("fr"),
                     "--trust", path("fr-trust.json")])
        let actions = try run(["ledger", "export", fr]).out.split(separator: "\n").map {
            try JSONValue.parse(String($0))["action"]?.stringValue ?? ""
        }
        XCTAssertEqual(Array(actions.suffix(2)), ["transfer-out", "receipt"], "\(actions)")
        // A reviewer trusting both agencies: every check passes, both PostgreSQL ledgers' entries in the story.
        try trust("review.json", "fr", "Police judiciaire", "FR")
        try trust("review.json", "de", "Bundeskriminalamt", "DE")
        let report = try run(["report", path("bundle"), "--html", path("report.html"), "--trust", path("review.json"),
                              "--ledger", fr, "--ledger", de, "--receipt", receipt])
        XCTAssertTrue(report.out.contains("every check passed"), report.out)
        let html = try String(contentsOfFile: path("report.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("<td>ledger \(fr)</td>") && html.contains("<td>ledger \(de)</td>"))
        XCTAssertTrue(html.contains(">TRANSFER-OUT<") && html.contains(">RECEIVE<"), "entries missing from the report")
        for ledger in [fr, de] { _ = try run(["ledger", "verify", ledger]) }
    }

    /// Several `custody ledger append` processes at once on one PostgreSQL ledger: the database sequences them;
    /// every entry is there once, the chain and tree are whole, and `ledger verify` passes.
    func testConcurrentAppendProcesses() throws {
        try makeKeys("alice", agency: "Police", jurisdiction: "FR", in: dir.path)
        let key = path("alice.key")
        let ledger = try newLedgerURL()
        _ = try run(["ledger", "init", ledger, "--origin", "police.example/custody", "--key", key])
        let processes = 6, appendsEach = 8
        let failures = LockedStrings()
        let environment = server.environment
        DispatchQueue.concurrentPerform(iterations: processes) { writer in
            for index in 0..<appendsEach {
                do {
                    let result = try CLI.run(["ledger", "append", ledger, "--key", key, "--action", "note",
                                              "--subject", "w\(writer)-\(index)"], environment: environment)
                    if result.status != 0 { failures.add("w\(writer)-\(index): \(result.err)") }
                } catch {
                    failures.add("\(error)")
                }
            }
        }
        XCTAssertEqual(failures.all, [])
        let subjects = try run(["ledger", "export", ledger]).out.split(separator: "\n").map { line in
            (try? JSONValue.parse(String(line))["subjects"]?.arrayValue?.first?["id"]?.stringValue) ?? nil
        }
        XCTAssertEqual(subjects.count, processes * appendsEach)
        XCTAssertEqual(Set(subjects.compactMap { $0 }).count, processes * appendsEach, "an entry is duplicated")
        let verify = try run(["ledger", "verify", ledger])
        XCTAssertTrue(verify.out.contains("verified: \(processes * appendsEach) entries"), verify.out)
    }
}

/// Strings gathered from concurrent workers.
final class LockedStrings: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String] = []

    func add(_ value: String) {
        lock.lock()
        values.append(value)
        lock.unlock()
    }

    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return values
    }
}
