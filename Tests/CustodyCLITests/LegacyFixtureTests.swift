import Foundation
import XCTest

/// Files made by custody 0.1.0 before the restructuring of Sources/ (`Tests/Fixtures/legacy-2026-11`, made once
/// by its `make.sh`) keep verifying with the code of today: the sealed bundle, both ledgers, the signed
/// checkpoint and the transfer to DE. Every test works on a copy of the fixtures in a temporary directory.
/// Only the command line and Foundation are used, so a renamed library type cannot hide a broken format.
final class LegacyFixtureTests: XCTestCase {
    /// What `make.sh` made, as recorded when the fixtures were committed.
    static let bundleID = "urn:uuid:e969746a-446c-4aa2-b63e-ff885e9559f8"
    static let transferID = "urn:uuid:71bf742b-669a-412b-a6f5-8b2a666e7a96"
    /// fr.ledger: note, examine, access, 2 acquire, seal, transfer-out, receipt.
    static let senderEntries = 8
    static let senderRoot = "0371b92f1661ec4dfb527dc1a1c35460848ca61a6ca47ced5565eae792d88995"
    /// de.ledger: one receive entry.
    static let receiverEntries = 1
    static let receiverRoot = "3377e731ec630d8577be5f04eb76acd3c52b0e45c31613a580ec4c490f7ecb92"
    static let payloads = ["data/0001-chat-export-head.csv.gz", "data/0002-disk-8k.img.gz"]

    /// The copy of the fixture folder this test works in.
    var dir: URL!

    override func setUpWithError() throws {
        let fixtures = try CLI.packageFolder("Tests/Fixtures/legacy-2026-11", what: "the legacy fixtures")
        dir = try makeTemporaryDirectory(self).appendingPathComponent("legacy-2026-11", isDirectory: true)
        try FileManager.default.copyItem(at: fixtures, to: dir)
        try setModes(dir)
    }

    // MARK: helpers

    /// The path of a file of the fixture copy.
    func path(_ relative: String) -> String { dir.appendingPathComponent(relative).path }

    /// Gives the copy the modes custody wrote (a checkout keeps only the executable bit): private keys and age
    /// identities 0600, other files 0644, folders 0755, so tests can also alter the copies however git wrote them.
    func setModes(_ root: URL) throws {
        let manager = FileManager.default
        for relative in try manager.subpathsOfDirectory(atPath: root.path) {
            let full = root.appendingPathComponent(relative).path
            var isDirectory: ObjCBool = false
            _ = manager.fileExists(atPath: full, isDirectory: &isDirectory)
            let secret = relative.hasPrefix("keys/") && (relative.hasSuffix(".key") || relative.hasSuffix(".age"))
            let mode = isDirectory.boolValue ? 0o755 : secret ? 0o600 : 0o644
            try manager.setAttributes([.posixPermissions: mode], ofItemAtPath: full)
        }
    }

    /// Runs `custody ARGS` in the fixture copy and asserts its exit status.
    @discardableResult
    func custody(_ arguments: [String], expect status: Int32 = 0, file: StaticString = #filePath,
                 line: UInt = #line) throws -> CLI.Result {
        let result = try CLI.run(arguments, in: dir)
        XCTAssertEqual(result.status, status,
                       "custody \(arguments.joined(separator: " ")):\n\(result.out)\(result.err)",
                       file: file, line: line)
        return result
    }

