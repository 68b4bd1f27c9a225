import CustodyKit
import Foundation
import XCTest

#if canImport(FoundationXML)
import FoundationXML
#endif
#if canImport(Glibc)
import Glibc
#endif

/// `custody hash` end to end: every output format, round trips through the peers (sha256sum -c, hashdeep -a),
/// audits, walks, and every error path's exit code and message.
final class HashCommandTests: XCTestCase {
    /// Names that need coreutils escaping or quoting somewhere.
    static let awkwardNames = ["plain", "with space", "back\\slash", "new\nline", "carriage\rreturn",
                               "both\\and\nnewline", "tab\there", "paren (1) = x"]

    // MARK: - Fixtures

    /// A directory holding `files` (name -> content).
    func makeFiles(_ files: [String: [UInt8]]) throws -> URL {
        let directory = try makeTemporaryDirectory(self)
        for (name, content) in files {
            let url = directory.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(),
                                                    withIntermediateDirectories: true)
            try Data(content).write(to: url)
        }
        return directory
    }

    func content(_ name: String, size: Int = 100) -> [UInt8] {
        var state = UInt32(truncatingIfNeeded: name.utf8.reduce(5381) { $0 &* 33 &+ Int($1) }) | 1
        return (0..<size).map { _ in
            state ^= state << 13
            state ^= state >> 17
            state ^= state << 5
            return UInt8(truncatingIfNeeded: state)
        }
    }

    func treeDigest(_ data: [UInt8], chunkSize: Int = 1 << 20) -> String {
        // RFC 6962 by its recursive definition, independent of the engine's accumulator.
        func mth(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
            if leaves.isEmpty { return Digester.digest(.sha256, []) }
            if leaves.count == 1 { return leaves.first! }
            var k = 1
            while k * 2 < leaves.count { k *= 2 }
            let split = leaves.startIndex + k
            return Digester.digest(.sha256, [1] + mth(leaves[..<split]) + mth(leaves[split...]))
        }
        let leaves = stride(from: 0, to: data.count, by: chunkSize).map {
            Digester.digest(.sha256, [0] + data[$0..<min($0 + chunkSize, data.count)])
        }
        return Hex.encode(mth(leaves[...]))
    }

    func hex(_ algorithm: DigestAlgorithm, _ data: [UInt8]) -> String {
        Hex.encode(Digester.digest(algorithm, data))
    }

    func lines(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    /// No Swift runtime crash report, no ArgumentParser usage dump instead of a message.
    func assertCleanFailure(_ result: CLI.Result, status: Int32 = 2, mentions: [String],
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(result.status, status, "stderr: \(result.err)", file: file, line: line)
        for needle in mentions {
            XCTAssertTrue(result.err.contains(needle), "stderr lacks '\(needle)': \(result.err)",
                          file: file, line: line)
        }
        for crash in ["Fatal error", "Stack dump", "Program crashed", "Backtrac", "Illegal instruction"] {
            XCTAssertFalse(result.err.contains(crash), "crash report: \(result.err)", file: file, line: line)
        }
    }

    // MARK: - Formats

    func testTextFormatIsDefaultWithTreeAndSHA256() throws {
        let data = content("a", size: 3 << 20)
        let directory = try makeFiles(["a": data])
        let result = try CLI.run(["hash", "a"], in: directory)
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertEqual(lines(result.out), [
            "# TREE-SHA256-1M (a) = \(treeDigest(data))",
            "SHA256 (a) = \(hex(.sha256, data))",
        ])
        XCTAssertEqual(result.err, "")
    }

    func testChunkSizeOptionNamesAndChangesTheTreeDigest() throws {
        let data = content("b", size: 200_000)
        let directory = try makeFiles(["b": data])
        for (option, size) in [("64K", 64 << 10), ("128k", 128 << 10), ("64M", 64 << 20)] {
            let result = try CLI.run(["hash", "-a", "tree", "--chunk-size", option, "b"], in: directory)
            XCTAssertEqual(result.status, 0, result.err)
            XCTAssertEqual(lines(result.out), ["# TREE-SHA256-\(ByteSize.shortName(size)) (b) = "
                + treeDigest(data, chunkSize: size)])
        }
    }

    func testAllAlgorithmsAndReadersAgree() throws {
        let data = content("c", size: 5 * (64 << 10) + 17)
        let directory = try makeFiles(["c": data])
        let expected = [
            "# TREE-SHA256-64K (c) = \(treeDigest(data, chunkSize: 64 << 10))",
            "MD5 (c) = \(hex(.md5, data))",
            "SHA1 (c) = \(hex(.sha1, data))",
            "SHA256 (c) = \(hex(.sha256, data))",
            "SHA512 (c) = \(hex(.sha512, data))",
        ]
        for readers in ["1", "3"] {
            let result = try CLI.run(["hash", "-a", "sha512,md5,tree,sha1,sha256", "--chunk-size", "64K",
                                      "--readers", readers, "c"], in: directory)
            XCTAssertEqual(result.status, 0, result.err)
            XCTAssertEqual(lines(result.out), expected, "readers \(readers)")
        }
    }

    func testJSONFormat() throws {
        let data = content("j", size: 1000)
        let directory = try makeFiles(["j": data, "e": []])
        for arguments in [["--json"], ["--format", "json"]] {
            let result = try CLI.run(["hash", "-a", "tree,md5,sha1,sha256,sha512"] + arguments + ["j", "e"],
                                     in: directory)
            XCTAssertEqual(result.status, 0, result.err)
            let objects = try lines(result.out).map {
                try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
            }
            XCTAssertEqual(objects.count, 2)
            XCTAssertEqual(Set(objects[0].keys), ["path", "size", "chunkSize", "tree", "md5", "sha1", "sha256",
                                                  "sha512"])
            XCTAssertEqual(objects[0]["path"] as? String, "j")
            XCTAssertEqual(objects[0]["size"] as? Int, 1000)
            XCTAssertEqual(objects[0]["chunkSize"] as? Int, 1 << 20)
            XCTAssertEqual(objects[0]["tree"] as? String, treeDigest(data))
            for algorithm in DigestAlgorithm.allCases {
                XCTAssertEqual(objects[0][algorithm.rawValue] as? String, hex(algorithm, data))
            }
            XCTAssertEqual(objects[1]["path"] as? String, "e")
            XCTAssertEqual(objects[1]["size"] as? Int, 0)
            XCTAssertEqual(objects[1]["tree"] as? String,
                           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        }
        let defaults = try CLI.run(["hash", "--json", "j"], in: directory)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: defaults.stdout) as? [String: Any])
        XCTAssertEqual(Set(object.keys), ["path", "size", "chunkSize", "tree", "sha256"])
    }

    /// Each `*sum` format prints exactly what the coreutils tool prints, and the tool checks it.
    func testSumFormatsMatchAndRoundTripThroughCoreutils() throws {
        var files: [String: [UInt8]] = [:]
        for name in Self.awkwardNames { files[name] = content(name) }
        let directory = try makeFiles(files)
        let names = Self.awkwardNames.sorted()
        for (format, algorithm) in [("md5sum", DigestAlgorithm.md5), ("sha1sum", .sha1), ("sha256sum", .sha256),
                                    ("sha512sum", .sha512)] {
            let tool = try CLI.requireTool(format)
            let ours = try CLI.run(["hash", "--format", format] + names, in: directory)
            XCTAssertEqual(ours.status, 0, ours.err)
            let theirs = try CLI.runTool(tool, names, in: directory)
            XCTAssertEqual(ours.out, theirs.out, "\(format) output differs from the tool's")
            XCTAssertTrue(ours.out.contains("\\" + hex(algorithm, files["new\nline"]!) + "  new\\nline\n"))
            let list = directory.appendingPathComponent("list.\(format)")
            try ours.stdout.write(to: list)
            let check = try CLI.runTool(tool, ["-c", "--strict", list.path], in: directory)
            XCTAssertEqual(check.status, 0, "\(format) -c: \(check.out) \(check.err)")
            XCTAssertEqual(lines(check.out).filter { $0.hasSuffix(": OK") }.count, names.count, check.out)
            // The check can fail: change one file and it must.
            try Data("changed".utf8).write(to: directory.appendingPathComponent("carriage\rreturn"))
            let failing = try CLI.runTool(tool, ["-c", list.path], in: directory)
            XCTAssertEqual(failing.status, 1, "\(format) -c accepted a changed file")
            try Data(files["carriage\rreturn"]!).write(to: directory.appendingPathComponent("carriage\rreturn"))
        }
    }

    /// Names that are not UTF-8 (a Latin-1 name, lone continuation bytes) are hashed, written as the bytes they
    /// are (sum formats) or as surrogate escapes (JSON), audited, and checked by sha256sum.
    func testNamesThatAreNotUTF8AreHashedAndCheckable() throws {
        let directory = try makeTemporaryDirectory(self)
        let tree = directory.appendingPathComponent("tree").path
        XCTAssertEqual(mkdir(tree, 0o755), 0)
        let names: [[UInt8]] = [Array("caf".utf8) + [0xE9] + Array(".txt".utf8), [0xFF, 0xC3, 0x28],
                                Array("ok.txt".utf8)]
        var expected: [UInt8] = []
        for (number, name) in names.sorted(by: { $0.lexicographicallyPrecedes($1) }).enumerated() {
            let body = Array("file \(number)".utf8)
            let path = (Array(tree.utf8) + [0x2F] + name + [0]).map { CChar(bitPattern: $0) }
            let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            XCTAssertGreaterThanOrEqual(descriptor, 0)
            XCTAssertEqual(body.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }, body.count)
            close(descriptor)
            expected += Array("\(hex(.sha256, body))  tree/".utf8) + name + [0x0A]
        }
        let sums = try CLI.run(["hash", "-r", "--format", "sha256sum", "tree"], in: directory)
        XCTAssertEqual(sums.status, 0, sums.err)
        XCTAssertEqual(Array(sums.stdout), expected, "each name exactly as its bytes, in byte order")

        let json = try CLI.run(["hash", "-r", "--json", "tree"], in: directory)
        XCTAssertEqual(json.status, 0, json.err)
        XCTAssertTrue(json.out.contains(#""path":"tree/caf\udce9.txt""#), json.out)
        XCTAssertTrue(json.out.contains(#""path":"tree/\udcff\udcc3("#), json.out)

        let list = directory.appendingPathComponent("list.sha256")
        try sums.stdout.write(to: list)
        let audit = try CLI.run(["hash", "-r", "--audit", list.path, "tree"], in: directory)
        XCTAssertEqual(audit.status, 0, audit.out + audit.err)
        XCTAssertTrue(audit.out.contains("3 matched"), audit.out)

        // Named on the command line (argv bytes, not UTF-8) rather than found by -r.
        let single = try CLI.runTool("/bin/sh", ["-c", #""$0" hash --format sha256sum "$(printf 'tree/caf\351.txt')""#,
                                                 CLI.executable], in: directory)
        XCTAssertEqual(single.status, 0, single.err)
        XCTAssertEqual(Array(single.stdout), Array(expected[..<(expected.firstIndex(of: 0x0A)! + 1)]))

        let tool = try CLI.requireTool("sha256sum")
        let check = try CLI.runTool(tool, ["-c", "--strict", list.path], in: directory)
        XCTAssertEqual(check.status, 0, check.out + check.err)
    }

    func testBSDTagTextMatchesCoreutilsTag() throws {
        let tool = try CLI.requireTool("sha256sum")
        var files: [String: [UInt8]] = [:]
        for name in Self.awkwardNames { files[name] = content(name) }
        let directory = try makeFiles(files)
        let names = Self.awkwardNames.sorted()
        let ours = try CLI.run(["hash", "-a", "sha256"] + names, in: directory)
        let theirs = try CLI.runTool(tool, ["--tag"] + names, in: directory)
        XCTAssertEqual(ours.out, theirs.out)
    }

    func testHashdeepFormatAuditsWithHashdeep() throws {
        let hashdeep = try CLI.requireTool("hashdeep")
        let names = ["one", "with space", "comma,name", "sub/inner"]
        var files: [String: [UInt8]] = [:]
        for name in names { files[name] = content(name, size: 70_000) }
        files["empty"] = []
        let directory = try makeFiles(files)
        let all = (names + ["empty"]).sorted()
        let ours = try CLI.run(["hash", "--format", "hashdeep", "-a", "md5,sha256"] + all, in: directory)
        XCTAssertEqual(ours.status, 0, ours.err)
        let output = lines(ours.out)
        XCTAssertEqual(Array(output.prefix(2)), ["%%%% HASHDEEP-1.0", "%%%% size,md5,sha256,filename"])
        // The rows are hashdeep's own rows (hashdeep's order depends on its threads).
        let theirs = try CLI.runTool(hashdeep, ["-c", "md5,sha256"] + all, in: directory)
        XCTAssertEqual(output.filter { !$0.hasPrefix("%") && !$0.hasPrefix("#") }.sorted(),
                       lines(theirs.out).filter { !$0.hasPrefix("%") && !$0.hasPrefix("#") }.sorted())
        let known = directory.appendingPathComponent("known.hashdeep")
        try ours.stdout.write(to: known)
        let audit = try CLI.runTool(hashdeep, ["-a", "-k", known.path] + all, in: directory)
        XCTAssertEqual(audit.status, 0, "hashdeep -a: \(audit.out) \(audit.err)")
        XCTAssertTrue(audit.out.contains("Audit passed"), audit.out)
        try Data("different".utf8).write(to: directory.appendingPathComponent("one"))
        let failing = try CLI.runTool(hashdeep, ["-a", "-k", known.path] + all, in: directory)
        XCTAssertNotEqual(failing.status, 0, "hashdeep -a passed a changed file")
    }

    func testHashdeepFormatNeedsAHashdeepAlgorithm() throws {
        let directory = try makeFiles(["a": [1]])
        let defaults = try CLI.run(["hash", "--format", "hashdeep", "a"], in: directory)
        XCTAssertEqual(defaults.status, 0, defaults.err)
        XCTAssertEqual(lines(defaults.out)[1], "%%%% size,md5,sha256,filename")
        assertCleanFailure(try CLI.run(["hash", "--format", "hashdeep", "-a", "sha512,tree", "a"], in: directory),
                           mentions: ["hashdeep", "md5"])
    }

    func testDFXMLIsWellFormedAndCarriesEveryDigest() throws {
        let names = ["plain", "amp&<lt>\"q'", "new\nline", "carriage\rreturn", "ctrl\u{1}char"]
        var files: [String: [UInt8]] = [:]
        for name in names { files[name] = content(name, size: 3000) }
        let directory = try makeFiles(files)
        let result = try CLI.run(["hash", "--format", "dfxml", "-a", "tree,md5,sha1,sha256,sha512"] + names.sorted(),
                                 in: directory)
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertTrue(result.out.hasPrefix("<?xml version='1.0' encoding='UTF-8'?>\n<dfxml"), result.out)
        let collector = DFXMLCollector()
        let parser = XMLParser(data: result.stdout)
        parser.delegate = collector
        XCTAssertTrue(parser.parse(), "not well-formed: \(parser.parserError.map { "\($0)" } ?? "?")\n\(result.out)")
        XCTAssertEqual(collector.objects.count, names.count)
        for object in collector.objects {
            let name = try XCTUnwrap(names.first { object.filename.hasSuffix("/" + $0) || object.filename == $0 }
                ?? names.first { object.filename.hasSuffix("ctrl\u{FFFD}char") && $0.hasPrefix("ctrl") },
                object.filename)
            let data = files[name]!
            XCTAssertEqual(object.filesize, "\(data.count)")
            XCTAssertEqual(object.digests["MD5"], hex(.md5, data))
            XCTAssertEqual(object.digests["SHA1"], hex(.sha1, data))
            XCTAssertEqual(object.digests["SHA256"], hex(.sha256, data))
            XCTAssertEqual(object.digests["SHA512"], hex(.sha512, data))
            XCTAssertEqual(object.digests["TREE-SHA256-1M"], treeDigest(data))
        }
        if let xmllint = CLI.which("xmllint") {
            let file = directory.appendingPathComponent("out.xml")
            try result.stdout.write(to: file)
            let lint = try CLI.runTool(xmllint, ["--noout", file.path])
            XCTAssertEqual(lint.status, 0, lint.err)
        }
    }

    // MARK: - Audit

    func testAuditAgainstSha256sumList() throws {
        let directory = try makeFiles(["d/a": content("a"), "d/b": content("b"), "d/c c": content("c"),
                                       "d/n\nl": content("n")])
        let names = ["d/a", "d/b", "d/c c", "d/n\nl"]
        let listing: Data
        if let tool = CLI.which("sha256sum") {
            listing = try CLI.runTool(tool, names, in: directory).stdout
        } else {
            listing = try CLI.run(["hash", "--format", "sha256sum"] + names, in: directory).stdout
        }
        let known = directory.appendingPathComponent("known.sha256")
        try listing.write(to: known)

        let pass = try CLI.run(["hash", "-r", "--audit", known.path, "d"], in: directory)
        XCTAssertEqual(pass.status, 0, pass.out + pass.err)
        XCTAssertTrue(pass.out.contains("audit passed: 4 matched, 0 changed, 0 moved, 0 new, 0 missing"), pass.out)

        // changed, moved, new and missing at once: each named, exit 1.
        try Data("changed".utf8).write(to: directory.appendingPathComponent("d/a"))
        try FileManager.default.moveItem(at: directory.appendingPathComponent("d/b"),
                                         to: directory.appendingPathComponent("d/b-renamed"))
        try Data("brand new".utf8).write(to: directory.appendingPathComponent("d/new"))
        try FileManager.default.removeItem(at: directory.appendingPathComponent("d/c c"))
        let fail = try CLI.run(["hash", "-r", "--audit", known.path, "d"], in: directory)
        XCTAssertEqual(fail.status, 1, fail.out + fail.err)
        let out = lines(fail.out)
        XCTAssertTrue(out.contains { $0.hasPrefix("changed: d/a: sha256 expected \(hex(.sha256, content("a")))") },
                      fail.out)
        XCTAssertTrue(out.contains("moved: d/b-renamed (known as d/b)"), fail.out)
        XCTAssertTrue(out.contains("new: d/new"), fail.out)
        XCTAssertTrue(out.contains("missing: d/c c"), fail.out)
        XCTAssertTrue(out.contains("audit failed: 1 matched, 1 changed, 1 moved, 1 new, 1 missing"), fail.out)

        // A known name holding a newline (sha256sum's escaped form) is reported on one line, the newline shown.
        let escaped = directory.appendingPathComponent("escaped.txt")
        try Data("\\\(String(repeating: "0", count: 64))  d/x\\ny\n".utf8).write(to: escaped)
        let odd = try CLI.run(["hash", "-r", "--audit", escaped.path, "d"], in: directory)
        XCTAssertEqual(odd.status, 1, odd.out + odd.err)
        XCTAssertTrue(lines(odd.out).contains("missing: d/x\\x0ay"), odd.out)

        let json = try CLI.run(["hash", "-r", "--json", "--audit", known.path, "d"], in: directory)
        XCTAssertEqual(json.status, 1)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: json.stdout) as? [String: Any])
        XCTAssertEqual(report["passed"] as? Bool, false)
        let counts = try XCTUnwrap(report["counts"] as? [String: Int])
        XCTAssertEqual(counts, ["matched": 1, "changed": 1, "moved": 1, "new": 1, "missing": 1])
    }

    func testAuditAgainstHashdeepList() throws {
        let directory = try makeFiles(["a": content("a"), "b": content("b"), "sub/c": content("c")])
        let listing: Data
        if let tool = CLI.which("hashdeep") {
            listing = try CLI.runTool(tool, ["-r", "-c", "md5,sha256", "."], in: directory).stdout
        } else {
            listing = try CLI.run(["hash", "-r", "--format", "hashdeep", "."], in: directory).stdout
        }
        let known = directory.appendingPathComponent("../known-\(UUID().uuidString).hashdeep").standardizedFileURL
        try listing.write(to: known)
        addTeardownBlock { try? FileManager.default.removeItem(at: known) }

        let pass = try CLI.run(["hash", "-r", "-a", "md5,sha256", "--audit", known.path, "."], in: directory)
        XCTAssertEqual(pass.status, 0, pass.out + pass.err)
        XCTAssertTrue(pass.out.contains("audit passed: 3 matched"), pass.out)

        try Data("x".utf8).write(to: directory.appendingPathComponent("sub/c"))
        try FileManager.default.removeItem(at: directory.appendingPathComponent("a"))
        let fail = try CLI.run(["hash", "-r", "-a", "md5,sha256", "--audit", known.path, "."], in: directory)
        XCTAssertEqual(fail.status, 1, fail.out + fail.err)
        XCTAssertTrue(fail.out.contains("changed: ./sub/c: size expected 100, got 1"), fail.out)
        XCTAssertTrue(lines(fail.out).contains(directory.appendingPathComponent("a").path.withPrefix("missing: ")),
                      fail.out)
    }

    /// Without -a, an audit computes what the known list holds (here md5 only).
    func testAuditComputesTheKnownListsAlgorithms() throws {
        let directory = try makeFiles(["a": content("a"), "b": content("b")])
        let listing = "\(hex(.md5, content("a")))  a\n\(hex(.md5, content("b")))  b\n"
        let known = directory.appendingPathComponent("known.md5")
        try Data(listing.utf8).write(to: known)
        let pass = try CLI.run(["hash", "--audit", known.path, "a", "b"], in: directory)
        XCTAssertEqual(pass.status, 0, pass.out + pass.err)
        try Data("z".utf8).write(to: directory.appendingPathComponent("b"))
        let fail = try CLI.run(["hash", "--audit", known.path, "a", "b"], in: directory)
        XCTAssertEqual(fail.status, 1, fail.out + fail.err)
        XCTAssertTrue(fail.out.contains("changed: b: md5 expected"), fail.out)
    }

    /// custody's own text output (a tree line and linear lines per file) is a valid known list.
    func testAuditAgainstOwnTextOutput() throws {
        let directory = try makeFiles(["a": content("a"), "b c": content("b")])
        let text = try CLI.run(["hash", "-a", "tree,md5,sha512", "a", "b c"], in: directory)
        let known = directory.appendingPathComponent("known.txt")
        try text.stdout.write(to: known)
        let pass = try CLI.run(["hash", "--audit", known.path, "a", "b c"], in: directory)
        XCTAssertEqual(pass.status, 0, pass.out + pass.err)
        XCTAssertTrue(pass.out.contains("audit passed: 2 matched, 0 changed, 0 moved, 0 new, 0 missing"), pass.out)

        // A tree-only list is audited by tree digest, at the chunk size the list names.
        let treeList = try CLI.run(["hash", "-a", "tree", "--chunk-size", "64K", "a", "b c"], in: directory)
        try treeList.stdout.write(to: known)
        let treePass = try CLI.run(["hash", "--audit", known.path, "a", "b c"], in: directory)
        XCTAssertEqual(treePass.status, 0, treePass.out + treePass.err)
        try Data("other".utf8).write(to: directory.appendingPathComponent("b c"))
        let treeFail = try CLI.run(["hash", "--audit", known.path, "a", "b c"], in: directory)
        XCTAssertEqual(treeFail.status, 1, treeFail.out + treeFail.err)
        let expected = treeDigest(content("b"), chunkSize: 64 << 10)
        XCTAssertTrue(treeFail.out.contains("changed: b c: tree expected \(expected), got "), treeFail.out)
    }

    func testAuditWithUnreadableOrMalformedList() throws {
        let directory = try makeFiles(["a": [1], "bad": Array("not a hash line\n".utf8)])
        assertCleanFailure(try CLI.run(["hash", "--audit", "absent.sha256", "a"], in: directory),
                           mentions: ["absent.sha256"])
        assertCleanFailure(try CLI.run(["hash", "--audit", "bad", "a"], in: directory), mentions: ["bad:1"])
    }

    // MARK: - Inputs

    func testStandardInput() throws {
        let result = try CLI.run(["hash", "-a", "sha256,tree", "-"], stdin: Data("abc".utf8))
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertEqual(lines(result.out), [
            "# TREE-SHA256-1M (-) = \(treeDigest(Array("abc".utf8)))",
            "SHA256 (-) = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ])
        let big = content("stdin", size: 3 << 20 | 5)
        let sum = try CLI.run(["hash", "--format", "sha256sum", "-"], stdin: Data(big))
        XCTAssertEqual(sum.out, "\(hex(.sha256, big))  -\n")
        let empty = try CLI.run(["hash", "-a", "tree", "-"], stdin: Data())
        XCTAssertEqual(empty.out,
                       "# TREE-SHA256-1M (-) = e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n")
    }

    func testRecursiveWalkOrderLinksAndSpecialFiles() throws {
        let directory = try makeFiles(["t/b": content("b"), "t/a": content("a"), "t/B": content("B"),
                                       "t/z/y": content("y"), "t/a0/x": content("x"), "outside": content("o")])
        try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent("t/link").path,
                                                   withDestinationPath: "../outside")
        try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent("t/dangling").path,
                                                   withDestinationPath: "nowhere")
        XCTAssertEqual(mkfifo(directory.appendingPathComponent("t/fifo").path, 0o600), 0)

        let result = try CLI.run(["hash", "-r", "--format", "sha256sum", "t"], in: directory)
        XCTAssertEqual(result.status, 0, result.err)
        let paths = lines(result.out).map { String($0.dropFirst(66)) }
        XCTAssertEqual(paths, ["t/B", "t/a", "t/a0/x", "t/b", "t/z/y"])
        XCTAssertTrue(result.err.contains("t/link: symbolic link skipped"), result.err)
        XCTAssertTrue(result.err.contains("t/dangling: symbolic link skipped"), result.err)
        XCTAssertTrue(result.err.contains("t/fifo: special file skipped"), result.err)
        let again = try CLI.run(["hash", "-r", "--format", "sha256sum", "t"], in: directory)
        XCTAssertEqual(again.out, result.out)

        let followed = try CLI.run(["hash", "-r", "-L", "--format", "sha256sum", "t"], in: directory)
        XCTAssertEqual(followed.status, 2, "a dangling link under -L is an error: \(followed.err)")
        XCTAssertTrue(followed.out.contains("\(hex(.sha256, content("o")))  t/link\n"), followed.out)
        XCTAssertEqual(lines(followed.err).filter { $0.contains("t/dangling") }.count, 1, followed.err)
        XCTAssertTrue(followed.err.contains("No such file or directory"), followed.err)
    }

    /// The collection path of `hash -r`: 4,001 files and empty folders, digests as sha256sum computes them, in
    /// byte order, and the summary on stderr (stdout stays the hash list).
    func testRecursiveCollectionDigestsOrderAndSummary() throws {
        var files: [String: [UInt8]] = [:]
        for index in 0..<4001 { files["c/d\(index % 7)/f\(index)"] = content("f\(index)", size: index % 5000) }
        let directory = try makeFiles(files)
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("c/empty/deeper"),
                                                withIntermediateDirectories: true)
        let result = try CLI.run(["hash", "-r", "--format", "sha256sum", "c"], in: directory)
        XCTAssertEqual(result.status, 0, result.err)
        let expected = files.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            .map { "\(hex(.sha256, files[$0]!))  \($0)" }
        XCTAssertEqual(lines(result.out), expected)
        let bytes = files.values.reduce(0) { $0 + $1.count }
        XCTAssertTrue(result.err.hasPrefix("hashed 4001 files, \(ByteSize.describe(UInt64(bytes))) in "), result.err)
        XCTAssertTrue(result.err.hasSuffix("; 0 failed, 0 skipped\n"), result.err)
        XCTAssertEqual(lines(result.err).count, 1, result.err)
        let sha256sum = "/usr/bin/sha256sum"
        if FileManager.default.isExecutableFile(atPath: sha256sum) {
            let check = try CLI.runTool(sha256sum, ["-c", "--quiet", "-"], stdin: Data(result.out.utf8),
                                        in: directory)
            XCTAssertEqual(check.status, 0, check.out + check.err)
        }
        let quiet = try CLI.run(["hash", "-r", "--quiet", "--format", "sha256sum", "c"], in: directory)
        XCTAssertEqual(quiet.out, result.out)
        XCTAssertEqual(quiet.err, "")
    }

    /// Unreadable folders (run as nobody when the tests run as root, who reads anything): each named on stderr
    /// with the system's reason, at most 100 lines, every one in --json, the readable files still hashed, exit 2.
    func testUnreadableFoldersListedByPathAtMostAHundred() throws {
        var files: [String: [UInt8]] = ["u/readable": content("r")]
        for index in 0..<120 { files[String(format: "u/locked%03d/secret", index)] = content("s\(index)") }
        let directory = try makeFiles(files)
        for index in 0..<120 {
            XCTAssertEqual(chmod(directory.appendingPathComponent(String(format: "u/locked%03d", index)).path, 0), 0)
        }
        defer {
            for index in 0..<120 {
                chmod(directory.appendingPathComponent(String(format: "u/locked%03d", index)).path, 0o755)
            }
        }
        func runUnprivileged(_ arguments: [String]) throws -> CLI.Result {
            guard getuid() == 0 else { return try CLI.run(arguments, in: directory) }
            // The temporary folder and the binary must be reachable by nobody.
            chmod(directory.path, 0o755)
            return try CLI.runTool("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups",
                                                        CLI.executable] + arguments, in: directory)
        }
        if getuid() == 0 && !FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") {
            throw XCTSkip("running as root without setpriv: cannot make a folder unreadable")
        }
        let text = try runUnprivileged(["hash", "-r", "--format", "sha256sum", "u"])
        if text.status == 126 || text.status == 127 {
            throw XCTSkip("nobody cannot run \(CLI.executable): \(text.err)")
        }
        assertCleanFailure(text, mentions: ["custody: u/locked000: open directory: Permission denied",
                                            "custody: 20 more failures not listed (--json lists every one)",
                                            "hashed 1 files, "])
        XCTAssertEqual(lines(text.err).filter { $0.hasSuffix(": open directory: Permission denied") }.count, 100)
        XCTAssertEqual(lines(text.out), ["\(hex(.sha256, content("r")))  u/readable"])

        let json = try runUnprivileged(["hash", "-r", "--json", "u"])
        XCTAssertEqual(json.status, 2, json.err)
        let objects = try lines(json.out).map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        let failures = objects.filter { $0["error"] != nil }
        XCTAssertEqual(failures.count, 120)
        XCTAssertEqual(failures.first?["path"] as? String, "u/locked000")
        XCTAssertEqual(failures.first?["error"] as? String, "open directory: Permission denied")
        XCTAssertEqual(objects.filter { $0["sha256"] != nil }.count, 1)
        XCTAssertTrue(json.err.contains("custody: 20 more failures not listed\n"), json.err)
    }

    func testFIFONamedOnTheCommandLineIsReadAsAStream() throws {
        let directory = try makeTemporaryDirectory(self)
        let fifo = directory.appendingPathComponent("pipe").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let writer = Thread {
            let handle = FileHandle(forWritingAtPath: fifo)
            handle?.write(Data("abc".utf8))
            try? handle?.close()
        }
        writer.start()
        let result = try CLI.run(["hash", "--format", "sha256sum", fifo])
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertEqual(result.out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  \(fifo)\n")
    }

    // MARK: - Errors

    func testMissingFileAmongGoodOnes() throws {
        let directory = try makeFiles(["a": content("a"), "c": content("c")])
        let result = try CLI.run(["hash", "--format", "sha256sum", "a", "missing", "c"], in: directory)
        XCTAssertEqual(result.status, 2)
        XCTAssertEqual(result.out, "\(hex(.sha256, content("a")))  a\n\(hex(.sha256, content("c")))  c\n")
        XCTAssertEqual(lines(result.err), ["custody: missing: stat: No such file or directory"])
    }

    func testDanglingSymlinkAndDirectoryWithoutRecursion() throws {
        let directory = try makeFiles(["a": content("a"), "d/x": content("x")])
        try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent("dangling").path,
                                                   withDestinationPath: "nowhere")
        let result = try CLI.run(["hash", "-a", "md5", "d", "dangling", "a"], in: directory)
        XCTAssertEqual(result.status, 2)
        XCTAssertEqual(lines(result.out), ["MD5 (a) = \(hex(.md5, content("a")))"])
        let errors = lines(result.err)
        XCTAssertEqual(errors.count, 2, result.err)
        XCTAssertTrue(errors.contains("custody: d: is a directory (use -r to hash its files)"), result.err)
        XCTAssertTrue(errors.contains("custody: dangling: stat: No such file or directory"), result.err)
    }

    func testUsageErrorsExitTwoWithAMessage() throws {
        let directory = try makeFiles(["a": [1, 2, 3]])
        for size in ["3M", "32K", "128M", "abc", "0", "1T"] {
            let result = try CLI.run(["hash", "--chunk-size", size, "a"], in: directory)
            assertCleanFailure(result, mentions: [size == "abc" ? "'abc'" : "power of two"])
            XCTAssertEqual(result.out, "", "--chunk-size \(size)")
        }
        assertCleanFailure(try CLI.run(["hash", "-a", "md4", "a"], in: directory), mentions: ["md4", "sha256"])
        assertCleanFailure(try CLI.run(["hash", "-a", "sha256,,md5", "a"], in: directory), mentions: ["unknown"])
        assertCleanFailure(try CLI.run(["hash", "--format", "xml", "a"], in: directory), mentions: ["xml", "dfxml"])
        assertCleanFailure(try CLI.run(["hash", "--format", "sha256sum", "-a", "md5", "a"], in: directory),
                           mentions: ["sha256sum", "sha256"])
        assertCleanFailure(try CLI.run(["hash", "--format", "md5sum", "-a", "tree,sha1", "a"], in: directory),
                           mentions: ["md5"])
        assertCleanFailure(try CLI.run(["hash", "--audit", "a", "-a", "tree", "a"], in: directory),
                           mentions: ["--audit"])
        assertCleanFailure(try CLI.run(["hash"], in: directory), mentions: ["PATH"])
        assertCleanFailure(try CLI.run(["hash", "--readers", "0", "a"], in: directory), mentions: ["--readers"])
        assertCleanFailure(try CLI.run(["hash", "--json", "--format", "dfxml", "a"], in: directory),
                           mentions: ["--json"])
    }
}

extension String {
    func withPrefix(_ prefix: String) -> String { prefix + self }
}

/// Collects DFXML fileobjects: filename, filesize and hashdigest values by type.
final class DFXMLCollector: NSObject, XMLParserDelegate {
    struct FileObject {
        var filename = ""
        var filesize = ""
        var digests: [String: String] = [:]
    }

    var objects: [FileObject] = []
    private var current: FileObject?
    private var text = ""
    private var digestType: String?

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName: String?, attributes: [String: String] = [:]) {
        text = ""
        if elementName == "fileobject" { current = FileObject() }
        if elementName == "hashdigest" { digestType = attributes["type"] }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        text += string
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?,
                qualifiedName: String?) {
        switch elementName {
        case "filename": current?.filename = text
        case "filesize": current?.filesize = text
        case "hashdigest": if let digestType { current?.digests[digestType] = text }
        case "fileobject": if let current { objects.append(current) }
        default: break
        }
    }
}
