import Foundation
import XCTest
import CustodyKit

/// `custody report --ledger --receipt` and `custody export case --ledger --receipt` after a real hand-off between
/// two agencies: FR seals and transfers, DE receives and signs a receipt, FR imports it.
final class ReportStoryTests: CLITestCase {
    var bundleID = ""

    /// The round trip; `review.json` trusts both agencies (what a reviewer of the whole story holds).
    override func setUpWithError() throws {
        try super.setUpWithError()
        try setUpHandOff()
        try trust("review.json", "fr", "Police judiciaire", "FR")
        try trust("review.json", "de", "Bundeskriminalamt", "DE")
        let sealed = try custody(["seal", "--ledger", path("fr.ledger"), "--key", path("keys/fr.key"), "--out",
                                  path("bundle"), "--legal-basis", "UNCC art. 40", "--json", path("evidence")])
        bundleID = try JSONValue.parse(sealed.out.trimmingCharacters(in: .newlines))["bundle"]?.stringValue ?? ""
        try custody(["transfer", path("bundle"), "--to", "de", "--trust", path("fr-trust.json"), "--ledger",
                     path("fr.ledger"), "--key", path("keys/fr.key"), "--out", path("to-de.age")])
        try custody(["receive", path("to-de.age"), "--identity", path("keys/de.age"), "--ledger", path("de.ledger"),
                     "--key", path("keys/de.key"), "--out", path("received"), "--trust", path("de-trust.json")])
        try custody(["receipt", "import", path("received.receipt"), "--ledger", path("fr.ledger"), "--key",
                     path("keys/fr.key"), "--trust", path("fr-trust.json")])
    }

    var storyArguments: [String] {
        ["--trust", path("review.json"), "--ledger", path("fr.ledger"), "--ledger", path("de.ledger"),
         "--receipt", path("received.receipt")]
    }

    /// The `<g class="...">` groups of the timeline SVG, each as its text.
    func groups(_ html: String, _ cssClass: String) -> [String] {
        html.components(separatedBy: "<g class=\"\(cssClass)").dropFirst()
            .map { $0.components(separatedBy: "</g>")[0] }
    }

    /// The x of the centre of each lane, by jurisdiction, from the lane headers.
    func laneCentres(_ html: String) throws -> [String: Int] {
        var result: [String: Int] = [:]
        for lane in groups(html, "lane\"") {
            let pattern = try NSRegularExpression(pattern: "<text x=\"(\\d+)\"[^>]*font-size=\"15\">([A-Z]+)</text>")
            let range = NSRange(lane.startIndex..., in: lane)
            guard let match = pattern.firstMatch(in: lane, range: range),
                  let x = Range(match.range(at: 1), in: lane), let name = Range(match.range(at: 2), in: lane) else {
                continue
            }
            result[String(lane[name])] = Int(lane[x])
        }
        return result
    }

    func attribute(_ name: String, in text: String) -> Int? {
        guard let start = text.range(of: " \(name)=\"") else { return nil }
        return Int(text[start.upperBound...].prefix { $0 != "\"" })
    }

    func testReportTellsTheHandOffBetweenLedgersWithTheReceipt() throws {
        let html = path("story.html")
        let result = try custody(["report", path("bundle"), "--html", html] + storyArguments)
        XCTAssertTrue(result.out.contains("every check passed"), result.out)
        let text = try String(contentsOfFile: html, encoding: .utf8)

        let lanes = try laneCentres(text)
        let fr = try XCTUnwrap(lanes["FR"], "a FR lane")
        let de = try XCTUnwrap(lanes["DE"], "a DE lane")
        let entries = groups(text, "entry")
        // FR's transfer-out arrow goes from the FR lane to the DE lane, and DE's receive completes it.
        let transferOut = try XCTUnwrap(entries.first { $0.contains(">TRANSFER-OUT<") })
        XCTAssertTrue(transferOut.contains("data-origin=\"fr.example/custody\""), transferOut)
        let outArrow = try XCTUnwrap(transferOut.components(separatedBy: "<line class=\"transfer\"").dropFirst().first)
        let (x1, x2) = (try XCTUnwrap(attribute("x1", in: outArrow)), try XCTUnwrap(attribute("x2", in: outArrow)))
        XCTAssertTrue(abs(x1 - fr) < 20 && abs(x2 - de) < 20, "arrow \(x1)->\(x2), lanes FR \(fr) DE \(de)")
        XCTAssertFalse(outArrow.prefix { $0 != ">" }.contains("stroke-dasharray"), "a known recipient: solid arrow")
        XCTAssertTrue(transferOut.contains("to DE · Bundeskriminalamt"), transferOut)
        let receive = try XCTUnwrap(entries.first { $0.contains(">RECEIVE<") })
        XCTAssertTrue(receive.contains("data-origin=\"de.example/custody\""), receive)
        XCTAssertTrue(receive.contains("from FR · Police judiciaire"), receive)
        XCTAssertTrue(receive.contains("<line class=\"transfer\""), receive)
        XCTAssertTrue(text.contains("<line class=\"transit\""), "evidence in transit between the two rows")
        // Entries of both ledgers, in time order: FR's receipt import after DE's receive.
        let actions = entries.compactMap { group -> String? in
            guard let range = group.range(of: "<tspan font-weight=\"bold\">") else { return nil }
            return String(group[range.upperBound...].prefix { $0 != "<" })
        }
        XCTAssertEqual(actions, ["ACQUIRE", "SEAL", "TRANSFER-OUT", "RECEIVE", "RECEIPT"])
        XCTAssertTrue(entries.allSatisfy { !$0.hasPrefix(" failed") })
        // The signed receipt is an event of the receiving agency, verified.
        let receipt = try XCTUnwrap(groups(text, "receipt").first)
        XCTAssertTrue(receipt.contains("signature verified"), receipt)
        let diamond = try XCTUnwrap(attribute("x", in: receipt.components(separatedBy: "<rect")[1]))
        XCTAssertEqual(diamond + 7, de, "the receipt sits in the DE lane")
        // The checks name each extra input.
        XCTAssertTrue(text.contains("<td>ledger \(path("fr.ledger"))</td>"))
        XCTAssertTrue(text.contains("<td>ledger \(path("de.ledger"))</td>"))
        XCTAssertTrue(text.contains("<td>receipt \(path("received.receipt"))</td>"))
        XCTAssertTrue(text.contains("read from bundle, \(path("fr.ledger"))"), "the sealed entries are in both")
        XCTAssertTrue(text.contains("read from \(path("de.ledger"))"))
    }

