import Foundation
import XCTest
import CustodyKit
import Synchronization
@testable import CustodyBundle
#if canImport(Glibc)
import Glibc
#endif

/// Collection bundles in the library: payload names, records, the records file and its tree, and resuming an
/// interrupted collection seal.
final class CollectionLibraryTests: TemporaryDirectoryTestCase {
    // MARK: payload names

    func testPayloadNamesAreInjectiveAndPortable() {
        func name(_ bytes: [UInt8], directory: Bool = false, suffix: String = ".gz") -> String {
            PayloadNames.component(bytes, isDirectory: directory, suffix: suffix)
        }
        XCTAssertEqual(name(Array("IMG_0001.jpg".utf8)), "IMG_0001.jpg.gz")
        XCTAssertEqual(name(Array("café 写真 🙂".utf8)), "café 写真 🙂.gz")
        XCTAssertEqual(name(Array("a\nb%c~d:e".utf8)), "a~0Ab~25c~7Ed~3Ae.gz")
        XCTAssertEqual(name([0x6c, 0x61, 0x74, 0xe9]), "lat~E9.gz")
        XCTAssertEqual(name(Array(".".utf8), directory: true, suffix: ""), "~2E")
        XCTAssertEqual(name(Array("..".utf8), directory: true, suffix: ""), "~2E~2E")
        XCTAssertEqual(name(Array("x.gz".utf8), directory: true, suffix: ""), "x.g~7A")
        XCTAssertEqual(name(Array("x".utf8)), "x.gz")
        // Escaping the escape character keeps distinct names distinct.
        XCTAssertNotEqual(name(Array("~0A".utf8)), name(Array("\n".utf8)))
        // Long names are cut with a digest of the whole raw name.
        let long = name(Array(String(repeating: "é", count: 200).utf8))
        XCTAssertLessThanOrEqual(long.utf8.count, 240)
        XCTAssertTrue(long.contains("~~"))
        XCTAssertNotEqual(long, name(Array((String(repeating: "é", count: 199) + "e").utf8)))
        XCTAssertEqual(PayloadNames.payloadPath(Array("phone/a b/c".utf8), isDirectory: false, suffix: ".gz"),
                       "data/phone/a b/c.gz")
    }

    // MARK: records

    func sampleRecord(number: Int = 1, path: [UInt8] = Array("phone/a.jpg".utf8)) -> CollectionRecord {
        CollectionRecord(
            number: number, path: path, kind: .file,
            metadata: .init(mode: 0o100644, uid: 1000, gid: 1000, inode: 42, device: "254:0", links: 1,
                            allocated: 4096, modified: "2026-12-07T19:44:01.000000001Z",
                            accessed: "2026-12-07T19:44:01.000000002Z", changed: "2026-12-07T19:44:01.000000003Z",
                            born: nil),
            content: .init(size: 3, payload: "data/phone/a.jpg.gz", encoding: .gzip, storedSize: 99,
                           chunkSize: 1 << 20, tree: String(repeating: "ab", count: 32),
                           digests: ["sha256": String(repeating: "cd", count: 32)], leavesOffset: nil),
            extendedAttributes: ["user.origin": [0xff, 0]], salt: String(repeating: "0f", count: 16))
    }

    func testRecordsRoundTripAndRefuseWhatCustodyDoesNotWrite() throws {
        let record = sampleRecord(path: [0x70, 0x2f, 0xe9])
        XCTAssertEqual(try CollectionRecord(line: record.line, where: "t"), record)
        XCTAssertNotNil(record.json["path64"], "a non-UTF-8 path is carried as base64")
        var text = String(decoding: record.line, as: UTF8.self)
        // An unknown member, or members out of canonical order, change the bytes the leaf hash covers.
        let unknown = text.replacingOccurrences(of: "{\"allocated\"", with: "{\"a\":1,\"allocated\"")
        XCTAssertThrowsError(try CollectionRecord(line: Array(unknown.utf8), where: "t"))
        text = text.replacingOccurrences(of: ",\"uid\":1000", with: "") + ""
        XCTAssertThrowsError(try CollectionRecord(line: Array(text.utf8), where: "t"))
        for bad in ["[]", "{}", "{\"n\":1}", "not json"] {
            XCTAssertThrowsError(try CollectionRecord(line: Array(bad.utf8), where: "t"), bad)
        }
    }

    func testRecordsFileStreamsAndItsRootProvesEachRecord() throws {
        let path = directory + "/items.jsonl"
        let records = (1...37).map { sampleRecord(number: $0, path: Array("phone/f\($0)".utf8)) }
        try Data(records.flatMap { $0.line + [10] }).write(to: URL(fileURLWithPath: path))
        var reader = try ItemRecordsReader(path: path)
        var read: [CollectionRecord] = []
        while let record = try reader.next() { read.append(record) }
        reader.close()
        XCTAssertEqual(read, records)
        let leaves = records.map(\.leafHash)
        XCTAssertEqual(reader.root, Merkle.root(leaves: leaves))
        // Any one record can be proved against the root without the others.
        let proof = try MerkleProofs.inclusionProof(MemoryNodeSource(leaves: leaves), index: 20, size: 37)
        XCTAssertTrue(MerkleProofs.verifyInclusion(leafHash: leaves[20].bytes, index: 20, size: 37,
                                                   proof: proof.map(\.bytes), root: reader.root.bytes))
        // Out of order, cut short, or a line too long: named, never taken for a complete file.
        for (bytes, problem) in [(records[1].line + [10], "numbered 2, expected 1"),
                                 (records[0].line, "ends inside this line"),
                                 ([UInt8](repeating: 65, count: ItemRecordsReader.maximumLineLength + 2), "longer")] {
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            var bad = try ItemRecordsReader(path: path)
            XCTAssertThrowsError(try bad.next()) { XCTAssertTrue("\($0)".contains(problem), "\($0)") }
            bad.close()
        }
    }

