import XCTest

import CustodyKit
import CustodyTestSupport

final class LedgerTests: XCTestCase {
    var directory: URL!
    var key: SigningKey!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "custody-ledger-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = directory!
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        let privateKey = try Ed25519PrivateKey.generate()
        key = try SigningKey(
            identity: Identity(
                name: "alice", agency: "Police", jurisdiction: "FR",
                publicKey: privateKey.publicKey), privateKey: privateKey)
    }

    func path(_ name: String = "l.db") -> String { directory.appendingPathComponent(name).path }

    func makeLedger(entries: Int) throws -> Ledger {
        let ledger = try Ledger.create(path: path(), origin: "police.example/custody", key: key)
        try LedgerStoreConformance.appendSampleEntries(entries, to: ledger, key: key)
        return ledger
    }

    /// Removes the ledger file and its WAL companions, for a test that builds several ledgers in turn.
    func removeLedger() {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path() + suffix) }
    }

    /// Raw SQL on the ledger file (SQLite-specific tests only: the tamper cases any backend must refuse are in
    /// the conformance suite, `LedgerStoreConformance`).
    func tamper(_ sql: String) throws {
        let database = try SQLiteDatabase(path: path(), create: false)
        try database.execute(sql)
    }

    func testAppendProveAndVerifyAgainstIndependentTree() throws {
        let ledger = try makeLedger(entries: 13)
        var leaves: [Hash32] = []
        var previous = LedgerEntry.noPrevious
        try ledger.export { bytes in
            let entry = try LedgerEntry.parse(bytes)
            XCTAssertEqual(try JSONValue.parse(bytes).canonicalBytes, bytes, "entry bytes are canonical JSON")
            XCTAssertEqual(entry.sequence, UInt64(leaves.count))
            XCTAssertEqual(entry.previous, previous)
            XCTAssertTrue(try entry.verifySignature(with: key.privateKey.publicKey))
            previous = Merkle.leafHash(bytes)
            leaves.append(previous)
        }
        XCTAssertEqual(leaves.count, 13)
        for size in 1...13 {
            let root = Merkle.root(leaves: leaves[0..<size])
            XCTAssertEqual(try ledger.root(size: UInt64(size)), root)
            for index in [0, size / 2, size - 1] {
                let proof = try ledger.inclusionProof(index: UInt64(index), size: UInt64(size))
                XCTAssertEqual(proof.root, root)
                XCTAssertEqual(proof.leafHash, leaves[index])
                XCTAssertTrue(proof.verify())
                XCTAssertTrue(try InclusionProof(json: proof.json.canonicalBytes).verify())
            }
            let consistency = try ledger.consistencyProof(from: UInt64(size), to: 13)
            XCTAssertTrue(consistency.verify())
            XCTAssertEqual(consistency.fromRoot, root)
        }
        // Each append stored a checkpoint signed by the ledger key for its size.
        let note = try XCTUnwrap(try ledger.checkpoint(size: 7))
        let checkpoint = try Checkpoint.open(note.bytes, keys: [key.identity.verifierKey])
        XCTAssertEqual(checkpoint.root, Merkle.root(leaves: leaves[0..<7]))
        XCTAssertEqual(checkpoint.origin, "police.example/custody")
        let report = try ledger.verify(batchSize: 4)
        XCTAssertTrue(report.passed, "\(report.problems)")
        XCTAssertEqual(report.entries, 13)
        XCTAssertEqual(report.checkpointsChecked, 13)
        XCTAssertThrowsError(try ledger.inclusionProof(index: 1, size: 14))
        XCTAssertThrowsError(try ledger.consistencyProof(from: 0, to: 5))
    }

    func testBatchAppendIsOneTransaction() throws {
        let ledger = try makeLedger(entries: 2)
        let drafts = try (0..<50).map { _ in try LedgerEntryDraft(action: .note) }
        let entries = try ledger.appendBatch(drafts, key: key)
        XCTAssertEqual(entries.map(\.sequence), Array(2..<52))
        XCTAssertEqual(try ledger.size(), 52)
        XCTAssertNil(try ledger.checkpoint(size: 10))
        XCTAssertNotNil(try ledger.checkpoint(size: 52))
        XCTAssertTrue(try ledger.verify().passed)
    }

    func testWrongKeyIsRefused() throws {
        let ledger = try makeLedger(entries: 1)
        let other = try Ed25519PrivateKey.generate()
        let intruder = try SigningKey(
            identity: Identity(
                name: "alice", agency: "Police", jurisdiction: "FR",
                publicKey: other.publicKey), privateKey: other)
        XCTAssertThrowsError(try ledger.append(LedgerEntryDraft(action: .note), key: intruder)) { error in
            XCTAssertTrue("\(error)".contains("does not match the ledger's key"), "\(error)")
        }
        XCTAssertEqual(try ledger.size(), 1)
    }

    func testBadDraftsAreRejected() throws {
        XCTAssertThrowsError(try LedgerAction.parse("teleport")) { error in
            XCTAssertEqual(error as? LedgerError, .invalid(.unknownAction("teleport")))
        }
        XCTAssertThrowsError(try LedgerEntryDraft(jsonLine: Array("{\"action\":\"note\"".utf8)))
        XCTAssertThrowsError(try LedgerEntryDraft(jsonLine: Array("{\"action\":\"fly\"}".utf8)))
        XCTAssertThrowsError(try LedgerEntryDraft(jsonLine: Array("{\"action\":\"note\",\"extra\":1}".utf8))) {
            XCTAssertEqual($0 as? LedgerError, .invalid(.draftUnknownMember("extra")))
        }
        XCTAssertThrowsError(
            try LedgerEntryDraft(jsonLine: Array("{\"action\":\"note\",\"details\":{\"x\":1.5}}".utf8))) {
            XCTAssertEqual($0 as? LedgerError, .invalid(.detailNotInteger("x")))
        }
        XCTAssertThrowsError(try LedgerSubject(compactForm: "id=sha256:abcd")) {
            XCTAssertEqual($0 as? LedgerError, .invalid(.subjectDigest(name: "sha256", length: 64)))
        }
        XCTAssertThrowsError(try LedgerSubject(compactForm: "id=size:-1")) {
            XCTAssertEqual($0 as? LedgerError, .invalid(.subjectSyntax(text: "id=size:-1", .size)))
            XCTAssertEqual("\($0)", "subject 'id=size:-1': size must be a non-negative integer")
        }
        XCTAssertThrowsError(try LedgerSubject(compactForm: "id=a:1,a:2")) {
            XCTAssertEqual($0 as? LedgerError, .invalid(.subjectSyntax(text: "id=a:1,a:2", .repeatedAttribute("a"))))
        }
        XCTAssertThrowsError(try LedgerSubject(compactForm: "id=nocolon")) {
            XCTAssertEqual($0 as? LedgerError, .invalid(.subjectSyntax(text: "id=nocolon", .expectedPairs)))
        }
        let subject = try LedgerSubject(compactForm: "disk=sha256:\(String(repeating: "0f", count: 32)),size:12")
        XCTAssertEqual(
            subject.json.canonicalString,
            "{\"id\":\"disk\",\"sha256\":\"\(String(repeating: "0f", count: 32))\",\"size\":12}")
    }

    /// The batch parser takes lines split anywhere, skips blank lines, accepts CRLF and a last line without a
    /// newline, and names the first bad line.
    func testBatchParser() throws {
        var parser = LedgerBatchParser(source: "stdin")
        let text = Array(
            "{\"action\":\"note\"}\r\n\n  \n{\"action\":\"seal\",\"subjects\":[\"b\"]}\n{\"action\":\"copy\"}".utf8)
        for piece in stride(from: 0, to: text.count, by: 7) {
            try parser.consume(text[piece..<min(text.count, piece + 7)])
        }
        XCTAssertEqual(try parser.finish().map(\.action), [.note, .seal, .copy])

        var bad = LedgerBatchParser(source: "stdin")
        let lines = Array("{\"action\":\"note\"}\n{\"action\":\"fly\"}\n".utf8)
        XCTAssertThrowsError(try bad.consume(lines)) { error in
            XCTAssertEqual(
                error as? LedgerBatchError, .badLine(source: "stdin", line: 2, problem: .unknownAction("fly")))
            XCTAssertTrue("\(error)".hasPrefix("stdin line 2: unknown action 'fly'"), "\(error)")
            XCTAssertTrue("\(error)".hasSuffix("; nothing was appended"), "\(error)")
        }
        var empty = LedgerBatchParser(source: "stdin")
        try empty.consume(Array("\n \n".utf8))
        XCTAssertThrowsError(try empty.finish()) { XCTAssertEqual($0 as? LedgerBatchError, .empty(source: "stdin")) }
    }

    /// The names in the test's directory, sorted.
    private func directoryListing() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    }

    /// A ledger nobody has open is opened for reading read-only and immutable: nothing is created beside it, a
    /// write is refused, and a writer that commits meanwhile cannot fold its log into the file under the reader
    /// (its log stays, and the next reader reads it).
    func testReadOnlyOpenCreatesNothingAndKeepsWritersOffTheFile() throws {
        try makeLedger(entries: 5).store.readTransaction {}
        let before = try directoryListing()
        XCTAssertEqual(before, ["l.db"])
        let reader = try Ledger.open(path: path(), readOnly: true)
        let store = try XCTUnwrap(reader.store as? SQLiteLedgerStore)
        XCTAssertTrue(store.isImmutable)
        XCTAssertTrue(store.database.isReadOnly)
        XCTAssertEqual(try reader.verify().passed, true)
        XCTAssertThrowsError(try store.database.execute("DELETE FROM entries"))
        XCTAssertEqual(try directoryListing(), before)

        do {
            let writer = try Ledger.open(path: path())
            _ = try writer.append(LedgerEntryDraft(action: .note), key: key)
        }
        // The writer closed, but could not fold its log into the file while the reader holds its lock.
        XCTAssertGreaterThan(try FileSystem.status(path() + "-wal").st_size, 0)
        XCTAssertEqual(try reader.size(), 5)
        XCTAssertEqual(try reader.verify().passed, true)

        let next = try Ledger.open(path: path(), readOnly: true)
        XCTAssertFalse(try XCTUnwrap(next.store as? SQLiteLedgerStore).isImmutable)
        XCTAssertEqual(try next.size(), 6)
        XCTAssertEqual(try next.verify().passed, true)
    }

    /// The batch parser refuses a batch past its bounds as soon as it passes them: one draft too many, or one
    /// byte too many (blank lines count).
    func testBatchParserBounds() throws {
        var many = LedgerBatchParser(source: "stdin", entryLimit: 2)
        try many.consume(Array("{\"action\":\"note\"}\n\n{\"action\":\"note\"}\n".utf8))
        XCTAssertThrowsError(try many.consume(Array("{\"action\":\"note\"}\n".utf8))) {
            XCTAssertEqual($0 as? LedgerBatchError, .tooManyEntries(source: "stdin", limit: 2))
            XCTAssertTrue("\($0)".contains("more than 2 entries in one batch; nothing was appended"), "\($0)")
        }
        var large = LedgerBatchParser(source: "stdin", byteLimit: 40)
        try large.consume(Array("{\"action\":\"note\"}\n".utf8) + [UInt8](repeating: 0x20, count: 22))
        XCTAssertThrowsError(try large.consume([0x0a])) {
            XCTAssertEqual($0 as? LedgerBatchError, .tooLarge(source: "stdin", limit: 40))
        }
        XCTAssertEqual(LedgerBatchParser.maximumEntries, 100_000)
        XCTAssertEqual(LedgerBatchParser.maximumBytes, 64 << 20)
    }

    /// One check of "this proof leads to this checkpoint", naming each mismatch.
    func testInclusionProofAgainstCheckpoint() throws {
        let ledger = try makeLedger(entries: 5)
        let note = try XCTUnwrap(try ledger.checkpoint(size: 5))
        let checkpoint = try Checkpoint.open(note.bytes, keys: [key.identity.verifierKey])
        let leaf = Merkle.leafHash(try ledger.entryBytes(at: 3))
        let proof = try ledger.inclusionProof(index: 3)
        XCTAssertEqual(proof.mismatches(leading: leaf, to: checkpoint), [])
        XCTAssertNoThrow(try proof.check(leading: leaf, to: checkpoint))
        let older = try ledger.inclusionProof(index: 3, size: 4)
        XCTAssertEqual(older.mismatches(leading: leaf, to: checkpoint),
                       [.treeSize(proof: 4, checkpoint: 5), .root, .path])
        XCTAssertThrowsError(try older.check(leading: leaf, to: checkpoint)) { error in
            XCTAssertEqual((error as? LedgerError)?.kind, .verification)
            XCTAssertEqual("\(error)", "entry 3: the inclusion proof does not lead to the checkpoint (size 5)")
        }
        let otherLeaf = Merkle.leafHash(try ledger.entryBytes(at: 2))
        XCTAssertEqual(proof.mismatches(leading: otherLeaf, to: checkpoint), [.leafHash, .path])
        let verifier = key.identity.verifierKey
        XCTAssertEqual(proof.mismatches(entry: try ledger.entryBytes(at: 3), key: verifier, to: checkpoint), [])
        XCTAssertEqual(proof.mismatches(entry: try ledger.entryBytes(at: 2), key: verifier, to: checkpoint),
                       [.leafHash, .path, .entrySequence(entry: 2, proof: 3)])
        XCTAssertEqual(proof.mismatches(entry: Array("junk".utf8), key: verifier, to: checkpoint),
                       [.leafHash, .path, .malformedEntry])
        let consistency = try ledger.consistencyProof(from: 2)
        let first = try Checkpoint.open(try XCTUnwrap(try ledger.checkpoint(size: 2)).bytes,
                                        keys: [key.identity.verifierKey])
        XCTAssertEqual(consistency.mismatches(from: first, to: checkpoint), [])
        XCTAssertEqual(consistency.mismatches(from: checkpoint, to: first).first,
                       .sizes(proofFrom: 2, proofTo: 5, older: 5, newer: 2))
    }

    func testEntryParsingIsStrict() throws {
        let ledger = try makeLedger(entries: 1)
        let bytes = try ledger.entryBytes(at: 0)
        XCTAssertNoThrow(try LedgerEntry.parse(bytes))
        let spaced = Array(String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: ",", with: ", ").utf8)
        XCTAssertThrowsError(try LedgerEntry.parse(spaced))
    }

    /// Every ledger store must pass the conformance suite: appends, reads, ranges, checkpoints, metadata,
    /// transactions, reopening, and each tampering (edited, deleted, swapped, inserted entries; truncation; numbers
    /// out of range; a foreign origin; removed or forged checkpoints; a damaged node) refused or reported.
    func testSQLiteStorePassesTheConformanceSuite() throws {
        let harness = SQLiteLedgerStoreHarness(directory: directory.path)
        for check in LedgerStoreConformance.checks {
            XCTAssertNoThrow(try check.run(harness), check.name)
        }
    }

    /// SQLite-specific: a trigger planted in the file would run inside custody's own append and rewrite history:
    /// opening refuses any schema object custody does not create, and tables whose definition differs.
    func testForeignSchemaObjectsAreRefusedAndNeverRun() throws {
        let plants = [
            "CREATE TRIGGER t AFTER INSERT ON entries BEGIN UPDATE entries SET data = x'00' WHERE seq = 0; END",
            "CREATE VIEW v AS SELECT * FROM entries",
            "CREATE INDEX i ON checkpoints (note)",
            "CREATE TABLE extra (x)",
        ]
        for sql in plants {
            removeLedger()
            _ = try makeLedger(entries: 2)
            let before = try Ledger.open(path: path()).entryBytes(at: 0)
            try tamper(sql)
            XCTAssertThrowsError(try Ledger.open(path: path()), sql) { error in
                XCTAssertTrue("\(error)".contains("that custody does not create"), "\(sql): \(error)")
            }
            try tamper("DROP \(sql.split(separator: " ")[1]) \(sql.split(separator: " ")[2])")
            XCTAssertEqual(try Ledger.open(path: path()).entryBytes(at: 0), before, sql)
        }
        removeLedger()
        _ = try makeLedger(entries: 1)
        try tamper("ALTER TABLE nodes ADD COLUMN extra DEFAULT 1")
        XCTAssertThrowsError(try Ledger.open(path: path())) { error in
            XCTAssertTrue("\(error)".contains("nodes is not custody's table"), "\(error)")
        }
    }

    /// A checkpoint may not claim a size JSON's signed 64-bit integers cannot carry.
    func testCheckpointSizeAboveInt64IsMalformed() throws {
        let root = Base64.encode([UInt8](repeating: 7, count: 32))
        XCTAssertNoThrow(try Checkpoint(text: "a.example/l\n9223372036854775807\n\(root)\n"))
        XCTAssertThrowsError(try Checkpoint(text: "a.example/l\n9223372036854775808\n\(root)\n")) { error in
            XCTAssertTrue("\(error)".contains("larger than 2^63 - 1"), "\(error)")
        }
    }

    func testRewrittenHistoryIsCaughtByAnExternalCheckpoint() throws {
        // The owner rebuilds the ledger with a different entry 2: every signature is valid, but a checkpoint
        // handed out earlier no longer matches.
        var handedOut: [UInt8] = []
        do {
            let ledger = try makeLedger(entries: 5)
            handedOut = try XCTUnwrap(try ledger.latestCheckpoint()).bytes
        }
        try FileManager.default.removeItem(atPath: path())
        let rebuilt = try Ledger.create(path: path(), origin: "police.example/custody", key: key)
        for index in 0..<5 {
            try rebuilt.append(LedgerEntryDraft(action: index == 2 ? .destroy : .access), key: key)
        }
        XCTAssertTrue(try rebuilt.verify().passed)
        let report = try rebuilt.verify(externalCheckpoints: [(source: "received checkpoint", note: handedOut)])
        XCTAssertFalse(report.passed)
        XCTAssertTrue(
            report.problems.contains { $0.message.contains("sign different roots for size 5") },
            "\(report.problems.map(\.message))")
        XCTAssertEqual(report.inconsistentCheckpoints.first.map { [$0.0, $0.1] }, [5, 5])
    }

    /// SQLite-specific: a file whose bytes are damaged, or that is not a database, is refused and left as it is.
    func testDamagedFileIsReportedNotRepaired() throws {
        _ = try makeLedger(entries: 3)
        let before = try Data(contentsOf: URL(fileURLWithPath: path()))
        var damaged = before
        for offset in 0..<100 { damaged[offset] ^= 0x55 }
        try damaged.write(to: URL(fileURLWithPath: path()))
        XCTAssertThrowsError(try Ledger.open(path: path()))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path())), damaged)
        try Data("not a database at all".utf8).write(to: URL(fileURLWithPath: path("junk.db")))
        XCTAssertThrowsError(try Ledger.open(path: path("junk.db")))
        XCTAssertThrowsError(try Ledger.open(path: path("missing.db")))
    }

    func testCheckpointFormat() throws {
        let root = Merkle.leafHash([1])
        let checkpoint = try Checkpoint(origin: "example.com/log", size: 12, root: root)
        XCTAssertEqual(checkpoint.text, "example.com/log\n12\n\(Base64.encode(root.bytes))\n")
        XCTAssertEqual(try Checkpoint(text: checkpoint.text), checkpoint)
        XCTAssertThrowsError(try Checkpoint(text: "example.com/log\n012\n\(Base64.encode(root.bytes))\n"))
        XCTAssertThrowsError(try Checkpoint(text: "example.com/log\n12\n\(Base64.encode([1, 2]))\n"))
        XCTAssertThrowsError(try Checkpoint(origin: "has space", size: 1, root: root))
        let note = try checkpoint.signed(by: key)
        XCTAssertEqual(try Checkpoint.open(note.bytes, keys: [key.identity.verifierKey]), checkpoint)
        let other = try Ed25519PrivateKey.generate()
        let otherKey = try NoteVerifierKey(name: "alice", publicKey: other.publicKey)
        XCTAssertThrowsError(try Checkpoint.open(note.bytes, keys: [otherKey]))
    }
}
