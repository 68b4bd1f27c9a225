import CustodyKit
import Foundation
import Synchronization
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The hashing engine: linear digests against public vectors, the RFC 6962 tree digest against a naive
/// recursive computation and the transparency-dev vectors, and the chunk pipeline's behaviour on faults.
final class HashingTests: XCTestCase {
    // MARK: - Known answers (FIPS 180-4 examples, RFC 1321 test suite)

    static let twoBlock448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
    static let twoBlock896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
        + "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
    static let millionA = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)

    /// (algorithm, message, expected hex) from FIPS 180-4's examples (via the NIST example values) and RFC 1321
    /// appendix A.5.
    static let knownAnswers: [(DigestAlgorithm, [UInt8], String)] = [
        (.sha256, Array("abc".utf8), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (.sha256, Array(twoBlock448.utf8), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        (.sha256, [], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (.sha256, millionA, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
        (.sha1, Array("abc".utf8), "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (.sha1, Array(twoBlock448.utf8), "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
        (.sha1, millionA, "34aa973cd4c4daa4f61eeb2bdbad27316534016f"),
        (.sha512, Array("abc".utf8), "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            + "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
        (.sha512, Array(twoBlock896.utf8), "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
            + "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"),
        (.sha512, millionA, "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
            + "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b"),
        (.md5, [], "d41d8cd98f00b204e9800998ecf8427e"),
        (.md5, Array("a".utf8), "0cc175b9c0f1b6a831c399e269772661"),
        (.md5, Array("abc".utf8), "900150983cd24fb0d6963f7d28e17f72"),
        (.md5, Array("message digest".utf8), "f96b697d7cb7938d525a2f31aaf161d0"),
        (.md5, Array("abcdefghijklmnopqrstuvwxyz".utf8), "c3fcd3d76192e4007dfb496cca67e13b"),
        (.md5, Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8),
         "d174ab98d277d9f5a5611c2c9f419d9f"),
        (.md5, Array(String(repeating: "1234567890", count: 8).utf8), "57edf4a22be3c955ac49da2e2107b67a"),
        (.md5, millionA, "7707d6ae4e027c70eea2a935c2296f21"),
    ]

    func testDigesterKnownAnswers() {
        for (algorithm, message, expected) in Self.knownAnswers {
            XCTAssertEqual(Hex.encode(Digester.digest(algorithm, message)), expected,
                           "\(algorithm) of \(message.count) bytes")
        }
    }

    func testDigesterIncrementalUpdatesAndReset() {
        let digester = Digester(.sha256)
        // Feed one million 'a' in uneven pieces, including empty ones, so block boundaries fall anywhere.
        var offset = 0
        var step = 1
        while offset < Self.millionA.count {
            let end = min(offset + step, Self.millionA.count)
            digester.update(Array(Self.millionA[offset..<end]))
            digester.update([])
            offset = end
            step = step * 3 % 9973 + 1
        }
        XCTAssertEqual(Hex.encode(digester.finalize()),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        digester.reset()
        digester.update(Array("abc".utf8))
        XCTAssertEqual(Hex.encode(digester.finalize()),
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func testPipelineKnownAnswersAcrossChunkBoundaries() throws {
        for (algorithm, message, expected) in Self.knownAnswers {
            for readers in [1, 3] {
                let pipeline = ChunkPipeline(chunkSize: 64 << 10, linearDigests: [algorithm], computeTree: false,
                                             readers: readers, slotCount: 4)
                let result = try pipeline.run(MemoryChunkReader(message))
                XCTAssertEqual(result.digests[algorithm].map { Hex.encode($0) }, expected,
                               "\(algorithm) of \(message.count) bytes, \(readers) readers")
                XCTAssertEqual(result.size, UInt64(message.count))
                XCTAssertNil(result.treeRoot)
            }
        }
    }

    func testPipelineAllDigestsInOnePass() throws {
        let pipeline = ChunkPipeline(chunkSize: 64 << 10, linearDigests: DigestAlgorithm.allCases)
        let result = try pipeline.run(MemoryChunkReader(Self.millionA))
        for (algorithm, message, expected) in Self.knownAnswers where message.count == Self.millionA.count {
            XCTAssertEqual(result.digests[algorithm].map { Hex.encode($0) }, expected, "\(algorithm)")
        }
        XCTAssertEqual(result.treeRoot, Hash32(naiveTreeDigest(Self.millionA, chunkSize: 64 << 10)))
        XCTAssertEqual(result.chunkCount, 16)
    }

    // MARK: - Tree digest (RFC 6962) against a naive recursive computation

    func testSplitPoint() {
        let expected: [UInt64: UInt64] = [2: 1, 3: 2, 4: 2, 5: 4, 8: 4, 9: 8, 16: 8, 17: 16, 1 << 40: 1 << 39]
        for (n, k) in expected { XCTAssertEqual(Merkle.splitPoint(n), k, "n = \(n)") }
    }

    func testEmptyRootIsSHA256OfNothing() {
        XCTAssertEqual(Merkle.emptyRoot.hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(MerkleAccumulator().root, Merkle.emptyRoot)
    }

    func testLeafAndNodeHashPrefixes() {
        let data: [UInt8] = [1, 2, 3]
        XCTAssertEqual(Merkle.leafHash(data).bytes, Digester.digest(.sha256, [0] + data))
        let left = Merkle.leafHash([1]), right = Merkle.leafHash([2])
        XCTAssertEqual(Merkle.nodeHash(left, right).bytes, Digester.digest(.sha256, [1] + left.bytes + right.bytes))
    }

    func testAccumulatorMatchesNaiveForZeroToSeventyLeaves() {
        let leaves = (0..<70).map { Merkle.leafHash([UInt8(truncatingIfNeeded: $0), 0x5a]) }
        var accumulator = MerkleAccumulator()
        for n in 0...70 {
            if n > 0 { accumulator.append(leaves[n - 1]) }
            let expected = naiveRoot(leaves[0..<n].map(\.bytes))
            XCTAssertEqual(accumulator.root.bytes, expected, "n = \(n)")
            XCTAssertEqual(accumulator.count, UInt64(n))
            XCTAssertEqual(Merkle.root(leaves: leaves[0..<n]).bytes, expected, "Merkle.root, n = \(n)")
        }
    }

    func testTreeDigestSizes() throws {
        let chunk = 64 << 10
        let sizes = [0, 1, chunk - 1, chunk, chunk + 1, 2 * chunk, 5 * chunk + 12_345, 13 * chunk, 17 * chunk + 1]
        for size in sizes {
            let data = pseudoRandomBytes(size, seed: UInt64(size))
            let expected = naiveTreeDigest(data, chunkSize: chunk)
            for readers in [1, 3] {
                let pipeline = ChunkPipeline(chunkSize: chunk, linearDigests: [.sha256], keepLeaves: true,
                                             readers: readers, slotCount: 3)
                let result = try pipeline.run(MemoryChunkReader(data))
                XCTAssertEqual(result.treeRoot?.bytes, expected, "size \(size), \(readers) readers")
                XCTAssertEqual(result.size, UInt64(size))
                XCTAssertEqual(result.chunkCount, UInt64((size + chunk - 1) / chunk), "size \(size)")
                XCTAssertEqual(result.leaves.map(\.bytes), naiveLeaves(data, chunkSize: chunk).map(\.bytes))
                XCTAssertEqual(result.digests[.sha256], Digester.digest(.sha256, data))
            }
        }
    }

    func testTreeDigestOfFilesThroughInputHasher() throws {
        let directory = try TestSupport.temporaryDirectory(self).path
        let chunk = 64 << 10
        for size in [0, 1, chunk, chunk + 1, 9 * chunk + 7] {
            let data = pseudoRandomBytes(size, seed: 99 + UInt64(size))
            let path = directory + "/f\(size)"
            try Data(data).write(to: URL(fileURLWithPath: path))
            let pipeline = ChunkPipeline(chunkSize: chunk, linearDigests: [.md5, .sha1, .sha256, .sha512],
                                         readers: 2)
            let digests = try InputHasher.hash(HashInput(path: path, kind: .regularFile), pipeline: pipeline)
            XCTAssertEqual(digests.tree?.bytes, naiveTreeDigest(data, chunkSize: chunk), "size \(size)")
            XCTAssertEqual(digests.size, UInt64(size))
            XCTAssertEqual(digests.chunkSize, chunk)
            for algorithm in DigestAlgorithm.allCases {
                XCTAssertEqual(digests.digests[algorithm], Digester.digest(algorithm, data), "\(algorithm)")
            }
        }
    }

    /// The eight leaf inputs behind the transparency-dev vectors, and every root those vectors state.
    func testMerkleRootsOfSharedVectors() throws {
        let folder = try TestSupport.vectors("merkle")
        let inputs: [[UInt8]] = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                 "606162636465666768696a6b6c6d6e6f"].map { Hex.decode($0)! }
        let leaves = inputs.map { Merkle.leafHash($0) }
        var checked = Set<Int>()
        func check(size: Int, root: String, in file: String) throws {
            guard (1...8).contains(size) else { return }
            let expected = try XCTUnwrap(Data(base64Encoded: root), file)
            XCTAssertEqual(Merkle.root(leaves: leaves[0..<size]).bytes, Array(expected), "size \(size) in \(file)")
            checked.insert(size)
        }
        for kind in ["inclusion", "consistency"] {
            for group in 0...4 {
                let url = folder.appendingPathComponent("\(kind)/\(group)/happy-path.json")
                guard FileManager.default.fileExists(atPath: url.path) else { continue }
                let object = try XCTUnwrap(
                    JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any], url.path)
                XCTAssertEqual(object["wantErr"] as? Bool, false, url.path)
                if kind == "inclusion", let size = object["treeSize"] as? Int, let root = object["root"] as? String,
                   let index = object["leafIdx"] as? Int, let leafHash = object["leafHash"] as? String {
                    try check(size: size, root: root, in: url.path)
                    XCTAssertEqual(Data(base64Encoded: leafHash).map(Array.init), leaves[index].bytes, url.path)
                }
                for suffix in ["1", "2"] {
                    if let size = object["size" + suffix] as? Int, let root = object["root" + suffix] as? String {
                        try check(size: size, root: root, in: url.path)
                    }
                }
            }
        }
        XCTAssertTrue(checked.contains(8), "the vectors state no root for the 8-leaf tree")
        XCTAssertGreaterThanOrEqual(checked.count, 4, "roots checked for sizes \(checked.sorted())")
        // The 8-leaf root as RFC 6962 implementations publish it.
        XCTAssertEqual(Merkle.root(leaves: leaves).hex,
                       "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
    }

    // MARK: - Pipeline behaviour

    func testSeveralReadersGiveTheSameResultAsOne() throws {
        let chunk = 64 << 10
        let data = pseudoRandomBytes(23 * chunk + 4_321, seed: 7)
        var results: [PipelineResult] = []
        for (readers, slots) in [(1, 3), (3, 3), (3, 8), (5, 4)] {
            let pipeline = ChunkPipeline(chunkSize: chunk, linearDigests: DigestAlgorithm.allCases, keepLeaves: true,
                                         readers: readers, slotCount: slots)
            results.append(try pipeline.run(MemoryChunkReader(data)))
        }
        for result in results.dropFirst() {
            XCTAssertEqual(result.treeRoot, results[0].treeRoot)
            XCTAssertEqual(result.leaves, results[0].leaves)
            XCTAssertEqual(result.digests, results[0].digests)
            XCTAssertEqual(result.size, results[0].size)
            XCTAssertEqual(result.chunkCount, results[0].chunkCount)
        }
        XCTAssertEqual(results[0].treeRoot?.bytes, naiveTreeDigest(data, chunkSize: chunk))
    }

    func testStagesSeeEveryChunkAndOrderedStageRunsInOrder() throws {
        let chunk = 64 << 10
        let data = pseudoRandomBytes(11 * chunk + 3, seed: 11)
        let seen = Mutex<[(UInt64, UInt64, [UInt8])]>([])
        let pipeline = ChunkPipeline(chunkSize: chunk, linearDigests: [], readers: 3, slotCount: 4)
        let result = try pipeline.run(MemoryChunkReader(data), parallel: { chunk in
            Digester.digest(.sha256, Array(chunk.bytes))
        }, ordered: { chunk, digest in
            seen.withLock { $0.append((chunk.index, chunk.offset, digest)) }
        })
        let calls = seen.withLock { $0 }
        XCTAssertEqual(calls.map(\.0), Array(0..<12))
        XCTAssertEqual(calls.map(\.1), (0..<12).map { UInt64($0 * chunk) })
        for (index, _, digest) in calls {
            let start = Int(index) * chunk
            XCTAssertEqual(digest, Digester.digest(.sha256, Array(data[start..<min(start + chunk, data.count)])))
        }
        XCTAssertEqual(result.treeRoot?.bytes, naiveTreeDigest(data, chunkSize: chunk))
    }

    func testReaderFaultIsRethrownWithoutHanging() throws {
        let chunk = 64 << 10
        let data = pseudoRandomBytes(20 * chunk, seed: 3)
        for failAt in [0, 1, chunk, 7 * chunk + 5, 19 * chunk] {
            for (readers, positional) in [(1, false), (1, true), (3, true), (8, true)] {
                let reader = FaultyReader(bytes: data, failAt: UInt64(failAt), supportsPositionalReads: positional)
                let pipeline = ChunkPipeline(chunkSize: chunk, linearDigests: [.sha256, .md5], readers: readers,
                                             slotCount: 3)
                let outcome = try runWithTimeout { try pipeline.run(reader) }
                guard case .failure(let error) = outcome else {
                    XCTFail("no error for a fault at \(failAt) with \(readers) readers")
                    continue
                }
                XCTAssertEqual(error as? InjectedFault, InjectedFault(offset: UInt64(failAt / chunk * chunk)),
                               "fault at \(failAt), \(readers) readers")
            }
        }
    }

    func testStageFaultsAreRethrown() throws {
        let chunk = 64 << 10
        let data = pseudoRandomBytes(9 * chunk, seed: 5)
        for failing in [0, 4, 8] {
            let pipeline = ChunkPipeline(chunkSize: chunk, linearDigests: [.sha1], readers: 2, slotCount: 3)
            let parallelOutcome = try runWithTimeout {
                try pipeline.run(MemoryChunkReader(data), parallel: { chunk in
                    if chunk.index == failing { throw InjectedFault(offset: chunk.offset) }
                    return chunk.index
                }, ordered: nil)
            }
            guard case .failure(let parallelError) = parallelOutcome else {
                return XCTFail("parallel stage fault in chunk \(failing) not rethrown")
            }
            XCTAssertEqual(parallelError as? InjectedFault, InjectedFault(offset: UInt64(failing * chunk)))
            let orderedOutcome = try runWithTimeout {
                try pipeline.run(MemoryChunkReader(data), parallel: { $0.index }, ordered: { chunk, _ in
                    if chunk.index == failing { throw InjectedFault(offset: chunk.offset) }
                })
            }
            guard case .failure(let orderedError) = orderedOutcome else {
                return XCTFail("ordered stage fault in chunk \(failing) not rethrown")
            }
            XCTAssertEqual(orderedError as? InjectedFault, InjectedFault(offset: UInt64(failing * chunk)))
        }
    }

    func testShouldStopInterrupts() throws {
        var pipeline = ChunkPipeline(chunkSize: 64 << 10, linearDigests: [.sha256], slotCount: 3)
        let calls = Mutex(0)
        pipeline.shouldStop = { calls.withLock { $0 += 1; return $0 > 2 } }
        let configured = pipeline
        let input = MemoryChunkReader(pseudoRandomBytes(1 << 20, seed: 1))
        let outcome = try runWithTimeout { try configured.run(input) }
        guard case .failure(let error) = outcome else { return XCTFail("not interrupted") }
        XCTAssertEqual(error as? IOError, .interrupted)
    }

    func testProgressReportsRunningTotals() throws {
        var pipeline = ChunkPipeline(chunkSize: 64 << 10, linearDigests: [], readers: 2, slotCount: 3)
        let totals = Mutex<[UInt64]>([])
        pipeline.progress = { total in totals.withLock { $0.append(total) } }
        _ = try pipeline.run(MemoryChunkReader(pseudoRandomBytes(3 * (64 << 10) + 10, seed: 2)))
        let reported = totals.withLock { $0 }
        XCTAssertEqual(reported.last, UInt64(3 * (64 << 10) + 10))
        XCTAssertEqual(reported, reported.sorted())
    }

    // MARK: - InputHasher errors

    /// Hashes a file of `chunks` 64 KiB chunks named `name` while `change` alters it once the first chunk is read
    /// (the pipeline's progress hook, called on the reading thread between reads when there is one reader, so the
    /// outcome is deterministic); returns the error the hash throws.
    private func errorHashingWhileChanging(_ name: String, chunks: Int, seed: UInt64, linear: [DigestAlgorithm],
                                           change: @escaping @Sendable (String, Int) -> Void) throws -> Error? {
        let path = try TestSupport.temporaryDirectory(self).path + "/" + name
        let chunk = 64 << 10
        try Data(pseudoRandomBytes(chunks * chunk, seed: seed)).write(to: URL(fileURLWithPath: path))
        var pipeline = ChunkPipeline(chunkSize: chunk, linearDigests: linear, readers: 1, slotCount: 3)
        pipeline.progress = { done in
            if done == UInt64(chunk) { change(path, chunk) }
        }
        do {
            _ = try InputHasher.hash(HashInput(path: path, kind: .regularFile), pipeline: pipeline)
            return nil
        } catch {
            return error
        }
    }

    /// A file that grows while it is read is reported with its size at the start.
    func testFileThatGrowsWhileReadIsReported() throws {
        let error = try errorHashingWhileChanging("growing", chunks: 3, seed: 8, linear: [.sha256]) { path, _ in
            let handle = FileHandle(forWritingAtPath: path)!
            handle.seekToEndOfFile()
            handle.write(Data("appended".utf8))
            try? handle.close()
        }
        guard case .changedSize(let path, let change, .hash)? = error as? EngineError else {
            return XCTFail("\(String(describing: error))")
        }
        XCTAssertTrue(path.hasSuffix("/growing"))
        XCTAssertEqual(change.atStart, UInt64(3 * (64 << 10)))
        XCTAssertTrue("\(error!)".hasPrefix(path + ": changed size while being read"), "\(error!)")
    }

    func testFileThatShrinksWhileReadIsReported() throws {
        let error = try errorHashingWhileChanging("shrinking", chunks: 4, seed: 9, linear: [.md5]) { path, chunk in
            _ = truncate(path, off_t(chunk + 100))
        }
        // Reported by the size check or, when the file is mapped, by the mapping that lost its pages.
        let message = "\(try XCTUnwrap(error))"
        XCTAssertTrue(message.contains("changed size while being read"), message)
        XCTAssertTrue(message.contains("/shrinking"), message)
    }

    /// A mapped file that shrinks under the mapping: the lost pages read as zeros (no SIGBUS ends the process)
    /// and the region reports the damage, until and when it is unmapped.
    func testMappedRegionSurvivesTheFileShrinking() throws {
        let directory = try TestSupport.temporaryDirectory(self).path
        let path = directory + "/mapped"
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        try Data(repeating: 0xA5, count: 4 * page).write(to: URL(fileURLWithPath: path))
        let descriptor = try FileDescriptor.openForReading(path)
        defer { descriptor.close() }

        let intact = try MappedRegion.map(descriptor, offset: UInt64(page), count: 2 * page)
        XCTAssertEqual(intact.bytes.reduce(0) { $0 + Int($1) }, 2 * page * 0xA5)
        XCTAssertFalse(intact.isDamaged)
        XCTAssertFalse(intact.unmap())
        XCTAssertFalse(intact.unmap(), "a second unmap is harmless")

        let region = try MappedRegion.map(descriptor, offset: 0, count: 4 * page)
        XCTAssertEqual(truncate(path, off_t(page + 10)), 0)
        XCTAssertEqual(region.bytes[0], 0xA5)
        XCTAssertEqual(region.bytes[page + 9], 0xA5)
        XCTAssertEqual(region.bytes[page + 10], 0, "past the new end of file, within its last page")
        XCTAssertFalse(region.isDamaged, "the last page still exists")
        XCTAssertEqual(region.bytes[2 * page..<4 * page].reduce(0) { $0 + Int($1) }, 0)
        XCTAssertTrue(region.isDamaged)
        XCTAssertTrue(region.damageError.description.hasPrefix(path + ": changed size while being read"))
        XCTAssertTrue(region.unmap())
    }

    /// A sparse file: chunks that lie wholly in holes are lent as zeros (no mapping, no page cache), chunks with
    /// data are mapped, and the digests are those of the same bytes read from memory.
    func testHolesOfASparseFileAreLentAsZerosWithTheSameDigests() throws {
        let directory = try TestSupport.temporaryDirectory(self).path
        let path = directory + "/sparse"
        let chunk = 64 << 10
        let descriptor = try FileDescriptor.open(path, O_RDWR | O_CREAT | O_TRUNC)
        defer { descriptor.close() }
        try descriptor.truncate(to: UInt64(8 * chunk + 1000))
        let data = pseudoRandomBytes(3000, seed: 21)
        try data.withUnsafeBytes { try descriptor.writeAll($0, at: UInt64(2 * chunk + 5000)) }
        try data.withUnsafeBytes { try descriptor.writeAll($0, at: UInt64(5 * chunk)) }
        try descriptor.sync()
        guard let next = try? descriptor.nextData(from: 0), next >= UInt64(chunk) else {
            throw XCTSkip("the file system of \(directory) does not report holes (SEEK_DATA)")
        }

        let reader = FileChunkReader(descriptor: descriptor, size: UInt64(8 * chunk + 1000))
        let hole = try XCTUnwrap(reader.borrow(at: 0, count: chunk))
        XCTAssertTrue(hole.isHole)
        XCTAssertFalse(hole.isDamaged)
        XCTAssertTrue(Merkle.isAllZero(hole.bytes))
        let mapped = try XCTUnwrap(reader.borrow(at: UInt64(2 * chunk), count: chunk))
        XCTAssertFalse(mapped.isHole)
        XCTAssertEqual(Array(mapped.bytes[5000..<8000]), data)
        mapped.unmap()
        XCTAssertTrue(try XCTUnwrap(reader.borrow(at: UInt64(8 * chunk), count: 1000)).isHole, "a hole at the end")

        let bytes = try FileSystem.readFile(path)
        let pipeline = ChunkPipeline(chunkSize: chunk, linearDigests: [.sha256, .md5], keepLeaves: true)
        let expected = try pipeline.run(MemoryChunkReader(bytes))
        let got = try InputHasher.hash(HashInput(path: path, kind: .regularFile), pipeline: pipeline)
        XCTAssertEqual(got.tree, expected.treeRoot)
        XCTAssertEqual(got.digests[.sha256], expected.digests[.sha256])
        XCTAssertEqual(got.digests[.md5], expected.digests[.md5])
        XCTAssertEqual(got.leaves, expected.leaves)
    }

    /// Chunks of a mapped file are lent from shared windows of several chunks (one mapping for all of them, so
    /// consecutive chunks lie next to each other in memory), windows stop before holes, and the pipeline gives the
    /// digests of the same bytes read from memory with one reader or several.
    func testChunksAreLentFromSharedWindowsThatStopAtHoles() throws {
        let directory = try TestSupport.temporaryDirectory(self).path
        let path = directory + "/windows"
        let chunk = 64 << 10
        let descriptor = try FileDescriptor.open(path, O_RDWR | O_CREAT | O_TRUNC)
        defer { descriptor.close() }
        let data = pseudoRandomBytes(300 * chunk + 777, seed: 5)
        // Data, a gap of 20 chunks never written (a hole where the file system reports them), data again.
        try data.withUnsafeBytes {
            try descriptor.writeAll(UnsafeRawBufferPointer(rebasing: $0[0..<(140 * chunk)]), at: 0)
        }
        try data.withUnsafeBytes {
            try descriptor.writeAll(UnsafeRawBufferPointer(rebasing: $0[(160 * chunk)...]), at: UInt64(160 * chunk))
        }
        try descriptor.sync()
        let bytes = try FileSystem.readFile(path, limit: 1 << 30)
        let reader = FileChunkReader(descriptor: descriptor, size: UInt64(bytes.count))
        let first = try XCTUnwrap(reader.borrow(at: 0, count: chunk))
        let second = try XCTUnwrap(reader.borrow(at: UInt64(chunk), count: chunk))
        XCTAssertEqual(second.bytes.baseAddress, first.bytes.baseAddress! + chunk, "one mapping for both chunks")
        XCTAssertEqual(Array(second.bytes), Array(bytes[chunk..<(2 * chunk)]))
        first.unmap()
        XCTAssertEqual(Array(second.bytes.prefix(100)), Array(bytes[chunk..<(chunk + 100)]),
                       "the window stays mapped while a chunk of it is lent")
        second.unmap()
        if let next = try? descriptor.nextData(from: UInt64(140 * chunk)), next >= UInt64(160 * chunk) {
            let hole = try XCTUnwrap(reader.borrow(at: UInt64(150 * chunk), count: chunk))
            XCTAssertTrue(hole.isHole)
            let before = try XCTUnwrap(reader.borrow(at: UInt64(139 * chunk), count: chunk))
            XCTAssertFalse(before.isHole)
            XCTAssertEqual(Array(before.bytes), Array(bytes[(139 * chunk)..<(140 * chunk)]))
        }
        for readers in [1, 3] {
            let pipeline = ChunkPipeline(chunkSize: chunk, linearDigests: [.sha256], keepLeaves: true,
                                         readers: readers)
            let expected = try pipeline.run(MemoryChunkReader(bytes))
            let got = try InputHasher.hash(HashInput(path: path, kind: .regularFile), pipeline: pipeline)
            XCTAssertEqual(got.leaves, expected.leaves, "\(readers) reader(s)")
            XCTAssertEqual(got.digests[.sha256], expected.digests[.sha256], "\(readers) reader(s)")
        }
    }

    /// Every byte string survives the trip through a Swift string and back; valid UTF-8 is left as it is; the
    /// escape code points of a name that holds them itself are escaped byte by byte.
    func testRawNamesRoundTripEveryByteString() throws {
        var cases: [[UInt8]] = [
            Array("plain.txt".utf8), Array("caf\u{e9}.txt".utf8), [0x63, 0x61, 0x66, 0xE9], [0xFF], [0xC3, 0x28],
            [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xC0, 0xAF], [0xF4, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBE, 0xA9],
            Array("\u{10FFE9}".utf8),
        ]
        for seed in 1...200 { cases.append(pseudoRandomBytes(seed % 17 + 1, seed: UInt64(seed))) }
        for bytes in cases {
            let name = RawName.decode(bytes)
            XCTAssertEqual(RawName.encode(name), bytes, "\(bytes)")
            if let valid = String(validating: bytes, as: UTF8.self), !valid.unicodeScalars.contains(where: {
                RawName.escapedByte($0) != nil
            }) {
                XCTAssertEqual(name, valid)
                XCTAssertFalse(RawName.hasEscapes(name))
            } else {
                XCTAssertTrue(RawName.hasEscapes(name), "\(bytes)")
            }
        }
        XCTAssertEqual(RawName.decode([0x63, 0xE9]).unicodeScalars.map(\.value), [0x63, 0x10FFE9])
        let json = JSONValue.object(["path": .string(RawName.decode([0x61, 0xE9]))]).canonicalString
        XCTAssertEqual(json, #"{"path":"a\udce9"}"#)
        let parsed = try JSONValue.parse(json)
        XCTAssertEqual(parsed["path"]?.stringValue.map(RawName.encode), [0x61, 0xE9])
        XCTAssertEqual(parsed.canonicalString, json)
        XCTAssertThrowsError(try JSONValue.parse(#"{"path":"a\udc41"}"#), "other lone surrogates stay refused")
    }

    func testReadErrorNamesPathAndSystemReason() throws {
        let directory = try TestSupport.temporaryDirectory(self).path
        // Reading a directory's descriptor fails with EISDIR: a real read error even for root.
        let pipeline = ChunkPipeline(chunkSize: 64 << 10, linearDigests: [.sha256])
        let descriptor = try FileDescriptor.openForReading(directory)
        defer { descriptor.close() }
        XCTAssertThrowsError(try pipeline.run(FileChunkReader(descriptor: descriptor, size: nil))) {
            let error = $0 as? SystemError
            XCTAssertEqual(error?.code, EISDIR)
            XCTAssertEqual(error?.path, directory)
            XCTAssertTrue("\($0)".hasPrefix(directory + ": read"), "\($0)")
            XCTAssertTrue("\($0)".hasSuffix(String(cString: strerror(EISDIR))), "\($0)")
        }
        // The one opener of evidence refuses a directory before reading it.
        XCTAssertThrowsError(try InputHasher.hash(HashInput(path: directory, kind: .regularFile),
                                                  pipeline: pipeline)) {
            XCTAssertEqual($0 as? IOError, .isDirectory(path: directory))
        }
        XCTAssertThrowsError(try InputHasher.hash(HashInput(path: directory + "/gone", kind: .regularFile),
                                                  pipeline: pipeline)) {
            XCTAssertEqual(($0 as? SystemError)?.code, ENOENT)
            XCTAssertEqual("\($0)", "\(directory)/gone: open: \(String(cString: strerror(ENOENT)))")
        }
    }

    func testEnumerateReportsProblemsAndKeepsGoing() throws {
        let directory = try TestSupport.temporaryDirectory(self).path
        try Data("x".utf8).write(to: URL(fileURLWithPath: directory + "/b"))
        try FileManager.default.createDirectory(atPath: directory + "/d/e", withIntermediateDirectories: true)
        try Data("y".utf8).write(to: URL(fileURLWithPath: directory + "/d/e/a"))
        try Data("z".utf8).write(to: URL(fileURLWithPath: directory + "/d/B"))
        try FileManager.default.createSymbolicLink(atPath: directory + "/d/link", withDestinationPath: "../b")
        XCTAssertEqual(mkfifo(directory + "/d/fifo", 0o600), 0)
        var notes: [(String, Bool)] = []
        let inputs = InputHasher.enumerate([directory + "/missing", directory + "/b", directory + "/d"],
                                           recursive: true, followSymlinks: false) { notes.append(($0, $1)) }
        XCTAssertEqual(inputs.map(\.path), [directory + "/b", directory + "/d/B", directory + "/d/e/a"])
        XCTAssertEqual(notes.filter(\.1).count, 1)
        XCTAssertTrue(notes.contains { $0.1 && $0.0.hasPrefix(directory + "/missing: ") })
        XCTAssertTrue(notes.contains { !$0.1 && $0.0.contains("/d/link") && $0.0.contains("symbolic link") })
        XCTAssertTrue(notes.contains { !$0.1 && $0.0.contains("/d/fifo") && $0.0.contains("special file") })

        notes = []
        let followed = InputHasher.enumerate([directory + "/d"], recursive: true, followSymlinks: true) {
            notes.append(($0, $1))
        }
        XCTAssertEqual(followed.map(\.path), [directory + "/d/B", directory + "/d/e/a", directory + "/d/link"])

        notes = []
        XCTAssertEqual(InputHasher.enumerate([directory + "/d"], recursive: false, followSymlinks: false) {
            notes.append(($0, $1))
        }, [])
        XCTAssertEqual(notes.count, 1)
        XCTAssertEqual(notes.first?.1, true)
        XCTAssertTrue(notes.first?.0.contains("is a directory") == true)
    }

    // MARK: - Helpers

    /// The RFC 6962 tree hash of chunks of `data`, computed recursively from the definition.
    func naiveTreeDigest(_ data: [UInt8], chunkSize: Int) -> [UInt8] {
        naiveRoot(naiveLeaves(data, chunkSize: chunkSize).map(\.bytes))
    }

    func naiveLeaves(_ data: [UInt8], chunkSize: Int) -> [Hash32] {
        stride(from: 0, to: data.count, by: chunkSize).map { start in
            Hash32(Digester.digest(.sha256, [0] + data[start..<min(start + chunkSize, data.count)]))!
        }
    }

    /// MTH over leaf hashes: the empty hash, the leaf itself, or a node over the split at the largest power of
    /// two strictly below n.
    func naiveRoot(_ leafHashes: [[UInt8]]) -> [UInt8] {
        switch leafHashes.count {
        case 0: return Digester.digest(.sha256, [])
        case 1: return leafHashes[0]
        default:
            var k = 1
            while k * 2 < leafHashes.count { k *= 2 }
            return Digester.digest(.sha256, [1] + naiveRoot(Array(leafHashes[..<k]))
                + naiveRoot(Array(leafHashes[k...])))
        }
    }

    /// Runs `body` on another thread and fails (rather than hanging the suite) if it does not return in time.
    func runWithTimeout<T: Sendable>(_ seconds: Double = 60, _ body: @escaping @Sendable () throws -> T) throws
        -> Result<T, Error> {
        let box = Mutex<Result<T, Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let outcome = Result { try body() }
            box.withLock { $0 = outcome }
            done.signal()
        }
        guard done.wait(timeout: .now() + seconds) == .success, let outcome = box.withLock({ $0 }) else {
            throw PipelineHang(seconds: seconds)
        }
        return outcome
    }
}

/// Thrown (failing the test) when a pipeline run does not return in time.
struct PipelineHang: Error, CustomStringConvertible {
    var seconds: Double
    var description: String { "the pipeline did not return within \(seconds) s" }
}

/// The error a `FaultyReader` throws.
struct InjectedFault: Error, Equatable {
    var offset: UInt64
}

/// Serves `bytes` but throws for the read that would cover byte `failAt`.
struct FaultyReader: ChunkReader {
    let bytes: [UInt8]
    let failAt: UInt64
    let supportsPositionalReads: Bool
    var knownSize: UInt64? { supportsPositionalReads ? UInt64(bytes.count) : nil }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        if offset <= failAt && failAt < offset + UInt64(buffer.count) { throw InjectedFault(offset: offset) }
        return try MemoryChunkReader(bytes).read(into: buffer, at: offset)
    }
}
