import XCTest
import CustodyKit
import CustodyService

/// The log service's pieces without HTTP: tile paths (C2SP tlog-tiles), officer submissions (SPEC 4.9) and what
/// `Ledger.verify` checks of the submissions entries carry.
final class LogServiceTests: TemporaryDirectoryTestCase {
    func testTileIndexEncodingFollowsTheSpec() {
        // The examples of c2sp.org/tlog-tiles: 1234067 is x001/x234/067.
        XCTAssertEqual(TilePath.encode(index: 1_234_067), "x001/x234/067")
        XCTAssertEqual(TilePath.encode(index: 0), "000")
        XCTAssertEqual(TilePath.encode(index: 999), "999")
        XCTAssertEqual(TilePath.encode(index: 1000), "x001/000")
        XCTAssertEqual(TilePath(level: 0, index: 1_234_067, partialWidth: 7).path, "tile/0/x001/x234/067.p/7")
        XCTAssertEqual(TilePath(level: nil, index: 5).path, "tile/entries/005")
    }

    func testTilePathsParseStrictly() {
        XCTAssertEqual(TilePath(parsing: "tile/0/x001/x234/067"), TilePath(level: 0, index: 1_234_067))
        XCTAssertEqual(TilePath(parsing: "tile/2/000.p/255"), TilePath(level: 2, index: 0, partialWidth: 255))
        XCTAssertEqual(TilePath(parsing: "tile/entries/x001/000.p/1"),
                       TilePath(level: nil, index: 1000, partialWidth: 1))
        XCTAssertEqual(TilePath(parsing: "tile/63/000"), TilePath(level: 63, index: 0))
        for bad in [
            "tile/0/1", "tile/0/0001", "tile/0/x000/001", "tile/0/001/002", "tile/00/000", "tile/64/000",
            "tile/0/000.p/0", "tile/0/000.p/256", "tile/0/000.p/07", "tile/0/000.p/", "tile/0/", "tile/0/x001",
            "tile/a/000", "tile/0/00a", "tile/0/000/", "tiles/0/000", "tile/entries/000.q/3", "tile/0/-01",
            "tile/0/x999/x999/x999/x999/x999/x999/999",
        ] {
            XCTAssertNil(TilePath(parsing: Substring(bad)), bad)
        }
        // Every index up to a few thousand round-trips.
        for index in stride(from: UInt64(0), to: 5000, by: 7) {
            let path = TilePath(level: 1, index: index, partialWidth: index % 3 == 0 ? nil : Int(index % 255) + 1)
            XCTAssertEqual(TilePath(parsing: Substring(path.path)), path)
        }
    }

    func testSubmissionRoundTripsAndBindsEveryMember() throws {
        let officer = try makeSigningKey(name: "alice", agency: "Police", jurisdiction: "FR")
        let draft = try LedgerEntryDraft(
            action: .seal, subjects: [LedgerSubject(id: "disk-1", attributes: ["size": .int(5)])],
            legalBasis: "Art. 56", details: ["case": .string("C-42")])
        let submission = try LogSubmission.sign(draft, log: "police.example/log", key: officer)
        try submission.checkSignature()
        let parsed = try LogSubmission(requestBody: submission.requestBody)
        XCTAssertEqual(parsed, submission)
        try parsed.checkSignature()

        // Any change to what the officer signed breaks the signature.
        let body = String(decoding: submission.requestBody, as: UTF8.self)
        for (from, to) in [("C-42", "C-43"), ("\"seal\"", "\"note\""), ("Art. 56", "Art. 57"),
                           ("police.example/log", "police.example/lag"), ("disk-1", "disk-2")] {
            let altered = try LogSubmission(requestBody: Array(body.replacingOccurrences(of: from, with: to).utf8))
            XCTAssertThrowsError(try altered.checkSignature(), from) {
                XCTAssertEqual($0 as? LogSubmissionError, .badSignature)
            }
        }
        // Malformed bodies name what is wrong.
        for (bad, words) in [("{", "not JSON"), ("[]", "expected exactly"),
                             (body.replacingOccurrences(of: "\"nonce\"", with: "\"nonse\""), "unknown member 'nonse'"),
                             (body.replacingOccurrences(of: "\"action\":\"seal\"", with: "\"action\":\"fly\""),
                              "fly")] {
            XCTAssertThrowsError(try LogSubmission(requestBody: Array(bad.utf8)), bad) {
                XCTAssertTrue("\($0)".contains(words), "\($0)")
            }
        }
        // The reserved detail member cannot be submitted.
        let reserved = try LedgerEntryDraft(action: .note, details: [LogSubmission.detailMember: .string("x")])
        XCTAssertThrowsError(try LogSubmission.sign(reserved, log: "police.example/log", key: officer))
    }

    func testVerifyChecksTheOfficerSignatureAndTrust() throws {
        let (logKey, ledger) = try makeKeyAndLedger(at: directory + "/log.ledger", name: "log", origin: "p.example/log")
        let alice = try makeSigningKey(name: "alice", agency: "Police", jurisdiction: "FR")
        let mallory = try makeSigningKey(name: "mallory", agency: "Other", jurisdiction: "FR")
        let good = try LogSubmission.sign(try LedgerEntryDraft(action: .examine), log: "p.example/log", key: alice)
        let outsider = try LogSubmission.sign(try LedgerEntryDraft(action: .note), log: "p.example/log", key: mallory)
        // The log appends the officer's submission; the entry carries it and verify checks it.
        let entries = try ledger.appendBatch(key: logKey) { view in
            XCTAssertEqual(view.size, 0)
            return [good.entryDraft, outsider.entryDraft]
        }.entries
        XCTAssertEqual(try LogSubmission.embedded(in: entries[0]), good)
        XCTAssertTrue(try ledger.verify().passed)
        let trust = OfficerTrust(try {
            var store = TrustStore()
            try store.add(TrustStore.Entry(name: "alice", agency: "Police", jurisdiction: "FR",
                                           publicKey: alice.identity.publicKey, added: "2026-12-07T00:00:00Z"))
            return store
        }())
        let report = try ledger.verify(trustedOfficer: { trust.trusts($0) })
        XCTAssertEqual(report.problems.map(\.message), [
            "entry 1: submitted by officer mallory+\(mallory.identity.keyIDHex), who is not in the trust store",
        ])

        // A log that rewrites what the officer submitted (signing the entry itself) is caught.
        var details = good.entryDraft.details
        details["case"] = .string("added by the log")
        let forged = try LedgerEntryDraft(action: .examine, details: details)
        try ledger.append(forged, key: logKey)
        let after = try ledger.verify()
        XCTAssertEqual(after.problems.map(\.message), [
            "entry 2: the officer's submission it carries: the officer's signature does not verify",
        ])
    }
}

extension LogServiceTests {
    func testTheAppendAnswerIsTheCanonicalJSONOfItsMembers() throws {
        let proof = InclusionProof(index: 3, size: 9, leafHash: Merkle.emptyRoot, proof: [Merkle.emptyRoot],
                                   root: Merkle.emptyRoot)
        let result = LogAppendResult(entry: Array(#"{"a":"\"x\"\n","é":1}"#.utf8),
                                     checkpoint: Array("origin\n9\nAAAA\n\n— k sig\n".utf8), proof: proof)
        XCTAssertEqual(result.canonicalBytes, result.json.canonicalBytes)
    }
}
