import XCTest

import CustodyKit

/// The disclosure statement's text form (SPEC 5.14): written and read back, and every malformed form refused.
final class DisclosureStatementTests: XCTestCase {
    let root = Hash32(hex: String(repeating: "ab", count: 32))!
    let seal = Hash32(hex: String(repeating: "cd", count: 32))!

    func statement() -> DisclosureStatement {
        DisclosureStatement(bundleID: "urn:uuid:1", sealDigest: seal, itemCount: 48_210, itemsRoot: root,
                            previous: nil, items: [(3, .whole), (17, .ranges([0...9, 1_048_576...2_097_151]))],
                            recipient: "bka (Bundeskriminalamt, DE)", legalBasis: "Budapest Convention art. 31",
                            mlaReference: "MLA-1", time: Timestamp(secondsSinceEpoch: 1_796_000_000))
    }

    func testTheTextIsTheSpecifiedFormAndReadsBack() throws {
        let text = statement().text
        XCTAssertEqual(text, """
            custody disclosure v1
            bundle urn:uuid:1
            seal \(seal.hex)
            items 48210 \(root.hex)
            previous none
            disclosed 2 withheld 48208
            item 3 whole
            item 17 range 0-9,1048576-2097151
            to bka (Bundeskriminalamt, DE)
            legal-basis Budapest Convention art. 31
            mla-ref MLA-1
            time 2026-11-30T00:53:20Z

            """)
        XCTAssertEqual(try DisclosureStatement(text: text), statement())
    }

    func testMalformedStatementsAreRefused() {
        let text = statement().text
        let broken = [
            text.replacingOccurrences(of: "withheld 48208", with: "withheld 48207"),
            text.replacingOccurrences(of: "disclosed 2", with: "disclosed 3"),
            text.replacingOccurrences(of: "item 17", with: "item 2"),
            text.replacingOccurrences(of: "item 3 whole", with: "item 48211 whole"),
            text.replacingOccurrences(of: "0-9,1048576", with: "9-0,1048576"),
            text.replacingOccurrences(of: "0-9,1048576-2097151", with: "0-9,5-2097151"),
            text.replacingOccurrences(of: "previous none", with: "previous zz"),
            text.replacingOccurrences(of: "custody disclosure v1", with: "custody disclosure v2"),
            String(text.dropLast()),
            text + "extra\n",
        ]
        for variant in broken {
            XCTAssertThrowsError(try DisclosureStatement(text: variant), variant) { error in
                XCTAssertEqual((error as? CustodyFailure)?.kind, .verification)
            }
        }
    }

    func testFieldsMustBeOneLine() {
        XCTAssertTrue(DisclosureStatement.isOneLine("MLA 2026/117 (é)"))
        XCTAssertFalse(DisclosureStatement.isOneLine("a\nb"))
        XCTAssertFalse(DisclosureStatement.isOneLine("a\u{7f}"))
    }
}
