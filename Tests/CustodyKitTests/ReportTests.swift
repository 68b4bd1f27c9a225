import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
import CustodyKit

/// A small custody story built in memory: two French acquisitions, a seal, a transfer to Germany and its receipt.
enum ReportFixture {
    static let bundleID = "urn:uuid:0b7e6c1a-1111-4222-8333-944455556666"
    static let base = Timestamp(secondsSinceEpoch: 1_780_000_000)

    static func key(_ name: String, agency: String, country: String) throws -> SigningKey {
        try makeSigningKey(name: name, agency: agency, jurisdiction: country)
    }

    static func item(_ number: Int, name: String, size: UInt64, seed: UInt8) -> ItemRecord {
        let sha256 = Hex.encode(Digester.digest(.sha256, [seed]))
        let md5 = Hex.encode(Digester.digest(.md5, [seed]))
        let tree = Hex.encode(Digester.digest(.sha256, [seed, seed]))
        return ItemRecord(id: "urn:uuid:00000000-0000-4000-8000-00000000000\(number)", number: number,
                          payloadPath: "data/000\(number).gz", encoding: .gzip, originalName: name, size: size,
                          storedSize: size / 2, chunkSize: 1 << 20, tree: tree,
                          digests: ["sha256": sha256, "md5": md5], leavesPath: "custody/leaves/000\(number).bin",
                          source: [:], acquisitionStart: base.description, acquisitionEnd: base.description,
                          tool: "custody 0.1.0", caseNumber: "FR-2026-0042", evidenceNumber: "E-\(number)")
    }

    /// The summary; `secondName` and `transferDetails` let tests put hostile text or other spellings in.
    static func summary(secondName: String = "mailbox.mbox",
                        transferDetails: [String: JSONValue] = ["recipientJurisdiction": .string("DE"),
                                                                "recipientAgency": .string("Bundeskriminalamt")],
                        agency: String = "Police judiciaire") throws -> BundleSummary {
        let france = try key("fr-officer", agency: agency, country: "FR")
        let germany = try key("de-officer", agency: "Bundeskriminalamt", country: "DE")
        let items = [item(1, name: "disk.img", size: 4096, seed: 1), item(2, name: secondName, size: 47152, seed: 2)]
        var entries: [LedgerEntry] = []
        var previous = LedgerEntry.noPrevious
        func append(_ action: LedgerAction, _ subjects: [String], details: [String: JSONValue] = [:],
                    key: SigningKey, origin: String, sequence: UInt64, hour: Int64) throws {
            let draft = try LedgerEntryDraft(action: action, subjects: subjects.map { try LedgerSubject(id: $0) },
                                             legalBasis: "Art. 40 <UNCAC>", details: details)
            let entry = try LedgerEntry.make(draft, sequence: sequence,
                                             time: Timestamp(secondsSinceEpoch: base.secondsSinceEpoch + hour * 3600),
                                             origin: origin, previous: previous, key: key)
            previous = entry.leafHash
            entries.append(entry)
        }
        try append(.acquire, [items[0].id], key: france, origin: "police.fr/custody", sequence: 0, hour: 0)
        try append(.acquire, [items[1].id], details: ["note": .string(secondName)], key: france,
                   origin: "police.fr/custody", sequence: 1, hour: 1)
        try append(.seal, [bundleID], key: france, origin: "police.fr/custody", sequence: 2, hour: 2)
        try append(.transferOut, [bundleID], details: transferDetails, key: france, origin: "police.fr/custody",
                   sequence: 3, hour: 3)
        previous = LedgerEntry.noPrevious
        try append(.receive, [bundleID], key: germany, origin: "bka.de/custody", sequence: 10, hour: 5)
        var conditions = Conditions()
        conditions.legalBasis = "UN Convention against Cybercrime, art. 40"
        conditions.caseID = "FR-2026-0042"
        conditions.purposes = ["investigation of case FR-2026-0042"]
        conditions.personalDataCategories = ["communications content"]
        var summary = BundleSummary()
        summary.bundleID = bundleID
        summary.items = items
        summary.conditions = conditions
        summary.sealer = france.identity
        summary.entries = entries
        summary.bagInfo = [("Source-Organization", agency), ("External-Identifier", bundleID)]
        return summary
    }

