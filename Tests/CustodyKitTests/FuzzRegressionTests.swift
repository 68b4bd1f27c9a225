import XCTest
import CustodyKit

/// Inputs the fuzz targets (Fuzz/, Fuzz/RESULTS.md) and the sanitizer runs of the suite (README, development) found,
/// kept so each fix stays fixed. Each test names the target or sanitizer and what broke.
final class FuzzRegressionTests: TemporaryDirectoryTestCase {
    private let sha256 = String(repeating: "ab", count: 32)

    /// bag-info (round trip): a CRLF file was one line (Swift's `"\r\n"` is one Character, so splitting at `"\n"`
    /// never split it), so every field after the first was folded into the first field's value.
    func testBagInfoWithCRLFLineEndsReadsEachField() throws {
        let fields = try BagIt.parseBagInfo(Array("A: x\r\nB: y\r\n  more\r\n".utf8), name: "bag-info.txt")
        XCTAssertEqual(fields.map(\.label), ["A", "B"])
        XCTAssertEqual(fields.map(\.value), ["x", "y\nmore"])
    }

    /// bag-info (round trip): RFC 8493 lets a lone CR end a line; the fuzzer's minimized input `o:\r\0` was read
    /// as one field whose value held the CR, which writing folds into a continuation line that reads back
    /// differently. A lone CR now ends the line, and the NUL line after it is refused as malformed.
    func testBagInfoLoneCREndsALine() throws {
        let fields = try BagIt.parseBagInfo(Array("A: x\rB: y\r".utf8), name: "bag-info.txt")
        XCTAssertEqual(fields.map(\.label), ["A", "B"])
        XCTAssertThrowsError(try BagIt.parseBagInfo([0x6f, 0x3a, 0x0d, 0x00], name: "bag-info.txt")) { error in
            XCTAssertTrue("\(error)".contains("bag-info.txt"), "\(error)")
        }
        let written = BagIt.bagInfo(fields)
        let again = try BagIt.parseBagInfo(Array(written.utf8), name: "bag-info.txt")
        XCTAssertEqual(again.map(\.value), fields.map(\.value))
    }

    /// The manifests had the same CRLF defect: a bag written with CRLF manifests listed one file.
    func testManifestWithCRLFLineEndsListsEveryFile() throws {
        let text = "\(sha256)  data/a\r\n\(sha256)  data/b\r\n"
        let entries = try BagIt.parseManifest(Array(text.utf8), name: "manifest-sha256.txt", algorithm: .sha256)
        XCTAssertEqual(entries.map(\.path), ["data/a", "data/b"])
    }

    /// hash-list: a sha256sum list with CRLF line ends was one line and refused; each line now reads.
    func testHashListWithCRLFLineEndsReadsEachLine() throws {
        let text = "\(sha256)  a.img\r\n\(sha256)  b.img\r\n"
        let list = try KnownHashList.parse(Array(text.utf8), source: "list.sha256")
        XCTAssertEqual(list.entries.map(\.path), ["a.img", "b.img"])
    }

    /// age-key-files: an identity file with CRLF line ends and two keys read as one (bad) key.
    func testAgeIdentityFileWithCRLFLineEndsReadsEachKey() throws {
        let first = try AgeX25519Identity.generate()
        let second = try AgeX25519Identity.generate()
        let text = "# two keys\r\n\(first.encoded)\r\n\(second.encoded)\r\n"
        XCTAssertEqual(try AgeIdentityFile.parse(text, source: "keys.age").count, 2)
        let recipients = "\(first.recipient.encoded)\r\n\(second.recipient.encoded)\r\n"
        XCTAssertEqual(try AgeRecipientFile.parse(recipients, source: "keys.txt"), [first.recipient, second.recipient])
    }

    /// AddressSanitizer (the suite under `--sanitize=address`, SealVerifyTests): `directoryEntries` copied the whole
    /// 256-byte `d_name` of each `dirent`, reading past readdir's buffer when the last entry in it was shorter.
    /// Names of every length from 1 to 255 put entries of every size at the buffer's end, for the ASan run to see;
    /// without ASan this test only checks the names, which the old code also got right.
    func testDirectoryEntriesOfEveryNameLength() throws {
        let folder = directory
        var expected: [String] = []
        for length in 1...255 {
            let name = String(repeating: "n", count: length)
            let descriptor = open(folder + "/" + name, O_CREAT | O_WRONLY, 0o644)
            XCTAssertGreaterThanOrEqual(descriptor, 0, "cannot create a file named with \(length) characters")
            close(descriptor)
            expected.append(name)
        }
        XCTAssertEqual(try FileSystem.directoryEntries(folder), expected)
    }

    /// transfer-statement and consent (round trip): a value holding DEL (0x7f, which signed notes let through)
    /// parsed, but the statement written back replaces it with '?': what was signed and what custody records
    /// differed. A statement line with a control character is now refused, naming the line.
    func testStatementWithDELInAValueIsRefused() throws {
        let consent = "custody consent v1\nconsent urn:un\u{7f}t\nbundle b\nto-jurisdiction NL\n"
        XCTAssertThrowsError(try ConsentStatement(text: consent)) { error in
            XCTAssertTrue("\(error)".contains("line 2: control character"), "\(error)")
        }
        let transfer = "custody transfer v1\ntransfer t\nsender-agency P\u{7f}lice judiciaire\n"
        XCTAssertThrowsError(try TransferStatement(text: transfer)) { error in
            XCTAssertTrue("\(error)".contains("line 3: control character"), "\(error)")
        }
    }
}
