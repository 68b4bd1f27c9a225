import Foundation
import XCTest
import CustodyTestSupport
import CustodyKit
import CustodyService

/// A `custody serve` process started by a test, stopped (SIGTERM, or SIGKILL when asked) when the test ends.
final class ServeProcess {
    let process = Process()
    let url: String
    private let output = Pipe()

    /// Starts `custody serve ARGS --listen 127.0.0.1:0` and waits for the line naming the port.
    init(_ arguments: [String], test: XCTestCase) throws {
        process.executableURL = URL(fileURLWithPath: CLI.executable)
        process.arguments = ["serve", "--listen", "127.0.0.1:0"] + arguments
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        let handle = output.fileHandleForReading
        while !line.contains(0x0a) {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let range = text.range(of: "http://") else {
            process.terminate()
            throw XCTSkip("custody serve did not start: \(text)")
        }
        url = String(text[range.lowerBound...].prefix { !$0.isWhitespace })
        test.addTeardownBlock { [process] in
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }
    }

    /// Kills the server with SIGKILL and waits for it.
    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// `custody serve` and the `custody ledger` commands against it (SPEC 4.9): appends signed by officers, the
/// refusals, two servers on one ledger file, tlog-tiles read by an independent client (Python), the web page in
/// headless Chromium, and a kill -9 under load.
final class ServeTests: CLITestCase {
    /// The ledger the servers share: a file, or (in the PostgreSQL test) a database.
    var ledger: String { postgresLedger ?? path("log.ledger") }
    private var postgresLedger: String?
    private var postgres: PostgresTestServer?
    let origin = "police.example/log"

    override func setUpWithError() throws {
        try super.setUpWithError()
        try makeKeys("logkey", agency: "Police", jurisdiction: "FR", in: path("keys"))
        try makeKeys("alice", agency: "Police", jurisdiction: "FR", in: path("keys"))
        try makeKeys("bob", agency: "Gendarmerie", jurisdiction: "FR", in: path("keys"))
        try makeKeys("mallory", agency: "Nobody", jurisdiction: "FR", in: path("keys"))
        try makeLedger(ledger, origin: origin, key: key("logkey"))
        for name in ["alice", "bob"] {
            try custody(["trust", "add", path("trust.json"), name, "--key", path("keys/\(name).identity.json")])
        }
    }

    func serve(_ extra: [String] = []) throws -> ServeProcess {
        try ServeProcess(["--ledger", ledger, "--key", key("logkey"), "--trust", path("trust.json")] + extra,
                         test: self)
    }

    func signingKey(_ name: String) throws -> SigningKey {
        try SigningKey.load(keyPath: key(name), passphrase: PassphraseSource(file: nil, supplied: nil))
    }

    /// A submission signed by `name` for `log`.
    func submission(_ name: String, action: LedgerAction = .examine, subject: String = "disk-1",
                    details: [String: JSONValue] = [:], log: String? = nil,
                    time: Timestamp = .now()) throws -> LogSubmission {
        try LogSubmission.sign(
            LedgerEntryDraft(action: action, subjects: [LedgerSubject(id: subject)], details: details),
            log: log ?? origin, key: signingKey(name), time: time)
    }

    func testOfficersAppendAndEveryLedgerCommandReadsTheService() throws {
        let server = try serve(["--officer-rate", "10000", "--officer-burst", "10000"])
        let appended = try custody(["ledger", "append", server.url, "--key", key("alice"), "--action", "seal",
                                    "--subject", "disk-1=size:5", "--detail", "case=C-42", "--legal-basis", "Art. 56"])
        let entry = try LedgerEntry.parse(Array(appended.stdout.dropLast()))
        XCTAssertEqual(entry.sequence, 0)
        XCTAssertEqual(entry.actor.name, "logkey")
        XCTAssertEqual(try LogSubmission.embedded(in: entry)?.officer.name, "alice")
        // A batch: 300 entries, so the log has a full tile and bundle and partial ones.
        let lines = (1...300).map { #"{"action":"examine","subjects":["item-\#($0)"]}"# }.joined(separator: "\n")
        let batch = try CLI.run(["ledger", "append", server.url, "--key", key("bob"), "--batch"],
                                stdin: Data(lines.utf8))
        XCTAssertEqual(batch.status, 0, batch.err)
        XCTAssertEqual(batch.out.split(separator: "\n").count, 300)

        let checkpoint = try custody(["ledger", "checkpoint", server.url]).out
        XCTAssertTrue(checkpoint.hasPrefix("\(origin)\n301\n"), checkpoint)
        // The remote export is byte for byte the file's export; verify passes remotely and on the file.
        let remoteExport = try custody(["ledger", "export", server.url]).stdout
        XCTAssertEqual(remoteExport, try custody(["ledger", "export", ledger]).stdout)
        XCTAssertEqual(try custody(["ledger", "export", server.url, "--from", "255", "--to", "258"]).stdout,
                       try custody(["ledger", "export", ledger, "--from", "255", "--to", "258"]).stdout)
        try custody(["ledger", "verify", server.url, "--trust", path("trust.json")])
        try custody(["ledger", "verify", ledger, "--trust", path("trust.json")])
        for arguments in [["prove", "--index", "7", "--size", "300"], ["consistency", "--from", "3", "--to", "299"],
                          ["prove", "--index", "300"]] {
            let remote = try custody(["ledger", arguments[0], server.url] + arguments.dropFirst() + ["--json"])
            let local = try custody(["ledger", arguments[0], ledger] + arguments.dropFirst() + ["--json"])
            XCTAssertEqual(remote.out, local.out, arguments.joined(separator: " "))
        }
        // A proof outside the tree is a usage error with the service's reason.
        let beyond = try custody(["ledger", "prove", server.url, "--index", "301"], expect: 2)
        XCTAssertTrue(beyond.err.contains("HTTP 400"), beyond.err)
        // A trust store without alice makes verify name her entry.
        try custody(["trust", "remove", path("trust.json"), "alice"])
        let untrusted = try custody(["ledger", "verify", server.url, "--trust", path("trust.json")], expect: 1)
        XCTAssertTrue(untrusted.out.contains("entry 0: submitted by officer alice+"), untrusted.out)
    }

    func testAnIndependentTilesClientRecomputesTheSignedRoot() throws {
        let python = try CLI.requireTool("python3")
        let probe = try CLI.runTool(python, ["-c", "import cryptography.hazmat.primitives.asymmetric.ed25519"])
        guard probe.status == 0 else {
            throw XCTSkip("python3 cryptography is not installed; the independent tiles client needs it")
        }
        let server = try serve(["--officer-rate", "10000", "--officer-burst", "10000"])
        let lines = (0..<(256 * 2 + 37)).map { #"{"action":"note","subjects":["n-\#($0)"]}"# }
        let batch = try CLI.run(["ledger", "append", server.url, "--key", key("alice"), "--batch"],
                                stdin: Data(lines.joined(separator: "\n").utf8))
        XCTAssertEqual(batch.status, 0, batch.err)
        let script = path("tiles.py")
        try ServeTests.tilesClient.write(toFile: script, atomically: true, encoding: .utf8)
        let run = try CLI.runTool(python, [script, server.url])
        XCTAssertEqual(run.status, 0, run.err + run.out)
        XCTAssertEqual(run.out, "ok 549 entries, root matches the signed checkpoint\n", run.err)
    }

    /// A C2SP tlog-tiles client written from the spec with the Python standard library (and `cryptography` for
    /// Ed25519): it reads the checkpoint, verifies its signed-note signature with the key from /identity,
    /// fetches the level-0 and level-1 tiles (full and partial) and the entry bundles, checks each entry hashes
    /// to its leaf, recomputes the RFC 6962 root from the tiles alone, and checks the caching headers and 404s.
    static let tilesClient = #"""
    import base64, hashlib, json, struct, sys, urllib.request, urllib.error
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    base = sys.argv[1]
    def get(path):
        with urllib.request.urlopen(base + path) as r:
            return r.read(), r.headers
    def status(path):
        try:
            urllib.request.urlopen(base + path); return 200
        except urllib.error.HTTPError as e:
            return e.code
    def fail(msg):
        print("FAIL", msg); sys.exit(1)
    def encode(n):
        groups = []
        while True:
            groups.append("%03d" % (n % 1000)); n //= 1000
            if n == 0: break
        groups.reverse()
        return "/".join(["x" + g for g in groups[:-1]] + [groups[-1]])
    def tile_path(level, n, width):
        p = "/tile/%s/%s" % (level, encode(n))
        return p + (".p/%d" % width if width < 256 else "")
    identity = json.loads(get("/identity")[0])
    key = base64.b64decode(identity["publicKey"])
    note, headers = get("/checkpoint")
    if "max-age=31536000" in headers.get("Cache-Control", ""): fail("checkpoint cached for long")
    text, sigs = note.decode().split("\n\n", 1)
    origin, size, root = text.split("\n")[:3]
    size = int(size); root = base64.b64decode(root)
    name = identity["name"]
    keyid = hashlib.sha256(name.encode() + b"\n\x01" + key).digest()[:4]
    verified = False
    for line in sigs.strip("\n").split("\n"):
        dash, signer, blob = line.split(" ")
        raw = base64.b64decode(blob)
        if signer == name and raw[:4] == keyid:
            Ed25519PublicKey.from_public_bytes(key).verify(raw[4:], (text + "\n").encode())
            verified = True
    if not verified: fail("no verified signature")
    def node(a, b): return hashlib.sha256(b"\x01" + a + b).digest()
    def mth(hashes):
        if len(hashes) == 1: return hashes[0]
        k = 1
        while k * 2 < len(hashes): k *= 2
        return node(mth(hashes[:k]), mth(hashes[k:]))
    # Level 0: leaf hashes of every entry, from full and partial tiles; entries from bundles.
    leaves = []
    for n in range((size + 255) // 256):
        width = min(256, size - n * 256)
        tile, h = get(tile_path(0, n, width))
        cache = h.get("Cache-Control", "")
        if width == 256 and "immutable" not in cache: fail("full tile not immutable: " + cache)
        if width < 256 and "max-age=31536000" in cache: fail("partial tile cached for long")
        if len(tile) != 32 * width: fail("tile size")
        bundle, _ = get(tile_path("entries", n, width))
        pos = 0
        for i in range(width):
            (length,) = struct.unpack(">H", bundle[pos:pos + 2]); entry = bundle[pos + 2:pos + 2 + length]
            pos += 2 + length
            if hashlib.sha256(b"\x00" + entry).digest() != tile[32 * i:32 * i + 32]: fail("entry %d" % (n * 256 + i))
            if json.loads(entry)["seq"] != n * 256 + i: fail("seq")
        if pos != len(bundle): fail("bundle length")
        leaves += [tile[32 * i:32 * i + 32] for i in range(width)]
    # Level 1: each hash is the MTH of a full level-0 tile.
    full = size // 256
    if full:
        t1, h1 = get(tile_path(1, 0, full))
        for i in range(full):
            if t1[32 * i:32 * i + 32] != mth(leaves[256 * i:256 * i + 256]): fail("level 1 hash %d" % i)
    if mth(leaves) != root: fail("root")
    if status(tile_path(0, (size + 255) // 256, 256)) != 404: fail("beyond the tree not 404")
    if status(tile_path(0, 0, 256)[:-3] + "x000/000") != 404: fail("non-canonical path not 404")
    if status("/tile/0/%s.p/%d" % (encode(size // 256), size % 256 + 1)) != 404: fail("wider partial not 404")
    print("ok %d entries, root matches the signed checkpoint" % size)
    """#

    func testRefusalsNameWhyAndNeverTouchTheLog() throws {
        let server = try serve(["--officer-rate", "10000", "--officer-burst", "10000"])
        let client = try LogClient(url: server.url)
        let first = try submission("alice")
        XCTAssertEqual(try client.post("/add", body: first.requestBody).status, 200)
        let before = try client.fetch("/checkpoint")

        func refused(_ body: [UInt8], _ status: Int, _ words: String, file: StaticString = #filePath,
                     line: UInt = #line) throws {
            let answer = try client.post("/add", body: body)
            XCTAssertEqual(answer.status, status, String(decoding: answer.body, as: UTF8.self), file: file, line: line)
            XCTAssertTrue(answer.contentType.hasPrefix("application/json"), file: file, line: line)
            let message = try JSONValue.parse(answer.body)["error"]?.stringValue ?? ""
            XCTAssertTrue(message.contains(words), "\(message) lacks \(words)", file: file, line: line)
        }
        try refused(Array("{not json".utf8), 400, "malformed submission: not JSON")
        try refused(Array(#"{"submission":{},"sig":"AA=="}"#.utf8), 400, "malformed submission")
        var forged = try submission("alice")
        let text = String(decoding: forged.requestBody, as: UTF8.self)
            .replacingOccurrences(of: "disk-1", with: "disk-9")
        try refused(Array(text.utf8), 401, "signature does not verify")
        try refused(try submission("mallory").requestBody, 403, "officer mallory+")
        try refused(first.requestBody, 409, "already in the log")
        try refused(try submission("alice", log: "other.example/log").requestBody, 422, "for log 'other.example/log'")
        let old = Timestamp(secondsSinceEpoch: Timestamp.now().secondsSinceEpoch - 3600)
        try refused(try submission("alice", time: old).requestBody, 422, "more than 300 s from the log's clock")
        forged = try submission("alice", details: ["blob": .string(String(repeating: "a", count: 70_000))])
        try refused(forged.requestBody, 413, "more than the log's limit of 65535")
        try refused([UInt8](repeating: 0x20, count: 200_000), 413, "larger than")
        let get = try client.get("/add")
        XCTAssertEqual(get.status, 405)
        XCTAssertEqual(try client.get("/nothing").status, 404)

        // Nothing touched the log; reads keep working; the log verifies.
        XCTAssertEqual(try client.fetch("/checkpoint"), before)
        XCTAssertEqual(try custody(["ledger", "export", ledger]).out.split(separator: "\n").count, 1)
        try custody(["ledger", "verify", server.url, "--trust", path("trust.json")])
    }

    func testServeRefusesToStartWithTheWrongKeyTrustOrAddress() throws {
        let base = ["serve", "--ledger", ledger, "--listen", "127.0.0.1:0"]
        let wrongKey = try custody(base + ["--key", key("alice"), "--trust", path("trust.json")], expect: 2)
        XCTAssertTrue(wrongKey.err.contains("does not match the ledger's key logkey+"), wrongKey.err)
        let noTrust = try custody(base + ["--key", key("logkey"), "--trust", path("missing.json")], expect: 2)
        XCTAssertTrue(noTrust.err.contains("missing.json"), noTrust.err)
        let badListen = try custody(["serve", "--ledger", ledger, "--listen", "nowhere", "--key", key("logkey"),
                                     "--trust", path("trust.json")], expect: 2)
        XCTAssertTrue(badListen.err.contains("--listen 'nowhere': expected HOST:PORT"), badListen.err)
        let server = try serve()
        let port = try XCTUnwrap(server.url.split(separator: ":").last.map(String.init))
        let taken = try custody(["serve", "--ledger", ledger, "--listen", "127.0.0.1:" + port, "--key",
                                 key("logkey"), "--trust", path("trust.json")], expect: 2)
        XCTAssertTrue(taken.err.contains("--listen 127.0.0.1:\(port)"), taken.err)
        // The refused starts left the log as it was: only the size-0 checkpoint the running server stored.
        XCTAssertTrue(try LogClient(url: server.url).fetch("/checkpoint").starts(with: Array("\(origin)\n0\n".utf8)))
    }

    func testTheRateLimitPerOfficerAnswers429() throws {
        let server = try serve(["--officer-rate", "0.01", "--officer-burst", "2"])
        let client = try LogClient(url: server.url)
        XCTAssertEqual(try client.post("/add", body: try submission("alice").requestBody).status, 200)
        XCTAssertEqual(try client.post("/add", body: try submission("alice").requestBody).status, 200)
        let third = try client.post("/add", body: try submission("alice").requestBody)
        XCTAssertEqual(third.status, 429)
        XCTAssertTrue(String(decoding: third.body, as: UTF8.self).contains("over the log's rate"))
        // Another officer is not held back by alice's rate.
        XCTAssertEqual(try client.post("/add", body: try submission("bob").requestBody).status, 200)
        XCTAssertTrue(try client.fetch("/checkpoint").starts(with: Array("\(origin)\n3\n".utf8)))
    }

    func testTwoServersOnOneLedgerFormOneLogWithoutLossOrReplay() throws {
        try assertTwoServersFormOneLog()
    }

    /// The agency log as the issue has it: two stateless servers on one PostgreSQL ledger, sequencing inside the
    /// database, no loss, no duplicate, no replay.
    func testTwoServersOnOnePostgreSQLLedgerFormOneLog() throws {
        guard let server = try PostgresTestServer.fromEnvironment() else {
            throw XCTSkip(PostgresTestServer.skipMessage)
        }
        postgres = server
        postgresLedger = try server.makeDatabase().location
        try makeLedger(ledger, origin: origin, key: key("logkey"))
        try assertTwoServersFormOneLog()
    }

    private func assertTwoServersFormOneLog() throws {
        let servers = [try serve(["--officer-rate", "10000", "--officer-burst", "10000"]),
                       try serve(["--officer-rate", "10000", "--officer-burst", "10000"])]
        let clients = try servers.map { try LogClient(url: $0.url) }
        // The same submission through both servers: appended once.
        let once = try submission("alice")
        XCTAssertEqual(try clients[0].post("/add", body: once.requestBody).status, 200)
        XCTAssertEqual(try clients[1].post("/add", body: once.requestBody).status, 409)
        // 4 threads per server, 25 appends each, all at once.
        let bodies = try (0..<200).map { try submission($0 % 2 == 0 ? "alice" : "bob", subject: "s-\($0)").requestBody }
        let statuses = Mutex200()
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for index in stride(from: worker, to: 200, by: 8) {
                let status = (try? clients[worker % 2].post("/add", body: bodies[index]).status) ?? -1
                statuses.set(index, status)
            }
        }
        XCTAssertEqual(statuses.values, [Int](repeating: 200, count: 200))
        let exported = try custody(["ledger", "export", ledger]).out.split(separator: "\n")
        XCTAssertEqual(exported.count, 201)
        let subjects = Set(try exported.map { try LedgerEntry.parse(Array($0.utf8)).subjects.first?.id ?? "" })
        XCTAssertEqual(subjects.count, 201)
        try custody(["ledger", "verify", servers[1].url, "--trust", path("trust.json")])
        try custody(["ledger", "verify", ledger, "--trust", path("trust.json")])
    }

    func testEveryAcknowledgedAppendSurvivesKill9() throws {
        let server = try serve(["--officer-rate", "10000", "--officer-burst", "10000"])
        let client = try LogClient(url: server.url)
        let bodies = try (0..<2000).map { try submission($0 % 2 == 0 ? "alice" : "bob", subject: "k-\($0)") }
        let acknowledged = Mutex200(count: bodies.count)
        let group = DispatchGroup()
        for worker in 0..<8 {
            DispatchQueue.global().async(group: group) {
                for index in stride(from: worker, to: bodies.count, by: 8) {
                    guard let answer = try? client.post("/add", body: bodies[index].requestBody) else { return }
                    acknowledged.set(index, answer.status)
                }
            }
        }
        // Kill the server once some appends are acknowledged, in the middle of the load.
        while acknowledged.values.filter({ $0 == 200 }).count < 100 { usleep(5_000) }
        server.kill9()
        group.wait()
        let acked = acknowledged.values.enumerated().filter { $0.element == 200 }.map(\.offset)
        XCTAssertLessThan(acked.count, bodies.count, "the kill came after the load ended")
        let restarted = try serve()
        let exported = try custody(["ledger", "export", restarted.url]).out.split(separator: "\n")
        let nonces = Set(try exported.compactMap {
            try LogSubmission.embedded(in: LedgerEntry.parse(Array($0.utf8)))?.nonce
        })
        for index in acked { XCTAssertTrue(nonces.contains(bodies[index].nonce), "acknowledged append \(index) lost") }
        try custody(["ledger", "verify", ledger, "--trust", path("trust.json")])
    }

    func testTheWebPageInHeadlessChromium() throws {
        let chromium = try ReportCommandTests.chromium()
        let server = try serve(["--officer-rate", "10000", "--officer-burst", "10000"])
        try custody(["ledger", "append", server.url, "--key", key("alice"), "--action", "seal",
                     "--subject", "disk-<1>", "--detail", "case=C-42", "--legal-basis", "Art. 56 & 57"])
        let lines = (0..<60).map { #"{"action":"examine","subjects":["item-\#($0)"],"details":{"case":"C-7"}}"# }
        XCTAssertEqual(try CLI.run(["ledger", "append", server.url, "--key", key("bob"), "--batch"],
                                   stdin: Data(lines.joined(separator: "\n").utf8)).status, 0)

        func dom(_ query: String) throws -> String {
            var arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + path("chromium"),
                             "--dump-dom", server.url + "/" + query]
            var program = chromium
            if let timeout = CLI.which("timeout") {
                arguments = ["120", chromium] + arguments
                program = timeout
            }
            let run = try CLI.runTool(program, arguments)
            XCTAssertEqual(run.status, 0, run.err)
            return run.out
        }
        let first = try dom("")
        XCTAssertTrue(first.contains("61 entries, newest first."), first)
        XCTAssertTrue(first.contains("#60 examine"))
        XCTAssertFalse(first.contains("#10 examine"), "a page lists 50 entries")
        let newest = try XCTUnwrap(first.range(of: "#60 examine")).lowerBound
        XCTAssertLessThan(newest, try XCTUnwrap(first.range(of: "#59 examine")).lowerBound, "newest first")
        XCTAssertTrue(first.contains("Inclusion proof in the checkpoint of size 61"))
        XCTAssertTrue(first.contains("by bob (Gendarmerie, FR)"))
        let older = try dom("?before=11")
        XCTAssertTrue(older.contains("#0 seal"))
        XCTAssertTrue(older.contains("Subjects: disk-&lt;1&gt;"), "escaped as text")
        XCTAssertTrue(older.contains("Legal basis: Art. 56 &amp; 57"))
        let search = try dom("?q=c-42")
        XCTAssertTrue(search.contains("1 entries match"), search)
        XCTAssertTrue(search.contains("#0 seal"))
        XCTAssertFalse(search.contains("#1 examine"))
        let bySubject = try dom("?q=item-59")
        XCTAssertTrue(bySubject.contains("#60 examine"))
        XCTAssertTrue(bySubject.contains("1 entries match"))
    }
}

/// Statuses recorded by concurrent workers.
final class Mutex200: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [Int]
    init(count: Int = 200) { storage = [Int](repeating: 0, count: count) }
    func set(_ index: Int, _ value: Int) { lock.withLock { storage[index] = value } }
    var values: [Int] { lock.withLock { storage } }
}

/// The bounds of custody's HTTP client against a misbehaving peer (a Python socket server with canned answers).
final class LogClientBoundsTests: CLITestCase {
    static let peer = #"""
    import socket, sys, threading
    answers = {
        "/ok": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        "/chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        "/big": b"HTTP/1.1 200 OK\r\nContent-Length: 3000000\r\n\r\n" + b"a" * 3000000,
        "/headers": b"HTTP/1.1 200 OK\r\n" + b"X-Long: " + b"h" * 100000 + b"\r\n\r\n",
        "/garbage": b"SSH-2.0-OpenSSH\r\n\r\n",
        "/short": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this",
        "/refused": b'HTTP/1.1 403 Forbidden\r\nContent-Length: 20\r\n\r\n{"error":"go away"}\n',
    }
    server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(16)
    print(server.getsockname()[1], flush=True)
    def serve(conn):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk: break
            data += chunk
        path = data.split(b" ")[1].decode() if data.count(b" ") else "/"
        if path == "/silent":
            threading.Event().wait(30); conn.close(); return
        try: conn.sendall(answers.get(path, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
        except OSError: pass
        conn.close()
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()
    """#

    func testTheClientIsBoundedAndReadsWhatHTTPAllows() throws {
        let python = try CLI.requireTool("python3")
        try LogClientBoundsTests.peer.write(toFile: path("peer.py"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [path("peer.py")]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        addTeardownBlock { process.terminate(); process.waitUntilExit() }
        var line = Data()
        while !line.contains(0x0a) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let port = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        var client = try LogClient(url: "http://127.0.0.1:\(port)/")
        XCTAssertEqual(try client.fetch("/ok"), Array("hello".utf8))
        XCTAssertEqual(try client.fetch("/chunked"), Array("abcde".utf8))
        func fails(_ path: String, _ words: String, limit: Int = 1 << 20, line: UInt = #line) {
            XCTAssertThrowsError(try client.fetch(path, limit: limit), path, line: line) {
                XCTAssertTrue("\($0)".contains(words), "\($0)", line: line)
            }
        }
        fails("/big", "larger than 1048576 bytes")
        fails("/headers", "headers longer than 64 KiB")
        fails("/garbage", "not an HTTP/1.1 status line")
        fails("/short", "closed before the whole body came")
        fails("/refused", "refused (HTTP 403): go away")
        client.timeout = 1
        fails("/silent", "no answer within 1 s")
        XCTAssertThrowsError(try LogClient(url: "ftp://x")) { XCTAssertTrue("\($0)".contains("not a log address")) }
        XCTAssertThrowsError(try LogClient(url: "https://x")) { XCTAssertTrue("\($0)".contains("https")) }
        XCTAssertThrowsError(try LogClient(url: "http://a b:1")) { XCTAssertTrue("\($0)".contains("not a log")) }
        let closed = try LogClient(url: "http://127.0.0.1:1")
        XCTAssertThrowsError(try closed.fetch("/")) { XCTAssertTrue("\($0)".contains("cannot reach")) }
    }
}
