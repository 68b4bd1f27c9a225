import CustodyKit
import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// SIGINT and SIGTERM stop `custody pack` and `custody unpack` cleanly (SPEC 7.3): exit 2, one line naming the
/// signal, and no partial output (`OUTPUT.partial-PID`) left behind.
final class PackSignalTests: XCTestCase {
    /// 8 MiB of random bytes.
    private static let noise: [UInt8] = {
        let fd = try? FileDescriptor.openForReading("/dev/urandom")
        var bytes = [UInt8](repeating: 0, count: 8 << 20)
        _ = try? bytes.withUnsafeMutableBytes { try fd?.readFully(into: $0) }
        fd?.close()
        return bytes
    }()

    /// Whether `/proc/PID/status` lists `signal` among the caught signals.
    private func catches(_ signal: Int32, pid: Int32) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigCgt:") }),
              let mask = UInt64(line.dropFirst("SigCgt:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return false }
        return mask & (1 << UInt64(signal - 1)) != 0
    }

    /// Writes `bytes` to `fd`; false once the reader has gone (EPIPE).
    private static func feed(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return false }
                offset += written
            }
            return true
        }
    }

    /// Runs `custody arguments` reading stdin from a pipe: feeds it `head`, waits until the process catches
    /// `signal` and its partial output exists in `directory`, sends `signal`, then feeds it `tail` until it is
    /// done or the process has gone; returns how it ended and its stderr.
    private func stop(_ arguments: [String], in directory: URL, with signal: Int32, head: [UInt8],
                      tail: @escaping @Sendable () -> [UInt8]?) throws
        -> (reason: Process.TerminationReason, status: Int32, err: String) {
        Glibc.signal(SIGPIPE, SIG_IGN)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.executable)
        process.arguments = arguments
        let input = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = errors
        try process.run()
        let fd = input.fileHandleForWriting.fileDescriptor
        let headDone = DispatchSemaphore(value: 0), signalled = DispatchSemaphore(value: 0)
        let feeder = Thread {
            _ = PackSignalTests.feed(fd, head)
            headDone.signal()
            signalled.wait()
            while let piece = tail(), PackSignalTests.feed(fd, piece) {}
            try? input.fileHandleForWriting.close()
        }
        feeder.start()
        let deadline = Date().addingTimeInterval(30)
        var ready = false
        while !ready && process.isRunning && Date() < deadline {
            let partial = (try? FileManager.default.contentsOfDirectory(atPath: directory.path))?
                .contains { $0.contains(".partial-") } ?? false
            ready = partial && catches(signal, pid: process.processIdentifier)
            if !ready { usleep(5000) }
        }
        XCTAssertTrue(ready, "the process did not start writing its partial output with a handler installed")
        XCTAssertEqual(headDone.wait(timeout: .now() + 60), .success, "the process stopped reading its input")
        kill(process.processIdentifier, signal)
        signalled.signal()
        let err = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationReason, process.terminationStatus, err)
    }

    /// The stopped command ended by its handler with exit 2 and one line naming `signal`, leaving nothing named
    /// like `output` in `directory`.
    private func assertStoppedCleanly(_ end: (reason: Process.TerminationReason, status: Int32, err: String),
                                      signal: String, output: String, in directory: URL,
                                      file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(end.reason, .exit, "killed by the signal instead of stopping: \(end.err)", file: file,
                       line: line)
        XCTAssertEqual(end.status, 2, end.err, file: file, line: line)
        XCTAssertEqual(end.err.split(separator: "\n").count, 1, end.err, file: file, line: line)
        XCTAssertTrue(end.err.hasPrefix("custody: interrupted by \(signal): "), end.err, file: file, line: line)
        XCTAssertTrue(end.err.contains("\(output) was not written"), end.err, file: file, line: line)
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasPrefix(URL(fileURLWithPath: output).lastPathComponent) }
        XCTAssertEqual(left, [], "partial output left behind", file: file, line: line)
    }

    /// SIGTERM to a pack reading an endless stdin.
    func testSIGTERMStopsPackAndRemovesThePartialOutput() throws {
        let directory = try makeTemporaryDirectory(self)
        let output = directory.appendingPathComponent("stream.gz").path
        let noise = Self.noise
        let end = try stop(["pack", "-", output, "--chunk-size", "64K", "--quiet"], in: directory, with: SIGTERM,
                           head: noise, tail: { noise })
        try assertStoppedCleanly(end, signal: "SIGTERM", output: output, in: directory)
    }

    /// SIGINT to an unpack reading a packed file from stdin, halfway through: the decompressed evidence written
    /// so far is removed.
    func testSIGINTStopsUnpackAndRemovesTheDecompressedEvidence() throws {
        let directory = try makeTemporaryDirectory(self)
        let content = directory.appendingPathComponent("content.bin").path
        let fd = try FileDescriptor.open(content, O_WRONLY | O_CREAT | O_TRUNC)
        for _ in 0..<4 { try fd.writeAll(Self.noise) }
        fd.close()
        let packed = directory.appendingPathComponent("content.gz").path
        let pack = try CLI.run(["pack", content, packed, "--chunk-size", "64K", "--level", "0", "--quiet"])
        XCTAssertEqual(pack.status, 0, pack.err)
        let bytes = try FileSystem.readFile(packed, limit: 1 << 30)
        let unpacked = directory.appendingPathComponent("out").appendingPathComponent("evidence.bin")
        try FileManager.default.createDirectory(at: unpacked.deletingLastPathComponent(),
                                                withIntermediateDirectories: false)
        let rest = LockedPieces(Array(bytes[(8 << 20)...]), piece: 1 << 20)
        let end = try stop(["unpack", "-", unpacked.path, "--quiet"], in: unpacked.deletingLastPathComponent(),
                           with: SIGINT, head: Array(bytes[..<(8 << 20)]), tail: { rest.next() })
        try assertStoppedCleanly(end, signal: "SIGINT", output: unpacked.path,
                                 in: unpacked.deletingLastPathComponent())
    }
}

/// Hands out `bytes` in pieces, one caller at a time.
private final class LockedPieces: @unchecked Sendable {
    private let bytes: [UInt8]
    private let piece: Int
    private var offset = 0
    private let lock = NSLock()

    init(_ bytes: [UInt8], piece: Int) {
        self.bytes = bytes
        self.piece = piece
    }

    func next() -> [UInt8]? {
        lock.lock()
        defer { lock.unlock() }
        guard offset < bytes.count else { return nil }
        defer { offset += piece }
        return Array(bytes[offset..<min(bytes.count, offset + piece)])
    }
}