    /// Flips one bit of the byte at `offset` of a file of the copy.
    func flipByte(_ relative: String, at offset: Int) throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path(relative))))
        XCTAssertLessThan(offset, bytes.count, relative)
        bytes[offset] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path(relative)))
    }

    /// The offset of the first occurrence of `text` in a file of the copy.
    func offset(of text: String, in relative: String) throws -> Int {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(relative)))
        let range = try XCTUnwrap(data.range(of: Data(text.utf8)), "\(relative) does not hold '\(text)'")
        return range.lowerBound - data.startIndex
    }

    /// The lines of `custody ledger export LEDGER` (one JSON entry each).
    func exportedEntries(_ ledger: String) throws -> [String] {
        try custody(["ledger", "export", ledger]).out.split(separator: "\n").map(String.init)
    }

    /// The size and root (hex) of a C2SP checkpoint note: origin, size and base64 root lines, then signatures.
    func checkpointSizeAndRoot(_ note: String, file: StaticString = #filePath,
                               line: UInt = #line) throws -> (size: Int, root: String) {
        let lines = note.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertGreaterThanOrEqual(lines.count, 5, note, file: file, line: line)
        guard lines.count >= 5 else { return (-1, "") }
        let size = try XCTUnwrap(Int(lines[1]), "size line '\(lines[1])'", file: file, line: line)
        let root = try XCTUnwrap(Data(base64Encoded: String(lines[2])), "root line", file: file, line: line)
        return (size, root.map { String(format: "%02x", $0) }.joined())
    }

    // MARK: the sealed bundle

    func testLegacyBundleVerifies() throws {
        let quiet = try custody(["verify", "bundle", "--trust", "de-trust.json", "--quiet"])
        XCTAssertEqual(quiet.out, "verified: every check passed\n")
        let verified = try custody(["verify", "bundle", "--trust", "de-trust.json"])
        XCTAssertTrue(verified.out.contains("verified: every check passed"), verified.out)
        XCTAssertFalse(verified.out.contains("FAIL"), verified.out)
        XCTAssertTrue(verified.out.contains("computed"), verified.out)
        XCTAssertTrue(verified.out.contains("seal signature: valid signature by fr"), verified.out)
        XCTAssertTrue(verified.out.contains("trusted: Police judiciaire, FR"), verified.out)
        let json = try custody(["verify", "bundle", "--trust", "de-trust.json", "--json", "--quiet"])
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any])
        XCTAssertEqual(report["passed"] as? Bool, true, json.out)
        XCTAssertEqual(report["bundle"] as? String, Self.bundleID)
        XCTAssertEqual((report["items"] as? [Any])?.count, 2, json.out)
    }

    func testFlippedPayloadByteFailsVerify() throws {
        for payload in Self.payloads {
            XCTAssertTrue(FileManager.default.fileExists(atPath: path("bundle/" + payload)), payload)
        }
        try flipByte("bundle/" + Self.payloads[1], at: 100)
        let verified = try custody(["verify", "bundle", "--trust", "de-trust.json", "--quiet"], expect: 1)
        let failures = verified.out.split(separator: "\n").filter { $0.hasPrefix("FAIL") }
        XCTAssertTrue(failures.contains { $0.contains(Self.payloads[1]) }, verified.out)
        XCTAssertFalse(failures.contains { $0.contains(Self.payloads[0]) }, verified.out)
        XCTAssertTrue(verified.out.contains("FAILED: "), verified.out)
    }

    // MARK: the ledgers

    func testLegacyLedgersVerify() throws {
        // The sender's ledger, with the checkpoint the bundle carries checked against it too.
        let sender = try custody(["ledger", "verify", "fr.ledger", "--checkpoint", "bundle/custody/checkpoint.txt"])
        XCTAssertTrue(sender.out.contains("verified: \(Self.senderEntries) entries"), sender.out)
        XCTAssertTrue(sender.out.contains("root \(Self.senderRoot)"), sender.out)
        let receiver = try custody(["ledger", "verify", "de.ledger"])
        XCTAssertTrue(receiver.out.contains("verified: \(Self.receiverEntries) entries"), receiver.out)
        XCTAssertTrue(receiver.out.contains("root \(Self.receiverRoot)"), receiver.out)
        let actions = try exportedEntries("fr.ledger").map { line -> String in
            let entry = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return entry["action"] as? String ?? "?"
        }
        XCTAssertEqual(actions, ["note", "examine", "access", "acquire", "acquire", "seal", "transfer-out", "receipt"])
    }

    func testEditedLedgerEntryFailsVerify() throws {
        try flipByte("fr.ledger", at: try offset(of: "case FR-2026-0042 opened", in: "fr.ledger"))
        let verified = try custody(["ledger", "verify", "fr.ledger"], expect: 1)
        XCTAssertTrue(verified.out.contains("entry 0: signature does not verify"), verified.out + verified.err)
    }

    func testCheckpointSizeIsTheEntryCount() throws {
        for (ledger, count, root) in [("fr.ledger", Self.senderEntries, Self.senderRoot),
                                      ("de.ledger", Self.receiverEntries, Self.receiverRoot)] {
            let entries = try exportedEntries(ledger)
            XCTAssertEqual(entries.count, count, ledger)
            let printed = try custody(["ledger", "checkpoint", ledger])
            let checkpoint = try checkpointSizeAndRoot(printed.out)
            XCTAssertEqual(checkpoint.size, entries.count, printed.out)
            XCTAssertEqual(checkpoint.root, root, printed.out)
        }
    }

    func testLegacyLedgerTakesNewEntries() throws {
        try custody(["ledger", "append", "fr.ledger", "--key", "keys/fr.key", "--action", "note", "--detail",
                     "text=appended by the code of today"])
        let printed = try custody(["ledger", "checkpoint", "fr.ledger", "--key", "keys/fr.key"])
        XCTAssertEqual(try checkpointSizeAndRoot(printed.out).size, Self.senderEntries + 1, printed.out)
        let verified = try custody(["ledger", "verify", "fr.ledger"])
        XCTAssertTrue(verified.out.contains("verified: \(Self.senderEntries + 1) entries"), verified.out)
    }

    // MARK: the transfer to DE

    func testLegacyTransferIsReceived() throws {
        let received = try custody(["receive", "to-de.age", "--identity", "keys/de.age", "--ledger", "de.ledger",
                                    "--key", "keys/de.key", "--trust", "de-trust.json", "--out", "received-again",
                                    "--quiet"])
        XCTAssertTrue(received.out.contains("PASS  transfer statement: valid signature by fr"), received.out)
        XCTAssertTrue(received.out.contains("PASS  transfer note"), received.out)
        XCTAssertTrue(received.out.contains("verified: every check passed"), received.out)
        let receipt = try String(contentsOfFile: path("received-again.receipt"), encoding: .utf8)
        XCTAssertTrue(receipt.contains("\ntransfer \(Self.transferID)\n"), receipt)
        XCTAssertTrue(receipt.contains("\nbundle \(Self.bundleID)\n"), receipt)
        XCTAssertTrue(receipt.contains("\nresult passed\n"), receipt)
        try custody(["verify", "received-again", "--trust", "de-trust.json", "--quiet"])
        let ledger = try custody(["ledger", "verify", "de.ledger"])
        XCTAssertTrue(ledger.out.contains("verified: \(Self.receiverEntries + 1) entries"), ledger.out)
    }

    func testAlteredTransferIsRefused() throws {
        let size = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: path("to-de.age"))[.size] as? Int)
        try flipByte("to-de.age", at: size / 2)
        let refused = try custody(["receive", "to-de.age", "--identity", "keys/de.age", "--ledger", "de.ledger",
                                   "--key", "keys/de.key", "--trust", "de-trust.json", "--out", "received-again",
                                   "--quiet"], expect: 1)
        XCTAssertTrue(refused.err.contains("nothing was received"), refused.err)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("received-") }
        XCTAssertEqual(left, [])
        let ledger = try custody(["ledger", "verify", "de.ledger"])
        XCTAssertTrue(ledger.out.contains("verified: \(Self.receiverEntries) entries"), ledger.out)
    }
}