    static func passingReport() -> VerificationReport {
        report([
            (true, "bagit.manifest-sha256.txt", "manifest-sha256.txt lists all 2 payload files"),
            (true, "seal signature", "valid signature by fr-officer"),
            (true, "ledger excerpt", "5 entries, signatures and chain links valid"),
        ] + (1...2).flatMap { number in [
            (true, "item \(number) payload", "data/000\(number).gz: sha256 and sha512 match the manifests"),
            (true, "item \(number) content", "tree and sha256 match"),
        ] })
    }

    static func failingReport() -> VerificationReport {
        report([
            (true, "bagit.manifest-sha256.txt", "manifest-sha256.txt lists all 2 payload files"),
            (false, "ledger excerpt", "entry 3 (line 4): signature does not verify"),
            (true, "item 1 payload", "data/0001.gz: sha256 and sha512 match the manifests"),
            (true, "item 1 content", "tree and sha256 match"),
            (false, "item 2 payload", "data/0002.gz: sha256 differs from manifest-sha256.txt"),
            (false, "item 2 content", "data/0002.gz: chunk 0 (bytes 0-1048575): leaf hash differs"),
        ])
    }

    /// A report of these checks, in order: passed or failed, name, detail.
    static func report(_ checks: [(passed: Bool, name: String, detail: String)]) -> VerificationReport {
        var report = VerificationReport()
        for check in checks {
            if check.passed { report.pass(check.name, check.detail) } else { report.fail(check.name, check.detail) }
        }
        return report
    }
}

final class ReportTests: XCTestCase {
    func testMarkupEscapingKeepsTheXMLAndHTMLRules() {
        let text = "a&b<c>d\"e'f\rg\th\ni\u{1}j\u{85}k\u{FFFE}l" + RawName.decode([0xff]) + "é"
        XCTAssertEqual(MarkupEscaping.escaped(text, for: .xml),
                       "a&amp;b&lt;c&gt;d&quot;e&apos;f&#xD;g\th\ni\u{FFFD}j\u{85}k\u{FFFD}l\u{FFFD}é")
        XCTAssertEqual(MarkupEscaping.escaped(text, for: .xml), HashFormatter.xmlEscaped(text))
        XCTAssertEqual(HTMLText.escaped(text),
                       "a&amp;b&lt;c&gt;d&quot;e&#39;f\u{FFFD}g\th\ni\u{FFFD}j\u{FFFD}k\u{FFFD}l\u{FFFD}é")
    }

    func testStableIdentifiersAreVersion5UUIDsAsPythonComputesThem() {
        // Vectors from Python's uuid.uuid5(uuid.NAMESPACE_URL, name), an independent implementation.
        XCTAssertEqual(StableIdentifier.uuid(""), "1b4db7eb-4057-5ddf-91e0-36dec72071f5")
        XCTAssertEqual(StableIdentifier.uuid("python.org"), "7af94e2b-4dd9-50f0-9c9a-8a48519bdef0")
        XCTAssertEqual(StableIdentifier.uuid("custody:file:urn:uuid:e1c04912-6109-41f7-99cb-da528b8d9bd2"),
                       "bf1bd741-9a76-53ed-8023-bbb59b9980b1")
    }

