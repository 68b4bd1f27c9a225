import Foundation
import XCTest
import CustodyKit
@testable import CustodyTar

final class ArchiveTests: XCTestCase {
    // MARK: Helpers

    /// A raw header block with a correct checksum, for crafting archives the writer would never produce.
    private func rawHeader(_ name: String, type: Character = "0", size: UInt64 = 0, linkname: String = "",
                           gnu: Bool = false, prefix: String = "") -> [UInt8] {
        var block = [UInt8](repeating: 0, count: 512)
        TarFormat.putString(Array(name.utf8), TarFormat.Field.name, into: &block)
        TarFormat.putOctal(0o644, TarFormat.Field.mode, into: &block)
        TarFormat.putOctal(0, TarFormat.Field.uid, into: &block)
        TarFormat.putOctal(0, TarFormat.Field.gid, into: &block)
        TarFormat.putOctal(size, TarFormat.Field.size, into: &block)
        TarFormat.putOctal(0, TarFormat.Field.mtime, into: &block)
        block[156] = type.asciiValue!
        TarFormat.putString(Array(linkname.utf8), TarFormat.Field.linkname, into: &block)
        let magic: [UInt8] = gnu ? Array("ustar  ".utf8) + [0] : Array("ustar".utf8) + [0, 0x30, 0x30]
        TarFormat.putString(magic, 257..<265, into: &block)
        TarFormat.putString(Array(prefix.utf8), TarFormat.Field.prefix, into: &block)
        TarFormat.seal(&block)
        return block
    }

    private func member(_ name: String, _ content: [UInt8]) -> [UInt8] {
        var out = rawHeader(name, size: UInt64(content.count)) + content
        if content.count % 512 != 0 { out += [UInt8](repeating: 0, count: 512 - content.count % 512) }
        return out
    }

    private let end = [UInt8](repeating: 0, count: 1024)

    private func archive(_ build: (TarWriter) throws -> Void) throws -> [UInt8] {
        var out: [UInt8] = []
        let writer = TarWriter { out.append(contentsOf: $0) }
        try build(writer)
        try writer.finish()
        return out
    }

    /// Extracts `bytes` fed in pieces of `piece` bytes into a fresh directory; returns the directory.
    @discardableResult
    private func extract(_ bytes: [UInt8], piece: Int = 4096, limits: TarLimits = TarLimits(),
                         into directory: URL) throws -> TarExtractionSummary {
        let extractor = try TarExtractor(destination: directory.path, limits: limits, durable: false)
        var offset = 0
        while offset < bytes.count {
            let count = min(piece, bytes.count - offset)
            try extractor.write(Array(bytes[offset..<(offset + count)]))
            offset += count
        }
        return try extractor.finish()
    }

