import Foundation
import XCTest
import CustodyKit
#if canImport(Glibc)
import Glibc
#endif

/// `custody seal` of folders (collection bundles, SPEC 5.13) and `custody verify` of them, through the binary:
/// what a logical acquisition records, bad inputs, peers' view (bagit.py, gzip), and every kind of tampering.
final class CollectionSealTests: CLITestCase {
    var ledger: String { path("fr.ledger") }
    var phone: String { path("phone") }
    /// A name that is not UTF-8 (Latin-1 "lat\xe9").
    let latin1: [UInt8] = Array("lat".utf8) + [0xe9]
    let oddName = "na\nme %25 ~x"

    override func setUpWithError() throws {
        try super.setUpWithError()
        try makeKeys("fr", agency: "Police", jurisdiction: "FR", in: path("keys"))
        try makeLedger(ledger, origin: "police.fr.example/custody", key: key("fr"))
    }

    func write(_ relative: String, _ bytes: [UInt8]) throws {
        let url = URL(fileURLWithPath: phone + "/" + relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
    }

    func random(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// A phone-like tree: nested folders, an empty one, odd names, a non-UTF-8 name, a symbolic link, a hard
    /// link, a FIFO, a file of several chunks and an extended attribute when the file system keeps them.
    func makePhone() throws {
        try write("DCIM/Camera/IMG_0001.jpg", random(70_000))
        try write("DCIM/Camera/IMG_0002.jpg", random(300))
        try write("WhatsApp/Media/" + oddName, Array("odd\n".utf8))
        try write("Android/data/app/cache/big.bin", random(200_000) + [UInt8](repeating: 0, count: 131_072))
        try write("empty.txt", [])
        try FileManager.default.createDirectory(atPath: phone + "/Download/empty", withIntermediateDirectories: true)
        let latin = phone + "/WhatsApp/" + RawName.decode(latin1)
        XCTAssertTrue(RawName.withCString(latin) { creat($0, 0o644) } >= 0)
        try FileManager.default.createSymbolicLink(atPath: phone + "/WhatsApp/link", withDestinationPath: "../x")
        XCTAssertEqual(link(phone + "/DCIM/Camera/IMG_0002.jpg", phone + "/hard.jpg"), 0)
        XCTAssertEqual(mkfifo(phone + "/pipe", 0o644), 0)
        // Python's os.setxattr: Glibc's is not in Swift's overlay; a file system without user xattrs just fails.
        if let python = CLI.which("python3") {
            _ = try CLI.runTool(python, ["-c", "import os, sys; os.setxattr(sys.argv[1], 'user.origin', b'seized')",
                                         phone + "/empty.txt"])
        }
    }

    @discardableResult
    func seal(_ inputs: [String], out: String, _ extra: [String] = [], expect status: Int32 = 0,
              file: StaticString = #filePath, line: UInt = #line) throws -> CLI.Result {
        try custody(["seal", "--ledger", ledger, "--key", key("fr"), "--out", out, "--chunk-size", "64K", "--quiet"]
                    + extra + inputs, expect: status, file: file, line: line)
    }

    func records(_ bundle: String) throws -> [JSONValue] {
        let text = try String(contentsOfFile: bundle + "/custody/items.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONValue.parse(Array($0.utf8)) }
    }

    func record(_ bundle: String, _ path: String) throws -> JSONValue {
        try XCTUnwrap(try records(bundle).first { $0["path"]?.stringValue == path }, "no record \(path)")
    }

    func verify(_ bundle: String, expect status: Int32) throws -> CLI.Result {
        try custody(["verify", bundle, "--quiet"], expect: status)
    }

    // MARK: what a logical acquisition records

    func testSealRecordsEveryEntryAndVerifies() throws {
        try makePhone()
        let out = path("bundle")
        let sealed = try seal([phone], out: out, ["--json"])
        let summary = try JSONValue.parse(Array(sealed.out.utf8))
        XCTAssertEqual(summary["files"]?.intValue, 6, sealed.out)
        XCTAssertEqual(summary["ledgerEntries"]?.arrayValue?.count, 2)
        let all = try records(out)
        XCTAssertEqual(summary["items"]?.intValue, Int64(all.count))
        XCTAssertEqual(all.map { $0["n"]?.intValue }, (1...all.count).map { Int64($0) })
        // Walk order: depth-first, names in byte order.
        XCTAssertEqual(all.prefix(3).compactMap { $0["path"]?.stringValue },
                       ["phone", "phone/Android", "phone/Android/data"])
        XCTAssertEqual(try record(out, "phone/WhatsApp/link")["kind"]?.stringValue, "symlink")
        XCTAssertEqual(try record(out, "phone/WhatsApp/link")["target"]?.stringValue, "../x")
        XCTAssertEqual(try record(out, "phone/pipe")["kind"]?.stringValue, "fifo")
        XCTAssertEqual(try record(out, "phone/Download/empty")["kind"]?.stringValue, "directory")
        XCTAssertEqual(try record(out, "phone/hard.jpg")["kind"]?.stringValue, "hardlink")
        XCTAssertEqual(try record(out, "phone/hard.jpg")["linkTo"]?.stringValue, "phone/DCIM/Camera/IMG_0002.jpg")
        let latin = try XCTUnwrap(all.first { $0["path64"] != nil })
        XCTAssertEqual(Base64.decode(try XCTUnwrap(latin["path64"]?.stringValue)),
                       Array("phone/WhatsApp/".utf8) + latin1)
        XCTAssertEqual(latin["payload"]?.stringValue, "data/phone/WhatsApp/lat~E9.gz")
        let odd = try record(out, "phone/WhatsApp/Media/" + oddName)
        XCTAssertEqual(odd["payload"]?.stringValue, "data/phone/WhatsApp/Media/na~0Ame ~2525 ~7Ex.gz")
        let big = try record(out, "phone/Android/data/app/cache/big.bin")
        XCTAssertEqual(big["size"]?.intValue, 331_072)
        XCTAssertEqual(big["leaves"]?.intValue, 0, "the leaves of the only file of several chunks start the file")
        for member in ["mode", "uid", "gid", "inode", "links", "mtime", "atime", "ctime", "salt"] {
            XCTAssertNotNil(big[member], member)
        }
        if let attributes = try record(out, "phone/empty.txt")["xattrs"] {
            XCTAssertEqual(attributes["user.origin"]?.stringValue, Base64.encode(Array("seized".utf8)))
        }
        let verified = try custody(["verify", out])
        XCTAssertTrue(verified.out.contains("PASS  items root"), verified.out)
        let json = try JSONValue.parse(Array(try custody(["verify", out, "--json"]).out.utf8))
        XCTAssertEqual(json["collection"]?["files"]?.intValue, 6)
        XCTAssertEqual(json["passed"], .bool(true))
        try custody(["ledger", "verify", ledger])
    }

    func testPeersReadTheCollection() throws {
        try makePhone()
        let out = path("bundle")
        try seal([phone], out: out)
        let bagit = try CLI.requireTool("bagit.py")
        let validated = try CLI.runTool(bagit, ["--validate", out])
        XCTAssertEqual(validated.status, 0, validated.err)
        let gzip = try CLI.requireTool("gzip")
        for entry in try records(out) {
            guard let payload = entry["payload"]?.stringValue else { continue }
            let pathBytes = entry["path"]?.stringValue.map { Array($0.utf8) }
                ?? Base64.decode(entry["path64"]?.stringValue ?? "") ?? []
            let original = dir.path + "/" + RawName.decode(pathBytes)
            let restored = try CLI.runTool(gzip, ["-dc", out + "/" + payload])
            XCTAssertEqual(restored.status, 0, restored.err)
            XCTAssertEqual(Array(restored.stdout), try FileSystem.readFile(original), payload)
        }
    }

    func testSummaryNotALinePerItem() throws {
        for index in 0..<300 { try write("many/f\(index)", [UInt8(index & 0xff)]) }
        let sealed = try custody(["seal", "--ledger", ledger, "--key", key("fr"), "--out", path("b"), phone])
        XCTAssertLessThanOrEqual(sealed.out.split(separator: "\n").count, 5, sealed.out)
        XCTAssertTrue(sealed.out.contains("302 items: 300 files"), sealed.out)
        let verified = try custody(["verify", path("b")])
        XCTAssertLessThanOrEqual(verified.out.split(separator: "\n").count, 25, verified.out)
    }

    func testRawStorageAndMoreDigests() throws {
        try makePhone()
        try seal([phone], out: path("raw"), ["--no-compress", "-a", "md5,sha1"])
        let big = try record(path("raw"), "phone/Android/data/app/cache/big.bin")
        XCTAssertEqual(big["payload"]?.stringValue, "data/phone/Android/data/app/cache/big.bin")
        XCTAssertEqual(big["encoding"]?.stringValue, "raw")
        let original = try Data(contentsOf: URL(fileURLWithPath: phone + "/Android/data/app/cache/big.bin"))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("raw") + "/" + (big["payload"]?.stringValue ?? ""))),
                       original)
        let md5sum = try CLI.requireTool("md5sum")
        let expected = try CLI.runTool(md5sum, [phone + "/Android/data/app/cache/big.bin"]).out.prefix(32)
        XCTAssertEqual(big["digests"]?["md5"]?.stringValue, String(expected))
        XCTAssertNotNil(big["digests"]?["sha1"])
        _ = try verify(path("raw"), expect: 0)
        // A flipped byte in a raw payload is named with its chunk.
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: path("raw") + "/" + (big["payload"]?.stringValue ?? "")))
        try handle.seek(toOffset: 70_000)
        handle.write(Data([0x55]))
        try handle.close()
        let damaged = try verify(path("raw"), expect: 1)
        XCTAssertTrue(damaged.out.contains("big.bin"), damaged.out)
    }

    func testListAndReadOrder() throws {
        try makePhone()
        let listed = try seal([phone], out: path("b"), ["--list", "--read-order", "inode"])
        let lines = listed.out.split(separator: "\n").filter { $0.hasPrefix("  ") && $0.contains(" phone") }
        XCTAssertEqual(lines.count, try records(path("b")).count, listed.out)
        XCTAssertTrue(listed.out.contains(" fifo - phone/pipe"), listed.out)
        _ = try verify(path("b"), expect: 0)
        let refused = try seal([phone], out: path("c"), ["--read-order", "random"], expect: 2)
        XCTAssertTrue(refused.err.contains("--read-order"), refused.err)
    }

    // MARK: bad input

    func testEdgeShapesAreSealed() throws {
        // Zero files: the empty folder is the one item.
        try FileManager.default.createDirectory(atPath: path("nothing"), withIntermediateDirectories: true)
        let empty = try JSONValue.parse(Array(try seal([path("nothing")], out: path("b0"), ["--json"]).out.utf8))
        XCTAssertEqual(empty["items"]?.intValue, 1)
        XCTAssertEqual(empty["files"]?.intValue, 0)
        _ = try verify(path("b0"), expect: 0)
        // 4,001 files and a tree 200 levels deep.
        var deep = "deep"
        for level in 0..<200 { deep += "/d\(level % 10)" }
        try write(deep + "/bottom.txt", Array("bottom".utf8))
        for index in 0...4000 { try write("wide/f\(index)", []) }
        let sealed = try JSONValue.parse(Array(try seal([phone], out: path("b1"), ["--json"]).out.utf8))
        XCTAssertEqual(sealed["files"]?.intValue, 4002)
        _ = try verify(path("b1"), expect: 0)
    }

    func testLoopsAndSpecialFilesAreRecordedNotFollowed() throws {
        try FileManager.default.createDirectory(atPath: path("loop"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: path("loop/a"), withDestinationPath: "b")
        try FileManager.default.createSymbolicLink(atPath: path("loop/b"), withDestinationPath: "a")
        try FileManager.default.createSymbolicLink(atPath: path("loop/up"), withDestinationPath: "..")
        XCTAssertEqual(mkfifo(path("loop/fifo"), 0o600), 0)
        // The null device's node (1:3); only root may make one.
        let devices = mknod(path("loop/null"), S_IFCHR | 0o600, dev_t(1 << 8 | 3)) == 0
        try seal([path("loop")], out: path("b"))
        let kinds = Dictionary(uniqueKeysWithValues: try records(path("b")).map {
            ($0["path"]?.stringValue ?? "", $0["kind"]?.stringValue ?? "") })
        XCTAssertEqual(kinds["loop/a"], "symlink")
        XCTAssertEqual(kinds["loop/up"], "symlink")
        XCTAssertEqual(kinds["loop/fifo"], "fifo")
        if devices { XCTAssertEqual(kinds["loop/null"], "char-device") }
        _ = try verify(path("b"), expect: 0)
    }

    func testUnreadableDirectoryIsRecordedWithWhy() throws {
        guard getuid() != 0 else {
            throw XCTSkip("running as root: permissions do not stop root from reading a directory")
        }
        try write("locked/secret.txt", Array("s".utf8))
        XCTAssertEqual(chmod(phone + "/locked", 0), 0)
        defer { chmod(phone + "/locked", 0o755) }
        let sealed = try seal([phone], out: path("b"))
        XCTAssertTrue(sealed.err.contains("locked"), sealed.err)
        let locked = try record(path("b"), "phone/locked")
        XCTAssertNotNil(locked["error"])
        let verified = try custody(["verify", path("b")])
        XCTAssertTrue(verified.out.contains("WARN  acquisition errors"), verified.out)
    }

    func testRefusedInputsWriteNothing() throws {
        try makePhone()
        let before = try Data(contentsOf: URL(fileURLWithPath: ledger))
        try FileManager.default.createDirectory(atPath: path("other/phone"), withIntermediateDirectories: true)
        let twice = try seal([phone, path("other/phone")], out: path("b"), expect: 2)
        XCTAssertTrue(twice.err.contains("both end in 'phone'"), twice.err)
        let missing = try seal([phone, path("nowhere")], out: path("b"), expect: 2)
        XCTAssertTrue(missing.err.contains("nowhere"), missing.err)
        let device = try seal([phone, "/dev/zero"], out: path("b"), expect: 2)
        XCTAssertTrue(device.err.contains("/dev/zero"), device.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("b")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path(".b.partial")))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: ledger)), before)
    }

    // MARK: tampering

    func tampered(_ name: String, _ change: (String) throws -> Void) throws -> CLI.Result {
        let copy = path(name)
        let copied = try CLI.runTool("/bin/cp", ["-a", path("bundle"), copy])
        XCTAssertEqual(copied.status, 0, copied.err)
        try change(copy)
        return try verify(copy, expect: 1)
    }

    func testEveryTamperingIsNamed() throws {
        try makePhone()
        try seal([phone], out: path("bundle"))
        let image = "data/phone/DCIM/Camera/IMG_0001.jpg.gz"
        let flipped = try tampered("flip") { bundle in
            let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: bundle + "/" + image))
            try handle.seek(toOffset: 100)
            let byte = try XCTUnwrap(handle.readData(ofLength: 1).first)
            try handle.seek(toOffset: 100)
            handle.write(Data([byte ^ 1]))
            try handle.close()
        }
        XCTAssertTrue(flipped.out.contains("FAIL  item"), flipped.out)
        XCTAssertTrue(flipped.out.contains("phone/DCIM/Camera/IMG_0001.jpg"), flipped.out)
        let listed = try custody(["verify", "--list", path("flip")], expect: 1)
        XCTAssertTrue(listed.out.contains("FAILED  "), listed.out)
        XCTAssertEqual(listed.out.split(separator: "\n").filter { $0.hasPrefix("OK      ") }.count, 5, listed.out)
        let extra = try tampered("extra") { bundle in
            try Data("planted".utf8).write(to: URL(fileURLWithPath: bundle + "/data/phone/planted.txt"))
        }
        XCTAssertTrue(extra.out.contains("FAIL  bagit.payload-oxum"), extra.out)
        XCTAssertTrue(extra.out.contains("a payload file was added, removed or renamed"), extra.out)
        let removed = try tampered("removed") { bundle in
            try FileManager.default.removeItem(atPath: bundle + "/" + image)
        }
        XCTAssertTrue(removed.out.contains("IMG_0001.jpg"), removed.out)
        let renamed = try tampered("renamed") { bundle in
            try FileManager.default.moveItem(atPath: bundle + "/" + image, toPath: bundle + "/data/phone/moved.gz")
        }
        XCTAssertTrue(renamed.out.contains("FAIL"), renamed.out)
        let record = try tampered("record") { bundle in
            let file = bundle + "/custody/items.jsonl"
            let text = try String(contentsOfFile: file, encoding: .utf8)
            try text.replacingOccurrences(of: "\"uid\":", with: "\"uid\":1").write(toFile: file, atomically: true,
                                                                                    encoding: .utf8)
        }
        XCTAssertTrue(record.out.contains("FAIL  bagit.tagmanifest-sha256.txt"), record.out)
        let truncated = try tampered("truncated") { bundle in
            let file = bundle + "/custody/items.jsonl"
            let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: file)[.size] as? Int)
            XCTAssertEqual(truncate(file, off_t(size - 10)), 0)
        }
        XCTAssertTrue(truncated.out.contains("FAIL  items"), truncated.out)
        let swapped = try tampered("swapped") { bundle in
            let file = bundle + "/manifest-sha256.txt"
            var lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
            lines.swapAt(0, 1)
            try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        }
        XCTAssertTrue(swapped.out.contains("where item"), swapped.out)
        let linked = try tampered("linked") { bundle in
            try FileManager.default.createSymbolicLink(atPath: bundle + "/data/phone/evil", withDestinationPath: "/")
        }
        XCTAssertTrue(linked.out.contains("FAIL  bagit.no-links"), linked.out)
    }
}
