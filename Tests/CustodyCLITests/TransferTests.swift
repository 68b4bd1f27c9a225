import XCTest
import CustodyKit

/// Transfers between agencies through the built binary: FR seals and sends to DE, DE receives and signs a receipt,
/// FR imports it; onward transfer to US needs FR's consent; preservation orders.
final class TransferTests: CLITestCase {
    var bundleID = ""

    /// FR, DE and US agencies with ledgers and trust stores; FR seals `evidence/` into `bundle`.
    func setUpAgencies(receiverPassphrase: Bool = false, conditions: String? = nil) throws {
        try setUpHandOff(dePassphrase: receiverPassphrase)
        try agency("us", "FBI", "US")
        try trust("fr-trust.json", "us", "FBI", "US")
        try trust("de-trust.json", "us", "FBI", "US")
        try trust("us-trust.json", "de", "Bundeskriminalamt", "DE")
        try trust("us-trust.json", "fr", "Police judiciaire", "FR")
        var random = SystemRandomNumberGenerator()
        try Data((0..<200_000).map { _ in UInt8.random(in: 0...255, using: &random) })
            .write(to: dir.appendingPathComponent("evidence/disk.img"))
        var seal = ["seal", "--ledger", path("fr.ledger"), "--key", key("fr"), "--out", path("bundle"),
                    "--legal-basis", "UNCC art. 40", "--json", path("evidence")]
        if let conditions {
            try conditions.write(toFile: path("conditions.json"), atomically: true, encoding: .utf8)
            seal += ["--conditions", path("conditions.json")]
        }
        let sealed = try custody(seal)
        bundleID = try JSONValue.parse(sealed.out.trimmingCharacters(in: .newlines))["bundle"]?.stringValue ?? ""
        XCTAssertTrue(bundleID.hasPrefix("urn:uuid:"))
    }

    @discardableResult
    func transferToDE(out: String = "to-de.age") throws -> CLI.Result {
        try custody(["transfer", path("bundle"), "--to", "de", "--trust", path("fr-trust.json"), "--ledger",
                     path("fr.ledger"), "--key", key("fr"), "--out", path(out), "--mla-ref", "MLA-2026-17"])
    }

    @discardableResult
    func receiveAsDE(_ file: String = "to-de.age", out: String = "received", expect status: Int32 = 0,
                     trust: String = "de-trust.json") throws -> CLI.Result {
        try custody(["receive", path(file), "--identity", path("keys/de.age"), "--ledger", path("de.ledger"),
                     "--key", key("de"), "--out", path(out), "--trust", path(trust)], expect: status)
    }

    func entries(_ ledger: String) throws -> [JSONValue] {
        let export = try custody(["ledger", "export", path(ledger)])
        return try export.out.split(separator: "\n").map { try JSONValue.parse(String($0)) }
    }

