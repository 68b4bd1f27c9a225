import CustodyKit
import Foundation
import Synchronization
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The small-file engine: the same digests as the chunk pipeline and sha256sum, walk order kept whatever the
/// workers do, the item output fed every byte in order, changes and failures reported, nothing leaked.
final class CollectionHasherTests: TemporaryDirectoryTestCase {
    private func write(_ name: String, _ bytes: [UInt8]) throws {
        let fd = try FileDescriptor.open(directory + "/" + name, O_WRONLY | O_CREAT | O_TRUNC)
        try fd.writeAll(bytes)
        fd.close()
    }

    private func openDescriptorCount() -> Int {
        (try? FileSystem.directoryEntries("/proc/self/fd").count) ?? 0
    }

    private func collect(_ hasher: CollectionHasher, roots: [String]? = nil, output: (any ItemOutput)? = nil)
        throws -> (items: [CollectionItem], summary: CollectionSummary) {
        var items: [CollectionItem] = []
        let summary = try hasher.run(roots: roots ?? [directory], output: output) { item, _ in items.append(item) }
        return (items, summary)
    }

    /// Sizes around the chunk size and the large-file threshold: each file's digests equal the chunk pipeline's
    /// (through `InputHasher`) and sha256sum's.
    func testDigestsMatchThePipelineAndSha256sum() throws {
        let chunk = 64 << 10
        let sizes = [0, 1, 100, chunk - 1, chunk, chunk + 1, 3 * chunk + 5, 300_000, 300_001, 1_000_000]
        for (index, size) in sizes.enumerated() {
            try write("f\(index)", pseudoRandomBytes(size, seed: UInt64(index + 1)))
        }
        let hasher = CollectionHasher(chunkSize: chunk, linearDigests: [.md5, .sha256, .sha512], keepsLeaves: true,
                                      workers: 2, largeFileThreshold: 300_000, window: 4)
        let (items, summary) = try collect(hasher)
        XCTAssertEqual(items.count, sizes.count + 1)
        XCTAssertEqual(summary.filesHashed, UInt64(sizes.count))
        XCTAssertEqual(summary.bytesHashed, UInt64(sizes.reduce(0, +)))
        XCTAssertEqual(summary.problems, 0)
        let pipeline = ChunkPipeline(chunkSize: chunk, linearDigests: [.md5, .sha256, .sha512], keepLeaves: true)
        for item in items.dropFirst() {
            XCTAssertNil(item.problem)
            let digests = try XCTUnwrap(item.digests)
            let expected = try InputHasher.hash(HashInput(path: item.entry.pathString, kind: .regularFile),
                                                pipeline: pipeline)
            XCTAssertEqual(digests, expected, item.entry.pathString)
        }
        let sha256sum = "/usr/bin/sha256sum"
        guard FileManager.default.isExecutableFile(atPath: sha256sum) else { return }
        let run = try TestSupport.run(sha256sum, items.dropFirst().map(\.entry.pathString))
        let peer = String(decoding: run.out, as: UTF8.self).split(separator: "\n").map { String($0.prefix(64)) }
        XCTAssertEqual(peer, items.dropFirst().map { $0.digests!.hex(.digest(.sha256))! })
    }

