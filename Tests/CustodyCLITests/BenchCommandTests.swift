import CustodyKit
import Foundation
import XCTest

final class BenchCommandTests: XCTestCase {
    private func parseJSON(_ result: CLI.Result, file: StaticString = #filePath,
                           line: UInt = #line) throws -> JSONValue {
        XCTAssertEqual(result.status, 0, result.err, file: file, line: line)
        let lines = result.out.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "one JSON document: \(result.out)", file: file, line: line)
        return try JSONValue.parse(String(lines.first ?? ""))
    }

    private func integer(_ value: JSONValue?) -> Int64? {
        if case .int(let number)? = value { return number }
        return nil
    }

    func testSyntheticJSONShape() throws {
        let json = try parseJSON(CLI.run(["bench", "--synthetic", "8M", "--json", "--seconds", "0"]))
        XCTAssertEqual(json["input"], .object(["kind": .string("synthetic"), "size": .int(8 << 20)]))
        XCTAssertEqual(integer(json["chunkSize"]), 1 << 20)
        XCTAssertEqual(integer(json["readers"]), 1)
        XCTAssertEqual(integer(json["compressionLevel"]), 1)
        XCTAssertEqual(json["resilientReader"], .bool(false))
        XCTAssertEqual(json["timeLimit"], .null)
        guard case .array(let stages)? = json["stages"] else { return XCTFail("no stages: \(json)") }
        let names = stages.compactMap { stage -> String? in
            if case .string(let name)? = stage["stage"] { return name }
            return nil
        }
        XCTAssertEqual(names, ["read", "md5", "sha1", "sha256", "sha512", "tree", "all-digests", "compress", "compress-zlib",
                               "seal"])
        for stage in stages {
            XCTAssertEqual(integer(stage["bytes"]), 8 << 20, "every stage reads the whole input: \(stage)")
            XCTAssertGreaterThan(integer(stage["bytesPerSecond"]) ?? 0, 0)
            guard case .double(let seconds)? = stage["seconds"] ?? .null else {
                if case .int = stage["seconds"] ?? .null { continue }
                return XCTFail("seconds missing: \(stage)")
            }
            XCTAssertGreaterThanOrEqual(seconds, 0)
        }
        // The mix compresses, but not to nothing: random runs stay as they are.
        let compressed = integer(stages[7]["compressedBytes"]) ?? 0
        XCTAssertGreaterThan(compressed, 1 << 20)
        XCTAssertLessThan(compressed, 8 << 20)
        guard case .string(let bottleneck)? = json["bottleneck"] else { return XCTFail("no bottleneck") }
        XCTAssertTrue(["read", "tree", "sha256", "compress"].contains(bottleneck), bottleneck)
        let machine = try XCTUnwrap(json["machine"])
        XCTAssertGreaterThanOrEqual(integer(machine["cores"]) ?? 0, 1)
        XCTAssertNotNil(machine["shaExtensions"])
        XCTAssertNotNil(machine["architecture"])
    }

    func testSyntheticInputIsDeterministicAndMixed() throws {
        // The generator is the benchmark's input: the same bytes every run, neither all random nor all zeros.
        let a = SyntheticInput.generate(count: 4 << 20, seed: 7)
        XCTAssertEqual(a, SyntheticInput.generate(count: 4 << 20, seed: 7))
        XCTAssertNotEqual(a, SyntheticInput.generate(count: 4 << 20, seed: 8))
        let zeros = a.lazy.filter { $0 == 0 }.count
        XCTAssertGreaterThan(zeros, a.count / 100)
        XCTAssertLessThan(zeros, a.count * 9 / 10)
        // Larger inputs repeat the pattern: what a read returns is the pattern at offset modulo its length.
        let input = SyntheticInput(size: UInt64(SyntheticInput.patternLimit) + 100, seed: 3)
        var head = [UInt8](repeating: 0, count: 100)
        var tail = [UInt8](repeating: 1, count: 200)
        XCTAssertEqual(try head.withUnsafeMutableBytes { try input.read(into: $0, at: 0) }, 100)
        let limit = UInt64(SyntheticInput.patternLimit)
        let count = try tail.withUnsafeMutableBytes { try input.read(into: $0, at: limit) }
        XCTAssertEqual(count, 100)
        XCTAssertEqual(Array(tail[0..<100]), head)
    }

    func testFileInputSelectedStagesAndText() throws {
        let directory = try makeTemporaryDirectory(self)
        let file = directory.appendingPathComponent("image.dd")
        let bytes = (0..<(3 << 20) + 12345).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        try Data(bytes).write(to: file)
        let json = try parseJSON(CLI.run(["bench", file.path, "--stages", "seal,read", "--json",
                                          "--chunk-size", "256K", "--readers", "2", "--seconds", "0"]))
        XCTAssertEqual(json["input"]?["kind"], .string("file"))
        XCTAssertEqual(json["input"]?["path"], .string(file.path))
        XCTAssertEqual(integer(json["input"]?["size"]), Int64(bytes.count))
        XCTAssertEqual(json["resilientReader"], .bool(true))
        XCTAssertNil(json["badSectors"])
        guard case .array(let stages)? = json["stages"] else { return XCTFail("no stages") }
        XCTAssertEqual(stages.map { $0["stage"] }, [.string("read"), .string("seal")])
        XCTAssertEqual(stages.map { integer($0["bytes"]) }, [Int64(bytes.count), Int64(bytes.count)])

        let plain = try parseJSON(CLI.run(["bench", file.path, "--stages", "read", "--json", "--plain-reader"]))
        XCTAssertEqual(plain["resilientReader"], .bool(false))

        let text = try CLI.run(["bench", file.path, "--stages", "read,sha256,compress"])
        XCTAssertEqual(text.status, 0, text.err)
        XCTAssertTrue(text.out.contains("machine: "), text.out)
        XCTAssertTrue(text.out.contains("raw read"), text.out)
        XCTAssertTrue(text.out.contains("bottleneck: "), text.out)
        XCTAssertTrue(text.err.isEmpty, "no progress when stderr is not a terminal: \(text.err)")
    }

    func testBadArgumentsExitTwo() throws {
        let directory = try makeTemporaryDirectory(self)
        let cases: [([String], String)] = [
            (["bench"], "PATH"),
            (["bench", "--synthetic", "8M", directory.path + "/x"], "not both"),
            (["bench", "--synthetic", "lots"], "--synthetic"),
            (["bench", "--synthetic", "0"], "--synthetic"),
            (["bench", "--synthetic", "8M", "--stages", "read,crc32"], "crc32"),
            (["bench", "--synthetic", "8M", "--chunk-size", "3M"], "power of two"),
            (["bench", "--synthetic", "8M", "--level", "12"], "--level"),
            (["bench", "--synthetic", "8M", "--seconds", "-1"], "--seconds"),
            (["bench", "--synthetic", "8M", "--seconds", "1e20"], "--seconds"),
            (["bench", directory.path + "/missing"], "missing"),
            (["bench", directory.path], "is a directory"),
            (["bench", "/dev/null"], "not a regular file or block device"),
            (["bench", "-"], "not -"),
        ]
        for (arguments, expected) in cases {
            let result = try CLI.run(arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.err)")
            XCTAssertTrue(result.err.contains(expected), "\(arguments): \(result.err)")
            XCTAssertTrue(result.out.isEmpty, "\(arguments): \(result.out)")
            XCTAssertFalse(result.err.contains("Fatal error"), result.err)
        }
    }

    func testSIGTERMStopsCleanlyWithoutResults() throws {
        // A long synthetic bench, stopped by SIGTERM: exit 2, a message naming the signal, nothing on stdout.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.executable)
        process.arguments = ["bench", "--synthetic", "1T", "--stages", "sha512", "--seconds", "0", "--json"]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Wait (bounded) until the process catches SIGTERM, as /proc shows, so the signal meets the handler.
        var caught = false
        for _ in 0..<500 where !caught {
            caught = catchesSIGTERM(process.processIdentifier)
            if !caught { usleep(10_000) }
        }
        guard caught else {
            process.terminate()
            throw XCTSkip("could not see the signal handler in /proc/\(process.processIdentifier)/status")
        }
        process.terminate()
        process.waitUntilExit()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(process.terminationReason, .exit, "stopped by its handler, not killed: \(stderr)")
        XCTAssertEqual(process.terminationStatus, 2, stderr)
        XCTAssertTrue(stderr.contains("interrupted by SIGTERM"), stderr)
        // No results: with --json, stdout is the one error document every --json call ends with on failure.
        if !stdout.isEmpty {
            let document = try JSONValue.parse(Array(stdout.utf8))
            XCTAssertEqual(document["exitCode"]?.intValue, 2, stdout)
            XCTAssertNotNil(document["error"], stdout)
            XCTAssertNil(document["results"], stdout)
        }
    }

    /// Whether `/proc/PID/status` lists SIGTERM (15) among the caught signals.
    private func catchesSIGTERM(_ pid: Int32) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigCgt:") }),
              let mask = UInt64(line.dropFirst("SigCgt:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return false }
        return mask & (1 << 14) != 0
    }
}
