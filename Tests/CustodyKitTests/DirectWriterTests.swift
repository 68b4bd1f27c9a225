import XCTest
import CustodyKit
#if canImport(Glibc)
import Glibc
#endif

final class DirectWriterTests: XCTestCase {
    /// Runs `body` with a new, empty file open for writing in a fresh temporary directory, and a function that reads
    /// back the bytes the file holds; the descriptor is closed when `body` returns or throws.
    private func withOutputFile(_ body: (FileDescriptor, () throws -> [UInt8]) throws -> Void) throws {
        let path = try TestSupport.temporaryDirectory(self).appendingPathComponent("out").path
        let output = try FileDescriptor.open(path, O_WRONLY | O_CREAT | O_TRUNC)
        defer { output.close() }
        try body(output) { try FileSystem.readFile(path) }
    }

    /// Writes `data` to `writer` in pieces of the given sizes (cycled), flushing every `flushEvery` pieces.
    private func write(_ data: [UInt8], pieces: [Int], to writer: DirectWriter, flushEvery: Int? = nil) throws {
        var offset = 0, piece = 0
        while offset < data.count {
            let count = min(pieces[piece % pieces.count], data.count - offset)
            try data.withUnsafeBytes {
                try writer.write(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + count)]))
            }
            offset += count
            piece += 1
            if let flushEvery, piece % flushEvery == 0 { try writer.flush() }
        }
    }

    func testAlignedStartOddPiecesGiveTheSameBytes() throws {
        try withOutputFile { output, written in
            let data = pseudoRandomBytes(3 * 65536 + 777, seed: 7)
            let writer = DirectWriter(output, at: 0, bufferSize: 16384)
            try write(data, pieces: [1, 4095, 4097, 10000, 3, 65536], to: writer)
            XCTAssertEqual(writer.position, UInt64(data.count))
            try writer.finish()
            XCTAssertEqual(try written(), data)
            XCTAssertEqual(try output.seek(to: 0, whence: SEEK_CUR), UInt64(data.count), "file offset left at the end")
        }
    }

    func testUnalignedStartKeepsWhatWasWrittenBefore() throws {
        try withOutputFile { output, written in
            let header = Array("age-encryption.org/v1\n-> X25519 something\n--- mac\n".utf8)
            try output.writeAll(header)
            let data = pseudoRandomBytes(100_000, seed: 8)
            let writer = DirectWriter(output, at: UInt64(header.count), bufferSize: 8192)
            XCTAssertFalse(writer.isDirect, "direct I/O starts only at the first aligned block")
            try write(data, pieces: [100, 5000, 9000], to: writer)
            try writer.finish()
            XCTAssertEqual(try written(), header + data)
        }
    }

    func testFlushPutsEveryByteInTheFileAndWritingGoesOn() throws {
        try withOutputFile { output, written in
            let data = pseudoRandomBytes(200_000, seed: 9)
            let writer = DirectWriter(output, at: 0, bufferSize: 8192)
            let half = 77_777
            try data.withUnsafeBytes { try writer.write(UnsafeRawBufferPointer(rebasing: $0[0..<half])) }
            try writer.flush()
            XCTAssertEqual(try written(), Array(data[0..<half]), "flushed bytes are in the file")
            try data.withUnsafeBytes { try writer.write(UnsafeRawBufferPointer(rebasing: $0[half...])) }
            try writer.finish()
            XCTAssertEqual(try written(), data)
        }
    }

    func testFrequentFlushesBetweenSmallWrites() throws {
        try withOutputFile { output, written in
            let data = pseudoRandomBytes(50_000, seed: 10)
            let writer = DirectWriter(output, at: 0, bufferSize: 4096)
            try write(data, pieces: [333, 4096, 1], to: writer, flushEvery: 2)
            try writer.finish()
            XCTAssertEqual(try written(), data)
        }
    }

    func testWritingAtAnotherOffsetRepositions() throws {
        try withOutputFile { output, written in
            let first = pseudoRandomBytes(10_000, seed: 11), second = pseudoRandomBytes(9_000, seed: 12)
            let writer = DirectWriter(output, at: 0, bufferSize: 4096)
            try first.withUnsafeBytes { try writer.write($0, at: 0) }
            try second.withUnsafeBytes { try writer.write($0, at: 20_000) }
            try writer.finish()
            let file = try written()
            XCTAssertEqual(file.count, 29_000)
            XCTAssertEqual(Array(file[0..<10_000]), first)
            XCTAssertEqual(Array(file[10_000..<20_000]), [UInt8](repeating: 0, count: 10_000))
            XCTAssertEqual(Array(file[20_000...]), second)
        }
    }

    func testDirectIOIsOffAgainAfterFinish() throws {
        try withOutputFile { output, written in
            let writer = DirectWriter(output, at: 0, bufferSize: 4096)
            try [UInt8](repeating: 0x41, count: 5000).withUnsafeBytes { try writer.write($0) }
            try writer.finish()
            // An unaligned write would fail with EINVAL if O_DIRECT were still set on the descriptor.
            try output.writeAll(Array("tail".utf8))
            XCTAssertEqual(try written().count, 5004)
        }
    }

    func testAFailedWriteIsReportedWithThePath() throws {
        let directory = try TestSupport.temporaryDirectory(self)
        let path = directory.appendingPathComponent("read-only").path
        try FileSystem.writeAtomically(path, [])
        let readOnly = try FileDescriptor.openForReading(path)
        defer { readOnly.close() }
        let writer = DirectWriter(readOnly, at: 0, bufferSize: 4096)
        let data = pseudoRandomBytes(20_000, seed: 13)
        XCTAssertThrowsError(try data.withUnsafeBytes { bytes in
            try writer.write(bytes)
            try writer.finish()
        }) { error in
            XCTAssertTrue("\(error)".contains(path), "\(error)")
        }
    }
}