    func testWalkOrderKeptWithManyFilesAndASmallWindow() throws {
        for index in 0..<4001 {
            try write(String(format: "n%05d", (index * 7919) % 4001), pseudoRandomBytes(index % 3000, seed: 9))
        }
        try FileSystem.createDirectory(directory + "/sub/empty")
        let before = openDescriptorCount()
        let hasher = CollectionHasher(linearDigests: [.sha256], workers: 3, window: 8)
        var tallies: [CollectionTally] = []
        var items: [CollectionItem] = []
        let summary = try hasher.run(roots: [directory]) { item, tally in
            items.append(item)
            tallies.append(tally)
        }
        XCTAssertEqual(openDescriptorCount(), before)
        XCTAssertEqual(items.map(\.sequence), (0..<UInt64(4004)).map { $0 })
        let walked = Array(CollectionWalker(roots: [directory])).map(\.path)
        XCTAssertEqual(items.map(\.entry.path), walked)
        XCTAssertEqual(summary.entries, 4004)
        XCTAssertEqual(summary.filesHashed, 4001)
        XCTAssertTrue(items.allSatisfy { ($0.entry.kind == .regular) == ($0.digests != nil) })
        XCTAssertTrue(items.allSatisfy { $0.entry.openFile == nil })
        XCTAssertEqual(tallies.last?.filesFound, 4001)
        XCTAssertEqual(tallies.map(\.entriesFound), tallies.map(\.entriesFound).sorted())
        // The window bounds how far the walk runs ahead of the consumer.
        XCTAssertLessThanOrEqual(tallies.first!.entriesFound, 8 + 1)
    }

    func testOutputReceivesEveryByteInOrder() throws {
        let small = pseudoRandomBytes(200_000, seed: 3)
        let large = pseudoRandomBytes(700_000, seed: 4)
        try write("large", large)
        try write("small", small)
        try write("zero", [])
        let output = RecordingOutput()
        let hasher = CollectionHasher(chunkSize: 64 << 10, workers: 2, largeFileThreshold: 500_000)
        let (items, _) = try collect(hasher, output: output)
        let files = items.filter { $0.entry.kind == .regular }
        XCTAssertEqual(files.count, 3)
        for item in files {
            let content = try FileSystem.readFile(item.entry.pathString)
            XCTAssertEqual(output.written(item.sequence), content)
            XCTAssertEqual(item.output, ItemOutputResult(storedSize: UInt64(content.count),
                                                         storedDigests: [.sha256: Digester.digest(.sha256, content)]))
        }
        XCTAssertEqual(output.abandoned(), [])
    }

    /// A file written to while it is read: no digests, the change named, the output's work abandoned.
    func testFileChangedDuringTheReadIsReportedAndAbandoned() throws {
        try write("a", pseudoRandomBytes(100_000, seed: 5))
        try write("b", pseudoRandomBytes(10, seed: 6))
        for threshold in [1 << 20, 1_000] {
            let output = RecordingOutput(appendingTo: directory + "/a")
            let hasher = CollectionHasher(chunkSize: 64 << 10, workers: 2, largeFileThreshold: threshold)
            let (items, summary) = try collect(hasher, output: output)
            let changed = try XCTUnwrap(items.first { $0.entry.relativePathString.hasSuffix("/a") })
            XCTAssertNil(changed.digests)
            XCTAssertNil(changed.output)
            XCTAssertEqual(changed.hashError?.hasPrefix("changed while being read ("), true, "\(changed.hashError!)")
            XCTAssertEqual(output.abandoned(), [changed.sequence])
            XCTAssertNotNil(items.first { $0.entry.relativePathString.hasSuffix("/b") }?.digests)
            XCTAssertEqual(summary.problems, 1)
        }
    }

    func testOutputFailureStopsTheRunAndIsThrown() throws {
        for index in 0..<200 { try write("f\(index)", [UInt8(index)]) }
        let before = openDescriptorCount()
        let hasher = CollectionHasher(workers: 2, window: 16)
        XCTAssertThrowsError(try collect(hasher, output: FailingOutput())) { error in
            XCTAssertEqual("\(error)", "disk full (test)")
        }
        XCTAssertEqual(openDescriptorCount(), before)
    }

    func testConsumerFailureIsThrown() throws {
        for index in 0..<100 { try write("f\(index)", [1]) }
        struct Enough: Error {}
        var seen = 0
        XCTAssertThrowsError(try CollectionHasher(workers: 2, window: 8).run(roots: [directory]) { _, _ in
            seen += 1
            if seen == 10 { throw Enough() }
        }) { XCTAssertTrue($0 is Enough) }
        XCTAssertEqual(seen, 10)
    }

