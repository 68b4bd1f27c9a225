import XCTest
import CustodyKit

/// `custody seal --resume` after real signals: SIGKILL and SIGINT of a running seal, then a resume whose bundle has
/// the payload bytes, digests and item metadata of an uninterrupted seal, with the ledger entries appended once.
final class SealResumeTests: AliceLedgerTestCase {
    var input: String { path("disk.img") }
    let payload = "data/0001-disk.img.gz"

    /// 64 MiB in 64 KiB chunks: a quarter each of noise, zeros (sparse) and two kinds of text, so members are
    /// stored, all-zero and deflated; level 9 keeps the seal running long enough to be stopped midway.
    private func writeInput() throws {
        let fd = try FileDescriptor.open(input, O_WRONLY | O_CREAT | O_TRUNC)
        defer { fd.close() }
        var state: UInt64 = 0x1234_5678
        var noise = [UInt8](repeating: 0, count: 65536)
        for index in noise.indices {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            noise[index] = UInt8(truncatingIfNeeded: state >> 33)
        }
        for chunk in 0..<1024 {
            var bytes: [UInt8]
            switch chunk % 4 {
            case 0:
                bytes = noise
                withUnsafeBytes(of: UInt64(chunk)) { bytes.replaceSubrange(0..<8, with: $0) }
            case 1: continue
            default:
                let line = Array("exhibit \(chunk) line of text, evidence log\n".utf8)
                bytes = []
                while bytes.count < 65536 { bytes += line }
                bytes.removeLast(bytes.count - 65536)
            }
            try bytes.withUnsafeBytes { try fd.writeAll($0, at: UInt64(chunk) * 65536) }
        }
        try fd.truncate(to: 64 << 20)
    }

    private func seal(_ out: String, _ extra: [String] = [], inputs: [String]? = nil) -> [String] {
        ["seal", "--ledger", ledgerPath, "--key", keyPath, "--out", dir.appendingPathComponent(out).path,
         "--chunk-size", "64K", "--level", "9", "--case", "C-7", "--quiet"] + extra + (inputs ?? [input])
    }

