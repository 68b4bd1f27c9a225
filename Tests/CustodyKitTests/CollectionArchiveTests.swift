import Foundation
import XCTest
import CustodyKit

/// The tar profile for collection bundles: `TarNameCheck.fileSystem` remembers no member names (collisions are the
/// ones the destination's file system reports), the writer streams a tree, and a failed extraction leaves nothing.
final class CollectionArchiveTests: XCTestCase {
    private func archive(_ build: (TarWriter) throws -> Void) throws -> [UInt8] {
        var out: [UInt8] = []
        let writer = TarWriter { out.append(contentsOf: $0) }
        try build(writer)
        try writer.finish()
        return out
    }

    private func extract(_ bytes: [UInt8], into directory: URL, limits: TarLimits = .collections,
                         durable: Bool = false) throws -> TarExtractionSummary {
        let extractor = try TarExtractor(destination: directory.path, limits: limits, durable: durable)
        for start in stride(from: 0, to: bytes.count, by: 1000) {
            try extractor.write(Array(bytes[start..<min(bytes.count, start + 1000)]))
        }
        return try extractor.finish()
    }

    func testCaseDifferingNamesAreKeptAndDuplicatesRefused() throws {
        let base = try TestSupport.temporaryDirectory(self)
        let names = try archive {
            try $0.addDirectory("bundle")
            try $0.addFile("bundle/Report.txt", bytes: [1])
            try $0.addFile("bundle/report.TXT", bytes: [2])
            try $0.addFile("bundle/caf\u{E9}", bytes: [3])
            try $0.addFile("bundle/cafe\u{301}", bytes: [4])
            try $0.addFile("bundle/a/b/c", bytes: [5])
            try $0.addFile("bundle/a/b/d", bytes: [6])
            try $0.addFile("bundle/a/e", bytes: [7])
        }
        // The default profile refuses the folded collision; the collection profile keeps both on this file system.
        XCTAssertThrowsError(try extract(names, into: base.appendingPathComponent("folded"), limits: TarLimits())) {
            XCTAssertTrue("\($0)".contains("collides"), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: base.appendingPathComponent("folded").path))
        let kept = base.appendingPathComponent("kept")
        let summary = try extract(names, into: kept, durable: true)
        XCTAssertEqual(summary.files, 7)
        for (name, byte) in [("Report.txt", 1), ("report.TXT", 2), ("caf\u{E9}", 3), ("cafe\u{301}", 4),
                             ("a/b/c", 5), ("a/b/d", 6), ("a/e", 7)] {
            let path = kept.appendingPathComponent("bundle").path + "/" + name
            XCTAssertEqual(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))), [UInt8(byte)], name)
        }

        for (duplicate, reason) in [
            (try archive { try $0.addFile("x", bytes: [1]); try $0.addFile("x", bytes: [2]) }, "collides"),
            (try archive { try $0.addFile("d/x", bytes: [1]); try $0.addDirectory("d") }, "collides"),
            (try archive { try $0.addFile("f", bytes: [1]); try $0.addFile("f/x", bytes: [2]) }, "is a file"),
            (try archive { try $0.addDirectory("d"); try $0.addFile("d", bytes: [2]) }, "collides"),
        ] {
            let destination = base.appendingPathComponent("dup-\(UUID().uuidString)")
            XCTAssertThrowsError(try extract(duplicate, into: destination)) {
                XCTAssertTrue("\($0)".contains(reason), "\($0)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: destination.path), "nothing left behind")
        }
    }

    func testFailedExtractionIntoAnExistingEmptyFolderEmptiesIt() throws {
        let base = try TestSupport.temporaryDirectory(self)
        let bytes = try archive {
            try $0.addFile("a/b/one", bytes: Array(repeating: 1, count: 3000))
            try $0.addFile("a/b/one", bytes: [2])
        }
        let destination = base.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: destination, withIntermediateDirectories: false)
        XCTAssertThrowsError(try extract(bytes, into: destination))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: destination.path), [])
    }

    func testStreamedTreeMatchesItsFilesAndRefusesLinks() throws {
        let base = try TestSupport.temporaryDirectory(self)
        let source = base.appendingPathComponent("tree")
        var expected: [String: [UInt8]] = [:]
        for index in 0..<300 {
            let name = "d\(index % 7)/sub\(index % 3)/f\(index)"
            let url = source.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(),
                                                    withIntermediateDirectories: true)
            let content = Array("file \(index)".utf8)
            try Data(content).write(to: url)
            expected[name] = content
        }
        try FileManager.default.createDirectory(at: source.appendingPathComponent("empty"),
                                                withIntermediateDirectories: false)
        let bytes = try archive { try $0.addTree(source.path, as: "bundle") }
        XCTAssertEqual(try archive { try $0.addTree(source.path, as: "bundle") }, bytes, "deterministic")
        let out = base.appendingPathComponent("out")
        let summary = try extract(bytes, into: out)
        XCTAssertEqual(summary.files, 300)
        XCTAssertEqual(summary.directories, 1 + 7 + 21 + 1)
        for (name, content) in expected {
            let path = out.appendingPathComponent("bundle/" + name)
            XCTAssertEqual(try [UInt8](Data(contentsOf: path)), content, name)
        }
        try FileManager.default.createSymbolicLink(atPath: source.appendingPathComponent("d1/link").path,
                                                   withDestinationPath: "/etc/passwd")
        XCTAssertThrowsError(try archive { try $0.addTree(source.path, as: "bundle") }) {
            XCTAssertEqual($0 as? TarArchiveError,
                           .unsupportedFileType(path: source.appendingPathComponent("d1/link").path))
        }
    }
}
