import XCTest
import CustodyKit

final class BagItTests: XCTestCase {
    func testUnsafeManifestPathsAreRejected() {
        for path in ["/etc/passwd", "../outside", "data/../../x", "data//x", "data/./x", "", "data/a\\b", "data/x/"] {
            XCTAssertThrowsError(try BagIt.safeComponents(path), "accepted \(path)")
        }
        XCTAssertEqual(try BagIt.safeComponents("data/items/0001-disk.img.gz"), ["data", "items", "0001-disk.img.gz"])
    }

    func testPercentEncodingRoundTripsAsRFC8493Requires() {
        let name = "data/a%b\nc\rd"
        let encoded = BagIt.encodePath(name)
        XCTAssertEqual(encoded, "data/a%25b%0Ac%0Dd")
        XCTAssertEqual(BagIt.decodePath(encoded), name)
        XCTAssertEqual(BagIt.decodePath("data/100%20x"), "data/100%20x", "only %25, %0A, %0D are decoded")
    }

    func testManifestParsingNamesTheBadLine() {
        let sha = String(repeating: "ab", count: 32)
        let good = "\(sha)  data/a\n\(sha) data/b c\n"
        let entries = try? BagIt.parseManifest(Array(good.utf8), name: "manifest-sha256.txt", algorithm: .sha256)
        XCTAssertEqual(entries?.map(\.path), ["data/a", "data/b c"])
        let cases = [
            "\(sha)  ../escape\n": "manifest-sha256.txt:1",
            "\(sha)  data/a\nxyz\n": "manifest-sha256.txt:2",
            "\(sha)  data/a\n\(sha)  data/a\n": "listed twice",
            "abcd  data/a\n": "is not a sha256",
            "\(sha)  /abs\n": "absolute path",
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try BagIt.parseManifest(Array(text.utf8), name: "manifest-sha256.txt",
                                                         algorithm: .sha256)) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(error) should mention \(expected)")
            }
        }
        // The error says where, as data: the manifest, the line and what is wrong with the path.
        XCTAssertThrowsError(try BagIt.parseManifest(Array("\(sha)  data/a\n\(sha)  data/../b\n".utf8),
                                                     name: "manifest-sha256.txt", algorithm: .sha256)) { error in
            XCTAssertEqual(error as? BundleError, .manifestPathUnsafe(file: "manifest-sha256.txt", line: 2,
                                                                      problem: .pathNotNormalized("data/../b")))
            XCTAssertEqual((error as? BundleError)?.kind, .verification)
        }
    }

    func testBagInfoFoldsAndParsesContinuationLines() throws {
        let text = BagIt.bagInfo([("Source-Organization", "Agency A"), ("Description", "line one\nline two")])
        XCTAssertEqual(text, "Source-Organization: Agency A\nDescription: line one\n  line two\n")
        let fields = try BagIt.parseBagInfo(Array(text.utf8), name: "bag-info.txt")
        XCTAssertEqual(fields.map(\.label), ["Source-Organization", "Description"])
        XCTAssertEqual(fields[1].value, "line one\nline two")
        XCTAssertThrowsError(try BagIt.parseBagInfo(Array("  orphan\n".utf8), name: "bag-info.txt"))
        XCTAssertThrowsError(try BagIt.parseBagInfo(Array("no colon here\n".utf8), name: "bag-info.txt"))
    }

    func testSafeFileNamesNeverCarryManifestSpecialCharacters() {
        for name in ["50%.txt", "a\nb", "a\rb", "../../etc", ".hidden", "", "日本.img", "a b"] {
            let safe = BagIt.safeFileName(name)
            XCTAssertFalse(safe.contains("%") || safe.contains("\n") || safe.contains("\r") || safe.contains("/"))
            XCTAssertFalse(safe.isEmpty || safe.hasPrefix("."), "\(safe) from \(name)")
            XCTAssertNoThrow(try BagIt.safeComponents("data/" + safe))
        }
    }

    func testSealDigestIgnoresOnlyTheSealLine() {
        let before = "aa  bag-info.txt\nbb  custody/items.json\n"
        let after = "aa  bag-info.txt\nbb  custody/items.json\ncc  custody/seal.txt\n"
        XCTAssertEqual(SealDigest.tagManifestDigest(withoutSeal: Array(after.utf8)),
                       Digester.digest(.sha256, Array(before.utf8)))
        let edited = "aa  bag-info.txt\nbc  custody/items.json\ncc  custody/seal.txt\n"
        XCTAssertNotEqual(SealDigest.tagManifestDigest(withoutSeal: Array(edited.utf8)),
                          Digester.digest(.sha256, Array(before.utf8)))
    }

    func testValidatorFindsLinksExtraFilesAndOxumMismatch() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bag-\(UUID().uuidString)").path
        defer { FileSystem.removeTree(root) }
        let writer = try BundleWriter(out: root)
        let fd = try writer.createPayload("data/0001-a.bin")
        try fd.writeAll(Array("hello".utf8))
        fd.close()
        let content = Array("hello".utf8)
        writer.recordPayload("data/0001-a.bin", size: 5, digests: [.sha256: Digester.digest(.sha256, content),
                                                                   .sha512: Digester.digest(.sha512, content)])
        try writer.writeTagFile(BundleLayout.items, Array("{}".utf8))
        _ = try writer.writeManifests(bagInfo: [("Payload-Oxum", writer.payloadOxum)])
        try writer.finish(seal: Array("seal\n".utf8))

        var report = VerificationReport()
        XCTAssertNotNil(BagValidator(root: root).checkStructure(into: &report))
        XCTAssertTrue(report.passed, "\(report.failures)")

        try Data("x".utf8).write(to: URL(fileURLWithPath: root + "/data/extra.bin"))
        try FileManager.default.createSymbolicLink(atPath: root + "/custody/link", withDestinationPath: "/etc/passwd")
        report = VerificationReport()
        _ = BagValidator(root: root).checkStructure(into: &report)
        let details = report.failures.map(\.detail).joined(separator: "\n")
        XCTAssertTrue(details.contains("custody/link: symbolic link"), details)
        XCTAssertTrue(details.contains("data/extra.bin is in data/ but not listed"), details)
        XCTAssertTrue(details.contains("Payload-Oxum says 5.1"), details)
    }
}

/// RFC 4648 section 10 vectors for the one strict base64 core, padded (signed notes, identities) and unpadded (age).
final class Base64Tests: XCTestCase {
    private let vectors: [(String, String)] = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"),
                                               ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")]

    func testRFC4648VectorsBothWays() {
        for (plain, encoded) in vectors {
            let bytes = Array(plain.utf8)
            XCTAssertEqual(Base64.encode(bytes), encoded)
            XCTAssertEqual(Base64.decode(encoded), bytes)
            let unpadded = String(encoded.filter { $0 != "=" })
            XCTAssertEqual(AgeBase64.encode(bytes), unpadded)
            XCTAssertEqual(AgeBase64.decode(unpadded), bytes)
        }
    }

    func testNonCanonicalAndMalformedInputsAreRejected() {
        for bad in ["Zg", "Zg=", "Zh==", "Zm9=", "Z===", "Zg==Zg==", "Zm9v!", "Zm 9v", "====", "Zm8=="] {
            XCTAssertNil(Base64.decode(bad), "padded decode accepted \(bad)")
        }
        for bad in ["Zg==", "Zh", "Zm9", "Z", "Zm9vY", "Zm8="] {
            XCTAssertNil(AgeBase64.decode(bad), "unpadded decode accepted \(bad)")
        }
    }
}
