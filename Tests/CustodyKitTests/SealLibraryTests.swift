import XCTest
import CustodyKit
import CustodyTestSupport

/// Seal and verify through the library: device-style bad sectors, raw storage, and the seal statement format.
final class SealLibraryTests: TemporaryDirectoryTestCase {

    private func makeKeyAndLedger() throws -> (SigningKey, Ledger) {
        try CustodyKitTests.makeKeyAndLedger(at: directory + "/ledger")
    }

    private func writeInput(_ bytes: [UInt8]) throws -> String {
        let path = directory + "/disk.img"
        try FileSystem.writeAtomically(path, bytes)
        return path
    }

    func testBadSectorsAreZeroFilledRecordedAndCoveredByTheDigests() throws {
        let (key, ledger) = try makeKeyAndLedger()
        var content = [UInt8](repeating: 0, count: 300_000)
        for index in content.indices { content[index] = UInt8(truncatingIfNeeded: index &* 31 &+ 7) }
        let input = try writeInput(content)
        let faults: [FaultInjectingReader.Fault] = [.permanent(offset: 0, length: 512),
                                                   .permanent(offset: 70_144, length: 1024),
                                                   .permanent(offset: 299_520, length: 480)]
        var options = SealOptions()
        options.chunkSize = 64 << 10
        options.readRetries = 1
        options.tolerateFileReadErrors = true
        options.wrapReader = { FaultInjectingReader($0, faults: faults) }
        let result = try BundleSealer.seal(paths: [input], out: directory + "/bundle", ledger: ledger, key: key,
                                           options: options)

        var zeroFilled = content
        for fault in faults {
            for index in Int(fault.offset)..<Int(fault.offset + fault.length) { zeroFilled[index] = 0 }
        }
        let item = try XCTUnwrap(result.items.first)
        XCTAssertEqual(item.digests["sha256"], Hex.encode(Digester.digest(.sha256, zeroFilled)))
        let expectedRanges = faults.map { BadRange(offset: $0.offset, length: $0.length).json }
        XCTAssertEqual(item.badRanges, expectedRanges)
        let acquire = try ledger.entry(at: 0)
        XCTAssertEqual(acquire.action, .acquire)
        XCTAssertEqual(acquire.details["badRanges"], .array(expectedRanges))

        let (report, summary) = BundleVerifier(root: directory + "/bundle").verify()
        XCTAssertTrue(report.passed, "\(report.failures)")
        XCTAssertEqual(summary.items.first?.badRanges, expectedRanges)
        XCTAssertTrue(report.checks.contains { $0.detail.contains("3 unreadable ranges were zero-filled") },
                      "verify must say the digests cover a zero-filled image")
    }

    func testAFileReadErrorFailsTheSealUnlessToleratedAndLeavesNothing() throws {
        let (key, ledger) = try makeKeyAndLedger()
        let input = try writeInput([UInt8](repeating: 9, count: 100_000))
        var options = SealOptions()
        options.chunkSize = 64 << 10
        options.wrapReader = { FaultInjectingReader($0, faults: [.permanent(offset: 70_000, length: 512)]) }
        XCTAssertThrowsError(try BundleSealer.seal(paths: [input], out: directory + "/bundle", ledger: ledger, key: key,
                                                   options: options))
        XCTAssertEqual(try FileSystem.directoryEntries(directory).filter { $0.contains("bundle") }, [])
        XCTAssertEqual(try ledger.size(), 0)
    }

    func testRawStorageVerifiesAndNamesADamagedChunk() throws {
        let (key, ledger) = try makeKeyAndLedger()
        let content = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let input = try writeInput(content)
        var options = SealOptions()
        options.chunkSize = 64 << 10
        options.compress = false
        let result = try BundleSealer.seal(paths: [input], out: directory + "/bundle", ledger: ledger, key: key,
                                           options: options)
        let item = try XCTUnwrap(result.items.first)
        XCTAssertEqual(item.encoding, .raw)
        XCTAssertEqual(try FileSystem.readFile(directory + "/bundle/" + item.payloadPath), content)
        XCTAssertTrue(BundleVerifier(root: directory + "/bundle").verify().report.passed)

        let payload = try FileDescriptor.open(directory + "/bundle/" + item.payloadPath, O_RDWR)
        try [UInt8(0xff)].withUnsafeBytes { try payload.writeAll($0, at: 140_000) }
        payload.close()
        let failures = BundleVerifier(root: directory + "/bundle").verify().report.failures.map(\.detail)
        XCTAssertTrue(failures.contains { $0.contains("chunk 2 (bytes 131072-196607)") }, "\(failures)")
    }

    func testSealStatementRoundTripsAndRejectsMalformedLines() throws {
        let statement = SealStatement(bundleID: "urn:uuid:1", tagManifestDigest: [UInt8](repeating: 7, count: 32),
                                      items: [(1, "urn:uuid:2", 1 << 20, String(repeating: "a", count: 64), 42)])
        XCTAssertEqual(try SealStatement(text: statement.text), statement)
        for broken in ["custody seal v2\nbundle x\ntagmanifest-sha256 \(String(repeating: "0", count: 64))\n",
                       statement.text + "item 2 id TREE-SHA256-3M \(String(repeating: "a", count: 64)) size 1\n",
                       statement.text.replacingOccurrences(of: "size 42", with: "size -1")] {
            XCTAssertThrowsError(try SealStatement(text: broken))
        }
    }

    func testSealRefusesAKeyThatDoesNotOwnTheLedgerAndLeavesNothing() throws {
        let (_, ledger) = try makeKeyAndLedger()
        let otherKey = try Ed25519PrivateKey.generate()
        let other = try SigningKey(identity: Identity(name: "other", agency: "X", jurisdiction: "BE",
                                                      publicKey: otherKey.publicKey), privateKey: otherKey)
        let input = try writeInput([1, 2, 3])
        XCTAssertThrowsError(try BundleSealer.seal(paths: [input], out: directory + "/bundle", ledger: ledger,
                                                   key: other, options: SealOptions())) { error in
            XCTAssertTrue("\(error)".contains("does not own the ledger"), "\(error)")
        }
        XCTAssertFalse(FileSystem.exists(directory + "/bundle"))
        XCTAssertEqual(try ledger.size(), 0)
    }
}
