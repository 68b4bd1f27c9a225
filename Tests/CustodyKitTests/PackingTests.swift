import Foundation
import XCTest
import CZlib
import CustodyKit
@testable import CustodyEngine

/// Compressible text-like bytes.
func textBytes(_ count: Int) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(count + 64)
    var line = 0
    while out.count < count {
        out += Array("line \(line): the quick brown fox jumps over the lazy dog \(line * 7919 % 1000)\n".utf8)
        line += 1
    }
    return Array(out.prefix(count))
}

final class PackingTests: XCTestCase {
    let chunk = 64 << 10

    func pack(_ content: [UInt8], level: Int = 1, chunkSize: Int? = nil) throws -> ([UInt8], PackResult) {
        let sink = MemorySink()
        let packer = EvidencePacker(level: level, chunkSize: chunkSize ?? chunk, linearDigests: [.sha256, .md5],
                                    packedDigests: [.sha256])
        let result = try packer.pack(MemoryChunkReader(content), to: sink)
        return (sink.bytes, result)
    }

    func unpack(_ packed: [UInt8], expected: UnpackExpectation = UnpackExpectation(), salvage: Bool = false)
        throws -> (UnpackResult, [UInt8]) {
        let sink = MemorySink()
        let result = try EvidenceUnpacker(expected: expected, salvage: salvage).unpack(MemorySource(packed), to: sink)
        return (result, sink.bytes)
    }

    /// (offset, size) of every member, found by hopping with the CU subfield's member size.
    func members(_ packed: [UInt8]) -> [(offset: Int, size: Int)] {
        var out: [(Int, Int)] = []
        var offset = 0
        while offset + PackFormat.headerSize <= packed.count {
            let size = Int(packed[offset + 20]) | Int(packed[offset + 21]) << 8 | Int(packed[offset + 22]) << 16
                | Int(packed[offset + 23]) << 24
            out.append((offset, size))
            offset += size
        }
        return out
    }

    // MARK: Round trips