    func testTransferPartyIsFoundUnderUsualSpellings() {
        XCTAssertEqual(TransferParty.find(in: ["recipientJurisdiction": .string("de")],
                                          roles: TransferParty.recipientRoles),
                       TransferParty(jurisdiction: "DE"))
        XCTAssertEqual(TransferParty.find(in: ["to_jurisdiction": .string("NL"), "toAgency": .string("Politie")],
                                          roles: TransferParty.recipientRoles),
                       TransferParty(jurisdiction: "NL", agency: "Politie"))
        XCTAssertEqual(TransferParty.find(in: ["recipient": .object(["jurisdiction": .string("BE"),
                                                                     "agency": .string("Police fédérale"),
                                                                     "name": .string("be-officer")])],
                                          roles: TransferParty.recipientRoles),
                       TransferParty(jurisdiction: "BE", agency: "Police fédérale", name: "be-officer"))
        XCTAssertEqual(TransferParty.find(in: ["senderJurisdiction": .string("FR")], roles: TransferParty.senderRoles),
                       TransferParty(jurisdiction: "FR"))
        XCTAssertNil(TransferParty.find(in: ["mlaReference": .string("X-1")], roles: TransferParty.recipientRoles))
        XCTAssertNil(TransferParty.find(in: ["recipientJurisdiction": .int(3)], roles: TransferParty.recipientRoles))
    }

    /// The members custody's transfer code writes find the other party by its key, even when the trust store
    /// spells the agency differently, and entries of two ledgers in one second are ordered as the hand-off goes.
    func testTimelineMergesTwoLedgersAndMatchesTheRecordedParties() throws {
        let france = try ReportFixture.key("fr", agency: "Police judiciaire", country: "FR")
        let germany = try ReportFixture.key("de", agency: "Bundeskriminalamt", country: "DE")
        let time = ReportFixture.base
        func entry(_ action: LedgerAction, _ details: [String: JSONValue], key: SigningKey, origin: String,
                   sequence: UInt64) throws -> SourcedEntry {
            let draft = try LedgerEntryDraft(action: action, subjects: [try LedgerSubject(id: ReportFixture.bundleID)],
                                             legalBasis: "", details: details)
            let made = try LedgerEntry.make(draft, sequence: sequence, time: time, origin: origin,
                                            previous: LedgerEntry.noPrevious, key: key)
            return SourcedEntry(entry: made, sources: [origin + ".ledger"])
        }
        let recipient: JSONValue = .object([
            "name": .string("de"), "agency": .string("BKA (as the trust store spells it)"),
            "jurisdiction": .string("DE"), "verifierKey": .string(germany.identity.verifierKey.encoded),
            "ageRecipient": .string("age1..."),
        ])
        let transfer: JSONValue = .string("urn:uuid:7")
        let history = CustodyHistory(entries: [
            try entry(.receive, ["sender": StatementParty(france.identity).json, "transfer": transfer], key: germany,
                      origin: "de", sequence: 0),
            try entry(.transferOut, ["recipient": recipient, "transfer": transfer], key: france, origin: "fr",
                      sequence: 5),
            try entry(.receipt, ["receiver": StatementParty(germany.identity).json], key: france, origin: "fr",
                      sequence: 6),
        ])
        let timeline = CustodyTimeline(history: history)
        XCTAssertEqual(timeline.rows.map(\.entry?.action), [.transferOut, .receive, .receipt])
        XCTAssertEqual(timeline.lanes.map(\.jurisdiction), ["FR", "DE"], "no extra lane for the other spelling")
        XCTAssertEqual(timeline.rows[0].arrow?.to, 1)
        XCTAssertEqual(timeline.rows[1].arrow?.from, 0)
        XCTAssertEqual(timeline.rows[1].arrow?.sentAtRow, 0)
        XCTAssertEqual(timeline.rows[1].sources, ["de.ledger"])
        XCTAssertEqual(TransferParty.recorded(in: history.entries[0].entry),
                       TransferParty(jurisdiction: "FR", agency: "Police judiciaire", name: "fr",
                                     keyID: france.identity.keyIDHex))
    }

