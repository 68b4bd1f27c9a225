import CZlib
import CustodyKit
import Foundation
import XCTest

final class PackCommandTests: XCTestCase {
    let chunk = 64 << 10

    /// Text, a chunk of zeros and pseudo-random bytes: every encoding path, 5 chunks of 64 KiB, odd total size.
    func sampleContent() -> Data {
        var bytes: [UInt8] = []
        var line = 0
        while bytes.count < 2 * chunk {
            bytes += Array("record \(line) of the evidence log, examiner notes follow\n".utf8)
            line += 1
        }
        bytes.removeSubrange((2 * chunk)...)
        bytes += [UInt8](repeating: 0, count: chunk)
        var state: UInt64 = 42
        for _ in 0..<(chunk + 333) {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            bytes.append(UInt8(truncatingIfNeeded: state >> 33))
        }
        return Data(bytes)
    }

    func write(_ data: Data, _ name: String, in directory: URL) throws -> String {
        let url = directory.appendingPathComponent(name)
        try data.write(to: url)
        return url.path
    }

    func packSample(_ directory: URL) throws -> (input: String, packed: String, content: Data) {
        let content = sampleContent()
        let input = try write(content, "disk.img", in: directory)
        let packed = directory.appendingPathComponent("disk.img.gz").path
        let result = try CLI.run(["pack", input, packed, "--chunk-size", "64K", "--quiet"])
        XCTAssertEqual(result.status, 0, result.err)
        return (input, packed, content)
    }

    /// (offset, size) of each member, hopping with the member size in the CU subfield.
    func members(_ packed: Data) -> [(offset: Int, size: Int)] {
        let bytes = [UInt8](packed)
        var out: [(Int, Int)] = []
        var offset = 0
        while offset + 32 <= bytes.count {
            let size = Int(bytes[offset + 20]) | Int(bytes[offset + 21]) << 8 | Int(bytes[offset + 22]) << 16
                | Int(bytes[offset + 23]) << 24
            out.append((offset, size))
            offset += size
        }
        return out
    }

