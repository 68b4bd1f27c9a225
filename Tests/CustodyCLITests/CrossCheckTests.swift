import XCTest
import CustodyKit

/// What custody already holds, it cross-checks: checkpoints of another agency's log recorded by receive and receipt
/// import (forks, consistency proofs), `ledger verify` over recorded checkpoints, and every field of a receipt or a
/// consent against the entry it answers and the trust store.
final class CrossCheckTests: CLITestCase {
    /// FR and DE trusting each other; FR's evidence folder `evidence`.
    override func setUpWithError() throws {
        try super.setUpWithError()
        try setUpHandOff()
    }

    /// Seals `evidence/` on `ledger` (FR's key) into `out`; returns the bundle ID.
    @discardableResult
    func seal(on ledger: String = "fr.ledger", into out: String) throws -> String {
        let sealed = try custody(["seal", "--ledger", path(ledger), "--key", key("fr"), "--out", path(out),
                                  "--legal-basis", "UNCC art. 40", "--json", path("evidence")])
        return try JSONValue.parse(sealed.out.trimmingCharacters(in: .newlines))["bundle"]?.stringValue ?? ""
    }

    /// FR sends `bundle` to DE from `ledger`, writing `out`.
    func send(_ bundle: String, from ledger: String = "fr.ledger", to out: String) throws {
        try custody(["transfer", path(bundle), "--to", "de", "--trust", path("fr-trust.json"), "--ledger",
                     path(ledger), "--key", key("fr"), "--out", path(out)])
    }

    /// DE receives `file` into `out`, recording it in `ledger`.
    @discardableResult
    func receive(_ file: String, into out: String, ledger: String = "de.ledger",
                 expect status: Int32 = 0) throws -> CLI.Result {
        try custody(["receive", path(file), "--identity", path("keys/de.age"), "--ledger", path(ledger),
                     "--key", key("de"), "--out", path(out), "--trust", path("de-trust.json")], expect: status)
    }

    /// FR imports the receipt at `receipt`.
    @discardableResult
    func importReceipt(_ receipt: String, expect status: Int32 = 0) throws -> CLI.Result {
        try custody(["receipt", "import", path(receipt), "--ledger", path("fr.ledger"), "--key", key("fr"),
                     "--trust", path("fr-trust.json")], expect: status)
    }

    func entryCount(_ ledger: String) throws -> Int {
        try custody(["ledger", "export", path(ledger)]).out.split(separator: "\n").count
    }

    /// Re-signs the signed note at `source` with `signer`'s key after `edit` changed its text, writing `target`.
    func resign(_ source: String, as signer: String, to target: String, _ edit: (String) -> String) throws {
        let note = try SignedNote.parse([UInt8](try Data(contentsOf: dir.appendingPathComponent(source))))
        let source = PassphraseSource(file: nil, allowPrompt: false)
        let key = try SigningKey.load(keyPath: key(signer), passphrase: source)
        let text = edit(note.text)
        XCTAssertNotEqual(text, note.text, "the edit changed nothing")
        let signed = try SignedNote.sign(text: text, name: key.identity.name, key: key.privateKey)
        try Data(signed.bytes).write(to: dir.appendingPathComponent(target))
    }

    /// Replaces the value of the line `field VALUE` in a statement's text.
    func replacing(_ field: String, with value: String) -> (String) -> String {
        { text in
            text.split(separator: "\n", omittingEmptySubsequences: false).map {
                $0.hasPrefix(field + " ") ? "\(field) \(value)" : String($0)
            }.joined(separator: "\n")
        }
    }

    // MARK: Forked sender logs