    func testStopEndsTheWalkEarly() throws {
        for index in 0..<500 { try write("f\(index)", [1]) }
        let polls = Atomic<Int>(0)
        var items = 0
        let summary = try CollectionHasher(workers: 2, window: 8).run(roots: [directory], shouldStop: {
            polls.add(1, ordering: .relaxed).newValue > 50
        }) { _, _ in items += 1 }
        XCTAssertTrue(summary.interrupted)
        XCTAssertEqual(items, 50)
        XCTAssertEqual(summary.entries, 50)
    }

    func testUnreadableAndSpecialEntriesPassThrough() throws {
        try write("ok", [1, 2])
        XCTAssertEqual(mkfifo(directory + "/pipe", 0o644), 0)
        XCTAssertEqual(symlink("ok", directory + "/link"), 0)
        let (items, summary) = try collect(CollectionHasher(workers: 2), roots: [directory, directory + "/missing"])
        XCTAssertEqual(items.map(\.entry.kind), [.directory, .symlink, .regular, .fifo, .unknown])
        XCTAssertEqual(items.map { $0.digests != nil }, [false, false, true, false, false])
        XCTAssertEqual(items.last?.problem, "stat: No such file or directory")
        XCTAssertEqual(summary.problems, 1)
    }
}

/// Records what each file's writer was given; with `appendingTo`, appends to that file on its first write (a file
/// changing during the read).
private final class RecordingOutput: ItemOutput, @unchecked Sendable {
    private let state = Mutex<(bytes: [UInt64: [UInt8]], abandoned: [UInt64])>(([:], []))
    private let appendPath: String?

    init(appendingTo appendPath: String? = nil) { self.appendPath = appendPath }

    func written(_ sequence: UInt64) -> [UInt8]? { state.withLock { $0.bytes[sequence] } }
    func abandoned() -> [UInt64] { state.withLock { $0.abandoned.sorted() } }

    func begin(_ entry: WalkEntry, sequence: UInt64) throws -> any ItemOutputWriter {
        Writer(owner: self, sequence: sequence, append: entry.pathString == appendPath ? appendPath : nil)
    }

    final class Writer: ItemOutputWriter {
        let owner: RecordingOutput
        let sequence: UInt64
        var append: String?
        var bytes: [UInt8] = []

        init(owner: RecordingOutput, sequence: UInt64, append: String?) {
            self.owner = owner
            self.sequence = sequence
            self.append = append
        }

        func write(_ chunk: UnsafeRawBufferPointer, at offset: UInt64) throws {
            XCTAssertEqual(offset, UInt64(bytes.count))
            bytes.append(contentsOf: chunk)
            if let path = append {
                append = nil
                let fd = try FileDescriptor.open(path, O_WRONLY | O_APPEND)
                try fd.writeAll([1, 2, 3])
                fd.close()
            }
        }

        func finish(size: UInt64) throws -> ItemOutputResult {
            XCTAssertEqual(size, UInt64(bytes.count))
            let bytes = self.bytes
            owner.state.withLock { $0.bytes[sequence] = bytes }
            return ItemOutputResult(storedSize: size, storedDigests: [.sha256: Digester.digest(.sha256, bytes)])
        }

        func abandon() {
            let sequence = self.sequence
            owner.state.withLock { $0.abandoned.append(sequence) }
        }
    }
}

/// An output whose 20th file fails, as a full disk would.
private final class FailingOutput: ItemOutput {
    private let count = Atomic<Int>(0)

    struct DiskFull: Error, CustomStringConvertible {
        var description: String { "disk full (test)" }
    }

    func begin(_ entry: WalkEntry, sequence: UInt64) throws -> any ItemOutputWriter {
        if count.add(1, ordering: .relaxed).newValue == 20 { throw DiskFull() }
        return Sink()
    }

    final class Sink: ItemOutputWriter {
        func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {}
        func finish(size: UInt64) throws -> ItemOutputResult { ItemOutputResult(storedSize: size) }
        func abandon() {}
    }
}