    func leftovers() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).filter {
            $0.contains(".partial-") || $0.contains(".receiving-") || $0.contains(".tmp-")
        }
    }

    // MARK: The round trip

    func testRoundTripBetweenTwoAgencies() throws {
        try setUpAgencies(receiverPassphrase: true)
        let sent = try transferToDE()
        XCTAssertTrue(sent.out.contains("to de (Bundeskriminalamt, DE)"), sent.out)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("to-de.age.note")))
        let note = try String(contentsOfFile: path("to-de.age.note"), encoding: .utf8)
        XCTAssertTrue(note.hasPrefix("custody transfer v1\n"), note)
        XCTAssertTrue(note.contains("\nbundle \(bundleID)\n"), note)
        XCTAssertTrue(note.contains("\nmla-ref MLA-2026-17\n"), note)
        let fileBytes = try [UInt8](Data(contentsOf: dir.appendingPathComponent("to-de.age")))
        let fileDigest = Digester.digest(.sha256, fileBytes)
        XCTAssertTrue(note.contains("\nfile-sha256 \(Hex.encode(fileDigest))\n"), note)
        XCTAssertEqual(try leftovers(), [])
        let outEntry = try entries("fr.ledger").last!
        XCTAssertEqual(outEntry["action"]?.stringValue, "transfer-out")
        XCTAssertEqual(outEntry["details"]?["recipient"]?["jurisdiction"]?.stringValue, "DE")
        XCTAssertEqual(outEntry["details"]?["fileSha256"]?.stringValue, Hex.encode(fileDigest))
        XCTAssertEqual(outEntry["details"]?["mlaReference"]?.stringValue, "MLA-2026-17")

        // The receiver's age identity and signing key are passphrase-protected.
        let received = try custody(["receive", path("to-de.age"), "--identity", path("keys/de.age"), "--ledger",
                                    path("de.ledger"), "--key", key("de"), "--out", path("received"), "--trust",
                                    path("de-trust.json"), "--passphrase-file", path("de.pass")])
        XCTAssertTrue(received.out.contains("PASS  transfer statement: valid signature by fr"), received.out)
        XCTAssertTrue(received.out.contains("PASS  transfer note"), received.out)
        XCTAssertTrue(received.out.contains("verified: every check passed"), received.out)
        XCTAssertEqual(try leftovers(), [])
        try custody(["verify", path("received"), "--trust", path("de-trust.json")])
        let receipt = try String(contentsOfFile: path("received.receipt"), encoding: .utf8)
        XCTAssertTrue(receipt.hasPrefix("custody receipt v1\n"), receipt)
        XCTAssertTrue(receipt.contains("\nresult passed\n"), receipt)
        XCTAssertTrue(receipt.contains("\nbundle \(bundleID)\n"), receipt)
        let tagManifest = try [UInt8](Data(contentsOf: dir.appendingPathComponent("bundle/tagmanifest-sha256.txt")))
        XCTAssertTrue(receipt.contains("\ntagmanifest-sha256 \(Hex.encode(Digester.digest(.sha256, tagManifest)))\n"))
        let receiveEntry = try entries("de.ledger").last!
        XCTAssertEqual(receiveEntry["action"]?.stringValue, "receive")
        XCTAssertEqual(receiveEntry["details"]?["senderCheckpoint"]?["origin"]?.stringValue, "fr.example/custody")
        XCTAssertEqual(receiveEntry["details"]?["transferCheckpoint"]?["size"]?.intValue,
                       (outEntry["seq"]?.intValue ?? -2) + 1)
        XCTAssertEqual(receiveEntry["details"]?["sealer"]?["jurisdiction"]?.stringValue, "FR")

        let imported = try custody(["receipt", "import", path("received.receipt"), "--ledger", path("fr.ledger"),
                                    "--key", key("fr"), "--trust", path("fr-trust.json")])
        XCTAssertTrue(imported.out.contains("recorded at ledger entry"), imported.out)
        let receiptEntry = try entries("fr.ledger").last!
        XCTAssertEqual(receiptEntry["action"]?.stringValue, "receipt")
        XCTAssertEqual(receiptEntry["details"]?["transferEntry"]?.intValue, outEntry["seq"]?.intValue)
        XCTAssertEqual(receiptEntry["details"]?["receiverCheckpoint"]?["origin"]?.stringValue, "de.example/custody")
        // Importing again (here without a trust store: the transfer-out entry recorded DE's key) adds nothing.
        let again = try custody(["receipt", "import", path("received.receipt"), "--ledger", path("fr.ledger"),
                                 "--key", key("fr")])
        XCTAssertTrue(again.out.contains("already recorded"), again.out)
        XCTAssertEqual(Int64(try entries("fr.ledger").count), (receiptEntry["seq"]?.intValue ?? 0) + 1)
        try custody(["ledger", "verify", path("fr.ledger")])
        try custody(["ledger", "verify", path("de.ledger")])
        // The sender can reopen its own file (it is also encrypted to FR's recipient).
        let reopened = try custody(["receive", path("to-de.age"), "--identity", path("keys/fr.age"), "--ledger",
                                    path("fr.ledger"), "--key", key("fr"), "--out", path("reopened")])
        XCTAssertTrue(reopened.out.contains("WARN  transfer recipient"), reopened.out)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("reopened/bagit.txt")))
    }

    func testReceiptChecksSignerAndTransfer() throws {
        try setUpAgencies()
        try transferToDE()
        try receiveAsDE()
        // A receipt checked against a store without DE's key, or imported into a ledger without the transfer.
        try trust("only-us.json", "us", "FBI", "US")
        try custody(["receipt", "import", path("received.receipt"), "--ledger", path("fr.ledger"), "--key", key("fr"),
                     "--trust", path("only-us.json")], expect: 1)
        let other = try custody(["receipt", "import", path("received.receipt"), "--ledger", path("us.ledger"),
                                 "--key", key("us"), "--trust", path("us-trust.json")], expect: 1)
        XCTAssertTrue(other.err.contains("no transfer-out entry"), other.err)
        // A receipt edited after signing.
        var text = try String(contentsOfFile: path("received.receipt"), encoding: .utf8)
        text = text.replacingOccurrences(of: "result passed", with: "result failed")
        try text.write(toFile: path("edited.receipt"), atomically: true, encoding: .utf8)
        let edited = try custody(["receipt", "import", path("edited.receipt"), "--ledger", path("fr.ledger"),
                                  "--key", key("fr"), "--trust", path("fr-trust.json")], expect: 1)
        XCTAssertTrue(edited.err.contains("signature"), edited.err)
        // A receipt cut short is no longer a signed note: exit 1 naming the file, as for any altered receipt.
        let whole = try String(contentsOfFile: path("received.receipt"), encoding: .utf8)
        try String(whole.dropLast()).write(toFile: path("cut.receipt"), atomically: true, encoding: .utf8)
        let cut = try custody(["receipt", "import", path("cut.receipt"), "--ledger", path("fr.ledger"),
                               "--key", key("fr"), "--trust", path("fr-trust.json")], expect: 1)
        XCTAssertTrue(cut.err.contains("cut.receipt: malformed signed note"), cut.err)
        XCTAssertEqual(try entries("fr.ledger").last?["action"]?.stringValue, "transfer-out")
    }

    func testReceiptOfATransferToABareRecipientNeedsTheTrustStore() throws {
        try setUpAgencies()
        let usRecipient = try String(contentsOfFile: path("keys/us.recipient"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try custody(["transfer", path("bundle"), "--to", usRecipient, "--ledger", path("fr.ledger"), "--key",
                     key("fr"), "--out", path("to-us.age")])
        try custody(["receive", path("to-us.age"), "--identity", path("keys/us.age"), "--ledger", path("us.ledger"),
                     "--key", key("us"), "--out", path("received"), "--trust", path("us-trust.json")])
        let refused = try custody(["receipt", "import", path("received.receipt"), "--ledger", path("fr.ledger"),
                                   "--key", key("fr")], expect: 2)
        XCTAssertEqual(refused.err, "custody: \(path("received.receipt")): the transfer was made to a bare age "
            + "recipient, so the receiver's key is not recorded; give the trust store holding it with --trust\n")
        try custody(["receipt", "import", path("received.receipt"), "--ledger", path("fr.ledger"), "--key", key("fr"),
                     "--trust", path("fr-trust.json")])
    }

    func testFailedVerificationStillYieldsAReceipt() throws {
        try setUpAgencies()
        try transferToDE()
        // DE checks against a store that does not know FR: the signatures are not trusted.
        try trust("only-us.json", "us", "FBI", "US")
        let result = try receiveAsDE(expect: 1, trust: "only-us.json")
        XCTAssertTrue(result.out.contains("FAIL  transfer statement"), result.out)
        XCTAssertTrue(result.out.contains("kept at"), result.out)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("received/bagit.txt")))
        let receipt = try String(contentsOfFile: path("received.receipt"), encoding: .utf8)
        XCTAssertTrue(receipt.contains("\nresult failed\n"), receipt)
        XCTAssertTrue(receipt.contains("\nfailure seal signature: "), receipt)
        XCTAssertEqual(try entries("de.ledger").last?["details"]?["result"]?.stringValue, "failed")
        // The sender records the failed receipt and is told (exit 1).
        let imported = try custody(["receipt", "import", path("received.receipt"), "--ledger", path("fr.ledger"),
                                    "--key", key("fr"), "--trust", path("fr-trust.json")], expect: 1)
        XCTAssertTrue(imported.out.contains("verification FAILED"), imported.out)
        XCTAssertEqual(try entries("fr.ledger").last?["details"]?["result"]?.stringValue, "failed")
    }

    // MARK: Interoperability with age and tar

    func testAgeAndTarOpenTransferFiles() throws {
        let age = try CLI.requireTool("age")
        let tar = try CLI.requireTool("tar")
        try setUpAgencies()
        try transferToDE()
        let listing = try CLI.runTool("/bin/sh", ["-c", "'\(age)' -d -i '\(path("keys/de.age"))' "
            + "'\(path("to-de.age"))' | '\(tar)' -t"])
        XCTAssertEqual(listing.status, 0, listing.err)
        let names = listing.out.split(separator: "\n").map(String.init)
        XCTAssertEqual(names.first, "transfer.txt")
        for name in ["bundle/", "bundle/bagit.txt", "bundle/custody/seal.txt", "bundle/tagmanifest-sha256.txt"] {
            XCTAssertTrue(names.contains(name), "\(name) missing from \(names)")
        }
    }

    /// Archives `members` of the test folder with tar and encrypts the archive to DE with age, as an agency without
    /// custody would; skips when either tool is missing.
    func tarAndAgeToDE(_ members: String, into name: String, tarOptions: String = "") throws {
        let age = try CLI.requireTool("age")
        let tar = try CLI.requireTool("tar")
        let recipient = try String(contentsOfFile: path("keys/de.recipient"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let made = try CLI.runTool("/bin/sh", ["-c", "'\(tar)' \(tarOptions) -cf - -C '\(dir.path)' \(members) | "
            + "'\(age)' -r \(recipient) -o '\(path(name))'"])
        XCTAssertEqual(made.status, 0, made.err)
    }

    func testReceiveAcceptsWhatAgeAndTarWrote() throws {
        try setUpAgencies()
        try tarAndAgeToDE("bundle", into: "by-age.age", tarOptions: "--format=pax")
        let received = try receiveAsDE("by-age.age")
        XCTAssertTrue(received.out.contains("WARN  transfer statement: the archive carries no transfer.txt"),
                      received.out)
        XCTAssertTrue(received.out.contains("verified: every check passed"), received.out)
        let receipt = try String(contentsOfFile: path("received.receipt"), encoding: .utf8)
        XCTAssertFalse(receipt.contains("\ntransfer "), receipt)
        XCTAssertTrue(receipt.contains("\nbundle \(bundleID)\n"), receipt)

        // A bundle altered before age encrypted it: received, kept for inspection, and the receipt says so.
        try custody(["verify", path("received"), "--trust", path("de-trust.json")])
        // The sealed folder is a collection bundle (SPEC 5.13): its payloads mirror the folder under data/evidence.
        let payload = try FileManager.default.contentsOfDirectory(atPath: path("bundle/data/evidence")).sorted().last!
        XCTAssertEqual(payload, "notes.txt.gz")
        let handle = try FileHandle(forUpdating: dir.appendingPathComponent("bundle/data/evidence/\(payload)"))
        try handle.seek(toOffset: 40)
        let byte = try handle.read(upToCount: 1)![0]
        try handle.seek(toOffset: 40)
        try handle.write(contentsOf: [byte ^ 1])
        try handle.close()
        try tarAndAgeToDE("bundle", into: "tampered.age")
        let failed = try receiveAsDE("tampered.age", out: "received-2", expect: 1)
        XCTAssertTrue(failed.out.contains("FAIL  item 3 evidence/notes.txt: "), failed.out)
        let failedReceipt = try String(contentsOfFile: path("received-2.receipt"), encoding: .utf8)
        XCTAssertTrue(failedReceipt.contains("\nresult failed\nfailure item 3 evidence/notes.txt: "), failedReceipt)
    }

    /// A transfer.txt too large to be a statement: refused naming the transfer file, exit 1, nothing left.
    func testOversizedStatementIsRefused() throws {
        try setUpAgencies()
        try Data(count: 2 << 20).write(to: dir.appendingPathComponent("transfer.txt"))
        try tarAndAgeToDE("bundle transfer.txt", into: "big.age")
        let refused = try receiveAsDE("big.age", expect: 1)
        XCTAssertTrue(refused.err.contains("big.age: the archive's transfer.txt holds 2097152 bytes"), refused.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("received")))
        XCTAssertEqual(try leftovers(), [])
        XCTAssertEqual(try entries("de.ledger").count, 0)
    }

    // MARK: Bad input

    func testWrongIdentityIsRefusedNamingIt() throws {
        try setUpAgencies()
        try transferToDE()
        let result = try custody(["receive", path("to-de.age"), "--identity", path("keys/us.age"), "--ledger",
                                  path("us.ledger"), "--key", key("us"), "--out", path("received")], expect: 2)
        XCTAssertTrue(result.err.contains("not encrypted to \(path("keys/us.age"))"), result.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("received")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("received.receipt")))
        XCTAssertEqual(try entries("us.ledger").count, 0)
        XCTAssertEqual(try leftovers(), [])
    }

    func testTamperedOrTruncatedFilesLeaveNothing() throws {
        try setUpAgencies()
        try transferToDE()
        let original = try [UInt8](Data(contentsOf: dir.appendingPathComponent("to-de.age")))
        // The header ends after the line starting "--- "; the 16-byte nonce follows, then the payload.
        let macLine = original.indices.first {
            original[$0] == 10 && original[($0 + 1)...].starts(with: Array("--- ".utf8))
        }!
        let headerEnd = original[(macLine + 1)...].firstIndex(of: 10)! + 1
        // A changed stanza no longer unwraps with DE's identity: "not encrypted to" it (exit 2); every other
        // change fails authentication (exit 1).
        let cases: [(String, Int?, Int?, Int32)] = [
            ("version line", 3, nil, 1), ("header MAC", headerEnd - 5, nil, 1),
            ("payload start", headerEnd + 16 + 3, nil, 1), ("middle", original.count / 2, nil, 1),
            ("last byte", original.count - 1, nil, 1), ("truncated", nil, original.count - 1000, 1),
            ("cut at a chunk boundary", nil, headerEnd + 16 + 65_552, 1),
        ]
        // Offset 40 lies inside the X25519 share's base64 (the header's first stanza line starts at byte 22). A
        // different alphabet character there gives another valid share: "not encrypted to" DE (exit 2); a
        // character outside the alphabet makes the header malformed (exit 1). A bit flip could give either,
        // depending on the random key, so both are made explicitly.
        let shareOffset = 40
        var otherShare = original
        otherShare[shareOffset] = original[shareOffset] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        var malformedShare = original
        malformedShare[shareOffset] = UInt8(ascii: "@")
        for (name, bytes, status) in [("stanza share replaced", otherShare, Int32(2)),
                                      ("stanza share malformed", malformedShare, Int32(1))] {
            try Data(bytes).write(to: dir.appendingPathComponent("bad.age"))
            let result = try receiveAsDE("bad.age", out: "received", expect: status)
            XCTAssertTrue(result.err.contains("nothing was received"), "\(name): \(result.err)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("received")), name)
            XCTAssertEqual(try leftovers(), [], name)
        }
        for (name, flip, cut, status) in cases {
            var bytes = original
            if let flip { bytes[flip] ^= 0x01 }
            if let cut { bytes = Array(bytes[..<cut]) }
            try Data(bytes).write(to: dir.appendingPathComponent("bad.age"))
            let result = try receiveAsDE("bad.age", out: "received", expect: status)
            XCTAssertTrue(result.err.contains("nothing was received"), "\(name): \(result.err)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("received")), name)
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("received.receipt")), name)
            XCTAssertEqual(try leftovers(), [], name)
        }
        XCTAssertEqual(try entries("de.ledger").count, 0)
        // The intact file still goes through.
        try receiveAsDE()
    }

    /// A receive killed mid-way leaves its staging folder (decrypted evidence); the next receive into the same DIR
    /// removes it when its process is gone, and leaves a live one alone.
    func testStaleStagingIsRemovedByTheNextReceive() throws {
        try setUpAgencies()
        try transferToDE()
        let child = try CLI.runTool("/bin/sh", ["-c", "echo $$"])
        let dead = pid_t(child.out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        XCTAssertGreaterThan(dead, 0)
        let stale = path("received.receiving-\(dead)")
        let live = path("received.receiving-\(getpid())")
        for folder in [stale, live] {
            try FileManager.default.createDirectory(atPath: folder + "/bundle/data", withIntermediateDirectories: true)
            try Data("decrypted".utf8).write(to: URL(fileURLWithPath: folder + "/bundle/data/x"))
        }
        let received = try receiveAsDE()
        XCTAssertTrue(received.err.contains("removed \(stale), left by an interrupted receive"), received.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale))
        XCTAssertTrue(FileManager.default.fileExists(atPath: live))
        try FileManager.default.removeItem(atPath: live)
    }

    /// The note is found by name beside the file: a FIFO there fails the note check instead of blocking receive.
    func testNoteThatIsNotARegularFileFailsTheCheck() throws {
        try setUpAgencies()
        try transferToDE()
        try FileManager.default.copyItem(atPath: path("to-de.age"), toPath: path("fifo.age"))
        XCTAssertEqual(mkfifo(path("fifo.age.note"), 0o600), 0)
        let result = try receiveAsDE("fifo.age", out: "received", expect: 1)
        XCTAssertTrue(result.out.contains("FAIL  transfer note") && result.out.contains("not a regular file"),
                      result.out)
        XCTAssertFalse(result.out.contains("fifo.age.note: \(path("fifo.age.note"))"),
                       "path named twice: \(result.out)")
    }

    func testTransferRefusals() throws {
        try setUpAgencies()
        let base = ["--ledger", path("fr.ledger"), "--key", key("fr"), "--trust", path("fr-trust.json")]
        let unknown = try custody(["transfer", path("bundle"), "--to", "nobody", "--out", path("x.age")] + base,
                                  expect: 2)
        XCTAssertEqual(unknown.err,
                       "custody: --to 'nobody': no such name in the trust store (see custody trust list)\n")
        let noStore = try custody(["transfer", path("bundle"), "--to", "de", "--out", path("x.age"), "--ledger",
                                   path("fr.ledger"), "--key", key("fr")], expect: 2)
        XCTAssertEqual(noStore.err, "custody: --to 'de' is not an age1... recipient; to name an agency, give the "
            + "trust store that holds it with --trust\n")
        let notOwner = try custody(["transfer", path("bundle"), "--to", "de", "--out", path("x.age"), "--ledger",
                                    path("de.ledger"), "--key", key("fr"), "--trust", path("fr-trust.json")],
                                   expect: 2)
        XCTAssertTrue(notOwner.err.contains("does not own the ledger"), notOwner.err)
        try Data("existing".utf8).write(to: dir.appendingPathComponent("exists.age"))
        try custody(["transfer", path("bundle"), "--to", "de", "--out", path("exists.age")] + base, expect: 2)
        XCTAssertEqual(try String(contentsOfFile: path("exists.age"), encoding: .utf8), "existing")
        // A bundle that no longer verifies is not sent.
        try Data("changed\n".utf8).write(to: dir.appendingPathComponent("bundle/bag-info.txt"))
        let bad = try custody(["transfer", path("bundle"), "--to", "de", "--out", path("x.age")] + base, expect: 1)
        XCTAssertTrue(bad.err.contains("does not verify"), bad.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("x.age")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("x.age.note")))
        XCTAssertEqual(try leftovers(), [])
        XCTAssertFalse(try entries("fr.ledger").contains { $0["action"]?.stringValue == "transfer-out" })
    }

    // MARK: Onward transfer

    func testOnwardTransferNeedsTheOriginalSendersConsent() throws {
        try setUpAgencies()
        try transferToDE()
        try receiveAsDE()
        let onward = ["transfer", path("received"), "--ledger", path("de.ledger"), "--key", key("de"), "--trust",
                      path("de-trust.json")]
        let refused = try custody(onward + ["--to", "us", "--out", path("to-us.age")], expect: 2)
        XCTAssertTrue(refused.err.contains("onward transfer requires consent"), refused.err)
        XCTAssertTrue(refused.err.contains("requires-consent"), refused.err)
        XCTAssertTrue(refused.err.contains("fr (Police judiciaire, FR)"), refused.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("to-us.age")))
        // A bare recipient hides the jurisdiction: refused too. Back to FR is not a third jurisdiction.
        let usRecipient = try String(contentsOfFile: path("keys/us.recipient"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let bare = try custody(onward + ["--to", usRecipient, "--out", path("to-us.age")], expect: 2)
        XCTAssertEqual(bare.err, "custody: onward transfer condition (requires-consent): \(path("received")) was "
            + "sealed by fr (Police judiciaire, FR); the recipient's jurisdiction is unknown, so name the recipient "
            + "from the trust store (--to NAME --trust STORE); nothing was sent\n")
        try custody(onward + ["--to", "fr", "--out", path("back-to-fr.age")])

        // Consent from the wrong party (DE itself), or for another jurisdiction, does not lift the condition.
        try custody(["consent", "grant", bundleID, "--to-jurisdiction", "US", "--key", key("de"), "--out",
                     path("self-consent.txt")])
        let notSealer = try custody(["consent", "import", path("self-consent.txt"), "--ledger", path("de.ledger"),
                                     "--key", key("de"), "--trust", path("de-trust.json")], expect: 1)
        XCTAssertTrue(notSealer.err.contains("only the original sender"), notSealer.err)
        try custody(["consent", "grant", bundleID, "--to-jurisdiction", "CA", "--key", key("fr"), "--out",
                     path("consent-ca.txt")])
        try custody(["consent", "import", path("consent-ca.txt"), "--ledger", path("de.ledger"), "--key", key("de"),
                     "--trust", path("de-trust.json")])
        try custody(onward + ["--to", "us", "--out", path("to-us.age")], expect: 2)
        // An expired consent does not either.
        let old = try custody(["consent", "grant", bundleID, "--to-jurisdiction", "US", "--key", key("fr"), "--out",
                               path("consent-old.txt"), "--expires", "2020-01-31"])
        XCTAssertTrue(old.err.contains("warning: --expires 2020-01-31 is already past"), old.err)
        let notBundle = try custody(["consent", "grant", "bundle-42", "--to-jurisdiction", "US", "--key", key("fr"),
                                     "--out", path("consent-bad.txt")], expect: 2)
        XCTAssertTrue(notBundle.err.contains("not a bundle ID"), notBundle.err)
        try custody(["consent", "import", path("consent-old.txt"), "--ledger", path("de.ledger"), "--key", key("de"),
                     "--trust", path("de-trust.json")])
        try custody(onward + ["--to", "us", "--out", path("to-us.age")], expect: 2)
        // FR's consent for US, recorded in FR's ledger and imported by DE, lifts it.
        try custody(["consent", "grant", bundleID, "--to-jurisdiction", "US", "--key", key("fr"), "--out",
                     path("consent-us.txt"), "--purpose", "joint investigation team", "--ledger", path("fr.ledger")])
        XCTAssertEqual(try entries("fr.ledger").last?["action"]?.stringValue, "consent")
        let recorded = try custody(["consent", "import", path("consent-us.txt"), "--ledger", path("de.ledger"),
                                    "--key", key("de"), "--trust", path("de-trust.json")])
        XCTAssertTrue(recorded.out.contains("may go to US"), recorded.out)
        let sent = try custody(onward + ["--to", "us", "--out", path("to-us.age")])
        XCTAssertTrue(sent.out.contains("allowed by the original sender's consent"), sent.out)
        let received = try custody(["receive", path("to-us.age"), "--identity", path("keys/us.age"), "--ledger",
                                    path("us.ledger"), "--key", key("us"), "--out", path("us-received"), "--trust",
                                    path("us-trust.json")])
        XCTAssertTrue(received.out.contains("verified: every check passed"), received.out)
        // US holds it under the same condition: passing it on again needs FR's consent for that jurisdiction.
        let fromUS = try custody(["transfer", path("us-received"), "--to", "de", "--trust", path("us-trust.json"),
                                  "--ledger", path("us.ledger"), "--key", key("us"), "--out", path("x.age")],
                                 expect: 2)
        XCTAssertTrue(fromUS.err.contains("onward transfer requires consent"), fromUS.err)
    }

    func testForbiddenOnwardTransferIsNotLiftedByConsent() throws {
        try setUpAgencies(conditions: """
            {"useLimitations":{"purposes":["case FR-1"],"onwardTransfer":"forbidden"},
             "personalData":{"categories":["communications content"],"retentionUntil":"2030-12-31"}}
            """)
        try transferToDE()
        let received = try receiveAsDE()
        XCTAssertTrue(received.out.contains("onward transfer: forbidden"), received.out)
        XCTAssertTrue(received.out.contains("personal data: communications content"), received.out)
        try custody(["consent", "grant", bundleID, "--to-jurisdiction", "US", "--key", key("fr"), "--out",
                     path("consent.txt")])
        try custody(["consent", "import", path("consent.txt"), "--ledger", path("de.ledger"), "--key", key("de"),
                     "--trust", path("de-trust.json")])
        let refused = try custody(["transfer", path("received"), "--to", "us", "--trust", path("de-trust.json"),
                                   "--ledger", path("de.ledger"), "--key", key("de"), "--out", path("to-us.age")],
                                  expect: 2)
        XCTAssertTrue(refused.err.contains("onward transfer forbidden"), refused.err)
        XCTAssertTrue(refused.err.contains("useLimitations.onwardTransfer = forbidden"), refused.err)
    }

    // MARK: Preservation orders

    func testPreservationOrders() throws {
        try agency("fr", "Police judiciaire", "FR")
        let base = ["--ledger", path("fr.ledger"), "--key", key("fr")]
        let order = ["preserve", "add", "--authority", "Juge d'instruction, Lyon", "--legal-basis", "UNCC art. 25",
                     "--data", "mailbox of account x"] + base
        // 2024 is a leap year: 31 January + 90 days = 30 April.
        let added = try custody(order + ["--issued", "2024-01-31", "--subject", "account-x", "--json"])
        let first = try JSONValue.parse(added.out.trimmingCharacters(in: .newlines))
        XCTAssertEqual(first["expires"]?.stringValue, "2024-04-30")
        let id = try XCTUnwrap(first["order"]?.stringValue)
        let tooLong = try custody(order + ["--issued", "2024-02-01", "--days", "91"], expect: 2)
        XCTAssertEqual(tooLong.err, "custody: a preservation order runs 1 to 90 days, not 91 (a longer period needs "
            + "--policy-max-days)\n")
        let tooLongForPolicy = try custody(order + ["--issued", "2024-02-01", "--days", "31", "--policy-max-days",
                                                    "30"], expect: 2)
        XCTAssertEqual(tooLongForPolicy.err, "custody: a preservation order runs 1 to 30 days, not 31\n")
        try custody(order + ["--issued", "2024-02-01", "--expires", "2024-05-02"], expect: 2)
        try custody(order + ["--issued", "2023-02-29"], expect: 2)
        let twoLines = ["preserve", "add", "--authority", "Juge\nLyon", "--legal-basis", "art. 25", "--data", "x",
                        "--issued", "2024-02-01"] + base
        let refusedAuthority = try custody(twoLines, expect: 2)
        XCTAssertTrue(refusedAuthority.err.contains("--authority"), refusedAuthority.err)
        try custody(order + ["--issued", "2024-02-01", "--days", "120", "--policy-max-days", "180"])
        try custody(order + ["--issued", "2023-11-30", "--days", "30"])

        let expiring = try custody(["preserve", "list", "--ledger", path("fr.ledger"), "--as-of", "2024-04-20",
                                    "--expiring", "14d"])
        XCTAssertEqual(expiring.out.split(separator: "\n").count, 1, expiring.out)
        XCTAssertTrue(expiring.out.contains("\(id)\tactive\texpires 2024-04-30 (10 days left)"), expiring.out)
        let all = try custody(["preserve", "list", "--ledger", path("fr.ledger"), "--as-of", "2024-04-20", "--json"])
        XCTAssertEqual(all.out.split(separator: "\n").count, 1, "one JSON document: \(all.out)")
        let statuses = try XCTUnwrap(try JSONValue.parse(all.out.trimmingCharacters(in: .newlines)).arrayValue)
        XCTAssertEqual(statuses.map { $0["status"]?.stringValue }, ["expired", "active", "active"])
        XCTAssertEqual(statuses.map { $0["expires"]?.stringValue }, ["2023-12-30", "2024-04-30", "2024-05-31"])

        // Renewal extends from the current expiry (30 April + 30 days = 30 May), not from the renewal date.
        let renewed = try custody(["preserve", "renew", id, "--days", "30", "--on", "2024-04-25"] + base)
        XCTAssertTrue(renewed.out.contains("expires 2024-05-30"), renewed.out)
        try custody(["preserve", "renew", id, "--days", "91", "--on", "2024-04-26"] + base, expect: 2)
        try custody(["preserve", "renew", id, "--on", "2024-06-01"] + base, expect: 2)
        let later = try custody(["preserve", "list", "--ledger", path("fr.ledger"), "--as-of", "2024-05-30",
                                 "--expiring", "2w"])
        XCTAssertTrue(later.out.contains("expires 2024-05-30 (last day)"), later.out)
        try custody(["preserve", "release", id, "--on", "2024-05-10"] + base)
        let released = try custody(["preserve", "list", "--ledger", path("fr.ledger"), "--as-of", "2024-05-11"])
        XCTAssertTrue(released.out.contains("\(id)\treleased"), released.out)
        let renewReleased = try custody(["preserve", "renew", id] + base, expect: 2)
        XCTAssertEqual(renewReleased.err, "custody: order \(id) was released on 2024-05-10; record a new order\n")
        let releaseTwice = try custody(["preserve", "release", id] + base, expect: 2)
        XCTAssertEqual(releaseTwice.err, "custody: order \(id) was already released on 2024-05-10\n")
        let noOrder = try custody(["preserve", "release", "urn:uuid:none"] + base, expect: 2)
        XCTAssertEqual(noOrder.err, "custody: \(path("fr.ledger")) records no preservation order urn:uuid:none "
            + "(see custody preserve list)\n")
        try custody(["preserve", "list", "--ledger", path("fr.ledger"), "--expiring", "soon"], expect: 2)
        let actions = try entries("fr.ledger").compactMap { $0["action"]?.stringValue }
        XCTAssertEqual(actions, ["preserve", "preserve", "preserve", "preserve-renew", "preserve-release"])
        try custody(["ledger", "verify", path("fr.ledger")])
    }
}