    func checkRoundTrip(_ content: [UInt8], level: Int = 1, file: StaticString = #filePath, line: UInt = #line)
        throws -> PackResult {
        let (packed, result) = try pack(content, level: level)
        XCTAssertEqual(result.size, UInt64(content.count), file: file, line: line)
        XCTAssertEqual(result.packedSize, UInt64(packed.count), file: file, line: line)
        XCTAssertEqual(result.digests[.sha256], Digester.digest(.sha256, content), file: file, line: line)
        XCTAssertEqual(result.digests[.md5], Digester.digest(.md5, content), file: file, line: line)
        XCTAssertEqual(result.packedDigests[.sha256], Digester.digest(.sha256, packed), file: file, line: line)
        let expectedLeaves = stride(from: 0, to: content.count, by: chunk).map {
            Merkle.leafHash(Array(content[$0..<min($0 + chunk, content.count)]))
        }
        XCTAssertEqual(result.leaves, expectedLeaves, file: file, line: line)
        XCTAssertEqual(result.treeRoot, Merkle.root(leaves: expectedLeaves), file: file, line: line)
        XCTAssertEqual(members(packed).count, expectedLeaves.count + 1, file: file, line: line)
        let (unpacked, output) = try unpack(packed, expected: UnpackExpectation(
            treeRoot: result.treeRoot, leaves: result.leaves, size: result.size,
            digests: [.sha256: result.digests[.sha256]!]))
        XCTAssertTrue(unpacked.verified, "\(unpacked.damaged) \(unpacked.problems)", file: file, line: line)
        XCTAssertEqual(output, content, file: file, line: line)
        XCTAssertEqual(unpacked.treeRoot, result.treeRoot, file: file, line: line)
        XCTAssertEqual(unpacked.digests[.sha256], result.digests[.sha256], file: file, line: line)
        // An independent inflater: zlib's own gzip decoder (windowBits 31 handles concatenated members).
        XCTAssertEqual(try gunzipWithZlib(packed), content, file: file, line: line)
        return result
    }

    func testRoundTripSizes() throws {
        for size in [0, 1, chunk - 1, chunk, 3 * chunk, 2 * chunk + 17] {
            _ = try checkRoundTrip(textBytes(size))
        }
    }

    func testEmptyContentIsOnlyTheEndOfFileMember() throws {
        let (packed, result) = try pack([])
        XCTAssertEqual(packed, PackFormat.endOfFileMember(chunkCount: 0, chunkSize: chunk))
        XCTAssertEqual(result.treeRoot, Merkle.emptyRoot)
        XCTAssertEqual(result.chunkCount, 0)
    }

    func testIncompressibleChunksAreStored() throws {
        let content = pseudoRandomBytes(3 * chunk + 100, seed: 1)
        let result = try checkRoundTrip(content)
        XCTAssertEqual(result.storedChunks, 4)
        // Stored members cost 5 bytes per 65535-byte block plus 40 bytes of header and trailer.
        XCTAssertLessThanOrEqual(result.packedSize, UInt64(content.count + 4 * (40 + 10) + 42))
    }

    func testAllZeroChunksTakeTheFastPath() throws {
        let content = [UInt8](repeating: 0, count: 4 * chunk)
        let result = try checkRoundTrip(content)
        XCTAssertEqual(result.zeroChunks, 4)
        XCTAssertLessThan(result.packedSize, 2000)
    }

    func testMixedContentAndLevels() throws {
        let content = textBytes(chunk + 5000) + [UInt8](repeating: 0, count: chunk) + pseudoRandomBytes(chunk, seed: 2)
            + textBytes(1000)
        for level in [0, 1, 6, 9] {
            let result = try checkRoundTrip(content, level: level)
            if level == 0 { XCTAssertEqual(result.storedChunks, result.chunkCount) }
            if level > 0 { XCTAssertLessThan(result.packedSize, UInt64(content.count)) }
        }
    }

    func testChunkThatDoesNotShrinkIsStoredEvenWhenSamplingMissesIt() throws {
        // Random data with a little text in the sampled spots: sampling says compress, deflate overflows
        // its bound, the chunk is stored.
        var content = pseudoRandomBytes(chunk, seed: 3)
        for sample in 0..<8 {
            let start = sample * (chunk / 8)
            content.replaceSubrange(start..<(start + 2048), with: [UInt8](repeating: 65, count: 2048))
        }
        XCTAssertLessThan(content.withUnsafeBytes { PackFormat.sampledEntropy($0) }, 7.9)
        let result = try checkRoundTrip(content)
        XCTAssertEqual(result.chunkCount, 1)
    }

    func testMixedChunkStoresItsRandomSegmentsInsideOneDeflateStream() throws {
        let chunkSize = 256 << 10
        let content = pseudoRandomBytes(128 << 10, seed: 5) + textBytes(128 << 10)
        let (packed, result) = try pack(content, chunkSize: chunkSize)
        XCTAssertEqual(result.storedChunks, 0)
        XCTAssertLessThan(result.packedSize, UInt64((128 << 10) + (16 << 10)))
        XCTAssertEqual(try gunzipWithZlib(packed), content)
        let (unpacked, output) = try unpack(packed, expected: UnpackExpectation(leaves: result.leaves))
        XCTAssertTrue(unpacked.verified)
        XCTAssertEqual(output, content)
    }

    func testStoredBlocksAreValidDeflate() throws {
        for size in [1, 65535, 65536, 200_000] {
            let content = pseudoRandomBytes(size, seed: UInt64(size))
            var out = [UInt8](repeating: 0, count: PackFormat.storedDataSize(size))
            let written = content.withUnsafeBytes { source in
                out.withUnsafeMutableBytes { PackFormat.writeStoredBlocks(source, to: $0.baseAddress!) }
            }
            XCTAssertEqual(written, out.count)
            let inflater = try RawInflater()
            var back = [UInt8](repeating: 0, count: size + 1)
            let outcome = out.withUnsafeBytes { input in
                back.withUnsafeMutableBytes { inflater.inflate(input, into: $0) }
            }
            XCTAssertEqual(outcome, .complete(produced: size, consumed: out.count))
            XCTAssertEqual(Array(back.prefix(size)), content)
        }
    }

    func testHeaderLayout() throws {
        // The end-of-file member, byte for byte as SPEC.md section 3 lists it (1 MiB chunks, 5 chunks).
        let expected: [UInt8] = [0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0x00, 0xff, 0x14, 0x00, 0x43, 0x55, 0x10, 0x00,
                                 0x01, 0x04, 0x14, 0x00, 0x2a, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0,
                                 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]
        XCTAssertEqual(PackFormat.endOfFileMember(chunkCount: 5, chunkSize: 1 << 20), expected)
        let header = PackFormat.MemberHeader(flags: .stored, chunkShift: 16, memberSize: 12_345, index: 1 << 40)
        let parsed = header.bytes.withUnsafeBytes { PackFormat.MemberHeader.parse($0) }
        XCTAssertEqual(try parsed.get(), header)
        var plainGzip = header.bytes
        plainGzip[3] = 0
        XCTAssertEqual(plainGzip.withUnsafeBytes { PackFormat.MemberHeader.parse($0) }, .failure(.notCustody))
    }

    func testSampledEntropy() {
        let random = pseudoRandomBytes(1 << 20, seed: 9)
        XCTAssertGreaterThan(random.withUnsafeBytes { PackFormat.sampledEntropy($0) }, 7.95)
        XCTAssertLessThan(textBytes(1 << 20).withUnsafeBytes { PackFormat.sampledEntropy($0) }, 6)
        XCTAssertTrue([UInt8](repeating: 0, count: 1001).withUnsafeBytes { Merkle.isAllZero($0) })
        var almost = [UInt8](repeating: 0, count: 1001)
        almost[1000] = 1
        XCTAssertFalse(almost.withUnsafeBytes { Merkle.isAllZero($0) })
    }

    // MARK: Random access

    func testRandomAccessReadsOneChunk() throws {
        let content = textBytes(2 * chunk) + pseudoRandomBytes(chunk, seed: 4) + [UInt8](repeating: 0, count: chunk)
            + textBytes(999)
        let (packed, _) = try pack(content)
        let directory = try TestSupport.temporaryDirectory(self)
        let path = directory.appendingPathComponent("e.gz").path
        try FileSystem.writeAtomically(path, packed)
        let descriptor = try FileDescriptor.openForReading(path)
        defer { descriptor.close() }
        let file = try PackedEvidenceFile(descriptor: descriptor)
        XCTAssertEqual(file.chunkCount, 5)
        XCTAssertEqual(file.contentSize, UInt64(content.count))
        for index in [4, 2, 0, 3, 1] {
            let start = index * chunk
            XCTAssertEqual(try file.readChunk(index), Array(content[start..<min(start + chunk, content.count)]))
        }
        XCTAssertThrowsError(try file.readChunk(5))
    }

    // MARK: Damage

    func damagedCase(_ mutate: (inout [UInt8], [(offset: Int, size: Int)]) -> Void,
                     expected: UnpackExpectation = UnpackExpectation(), salvage: Bool = false) throws
        -> (UnpackResult, [UInt8], [UInt8]) {
        let content = textBytes(5 * chunk + 321)
        var (packed, _) = try pack(content)
        mutate(&packed, members(packed))
        let (result, output) = try unpack(packed, expected: expected, salvage: salvage)
        return (result, output, content)
    }

    func testBadCRCNamesChunkAndRange() throws {
        let (result, output, content) = try damagedCase { packed, members in
            let member = members[2]
            packed[member.offset + member.size - 8] ^= 0xff
        }
        XCTAssertFalse(result.verified)
        XCTAssertEqual(result.damaged.count, 1)
        let damage = try XCTUnwrap(result.damaged.first)
        XCTAssertEqual(damage.index, 2)
        XCTAssertTrue(damage.reason.contains("CRC-32"), damage.reason)
        XCTAssertTrue(damage.description.hasPrefix("chunk 2 (packed bytes"), damage.description)
        // Without salvage nothing from the damaged chunk on is written.
        XCTAssertEqual(output, Array(content.prefix(2 * chunk)))
    }

    /// A destroyed member header: without salvage unpacking stops there; with salvage the reader scans on to the
    /// next sound header, the lost chunk is zero-filled and named, and every chunk after it is intact.
    func testSalvageResynchronizesAfterADestroyedHeader() throws {
        let wipe: (inout [UInt8], [(offset: Int, size: Int)]) -> Void = { packed, members in
            for offset in members[2].offset..<(members[2].offset + 12) { packed[offset] = 0 }
        }
        let (strict, strictOutput, content) = try damagedCase(wipe)
        XCTAssertFalse(strict.verified)
        XCTAssertEqual(strictOutput, Array(content.prefix(2 * chunk)))

        let (result, output, _) = try damagedCase(wipe, salvage: true)
        XCTAssertFalse(result.verified)
        XCTAssertEqual(result.damaged.map(\.index), [2])
        let damage = try XCTUnwrap(result.damaged.first)
        XCTAssertTrue(damage.reason.hasPrefix("member not found"), damage.reason)
        XCTAssertEqual(damage.contentRange, UInt64(2 * chunk)..<UInt64(3 * chunk))
        XCTAssertTrue(result.problems.contains { $0.contains("resynchronized at the member of chunk 3") },
                      "\(result.problems)")
        var expected = content
        for index in (2 * chunk)..<(3 * chunk) { expected[index] = 0 }
        XCTAssertEqual(output, expected, "chunks 0-1 and 3-5 intact, chunk 2 zero-filled")
        XCTAssertEqual(result.chunkCount, 6)
    }

    /// Two neighbouring headers destroyed, and a header that claims another chunk's index: each lost chunk is
    /// zero-filled in its place, so the content after them keeps its offsets.
    func testSalvageSkipsSeveralLostMembersAndAWrongIndex() throws {
        let (result, output, content) = try damagedCase({ packed, members in
            packed[members[1].offset] = 0x00
            packed[members[2].offset + 1] = 0x00
            packed[members[4].offset + 24] ^= 0x07
        }, salvage: true)
        XCTAssertEqual(result.damaged.map(\.index), [1, 2, 4])
        var expected = content
        for index in (1 * chunk)..<(3 * chunk) { expected[index] = 0 }
        for index in (4 * chunk)..<(5 * chunk) { expected[index] = 0 }
        XCTAssertEqual(output, expected)
    }

    /// A destroyed header with nothing sound after it (the rest cut off): the walk ends there, as before.
    func testSalvageWithNoMemberAfterTheDamageStops() throws {
        let (result, output, content) = try damagedCase({ packed, members in
            packed[members[3].offset] = 0x00
            packed.removeLast(packed.count - members[3].offset - 100)
        }, salvage: true)
        XCTAssertEqual(result.damaged.map(\.index), [3])
        XCTAssertTrue(result.problems.contains { $0.contains("later members cannot be located") },
                      "\(result.problems)")
        XCTAssertEqual(output, Array(content.prefix(3 * chunk)))
    }

    /// Random bytes after a destroyed header cannot make the salvage invent a huge run of lost chunks: a forged
    /// header claiming a far index is refused (more chunks than the skipped bytes could hold).
    func testSalvageRefusesAForgedFarIndex() throws {
        let (result, output, content) = try damagedCase({ packed, members in
            packed[members[1].offset] = 0x00
            // Member 2's header now claims chunk 1_000_000; member 3 stays sound.
            let forged = PackFormat.MemberHeader(flags: [], chunkShift: 16, memberSize: UInt32(members[2].size),
                                                 index: 1_000_000)
            packed.replaceSubrange(members[2].offset..<(members[2].offset + 32), with: forged.bytes)
        }, salvage: true)
        XCTAssertEqual(result.damaged.map(\.index), [1, 2])
        var expected = content
        for index in (1 * chunk)..<(3 * chunk) { expected[index] = 0 }
        XCTAssertEqual(output, expected)
    }

    /// The folded CRC-32 (inputs of 64 bytes and more, where the processor has carry-less multiplication) against
    /// the table one (pieces under 64 bytes always take zlib's tables), over every length to 300, odd alignments,
    /// chained calls, and the check value of "123456789".
    func testCRC32FoldingMatchesTheTables() {
        XCTAssertEqual(Array("123456789".utf8).withUnsafeBytes { PackFormat.crc32($0) }, 0xCBF4_3926)
        let bytes = pseudoRandomBytes(70_000, seed: 77)
        bytes.withUnsafeBytes { all in
            func piecewise(_ range: Range<Int>, from crc: UInt32) -> UInt32 {
                stride(from: range.lowerBound, to: range.upperBound, by: 63).reduce(crc) { crc, start in
                    PackFormat.crc32(UnsafeRawBufferPointer(rebasing: all[start..<min(start + 63, range.upperBound)]),
                                     continuing: crc)
                }
            }
            for start in [0, 1, 7, 13] {
                for length in Array(0...300) + [1024, 4099, 65_536, 69_000] {
                    let range = start..<(start + length)
                    XCTAssertEqual(PackFormat.crc32(UnsafeRawBufferPointer(rebasing: all[range])),
                                   piecewise(range, from: 0), "offset \(start), length \(length)")
                }
            }
            let first = PackFormat.crc32(UnsafeRawBufferPointer(rebasing: all[0..<5000]))
            XCTAssertEqual(PackFormat.crc32(UnsafeRawBufferPointer(rebasing: all[5000..<70_000]), continuing: first),
                           piecewise(0..<70_000, from: 0))
        }
    }

    /// With the expected leaves at hand (verify of a sealed bundle) the CRC-32 is not computed: a damaged CRC
    /// field over intact content is no content damage (the payload manifests catch the changed byte), and
    /// content that still inflates but differs is caught by its leaf hash, naming the chunk.
    func testExpectedLeavesDecideInsteadOfTheCRC() throws {
        let content = textBytes(5 * chunk + 321)
        let (packed, packResult) = try pack(content)
        let expected = UnpackExpectation(treeRoot: packResult.treeRoot, leaves: packResult.leaves)
        let memberList = members(packed)

        var crcOnly = packed
        crcOnly[memberList[2].offset + memberList[2].size - 8] ^= 0xff
        let (intact, output) = try unpack(crcOnly, expected: expected)
        XCTAssertTrue(intact.damaged.isEmpty, "\(intact.damaged)")
        XCTAssertEqual(output, content)

        let stored = try pack(pseudoRandomBytes(3 * chunk, seed: 31))
        XCTAssertEqual(stored.1.storedChunks, 3)
        var changed = stored.0
        let member = members(changed)[1]
        changed[member.offset + 100] ^= 0x01
        let (result, _) = try unpack(changed, expected: UnpackExpectation(treeRoot: stored.1.treeRoot,
                                                                           leaves: stored.1.leaves))
        XCTAssertEqual(result.damaged.map(\.index), [1])
        XCTAssertTrue(result.damaged.first?.reason.hasPrefix("leaf hash mismatch") == true,
                      "\(result.damaged)")
    }

    func testCorruptDeflateData() throws {
        let (result, _, _) = try damagedCase { packed, members in
            let member = members[1]
            for offset in (member.offset + 40)..<(member.offset + 60) { packed[offset] = 0xff }
        }
        XCTAssertEqual(result.damaged.map(\.index), [1])
    }

    func testWrongISIZE() throws {
        let (result, _, _) = try damagedCase { packed, members in
            let member = members[3]
            packed[member.offset + member.size - 2] ^= 1
        }
        XCTAssertEqual(result.damaged.map(\.index), [3])
        XCTAssertTrue(result.damaged[0].reason.contains("ISIZE"), result.damaged[0].reason)
    }

    func testWrongMemberSizeField() throws {
        let (result, _, _) = try damagedCase { packed, members in
            // Chunk 1 claims to be 4 bytes shorter: its deflate data is cut short.
            let member = members[1]
            let claimed = UInt32(member.size - 4)
            packed.replaceSubrange((member.offset + 20)..<(member.offset + 24),
                                   with: withUnsafeBytes(of: claimed.littleEndian) { Array($0) })
        }
        XCTAssertEqual(result.damaged.first?.index, 1)
        XCTAssertTrue(result.damaged[0].reason.contains("member size"), result.damaged[0].reason)
    }

    func testTruncationAndMissingEndOfFile() throws {
        let (result, _, _) = try damagedCase { packed, members in
            packed.removeLast(members.last!.size)
        }
        XCTAssertTrue(result.damaged.isEmpty)
        XCTAssertTrue(result.problems.contains { $0.contains("missing end-of-file member") }, "\(result.problems)")
        let (cut, _, _) = try damagedCase { packed, members in
            packed.removeSubrange((members[4].offset + 100)...)
        }
        XCTAssertEqual(cut.damaged.map(\.index), [4])
        XCTAssertTrue(cut.damaged[0].reason.contains("truncated"))
    }

    func testGarbageAfterEndOfFile() throws {
        let (result, output, content) = try damagedCase { packed, _ in packed += [0x1f, 0x8b, 0, 1] }
        XCTAssertEqual(output, content)
        XCTAssertTrue(result.problems.contains { $0.contains("garbage after the end-of-file member") })
        XCTAssertFalse(result.verified)
    }

    /// Every byte of the end-of-file member is fixed (SPEC 3.1): a change anywhere in it, gzip's MTIME, XFL and OS
    /// included, fails both the sequential unpacker and the random-access index, while the chunks still come out.
    func testEveryByteOfTheEndOfFileMemberIsChecked() throws {
        let directory = try TestSupport.temporaryDirectory(self)
        let path = directory.appendingPathComponent("e.gz").path
        for position in 0..<PackFormat.minimumMemberSize {
            let (result, output, content) = try damagedCase { packed, _ in
                packed[packed.count - PackFormat.minimumMemberSize + position] ^= 0x01
            }
            XCTAssertFalse(result.verified, "byte \(position)")
            XCTAssertEqual(output, content, "byte \(position)")
            XCTAssertFalse(result.problems.isEmpty && result.damaged.isEmpty, "byte \(position)")
            if (4..<10).contains(position) {
                XCTAssertTrue(result.problems.contains { $0.contains("malformed end-of-file member") },
                              "\(result.problems)")
            }
            var (packed, _) = try pack(content)
            packed[packed.count - PackFormat.minimumMemberSize + position] ^= 0x01
            try FileSystem.writeAtomically(path, packed)
            let descriptor = try FileDescriptor.openForReading(path)
            defer { descriptor.close() }
            XCTAssertThrowsError(try PackedEvidenceFile(descriptor: descriptor), "byte \(position)")
        }
    }

    func testDecompressionBomb() throws {
        let (result, _, _) = try damagedCase { packed, members in
            // Chunk 2 replaced by a member whose deflate data inflates to more than the chunk size.
            let zeros = [UInt8](repeating: 0, count: chunk + 4096)
            var data = [UInt8](repeating: 0, count: 70_000)
            let size = try! zeros.withUnsafeBytes { source in
                try data.withUnsafeMutableBytes { try RawDeflater(level: 9).compress(source, into: $0, segment: nil, incompressible: { _ in false }) }
            }!
            data.removeSubrange(size...)
            let total = PackFormat.headerSize + data.count + 8
            let header = PackFormat.MemberHeader(flags: [], chunkShift: 16, memberSize: UInt32(total), index: 2)
            let crc = zeros.withUnsafeBytes { PackFormat.crc32($0) }
            let bomb = header.bytes + data + withUnsafeBytes(of: crc.littleEndian) { Array($0) }
                + withUnsafeBytes(of: UInt32(zeros.count).littleEndian) { Array($0) }
            packed.replaceSubrange(members[2].offset..<(members[2].offset + members[2].size), with: bomb)
        }
        XCTAssertEqual(result.damaged.map(\.index), [2])
        XCTAssertTrue(result.damaged[0].reason.contains("decompression bomb"), result.damaged[0].reason)
    }

    func testLeafMismatchNamesChunk() throws {
        let content = textBytes(5 * chunk + 321)
        let (packed, packResult) = try pack(content)
        var leaves = packResult.leaves
        leaves[4] = Merkle.leafHash([1, 2, 3])
        let (result, _) = try unpack(packed, expected: UnpackExpectation(leaves: leaves))
        XCTAssertEqual(result.damaged.map(\.index), [4])
        XCTAssertTrue(result.damaged[0].reason.contains("leaf hash mismatch"))
        let (treeResult, _) = try unpack(packed, expected: UnpackExpectation(treeRoot: Merkle.leafHash([])))
        XCTAssertTrue(treeResult.problems.contains { $0.contains("tree digest mismatch") })
    }

    func testSalvageZeroFillsBadChunksAndKeepsGoodOnes() throws {
        let (result, output, content) = try damagedCase({ packed, members in
            packed[members[1].offset + members[1].size - 7] ^= 0x55
            packed[members[3].offset + members[3].size - 6] ^= 0x55
        }, salvage: true)
        XCTAssertEqual(result.damaged.map(\.index), [1, 3])
        XCTAssertEqual(output.count, content.count)
        var expectedOutput = content
        for index in [1, 3] {
            expectedOutput.replaceSubrange((index * chunk)..<((index + 1) * chunk),
                                           with: [UInt8](repeating: 0, count: chunk))
        }
        XCTAssertEqual(output, expectedOutput)
        XCTAssertEqual(result.damaged[1].contentRange, UInt64(3 * chunk)..<UInt64(4 * chunk))
    }

    func testMemberOutOfOrderStopsWithChunkNamed() throws {
        let (result, _, _) = try damagedCase { packed, members in
            packed[members[3].offset + 24] = 9
        }
        XCTAssertEqual(result.damaged.map(\.index), [3])
        XCTAssertTrue(result.damaged[0].reason.contains("index 9"))
    }

    func testPlainGzipIsRefusedClearly() throws {
        // A gzip member without the CU subfield (FLG 0): the shortest gzip file of empty content.
        let plain: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        XCTAssertThrowsError(try unpack(plain)) { error in
            XCTAssertTrue("\(error)".contains("not made by custody pack"), "\(error)")
            XCTAssertEqual(error as? EngineError, .notPackedFile(.notCustody))
            XCTAssertEqual((error as? CustodyFailure)?.kind, .operational)
        }
    }
}

/// Decompresses a (multi-member) gzip stream with zlib's own gzip wrapper, member after member.
func gunzipWithZlib(_ data: [UInt8]) throws -> [UInt8] {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("custody-gunzip-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: url) }
    try Data(data).write(to: url)
    guard let file = gzopen(url.path, "rb") else { throw TestFailure("gzopen failed") }
    defer { gzclose(file) }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = buffer.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
        if n < 0 { throw TestFailure("gzread failed") }
        if n == 0 { break }
        out += buffer[0..<Int(n)]
    }
    return out
}

