import Foundation
import Synchronization
import XCTest
import CustodyKit

/// A sink that counts what reaches it and keeps nothing.
private final class CountingSink: ByteSink, @unchecked Sendable {
    private let lock = NSLock()
    private var total: UInt64 = 0
    var count: UInt64 { lock.withLock { total } }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        lock.withLock { total += UInt64(bytes.count) }
    }
}

/// The work of inflating a payload is tied to what the item declares (SPEC.md 5.9): a payload holding more
/// members than the declared size and chunk count is refused at the first member beyond them.
final class InflateBoundTests: XCTestCase {
    private let chunkSize = 64 << 10

    private func packedZeros(chunks: Int) throws -> (packed: [UInt8], result: PackResult) {
        let sink = MemorySink()
        let packer = EvidencePacker(level: 1, chunkSize: chunkSize, linearDigests: [.sha256])
        let result = try packer.pack(MemoryChunkReader([UInt8](repeating: 0, count: chunks * chunkSize)), to: sink)
        return (sink.bytes, result)
    }

    func testAPayloadLargerThanTheDeclaredSizeStopsAtTheFirstMemberBeyondIt() throws {
        let (packed, result) = try packedZeros(chunks: 64)
        for salvage in [false, true] {
            let sink = CountingSink()
            let read = Mutex<UInt64>(0)
            var unpacker = EvidenceUnpacker(expected: UnpackExpectation(treeRoot: result.treeRoot, size: 15,
                                                                        chunkSize: chunkSize),
                                            salvage: salvage, linearDigests: [.sha256])
            unpacker.progress = { done in read.withLock { $0 = done } }
            let unpacked = try unpacker.unpack(MemorySource(packed), to: sink)
            XCTAssertFalse(unpacked.verified)
            XCTAssertLessThanOrEqual(sink.count, UInt64(chunkSize), "inflated past the one declared chunk")
            XCTAssertLessThan(read.withLock { $0 }, UInt64(packed.count) / 8, "read on past the declared chunk")
            let text = unpacked.problems.joined(separator: "\n")
            XCTAssertTrue(text.contains("chunk 1 (packed byte"), text)
            XCTAssertTrue(text.contains("beyond the declared 15 bytes (1 chunk"), text)
        }
    }

    func testAMemberOfAnotherChunkSizeThanDeclaredStopsAtTheFirstMember() throws {
        let (packed, result) = try packedZeros(chunks: 4)
        let sink = CountingSink()
        let unpacked = try EvidenceUnpacker(expected: UnpackExpectation(treeRoot: result.treeRoot, size: result.size,
                                                                        chunkSize: 1 << 20),
                                            salvage: true).unpack(MemorySource(packed), to: sink)
        XCTAssertFalse(unpacked.verified)
        XCTAssertEqual(sink.count, 0)
        XCTAssertTrue(unpacked.problems.contains { $0.contains("chunk size 65536") && $0.contains("1048576") },
                      "\(unpacked.problems)")
    }

    func testVerifyStopsAtTheFirstMemberBeyondAForgedItemSize() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bound-\(UUID().uuidString)").path
        try FileSystem.createDirectory(directory)
        defer { FileSystem.removeTree(directory) }
        let (key, ledger) = try makeKeyAndLedger(at: directory + "/ledger")
        let input = directory + "/zeros.img"
        try FileSystem.writeAtomically(input, [UInt8](repeating: 0, count: 32 * chunkSize))
        var options = SealOptions()
        options.chunkSize = chunkSize
        let bundle = directory + "/bundle"
        _ = try BundleSealer.seal(paths: [input], out: bundle, ledger: ledger, key: key, options: options)
        let items = bundle + "/" + BundleLayout.items
        let text = String(decoding: try FileSystem.readFile(items), as: UTF8.self)
        XCTAssertTrue(text.contains("\"size\":\(32 * chunkSize)"))
        try FileSystem.writeAtomically(items, Array(text.replacingOccurrences(of: "\"size\":\(32 * chunkSize)",
                                                                             with: "\"size\":15").utf8))
        let report = BundleVerifier(root: bundle).verify().report
        let content = report.failures.filter { $0.name == "item 1 content" }.map(\.detail).joined(separator: "\n")
        XCTAssertTrue(content.contains("chunk 1 (packed byte") && content.contains("beyond the declared 15 bytes"),
                      content)
    }

    func testAPayloadOfTheDeclaredSizeStillVerifies() throws {
        let (packed, result) = try packedZeros(chunks: 3)
        let sink = CountingSink()
        let unpacked = try EvidenceUnpacker(expected: UnpackExpectation(treeRoot: result.treeRoot, size: result.size,
                                                                        chunkSize: chunkSize),
                                            salvage: true).unpack(MemorySource(packed), to: sink)
        XCTAssertTrue(unpacked.verified, "\(unpacked.problems) \(unpacked.damaged)")
        XCTAssertEqual(sink.count, result.size)
    }
}