    func testReportWithoutTheReceiversKeyShowsTheReceiptAsFailed() throws {
        // FR's own trust store does not hold FR, and DE's ledger and receipt are checked against it.
        let html = path("story.html")
        try custody(["report", path("bundle"), "--html", html, "--trust", path("de-trust.json"), "--ledger",
                     path("de.ledger"), "--receipt", path("received.receipt")], expect: 1)
        let text = try String(contentsOfFile: html, encoding: .utf8)
        XCTAssertTrue(groups(text, "receipt").first?.hasPrefix(" failed") == true, "the receipt is red")
        XCTAssertTrue(text.contains("did NOT verify"))
        let receive = try XCTUnwrap(groups(text, "entry").first { $0.contains(">RECEIVE<") })
        XCTAssertTrue(receive.hasPrefix(" failed"), receive)
    }

    func testTamperedLedgerEntryIsAFailure() throws {
        let entries = try custody(["ledger", "export", path("de.ledger")]).out.split(separator: "\n")
        XCTAssertTrue(entries[0].contains("\"action\":\"receive\""))
        do {
            let database = try SQLiteDatabase(path: path("de.ledger"), create: false)
            try database.execute("UPDATE entries SET data = CAST(replace(CAST(data AS TEXT), '\"result\":\"passed\"', "
                + "'\"result\":\"waived\"') AS BLOB) WHERE seq = 0")
        }
        let html = path("story.html")
        let result = try custody(["report", path("bundle"), "--html", html] + storyArguments, expect: 1)
        XCTAssertTrue(result.out.contains("ledger \(path("de.ledger"))"), result.out)
        let text = try String(contentsOfFile: html, encoding: .utf8)
        let receive = try XCTUnwrap(groups(text, "entry").first { $0.contains(">RECEIVE<") })
        XCTAssertTrue(receive.hasPrefix(" failed"), receive)
        XCTAssertTrue(receive.contains("FAILED ledger \(path("de.ledger")): entry 0"), receive)
        XCTAssertTrue(text.contains("entry 0: signature does not verify (entry edited)"), "named in the entries table")
        XCTAssertTrue(text.contains("<dt>Verification result</dt><dd>waived</dd>"), "the tampered entry is shown")
        // The receipt still verifies, but the receive entry it names no longer matches.
        let exported = try custody(["export", "case", path("bundle"), "--quiet"] + storyArguments, expect: 1)
        XCTAssertTrue(exported.out.contains("\"custody:verification\": \"failed\""))
    }

    func testUnreadableLedgerIsAnOperationalError() throws {
        try Data("not a ledger".utf8).write(to: dir.appendingPathComponent("junk.ledger"))
        let result = try custody(["report", path("bundle"), "--html", path("x.html"), "--ledger",
                                  path("junk.ledger")], expect: 2)
        XCTAssertTrue(result.err.contains("junk.ledger"), result.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("x.html")))
        try custody(["export", "case", path("bundle"), "--ledger", path("missing.ledger")], expect: 2)
    }

    func testExportCaseCarriesTheHandOff() throws {
        let out = path("case.jsonld")
        try custody(["export", "case", path("bundle"), "--out", out, "--quiet"] + storyArguments)
        let text = try String(contentsOfFile: out, encoding: .utf8)
        let graph = try XCTUnwrap(try JSONValue.parse(text)["@graph"]?.arrayValue)
        let actions = graph.filter { $0["@type"]?.stringValue == "case-investigation:InvestigativeAction" }
        let names = actions.compactMap { $0["uco-core:name"]?.stringValue }
        XCTAssertEqual(names.filter { $0 == "transfer-out" }.count, 1, "\(names)")
        XCTAssertEqual(names.filter { $0 == "receive" }.count, 1, "\(names)")
        XCTAssertEqual(names.filter { $0 == "signed receipt" }.count, 1, "\(names)")
        let receive = try XCTUnwrap(actions.first { $0["uco-core:name"]?.stringValue == "receive" })
        XCTAssertEqual(receive["custody:ledgerOrigin"]?.stringValue, "de.example/custody")
        XCTAssertEqual(receive["custody:verification"]?.stringValue, "passed")
        XCTAssertEqual(receive["custody:readFrom"]?.arrayValue?.first?.stringValue, path("de.ledger"))
        let participant = try XCTUnwrap(receive["uco-action:participant"]?.arrayValue?.first?["@id"]?.stringValue)
        XCTAssertEqual(participant, CaseExport.iri("organization", "FR:Police judiciaire"))

        let validator = try CLI.requireTool("case_validate")
        let result = try CLI.runTool(validator, ["--built-version", "case-1.4.0", out])
        XCTAssertEqual(result.status, 0, result.out + result.err)
        XCTAssertTrue(result.out.contains("Conforms: True"), result.out)
    }
}