    func testTimelineHasALanePerHolderAndTransferArrows() throws {
        let summary = try ReportFixture.summary()
        let timeline = CustodyTimeline(entries: summary.entries, report: ReportFixture.passingReport())
        XCTAssertEqual(timeline.lanes, [CustodyTimeline.Lane(jurisdiction: "FR", agency: "Police judiciaire"),
                                        CustodyTimeline.Lane(jurisdiction: "DE", agency: "Bundeskriminalamt")])
        XCTAssertEqual(timeline.rows.map(\.entry?.action), [.acquire, .acquire, .seal, .transferOut, .receive])
        XCTAssertEqual(timeline.rows.map(\.lane), [0, 0, 0, 0, 1])
        XCTAssertEqual(timeline.rows[3].arrow?.from, 0)
        XCTAssertEqual(timeline.rows[3].arrow?.to, 1)
        // The receive names no sender: the arrow comes from the lane of the transfer-out that reached it.
        XCTAssertEqual(timeline.rows[4].arrow?.from, 0)
        XCTAssertEqual(timeline.rows[4].arrow?.to, 1)
        XCTAssertEqual(timeline.rows[4].arrow?.sentAtRow, 3)
        XCTAssertTrue(timeline.rows.allSatisfy { $0.failures.isEmpty })
    }

    func testTimelineWithoutRecipientDetailsDrawsAnArrowToAnUnknownParty() throws {
        let summary = try ReportFixture.summary(transferDetails: ["mlaReference": .string("MLA-7")])
        let timeline = CustodyTimeline(entries: summary.entries, report: ReportFixture.failingReport())
        XCTAssertEqual(timeline.rows[3].arrow?.from, 0)
        XCTAssertNil(timeline.rows[3].arrow?.to)
        XCTAssertNil(timeline.rows[4].arrow?.from)
        XCTAssertEqual(timeline.rows[3].failures.count, 1, "entry 3 is named by the failed ledger check")
        XCTAssertTrue(timeline.rows[0].failures.isEmpty)
        // A recipient jurisdiction with no agency lands in the lane of that jurisdiction's actor.
        let other = try ReportFixture.summary(transferDetails: ["to_jurisdiction": .string("de")])
        let lanes = CustodyTimeline(entries: other.entries, report: VerificationReport())
        XCTAssertEqual(lanes.lanes.count, 2)
        XCTAssertEqual(lanes.rows[3].arrow?.to, 1)
    }

    func render(_ summary: BundleSummary, _ report: VerificationReport) -> String {
        HTMLReport.render(HTMLReport.Input(report: report, summary: summary, bundlePath: "/evidence/bundle",
                                           generatedAt: Timestamp(secondsSinceEpoch: 1_790_000_000),
                                           trustStore: "trust.json"))
    }