    /// A second ledger made with FR's key and origin, a bundle sealed and sent from it: DE already holds FR's
    /// checkpoints of the same sizes with other roots, so the receive is refused and nothing is recorded.
    func testForkedSenderLogOfTheSameSizeIsRefused() throws {
        try seal(into: "bundle")
        try send("bundle", to: "one.age")
        try receive("one.age", into: "one")
        try makeLedger(path("fr-fork.ledger"), origin: "fr.example/custody", key: key("fr"))
        try seal(on: "fr-fork.ledger", into: "forked")
        try send("forked", from: "fr-fork.ledger", to: "two.age")
        let before = try entryCount("de.ledger")
        let refused = try receive("two.age", into: "two", expect: 1)
        XCTAssertTrue(refused.err.contains("fr.example/custody"), refused.err)
        XCTAssertTrue(refused.err.contains("forked log"), refused.err)
        XCTAssertTrue(refused.err.contains("entry 0"), refused.err)
        XCTAssertEqual(try entryCount("de.ledger"), before)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("two")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("two.receipt")))
        try custody(["ledger", "verify", path("de.ledger")])
    }

    /// A fork of another size: the forked sender cannot prove its checkpoint extends the ones DE holds.
    func testForkedSenderLogOfAnotherSizeIsRefused() throws {
        try seal(into: "bundle")
        try send("bundle", to: "one.age")
        try receive("one.age", into: "one")
        try makeLedger(path("fr-fork.ledger"), origin: "fr.example/custody", key: key("fr"))
        try custody(["ledger", "append", path("fr-fork.ledger"), "--key", key("fr"), "--action", "note",
                     "--detail", "text=padding"])
        try seal(on: "fr-fork.ledger", into: "forked")
        try send("forked", from: "fr-fork.ledger", to: "two.age")
        let before = try entryCount("de.ledger")
        let refused = try receive("two.age", into: "two", expect: 1)
        XCTAssertTrue(refused.err.contains("fr.example/custody"), refused.err)
        XCTAssertTrue(refused.err.contains("consistency"), refused.err)
        XCTAssertEqual(try entryCount("de.ledger"), before)
    }

    /// Honest transfers carry consistency proofs from every checkpoint the sender gave the recipient before, so a
    /// second transfer (and a third, received out of order) is received, and receipts prove the receiver's log too.
    func testConsistencyProofsLetHonestTransfersThrough() throws {
        try seal(into: "bundle")
        try send("bundle", to: "one.age")
        try receive("one.age", into: "one")
        try importReceipt("one.receipt")
        try send("bundle", to: "two.age")
        try send("bundle", to: "three.age")
        let note = try String(contentsOfFile: path("three.age.note"), encoding: .utf8)
        XCTAssertTrue(note.contains("\nconsistency "), note)
        try receive("three.age", into: "three")
        try receive("two.age", into: "two")
        let receipt = try String(contentsOfFile: path("two.receipt"), encoding: .utf8)
        XCTAssertTrue(receipt.contains("\nconsistency "), receipt)
        try importReceipt("three.receipt")
        try importReceipt("two.receipt")
        try custody(["ledger", "verify", path("de.ledger")])
        try custody(["ledger", "verify", path("fr.ledger")])
    }

    /// A note whose consistency proof was altered (and re-signed by the sender) is refused.
    func testAWrongConsistencyProofIsRefused() throws {
        try seal(into: "bundle")
        try send("bundle", to: "one.age")
        try receive("one.age", into: "one")
        try send("bundle", to: "two.age")
        let note = try String(contentsOfFile: path("two.age.note"), encoding: .utf8)
        guard let line = note.split(separator: "\n").first(where: {
            $0.hasPrefix("consistency ") && $0.contains(",")
        }) else {
            return XCTFail("no consistency proof with hashes in \(note)")
        }
        let parts = line.split(separator: " ")
        let hashes = parts[2].split(separator: ",")
        let wrong = ([String(repeating: "ab", count: 32)] + hashes.dropFirst().map(String.init)).joined(separator: ",")
        try resign("two.age.note", as: "fr", to: "two.age.note.new") {
            $0.replacingOccurrences(of: String(line), with: "consistency \(parts[1]) \(wrong)")
        }
        try FileManager.default.removeItem(atPath: path("two.age.note"))
        try FileManager.default.moveItem(atPath: path("two.age.note.new"), toPath: path("two.age.note"))
        let refused = try receive("two.age", into: "two", expect: 1)
        XCTAssertTrue(refused.err.contains("consistency"), refused.err)
    }

    /// A note made before custody carried proofs (no `consistency` field) cannot prove sizes that differ: the
    /// receive records it and warns, and equal sizes are still checked.
    func testANoteWithoutProofsIsRecordedWithAWarning() throws {
        try seal(into: "bundle")
        try send("bundle", to: "one.age")
        try receive("one.age", into: "one")
        try send("bundle", to: "two.age")
        try resign("two.age.note", as: "fr", to: "two.age.note.new") { text in
            text.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !$0.hasPrefix("consistency ") }.joined(separator: "\n")
        }
        try FileManager.default.removeItem(atPath: path("two.age.note"))
        try FileManager.default.moveItem(atPath: path("two.age.note.new"), toPath: path("two.age.note"))
        let received = try receive("two.age", into: "two")
        XCTAssertTrue(received.out.contains("WARN  sender checkpoints"), received.out)
        XCTAssertTrue(received.out.contains("not proven consistent"), received.out)
        try custody(["ledger", "verify", path("de.ledger")])
    }

    /// Recorded checkpoints of one origin and size with different roots: `ledger verify` fails naming both entries.
    func testLedgerVerifyReportsRecordedForks() throws {
        let one = String(repeating: "11", count: 32), two = String(repeating: "22", count: 32)
        let lines = [one, two].map {
            "{\"action\":\"receive\",\"subjects\":[{\"id\":\"urn:uuid:1\"}],\"details\":{\"transferCheckpoint\":"
                + "{\"origin\":\"fr.example/custody\",\"root\":\"\($0)\",\"size\":5}}}"
        }.joined(separator: "\n") + "\n"
        let appended = try CLI.run(["ledger", "append", path("de.ledger"), "--key", key("de"), "--batch"],
                                   stdin: Data(lines.utf8))
        XCTAssertEqual(appended.status, 0, appended.err)
        let verified = try custody(["ledger", "verify", path("de.ledger")], expect: 1)
        let output = verified.out + verified.err
        XCTAssertTrue(output.contains("fr.example/custody"), output)
        XCTAssertTrue(output.contains("size 5"), output)
        XCTAssertTrue(output.contains("entry 0") && output.contains("entry 1"), output)
    }

    // MARK: Receipts

    /// Receipts correctly signed by DE that contradict FR's transfer-out entry, DE's own checkpoint or the trust
    /// store are refused naming the field; the genuine one is recorded.
    func testReceiptContradictionsAreRefused() throws {
        try seal(into: "bundle")
        try send("bundle", to: "one.age")
        try receive("one.age", into: "one")
        let before = try entryCount("fr.ledger")
        let cases: [(String, String, String)] = [
            ("tagmanifest-sha256", String(repeating: "0", count: 64), "tagmanifest-sha256"),
            ("entry", "99", "entry 99"),
            ("receiver-agency", "Interpol", "receiver-agency"),
            ("receiver-jurisdiction", "IT", "receiver-jurisdiction"),
        ]
        for (field, value, named) in cases {
            try resign("one.receipt", as: "de", to: "edited.receipt", replacing(field, with: value))
            let refused = try importReceipt("edited.receipt", expect: 1)
            XCTAssertTrue(refused.err.contains(named), "\(field): \(refused.err)")
            XCTAssertTrue(refused.err.contains(value), "\(field): \(refused.err)")
        }
        XCTAssertEqual(try entryCount("fr.ledger"), before)
        try importReceipt("one.receipt")
    }

    /// Two receipts whose receiver checkpoints fork (a second DE ledger with DE's key and origin): the second is
    /// refused.
    func testForkedReceiverCheckpointsAreRefused() throws {
        try seal(into: "bundle")
        try send("bundle", to: "one.age")
        try send("bundle", to: "two.age")
        try receive("one.age", into: "one")
        try makeLedger(path("de-fork.ledger"), origin: "de.example/custody", key: key("de"))
        try receive("two.age", into: "two", ledger: "de-fork.ledger")
        try importReceipt("one.receipt")
        let before = try entryCount("fr.ledger")
        let refused = try importReceipt("two.receipt", expect: 1)
        XCTAssertTrue(refused.err.contains("de.example/custody"), refused.err)
        XCTAssertTrue(refused.err.contains("forked log"), refused.err)
        XCTAssertEqual(try entryCount("fr.ledger"), before)
    }

    // MARK: Consents

    /// A consent signed by FR's key whose granted-by agency contradicts the trust store and the sealer DE
    /// recorded is refused.
    func testConsentContradictionsAreRefused() throws {
        let bundleID = try seal(into: "bundle")
        try send("bundle", to: "one.age")
        try receive("one.age", into: "one")
        try custody(["consent", "grant", bundleID, "--to-jurisdiction", "US", "--key", key("fr"), "--out",
                     path("consent.txt")])
        try resign("consent.txt", as: "fr", to: "edited.txt", replacing("granted-by-agency", with: "Gendarmerie"))
        let refused = try custody(["consent", "import", path("edited.txt"), "--ledger", path("de.ledger"),
                                   "--key", key("de"), "--trust", path("de-trust.json")], expect: 1)
        XCTAssertTrue(refused.err.contains("granted-by-agency"), refused.err)
        XCTAssertTrue(refused.err.contains("Gendarmerie"), refused.err)
        try custody(["consent", "import", path("consent.txt"), "--ledger", path("de.ledger"), "--key", key("de"),
                     "--trust", path("de-trust.json")])
    }
}