    /// Raw deflate of `input` by zlib at level 1, with `tune` (good, lazy, nice, chain) applied when given.
    private func zlibLevelOne(_ input: [UInt8], tune: (Int32, Int32, Int32, Int32)? = nil) throws -> [UInt8] {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        defer { stream.deallocate() }
        stream.initialize(to: z_stream())
        XCTAssertEqual(custody_deflateInit2(stream, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK)
        defer { deflateEnd(stream) }
        if let tune { XCTAssertEqual(deflateTune(stream, tune.0, tune.1, tune.2, tune.3), Z_OK) }
        var output = [UInt8](repeating: 0, count: input.count + 1024)
        var input = input
        let produced = input.withUnsafeMutableBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target -> Int in
                stream.pointee.next_in = source.baseAddress
                stream.pointee.avail_in = UInt32(source.count)
                stream.pointee.next_out = target.baseAddress
                stream.pointee.avail_out = UInt32(target.count)
                XCTAssertEqual(deflate(stream, Z_FINISH), Z_STREAM_END)
                return target.count - Int(stream.pointee.avail_out)
            }
        }
        return Array(output[0..<produced])
    }

    /// Level 1 is zlib's level 1 with a shorter search (SPEC 3.4) in every member, the stream being reset between
    /// chunks: each text member's deflate data is exactly zlib's with `deflateTune(4, 4, 6, 2)`, and not zlib's own.
    func testLevelOneTunesZlibInEveryMember() throws {
        let directory = try makeTemporaryDirectory(self)
        var words: [UInt8] = []
        var line = 0
        while words.count < 3 * chunk {
            words += Array("line \(line * 7919 % 1000) of \(line % 13) notes, examiner \(line % 5) wrote it\n".utf8)
            line += 1
        }
        let content = Array(words[0..<(3 * chunk)])
        try Data(content).write(to: directory.appendingPathComponent("in.txt"))
        // zlib serves level 1 only where ISA-L is missing or turned off (CompressionEngineTests covers ISA-L).
        let pack = try CLI.run(["pack", "in.txt", "out.gz", "--chunk-size", "64K", "--quiet"], in: directory,
                               environment: ["CUSTODY_ZLIB_ONLY": "1"])
        XCTAssertEqual(pack.status, 0, pack.err)
        let packed = [UInt8](try Data(contentsOf: directory.appendingPathComponent("out.gz")))
        var offset = 0
        for index in 0..<3 {
            let size = Int(packed[offset + 20]) | Int(packed[offset + 21]) << 8 | Int(packed[offset + 22]) << 16
                | Int(packed[offset + 23]) << 24
            let data = Array(packed[(offset + 32)..<(offset + size - 8)])
            let plain = Array(content[(index * chunk)..<((index + 1) * chunk)])
            XCTAssertEqual(data, try zlibLevelOne(plain, tune: (4, 4, 6, 2)), "member \(index)")
            XCTAssertNotEqual(data, try zlibLevelOne(plain), "member \(index) is zlib's untuned level 1")
            offset += size
        }
    }

    func testPackSummaryMatchesHashCommand() throws {
        let directory = try makeTemporaryDirectory(self)
        let content = sampleContent()
        let input = try write(content, "disk.img", in: directory)
        let packed = directory.appendingPathComponent("out.gz").path
        let result = try CLI.run(["pack", input, packed, "--chunk-size", "64K", "--json"])
        XCTAssertEqual(result.status, 0, result.err)
        let summary = try JSONValue.parse(result.out.trimmingCharacters(in: .whitespacesAndNewlines))
        let hash = try CLI.run(["hash", "--chunk-size", "64K", "--format", "json", input])
        let hashed = try JSONValue.parse(hash.out.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertEqual(summary["tree"], hashed["tree"])
        XCTAssertEqual(summary["sha256"], hashed["sha256"])
        XCTAssertEqual(summary["size"]?.intValue, Int64(content.count))
        XCTAssertEqual(summary["chunks"]?.intValue, 5)
        XCTAssertEqual(summary["zeroChunks"]?.intValue, 1)
        XCTAssertEqual(summary["packedSize"]?.intValue,
                       Int64(try FileManager.default.attributesOfItem(atPath: packed)[.size] as! Int))
        // A second pack refuses to overwrite without --force.
        let again = try CLI.run(["pack", input, packed, "--quiet"])
        XCTAssertEqual(again.status, 2)
        XCTAssertTrue(again.err.contains("already exists"), again.err)
    }

    func testGzipReadsPackedFiles() throws {
        let gzip = try CLI.requireTool("gzip")
        let directory = try makeTemporaryDirectory(self)
        for (name, content) in [("empty", Data()), ("one", Data([7])), ("sample", sampleContent()),
                                ("multiple", Data(repeating: 0x41, count: 2 * chunk))] {
            let input = try write(content, name, in: directory)
            let packed = input + ".gz"
            XCTAssertEqual(try CLI.run(["pack", input, packed, "--chunk-size", "64K", "-q"]).status, 0)
            let test = try CLI.runTool(gzip, ["-t", packed])
            XCTAssertEqual(test.status, 0, "\(name): \(test.err)")
            let decompressed = try CLI.runTool(gzip, ["-dc", packed])
            XCTAssertEqual(decompressed.stdout, content, name)
        }
    }

    func testGzipOutputSha256MatchesContent() throws {
        let gzip = try CLI.requireTool("gzip")
        let sha256sum = try CLI.requireTool("sha256sum")
        let directory = try makeTemporaryDirectory(self)
        let (input, packed, _) = try packSample(directory)
        let piped = try CLI.runTool("/bin/sh", ["-c", "'\(gzip)' -dc '\(packed)' | '\(sha256sum)'"])
        let direct = try CLI.runTool(sha256sum, [input])
        XCTAssertEqual(piped.out.prefix(64), direct.out.prefix(64))
    }

    func testUnpackRoundTripAndExpectations() throws {
        let directory = try makeTemporaryDirectory(self)
        let (input, packed, content) = try packSample(directory)
        let hash = try CLI.run(["hash", "--chunk-size", "64K", "--format", "json", input])
        let hashed = try JSONValue.parse(hash.out.trimmingCharacters(in: .whitespacesAndNewlines))
        let tree = try XCTUnwrap(hashed["tree"]?.stringValue)
        let sha = try XCTUnwrap(hashed["sha256"]?.stringValue)
        let output = directory.appendingPathComponent("restored").path
        let result = try CLI.run(["unpack", packed, output, "--expect-tree", tree, "--expect-sha256", sha, "-q"])
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: output)), content)
        let wrong = String(repeating: "0", count: 64)
        let bad = try CLI.run(["unpack", packed, output + "2", "--expect-sha256", wrong, "-q"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.err.contains("sha256 mismatch"), bad.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output + "2"))
    }

    func testStreamingThroughStdinAndStdout() throws {
        let content = sampleContent()
        let packed = try CLI.run(["pack", "-", "-", "--chunk-size", "64K"], stdin: content)
        XCTAssertEqual(packed.status, 0, packed.err)
        XCTAssertTrue(packed.err.contains("SHA256 (-)"), packed.err)
        let unpacked = try CLI.run(["unpack", "-", "-"], stdin: packed.stdout)
        XCTAssertEqual(unpacked.status, 0, unpacked.err)
        XCTAssertEqual(unpacked.stdout, content)
    }

    func testDamagedMemberIsNamedAndNoOutputLeft() throws {
        let directory = try makeTemporaryDirectory(self)
        let (_, packed, _) = try packSample(directory)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: packed))
        let member = members(bytes)[1]
        bytes[member.offset + member.size - 8] ^= 0xff
        try bytes.write(to: URL(fileURLWithPath: packed))
        let output = directory.appendingPathComponent("restored").path
        let result = try CLI.run(["unpack", packed, output])
        XCTAssertEqual(result.status, 1)
        let range = "packed bytes \(member.offset)-\(member.offset + member.size - 1)"
        XCTAssertTrue(result.err.contains("chunk 1 (\(range), content bytes 65536-131071): CRC-32 mismatch"),
                      result.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        XCTAssertFalse(leftovers.contains { $0.contains("partial") }, "\(leftovers)")
    }

    func testSalvageWritesGoodChunksAndListsBadOnes() throws {
        let directory = try makeTemporaryDirectory(self)
        let (_, packed, content) = try packSample(directory)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: packed))
        let member = members(bytes)[0]
        for offset in (member.offset + 40)..<(member.offset + 80) { bytes[offset] = 0xee }
        try bytes.write(to: URL(fileURLWithPath: packed))
        let output = directory.appendingPathComponent("salvaged").path
        let result = try CLI.run(["unpack", packed, output, "--salvage", "--json"])
        XCTAssertEqual(result.status, 1, result.err)
        XCTAssertTrue(result.err.contains("chunk 0 (packed bytes 0-"), result.err)
        let summary = try JSONValue.parse(result.out.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertEqual(summary["damaged"]?.arrayValue?.count, 1)
        XCTAssertEqual(summary["damaged"]?.arrayValue?.first?["chunk"]?.intValue, 0)
        let salvaged = try Data(contentsOf: URL(fileURLWithPath: output))
        XCTAssertEqual(salvaged.count, content.count)
        XCTAssertEqual(salvaged.prefix(chunk), Data(repeating: 0, count: chunk))
        XCTAssertEqual(salvaged.dropFirst(chunk), content.dropFirst(chunk))
    }

    /// A destroyed member header in the middle: `--salvage` finds the next member, zero-fills the lost chunk in
    /// its place, says where it resynchronized, and exits 1; the output keeps every other chunk.
    func testSalvageGoesOnAfterADestroyedHeader() throws {
        let directory = try makeTemporaryDirectory(self)
        let (_, packed, content) = try packSample(directory)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: packed))
        let member = members(bytes)[1]
        for offset in member.offset..<(member.offset + 32) { bytes[offset] = 0xee }
        try bytes.write(to: URL(fileURLWithPath: packed))
        let output = directory.appendingPathComponent("salvaged").path
        let result = try CLI.run(["unpack", packed, output, "--salvage"])
        XCTAssertEqual(result.status, 1, result.err)
        XCTAssertTrue(result.err.contains("chunk 1 (packed bytes \(member.offset)-"), result.err)
        XCTAssertTrue(result.err.contains("member not found"), result.err)
        XCTAssertTrue(result.err.contains("resynchronized at the member of chunk 2"), result.err)
        let salvaged = try Data(contentsOf: URL(fileURLWithPath: output))
        XCTAssertEqual(salvaged.count, content.count)
        XCTAssertEqual(salvaged.prefix(chunk), content.prefix(chunk))
        XCTAssertEqual(salvaged.dropFirst(chunk).prefix(chunk), Data(repeating: 0, count: chunk))
        XCTAssertEqual(salvaged.dropFirst(2 * chunk), content.dropFirst(2 * chunk))

        let strict = try CLI.run(["unpack", packed, directory.appendingPathComponent("strict").path])
        XCTAssertEqual(strict.status, 1)
        XCTAssertTrue(strict.err.contains("later members cannot be located"), strict.err)
    }

    func testTruncationGarbageAndForeignGzip() throws {
        let directory = try makeTemporaryDirectory(self)
        let (_, packed, _) = try packSample(directory)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: packed))
        let last = members(bytes).last!

        let truncated = try write(bytes.prefix(last.offset), "truncated.gz", in: directory)
        let cut = try CLI.run(["unpack", truncated, "/dev/null"])
        XCTAssertEqual(cut.status, 1)
        XCTAssertTrue(cut.err.contains("missing end-of-file member"), cut.err)
        XCTAssertTrue(cut.err.contains("after chunk 4"), cut.err)

        let garbage = try write(bytes + Data("trailing".utf8), "garbage.gz", in: directory)
        let trailing = try CLI.run(["unpack", garbage, "/dev/null"])
        XCTAssertEqual(trailing.status, 1)
        XCTAssertTrue(trailing.err.contains("garbage after the end-of-file member, from packed byte \(bytes.count)"),
                      trailing.err)

        let gzip = try CLI.requireTool("gzip")
        let plainInput = try write(Data("hello\n".utf8), "plain.txt", in: directory)
        let plain = try CLI.runTool(gzip, ["-c", plainInput])
        let plainPath = try write(plain.stdout, "plain.gz", in: directory)
        let foreign = try CLI.run(["unpack", plainPath, "/dev/null"])
        XCTAssertEqual(foreign.status, 2)
        XCTAssertTrue(foreign.err.contains("not made by custody pack"), foreign.err)
        XCTAssertTrue(foreign.err.contains("\(plainPath): byte 0"), foreign.err)
    }

    /// Past a hundred damaged chunks, stderr lists the first hundred and counts the rest.
    func testManyDamagedChunksAreCountedNotAllListed() throws {
        let directory = try makeTemporaryDirectory(self)
        let content = Data((0..<(130 << 16)).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 7) })
        let input = try write(content, "in", in: directory)
        let packed = input + ".gz"
        XCTAssertEqual(try CLI.run(["pack", input, packed, "--chunk-size", "64K", "--level", "0"]).status, 0)
        let descriptor = try FileDescriptor.openForReading(packed)
        let members = try PackedEvidenceFile(descriptor: descriptor).members
        descriptor.close()
        var bytes = try Data(contentsOf: URL(fileURLWithPath: packed))
        for member in members { bytes[Int(member.offset) + Int(member.size) - 8] ^= 0xff }
        let damaged = try write(bytes, "damaged.gz", in: directory)
        let result = try CLI.run(["unpack", damaged, directory.appendingPathComponent("out").path, "--salvage"])
        XCTAssertEqual(result.status, 1)
        let listed = result.err.split(separator: "\n").filter { $0.contains(": chunk ") }
        XCTAssertEqual(listed.count, 100, result.err)
        XCTAssertTrue(result.err.contains("30 more damaged chunks not listed (130 in all)"), result.err)
    }

    /// Writing the output over the input (even with --force) would replace the evidence by what is made of it.
    func testOutputThatIsTheInputIsRefused() throws {
        let directory = try makeTemporaryDirectory(self)
        let content = Data("evidence\n".utf8)
        let input = try write(content, "in", in: directory)
        let refused = try CLI.run(["pack", input, input, "--force"])
        XCTAssertEqual(refused.status, 2)
        XCTAssertTrue(refused.err.contains("is the input"), refused.err)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: input)), content)
        let packed = input + ".gz"
        XCTAssertEqual(try CLI.run(["pack", input, packed]).status, 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: packed))
        let unpacked = try CLI.run(["unpack", packed, packed, "--force"])
        XCTAssertEqual(unpacked.status, 2)
        XCTAssertTrue(unpacked.err.contains("is the input"), unpacked.err)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: packed)), before)
    }

    func testUsageErrors() throws {
        let directory = try makeTemporaryDirectory(self)
        let input = try write(Data([1, 2, 3]), "in", in: directory)
        let badLevel = try CLI.run(["pack", input, input + ".gz", "--level", "10"])
        XCTAssertEqual(badLevel.status, 2)
        let badChunk = try CLI.run(["pack", input, input + ".gz", "--chunk-size", "3K"])
        XCTAssertEqual(badChunk.status, 2)
        let missing = try CLI.run(["pack", directory.appendingPathComponent("nope").path, input + ".gz"])
        XCTAssertEqual(missing.status, 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: input + ".gz"))
    }
}
