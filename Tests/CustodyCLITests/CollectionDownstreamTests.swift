import XCTest
import CustodyKit

/// What follows the verification of a collection bundle (a sealed folder), through the built binary: transfer and
/// receive, the HTML report, the DFXML, CASE, hashdeep and sha256sum exports, each checked with the peer tools
/// installed (tar after age -d, xmllint, case_validate, hashdeep, sha256sum), and each refusing or flagging a
/// tampered bundle as it does an image bundle.
final class CollectionDownstreamTests: CLITestCase {
    var bundleID = ""
    var itemsRoot = ""
    var itemCount = 0

    /// FR and DE (trusting each other); FR's folder `evidence` with nested folders, an empty folder, two names
    /// that differ only in case, a name that needs escaping, a hard link and a symbolic link, sealed by FR into
    /// `bundle` (md5 and sha256).
    func sealCollection() throws {
        try setUpHandOff()
        let files: [(String, String)] = [
            ("evidence/DCIM/Photo.JPG", "upper"), ("evidence/DCIM/photo.jpg", "lower"),
            ("evidence/mail/inbox: 2026?.mbox", String(repeating: "From a@b\n", count: 500)),
            ("evidence/mail/deep/a/b/c.txt", "deep"),
        ]
        for (name, content) in files {
            let url = dir.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(),
                                                    withIntermediateDirectories: true)
            try Data(content.utf8).write(to: url)
        }
        try FileManager.default.createDirectory(atPath: path("evidence/empty"), withIntermediateDirectories: false)
        XCTAssertEqual(link(path("evidence/DCIM/photo.jpg"), path("evidence/DCIM/second-name.jpg")), 0)
        try FileManager.default.createSymbolicLink(atPath: path("evidence/latest"), withDestinationPath: "DCIM")
        let sealed = try custody(["seal", "--ledger", path("fr.ledger"), "--key", key("fr"), "--out", path("bundle"),
                                  "-a", "md5,sha256", "--legal-basis", "UNCC art. 40", "--case", "FR-2026-0042",
                                  "--json", path("evidence")])
        let json = try JSONValue.parse(sealed.out.trimmingCharacters(in: .newlines))
        bundleID = json["bundle"]?.stringValue ?? ""
        itemsRoot = json["itemsRoot"]?.stringValue ?? ""
        itemCount = Int(json["items"]?.intValue ?? 0)
        XCTAssertTrue(bundleID.hasPrefix("urn:uuid:"), sealed.out)
        XCTAssertEqual(itemsRoot.count, 64, sealed.out)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("bundle/custody/items.jsonl")))
    }

    func entries(_ ledger: String) throws -> [JSONValue] {
        try custody(["ledger", "export", path(ledger)]).out.split(separator: "\n")
            .map { try JSONValue.parse(String($0)) }
    }

    /// A copy of the bundle with one payload byte changed.
    func tamperedCopy(_ name: String) throws -> String {
        let copy = path(name)
        try FileManager.default.copyItem(atPath: path("bundle"), toPath: copy)
        let payload = copy + "/data/evidence/mail/deep/a/b/c.txt.gz"
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: payload)))
        bytes[bytes.count / 2] ^= 0x20
        try Data(bytes).write(to: URL(fileURLWithPath: payload))
        return copy
    }

    // MARK: Transfer and receive

    func testTransferAndReceiveACollection() throws {
        try sealCollection()
        try custody(["transfer", path("bundle"), "--to", "de", "--trust", path("fr-trust.json"), "--ledger",
                     path("fr.ledger"), "--key", key("fr"), "--out", path("to-de.age")])
        let note = try String(contentsOfFile: path("to-de.age.note"), encoding: .utf8)
        XCTAssertTrue(note.contains("\nitems \(itemCount) \(itemsRoot)\n"), note)
        XCTAssertFalse(note.contains("photo.jpg"), "the statement names no item: \(note)")
        let out = try entries("fr.ledger").last!
        XCTAssertEqual(out["action"]?.stringValue, "transfer-out")
        XCTAssertEqual(out["subjects"]?.arrayValue?.first?["items-root"]?.stringValue, itemsRoot)
        XCTAssertEqual(out["subjects"]?.arrayValue?.first?["items"]?.intValue, Int64(itemCount))

        // Peers: age decrypts it and tar lists the bundle's tag files and payloads, names as they were.
        if let age = CLI.which("age"), let tar = CLI.which("tar") {
            let listing = try CLI.runTool("/bin/sh", ["-c", "'\(age)' -d -i '\(path("keys/de.age"))' "
                + "'\(path("to-de.age"))' | '\(tar)' -tf -"])
            XCTAssertEqual(listing.status, 0, listing.err)
            for member in ["transfer.txt", "bundle/custody/items.jsonl", "bundle/data/evidence/DCIM/Photo.JPG.gz",
                           "bundle/data/evidence/DCIM/photo.jpg.gz", "bundle/data/evidence/empty/",
                           "bundle/data/evidence/mail/inbox~3A 2026~3F.mbox.gz"] {
                XCTAssertTrue(listing.out.split(separator: "\n").contains(Substring(member)),
                              "\(member): \(listing.out)")
            }
        }

        // Names that differ only in case are both received (the file system tells them apart).
        let received = try custody(["receive", path("to-de.age"), "--identity", path("keys/de.age"), "--ledger",
                                    path("de.ledger"), "--key", key("de"), "--out", path("received"), "--trust",
                                    path("de-trust.json")])
        XCTAssertTrue(received.out.contains("verified: every check passed"), received.out)
        for name in ["Photo.JPG.gz", "photo.jpg.gz"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: path("received/data/evidence/DCIM/\(name)")))
        }
        let receipt = try String(contentsOfFile: path("received.receipt"), encoding: .utf8)
        XCTAssertTrue(receipt.contains("\nitems \(itemCount) \(itemsRoot)\n"), receipt)
        XCTAssertTrue(receipt.contains("\nresult passed\n"), receipt)
        let receive = try entries("de.ledger").last!
        XCTAssertEqual(receive["action"]?.stringValue, "receive")
        XCTAssertEqual(receive["subjects"]?.arrayValue?.first?["items-root"]?.stringValue, itemsRoot)
        try custody(["verify", path("received"), "--trust", path("de-trust.json")])

        // A receipt, signed by DE, whose items differ from those sent is refused on import, recording nothing.
        let deKey = try SigningKey.load(keyPath: key("de"),
                                        passphrase: PassphraseSource(file: nil, allowPrompt: false))
        let text = try SignedNote.parse(Array(receipt.utf8)).text
        let otherRoot = String(repeating: "0", count: 64)
        let forged = try SignedNote.sign(text: text.replacingOccurrences(of: "\nitems \(itemCount) \(itemsRoot)\n",
                                                                         with: "\nitems \(itemCount) \(otherRoot)\n"),
                                         name: "de", key: deKey.privateKey)
        try Data(forged.bytes).write(to: dir.appendingPathComponent("forged.receipt"))
        let before = try entries("fr.ledger").count
        let refused = try custody(["receipt", "import", path("forged.receipt"), "--ledger", path("fr.ledger"),
                                   "--key", key("fr"), "--trust", path("fr-trust.json")], expect: 1)
        XCTAssertTrue(refused.err.contains("items \(itemCount) \(otherRoot)"), refused.err)
        XCTAssertEqual(try entries("fr.ledger").count, before)
        try custody(["receipt", "import", path("received.receipt"), "--ledger", path("fr.ledger"), "--key", key("fr"),
                     "--trust", path("fr-trust.json")])
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: dir.path).contains {
            $0.contains(".partial-") || $0.contains(".receiving-")
        })
    }

    func testTamperedCollectionIsNotSent() throws {
        try sealCollection()
        let copy = try tamperedCopy("tampered")
        let refused = try custody(["transfer", copy, "--to", "de", "--trust", path("fr-trust.json"), "--ledger",
                                   path("fr.ledger"), "--key", key("fr"), "--out", path("t.age")], expect: 1)
        XCTAssertTrue(refused.err.contains("does not verify"), refused.err)
        XCTAssertEqual(refused.err.split(separator: "\n").count, 1, refused.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("t.age")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("t.age.note")))
        XCTAssertNotEqual(try entries("fr.ledger").last?["action"]?.stringValue, "transfer-out")
    }

    // MARK: Reports and exports

    func testReportAndExportsOfACollection() throws {
        try sealCollection()
        let report = try custody(["report", path("bundle"), "--html", path("report.html"), "--trust",
                                  path("de-trust.json")])
        XCTAssertTrue(report.out.contains("every check passed"), report.out)
        let html = try String(contentsOfFile: path("report.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("<h2>Collection</h2>"), html)
        XCTAssertTrue(html.contains(itemsRoot), html)
        XCTAssertTrue(html.contains("collection of \(itemCount) items"), html)
        XCTAssertTrue(html.contains("bundle: \(itemCount) items, items root \(itemsRoot.prefix(16))"), html)
        XCTAssertFalse(html.contains("photo.jpg"), "no row per item")

        // DFXML: one fileobject per record, valid against the subset schema.
        try custody(["export", "dfxml", path("bundle"), "--out", path("bundle.xml")])
        let xml = try String(contentsOfFile: path("bundle.xml"), encoding: .utf8)
        XCTAssertEqual(xml.components(separatedBy: "<fileobject>").count - 1, itemCount, xml)
        XCTAssertTrue(xml.contains("<filename>evidence/latest</filename>\n    <name_type>l</name_type>"), xml)
        XCTAssertTrue(xml.contains("<link_target>DCIM</link_target>"), xml)
        XCTAssertTrue(xml.contains("<filename>evidence/DCIM/second-name.jpg</filename>"), xml)
        let lowerMD5 = Hex.encode(Digester.digest(.md5, Array("lower".utf8)))
        XCTAssertEqual(xml.components(separatedBy: "<hashdigest type='MD5'>\(lowerMD5)</hashdigest>").count - 1, 2,
                       "the hard link carries its content's digests: \(xml)")
        if let xmllint = CLI.which("xmllint") {
            let schema = CLI.packageRoot.appendingPathComponent("Tests/Fixtures/dfxml-subset.xsd").path
            let checked = try CLI.runTool(xmllint, ["--noout", "--schema", schema, path("bundle.xml")])
            XCTAssertEqual(checked.status, 0, checked.err)
        }

        // CASE: one File per record, the bundle naming each; the same bytes on stdout as in the file.
        try custody(["export", "case", path("bundle"), "--out", path("bundle.jsonld")])
        let graph = try JSONValue.parse(try String(contentsOfFile: path("bundle.jsonld"), encoding: .utf8))
        let nodes = graph["@graph"]?.arrayValue ?? []
        XCTAssertEqual(nodes.filter { $0["@type"]?.stringValue == "uco-observable:File" }.count, itemCount)
        let bundleNode = nodes.first { $0["custody:bundleIdentifier"]?.stringValue == bundleID }
        XCTAssertEqual(bundleNode?["uco-core:object"]?.arrayValue?.count, itemCount)
        let actions = nodes.filter { $0["@type"]?.stringValue == "case-investigation:InvestigativeAction" }
        XCTAssertEqual(actions.count, 2, "acquire and seal")
        let investigation = nodes.first { $0["@type"]?.stringValue == "case-investigation:Investigation" }
        let objects = investigation?["uco-core:object"]?.arrayValue?.compactMap { $0["@id"]?.stringValue } ?? []
        XCTAssertEqual(objects.count, 1 + itemCount + actions.count)
        XCTAssertEqual(objects.first, bundleNode?["@id"]?.stringValue)
        XCTAssertEqual(Array(objects.suffix(2)), actions.compactMap { $0["@id"]?.stringValue })
        let files = Set(nodes.filter { $0["@type"]?.stringValue == "uco-observable:File" }
            .compactMap { $0["@id"]?.stringValue })
        XCTAssertEqual(Set(objects.dropFirst().dropLast(2)), files)
        let stdout = try custody(["export", "case", path("bundle")])
        XCTAssertEqual(stdout.stdout, try Data(contentsOf: dir.appendingPathComponent("bundle.jsonld")))
        if let validate = CLI.which("case_validate") {
            let checked = try CLI.runTool(validate, ["--built-version", "case-1.4.0", path("bundle.jsonld")])
            XCTAssertEqual(checked.status, 0, checked.out + checked.err)
            XCTAssertTrue(checked.out.contains("Conforms: True"), checked.out)
        }

        // Hash lists of the original paths: hashdeep, sha256sum and custody's own audit pass on the folder.
        try custody(["export", "hashdeep", path("bundle"), "--prefix", dir.path, "--out", path("known.hashdeep")])
        try custody(["export", "sha256sum", path("bundle"), "--out", path("known.sha256")])
        let sums = try String(contentsOfFile: path("known.sha256"), encoding: .utf8)
        XCTAssertEqual(sums.split(separator: "\n").count, 6, sums)
        XCTAssertTrue(sums.contains("  evidence/DCIM/second-name.jpg\n"), sums)
        if let sha256sum = CLI.which("sha256sum") {
            let checked = try CLI.runTool(sha256sum, ["-c", "known.sha256"], in: dir)
            XCTAssertEqual(checked.status, 0, checked.out + checked.err)
        }
        try custody(["hash", "--audit", path("known.hashdeep"), "-r", path("evidence/DCIM"), path("evidence/mail"),
                     path("evidence/notes.txt")])
        if let hashdeep = CLI.which("hashdeep") {
            let passed = try CLI.runTool(hashdeep, ["-a", "-o", "f", "-k", path("known.hashdeep"), "-r", "evidence"],
                                         in: dir)
            XCTAssertEqual(passed.status, 0, passed.out + passed.err)
            try Data("changed".utf8).write(to: dir.appendingPathComponent("evidence/mail/deep/a/b/c.txt"))
            let failed = try CLI.runTool(hashdeep, ["-a", "-o", "f", "-k", path("known.hashdeep"), "-r", "evidence"],
                                         in: dir)
            XCTAssertEqual(failed.status, 1, failed.out + failed.err)
        }
    }

    func testTamperedCollectionIsReportedAndExportedAsFailed() throws {
        try sealCollection()
        let copy = try tamperedCopy("tampered")
        let report = try custody(["report", copy, "--html", path("tampered.html")], expect: 1)
        XCTAssertTrue(report.out.contains("FAILED verification"), report.out)
        let html = try String(contentsOfFile: path("tampered.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("VERIFICATION FAILED"), html)
        XCTAssertTrue(html.contains("Items that failed verification (1)"), html)
        XCTAssertTrue(html.contains("evidence/mail/deep/a/b/c.txt"), html)

        let dfxml = try custody(["export", "dfxml", copy, "--out", path("tampered.xml")], expect: 1)
        XCTAssertTrue(dfxml.err.contains("FAILED verification"), dfxml.err)
        let xml = try String(contentsOfFile: path("tampered.xml"), encoding: .utf8)
        XCTAssertTrue(xml.contains("<!-- custody verification: failed -->"), xml)
        XCTAssertTrue(xml.hasSuffix("</dfxml>\n"))

        // Records that do not read: exported up to the bad line, marked failed, exit 1; with --no-verify refused
        // (exit 2) and nothing written.
        let records = copy + "/custody/items.jsonl"
        var lines = try String(contentsOfFile: records, encoding: .utf8).split(separator: "\n").map(String.init)
        lines[2] = lines[2].replacingOccurrences(of: "\"kind\"", with: "\"kind\" ")
        try (lines.joined(separator: "\n") + "\n").write(toFile: records, atomically: true, encoding: .utf8)
        let partial = try custody(["export", "case", copy, "--out", path("partial.jsonld")], expect: 1)
        XCTAssertTrue(partial.err.contains("records read before it"), partial.err)
        let graph = try JSONValue.parse(try String(contentsOfFile: path("partial.jsonld"), encoding: .utf8))
        XCTAssertEqual(graph["@graph"]?.arrayValue?.filter { $0["@type"]?.stringValue == "uco-observable:File" }
            .count, 2)
        let refused = try custody(["export", "sha256sum", copy, "--no-verify", "--out", path("none.sha256")],
                                  expect: 2)
        XCTAssertTrue(refused.err.contains("items.jsonl:3"), refused.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("none.sha256")))
    }
}
