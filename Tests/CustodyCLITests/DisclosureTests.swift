import Foundation
import XCTest
import CustodyKit

/// `custody disclose` (SPEC 5.14) through the binary: a disclosure verifies against the original seal, shows
/// nothing of withheld items, narrows again, fails on every tamper, refuses bad input without writing anything,
/// and an independent Python verifier (Tests/Verifiers/disclosure_verify.py) agrees.
final class DisclosureTests: CLITestCase {
    var phone: String { path("phone") }
    var bundle: String { path("bundle") }
    let withheldNames = ["other.db", "holiday", "third-party-mail.eml"]

    override func setUpWithError() throws {
        try super.setUpWithError()
        try agency("fr", "Police judiciaire", "FR")
        try agency("de", "Bundeskriminalamt", "DE")
        try trust("fr-trust.json", "de", "Bundeskriminalamt", "DE")
        try trust("fr-trust.json", "fr", "Police judiciaire", "FR")
    }

    func write(_ relative: String, _ bytes: [UInt8]) throws {
        let url = URL(fileURLWithPath: phone + "/" + relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
    }

    /// 300,000 bytes of a pattern that differs in every 64 KiB chunk.
    let big: [UInt8] = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 16) }

    /// A phone: the suspect's chat database, a big file of five 64 KiB chunks, and third parties' files.
    func sealPhone(out: String? = nil) throws {
        if !FileManager.default.fileExists(atPath: phone) {
            try write("chats/suspect.db", Array("SQLite format 3 suspect chat\n".utf8))
            try write("chats/other.db", Array("third party chat\n".utf8))
            try write("photos/holiday/beach.jpg", Array(repeating: 0x41, count: 5000))
            try write("mail/third-party-mail.eml", Array("From: someone else\n".utf8))
            try write("images/disk.img", big)
        }
        try custody(["seal", "--ledger", path("fr.ledger"), "--key", key("fr"), "--out", out ?? bundle,
                     "--chunk-size", "64K", "--quiet", phone])
    }

    @discardableResult
    func disclose(_ source: String, out: String, _ selection: [String], expect status: Int32 = 0,
                  file: StaticString = #filePath, line: UInt = #line) throws -> CLI.Result {
        try custody(["disclose", source, "--out", out, "--ledger", path("fr.ledger"), "--key", key("fr"),
                     "--to", "de", "--trust", path("fr-trust.json"), "--legal-basis", "Budapest Convention art. 31",
                     "--mla-ref", "MLA-2026-117", "--quiet"] + selection, expect: status, file: file, line: line)
    }

    /// Every byte of every file under `root`.
    func allBytes(_ root: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        let enumerator = FileManager.default.enumerator(atPath: root)!
        while let name = enumerator.nextObject() as? String {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: root + "/" + name, isDirectory: &isDirectory)
            bytes += Array(name.utf8)
            if !isDirectory.boolValue { bytes += Array(try Data(contentsOf: URL(fileURLWithPath: root + "/" + name))) }
        }
        return bytes
    }

    func contains(_ haystack: [UInt8], _ needle: String) -> Bool {
        let pattern = Array(needle.utf8)
        guard pattern.count <= haystack.count else { return false }
        return (0...(haystack.count - pattern.count)).contains {
            haystack[$0..<($0 + pattern.count)].elementsEqual(pattern)
        }
    }

    func ledgerSize(_ ledger: String) throws -> Int {
        try custody(["ledger", "export", ledger]).out.split(separator: "\n").count
    }

    // MARK: a disclosure verifies and shows nothing of what is withheld

    func testDisclosureVerifiesAgainstTheOriginalSealAndHidesWithheldItems() throws {
        try sealPhone()
        let sub = path("sub")
        let made = try disclose(bundle, out: sub, ["--item", "phone/chats/suspect.db",
                                                   "--range", "phone/images/disk.img:70000-140000", "--json"])
        let result = try JSONValue.parse(Array(made.out.utf8))
        XCTAssertEqual(result["disclosed"]?.intValue, 2)
        XCTAssertEqual(result["withheld"]?.intValue, 9)
        let verified = try custody(["verify", sub, "--trust", path("fr-trust.json")])
        XCTAssertTrue(verified.out.contains("2 of 11 items disclosed; sealed by fr (FR) at "), verified.out)
        XCTAssertTrue(verified.out.contains(", checkpoint 2; disclosed by fr (FR) at "), verified.out)
        XCTAssertTrue(verified.out.contains(
            "PASS  item 6 phone/images/disk.img: bytes 70000-140000 of 300000: 2 chunks"), verified.out)
        XCTAssertTrue(verified.out.hasSuffix("verified: every check passed\n"), verified.out)
        let json = try JSONValue.parse(Array(try custody(["verify", sub, "--json"]).out.utf8))
        XCTAssertEqual(json["disclosure"]?["withheld"]?.intValue, 9)
        XCTAssertEqual(json["disclosure"]?["to"]?.stringValue, "de (Bundeskriminalamt, DE)")
        XCTAssertEqual(json["disclosure"]?["mlaReference"]?.stringValue, "MLA-2026-117")
        // Nothing names a withheld item: no name, and no digest or size of a withheld file.
        let bytes = try allBytes(sub)
        for name in withheldNames { XCTAssertFalse(contains(bytes, name), "\(name) appears in the disclosure") }
        let withheldDigest = Hex.encode(Digester.digest(.sha256, Array("third party chat\n".utf8)))
        XCTAssertFalse(contains(bytes, withheldDigest))
        XCTAssertFalse(contains(bytes, "\"size\":5000"))
        // The range's payload is the covering chunks, bit-exact: gzip -dc gives chunks 1 and 2 (65536-196607).
        if let gzip = CLI.which("gzip") {
            let out = try CLI.runTool(gzip, ["-dc", sub + "/data/phone/images/disk.img.gz"])
            XCTAssertEqual(Array(out.stdout), Array(big[65536..<196608]))
        }
        if let bagit = CLI.which("bagit.py") {
            let validated = try CLI.runTool(bagit, ["--validate", sub])
            XCTAssertEqual(validated.status, 0, validated.err)
        }
        // The disclose entry names neither items nor paths.
        let entries = try custody(["ledger", "export", path("fr.ledger")]).out
        let last = try XCTUnwrap(entries.split(separator: "\n").last)
        XCTAssertTrue(last.contains("\"action\":\"disclose\""))
        XCTAssertFalse(last.contains("phone/"))
    }

    func testADisclosureOfADisclosureNarrowsAndStillVerifies() throws {
        try sealPhone()
        let first = path("first"), second = path("second")
        try disclose(bundle, out: first, ["--item", "phone/chats/*", "--range", "phone/images/disk.img:0-300000"],
                     expect: 2)
        try disclose(bundle, out: first, ["--item", "phone/chats/*", "--range", "phone/images/disk.img:0-299999"])
        try disclose(first, out: second, ["--item", "phone/chats/suspect.db",
                                          "--range", "phone/images/disk.img:131072-131073"])
        let verified = try custody(["verify", second])
        XCTAssertTrue(verified.out.contains("2 of 11 items disclosed"), verified.out)
        let statement = try String(contentsOfFile: second + "/custody/disclosure/statement.txt", encoding: .utf8)
        let firstStatement = try Data(contentsOf: URL(fileURLWithPath: first + "/custody/disclosure/statement.txt"))
        XCTAssertTrue(statement.contains("previous " + Hex.encode(Digester.digest(.sha256, Array(firstStatement)))))
        XCTAssertFalse(contains(try allBytes(second), "other.db"))
        // A range outside the chunks the first disclosure holds cannot be disclosed from it.
        let third = path("third")
        try disclose(second, out: third, ["--range", "phone/images/disk.img:0-10"], expect: 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: third))
    }

    // MARK: every tamper fails verification (exit 1)

    /// Rewrites the payload and tag manifests after a tamper, so that only custody's own checks can catch it.
    func rebag(_ root: String) throws {
        var payload: [(String, [UInt8])] = []
        var tags: [(String, [UInt8])] = []
        let enumerator = FileManager.default.enumerator(atPath: root)!
        while let name = enumerator.nextObject() as? String {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: root + "/" + name, isDirectory: &isDirectory)
            if isDirectory.boolValue || name.hasPrefix("tagmanifest-") { continue }
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: root + "/" + name)))
            if name.hasPrefix("data/") { payload.append((name, bytes)) } else if !name.hasPrefix("manifest-") {
                tags.append((name, bytes))
            }
        }
        for algorithm in [DigestAlgorithm.sha256, .sha512] {
            let text = payload.sorted { $0.0 < $1.0 }
                .map { Hex.encode(Digester.digest(algorithm, $0.1)) + "  " + $0.0 + "\n" }.joined()
            try Data(text.utf8).write(to: URL(fileURLWithPath: root + "/manifest-\(algorithm.rawValue).txt"))
        }
        for manifest in ["manifest-sha256.txt", "manifest-sha512.txt"] {
            tags.append((manifest, Array(try Data(contentsOf: URL(fileURLWithPath: root + "/" + manifest)))))
        }
        for algorithm in [DigestAlgorithm.sha256, .sha512] {
            let text = tags.sorted { $0.0 < $1.0 }
                .map { Hex.encode(Digester.digest(algorithm, $0.1)) + "  " + $0.0 + "\n" }.joined()
            try Data(text.utf8).write(to: URL(fileURLWithPath: root + "/tagmanifest-\(algorithm.rawValue).txt"))
        }
    }

    func edit(_ file: String, _ change: (String) -> String) throws {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        let changed = change(text)
        XCTAssertNotEqual(changed, text, "the tamper changed nothing in \(file)")
        try changed.write(toFile: file, atomically: true, encoding: .utf8)
    }

    /// A fresh copy of `sub` tampered by `change`, rebagged; verify must exit 1 naming `check`, and so must the
    /// Python verifier when present.
    func expectTamperFails(_ sub: String, _ name: String, check: String,
                           file: StaticString = #filePath, line: UInt = #line,
                           _ change: (String) throws -> Void) throws {
        let copy = path("tampered-\(name)")
        try FileManager.default.copyItem(atPath: sub, toPath: copy)
        try change(copy)
        try rebag(copy)
        let result = try custody(["verify", copy], expect: 1, file: file, line: line)
        XCTAssertTrue(result.out.contains("FAIL  \(check)"), "\(name): \(result.out)", file: file, line: line)
        if let python = try pythonVerifier() {
            let independent = try CLI.runTool(python.0, [python.1, copy])
            XCTAssertEqual(independent.status, 1, "\(name): the Python verifier accepted it: \(independent.out)",
                           file: file, line: line)
        }
    }

    /// python3 with `cryptography`, and the verifier script; nil (the Python half of a test skipped) without them.
    func pythonVerifier() throws -> (String, String)? {
        guard let python = CLI.which("python3") else { return nil }
        let probe = try CLI.runTool(python, ["-c", "import cryptography"])
        guard probe.status == 0 else { return nil }
        let script = try CLI.packageFolder("Tests/Verifiers", what: "the independent verifiers")
            .appendingPathComponent("disclosure_verify.py").path
        return (python, script)
    }

    func testEveryTamperFailsVerification() throws {
        try sealPhone()
        let sub = path("sub")
        try disclose(bundle, out: sub, ["--item", "phone/chats/suspect.db", "--item", "phone/photos/holiday/beach.jpg",
                                        "--range", "phone/images/disk.img:70000-140000"])
        try custody(["verify", sub])
        let data = sub + "/data/phone/"
        try expectTamperFails(sub, "payload-swapped", check: "item") { copy in
            let target = copy + "/data/phone/chats/suspect.db.gz"
            try FileManager.default.removeItem(atPath: target)
            try FileManager.default.copyItem(atPath: data + "photos/holiday/beach.jpg.gz", toPath: target)
        }
        try expectTamperFails(sub, "salt-changed", check: "records") { copy in
            try edit(copy + "/custody/disclosure/records.jsonl") { text in
                guard let range = text.range(of: "\"salt\":\"") else { return text }
                var changed = text
                let digit = changed[range.upperBound]
                changed.replaceSubrange(range.upperBound...range.upperBound, with: digit == "0" ? "1" : "0")
                return changed
            }
        }
        try expectTamperFails(sub, "proof-forged", check: "records") { copy in
            try edit(copy + "/custody/disclosure/record-proofs.json") { text in
                guard let range = text.range(of: "\"proof\":[\"") else { return text }
                var changed = text
                let digit = changed[range.upperBound]
                changed.replaceSubrange(range.upperBound...range.upperBound, with: digit == "a" ? "b" : "a")
                return changed
            }
        }
        try expectTamperFails(sub, "proof-truncated", check: "records") { copy in
            try edit(copy + "/custody/disclosure/record-proofs.json") { text in
                text.replacingOccurrences(of: #",\"[0-9a-f]{64}\"\]\}"#, with: "]}", options: .regularExpression)
            }
        }
        try expectTamperFails(sub, "chunk-proof-forged", check: "item 6") { copy in
            try edit(copy + "/custody/disclosure/chunks.json") { text in
                guard let range = text.range(of: "\"proofs\":[[\"") else { return text }
                var changed = text
                let digit = changed[range.upperBound]
                changed.replaceSubrange(range.upperBound...range.upperBound, with: digit == "a" ? "b" : "a")
                return changed
            }
        }
        try expectTamperFails(sub, "range-member-changed", check: "item 6") { copy in
            let file = copy + "/data/phone/images/disk.img.gz"
            var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: file)))
            bytes[100] ^= 0xff
            try Data(bytes).write(to: URL(fileURLWithPath: file))
        }
        try expectTamperFails(sub, "withheld-count-changed", check: "disclosure statement") { copy in
            try edit(copy + "/custody/disclosure/statement.txt") {
                $0.replacingOccurrences(of: "withheld 8", with: "withheld 7")
            }
        }
        try expectTamperFails(sub, "statement-edited", check: "disclosure statement") { copy in
            try edit(copy + "/custody/disclosure/statement.txt") {
                $0.replacingOccurrences(of: "MLA-2026-117", with: "MLA-2026-118")
            }
        }
        try expectTamperFails(sub, "ledger-entry-dropped", check: "disclosure ledger") { copy in
            try edit(copy + "/custody/disclosure/ledger-entry.jsonl") {
                $0.replacingOccurrences(of: "\"withheld\":8", with: "\"withheld\":7")
            }
        }
        // An item of another bundle: the same file sealed again has another salt, items root and bundle.
        let other = path("other-bundle"), otherSub = path("other-sub")
        try sealPhone(out: other)
        try disclose(other, out: otherSub, ["--item", "phone/chats/suspect.db"])
        try expectTamperFails(sub, "item-from-another-bundle", check: "records") { copy in
            let foreign = try String(contentsOfFile: otherSub + "/custody/disclosure/records.jsonl", encoding: .utf8)
            let foreignProofs = try JSONValue.parse(Array(try Data(contentsOf: URL(
                fileURLWithPath: otherSub + "/custody/disclosure/record-proofs.json"))))
            try edit(copy + "/custody/disclosure/records.jsonl") { text in
                var lines = text.split(separator: "\n").map(String.init)
                lines[0] = String(foreign.dropLast())
                return lines.joined(separator: "\n") + "\n"
            }
            let proofsFile = copy + "/custody/disclosure/record-proofs.json"
            var proofs = try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: proofsFile))))
                .arrayValue ?? []
            proofs[0] = foreignProofs.arrayValue![0]
            try Data(JSONValue.array(proofs).canonicalBytes + [10]).write(to: URL(fileURLWithPath: proofsFile))
        }
    }

    func testThePythonVerifierAcceptsWhatCustodyMakes() throws {
        guard let (python, script) = try pythonVerifier() else {
            throw XCTSkip("python3 with the cryptography package is not installed: the independent verifier "
                + "cannot run")
        }
        try sealPhone()
        let sub = path("sub"), narrower = path("narrower")
        try disclose(bundle, out: sub, ["--item", "phone/chats/*", "--item", "phone/photos/**",
                                        "--range", "phone/images/disk.img:0-0", "--range",
                                        "phone/images/disk.img:200000-299999"])
        try Data("phone/images/disk.img\n".utf8).write(to: URL(fileURLWithPath: path("items.txt")))
        try disclose(sub, out: narrower, ["--items-from", path("items.txt"), "--item", "phone/chats/suspect.db"],
                     expect: 2)
        try disclose(sub, out: narrower, ["--range", "phone/images/disk.img:250000-250001",
                                          "--items-from", path("items.txt")], expect: 2)
        try Data("phone/chats/suspect.db\r\n\n".utf8).write(to: URL(fileURLWithPath: path("items.txt")))
        try disclose(sub, out: narrower, ["--range", "phone/images/disk.img:250000-250001",
                                          "--items-from", path("items.txt")])
        for bag in [sub, narrower] {
            let result = try CLI.runTool(python, [script, bag])
            XCTAssertEqual(result.status, 0, result.out + result.err)
            let ours = try custody(["verify", bag]).out
            let line = try XCTUnwrap(result.out.split(separator: "\n").last)
            XCTAssertTrue(ours.contains(String(line)), "custody and the Python verifier differ: \(line)\n\(ours)")
        }
    }

    // MARK: bad input: one line, exit 2 (1 for a source that does not verify), nothing written

    func testBadSelectionsAreRefusedWithoutWritingAnything() throws {
        try sealPhone()
        let sub = path("sub")
        let before = try ledgerSize(path("fr.ledger"))
        let cases: [([String], String, Int32)] = [
            (["--item", "phone/chats/nobody.db"], "--item 'phone/chats/nobody.db': no item of", 2),
            (["--range", "phone/images/disk.img:299990-300000"], "beyond the item's end (300000 bytes", 2),
            (["--range", "phone/images/disk.img:10-20", "--range", "phone/images/disk.img:15-30"], "overlap", 2),
            (["--item", "phone/images/disk.img", "--range", "phone/images/disk.img:1-2"], "overlap", 2),
            ([], "nothing selected", 2),
            (["--range", "phone/images/disk.img:20-10"], "not PATH:START-END", 2),
            (["--range", "phone/chats:0-1"], "no item of", 2),
        ]
        for (selection, message, status) in cases {
            let result = try disclose(bundle, out: sub, selection, expect: status)
            XCTAssertTrue(result.err.contains(message), "\(selection): \(result.err)")
            XCTAssertEqual(result.err.split(separator: "\n").count, 1, result.err)
            XCTAssertFalse(FileManager.default.fileExists(atPath: sub))
        }
        // What a killed disclosure leaves (its work folder) is named, not mistaken for a seal to resume.
        try FileManager.default.createDirectory(atPath: path(".sub.partial"), withIntermediateDirectories: false)
        let leftover = try disclose(bundle, out: sub, ["--item", "phone/chats/suspect.db"], expect: 2)
        XCTAssertTrue(leftover.err.contains("an interrupted disclosure to"), leftover.err)
        try FileManager.default.removeItem(atPath: path(".sub.partial"))
        // A key that does not own the ledger.
        let wrongKey = try custody(["disclose", bundle, "--out", sub, "--ledger", path("fr.ledger"), "--key", key("de"),
                                    "--item", "phone/chats/suspect.db"], expect: 2)
        XCTAssertTrue(wrongKey.err.contains("does not own the ledger"), wrongKey.err)
        // A source that does not verify: one record changed after sealing.
        let broken = path("broken")
        try FileManager.default.copyItem(atPath: bundle, toPath: broken)
        try edit(broken + "/custody/items.jsonl") { $0.replacingOccurrences(of: "\"mode\":", with: "\"mode\": ") }
        let refused = try disclose(broken, out: sub, ["--item", "phone/chats/suspect.db"], expect: 1)
        XCTAssertTrue(refused.err.contains("does not verify"), refused.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: sub))
        XCTAssertEqual(try ledgerSize(path("fr.ledger")), before, "a refused disclosure appended to the ledger")
        // An image bundle's seal names every item: refused, with the way out in the message's words.
        let image = path("image")
        try custody(["seal", "--ledger", path("fr.ledger"), "--key", key("fr"), "--out", image, "--quiet",
                     phone + "/images/disk.img"])
        let imageRefused = try disclose(image, out: sub, ["--item", "disk.img"], expect: 2)
        XCTAssertTrue(imageRefused.err.contains("not a collection bundle or disclosure"), imageRefused.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: sub))
    }

    // MARK: downstream commands take a disclosure as a bundle

    func testTransferReceiveReportAndExportsWorkOnADisclosure() throws {
        try sealPhone()
        let sub = path("sub")
        try disclose(bundle, out: sub, ["--item", "phone/chats/suspect.db"])
        try custody(["transfer", sub, "--to", "de", "--trust", path("fr-trust.json"), "--ledger", path("fr.ledger"),
                     "--key", key("fr"), "--out", path("sub.age"), "--quiet"])
        try trust("de-trust.json", "fr", "Police judiciaire", "FR")
        try custody(["receive", path("sub.age"), "--identity", path("keys/de.age"), "--ledger", path("de.ledger"),
                     "--key", key("de"), "--out", path("received"), "--trust", path("de-trust.json")])
        let verified = try custody(["verify", path("received"), "--trust", path("de-trust.json")])
        XCTAssertTrue(verified.out.contains("1 of 11 items disclosed"), verified.out)
        try custody(["report", sub, "--html", path("report.html")])
        let html = try String(contentsOfFile: path("report.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("1 of 11 items disclosed"), "the report does not say what was disclosed")
        XCTAssertTrue(html.contains("10 withheld"))
        try custody(["export", "case", sub, "--out", path("sub.jsonld")])
        try custody(["export", "dfxml", sub, "--out", path("sub.xml")])
    }
}
