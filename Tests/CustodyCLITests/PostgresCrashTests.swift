import Foundation
import XCTest

import CustodyKit
import CustodyPostgres
import CustodyTestSupport

/// A throw-away PostgreSQL cluster of the test's own (initdb and pg_ctl from PostgreSQL 15's server package), on a
/// Unix socket in its folder only, so the test may crash and restart it. Run as the `postgres` user when the
/// tests run as root (initdb refuses root).
final class PrivateCluster: Sendable {
    static let binaries = "/usr/lib/postgresql/15/bin"
    let folder: URL
    var data: String { folder.appendingPathComponent("data").path }
    /// The administrative database's URL (the socket in `folder`).
    var adminURL: String { "postgres://postgres@/postgres?host=\(folder.path)" }

    init(test: XCTestCase) throws {
        guard FileManager.default.isExecutableFile(atPath: "\(Self.binaries)/initdb"),
              FileManager.default.isExecutableFile(atPath: "\(Self.binaries)/pg_ctl") else {
            throw XCTSkip("PostgreSQL 15 server programs not found in \(Self.binaries) (initdb, pg_ctl): "
                          + "this test starts and crashes its own cluster")
        }
        // Short: a socket path must stay under 108 bytes.
        folder = URL(fileURLWithPath: "/tmp/custody-pg-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
        if getuid() == 0 {
            try FileManager.default.setAttributes([.ownerAccountName: "postgres"], ofItemAtPath: folder.path)
        }
        let folder = folder
        test.addTeardownBlock { [self] in
            self.pgctl(["stop", "-m", "immediate"])
            try? FileManager.default.removeItem(at: folder)
        }
        let initdb = try Self.asServerUser("\(Self.binaries)/initdb",
                                           ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"])
        guard initdb.status == 0 else { throw XCTSkip("initdb failed (cannot make a private cluster): \(initdb.err)") }
    }

    /// Runs `tool` as the server's user (`postgres` when running as root).
    static func asServerUser(_ tool: String, _ arguments: [String]) throws -> CLI.Result {
        if getuid() == 0, let runuser = CLI.which("runuser") {
            return try CLI.runTool(runuser, ["-u", "postgres", "--", tool] + arguments)
        }
        return try CLI.runTool(tool, arguments)
    }

    /// Runs pg_ctl with `arguments` (as the server's user) through `system`, its output appended to
    /// `pg_ctl.out` and its input from /dev/null: the server it starts must not inherit the test's pipes, and
    /// Foundation's `Process` was seen never to return from a `pg_ctl start`. Returns the exit status.
    @discardableResult
    func pgctl(_ arguments: [String]) -> Int32 {
        let quoted = (["\(Self.binaries)/pg_ctl", "-D", data] + arguments).map { "'\($0)'" }.joined(separator: " ")
        let command = (getuid() == 0 ? "runuser -u postgres -- " : "") + quoted
        return system("\(command) >>'\(folder.path)/pg_ctl.out' 2>&1 </dev/null")
    }

    /// Starts the server (durable commits: fsync and synchronous_commit on, as by default) and waits for it.
    func start() throws {
        let log = folder.appendingPathComponent("server.log").path
        let options = "-c listen_addresses=\"\" -k \(folder.path) -c fsync=on -c synchronous_commit=on"
        guard pgctl(["start", "-w", "-l", log, "-o", options]) == 0 else {
            let said = (try? String(contentsOfFile: folder.path + "/pg_ctl.out", encoding: .utf8)) ?? ""
            let serverLog = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw XCTSkip("pg_ctl start failed: \(said.suffix(500)) \(serverLog.suffix(500))")
        }
    }

    /// Stops the server as a crash would: `pg_ctl stop -m immediate` (SIGQUIT: no checkpoint, no flush).
    func crash() {
        XCTAssertEqual(pgctl(["stop", "-m", "immediate", "-w"]), 0)
    }
}

/// Durability: PostgreSQL killed in the middle of appends from several processes, then restarted: every append
/// that `custody ledger append` reported (exit 0, entry printed) is in the log, once, and `ledger verify` passes.
final class PostgresCrashTests: CLITestCase {
    func testAcknowledgedAppendsSurviveAServerCrash() throws {
        let cluster = try PrivateCluster(test: self)
        try cluster.start()
        let server = try PostgresTestServer(admin: PostgresLedgerAddress(url: cluster.adminURL))
        let ledger = try server.makeDatabase().location
        try makeKeys("alice", agency: "Police", jurisdiction: "FR", in: dir.path)
        let key = path("alice.key")
        try custody(["ledger", "init", ledger, "--origin", "police.example/custody", "--key", key])

        let acknowledged = LockedStrings()
        let stop = LockedStrings()
        let writers = 4
        let group = DispatchGroup()
        for writer in 0..<writers {
            DispatchQueue.global().async(group: group) {
                var index = 0
                // Each writer appends until told to stop (bounded: at most 400 appends).
                while stop.all.isEmpty, index < 400 {
                    let result = try? CLI.run(["ledger", "append", ledger, "--key", key, "--action", "note",
                                               "--subject", "w\(writer)-\(index)"])
                    if let result, result.status == 0 {
                        acknowledged.add(result.out.trimmingCharacters(in: .newlines))
                    }
                    index += 1
                }
            }
        }
        // Let appends run, then crash the server under them and keep the writers going a moment (they fail).
        // (at least 3 s and 24 acknowledged appends, at most 60 s)
        let started = Date()
        while Date().timeIntervalSince(started) < 60,
              Date().timeIntervalSince(started) < 3 || acknowledged.all.count < 24 {
            Thread.sleep(forTimeInterval: 0.2)
        }
        let beforeCrash = acknowledged.all.count
        cluster.crash()
        Thread.sleep(forTimeInterval: 0.5)
        stop.add("stop")
        group.wait()
        XCTAssertGreaterThan(beforeCrash, 0, "no append succeeded before the crash")

        try cluster.start()
        let export = try custody(["ledger", "export", ledger])
        let stored = export.out.split(separator: "\n").map(String.init)
        let storedSet = Set(stored)
        XCTAssertEqual(storedSet.count, stored.count, "an entry is stored twice")
        let lost = acknowledged.all.filter { !storedSet.contains($0) }
        XCTAssertEqual(lost, [], "\(lost.count) acknowledged appends are missing after the crash")
        let verify = try custody(["ledger", "verify", ledger])
        XCTAssertTrue(verify.out.contains("verified: \(stored.count) entries"), verify.out)
        print("crash test: \(beforeCrash) appends acknowledged before the crash, \(acknowledged.all.count) in all, "
              + "\(stored.count) stored after the restart, none lost")
        // The ledger takes appends again after the restart.
        try custody(["ledger", "append", ledger, "--key", key, "--action", "note"])
        // The connection opened before the crash fails at once, never waits forever.
        XCTAssertThrowsError(try server.ping()) { error in
            XCTAssertTrue("\(error)".contains("cannot reach PostgreSQL"), "\(error)")
        }
    }
}
