import Foundation
import XCTest
import CustodyKit

/// `custody seal`, `verify`, `trust` and `demo` through the built binary: sealing, peers' view of the bundle
/// (bagit.py, gzip, sha256sum), every kind of damage the issue lists, and the trust store.
final class SealVerifyTests: CLITestCase {
    var keys: String { dir.appendingPathComponent("keys").path }
    var aliceKey: String { keys + "/alice.key" }
    var bobKey: String { keys + "/bob.key" }
    var ledgerPath: String { dir.appendingPathComponent("alice.ledger").path }
    var evidence: String { dir.appendingPathComponent("evidence").path }
    /// The fixture's files, named one by one: an image bundle (a directory among the inputs would make a
    /// collection bundle, tested in CollectionSealTests).
    var evidenceFiles: [String] { [evidence + "/notes.txt", evidence + "/sub/disk.img"] }
    /// A file whose name holds every character BagIt tools mishandle, and a space.
    let oddName = "odd%25name\r\nwith space.txt"
    var oddPath: String { dir.appendingPathComponent("loose").path + "/" + oddName }
    let chunk = 65536

    override func setUpWithError() throws {
        try super.setUpWithError()
        try keygen("alice", "FR")
        try makeLedger(ledgerPath, origin: "police.fr.example/custody", key: aliceKey)
        try FileManager.default.createDirectory(atPath: evidence + "/sub", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.appendingPathComponent("loose").path,
                                                withIntermediateDirectories: true)
        try Data("Meeting at the harbour, 21:00.\n".utf8).write(to: URL(fileURLWithPath: evidence + "/notes.txt"))
        // Four chunks of 64 KiB and a tail: random (incompressible), zeros, text, random.
        var disk = Data((0..<chunk).map { _ in UInt8.random(in: 0...255) })
        disk += Data(count: chunk)
        disk += Data(String(repeating: "From: a@example.org\nTo: b@example.org\n\n", count: 1700).utf8.prefix(chunk))
        disk += Data((0..<(chunk + 1234)).map { _ in UInt8.random(in: 0...255) })
        try disk.write(to: URL(fileURLWithPath: evidence + "/sub/disk.img"))
        try Data("odd\n".utf8).write(to: URL(fileURLWithPath: oddPath))
    }

    // MARK: helpers

    /// Makes `name`'s keys, without a passphrase, in `keys`.
    func keygen(_ name: String, _ country: String) throws {
        try makeKeys(name, agency: "Agency \(country)", jurisdiction: country, in: keys)
    }

    @discardableResult
    func seal(_ inputs: [String], out: String, _ extra: [String] = [], key: String? = nil,
              expect status: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) throws -> CLI.Result {
        let result = try CLI.run(["seal", "--ledger", ledgerPath, "--key", key ?? aliceKey, "--out", out,
                                  "--chunk-size", "64K", "--quiet"] + extra + inputs)
        XCTAssertEqual(result.status, status, "seal: " + result.err + result.out, file: file, line: line)
        return result
    }

    /// Seals the evidence folder and the oddly named file into a new bundle.
    func sealFixture(_ name: String = "bundle", _ extra: [String] = []) throws -> String {
        let out = dir.appendingPathComponent(name).path
        try seal(evidenceFiles + [oddPath], out: out, ["--case", "FR-2026-0042", "--examiner", "A. Martin"] + extra)
        return out
    }

    func verify(_ bundle: String, _ extra: [String] = []) throws -> CLI.Result {
        try CLI.run(["verify", bundle] + extra)
    }

    func readJSON(_ path: String) throws -> JSONValue {
        try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
    }

    func items(_ bundle: String) throws -> [JSONValue] {
        let json = try readJSON(bundle + "/custody/items.json")
        return try XCTUnwrap(json["items"]?.arrayValue)
    }

    func item(_ bundle: String, named name: String) throws -> JSONValue {
        try XCTUnwrap(try items(bundle).first { $0["originalName"]?.stringValue == name }, "no item \(name)")
    }

    func payload(_ bundle: String, _ name: String = "disk.img") throws -> String {
        try XCTUnwrap(try item(bundle, named: name)["payload"]?.stringValue)
    }

    func copy(_ bundle: String, _ name: String) throws -> String {
        let target = dir.appendingPathComponent(name).path
        try FileManager.default.copyItem(atPath: bundle, toPath: target)
        return target
    }