    func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    /// Renders the fixture bundle with its passing or failing report, checking that the banner states that verdict
    /// and never the other one.
    func renderFixture(passing: Bool, file: StaticString = #filePath, line: UInt = #line) throws
        -> (summary: BundleSummary, report: VerificationReport, html: String) {
        let summary = try ReportFixture.summary()
        let report = passing ? ReportFixture.passingReport() : ReportFixture.failingReport()
        let html = render(summary, report)
        let verdicts = ["VERIFIED: every check passed", "VERIFICATION FAILED"]
        let (shown, hidden) = passing ? (verdicts[0], verdicts[1]) : (verdicts[1], verdicts[0])
        XCTAssertTrue(html.contains(shown), shown, file: file, line: line)
        XCTAssertFalse(html.contains(hidden), hidden, file: file, line: line)
        return (summary, report, html)
    }

    func testVerifiedReportShowsEveryCheckItemConditionAndEntry() throws {
        let (summary, report, html) = try renderFixture(passing: true)
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        for check in report.checks {
            XCTAssertTrue(html.contains("<td>\(check.name)</td>"), check.name)
        }
        XCTAssertEqual(count("<td class=\"status passed\">passed</td>", in: html), report.checks.count)
        for item in summary.items {
            XCTAssertTrue(html.contains(item.originalName))
            XCTAssertTrue(html.contains("\(item.size) bytes"))
            XCTAssertTrue(html.contains(item.tree))
            XCTAssertTrue(html.contains(item.digests["sha256"]!))
            XCTAssertTrue(html.contains(item.digests["md5"]!))
        }
        XCTAssertEqual(count("<td class=\"status verified\">verified</td>", in: html), 2)
        XCTAssertTrue(html.contains("UN Convention against Cybercrime, art. 40"))
        XCTAssertTrue(html.contains("communications content"))
        XCTAssertTrue(html.contains("requires-consent"))
        // The timeline: one SVG group per entry, two lanes, a transfer arrow and the transit line.
        XCTAssertEqual(count("<svg ", in: html), 1)
        XCTAssertEqual(count("<g class=\"entry\"", in: html), summary.entries.count)
        XCTAssertEqual(count("<g class=\"lane\"", in: html), 2)
        XCTAssertEqual(count("<line class=\"transfer\"", in: html), 2)
        XCTAssertEqual(count("<line class=\"transit\"", in: html), 1)
        XCTAssertTrue(html.contains("to DE · Bundeskriminalamt"))
        XCTAssertFalse(html.contains("class=\"entry failed\""))
        XCTAssertTrue(html.contains("<g class=\"verdict\">"))
        // Self-contained: no script, no external resource, a print stylesheet.
        XCTAssertFalse(html.lowercased().contains("<script"))
        for pattern in ["src=", "href=", "@import", "url(http", "<link"] {
            XCTAssertFalse(html.contains(pattern), pattern)
        }
        XCTAssertTrue(html.contains("@media print"))
    }

    func testFailedReportShowsFailuresInRed() throws {
        let (_, _, html) = try renderFixture(passing: false)
        XCTAssertTrue(html.contains("<div class=\"banner fail\""))
        XCTAssertEqual(count("<td class=\"status failed\">FAILED</td>", in: html), 3)
        XCTAssertTrue(html.contains("<td class=\"status failed\">failed</td>"), "item 2's status")
        XCTAssertTrue(html.contains("<td class=\"status verified\">verified</td>"), "item 1's status")
        XCTAssertTrue(html.contains("chunk 0 (bytes 0-1048575): leaf hash differs"))
        XCTAssertEqual(count("<g class=\"entry failed\"", in: html), 1, "entry 3 is drawn as failed")
        XCTAssertTrue(html.contains("<g class=\"verdict failed\">"))
        XCTAssertTrue(html.contains("fill=\"#c62828\""))
        XCTAssertTrue(html.contains("--fail: #c62828"))
    }

    func testEveryTextFromTheBundleIsEscaped() throws {
        let hostile = "<script>alert('x')</script>&\"quoted\""
        let summary = try ReportFixture.summary(secondName: hostile,
                                                transferDetails: ["recipientJurisdiction": .string("DE"),
                                                                  "recipientAgency": .string("<img src=x onerror=y>")],
                                                agency: "Police <b>judiciaire</b>")
        let html = render(summary, ReportFixture.passingReport())
        XCTAssertFalse(html.contains("<script"))
        XCTAssertFalse(html.contains("<img"))
        XCTAssertFalse(html.contains("<b>judiciaire"))
        XCTAssertTrue(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;quoted&quot;"))
        XCTAssertTrue(html.contains("Police &lt;b&gt;judiciaire&lt;/b&gt;"))
        XCTAssertTrue(html.contains("&lt;img src=x onerror=y&gt;"))
        XCTAssertEqual(HTMLText.escaped("a\u{1}b\u{7f}c"), "a\u{FFFD}b\u{FFFD}c")
        XCTAssertEqual(HTMLText.escaped(RawName.decode([0x63, 0xE9])), "c\u{FFFD}", "a byte of a non-UTF-8 name")
    }

    func testCaseExportIsAConsistentGraph() throws {
        let summary = try ReportFixture.summary()
        let document = CaseExport.document(summary: summary, verification: .passed)
        XCTAssertEqual(document, CaseExport.document(summary: summary, verification: .passed), "reproducible")
        let text = CaseExport.text(summary: summary, verification: .passed)
        XCTAssertEqual(try JSONValue.parse(text), document)
        XCTAssertEqual(document["@context"]?["uco-observable"]?.stringValue,
                       "https://ontology.unifiedcyberontology.org/uco/observable/")
        let graph = try XCTUnwrap(document["@graph"]?.arrayValue)
        var nodes: [String: JSONValue] = [:]
        func collect(_ value: JSONValue) {
            if let id = value["@id"]?.stringValue, value["@type"] != nil { nodes[id] = value }
            value.objectValue?.values.forEach(collect)
            value.arrayValue?.forEach(collect)
        }
        graph.forEach(collect)
        let uuidSuffix = #"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"#
        for id in nodes.keys {
            XCTAssertTrue(id.hasPrefix("kb:"), id)
            XCTAssertNotNil(id.range(of: uuidSuffix, options: .regularExpression), id)
        }
        // Every reference resolves to a node of the graph.
        func references(_ value: JSONValue) -> [String] {
            if case .object(let members) = value, members.count == 1, let id = members["@id"]?.stringValue {
                return [id]
            }
            return (value.objectValue.map { Array($0.values) } ?? value.arrayValue ?? []).flatMap(references)
        }
        for reference in references(.array(graph)) { XCTAssertNotNil(nodes[reference], reference) }

        let files = nodes.values.filter { $0["@type"]?.stringValue == "uco-observable:File" }
        XCTAssertEqual(files.count, 2)
        for item in summary.items {
            let file = try XCTUnwrap(files.first { $0["uco-core:name"]?.stringValue == item.originalName })
            let facets = try XCTUnwrap(file["uco-core:hasFacet"]?.arrayValue)
            let content = try XCTUnwrap(facets.first {
                $0["@type"]?.stringValue == "uco-observable:ContentDataFacet"
            })
            XCTAssertEqual(content["uco-observable:sizeInBytes"]?.intValue, Int64(item.size))
            let hashes = try XCTUnwrap(content["uco-observable:hash"]?.arrayValue)
            var found: [String: String] = [:]
            for hash in hashes {
                XCTAssertEqual(hash["@type"]?.stringValue, "uco-types:Hash")
                XCTAssertEqual(hash["uco-types:hashValue"]?["@type"]?.stringValue, "xsd:hexBinary")
                found[hash["uco-types:hashMethod"]?.stringValue ?? ""] =
                    hash["uco-types:hashValue"]?["@value"]?.stringValue
            }
            XCTAssertEqual(found, ["SHA256": item.digests["sha256"]!, "MD5": item.digests["md5"]!])
            XCTAssertEqual(content["custody:treeDigest"]?.stringValue, item.tree)
        }
        let actions = graph.filter { $0["@type"]?.stringValue == "case-investigation:InvestigativeAction" }
        XCTAssertEqual(actions.count, summary.entries.count)
        for entry in summary.entries {
            let action = try XCTUnwrap(actions.first {
                $0["custody:ledgerOrigin"]?.stringValue == entry.origin
                    && $0["custody:ledgerSequence"]?.intValue == Int64(entry.sequence)
            })
            XCTAssertEqual(action["uco-core:name"]?.stringValue, entry.action.rawValue)
            XCTAssertEqual(action["uco-action:startTime"]?["@type"]?.stringValue, "xsd:dateTime")
            XCTAssertEqual(action["uco-action:startTime"]?["@value"]?.stringValue, entry.time.description)
            let performer = try XCTUnwrap(action["uco-action:performer"]?["@id"]?.stringValue)
            XCTAssertEqual(nodes[performer]?["@type"]?.stringValue, "uco-identity:Person")
            XCTAssertEqual(nodes[performer]?["uco-core:name"]?.stringValue, entry.actor.name)
            let result = try XCTUnwrap(action["uco-action:result"]?.arrayValue?.first?["@id"]?.stringValue)
            XCTAssertEqual(nodes[result]?["@type"]?.stringValue, "case-investigation:ProvenanceRecord")
            XCTAssertEqual(action["uco-action:object"]?.arrayValue?.count, entry.subjects.count)
        }
        let transfer = try XCTUnwrap(actions.first { $0["uco-core:name"]?.stringValue == "transfer-out" })
        let participant = try XCTUnwrap(transfer["uco-action:participant"]?.arrayValue?.first?["@id"]?.stringValue)
        XCTAssertEqual(nodes[participant]?["uco-core:name"]?.stringValue, "Bundeskriminalamt")
        XCTAssertTrue(graph.contains { $0["@type"]?.stringValue == "case-investigation:Investigation"
            && $0["uco-core:name"]?.stringValue == "FR-2026-0042" })
        let failed = CaseExport.document(summary: summary, verification: .failed)
        XCTAssertTrue(failed.canonicalString.contains("\"custody:verification\":\"failed\""))
    }

    func testDFXMLHasOneFileObjectPerItemAndParses() throws {
        let summary = try ReportFixture.summary(secondName: "a<b>&'c\".txt")
        let exportedAt = Timestamp(secondsSinceEpoch: Timestamp.now().secondsSinceEpoch + 86_400)
        let text = DFXMLExport.text(summary: summary, commandLine: "custody export dfxml b", verification: .failed,
                                    exportedAt: exportedAt)
        let collector = DFXMLCollector()
        let parser = XMLParser(data: Data(text.utf8))
        parser.shouldProcessNamespaces = true
        parser.delegate = collector
        XCTAssertTrue(parser.parse(), parser.parserError.map { "\($0)" } ?? "")
        XCTAssertEqual(collector.fileObjects.count, 2)
        XCTAssertEqual(collector.fileObjects.map { $0["filename"] }, ["disk.img", "a<b>&'c\".txt"])
        XCTAssertEqual(collector.fileObjects.map { $0["filesize"] }, ["4096", "47152"])
        for (object, item) in zip(collector.fileObjects, summary.items) {
            XCTAssertEqual(object["MD5"], item.digests["md5"])
            XCTAssertEqual(object["SHA256"], item.digests["sha256"])
            XCTAssertEqual(object["TREE-SHA256-1M"], item.tree)
            XCTAssertNil(object["SHA1"])
        }
        XCTAssertTrue(text.contains("<start_time>\(exportedAt)</start_time>"), "the export's time")
        XCTAssertNotEqual("\(exportedAt)", "\(summary.entries[2].time)")
        XCTAssertTrue(text.contains("<!-- custody sealed: \(summary.entries[2].time) -->"), "the seal time")
        XCTAssertTrue(text.contains("<algorithm name='md5' enabled='1'/>"))
        XCTAssertTrue(text.contains("<algorithm name='sha1' enabled='0'/>"))
        XCTAssertTrue(text.hasPrefix("<?xml version='1.0' encoding='UTF-8'?>\n"
            + "<!-- custody verification: failed -->\n"))
    }
}

/// Collects each fileobject's filename, filesize and hashdigests by type.
final class DFXMLCollector: NSObject, XMLParserDelegate {
    var fileObjects: [[String: String]] = []
    private var current: [String: String]?
    private var text = ""
    private var digestType: String?

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        text = ""
        if name == "fileobject" { current = [:] }
        if name == "hashdigest" { digestType = attributes["type"] }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        switch name {
        case "fileobject":
            if let current { fileObjects.append(current) }
            current = nil
        case "filename", "filesize": current?[name] = text
        case "hashdigest": current?[digestType ?? "?"] = text
        default: break
        }
    }
}
