import XCTest

import CustodyKit
import CustodyTestSupport

final class LedgerCommandTests: AliceLedgerTestCase {
    var vkeyPath: String { path("alice.vkey") }

    @discardableResult
    func append(
        _ arguments: [String], stdin: Data? = nil, expect status: Int32 = 0,
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> CLI.Result {
        let result = try CLI.run(["ledger", "append", ledgerPath, "--key", keyPath] + arguments, stdin: stdin)
        XCTAssertEqual(result.status, status, result.err, file: file, line: line)
        return result
    }

    func write(_ text: String, _ name: String) throws -> String {
        let path = dir.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testAppendExportProveAndCheckOffline() throws {
        try append([
            "--action", "acquire", "--subject", "disk-1=sha256:\(String(repeating: "a1", count: 32)),size:4096",
            "--detail", "place=Lyon", "--legal-basis", "Art. 56 CPP",
        ])
        try append(["--action", "seal", "--subject", "bundle-1"])
        try append(["--action", "copy"])
        let oldCheckpoint = try CLI.run(["ledger", "checkpoint", ledgerPath])
        XCTAssertEqual(oldCheckpoint.status, 0, oldCheckpoint.err)
        let lines = (0..<5).map { "{\"action\":\"access\",\"subjects\":[\"item-\($0)\"],\"details\":{\"n\":\($0)}}" }
        let batch = try append(["--batch"], stdin: Data((lines.joined(separator: "\n") + "\n").utf8))
        XCTAssertEqual(batch.out.split(separator: "\n").count, 5)

        let export = try CLI.run(["ledger", "export", ledgerPath])
        XCTAssertEqual(export.status, 0, export.err)
        let entries = export.out.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        XCTAssertEqual(entries.count, 8)
        XCTAssertTrue(entries[0].contains("\"legalBasis\":\"Art. 56 CPP\""))
        let middle = try CLI.run(["ledger", "export", ledgerPath, "--from", "2", "--to", "4"])
        XCTAssertEqual(middle.out, entries[2] + "\n" + entries[3] + "\n")

        let checkpoint = try CLI.run(["ledger", "checkpoint", ledgerPath])
        XCTAssertTrue(checkpoint.out.hasPrefix("police.example/custody\n8\n"), checkpoint.out)
        let checkpointPath = try write(checkpoint.out, "cp8")
        let proof = try CLI.run(["ledger", "prove", ledgerPath, "--index", "5", "--json"])
        XCTAssertEqual(proof.status, 0, proof.err)
        let proofJSON = try JSONValue.parse(proof.out.trimmingCharacters(in: .newlines))
        XCTAssertEqual(proofJSON["size"]?.intValue, 8)
        XCTAssertEqual(proofJSON["leafHash"]?.stringValue, Merkle.leafHash(Array(entries[5].utf8)).hex)
        let proofPath = try write(proof.out, "proof.json")
        let leafPath = try write(entries[5] + "\n", "entry5")
        let check = try CLI.run([
            "ledger", "check-inclusion", "--proof", proofPath, "--leaf", leafPath,
            "--checkpoint", checkpointPath, "--key", vkeyPath,
        ])
        XCTAssertEqual(check.status, 0, check.out + check.err)
        // Another entry, or an edited one, fails with exit 1.
        let otherLeaf = try write(entries[4] + "\n", "entry4")
        let wrong = try CLI.run([
            "ledger", "check-inclusion", "--proof", proofPath, "--leaf", otherLeaf,
            "--checkpoint", checkpointPath, "--key", vkeyPath,
        ])
        XCTAssertEqual(wrong.status, 1, wrong.out + wrong.err)

        let consistency = try CLI.run(["ledger", "consistency", ledgerPath, "--from", "3", "--json"])
        XCTAssertEqual(consistency.status, 0, consistency.err)
        let consistencyPath = try write(consistency.out, "consistency.json")
        let oldPath = try write(oldCheckpoint.out, "cp3")
        let consistent = try CLI.run([
            "ledger", "check-consistency", "--proof", consistencyPath, "--old", oldPath,
            "--new", checkpointPath, "--key", vkeyPath,
        ])
        XCTAssertEqual(consistent.status, 0, consistent.out + consistent.err)
        let swapped = try CLI.run([
            "ledger", "check-consistency", "--proof", consistencyPath, "--old", checkpointPath,
            "--new", oldPath, "--key", vkeyPath,
        ])
        XCTAssertEqual(swapped.status, 1, swapped.out + swapped.err)
        // A proof file whose roots were edited fails, even though the path itself still checks out.
        let zeros = String(repeating: "0", count: 64)
        let edited = try JSONValue.parse(consistency.out.trimmingCharacters(in: .newlines))
        guard case .object(var members) = edited else { return XCTFail("not an object: \(consistency.out)") }
        members["fromRoot"] = .string(zeros)
        let editedPath = try write(JSONValue.object(members).canonicalString + "\n", "consistency-edited.json")
        let editedCheck = try CLI.run([
            "ledger", "check-consistency", "--proof", editedPath, "--old", oldPath,
            "--new", checkpointPath, "--key", vkeyPath,
        ])
        XCTAssertEqual(editedCheck.status, 1, editedCheck.out + editedCheck.err)
        XCTAssertTrue(editedCheck.out.contains("fromRoot is not the older checkpoint's root"), editedCheck.out)

        let verify = try CLI.run(["ledger", "verify", ledgerPath, "--json", "--checkpoint", oldPath])
        XCTAssertEqual(verify.status, 0, verify.out + verify.err)
        let report = try JSONValue.parse(verify.out.trimmingCharacters(in: .newlines))
        XCTAssertEqual(report["passed"]?.boolValue, true)
        XCTAssertEqual(report["entries"]?.intValue, 8)
    }

    func testBadInputsGiveClearErrorsAndExitCodes() throws {
        try append(["--action", "note"])
        let malformed = try append(["--batch"], stdin: Data("{\"action\":\"note\"}\n{\"action\":\n".utf8), expect: 2)
        XCTAssertTrue(malformed.err.contains("stdin line 2"), malformed.err)
        try append(["--batch"], stdin: Data("{\"action\":\"teleport\"}\n".utf8), expect: 2)
        let unknown = try append(["--action", "teleport"], expect: 2)
        XCTAssertTrue(unknown.err.contains("unknown action 'teleport'"), unknown.err)
        try append(["--action", "note", "--subject", "x=sha256:1234"], expect: 2)
        try append(["--action", "note", "--detail", "novalue"], expect: 2)

        // A ledger file cut short: SQLite's own finding, as one "custody:" line, exit 2.
        let whole = try Data(contentsOf: URL(fileURLWithPath: ledgerPath))
        let cutPath = dir.appendingPathComponent("cut.ledger").path
        try whole.prefix(100).write(to: URL(fileURLWithPath: cutPath))
        let cut = try CLI.run(["ledger", "verify", cutPath])
        XCTAssertEqual(cut.status, 2)
        XCTAssertTrue(cut.err.hasPrefix("custody: \(cutPath): the ledger file is damaged"), cut.err)

        // A key that is not the ledger's.
        let other = try CLI.run([
            "keygen", "--name", "mallory", "--agency", "X", "--jurisdiction", "FR", "--out", dir.path,
            "--no-passphrase",
        ])
        XCTAssertEqual(other.status, 0, other.err)
        let foreign = try CLI.run([
            "ledger", "append", ledgerPath, "--key", dir.appendingPathComponent("mallory.key").path,
            "--action", "note",
        ])
        XCTAssertEqual(foreign.status, 2)
        XCTAssertTrue(foreign.err.contains("does not match the ledger's key"), foreign.err)

        // A wrong passphrase.
        let passFile = try write("right one\n", "pass")
        let wrongFile = try write("wrong\n", "wrongpass")
        let sub = dir.appendingPathComponent("enc").path
        XCTAssertEqual(
            try CLI.run([
                "keygen", "--name", "enc", "--agency", "X", "--jurisdiction", "FR", "--out", sub,
                "--passphrase-file", passFile,
            ]).status, 0)
        let encrypted = "\(sub)/enc.key"
        let badPass = try CLI.run([
            "ledger", "init", dir.appendingPathComponent("e.ledger").path, "--origin", "o",
            "--key", encrypted, "--passphrase-file", wrongFile,
        ])
        XCTAssertEqual(badPass.status, 2)
        XCTAssertTrue(badPass.err.contains("wrong passphrase"), badPass.err)
        let envPass = try CLI.run(
            [
                "ledger", "init", dir.appendingPathComponent("e.ledger").path, "--origin", "o",
                "--key", encrypted,
            ], environment: ["CUSTODY_PASSPHRASE": "right one"])
        XCTAssertEqual(envPass.status, 0, envPass.err)

        // Proofs beyond the tree.
        let tooBig = try CLI.run(["ledger", "prove", ledgerPath, "--index", "0", "--size", "5", "--json"])
        XCTAssertEqual(tooBig.status, 2)
        XCTAssertTrue(tooBig.err.contains("exceeds"), tooBig.err)
        XCTAssertEqual(try CLI.run(["ledger", "consistency", ledgerPath, "--from", "0", "--json"]).status, 2)
        XCTAssertEqual(try CLI.run(["ledger", "consistency", ledgerPath, "--from", "1", "--to", "9"]).status, 2)
        XCTAssertEqual(try CLI.run(["ledger", "verify", dir.appendingPathComponent("nope").path]).status, 2)
        let notLedger = try write("hello", "plain.txt")
        XCTAssertEqual(try CLI.run(["ledger", "verify", notLedger]).status, 2)
        XCTAssertEqual(try CLI.run(["ledger", "init", ledgerPath, "--origin", "o", "--key", keyPath]).status, 2)

        // A proof for a larger tree than the checkpoint is rejected offline.
        let proof = try write(try CLI.run(["ledger", "prove", ledgerPath, "--index", "0", "--json"]).out, "p.json")
        let leaf = try write(try CLI.run(["ledger", "export", ledgerPath, "--to", "1"]).out, "leaf0")
        try append(["--action", "note"])
        let newer = try write(try CLI.run(["ledger", "checkpoint", ledgerPath]).out, "cp2")
        let mismatch = try CLI.run([
            "ledger", "check-inclusion", "--proof", proof, "--leaf", leaf, "--checkpoint", newer,
            "--key", vkeyPath,
        ])
        XCTAssertEqual(mismatch.status, 1, mismatch.out + mismatch.err)

        // The ledger is still intact and holds exactly the two good appends.
        let verify = try CLI.run(["ledger", "verify", ledgerPath])
        XCTAssertEqual(verify.status, 0, verify.out)
        XCTAssertTrue(verify.out.contains("2 entries"), verify.out)
    }

    func testTamperedFileIsNamedByVerify() throws {
        for index in 0..<6 { try append(["--action", "access", "--subject", "item-\(index)"]) }
        let edited = String(decoding: try Ledger.open(path: ledgerPath).entryBytes(at: 4), as: UTF8.self)
            .replacingOccurrences(of: "item-4", with: "item-7")
        try SQLiteLedgerTampering(path: ledgerPath).overwriteEntry(4, with: Array(edited.utf8))
        let verify = try CLI.run(["ledger", "verify", ledgerPath])
        XCTAssertEqual(verify.status, 1, verify.out + verify.err)
        XCTAssertTrue(verify.out.contains("first bad entry: 4"), verify.out)
        let json = try CLI.run(["ledger", "verify", ledgerPath, "--json"])
        XCTAssertEqual(try JSONValue.parse(json.out.trimmingCharacters(in: .newlines))["firstBadEntry"]?.intValue, 4)
    }

    /// Runs `ledger append --batch` with stdin read from the file `input`; returns the exit status and stderr.
    private func appendBatch(from input: String) throws -> (status: Int32, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.executable)
        process.arguments = ["ledger", "append", ledgerPath, "--key", keyPath, "--batch"]
        process.standardInput = FileHandle(forReadingAtPath: input)
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        let errPipe = Pipe()
        process.standardError = errPipe
        try process.run()
        let err = String(decoding: errPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, err)
    }

    private func ledgerSize() throws -> UInt64 { try Ledger.open(path: ledgerPath, readOnly: true).size() }

    /// A batch of more entries than `ledger append --batch` takes is refused in one line naming the limit, and
    /// nothing of it is appended.
    func testBatchOfTooManyEntriesIsRefusedWhole() throws {
        let line = "{\"action\":\"note\"}\n"
        let input = try write(String(repeating: line, count: LedgerBatchParser.maximumEntries + 1), "many.jsonl")
        let (status, err) = try appendBatch(from: input)
        XCTAssertEqual(status, 2, err)
        XCTAssertEqual(err.split(separator: "\n").count, 1, err)
        XCTAssertTrue(err.contains("more than \(LedgerBatchParser.maximumEntries) entries"), err)
        XCTAssertTrue(err.contains("nothing was appended"), err)
        XCTAssertEqual(try ledgerSize(), 0)
    }

    /// A batch larger than `ledger append --batch` reads (here one entry, then blank lines past 64 MiB) is refused
    /// in one line naming the limit once the limit is passed, without reading the rest, and nothing is appended.
    func testBatchOfTooManyBytesIsRefusedWhole() throws {
        let input = path("large.jsonl")
        let fd = try FileDescriptor.open(input, O_WRONLY | O_CREAT | O_TRUNC)
        try fd.writeAll(Array("{\"action\":\"note\"}\n".utf8))
        let blanks = [UInt8](repeating: 0x20, count: (1 << 20) - 1) + [0x0a]
        for _ in 0..<(LedgerBatchParser.maximumBytes >> 20) + 1 { try fd.writeAll(blanks) }
        fd.close()
        let (status, err) = try appendBatch(from: input)
        XCTAssertEqual(status, 2, err)
        XCTAssertEqual(err.split(separator: "\n").count, 1, err)
        XCTAssertTrue(err.contains("larger than \(LedgerBatchParser.maximumBytes) bytes (64.0 MiB)"), err)
        XCTAssertTrue(err.contains("nothing was appended"), err)
        XCTAssertEqual(try ledgerSize(), 0)
    }

    /// A tmpfs mounted at `mountPoint` holding `files` (copied in), then remounted read-only, or made full when
    /// `full`; unmounted when the test ends. Skips where mounting is not allowed (tests not run as root).
    private func media(holding files: [String], full: Bool = false) throws -> URL {
        let mountPoint = dir.appendingPathComponent("media", isDirectory: true)
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: false)
        let mount = try CLI.runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mountPoint.path])
        guard mount.status == 0 else { throw XCTSkip("cannot mount a tmpfs here (\(mount.err)); needs root") }
        addTeardownBlock { _ = try? CLI.runTool("/bin/umount", ["-l", mountPoint.path]) }
        for file in files {
            try FileManager.default.copyItem(atPath: file, toPath: mountPoint.appendingPathComponent(
                URL(fileURLWithPath: file).lastPathComponent).path)
        }
        if full {
            let filler = try FileDescriptor.open(mountPoint.appendingPathComponent("filler").path,
                                                 O_WRONLY | O_CREAT | O_TRUNC)
            let block = [UInt8](repeating: 0x55, count: 4096)
            while (try? filler.writeAll(block)) != nil {}
            filler.close()
        } else {
            let remount = try CLI.runTool("/bin/mount", ["-o", "remount,ro", mountPoint.path])
            XCTAssertEqual(remount.status, 0, remount.err)
        }
        return mountPoint
    }

    /// Alice's signing key (no passphrase).
    private func aliceKey() throws -> SigningKey {
        try SigningKey.load(keyPath: keyPath, passphrase: PassphraseSource(file: nil, allowPrompt: false))
    }

    /// The names in `folder`, sorted.
    private func listing(_ folder: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
    }

    /// Runs every reading ledger command on `ledger`, expecting success, and checks that the folder holding it
    /// lists the same files after each.
    private func readEverything(_ ledger: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let folder = URL(fileURLWithPath: ledger).deletingLastPathComponent()
        let before = try listing(folder)
        let commands = [
            ["ledger", "verify", ledger], ["ledger", "verify", ledger, "--json"], ["ledger", "export", ledger],
            ["ledger", "checkpoint", ledger], ["ledger", "prove", ledger, "--index", "1", "--json"],
            ["ledger", "consistency", ledger, "--from", "1", "--json"],
        ]
        for command in commands {
            let result = try CLI.run(command)
            XCTAssertEqual(result.status, 0, "\(command): \(result.err)", file: file, line: line)
            XCTAssertEqual(try listing(folder), before, "\(command) created files", file: file, line: line)
        }
    }

    /// A foreign agency reads a ledger from read-only media: every reading command works and creates nothing;
    /// a writing command fails with exit 2 and one line.
    func testReadingCommandsWorkOnReadOnlyMediaAndCreateNothing() throws {
        for index in 0..<3 { try append(["--action", "access", "--subject", "item-\(index)"]) }
        let media = try media(holding: [ledgerPath])
        let ledger = media.appendingPathComponent("custody.ledger").path
        try readEverything(ledger)
        let write = try CLI.run(["ledger", "append", ledger, "--key", keyPath, "--action", "note"])
        XCTAssertEqual(write.status, 2, write.err)
        XCTAssertEqual(write.err.split(separator: "\n").count, 1, write.err)
        XCTAssertEqual(try listing(media), ["custody.ledger"])
    }

    /// The same on a full disk: reading needs no space.
    func testReadingCommandsWorkOnAFullDisk() throws {
        for index in 0..<3 { try append(["--action", "access", "--subject", "item-\(index)"]) }
        let media = try media(holding: [ledgerPath], full: true)
        try readEverything(media.appendingPathComponent("custody.ledger").path)
    }

    /// In a writable folder, reading commands create nothing either, and `verify` still sees what a writer has
    /// committed to its write-ahead log but not yet to the file (a live ledger).
    func testReadingCommandsCreateNothingAndReadALiveLog() throws {
        for index in 0..<3 { try append(["--action", "access", "--subject", "item-\(index)"]) }
        try readEverything(ledgerPath)
        let writer = try Ledger.open(path: ledgerPath)
        _ = try writer.append(LedgerEntryDraft(action: .note), key: try aliceKey())
        XCTAssertTrue(FileManager.default.fileExists(atPath: ledgerPath + "-shm"))
        let verify = try CLI.run(["ledger", "verify", ledgerPath, "--json"])
        XCTAssertEqual(verify.status, 0, verify.err)
        XCTAssertEqual(try JSONValue.parse(verify.out.trimmingCharacters(in: .newlines))["entries"]?.intValue, 4)
        withExtendedLifetime(writer) {}
    }

    /// A write-ahead log holding commits, copied to read-only media without its index: reading it is refused in
    /// one line naming the log (never the file's older state read as if it were the ledger).
    func testUnreadableLogOnReadOnlyMediaIsNamed() throws {
        for index in 0..<3 { try append(["--action", "access", "--subject", "item-\(index)"]) }
        let writer = try Ledger.open(path: ledgerPath)
        _ = try writer.append(LedgerEntryDraft(action: .note), key: try aliceKey())
        let media = try media(holding: [ledgerPath, ledgerPath + "-wal"])
        withExtendedLifetime(writer) {}
        let ledger = media.appendingPathComponent("custody.ledger").path
        let verify = try CLI.run(["ledger", "verify", ledger])
        XCTAssertEqual(verify.status, 2, verify.out + verify.err)
        XCTAssertTrue(verify.err.contains("\(ledger)-wal holds commits not yet in the file"), verify.err)
    }

    /// Appending processes killed with SIGKILL at random moments leave whole batches or nothing, and a ledger that
    /// verifies.
    func testKillNineDuringAppendsLeavesAVerifiableLedger() throws {
        let batchSize = 200
        let lines = (0..<batchSize).map { "{\"action\":\"note\",\"details\":{\"i\":\($0)}}" }.joined(separator: "\n")
        let input = try write(lines + "\n", "batch.jsonl")
        var completed = 0
        var killed = 0
        for round in 0..<8 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CLI.executable)
            process.arguments = ["ledger", "append", ledgerPath, "--key", keyPath, "--batch"]
            process.standardInput = FileHandle(forReadingAtPath: input)
            process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            usleep(UInt32.random(in: 0...(round.isMultiple(of: 2) ? 100_000 : 300_000)))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            if process.terminationReason == .exit && process.terminationStatus == 0 {
                completed += 1
            } else {
                killed += 1
            }
        }
        let verify = try CLI.run(["ledger", "verify", ledgerPath, "--json"])
        XCTAssertEqual(verify.status, 0, verify.out + verify.err)
        let report = try JSONValue.parse(verify.out.trimmingCharacters(in: .newlines))
        let size = Int(report["entries"]?.intValue ?? -1)
        XCTAssertEqual(size % batchSize, 0, "a killed batch left a partial transaction")
        XCTAssertGreaterThanOrEqual(size, completed * batchSize)
        XCTAssertLessThanOrEqual(size, 8 * batchSize)
        // The ledger still accepts appends afterwards.
        try append(["--action", "note"])
        XCTAssertEqual(try CLI.run(["ledger", "verify", ledgerPath]).status, 0)
        print("kill -9 test: \(completed) batches completed, \(killed) killed, \(size) entries")
    }

    /// Four processes appending 25 entries each at once: exactly 100 entries, each once, chain intact.
    func testConcurrentAppenders() throws {
        let processes = (0..<4).map { writer -> Process in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = [
                "-c",
                """
                i=0; while [ $i -lt 25 ]; do "$0" ledger append "$1" --key "$2" --action note --detail w=\(writer) \
                --detail i=$i >/dev/null || exit 1; i=$((i+1)); done
                """, CLI.executable, ledgerPath, keyPath,
            ]
            return process
        }
        for process in processes { try process.run() }
        for process in processes {
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0)
        }
        let verify = try CLI.run(["ledger", "verify", ledgerPath])
        XCTAssertEqual(verify.status, 0, verify.out + verify.err)
        let export = try CLI.run(["ledger", "export", ledgerPath])
        var seen = Set<String>()
        for line in export.out.split(separator: "\n") {
            let entry = try LedgerEntry.parse(Array(line.utf8))
            let key = "\(entry.details["w"]?.stringValue ?? "?")/\(entry.details["i"]?.stringValue ?? "?")"
            XCTAssertTrue(seen.insert(key).inserted, "duplicate \(key)")
        }
        XCTAssertEqual(seen.count, 100)
    }
}