    func flipByte(_ path: String, at offset: UInt64) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: offset)
        let byte = try XCTUnwrap(try handle.read(upToCount: 1)).first!
        try handle.seek(toOffset: offset)
        try handle.write(contentsOf: [byte ^ 0x20])
    }

    func append(_ text: String, to path: String) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
    }

    func sha256Hex(_ path: String) throws -> String {
        Hex.encode(Digester.digest(.sha256, Array(try Data(contentsOf: URL(fileURLWithPath: path)))))
    }

    /// Recomputes both tag manifests over the files they list, as a forger who edits tag files would.
    func rewriteTagManifests(_ bundle: String) throws {
        for algorithm in [DigestAlgorithm.sha256, .sha512] {
            let path = bundle + "/tagmanifest-\(algorithm.rawValue).txt"
            let entries = try BagIt.parseManifest(Array(try Data(contentsOf: URL(fileURLWithPath: path))), name: path,
                                                  algorithm: algorithm)
            let rebuilt = entries.compactMap { entry -> (path: String, hex: String)? in
                guard let data = try? Data(contentsOf: URL(fileURLWithPath: bundle + "/" + entry.path)) else {
                    return nil
                }
                return (entry.path, Hex.encode(Digester.digest(algorithm, Array(data))))
            }
            try Data(BagIt.manifest(rebuilt).utf8).write(to: URL(fileURLWithPath: path))
        }
    }

    /// Asserts exit 1 and that, for each culprit, some FAIL line of the report names it.
    func assertFails(_ result: CLI.Result, naming culprits: [String], file: StaticString = #filePath,
                     line: UInt = #line) {
        XCTAssertEqual(result.status, 1, result.out + result.err, file: file, line: line)
        let failures = result.out.split(separator: "\n").filter { $0.hasPrefix("FAIL") }
        XCTAssertFalse(failures.isEmpty, result.out, file: file, line: line)
        for culprit in culprits {
            XCTAssertTrue(failures.contains { $0.contains(culprit) },
                          "no FAIL line names '\(culprit)':\n\(result.out)", file: file, line: line)
        }
        XCTAssertTrue(result.out.contains("FAILED: "), result.out, file: file, line: line)
    }

    /// Every entry under `root` (not following links): type, size, mode, modification time and content digest.
    func snapshot(_ root: String) throws -> [String: String] {
        var out: [String: String] = [:]
        let manager = FileManager.default
        for relative in try manager.subpathsOfDirectory(atPath: root) + [""] {
            let path = relative.isEmpty ? root : root + "/" + relative
            let attributes = try manager.attributesOfItem(atPath: path)
            let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? -1
            var line = "\(attributes[.type] ?? "?") \(attributes[.size] ?? "?") "
                + "\(attributes[.posixPermissions] ?? "?") \(modified)"
            if (attributes[.type] as? FileAttributeType) == .typeRegular { line += " " + (try sha256Hex(path)) }
            out[relative] = line
        }
        return out
    }

    func makeTrustStore(_ name: String, entries: [(name: String, pub: String, country: String)]) throws -> String {
        let store = dir.appendingPathComponent(name).path
        for entry in entries {
            let added = try CLI.run(["trust", "add", store, entry.name, "--key", entry.pub,
                                     "--jurisdiction", entry.country, "--agency", "Agency \(entry.country)"])
            XCTAssertEqual(added.status, 0, added.err)
        }
        return store
    }

    // MARK: sealing

    func testSealFilesDirectoryAndOddNameThenVerify() throws {
        let bundle = try sealFixture()
        let records = try items(bundle)
        XCTAssertEqual(records.count, 3)
        XCTAssertEqual(Set(records.compactMap { $0["originalName"]?.stringValue }),
                       ["notes.txt", "disk.img", oddName])
        let bundleID = try XCTUnwrap(try readJSON(bundle + "/custody/items.json")["bundle"]?.stringValue)
        for record in records {
            let path = try XCTUnwrap(record["payload"]?.stringValue)
            XCTAssertNotNil(path.range(of: #"^data/[0-9]{4}-[A-Za-z0-9._-]+\.gz$"#, options: .regularExpression),
                            "unsafe payload name \(BagIt.printable(path))")
            XCTAssertEqual(record["encoding"]?.stringValue, "gzip")
            XCTAssertEqual(record["caseNumber"]?.stringValue, "FR-2026-0042")
            XCTAssertEqual(record["examiner"]?.stringValue, "A. Martin")
            XCTAssertEqual(record["chunkSize"]?.intValue, Int64(chunk))
            XCTAssertNotNil(record["acquisitionStart"]?.stringValue)
            XCTAssertEqual(record["tool"]?.stringValue?.hasPrefix("custody "), true)
            XCTAssertTrue(FileManager.default.fileExists(atPath: bundle + "/" + path))
        }
        let odd = try item(bundle, named: oddName)
        let oddPayload = try XCTUnwrap(odd["payload"]?.stringValue)
        XCTAssertFalse(oddPayload.contains("%") || oddPayload.contains("\r") || oddPayload.contains("\n")
                       || oddPayload.contains(" "))
        XCTAssertEqual(odd["source"]?["path"]?.stringValue, oddPath)
        XCTAssertEqual(odd["source"]?["kind"]?.stringValue, "file")
        XCTAssertEqual(odd["source"]?["size"]?.intValue, 4)

        let bagInfo = try String(contentsOfFile: bundle + "/bag-info.txt", encoding: .utf8)
        for label in ["Source-Organization: Agency FR", "External-Identifier: \(bundleID)", "Bagging-Date: ",
                      "Payload-Oxum: ", "Contact-Name: A. Martin", "Custody-Case: FR-2026-0042"] {
            XCTAssertTrue(bagInfo.contains(label), "bag-info lacks \(label):\n\(bagInfo)")
        }
        let verified = try verify(bundle)
        XCTAssertEqual(verified.status, 0, verified.out + verified.err)
        XCTAssertTrue(verified.out.contains("verified, signers NOT checked"), verified.out)
        XCTAssertFalse(verified.out.contains("FAIL"), verified.out)
        // The report stays one line per check even for a name holding CR and LF.
        XCTAssertTrue(verified.out.contains("odd%25name\\x0d\\x0awith space.txt"), verified.out)

        let json = try verify(bundle, ["--json"])
        XCTAssertEqual(json.status, 0, json.err)
        let report = try JSONValue.parse(Array(json.out.trimmingCharacters(in: .newlines).utf8))
        XCTAssertEqual(report["passed"], .bool(true))
        XCTAssertEqual(report["bundle"]?.stringValue, bundleID)
        XCTAssertEqual(report["items"]?.arrayValue?.count, 3)
        XCTAssertEqual(report["sealedBy"]?["name"]?.stringValue, "alice")
        XCTAssertEqual(report["sealedBy"]?["jurisdiction"]?.stringValue, "FR")
        let checks = try XCTUnwrap(report["checks"]?.arrayValue)
        XCTAssertGreaterThan(checks.count, 10)
        for check in checks {
            XCTAssertNotNil(check["check"]?.stringValue)
            XCTAssertNotNil(check["detail"]?.stringValue)
            XCTAssertTrue(["passed", "warning", "skipped"].contains(check["status"]?.stringValue ?? ""), "\(check)")
        }
        let names = checks.compactMap { $0["check"]?.stringValue }
        for expected in ["bagit.manifest-sha256.txt", "bagit.tagmanifest-sha256.txt", "seal signature",
                         "seal statement", "ledger excerpt", "inclusion proofs", "checkpoint signature",
                         "item 1 content", "item 3 content"] {
            XCTAssertTrue(names.contains(expected), "no check \(expected) in \(names)")
        }

        // The ledger holds one acquire entry per item and one seal entry, and still verifies.
        let ledger = try CLI.run(["ledger", "verify", ledgerPath])
        XCTAssertEqual(ledger.status, 0, ledger.out + ledger.err)
        let export = try CLI.run(["ledger", "export", ledgerPath])
        let entries = try export.out.split(separator: "\n").map { try JSONValue.parse(Array($0.utf8)) }
        XCTAssertEqual(entries.filter { $0["action"]?.stringValue == "acquire" }.count, 3)
        XCTAssertEqual(entries.filter { $0["action"]?.stringValue == "seal" }.count, 1)
        let excerpt = try String(contentsOfFile: bundle + "/custody/ledger-excerpt.jsonl", encoding: .utf8)
        XCTAssertEqual(excerpt, export.out.split(separator: "\n").map { $0 + "\n" }.joined(),
                       "the excerpt holds exactly the ledger's entries about these items")
    }

    func testPeersAcceptTheBundle() throws {
        let bundle = try sealFixture()
        let bagit = try CLI.requireTool("bagit.py")
        let validated = try CLI.runTool(bagit, ["--validate", bundle])
        XCTAssertEqual(validated.status, 0, validated.out + validated.err)
        XCTAssertTrue(validated.err.contains("is valid"), validated.err)
    }

    func testGzipReadsEveryPayloadToTheItemDigest() throws {
        let gzip = try CLI.requireTool("gzip")
        let sha256sum = try CLI.requireTool("sha256sum")
        let bundle = try sealFixture()
        let sources = ["notes.txt": evidence + "/notes.txt",
                       "disk.img": evidence + "/sub/disk.img", oddName: oddPath]
        for (name, source) in sources {
            let record = try item(bundle, named: name)
            let payload = bundle + "/" + (try XCTUnwrap(record["payload"]?.stringValue))
            let tested = try CLI.runTool(gzip, ["-t", payload])
            XCTAssertEqual(tested.status, 0, tested.err)
            let piped = try CLI.runTool("/bin/sh", ["-c", "\"$0\" -dc \"$1\" | \"$2\"", gzip, payload, sha256sum])
            XCTAssertEqual(piped.status, 0, piped.err)
            let fromGzip = String(piped.out.prefix(64))
            let original = try CLI.runTool(sha256sum, [], stdin: try Data(contentsOf: URL(fileURLWithPath: source)))
            XCTAssertEqual(fromGzip, String(original.out.prefix(64)), name)
            XCTAssertEqual(record["digests"]?["sha256"]?.stringValue, fromGzip, name)
            XCTAssertEqual(record["size"]?.intValue,
                           (try FileManager.default.attributesOfItem(atPath: source)[.size] as? NSNumber)?.int64Value)
        }
    }

    func testNoCompressStoresContentAsItIs() throws {
        let out = dir.appendingPathComponent("raw").path
        try seal(evidenceFiles, out: out, ["--no-compress"])
        let record = try item(out, named: "disk.img")
        XCTAssertEqual(record["encoding"]?.stringValue, "raw")
        let path = try XCTUnwrap(record["payload"]?.stringValue)
        XCTAssertFalse(path.hasSuffix(".gz"))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out + "/" + path)),
                       try Data(contentsOf: URL(fileURLWithPath: evidence + "/sub/disk.img")))
        XCTAssertEqual(record["storedSize"]?.intValue, record["size"]?.intValue)
        let verified = try verify(out)
        XCTAssertEqual(verified.status, 0, verified.out)
        if let bagit = CLI.which("bagit.py") {
            XCTAssertEqual(try CLI.runTool(bagit, ["--validate", out]).status, 0)
        }
        // A flipped byte in chunk 2 (bytes 131072-196607) is named by chunk and byte range.
        try flipByte(out + "/" + path, at: UInt64(2 * chunk + 100))
        assertFails(try verify(out), naming: [path, "chunk 2 (bytes 131072-196607)"])
    }

    func testConditionsAreCarried() throws {
        let conditions = dir.appendingPathComponent("conditions.json").path
        let text = """
            {"legalBasis": "UN Convention against Cybercrime, art. 40", "case": "FR-2026-7", "mlaReference": "MLA-17",
             "useLimitations": {"purposes": ["investigation"], "proceedings": ["criminal trial"],
                                "onwardTransfer": "forbidden"},
             "personalData": {"categories": ["communications content"], "retentionUntil": "2030-01-01",
                              "safeguards": ["third parties pseudonymised"]},
             "courtOrder": "TJ Paris 2026/118"}
            """
        try Data(text.utf8).write(to: URL(fileURLWithPath: conditions))
        let out = dir.appendingPathComponent("conditioned").path
        try seal([evidence + "/notes.txt"], out: out, ["--conditions", conditions])
        let carried = try readJSON(out + "/custody/conditions.json")
        XCTAssertEqual(carried, try JSONValue.parse(Array(text.utf8)))
        let bagInfo = try String(contentsOfFile: out + "/bag-info.txt", encoding: .utf8)
        XCTAssertTrue(bagInfo.contains("Custody-Legal-Basis: UN Convention against Cybercrime, art. 40"), bagInfo)
        XCTAssertTrue(bagInfo.contains("Custody-Case: FR-2026-7"), bagInfo)
        XCTAssertEqual(try item(out, named: "notes.txt")["caseNumber"]?.stringValue, "FR-2026-7")
        let report = try verify(out, ["--json"])
        XCTAssertEqual(report.status, 0, report.out)
        let json = try JSONValue.parse(Array(report.out.trimmingCharacters(in: .newlines).utf8))
        XCTAssertEqual(json["conditions"]?["useLimitations"]?["onwardTransfer"]?.stringValue, "forbidden")
        // Every ledger entry of the seal carries the legal basis.
        let export = try CLI.run(["ledger", "export", ledgerPath])
        for line in export.out.split(separator: "\n") {
            XCTAssertEqual(try JSONValue.parse(Array(line.utf8))["legalBasis"]?.stringValue,
                           "UN Convention against Cybercrime, art. 40")
        }
    }

    func testMalformedConditionsAreRefused() throws {
        let cases = ["{\"legalBasis\": 5}", "{\"useLimitations\": {\"onwardTransfer\": \"sometimes\"}}",
                     "{\"legalBasis\": \"x\",", "[1, 2]",
                     "{\"personalData\": {\"retentionUntil\": \"next year\"}}"]
        for (index, text) in cases.enumerated() {
            let conditions = dir.appendingPathComponent("conditions-\(index).json").path
            try Data(text.utf8).write(to: URL(fileURLWithPath: conditions))
            let out = dir.appendingPathComponent("refused-\(index)").path
            let result = try seal(evidenceFiles, out: out, ["--conditions", conditions], expect: 2)
            XCTAssertTrue(result.err.contains(conditions), "\(text): \(result.err)")
            XCTAssertEqual(result.err.split(separator: "\n").count, 1, result.err)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        }
        let missing = try seal(evidenceFiles, out: dir.appendingPathComponent("m").path,
                               ["--conditions", dir.appendingPathComponent("nope.json").path], expect: 2)
        XCTAssertTrue(missing.err.contains("nope.json"), missing.err)
        XCTAssertEqual(try CLI.run(["ledger", "export", ledgerPath]).out, "", "nothing appended to the ledger")
    }

    func testBadArgumentsChangeNothing() throws {
        try keygen("bob", "DE")
        let ledgerBefore = try Data(contentsOf: URL(fileURLWithPath: ledgerPath))
        func assertNothingLeft(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path)
                .filter { $0.hasPrefix(name) || $0.hasPrefix(".\(name)") }
            XCTAssertEqual(leftovers, [], file: file, line: line)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: ledgerPath)), ledgerBefore, "ledger changed",
                           file: file, line: line)
        }
        // Missing --out, no input.
        let noOut = try CLI.run(["seal", "--ledger", ledgerPath, "--key", aliceKey] + evidenceFiles)
        XCTAssertEqual(noOut.status, 2, noOut.err)
        XCTAssertTrue(noOut.err.contains("--out"), noOut.err)
        let noInput = try CLI.run(["seal", "--ledger", ledgerPath, "--key", aliceKey, "--out", dir.path + "/x"])
        XCTAssertEqual(noInput.status, 2, noInput.err)
        try assertNothingLeft("x")

        // An --out that names no folder of its own is refused before anything is written or appended.
        for out in ["", dir.path + "/.."] {
            let nameless = try seal(evidenceFiles, out: out, expect: 2)
            XCTAssertTrue(nameless.err.contains("name the new bundle folder"), nameless.err)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: ledgerPath)), ledgerBefore)
        }

        // More items than a seal entry can name: refused before anything is written or appended.
        let many = dir.appendingPathComponent("many").path
        try FileManager.default.createDirectory(atPath: many, withIntermediateDirectories: false)
        for index in 0...BundleSealer.maximumItems {
            _ = FileManager.default.createFile(atPath: many + "/f\(index)", contents: Data())
        }
        let manyFiles = (0...BundleSealer.maximumItems).map { many + "/f\($0)" }
        let tooMany = try seal(manyFiles, out: dir.appendingPathComponent("many-bundle").path, expect: 2)
        XCTAssertTrue(tooMany.err.contains("an image bundle holds at most 4000"), tooMany.err)
        try assertNothingLeft("many-bundle")

        // An existing --out is never touched.
        let existing = dir.appendingPathComponent("existing").path
        try FileManager.default.createDirectory(atPath: existing, withIntermediateDirectories: false)
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: existing + "/file"))
        let before = try snapshot(existing)
        let refused = try seal(evidenceFiles, out: existing, expect: 2)
        XCTAssertTrue(refused.err.contains("already exists"), refused.err)
        XCTAssertEqual(try snapshot(existing), before)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: ledgerPath)), ledgerBefore)

        // A key that does not own the ledger.
        let notOwner = try seal(evidenceFiles, out: dir.appendingPathComponent("bobs").path, key: bobKey, expect: 2)
        XCTAssertTrue(notOwner.err.contains("does not own the ledger"), notOwner.err)
        try assertNothingLeft("bobs")

        // Unreadable inputs: a missing path, a file that fails to read (EIO), one that changes size.
        let missing = try seal(evidenceFiles + [dir.path + "/no-such-file"], out: dir.appendingPathComponent("m1").path,
                               expect: 2)
        XCTAssertTrue(missing.err.contains("no-such-file"), missing.err)
        try assertNothingLeft("m1")
        for (index, path) in ["/proc/self/mem", "/proc/self/status"].enumerated()
            where FileManager.default.fileExists(atPath: path) {
            let failed = try seal(evidenceFiles + [path], out: dir.appendingPathComponent("u\(index)").path, expect: 2)
            XCTAssertTrue(failed.err.contains(path), failed.err)
            try assertNothingLeft("u\(index)")
        }
        XCTAssertEqual(try CLI.run(["ledger", "verify", ledgerPath]).status, 0)
    }

    func testFIFOsAndCharacterDevicesNamedAsInputsAreRefused() throws {
        XCTAssertEqual(mkfifo(evidence + "/pipe", 0o644), 0)
        // A FIFO or character device named as an input is refused before anything is written.
        for input in [evidence + "/pipe", "/dev/zero"] {
            let refused = try seal([input], out: dir.appendingPathComponent("refused").path, expect: 2)
            XCTAssertTrue(refused.err.contains(input), refused.err)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("refused").path))
        }
    }

    // MARK: damaged bundles

    /// BUNDLE given as a symbolic link is followed, as other tools follow a link named on their command line: a
    /// link to a bundle verifies as the bundle does (exit 0, or 1 when the bundle fails), a link to nothing or
    /// to a file is exit 2 like a missing path, naming what was given.
    func testVerifyFollowsALinkToABundleAndRefusesOthersLikeAMissingPath() throws {
        let bundle = try sealFixture()
        let link = path("bundle-link")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: bundle)
        let linked = try verify(link)
        XCTAssertEqual(linked.status, 0, linked.out + linked.err)
        XCTAssertTrue(linked.out.hasPrefix("bundle \(link) ("), linked.out)
        XCTAssertEqual(try verify(link, ["--json"]).out, try verify(bundle, ["--json"]).out)

        let damaged = try copy(bundle, "damaged")
        try append("extra\n", to: damaged + "/bag-info.txt")
        try FileManager.default.createSymbolicLink(atPath: path("damaged-link"), withDestinationPath: damaged)
        XCTAssertEqual(try verify(path("damaged-link")).status, 1)

        let missing = try verify(path("missing"))
        XCTAssertEqual(missing.status, 2, missing.err)
        try FileManager.default.createSymbolicLink(atPath: path("dangling"), withDestinationPath: path("missing"))
        try FileManager.default.createSymbolicLink(atPath: path("to-file"),
                                                   withDestinationPath: bundle + "/bagit.txt")
        for name in ["dangling", "to-file"] {
            let result = try verify(path(name))
            XCTAssertEqual(result.status, 2, "\(name): \(result.out)\(result.err)")
            XCTAssertEqual(result.err, "custody: \(path(name)): not a bundle directory (no such directory)\n")
        }
    }

    func testFlippedPayloadByteNamesItemAndChunk() throws {
        let bundle = try sealFixture()
        let path = try payload(bundle)
        let size = try XCTUnwrap((try FileManager.default.attributesOfItem(atPath: bundle + "/" + path)[.size]
            as? NSNumber)?.intValue)
        let offset = UInt64(size / 2)
        try flipByte(bundle + "/" + path, at: offset)
        let result = try verify(bundle)
        assertFails(result, naming: [path, "chunk "])
        // The damaged chunk's packed byte range holds the flipped byte.
        let pattern = try NSRegularExpression(pattern: #"chunk (\d+) \(packed bytes (\d+)-(\d+)"#)
        let text = result.out
        let match = try XCTUnwrap(pattern.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)), text)
        let low = UInt64(text[Range(match.range(at: 2), in: text)!])!
        let high = UInt64(text[Range(match.range(at: 3), in: text)!])!
        XCTAssertTrue(low <= offset && offset <= high, "\(offset) not in \(low)-\(high)")
        if let gzip = CLI.which("gzip") {
            XCTAssertNotEqual(try CLI.runTool(gzip, ["-t", bundle + "/" + path]).status, 0,
                              "gzip agrees it is damaged")
        }
    }

    func testFastSkipsOnlyContent() throws {
        let bundle = try sealFixture()
        let good = try verify(bundle, ["--fast"])
        XCTAssertEqual(good.status, 0, good.out)
        let skipped = good.out.split(separator: "\n").filter { $0.hasPrefix("SKIP") && $0.contains("content") }
        XCTAssertEqual(skipped.count, 3, good.out)
        XCTAssertTrue(good.out.contains("PASS  seal statement"), good.out)
        XCTAssertTrue(good.out.contains("PASS  inclusion proofs"), good.out)
        // A byte flipped inside a gzip member is still caught by the manifests.
        let path = try payload(bundle)
        try flipByte(bundle + "/" + path, at: 200)
        let result = try verify(bundle, ["--fast"])
        assertFails(result, naming: [path, "manifest-sha256.txt"])
        XCTAssertFalse(result.out.contains("FAIL  item 2 content") || result.out.contains("content: data/"),
                       result.out)
    }

    func testEditedBagInfo() throws {
        let bundle = try sealFixture()
        try append("Custody-Case: FR-2026-9999\n", to: bundle + "/bag-info.txt")
        assertFails(try verify(bundle), naming: ["bag-info.txt"])
        // Rewriting the tag manifests too is caught by the seal.
        try rewriteTagManifests(bundle)
        assertFails(try verify(bundle), naming: ["tagmanifest-sha256.txt differs from the one sealed"])
    }

    func testEditedItemsFile() throws {
        let bundle = try sealFixture()
        let path = bundle + "/custody/items.json"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try Data(text.replacingOccurrences(of: "A. Martin", with: "B. Martin").utf8)
            .write(to: URL(fileURLWithPath: path))
        assertFails(try verify(bundle), naming: ["custody/items.json"])
        try rewriteTagManifests(bundle)
        assertFails(try verify(bundle), naming: ["differs from the one sealed"])
    }

    func testReplacedPayloadWithRewrittenManifests() throws {
        let bundle = try sealFixture()
        let path = try payload(bundle, "notes.txt")
        let fake = dir.appendingPathComponent("fake.txt").path
        try Data("Meeting cancelled.\n".utf8).write(to: URL(fileURLWithPath: fake))
        if let gzip = CLI.which("gzip") {
            let packed = try CLI.runTool(gzip, ["-c", fake])
            try packed.stdout.write(to: URL(fileURLWithPath: bundle + "/" + path))
        } else {
            try Data("not gzip".utf8).write(to: URL(fileURLWithPath: bundle + "/" + path))
        }
        // The forger fixes every manifest and Payload-Oxum, but cannot re-sign the seal or the ledger.
        for algorithm in [DigestAlgorithm.sha256, .sha512] {
            let manifest = bundle + "/manifest-\(algorithm.rawValue).txt"
            let entries = try BagIt.parseManifest(Array(try Data(contentsOf: URL(fileURLWithPath: manifest))),
                                                  name: manifest, algorithm: algorithm)
            let rebuilt = try entries.map { entry -> (path: String, hex: String) in
                let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: bundle + "/" + entry.path)))
                return (entry.path, Hex.encode(Digester.digest(algorithm, bytes)))
            }
            try Data(BagIt.manifest(rebuilt).utf8).write(to: URL(fileURLWithPath: manifest))
        }
        let payloadFiles = try FileManager.default.contentsOfDirectory(atPath: bundle + "/data")
        let octets = try payloadFiles.reduce(0) { total, name in
            total + ((try FileManager.default.attributesOfItem(atPath: bundle + "/data/" + name)[.size]
                as? NSNumber)?.intValue ?? 0)
        }
        let info = try String(contentsOfFile: bundle + "/bag-info.txt", encoding: .utf8)
        let fixed = info.split(separator: "\n").map {
            $0.hasPrefix("Payload-Oxum: ") ? "Payload-Oxum: \(octets).\(payloadFiles.count)" : String($0)
        }.joined(separator: "\n") + "\n"
        try Data(fixed.utf8).write(to: URL(fileURLWithPath: bundle + "/bag-info.txt"))
        try rewriteTagManifests(bundle)
        let fast = try verify(bundle, ["--fast"])
        XCTAssertTrue(fast.out.contains("PASS  bagit.manifest-sha256.txt"), fast.out)
        XCTAssertTrue(fast.out.contains("PASS  bagit.payload-oxum"), fast.out)
        assertFails(fast, naming: ["tagmanifest-sha256.txt differs from the one sealed",
                                   "the seal entry's manifest-sha256 differs"])
        assertFails(try verify(bundle), naming: ["item 1 content: \(path)"])
    }

    func testMissingPayloadFile() throws {
        let bundle = try sealFixture()
        let path = try payload(bundle)
        try FileManager.default.removeItem(atPath: bundle + "/" + path)
        assertFails(try verify(bundle),
                    naming: ["\(path) is listed in manifest-sha256.txt but missing", "Payload-Oxum"])
    }

    func testExtraPayloadFile() throws {
        let bundle = try sealFixture()
        try Data("planted".utf8).write(to: URL(fileURLWithPath: bundle + "/data/planted.txt"))
        assertFails(try verify(bundle), naming: ["data/planted.txt is in data/ but not listed in manifest-sha256.txt"])
    }

    func testExtraTagFile() throws {
        let bundle = try sealFixture()
        try Data("planted".utf8).write(to: URL(fileURLWithPath: bundle + "/custody/note.txt"))
        try Data("planted".utf8).write(to: URL(fileURLWithPath: bundle + "/README"))
        assertFails(try verify(bundle), naming: ["custody/note.txt is not covered by tagmanifest-sha256.txt",
                                                "README is not covered"])
    }

    func testTruncatedPayload() throws {
        let bundle = try sealFixture()
        let path = try payload(bundle)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: bundle + "/" + path))
        let size = try handle.seekToEnd()
        try handle.truncate(atOffset: size - 100)
        try handle.close()
        let result = try verify(bundle)
        assertFails(result, naming: [path, "item 2 content"])
        assertFails(try verify(bundle, ["--fast"]), naming: [path, "Payload-Oxum"])
    }

    func testForgedSealIsRejected() throws {
        let bundle = try sealFixture()
        // Same statement, same signer name, another key.
        let seal = bundle + "/custody/seal.txt"
        let note = try SignedNote.parse(Array(try Data(contentsOf: URL(fileURLWithPath: seal))))
        let forged = try SignedNote.sign(text: note.text, name: "alice", key: try Ed25519PrivateKey.generate())
        try Data(forged.bytes).write(to: URL(fileURLWithPath: seal))
        try rewriteTagManifests(bundle)
        assertFails(try verify(bundle), naming: ["seal signature", "custody/seal.txt"])

        // A genuine seal from another bundle by the same officer, tag manifests fixed up to match.
        let other = try sealFixture("other")
        let swapped = try copy(try sealFixture("third"), "swapped")
        try FileManager.default.removeItem(atPath: swapped + "/custody/seal.txt")
        try FileManager.default.copyItem(atPath: other + "/custody/seal.txt", toPath: swapped + "/custody/seal.txt")
        try rewriteTagManifests(swapped)
        let result = try verify(swapped)
        assertFails(result, naming: ["seal statement", "the seal names bundle"])
        XCTAssertTrue(result.out.contains("PASS  bagit.tagmanifest-sha256.txt"), result.out)
    }

    func testMissingSeal() throws {
        let bundle = try sealFixture()
        try FileManager.default.removeItem(atPath: bundle + "/custody/seal.txt")
        assertFails(try verify(bundle), naming: ["custody/seal.txt"])
        try rewriteTagManifests(bundle)
        assertFails(try verify(bundle), naming: ["custody/seal.txt"])
    }

    func testTrustStore() throws {
        try keygen("bob", "DE")
        let bundle = try sealFixture()
        let trusted = try makeTrustStore("trusted.json", entries: [("alice", keys + "/alice.pub", "FR")])
        let good = try verify(bundle, ["--trust", trusted])
        XCTAssertEqual(good.status, 0, good.out)
        XCTAssertTrue(good.out.contains("PASS  seal signature: valid signature by alice"), good.out)
        XCTAssertTrue(good.out.contains("trusted: Agency FR, FR"), good.out)
        XCTAssertFalse(good.out.contains("WARN"), good.out)
        // Without a store, a valid signature is not reported as trusted.
        let untrusted = try verify(bundle)
        XCTAssertTrue(untrusted.out.contains("WARN  seal signature"), untrusted.out)
        XCTAssertTrue(untrusted.out.contains("not known to be trusted"), untrusted.out)

        // The store holds another key under the name alice (a bare PEM key: with bob's signed identity beside it,
        // trust add would refuse the name alice).
        let bareKey = dir.appendingPathComponent("bare-key.pub").path
        try FileManager.default.copyItem(atPath: keys + "/bob.pub", toPath: bareKey)
        let wrong = try makeTrustStore("wrong.json", entries: [("alice", bareKey, "DE")])
        assertFails(try verify(bundle, ["--trust", wrong]), naming: ["seal signature", "different key for alice"])
        // A valid signature by a key the store does not know.
        let unknown = try makeTrustStore("unknown.json", entries: [("bob", keys + "/bob.vkey", "DE")])
        assertFails(try verify(bundle, ["--trust", unknown]), naming: ["seal signature", "not in the trust store"])
        // A store that is not one.
        let bogus = dir.appendingPathComponent("bogus.json").path
        try Data("{}".utf8).write(to: URL(fileURLWithPath: bogus))
        let refused = try verify(bundle, ["--trust", bogus])
        XCTAssertEqual(refused.status, 2, refused.err)
        XCTAssertTrue(refused.err.contains(bogus), refused.err)
    }

    func testUnsafeManifestPaths() throws {
        let bundle = try sealFixture()
        let path = try payload(bundle)
        for (name, replacement) in [("dotdot", "data/../../etc/passwd"), ("absolute", "/etc/passwd")] {
            let copy = try copy(bundle, name)
            let manifest = copy + "/manifest-sha256.txt"
            let text = try String(contentsOfFile: manifest, encoding: .utf8)
            try Data(text.replacingOccurrences(of: "  " + path, with: "  " + replacement).utf8)
                .write(to: URL(fileURLWithPath: manifest))
            let result = try verify(copy)
            assertFails(result, naming: ["manifest-sha256.txt:", replacement])
            try rewriteTagManifests(copy)
            assertFails(try verify(copy, ["--fast"]), naming: ["manifest-sha256.txt:", replacement])
        }
        // In a tag manifest too.
        let tagged = try copy(bundle, "tagged")
        try append("\(String(repeating: "0", count: 64))  ../outside.txt\n", to: tagged + "/tagmanifest-sha256.txt")
        assertFails(try verify(tagged), naming: ["tagmanifest-sha256.txt:", "../outside.txt"])
    }

    func testSymlinksAndSpecialFilesInsideTheBag() throws {
        let bundle = try sealFixture()
        let outside = dir.appendingPathComponent("outside.txt").path
        try Data("outside".utf8).write(to: URL(fileURLWithPath: outside))

        let linked = try copy(bundle, "linked")
        try FileManager.default.createSymbolicLink(atPath: linked + "/data/link.txt", withDestinationPath: outside)
        assertFails(try verify(linked), naming: ["data/link.txt: symbolic link inside the bag"])

        // A tag file replaced by a link to an identical copy outside the bag.
        let swapped = try copy(bundle, "swapped")
        let items = swapped + "/custody/items.json"
        let itemsCopy = dir.appendingPathComponent("items-copy.json").path
        try FileManager.default.moveItem(atPath: items, toPath: itemsCopy)
        try FileManager.default.createSymbolicLink(atPath: items, withDestinationPath: itemsCopy)
        assertFails(try verify(swapped), naming: ["custody/items.json: symbolic link inside the bag"])

        // A payload file replaced by a link to an identical copy.
        let payloadLinked = try copy(bundle, "payload-linked")
        let path = payloadLinked + "/" + (try payload(bundle))
        let payloadCopy = dir.appendingPathComponent("payload-copy").path
        try FileManager.default.moveItem(atPath: path, toPath: payloadCopy)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: payloadCopy)
        assertFails(try verify(payloadLinked), naming: ["symbolic link inside the bag", try payload(bundle)])

        // A FIFO in place of a tag file is reported, never opened for a blocking read.
        let timeout = try CLI.requireTool("timeout")
        let fifo = try copy(bundle, "fifo")
        try FileManager.default.removeItem(atPath: fifo + "/custody/proofs.json")
        XCTAssertEqual(mkfifo(fifo + "/custody/proofs.json", 0o644), 0)
        let result = try CLI.runTool(timeout, ["30", CLI.executable, "verify", fifo])
        assertFails(result, naming: ["custody/proofs.json: special file inside the bag"])
    }

    func testVerifyNeverWritesIntoTheBundle() throws {
        let bundle = try sealFixture()
        let trusted = try makeTrustStore("trusted.json", entries: [("alice", keys + "/alice.pub", "FR")])
        let before = try snapshot(bundle)
        for extra in [[], ["--json"], ["--fast"], ["--trust", trusted]] {
            XCTAssertEqual(try verify(bundle, extra).status, 0)
        }
        XCTAssertEqual(try snapshot(bundle), before)
        // Nor into a damaged one.
        try flipByte(bundle + "/" + (try payload(bundle)), at: 300)
        try FileManager.default.removeItem(atPath: bundle + "/custody/seal.txt")
        let damaged = try snapshot(bundle)
        XCTAssertEqual(try verify(bundle).status, 1)
        XCTAssertEqual(try verify(bundle, ["--fast", "--json"]).status, 1)
        XCTAssertEqual(try snapshot(bundle), damaged)
    }

    func testVerifyOfWhatIsNotABundle() throws {
        let missing = try verify(dir.appendingPathComponent("nothing").path)
        XCTAssertEqual(missing.status, 2, missing.err)
        XCTAssertTrue(missing.err.contains("nothing"), missing.err)
        let empty = dir.appendingPathComponent("empty").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: false)
        assertFails(try verify(empty), naming: ["bagit.txt"])
    }

    // MARK: trust store and demo

    func testTrustAddAndList() throws {
        try keygen("bob", "DE")
        let store = dir.appendingPathComponent("store.json").path
        let added = try CLI.run(["trust", "add", store, "alice", "--key", keys + "/alice.pub", "--jurisdiction", "fr",
                                 "--agency", "Agency FR"])
        XCTAssertEqual(added.status, 0, added.err)
        let recipient = try String(contentsOfFile: keys + "/bob.recipient", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let second = try CLI.run(["trust", "add", store, "bob", "--key", keys + "/bob.vkey", "--jurisdiction", "DE",
                                  "--agency", "Agency DE", "--recipient", recipient])
        XCTAssertEqual(second.status, 0, second.err)
        let aliceKeyID = try NoteVerifierKey(
            parsing: try String(contentsOfFile: keys + "/alice.vkey", encoding: .utf8)).keyIDHex
        let listed = try CLI.run(["trust", "list", store])
        XCTAssertEqual(listed.status, 0, listed.err)
        let lines = listed.out.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 2)
        XCTAssertEqual(lines[0], "alice\tFR\tAgency FR\tkey \(aliceKeyID)")
        XCTAssertTrue(lines[1].hasPrefix("bob\tDE\tAgency DE\tkey ") && lines[1].hasSuffix("\t" + recipient), lines[1])
        let json = try CLI.run(["trust", "list", store, "--json"])
        let entries = try XCTUnwrap(
            try JSONValue.parse(Array(json.out.trimmingCharacters(in: .newlines).utf8)).arrayValue)
        XCTAssertEqual(entries.count, 2)
        let bobVkey = try String(contentsOfFile: keys + "/bob.vkey", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(entries[1]["verifierKey"]?.stringValue, bobVkey)
        XCTAssertEqual(entries[1]["recipient"]?.stringValue, recipient)

        let before = try Data(contentsOf: URL(fileURLWithPath: store))
        let notKey = dir.appendingPathComponent("not-a-key.pub").path
        try Data("hello, I am not a key\n".utf8).write(to: URL(fileURLWithPath: notKey))
        let twoKeys = dir.appendingPathComponent("two.pub").path
        try (try Data(contentsOf: URL(fileURLWithPath: keys + "/bob.pub"))
            + Data(contentsOf: URL(fileURLWithPath: keys + "/alice.pub"))).write(to: URL(fileURLWithPath: twoKeys))
        let bad: [([String], String)] = [
            (["alice", "--key", keys + "/bob.pub", "--jurisdiction", "DE", "--agency", "X"], "already"),
            (["carol", "--key", keys + "/bob.pub", "--jurisdiction", "XX", "--agency", "X"], "XX"),
            (["carol", "--key", keys + "/bob.pub", "--jurisdiction", "FRA", "--agency", "X"], "FRA"),
            (["carol", "--key", notKey, "--jurisdiction", "DE", "--agency", "X"], notKey),
            (["carol", "--key", keys + "/alice.key", "--jurisdiction", "DE", "--agency", "X"], "alice.key"),
            (["carol", "--key", dir.appendingPathComponent("none.pub").path, "--jurisdiction", "DE", "--agency", "X"],
             "none.pub"),
            (["carol", "--key", keys + "/bob.pub", "--jurisdiction", "DE", "--agency", "X", "--recipient", "nope"],
             "nope"),
            (["carol", "--key", keys + "/bob.pub", "--jurisdiction", "DE", "--agency", "X", "--recipient", "age1zzz"],
             "age1zzz"),
            (["carol", "--key", keys + "/bob.pub", "--jurisdiction", "DE", "--agency", "A\nB"], "agency"),
            (["carol", "--key", keys + "/bob.pub", "--jurisdiction", "DE", "--agency", ""], "agency"),
            (["carol", "--key", keys + "/bob.pub", "--jurisdiction", "DE", "--agency",
              String(repeating: "a", count: 201)], "agency"),
            (["carol", "--key", twoKeys, "--jurisdiction", "DE", "--agency", "X"], "more than one PEM block"),
        ]
        for (arguments, named) in bad {
            let result = try CLI.run(["trust", "add", store] + arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.err)")
            XCTAssertTrue(result.err.contains(named), "\(arguments): \(result.err)")
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: store)), before, "\(arguments) changed the store")
        }
        let missing = try CLI.run(["trust", "list", dir.appendingPathComponent("no-store.json").path])
        XCTAssertEqual(missing.status, 2, missing.err)
    }

    func testDemo() throws {
        let work = dir.appendingPathComponent("demo").path
        let result = try CLI.run(["demo", "--samples", CLI.packageRoot.appendingPathComponent("Samples").path,
                                  "--workdir", work])
        XCTAssertEqual(result.status, 0, result.out + result.err)
        XCTAssertTrue(result.out.contains("VERIFIED"), result.out)
        let failures = result.out.split(separator: "\n").filter { $0.contains("FAIL item") }
        XCTAssertFalse(failures.isEmpty, result.out)
        XCTAssertTrue(failures.contains { $0.contains("chunk ") }, result.out)
        XCTAssertFalse(FileManager.default.fileExists(atPath: work), "the demo folder is removed without --keep")
        let noSamples = try CLI.run(["demo", "--samples", dir.appendingPathComponent("none").path])
        XCTAssertEqual(noSamples.status, 2, noSamples.err)
    }
}
