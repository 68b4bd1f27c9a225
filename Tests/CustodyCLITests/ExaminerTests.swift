import Foundation
import XCTest
import CustodyKit

/// What an examiner used to ewfverify, sha256sum, hashdeep and bagit.py expects of custody (issue 21): digests
/// shown side by side, `--quiet` as sha256sum's, an unchecked signer said so, one JSON document per `--json`
/// call, one overwrite rule, inputs checked before secrets, trust entries checked against signed identities.
final class ExaminerTests: CLITestCase {
    /// FR's keys (no passphrase) and ledger, `evidence.bin` (200,000 bytes) sealed into `bundle`, and `fr-trust.json`
    /// trusting FR.
    override func setUpWithError() throws {
        try super.setUpWithError()
        try agency("fr", "Police judiciaire", "FR")
        var bytes = [UInt8](repeating: 0, count: 200_000)
        for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: index &* 2_654_435_761 >> 11) }
        try Data(bytes).write(to: dir.appendingPathComponent("evidence.bin"))
        try custody(["seal", "--ledger", path("fr.ledger"), "--key", key("fr"), "--out", path("bundle"), "--quiet",
                     "--md5-sha1", path("evidence.bin")])
        try custody(["trust", "add", path("fr-trust.json"), "fr", "--key", path("keys/fr.pub")])
    }

    /// The digest a coreutils peer prints for `file`.
    func peerDigest(_ tool: String, _ file: String) throws -> String {
        let result = try CLI.runTool(try CLI.requireTool(tool), [file])
        XCTAssertEqual(result.status, 0, result.err)
        return String(result.out.prefix { $0 != " " })
    }

    // MARK: verify

    func testVerifyShowsSealedAndComputedDigestsAgainstThePeers() throws {
        let result = try custody(["verify", path("bundle"), "--trust", path("fr-trust.json")])
        let sha256 = try peerDigest("sha256sum", path("evidence.bin"))
        let md5 = try peerDigest("md5sum", path("evidence.bin"))
        let sha1 = try peerDigest("sha1sum", path("evidence.bin"))
        for (name, hex) in [("SHA256", sha256), ("MD5", md5), ("SHA1", sha1)] {
            let padded = name + String(repeating: " ", count: "TREE-SHA256-1M".count - name.count)
            XCTAssertTrue(result.out.contains("  \(padded)  sealed    \(hex)\n"), "\(name):\n\(result.out)")
            XCTAssertTrue(result.out.contains("computed  \(hex)  match\n"), "\(name):\n\(result.out)")
        }
        XCTAssertTrue(result.out.contains("  size            sealed    200000\n"), result.out)
        XCTAssertTrue(result.out.hasSuffix("verified: every check passed\n"), result.out)

        let json = try JSONValue.parse(Array(try custody(["verify", path("bundle"), "--json"]).stdout))
        let item = try XCTUnwrap(json["items"]?.arrayValue?.first)
        XCTAssertEqual(item["computed"]?["sha256"]?.stringValue, sha256)
        XCTAssertEqual(item["computed"]?["md5"]?.stringValue, md5)
        XCTAssertEqual(item["computed"]?["size"]?.intValue, 200_000)
        XCTAssertEqual(item["computed"]?["tree"]?.stringValue, item["tree"]?.stringValue)
    }

    func testQuietPrintsOnlyFailuresAndTheResult() throws {
        let quiet = try custody(["verify", path("bundle"), "--trust", path("fr-trust.json"), "--quiet"])
        XCTAssertEqual(quiet.out, "verified: every check passed\n")
        XCTAssertEqual(quiet.err, "")
        let payload = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: path("bundle/data")).first)
        let victim = URL(fileURLWithPath: path("bundle/data/" + payload))
        var bytes = try [UInt8](Data(contentsOf: victim))
        bytes[bytes.count / 2] ^= 0x01
        try Data(bytes).write(to: victim)
        let failed = try custody(["verify", path("bundle"), "--trust", path("fr-trust.json"), "-q"], expect: 1)
        let lines = failed.out.split(separator: "\n")
        XCTAssertGreaterThanOrEqual(lines.count, 2, failed.out)
        XCTAssertTrue(lines.dropLast().allSatisfy { $0.hasPrefix("FAIL  ") }, failed.out)
        XCTAssertTrue(lines.last!.hasPrefix("FAILED: "), failed.out)
        let loud = try custody(["verify", path("bundle"), "--trust", path("fr-trust.json")], expect: 1)
        XCTAssertTrue(loud.out.contains("DIFFERS") || loud.out.contains("(not computed"), loud.out)
    }

    func testWithoutTrustTheSignerIsNotCheckedAndSaysSo() throws {
        let unchecked = try custody(["verify", path("bundle")])
        XCTAssertTrue(unchecked.out.contains("verified, signers NOT checked"), unchecked.out)
        XCTAssertFalse(unchecked.out.contains("every check passed"), unchecked.out)
        let json = try JSONValue.parse(Array(try custody(["verify", path("bundle"), "--json"]).stdout))
        XCTAssertEqual(json["outcome"]?.stringValue, "verified-signers-not-checked")
        XCTAssertEqual(json["signersChecked"]?.boolValue, false)
        XCTAssertEqual(json["passed"]?.boolValue, true)
        let trusted = try JSONValue.parse(Array(try custody(["verify", path("bundle"), "--json", "--trust",
                                                             path("fr-trust.json")]).stdout))
        XCTAssertEqual(trusted["outcome"]?.stringValue, "verified")
        XCTAssertEqual(trusted["signersChecked"]?.boolValue, true)
    }

    // MARK: trust

    func testTrustAddChecksTheSignedIdentityAndUpdateAndRemoveWork() throws {
        try makeKeys("de", agency: "Bundeskriminalamt", jurisdiction: "DE", in: path("keys"))
        let store = path("x.json")
        for arguments in [["--key", path("keys/de.identity.json"), "--jurisdiction", "FR", "--agency", "Other"],
                          ["--key", path("keys/de.pub"), "--jurisdiction", "FR"],
                          ["--key", path("keys/de.vkey"), "--agency", "Other"]] {
            let refused = try custody(["trust", "add", store, "de"] + arguments, expect: 2)
            XCTAssertTrue(refused.err.contains("differs from") && refused.err.contains("de.identity.json"),
                          refused.err)
            XCTAssertFalse(FileManager.default.fileExists(atPath: store))
        }
        let misnamed = try custody(["trust", "add", store, "bka", "--key", path("keys/de.vkey")], expect: 2)
        XCTAssertTrue(misnamed.err.contains("NAME 'bka' differs"), misnamed.err)
        try custody(["trust", "add", store, "de", "--key", path("keys/de.pub"), "--recipient",
                     path("keys/de.recipient")])
        let listed = try custody(["trust", "list", store]).out
        let recipient = try String(contentsOfFile: path("keys/de.recipient"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(listed.hasPrefix("de\tDE\tBundeskriminalamt\tkey "), listed)
        XCTAssertTrue(listed.contains("\t\(recipient)"), listed)
        try custody(["trust", "update", store, "de", "--agency", "BKA Wiesbaden"])
        XCTAssertTrue(try custody(["trust", "list", store]).out.contains("\tBKA Wiesbaden\t"))
        try custody(["trust", "remove", store, "de"])
        XCTAssertEqual(try custody(["trust", "list", store]).out, "")
        let gone = try custody(["trust", "remove", store, "de"], expect: 2)
        XCTAssertTrue(gone.err.contains("'de' is not in the trust store"), gone.err)
        _ = try custody(["trust", "update", store, "de", "--agency", "X"], expect: 2)
    }

    // MARK: exit codes and JSON

    func testMissingBundleIsExitTwoForEveryCommandAndJSONErrorsAreOneDocument() throws {
        let missing = path("bundel-42")
        let commands: [[String]] = [
            ["verify", missing],
            ["transfer", missing, "--to", "de", "--ledger", path("fr.ledger"), "--key", key("fr"), "--out",
             path("t.age")],
            ["report", missing, "--html", path("r.html")],
            ["export", "dfxml", missing],
            ["receive", path("no.age"), "--identity", path("keys/fr.age"), "--ledger", path("fr.ledger"), "--key",
             key("fr"), "--out", path("in")],
        ]
        for command in commands {
            let plain = try custody(command, expect: 2)
            XCTAssertEqual(plain.out, "", command.joined(separator: " "))
            XCTAssertTrue(plain.err.hasPrefix("custody: "), plain.err)
            guard command[0] != "export" else { continue }
            let json = try custody(command + ["--json"], expect: 2)
            let lines = json.out.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(command): \(json.out)")
            let document = try JSONValue.parse(Array(json.stdout))
            XCTAssertEqual(document["exitCode"]?.intValue, 2)
            XCTAssertTrue(document["error"]?.stringValue?.contains(command[0] == "receive" ? "no.age" : "bundel-42")
                          == true, json.out)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("t.age")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("r.html")))
    }

    func testPreserveListJSONIsOneArray() throws {
        XCTAssertEqual(try custody(["preserve", "list", "--ledger", path("fr.ledger"), "--json"]).out, "[]\n")
        for data in ["mailbox a", "mailbox b"] {
            try custody(["preserve", "add", "--ledger", path("fr.ledger"), "--key", key("fr"), "--authority", "P",
                         "--legal-basis", "art. 25", "--data", data, "--issued", "2026-11-01"])
        }
        let listed = try custody(["preserve", "list", "--ledger", path("fr.ledger"), "--json", "--as-of",
                                  "2026-11-02"])
        XCTAssertEqual(listed.out.split(separator: "\n").count, 1, listed.out)
        XCTAssertEqual(try JSONValue.parse(Array(listed.stdout)).arrayValue?.count, 2)
    }

    // MARK: secrets

    func testInputsAreCheckedBeforeAnyPassphraseIsAsked() throws {
        let setsid = try CLI.requireTool("setsid")
        try "correct horse\n".write(toFile: path("de.pass"), atomically: true, encoding: .utf8)
        try makeKeys("de", agency: "Bundeskriminalamt", jurisdiction: "DE", in: path("keys"),
                     passphraseFile: path("de.pass"))
        try makeLedger(path("de.ledger"), origin: "de.example/custody", key: key("de"),
                       passphraseFile: path("de.pass"))
        // No passphrase anywhere and no terminal: a command that asked first would fail on the passphrase.
        let commands: [(arguments: [String], names: String)] = [
            (["seal", "--ledger", path("de.ledger"), "--key", key("de"), "--out", path("b2"), path("nope.img")],
             "nope.img"),
            (["seal", "--ledger", path("nope.ledger"), "--key", key("de"), "--out", path("b2"), path("evidence.bin")],
             "nope.ledger"),
            (["seal", "--ledger", path("de.ledger"), "--key", key("de"), "--out", path("bundle"),
              path("evidence.bin")], "already exists"),
            (["transfer", path("bundel"), "--to", "x", "--ledger", path("de.ledger"), "--key", key("de"), "--out",
              path("t.age")], "bundel"),
            (["receive", path("nope.age"), "--identity", path("keys/de.age"), "--ledger", path("de.ledger"), "--key",
              key("de"), "--out", path("in")], "nope.age"),
            (["receipt", "import", path("nope.receipt"), "--ledger", path("de.ledger"), "--key", key("de")],
             "nope.receipt"),
            (["ledger", "init", path("de.ledger"), "--origin", "o", "--key", key("de")], "already exists"),
        ]
        for (arguments, names) in commands {
            let result = try CLI.runTool("/usr/bin/env", ["-u", "CUSTODY_PASSPHRASE", setsid, "-w", CLI.executable]
                                         + arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.err)")
            XCTAssertTrue(result.err.contains(names), "\(arguments): \(result.err)")
            XCTAssertFalse(result.err.contains("passphrase"), "\(arguments): \(result.err)")
        }
    }

    func testNewKeysNeedEightCharacterPassphrases() throws {
        try "short7!\n".write(toFile: path("short.pass"), atomically: true, encoding: .utf8)
        let refused = try custody(["keygen", "--name", "eve", "--agency", "X", "--jurisdiction", "FR", "--out",
                                   path("k2"), "--passphrase-file", path("short.pass")], expect: 2)
        XCTAssertTrue(refused.err.contains("at least 8 characters"), refused.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("k2/eve.key")))
        let fromEnvironment = try custody(["keygen", "--name", "eve", "--agency", "X", "--jurisdiction", "FR",
                                           "--out", path("k2")], expect: 2,
                                          environment: ["CUSTODY_PASSPHRASE": "1234"])
        XCTAssertTrue(fromEnvironment.err.contains("CUSTODY_PASSPHRASE is too short"), fromEnvironment.err)
        try custody(["keygen", "--name", "eve", "--agency", "X", "--jurisdiction", "FR", "--out", path("k2")],
                    environment: ["CUSTODY_PASSPHRASE": "eight ch"])
    }

    // MARK: outputs

    func testNamedOutputsAreReplacedOnlyWithForce() throws {
        let html = path("report.html"), dfxml = path("export.dfxml"), consent = path("consent.txt")
        for file in [html, dfxml, consent] { try "keep me\n".write(toFile: file, atomically: true, encoding: .utf8) }
        let bundleID = try XCTUnwrap(try String(contentsOfFile: path("bundle/bag-info.txt"), encoding: .utf8)
            .split(separator: "\n").first { $0.hasPrefix("External-Identifier: ") }?.dropFirst(21))
        let commands = [
            ["report", path("bundle"), "--html", html, "--quiet"],
            ["export", "dfxml", path("bundle"), "--out", dfxml, "--quiet"],
            ["consent", "grant", String(bundleID), "--to-jurisdiction", "NL", "--key", key("fr"), "--out", consent,
             "--ledger", path("fr.ledger")],
        ]
        for command in commands {
            let refused = try custody(command, expect: 2)
            XCTAssertTrue(refused.err.contains("already exists") && refused.err.contains("--force"), refused.err)
        }
        for file in [html, dfxml, consent] {
            XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), "keep me\n")
        }
        for command in commands { try custody(command + ["--force"]) }
        for file in [html, dfxml, consent] {
            XCTAssertNotEqual(try String(contentsOfFile: file, encoding: .utf8), "keep me\n")
        }
    }

    func testDFXMLStartTimeIsTheExportTime() throws {
        let sealTime = try XCTUnwrap(try custody(["ledger", "export", path("fr.ledger")]).out
            .split(separator: "\n").compactMap { try? JSONValue.parse(Array($0.utf8)) }
            .last { $0["action"]?.stringValue == "seal" }?["time"]?.stringValue)
        Thread.sleep(forTimeInterval: 1.1)
        let before = Timestamp.now().description
        let text = try custody(["export", "dfxml", path("bundle"), "--quiet"]).out
        let start = try XCTUnwrap(text.range(of: "<start_time>").map { text[$0.upperBound...].prefix(20) })
        XCTAssertGreaterThanOrEqual(String(start), before, "start_time is the export's time")
        XCTAssertNotEqual(String(start), sealTime)
        XCTAssertTrue(text.contains("<!-- custody sealed: \(sealTime) -->"), text)
        XCTAssertTrue(text.contains("<hashdigest type='MD5'>"), "--md5-sha1 sealed MD5")
    }

    // MARK: hash lists

    func testHashTextListsPassSha256sumStrictAndOldListsStillAudit() throws {
        let sha256sum = try CLI.requireTool("sha256sum")
        let list = try custody(["hash", path("evidence.bin")]).out
        XCTAssertTrue(list.hasPrefix("# TREE-SHA256-1M ("), list)
        try list.write(toFile: path("list.txt"), atomically: true, encoding: .utf8)
        let checked = try CLI.runTool(sha256sum, ["-c", "--strict", path("list.txt")])
        XCTAssertEqual(checked.status, 0, checked.out + checked.err)
        XCTAssertTrue(checked.out.contains(": OK"), checked.out)
        // A list written before the tree line became a comment still audits, tree included.
        let old = list.split(separator: "\n").map { $0.hasPrefix("# ") ? $0.dropFirst(2) : $0 }
            .joined(separator: "\n") + "\n"
        XCTAssertTrue(old.hasPrefix("TREE-SHA256-1M ("), old)
        try old.write(toFile: path("old.txt"), atomically: true, encoding: .utf8)
        for known in ["list.txt", "old.txt"] {
            let audit = try custody(["hash", "--audit", path(known), path("evidence.bin")])
            XCTAssertTrue(audit.out.contains("audit passed: 1 matched"), audit.out)
        }
        // The tree line is compared, not skipped: a wrong tree digest fails the audit.
        let lines = list.split(separator: "\n")
        let wrongTree = String(lines[0].dropLast(64)) + String(repeating: "0", count: 64)
        try ([wrongTree] + lines.dropFirst().map(String.init)).joined(separator: "\n").appending("\n")
            .write(toFile: path("wrong.txt"), atomically: true, encoding: .utf8)
        let audit = try custody(["hash", "--audit", path("wrong.txt"), path("evidence.bin")], expect: 1)
        XCTAssertTrue(audit.out.contains("changed"), audit.out)
    }
}