    /// Asserts the archive is refused with a reason containing `reason`, and nothing is left behind.
    private func assertRefused(_ bytes: [UInt8], _ reason: String, limits: TarLimits = TarLimits(),
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let base = try TestSupport.temporaryDirectory(self)
        let destination = base.appendingPathComponent("out")
        XCTAssertThrowsError(try extract(bytes, limits: limits, into: destination), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(reason), "\(error)", file: file, line: line)
            XCTAssertTrue("\(error)".contains("at byte"), "\(error)", file: file, line: line)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: destination.path),
                       "a refused archive leaves nothing behind", file: file, line: line)
    }

    private func makeTree(_ root: URL) throws -> [String: [UInt8]] {
        let files: [String: [UInt8]] = [
            "bagit.txt": Array("BagIt-Version: 1.0\n".utf8),
            "data/empty": [],
            "data/image.bin": pseudoRandomBytes((1 << 20) + 3),
            "data/" + String(repeating: "long-directory-name/", count: 8) + "evidence.txt": Array("deep\n".utf8),
            "data/" + String(repeating: "x", count: 180) + ".txt": Array("long name\n".utf8),
            "data/Straße/café.txt": Array("unicode\n".utf8),
        ]
        for (name, content) in files {
            let url = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(),
                                                    withIntermediateDirectories: true)
            try Data(content).write(to: url)
        }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("data/empty-dir"),
                                                withIntermediateDirectories: true)
        return files
    }

    private func assertTree(_ root: URL, _ files: [String: [UInt8]], file: StaticString = #filePath,
                            line: UInt = #line) throws {
        for (name, content) in files {
            let data = try Data(contentsOf: root.appendingPathComponent(name))
            XCTAssertEqual([UInt8](data), content, name, file: file, line: line)
        }
        var isDirectory: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: root.appendingPathComponent("data/empty-dir").path,
                                                     isDirectory: &isDirectory), file: file, line: line)
        XCTAssertTrue(isDirectory.boolValue, file: file, line: line)
    }

    // MARK: Round trips

    func testRoundTripTreeIsDeterministic() throws {
        let base = try TestSupport.temporaryDirectory(self)
        let source = base.appendingPathComponent("bundle")
        let files = try makeTree(source)
        let first = try archive { try $0.addTree(source.path, as: "bundle") }
        let second = try archive { try $0.addTree(source.path, as: "bundle") }
        XCTAssertEqual(first, second, "same tree, same bytes")
        XCTAssertEqual(first.count % 512, 0)
        for piece in [1 << 20, 511, 4099] {
            let destination = base.appendingPathComponent("out-\(piece)")
            let summary = try extract(first, piece: piece, into: destination)
            XCTAssertEqual(summary.files, files.count)
            XCTAssertEqual(summary.archiveSize, UInt64(first.count))
            try assertTree(destination.appendingPathComponent("bundle"), files)
        }
        // Existing non-empty destinations are refused; an empty one is used.
        XCTAssertThrowsError(try extract(first, into: base.appendingPathComponent("out-511")))
        let empty = base.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: false)
        XCTAssertNoThrow(try extract(first, into: empty))
    }

    func testWriterRefusesUnsafeInput() throws {
        let base = try TestSupport.temporaryDirectory(self)
        try FileManager.default.createDirectory(at: base.appendingPathComponent("t"),
                                                withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: base.appendingPathComponent("t/link").path,
                                                   withDestinationPath: "/etc/passwd")
        let link = base.appendingPathComponent("t/link").path
        XCTAssertThrowsError(try archive { try $0.addTree(base.appendingPathComponent("t").path, as: "t") }) {
            XCTAssertEqual($0 as? TarArchiveError, .unsupportedFileType(path: link))
            XCTAssertEqual("\($0)", "tar: \(link): not a regular file or directory; refused")
        }
        let refusals: [(String, TarArchiveError, String)] = [
            ("/abs", .absoluteMemberName("/abs"), "tar: /abs: absolute member name"),
            ("a/../b", .badComponentInMemberName("a/../b"),
             "tar: a/../b: empty, '.' or '..' component in member name"),
            ("a//b", .badComponentInMemberName("a//b"), "tar: a//b: empty, '.' or '..' component in member name"),
            ("", .emptyMemberName, "tar: empty member name"),
            ("./a", .badComponentInMemberName("./a"), "tar: ./a: empty, '.' or '..' component in member name"),
            ("a\\b", .controlCharacterInMemberName("a\\b"),
             "tar: a\\b: control character or backslash in member name"),
        ]
        for (name, expected, message) in refusals {
            XCTAssertThrowsError(try archive { try $0.addFile(name, bytes: []) }, name) {
                XCTAssertEqual($0 as? TarArchiveError, expected)
                XCTAssertEqual("\($0)", message)
                XCTAssertEqual(($0 as? any CustodyFailure)?.kind, .operational)
            }
        }
        // A file whose content is shorter than announced.
        XCTAssertThrowsError(try archive {
            try $0.addFile("short", size: 10, content: MemoryChunkReader([1, 2, 3]))
        }) {
            XCTAssertEqual($0 as? TarArchiveError, .inputShrank(member: "short", byteOffset: 3, expectedSize: 10))
            XCTAssertEqual("\($0)", "tar: short: ended at byte 3, expected 10 bytes")
        }
    }

    func testLargeSizeUsesPaxRecord() throws {
        // A header announcing more than 8 GiB - 1 carries a pax size record; checked without writing the data.
        var out: [UInt8] = []
        let writer = TarWriter { out.append(contentsOf: $0) }
        XCTAssertThrowsError(try writer.addFile("big", size: 1 << 33, content: MemoryChunkReader([])))
        let text = String(decoding: out, as: UTF8.self)
        XCTAssertTrue(text.contains("19 size=8589934592\n"), "pax size record present")
        XCTAssertEqual(out[156], UInt8(ascii: "x"))
    }

    // MARK: Refusals

    func testRefusesPathsEscapingTheDestination() throws {
        try assertRefused(member("/etc/passwd", [1]) + end, "absolute path")
        try assertRefused(member("../evil", [1]) + end, "'..' component")
        try assertRefused(member("a/../../evil", [1]) + end, "'..' component")
        try assertRefused(member("ok", [1]) + member("a/b/../../../evil", [1]) + end, "'..' component")
        try assertRefused(member("bad\u{1}name", [1]) + end, "control character")
        // Shown with two hex digits, so "a\nb" does not read as byte 0xAB.
        try assertRefused(member("a\nb", [1]) + end, "\"a\\x0ab\"")
        // An empty stream has no member 0.
        try assertRefused([], "tar entry 1")
        try assertRefused(member("a\\b", [1]) + end, "backslash")
    }

    func testRefusesLinksDevicesAndFifos() throws {
        try assertRefused(rawHeader("link", type: "2", linkname: "/etc/passwd") + end, "symbolic link refused")
        try assertRefused(member("target", [1]) + rawHeader("hard", type: "1", linkname: "target") + end,
                          "hard link refused")
        try assertRefused(rawHeader("tty", type: "3") + end, "device file refused")
        try assertRefused(rawHeader("disk", type: "4") + end, "device file refused")
        try assertRefused(rawHeader("pipe", type: "6") + end, "FIFO refused")
        try assertRefused(rawHeader("sparse", type: "S", gnu: true) + end, "sparse")
    }

    func testRefusesCollisionsAndTypeConflicts() throws {
        try assertRefused(member("Report.txt", [1]) + member("report.TXT", [2]) + end, "collides")
        try assertRefused(member("caf\u{E9}", [1]) + member("cafe\u{301}", [2]) + end, "collides")
        try assertRefused(member("a", [1]) + member("./a", [2]) + end, "collides")
        try assertRefused(member("a", [1]) + member("a/b", [2]) + end, "is a file, not a directory")
    }

    func testRefusesOversizeAndCorruptArchives() throws {
        var limits = TarLimits()
        limits.maximumFileSize = 1000
        try assertRefused(member("big", [UInt8](repeating: 1, count: 1001)) + end, "exceeds the limit", limits: limits)
        limits = TarLimits()
        limits.maximumTotalSize = 1500
        try assertRefused(member("a", [UInt8](repeating: 1, count: 1000))
                          + member("b", [UInt8](repeating: 1, count: 1000)) + end, "exceeds the limit",
                          limits: limits)
        limits = TarLimits()
        limits.maximumEntries = 2
        try assertRefused(member("a", [1]) + member("b", [1]) + member("c", [1]) + end, "more than 2 members",
                          limits: limits)
        var corrupt = member("a", [1, 2, 3]) + end
        corrupt[10] ^= 0x20
        try assertRefused(corrupt, "checksum mismatch")
        let good = member("a", Array(repeating: 7, count: 2000)) + end
        try assertRefused(Array(good.prefix(1200)), "truncated")
        try assertRefused(Array(good.dropLast(512)), "truncated")
        try assertRefused(good + member("late", [1]), "after the end-of-archive marker")
        try assertRefused(Array(repeating: 0x41, count: 512) + end, "checksum mismatch")
    }

    func testErrorNamesEntryAndOffset() throws {
        let bytes = member("first", [1]) + member("second", [2]) + rawHeader("third", type: "2", linkname: "x") + end
        let base = try TestSupport.temporaryDirectory(self)
        XCTAssertThrowsError(try extract(bytes, into: base.appendingPathComponent("o"))) { error in
            XCTAssertEqual(error as? TarError, TarError(entry: 3, name: "third", byteOffset: 2048,
                                                        reason: "symbolic link refused"))
            XCTAssertEqual("\(error)", "tar entry 3 \"third\" at byte 2048: symbolic link refused")
        }
    }

    // MARK: The transfer path: tar -> age -> age -> extractor

    func testBundleThroughAgeAndBack() throws {
        let base = try TestSupport.temporaryDirectory(self)
        let source = base.appendingPathComponent("bundle")
        let files = try makeTree(source)
        let receiver = try AgeX25519Identity.generate(), sender = try AgeX25519Identity.generate()
        let transferPath = base.appendingPathComponent("transfer.age").path
        try AgeEncryptor(recipients: [receiver.recipient, sender.recipient]).encrypt(toFile: transferPath) { stream in
            let writer = TarWriter { try stream.write($0) }
            try writer.addTree(source.path, as: "bundle")
            try writer.finish()
        }
        let sealed = try FileSystem.readFile(transferPath)

        let destination = base.appendingPathComponent("received")
        let extractor = try TarExtractor(destination: destination.path, durable: false)
        try AgeDecryptor(identities: [receiver]).decrypt(from: MemoryChunkReader(sealed)) { try extractor.write($0) }
        try extractor.finish()
        try assertTree(destination.appendingPathComponent("bundle"), files)

        // Tampering in the middle: the decryption fails after part of the tree was extracted; nothing remains.
        var altered = sealed
        altered[sealed.count / 2] ^= 1
        let second = base.appendingPathComponent("tampered")
        let partial = try TarExtractor(destination: second.path, durable: false)
        XCTAssertThrowsError(try AgeDecryptor(identities: [sender]).decrypt(from: MemoryChunkReader(altered)) {
            try partial.write($0)
        }) { XCTAssertEqual(($0 as? AgeError)?.failureClass, .payload, "\($0)") }
        partial.abort()
        XCTAssertFalse(FileManager.default.fileExists(atPath: second.path))
    }

    // MARK: Interoperability with tar

    func testSystemTarReadsOurArchives() throws {
        let tar = try TestSupport.requireTool("tar")
        let base = try TestSupport.temporaryDirectory(self)
        let source = base.appendingPathComponent("bundle")
        let files = try makeTree(source)
        let archivePath = base.appendingPathComponent("ours.tar")
        try Data(try archive { try $0.addTree(source.path, as: "bundle") }).write(to: archivePath)
        let listing = try TestSupport.run(tar, ["-tvf", archivePath.path])
        XCTAssertEqual(listing.status, 0, listing.err)
        let text = String(decoding: listing.out, as: UTF8.self)
        XCTAssertTrue(text.contains("bundle/data/Straße/café.txt"), text)
        XCTAssertTrue(text.contains("-rw-r--r-- 0/0"), text)
        XCTAssertTrue(text.contains(String(repeating: "x", count: 180) + ".txt"), text)
        let out = base.appendingPathComponent("x")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: false)
        let extracted = try TestSupport.run(tar, ["-xf", archivePath.path, "-C", out.path])
        XCTAssertEqual(extracted.status, 0, extracted.err)
        try assertTree(out.appendingPathComponent("bundle"), files)
    }

    func testWeReadSystemTarArchives() throws {
        let tar = try TestSupport.requireTool("tar")
        let base = try TestSupport.temporaryDirectory(self)
        let source = base.appendingPathComponent("bundle")
        let files = try makeTree(source)
        for format in ["gnu", "pax", "ustar"] {
            let archivePath = base.appendingPathComponent("\(format).tar").path
            // ustar cannot hold the 180-byte name: that format gets a tree without it.
            var arguments = ["--format=\(format)", "-cf", archivePath, "-C", base.path, "bundle"]
            var expected = files
            if format == "ustar" {
                let longName = "data/" + String(repeating: "x", count: 180) + ".txt"
                expected[longName] = nil
                arguments.insert("--exclude=\(String(repeating: "x", count: 180)).txt", at: 0)
            }
            let created = try TestSupport.run(tar, arguments)
            XCTAssertEqual(created.status, 0, "\(format): \(created.err)")
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: archivePath)))
            let destination = base.appendingPathComponent("out-\(format)")
            XCTAssertNoThrow(try extract(bytes, piece: 10_000, into: destination), format)
            try assertTree(destination.appendingPathComponent("bundle"), expected)
        }
        // GNU tar's symbolic links are refused when we read them.
        try FileManager.default.createSymbolicLink(atPath: source.appendingPathComponent("escape").path,
                                                   withDestinationPath: "/etc")
        let withLink = base.appendingPathComponent("link.tar").path
        XCTAssertEqual(try TestSupport.run(tar, ["-cf", withLink, "-C", base.path, "bundle"]).status, 0)
        try assertRefused(try [UInt8](Data(contentsOf: URL(fileURLWithPath: withLink))), "symbolic link refused")
    }
}