    // MARK: resume

    func makeTree(files: Int) throws -> String {
        let root = directory + "/phone"
        for index in 0..<files {
            let folder = root + "/d\(index % 7)/e\(index % 3)"
            try FileSystem.createDirectory(folder)
            try Data(pseudoRandomBytes(100 + index * 37 % 5000, seed: UInt64(index + 1)))
                .write(to: URL(fileURLWithPath: folder + "/f\(index)"))
        }
        return root
    }

    func testAnInterruptedCollectionSealResumesToABundleThatVerifies() throws {
        let tree = try makeTree(files: 600)
        let (key, ledger) = try makeKeyAndLedger(at: directory + "/l.db")
        let out = directory + "/bundle"
        let calls = Mutex(0)
        var options = SealOptions()
        options.shouldStop = { calls.withLock { $0 += 1; return $0 > 250 } }
        XCTAssertThrowsError(try CollectionSealer.seal(paths: [tree], out: out, ledger: ledger, key: key,
                                                       options: options)) { error in
            guard case SealError.interrupted = error else { return XCTFail("\(error)") }
        }
        XCTAssertFalse(FileSystem.exists(out))
        let journal = try CollectionJournal(path: CollectionJournal.path(workPath: directory + "/.bundle.partial"))
        XCTAssertGreaterThan(journal.records, 0)
        XCTAssertEqual(try ledger.size(), 0, "nothing reaches the ledger before the walk is done")
        options.shouldStop = nil
        let result = try CollectionSealer.seal(paths: [tree], out: out, ledger: ledger, key: key, options: options,
                                               resume: true)
        XCTAssertEqual(result.files, 600)
        XCTAssertEqual(result.items, 1 + 7 + 21 + 600)
        let (report, summary) = BundleVerifier(root: out).verify()
        XCTAssertTrue(report.passed, report.failures.map(\.detail).joined(separator: "\n"))
        XCTAssertEqual(summary.collection?.files, 600)
        XCTAssertFalse(FileSystem.exists(directory + "/.bundle.partial.collection"))
    }

    /// kill -9 before the first journal point (every 2 s): payload files are on disk but no journal counts them;
    /// the resume starts the walk over and writes over them (found by Benchmarks/collection-resume.sh: "open: File
    /// exists" on the first payload).
    func testAResumeBeforeTheFirstJournalPointWritesOverThePayloadsLeft() throws {
        let tree = try makeTree(files: 300)
        let (key, ledger) = try makeKeyAndLedger(at: directory + "/l.db")
        let out = directory + "/bundle"
        let calls = Mutex(0)
        var options = SealOptions()
        options.shouldStop = { calls.withLock { $0 += 1; return $0 > 150 } }
        XCTAssertThrowsError(try CollectionSealer.seal(paths: [tree], out: out, ledger: ledger, key: key,
                                                       options: options))
        let work = directory + "/.bundle.partial"
        XCTAssertTrue(FileSystem.exists(work + "/data/phone/d0/e0/f0.gz"), "the interrupted run wrote payloads")
        FileSystem.removeTree(CollectionJournal.path(workPath: work))
        XCTAssertFalse(FileSystem.exists(CollectionJournal.path(workPath: work)))
        options.shouldStop = nil
        let result = try CollectionSealer.seal(paths: [tree], out: out, ledger: ledger, key: key, options: options,
                                               resume: true)
        XCTAssertEqual(result.files, 300)
        let (report, _) = BundleVerifier(root: out).verify()
        XCTAssertTrue(report.passed, report.failures.map(\.detail).joined(separator: "\n"))
    }

    func testAResumeRefusesASourceThatChangedBeforeTheResumePoint() throws {
        let tree = try makeTree(files: 300)
        let (key, ledger) = try makeKeyAndLedger(at: directory + "/l.db")
        let calls = Mutex(0)
        var options = SealOptions()
        options.shouldStop = { calls.withLock { $0 += 1; return $0 > 200 } }
        XCTAssertThrowsError(try CollectionSealer.seal(paths: [tree], out: directory + "/b", ledger: ledger, key: key,
                                                       options: options))
        // A folder that sorts before everything the interrupted run recorded moves every later entry.
        try FileSystem.createDirectory(tree + "/a-new-folder")
        options.shouldStop = nil
        XCTAssertThrowsError(try CollectionSealer.seal(paths: [tree], out: directory + "/b", ledger: ledger, key: key,
                                                       options: options, resume: true)) { error in
            XCTAssertTrue("\(error)".contains("a-new-folder") || "\(error)".contains("entry"), "\(error)")
        }
        XCTAssertEqual(try ledger.size(), 0)
    }
}
