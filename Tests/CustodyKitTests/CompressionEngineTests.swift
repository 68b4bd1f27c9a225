import CustodyKit
@testable import CustodyEngine
import Foundation
import XCTest

/// ISA-L and zlib write the same format: every member one engine writes inflates with the other and with zlib's
/// own gzip reader, the inflaters agree on where each deflate stream ends, and a bundle's payload verifies
/// whichever engine reads it. Skipped, naming the reason, where ISA-L is not installed.
final class CompressionEngineTests: XCTestCase {
    let chunk = 64 << 10

    override func setUpWithError() throws {
        guard CompressionEngine.isalLoaded else {
            throw XCTSkip("ISA-L is not available here (\(CompressionEngine.isalStatus)); zlib serves every level")
        }
    }

    override func tearDown() {
        CompressionEngine.allowsISAL = true
    }

    /// Contents that take each path: compressible text, zeros, random bytes (stored), a mix inside one chunk,
    /// a short tail, one byte, nothing.
    var contents: [(String, [UInt8])] {
        var text: [UInt8] = []
        var line = 0
        while text.count < 3 * chunk + 1234 {
            text += Array("entry \(line * 7919 % 1000) seized from \(line % 13) by officer \(line % 5)\n".utf8)
            line += 1
        }
        let random = pseudoRandomBytes(2 * chunk + 77, seed: 7)
        let mixed = Array(text[0..<(chunk / 2)]) + Array(random[0..<(chunk / 2)]) + Array(text[0..<chunk])
        return [("text", text), ("zeros", [UInt8](repeating: 0, count: 2 * chunk + 5)), ("random", random),
                ("mixed", mixed), ("one byte", [0x41]), ("empty", [])]
    }

    func pack(_ content: [UInt8], level: Int, engine: CompressionEngine) throws -> [UInt8] {
        let sink = MemorySink()
        var packer = EvidencePacker(level: level, chunkSize: chunk, linearDigests: [.sha256])
        packer.engine = engine
        _ = try packer.pack(MemoryChunkReader(content), to: sink)
        return sink.bytes
    }

    func unpack(_ packed: [UInt8], allowingISAL: Bool) throws -> (UnpackResult, [UInt8]) {
        CompressionEngine.allowsISAL = allowingISAL
        defer { CompressionEngine.allowsISAL = true }
        let sink = MemorySink()
        let result = try EvidenceUnpacker(expected: UnpackExpectation()).unpack(MemorySource(packed), to: sink)
        return (result, sink.bytes)
    }

    func testEngineServingEachLevel() {
        for level in 1...3 { XCTAssertEqual(CompressionEngine.deflating(level: level), .isal, "level \(level)") }
        for level in 4...9 { XCTAssertEqual(CompressionEngine.deflating(level: level), .zlib, "level \(level)") }
        XCTAssertEqual(CompressionEngine.inflating, .isal)
        CompressionEngine.allowsISAL = false
        XCTAssertEqual(CompressionEngine.deflating(level: 1), .zlib)
        XCTAssertEqual(CompressionEngine.inflating, .zlib)
        XCTAssertTrue(CompressionEngine.summary.contains("zlib for every level"), CompressionEngine.summary)
    }

    func testISALMembersInflateWithZlibAndGzip() throws {
        for level in 1...3 {
            for (name, content) in contents {
                let packed = try pack(content, level: level, engine: .isal)
                XCTAssertEqual(try gunzipWithZlib(packed), content, "\(name), level \(level): zlib's gzip reader")
                let (result, unpacked) = try unpack(packed, allowingISAL: false)
                XCTAssertTrue(result.verified, "\(name), level \(level)")
                XCTAssertEqual(unpacked, content, "\(name), level \(level): custody's zlib inflater")
            }
        }
    }

    func testZlibMembersInflateWithISAL() throws {
        for level in [1, 6, 9] {
            for (name, content) in contents {
                let packed = try pack(content, level: level, engine: .zlib)
                let (result, unpacked) = try unpack(packed, allowingISAL: true)
                XCTAssertTrue(result.verified, "\(name), level \(level)")
                XCTAssertEqual(unpacked, content, "\(name), level \(level): ISA-L inflater")
            }
        }
    }

    /// Both inflaters report the same output and the same deflate length for every member, so the unpacker finds
    /// the trailer at the same place whichever engine reads (the CRC and ISIZE follow the deflate data).
    func testInflatersAgreeOnEveryMember() throws {
        let zlib = try RawInflater()
        let isal = try ISALInflater()
        for engine in CompressionEngine.allCases {
            for (name, content) in contents {
                let packed = try pack(content, level: 1, engine: engine)
                var offset = 0
                while offset < packed.count {
                    let size = Int(packed[offset + 20]) | Int(packed[offset + 21]) << 8
                        | Int(packed[offset + 22]) << 16 | Int(packed[offset + 23]) << 24
                    // The deflate data and the trailer after it, as the unpacker hands them over.
                    let data = Array(packed[(offset + PackFormat.headerSize)..<(offset + size)])
                    var fromZlib = [UInt8](repeating: 0, count: chunk)
                    var fromISAL = [UInt8](repeating: 0, count: chunk)
                    let zlibOutcome = data.withUnsafeBytes { input in
                        fromZlib.withUnsafeMutableBytes { zlib.inflate(input, into: $0) }
                    }
                    let isalOutcome = data.withUnsafeBytes { input in
                        fromISAL.withUnsafeMutableBytes { isal.inflate(input, into: $0) }
                    }
                    XCTAssertEqual(isalOutcome, zlibOutcome, "\(name) (\(engine)), member at \(offset)")
                    if case .complete(let produced, _) = zlibOutcome {
                        XCTAssertEqual(fromISAL[0..<produced], fromZlib[0..<produced], "\(name) at \(offset)")
                    }
                    offset += size
                }
            }
        }
    }

    /// Damage is found by either engine: a flipped byte inside the deflate data of a compressed member.
    func testISALFindsDamagedDeflateData() throws {
        let content = contents[0].1
        var packed = try pack(content, level: 1, engine: .zlib)
        packed[PackFormat.headerSize + 100] ^= 0x55
        let (result, _) = try unpack(packed, allowingISAL: true)
        XCTAssertFalse(result.verified)
        XCTAssertFalse(result.damaged.isEmpty)
    }

    func testLevelAboveThreeIsNotISALs() {
        XCTAssertThrowsError(try ISALDeflater(level: 4))
        XCTAssertThrowsError(try CompressionEngine.makeDeflater(level: 6, engine: .isal))
    }
}