    /// Starts a seal, waits until its partial payload holds at least 2 MB, sends `signal`, returns the exit.
    private func interrupt(_ out: String, with signal: Int32) throws
        -> (status: Int32, reason: Process.TerminationReason, err: String) {
        let partial = dir.appendingPathComponent(".\(out).partial/\(payload)").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.executable)
        process.arguments = seal(out)
        let errPipe = Pipe()
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = errPipe
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline {
            if let info = try? FileSystem.status(partial), info.st_size >= 2_000_000 { break }
            usleep(2000)
        }
        guard process.isRunning else {
            throw XCTSkip("the seal finished before it could be interrupted (machine too fast for a 64 MiB input)")
        }
        kill(process.processIdentifier, signal)
        let err = String(decoding: errPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, process.terminationReason, err)
    }

    private func items(_ out: String) throws -> [[String: JSONValue]] {
        let path = dir.appendingPathComponent(out + "/custody/items.json").path
        let json = try JSONValue.parse(try FileSystem.readFile(path))
        return try XCTUnwrap(json["items"]?.arrayValue).compactMap(\.objectValue)
    }

    private func ledgerEntries() throws -> Int {
        let verify = try CLI.run(["ledger", "verify", ledgerPath, "--json"])
        XCTAssertEqual(verify.status, 0, verify.err)
        return Int(try JSONValue.parse(verify.out.trimmingCharacters(in: .newlines))["entries"]?.intValue ?? -1)
    }

    /// The resumed bundle against the clean one: same payload bytes, leaves and manifests; same item metadata
    /// except identifiers, times and the resume count; and it verifies.
    private func assertSameAsClean(_ out: String, resumed: Int64 = 1, file: StaticString = #filePath,
                                   line: UInt = #line) throws {
        for path in [payload, "custody/leaves/0001.bin", "manifest-sha256.txt", "manifest-sha512.txt"] {
            XCTAssertEqual(try FileSystem.readFile(dir.appendingPathComponent("\(out)/\(path)").path, limit: 1 << 30),
                           try FileSystem.readFile(dir.appendingPathComponent("clean/\(path)").path, limit: 1 << 30),
                           "\(path) differs from the uninterrupted seal's", file: file, line: line)
        }
        var mine = try XCTUnwrap(try items(out).first), theirs = try XCTUnwrap(try items("clean").first)
        XCTAssertEqual(mine["resumed"], .int(resumed), file: file, line: line)
        for key in ["id", "acquisitionStart", "acquisitionEnd", "resumed"] {
            mine[key] = nil
            theirs[key] = nil
        }
        XCTAssertEqual(JSONValue.object(mine), JSONValue.object(theirs), file: file, line: line)
        let verify = try CLI.run(["verify", dir.appendingPathComponent(out).path])
        XCTAssertEqual(verify.status, 0, verify.out + verify.err, file: file, line: line)
        if let gzip = CLI.which("gzip") {
            let test = try CLI.runTool(gzip, ["-t", dir.appendingPathComponent("\(out)/\(payload)").path])
            XCTAssertEqual(test.status, 0, test.err, file: file, line: line)
        }
    }

    /// Seals the input into `clean`, then starts the same seal into `bundle` and stops it with SIGINT; returns the
    /// interrupted seal's work directory and how the stopped run ended.
    private func sealCleanThenInterrupt() throws -> (work: String, stopped: (status: Int32, err: String)) {
        try writeInput()
        let clean = try CLI.run(seal("clean"))
        XCTAssertEqual(clean.status, 0, clean.err)
        let stopped = try interrupt("bundle", with: SIGINT)
        XCTAssertEqual(stopped.status, 2, stopped.err)
        return (dir.appendingPathComponent(".bundle.partial").path, (stopped.status, stopped.err))
    }

    func testKillNineThenResumeGivesTheCleanSealsBytes() throws {
        try writeInput()
        let clean = try CLI.run(seal("clean"))
        XCTAssertEqual(clean.status, 0, clean.err)
        let killed = try interrupt("bundle", with: SIGKILL)
        XCTAssertEqual(killed.reason, .uncaughtSignal)
        let work = dir.appendingPathComponent(".bundle.partial").path
        XCTAssertFalse(FileSystem.exists(dir.appendingPathComponent("bundle").path))
        XCTAssertTrue(FileSystem.exists(work + ".journal"))
        XCTAssertEqual(try ledgerEntries(), 2, "the killed seal did not touch the ledger")

        let again = try CLI.run(seal("bundle"))
        XCTAssertEqual(again.status, 2)
        XCTAssertTrue(again.err.contains("an interrupted seal of \(dir.path)/bundle exists at \(work): resume it with "
            + "--resume, or remove it"), again.err)
        let other = try CLI.run(seal("bundle", ["--resume"], inputs: [ledgerPath]))
        XCTAssertEqual(other.status, 2)
        XCTAssertTrue(other.err.contains("INPUT differs: the interrupted seal used [\"\(input)\"]"), other.err)
        let level = try CLI.run(seal("bundle", ["--resume", "--level", "1"]))
        XCTAssertEqual(level.status, 2)
        XCTAssertTrue(level.err.contains("--level differs: the interrupted seal used 9, this command gives 1"),
                      level.err)

        let resumed = try CLI.run(seal("bundle", ["--resume"]).filter { $0 != "--quiet" })
        XCTAssertEqual(resumed.status, 0, resumed.err)
        XCTAssertTrue(resumed.err.contains("resuming item 1 (disk.img) at "), resumed.err)
        XCTAssertTrue(resumed.err.contains("(verifying what was written)"), resumed.err)
        XCTAssertFalse(FileSystem.exists(work) || FileSystem.exists(work + ".journal"))
        try assertSameAsClean("bundle")
        XCTAssertEqual(try ledgerEntries(), 4, "acquire + seal appended exactly once by the resumed seal")
    }

    func testSigintKeepsThePartialSealAndResumeTakesTheJournalsArguments() throws {
        let (work, stopped) = try sealCleanThenInterrupt()
        XCTAssertTrue(stopped.err.contains("custody: interrupted by SIGINT: the partial seal of \(dir.path)/bundle is "
            + "kept in \(work); run the same command with --resume to continue"), stopped.err)
        // Garbage after what the interrupted run wrote (a torn write) is found and cut.
        let partial = try FileDescriptor.open(work + "/" + payload, O_WRONLY | O_APPEND)
        try partial.writeAll([UInt8](repeating: 0x8b, count: 3000))
        partial.close()
        // Only --resume, --out, --ledger and --key: inputs and options come from the journal.
        let resumed = try CLI.run(["seal", "--ledger", ledgerPath, "--key", keyPath, "--out",
                                   dir.appendingPathComponent("bundle").path, "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.err)
        XCTAssertTrue(resumed.err.contains("; cut 3000 bytes from chunk"), resumed.err)
        try assertSameAsClean("bundle")
        XCTAssertEqual(try ledgerEntries(), 4)
    }

    /// What an interrupted seal leaves is untrusted: a link planted at the leaf log is refused (the evidence it
    /// points at is untouched), a file dropped into the bag is refused before the ledger is touched, and the
    /// temporaries of a killed atomic write are removed.
    func testResumeRefusesPlantedFilesAndRemovesStrayTemporaries() throws {
        let work = try sealCleanThenInterrupt().work
        let evidence = try FileSystem.readFile(input, limit: 1 << 30)

        try FileManager.default.removeItem(atPath: work + ".leaves")
        try FileManager.default.createSymbolicLink(atPath: work + ".leaves", withDestinationPath: input)
        let linked = try CLI.run(seal("bundle", ["--resume"]))
        XCTAssertEqual(linked.status, 2, linked.err)
        XCTAssertEqual(try FileSystem.readFile(input, limit: 1 << 30), evidence, "the evidence was written to")
        XCTAssertTrue(FileSystem.exists(work + ".journal"), "a refused resume keeps the interrupted seal")
        try FileManager.default.removeItem(atPath: work + ".leaves")

        try Data("planted".utf8).write(to: URL(fileURLWithPath: work + "/data/extra.txt"))
        let extra = try CLI.run(seal("bundle", ["--resume"]))
        XCTAssertEqual(extra.status, 2, extra.err)
        XCTAssertTrue(extra.err.contains("data/extra.txt: not written by the seal"), extra.err)
        XCTAssertEqual(try ledgerEntries(), 2, "nothing appended for a refused resume")
        try FileManager.default.removeItem(atPath: work + "/data/extra.txt")

        for stray in [work + "/custody/leaves/0001.bin.tmp-99999", work + ".journal.tmp-99999"] {
            try Data("torn".utf8).write(to: URL(fileURLWithPath: stray))
        }
        let resumed = try CLI.run(seal("bundle", ["--resume"]))
        XCTAssertEqual(resumed.status, 0, resumed.err)
        XCTAssertFalse(FileSystem.exists(work + ".journal.tmp-99999"))
        // Two resumes reached the item (the first refused at the leaf log, the second after packing it).
        try assertSameAsClean("bundle", resumed: 2)
        XCTAssertEqual(try ledgerEntries(), 4)
    }

    /// A source replaced by another file of the same size, its modification time set back (`touch -r`), is not
    /// the source the interrupted seal read: refused, where size and mtime alone would splice two files.
    func testReplacedSourceWithTheSameSizeAndMtimeIsRefused() throws {
        try writeInput()
        let stopped = try interrupt("bundle", with: SIGINT)
        XCTAssertEqual(stopped.status, 2, stopped.err)
        let touch = try CLI.requireTool("touch")
        let reference = dir.appendingPathComponent("reference").path
        XCTAssertEqual(try CLI.runTool(touch, ["-r", input, reference]).status, 0)
        var other = try FileSystem.readFile(input, limit: 1 << 30)
        other[other.count - 1] ^= 0xff
        try Data(other).write(to: URL(fileURLWithPath: input + ".new"))
        XCTAssertEqual(rename(input + ".new", input), 0)
        XCTAssertEqual(try CLI.runTool(touch, ["-r", reference, input]).status, 0)
        let refused = try CLI.run(seal("bundle", ["--resume"]))
        XCTAssertEqual(refused.status, 2, refused.err)
        XCTAssertTrue(refused.err.contains("resume with the original source"), refused.err)
        XCTAssertEqual(try ledgerEntries(), 0)
    }

    /// A journal whose bundle identifier was edited is refused with the journal named, and the work is kept.
    func testEditedJournalIsRefusedAndTheWorkKept() throws {
        try writeInput()
        let stopped = try interrupt("bundle", with: SIGINT)
        XCTAssertEqual(stopped.status, 2, stopped.err)
        let journalPath = dir.appendingPathComponent(".bundle.partial.journal").path
        let journal = try JSONValue.parse(try FileSystem.readFile(journalPath))
        guard case .object(var members) = journal else { return XCTFail("journal is not an object") }
        members["bundle"] = .string("x\ny")
        try FileSystem.writeAtomically(journalPath, JSONValue.object(members).canonicalBytes + [10])
        let refused = try CLI.run(seal("bundle", ["--resume"]))
        XCTAssertEqual(refused.status, 2, refused.err)
        XCTAssertTrue(refused.err.contains("\(journalPath): no bundle identifier of the form urn:uuid:"), refused.err)
        XCTAssertTrue(FileSystem.exists(dir.appendingPathComponent(".bundle.partial").path))

        // A journaled ledger size beyond the ledger's would hide entries already appended: refused, none appended.
        members["bundle"] = journal["bundle"]
        members["ledgerFrom"] = .int(999)
        try FileSystem.writeAtomically(journalPath, JSONValue.object(members).canonicalBytes + [10])
        let beyond = try CLI.run(seal("bundle", ["--resume"]))
        XCTAssertEqual(beyond.status, 2, beyond.err)
        XCTAssertTrue(beyond.err.contains("records the ledger at 999 entries"), beyond.err)
        XCTAssertEqual(try ledgerEntries(), 0)
        members["ledgerFrom"] = .int(-1)
        try FileSystem.writeAtomically(journalPath, JSONValue.object(members).canonicalBytes + [10])
        let negative = try CLI.run(seal("bundle", ["--resume"]))
        XCTAssertEqual(negative.status, 2, negative.err)
        XCTAssertTrue(negative.err.contains("malformed ledgerFrom"), negative.err)
        XCTAssertTrue(Identifier.isURN(Identifier.urn()))
        XCTAssertFalse(Identifier.isURN("urn:uuid:0123"))
    }

    func testResumeWithoutAnInterruptedSealIsAUsageError() throws {
        let result = try CLI.run(seal("nothing", ["--resume"]))
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.err.contains("no interrupted seal of \(dir.path)/nothing to resume"), result.err)
        let bare = try CLI.run(["seal", "--ledger", ledgerPath, "--key", keyPath, "--out",
                                dir.appendingPathComponent("nothing").path, "--resume"])
        XCTAssertEqual(bare.status, 2)
        XCTAssertTrue(bare.err.contains("no interrupted seal"), bare.err)
    }
}
