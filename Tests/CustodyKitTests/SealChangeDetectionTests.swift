import Foundation
import Synchronization
import XCTest
import CustodyKit
#if canImport(Glibc)
import Glibc
#endif

/// A reader that, the first time a read reaches `offset`, rewrites the file at `path` in place with other bytes
/// of the same size (a concurrent writer), then reads on.
private final class RewritingReader: ChunkReader, Sendable {
    let base: ChunkReader
    let path: String
    let offset: UInt64
    let done = Atomic<Bool>(false)

    init(base: ChunkReader, path: String, offset: UInt64) {
        self.base = base
        self.path = path
        self.offset = offset
    }

    var knownSize: UInt64? { base.knownSize }
    var supportsPositionalReads: Bool { base.supportsPositionalReads }

    func read(into buffer: UnsafeMutableRawBufferPointer, at position: UInt64) throws -> Int {
        if position >= offset, !done.exchange(true, ordering: .relaxed) {
            // File timestamps move with the kernel's coarse clock: let it tick before writing.
            usleep(30_000)
            let descriptor = try FileDescriptor.open(path, O_WRONLY)
            defer { descriptor.close() }
            let size = Int(try descriptor.status().st_size)
            try [UInt8](repeating: 0x5a, count: size).withUnsafeBytes { try descriptor.writeAll($0, at: 0) }
        }
        return try base.read(into: buffer, at: position)
    }
}

/// A file rewritten in place while it is sealed, even with the same size, fails the item (SPEC.md 5.8).
final class SealChangeDetectionTests: TemporaryDirectoryTestCase {

    func testAFileRewrittenWithTheSameSizeDuringTheSealFailsTheItem() throws {
        let (key, ledger) = try makeKeyAndLedger(at: directory + "/ledger")
        let input = directory + "/disk.img"
        try FileSystem.writeAtomically(input, (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 13) })
        for compress in [true, false] {
            var options = SealOptions()
            options.chunkSize = 64 << 10
            options.compress = compress
            options.wrapReader = { RewritingReader(base: $0, path: input, offset: 256 << 10) }
            let out = directory + "/bundle-\(compress)"
            XCTAssertThrowsError(try BundleSealer.seal(paths: [input], out: out, ledger: ledger, key: key,
                                                       options: options)) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains(input) && text.contains("changed while being sealed"), text)
                XCTAssertTrue(text.contains("status-change time"), text)
                XCTAssertEqual((error as? any CustodyFailure)?.kind, .operational)
            }
            XCTAssertFalse(FileSystem.exists(out))
            XCTAssertEqual(try ledger.size(), 0, "nothing is recorded for a source that changed")
        }
    }
}
