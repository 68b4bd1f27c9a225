import Foundation
import XCTest
import CustodyKit

/// Preservation-order date arithmetic (cross-checked against Foundation's Gregorian calendar), order status and
/// the rebuilding of orders from ledger entries; the onward-transfer rule and statement parsing.
final class PreservationTests: XCTestCase {
    func date(_ text: String) -> CivilDate { CivilDate(parsing: text)! }

    static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    static let formatter: DateFormatter = {
        let formatter = DateFormatter()
        formatter.calendar = calendar
        formatter.timeZone = calendar.timeZone
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter
    }()

    /// Foundation's answer for `text` + `days`, an independent implementation.
    func foundationAdding(_ days: Int, to text: String) -> String {
        let start = Self.formatter.date(from: text)!
        return Self.formatter.string(from: Self.calendar.date(byAdding: .day, value: days, to: start)!)
    }

    func testDatesParseStrictly() {
        XCTAssertNotNil(CivilDate(parsing: "2024-02-29"))
        XCTAssertNil(CivilDate(parsing: "2023-02-29"))
        XCTAssertNil(CivilDate(parsing: "2100-02-29"))
        XCTAssertNotNil(CivilDate(parsing: "2000-02-29"))
        XCTAssertNil(CivilDate(parsing: "2024-04-31"))
        XCTAssertNil(CivilDate(parsing: "2024-4-30"))
        XCTAssertNil(CivilDate(parsing: "2024-04-30T00:00:00Z"))
        XCTAssertNil(CivilDate(parsing: "2024-13-01"))
        XCTAssertEqual(CivilDate(parsing: "1970-01-01")?.daysSinceEpoch, 0)
        XCTAssertEqual(date("2024-03-01").description, "2024-03-01")
        XCTAssertEqual(CivilDate(Timestamp(parsing: "2024-02-29T23:59:59Z")!), date("2024-02-29"))
    }

    func testNinetyDaysAcrossMonthEndsAndLeapYears() throws {
        let policy = try PreservationPolicy()
        // Worked by hand, each month's length counted: 2024 is a leap year, 2023 and 2100 are not, 2000 is.
        let cases = [
            ("2024-01-31", "2024-04-30"), ("2023-01-31", "2023-05-01"), ("2023-11-30", "2024-02-28"),
            ("2023-12-01", "2024-02-29"), ("2024-12-31", "2025-03-31"), ("2100-01-01", "2100-04-01"),
            ("2000-01-01", "2000-03-31"), ("2024-02-29", "2024-05-29"), ("2024-08-31", "2024-11-29"),
        ]
        for (issued, expected) in cases {
            XCTAssertEqual(try policy.expiry(issued: date(issued)).description, expected, issued)
            XCTAssertEqual(foundationAdding(90, to: issued), expected, "Foundation disagrees for \(issued)")
        }
        // Every day of six years (three Februaries of each kind) against Foundation, for several periods.
        var day = date("1999-11-01")
        while day < date("2005-11-01") {
            for days in [1, 29, 30, 31, 90] {
                XCTAssertEqual(try policy.expiry(issued: day, days: days).description,
                               foundationAdding(days, to: day.description), "\(day) + \(days)")
            }
            day = day.adding(days: 1)
        }
    }

    func testPolicyLimits() throws {
        let policy = try PreservationPolicy()
        XCTAssertThrowsError(try policy.expiry(issued: date("2024-01-01"), days: 91)) { error in
            XCTAssertEqual(error as? PreservationError, .periodOutOfRange(days: 91, maximumDays: 90))
            XCTAssertEqual("\(error)", "a preservation order runs 1 to 90 days, not 91")
        }
        XCTAssertThrowsError(try policy.expiry(issued: date("2024-01-01"), days: 0))
        XCTAssertNoThrow(try policy.check(issued: date("2024-01-31"), expires: date("2024-04-30")))
        XCTAssertThrowsError(try policy.check(issued: date("2024-01-31"), expires: date("2024-05-01")))
        XCTAssertThrowsError(try policy.check(issued: date("2024-01-31"), expires: date("2024-01-31")))
        let longer = try PreservationPolicy(maximumDays: 180)
        XCTAssertEqual(try longer.expiry(issued: date("2024-01-31"), days: 180).description, "2024-07-29")
        XCTAssertThrowsError(try PreservationPolicy(maximumDays: 0))
        // Renewals run from the current expiry, whenever they are made, and never after it.
        XCTAssertEqual(try policy.renewal(currentExpiry: date("2024-04-30"), on: date("2024-04-01")).description,
                       "2024-07-29")
        XCTAssertEqual(try policy.renewal(currentExpiry: date("2024-02-29"), days: 1, on: date("2024-02-29"))
            .description, "2024-03-01")
        XCTAssertThrowsError(try policy.renewal(currentExpiry: date("2024-04-30"), on: date("2024-05-01")))
        XCTAssertThrowsError(try policy.renewal(currentExpiry: date("2024-04-30"), days: 91, on: date("2024-04-01")))
        // An expiry past 9999-12-31 could not be written as YYYY-MM-DD: refused, not truncated.
        XCTAssertEqual(try policy.expiry(issued: date("9999-10-02")).description, "9999-12-31")
        XCTAssertThrowsError(try policy.expiry(issued: date("9999-10-03"))) { error in
            XCTAssertTrue("\(error)".contains("after 9999-12-31"), "\(error)")
        }
        XCTAssertThrowsError(try policy.expiry(issued: date("9999-12-31"), days: 1))
        XCTAssertThrowsError(try policy.renewal(currentExpiry: date("9999-12-31"), days: 1, on: date("9999-12-01")))
    }

    func testStatusAndExpiringWindow() {
        let order = PreservationOrder(id: "o", authority: "a", legalBasis: "b", data: "d", issued: date("2024-01-31"),
                                      expires: date("2024-04-30"))
        XCTAssertEqual(order.status(on: date("2024-04-16")), .active(daysLeft: 14))
        XCTAssertEqual(order.status(on: date("2024-04-30")), .active(daysLeft: 0))
        XCTAssertEqual(order.status(on: date("2024-05-01")), .expired(daysAgo: 1))
        XCTAssertTrue(order.isExpiring(within: 14, on: date("2024-04-16")))
        XCTAssertFalse(order.isExpiring(within: 14, on: date("2024-04-15")))
        XCTAssertFalse(order.isExpiring(within: 14, on: date("2024-05-01")))
        var released = order
        released.released = date("2024-03-01")
        XCTAssertEqual(released.status(on: date("2024-02-29")), .active(daysLeft: 61))
        XCTAssertEqual(released.status(on: date("2024-03-01")), .released(on: date("2024-03-01")))
        XCTAssertEqual(PreservationOrder.parseDays("14d"), 14)
        XCTAssertEqual(PreservationOrder.parseDays("2w"), 14)
        XCTAssertEqual(PreservationOrder.parseDays("7"), 7)
        XCTAssertNil(PreservationOrder.parseDays("-3d"))
        XCTAssertNil(PreservationOrder.parseDays("d"))
    }

    func testOrdersRebuiltFromLedgerEntries() throws {
        let privateKey = try Ed25519PrivateKey.generate()
        let key = try SigningKey(identity: Identity(name: "clerk", agency: "Court", jurisdiction: "FR",
                                                    publicKey: privateKey.publicKey), privateKey: privateKey)
        let policy = try PreservationPolicy()
        let order = PreservationOrder(id: "urn:uuid:1", authority: "Juge", legalBasis: "art. 25", data: "mailbox",
                                      issued: date("2024-01-31"), expires: date("2024-04-30"), subjects: ["acct"])
        let drafts = [
            try order.draft(policy: policy),
            try LedgerEntryDraft(action: .note),
            try order.renewalDraft(to: date("2024-07-29"), on: date("2024-04-20"), legalBasis: "art. 25"),
            try LedgerEntryDraft(action: .preserveRenew, details: ["order": .string("urn:uuid:unknown")]),
        ]
        var previous = LedgerEntry.noPrevious
        var entries: [LedgerEntry] = []
        for (index, draft) in drafts.enumerated() {
            let entry = try LedgerEntry.make(draft, sequence: UInt64(index), time: Timestamp(secondsSinceEpoch: 0),
                                             origin: "court.example/l", previous: previous, key: key)
            previous = entry.leafHash
            entries.append(entry)
        }
        let (orders, problems) = PreservationOrder.orders(from: entries)
        XCTAssertEqual(orders.count, 1)
        XCTAssertEqual(orders[0].expires, date("2024-07-29"))
        XCTAssertEqual(orders[0].issued, date("2024-01-31"))
        XCTAssertEqual(orders[0].subjects, ["acct"])
        XCTAssertEqual(orders[0].entries, [0, 2])
        XCTAssertEqual(orders[0].renewals.map(\.date), [date("2024-04-20")])
        XCTAssertEqual(problems.count, 1)
        XCTAssertTrue(problems[0].contains("entry 3"), problems[0])
    }

    // MARK: Onward transfer and statements

    func testOnwardTransferRule() throws {
        func identity(_ name: String, _ country: String) throws -> Identity {
            try Identity(name: name, agency: name, jurisdiction: country,
                         publicKey: Ed25519PrivateKey.generate().publicKey)
        }
        let fr = try identity("fr", "FR"), de = try identity("de", "DE"), fr2 = try identity("fr2", "FR")
        typealias Rule = OnwardTransferRule
        XCTAssertEqual(Rule.evaluate(sealer: fr, holder: fr2, target: "US", rule: .forbidden), .ownEvidence)
        XCTAssertEqual(Rule.evaluate(sealer: fr, holder: de, target: "FR", rule: .forbidden), .notThirdJurisdiction)
        XCTAssertEqual(Rule.evaluate(sealer: fr, holder: de, target: "DE", rule: .forbidden), .notThirdJurisdiction)
        XCTAssertEqual(Rule.evaluate(sealer: fr, holder: de, target: "US", rule: .requiresConsent),
                       .needsConsent(jurisdiction: "US"))
        XCTAssertEqual(Rule.evaluate(sealer: fr, holder: de, target: "US", rule: .forbidden),
                       .forbidden(jurisdiction: "US"))
        XCTAssertEqual(Rule.evaluate(sealer: fr, holder: de, target: "US", rule: .allowed), .allowed)
        XCTAssertEqual(Rule.evaluate(sealer: fr, holder: de, target: nil, rule: .requiresConsent),
                       .unknownJurisdiction)
        XCTAssertEqual(Rule.strictest(.allowed, .requiresConsent), .requiresConsent)
        XCTAssertEqual(Rule.strictest(.forbidden, .requiresConsent), .forbidden)
        let consent = ConsentStatement(consentID: "c", bundleID: "b", toJurisdiction: "US", toAgency: "FBI",
                                       purpose: nil, expires: date("2024-01-31"), grantedBy: StatementParty(fr),
                                       time: "2024-01-01T00:00:00Z")
        XCTAssertTrue(Rule.covers(consent, bundleID: "b", jurisdiction: "US", agency: "FBI", on: date("2024-01-31")))
        XCTAssertFalse(Rule.covers(consent, bundleID: "b", jurisdiction: "US", agency: "FBI", on: date("2024-02-01")))
        XCTAssertFalse(Rule.covers(consent, bundleID: "b", jurisdiction: "US", agency: "DEA", on: date("2024-01-01")))
        XCTAssertFalse(Rule.covers(consent, bundleID: "b", jurisdiction: "CA", agency: "FBI", on: date("2024-01-01")))
        XCTAssertFalse(Rule.covers(consent, bundleID: "x", jurisdiction: "US", agency: "FBI", on: date("2024-01-01")))
        XCTAssertEqual(try ConsentStatement(text: consent.text), consent)
    }

    func testStatementsParseStrictly() throws {
        var statement = Statement(header: "custody test v1")
        statement.add("name", "value with spaces")
        statement.add("empty", "")
        statement.add("line", "two\nlines")
        XCTAssertEqual(statement.text, "custody test v1\nname value with spaces\nempty\nline two?lines\n")
        let parsed = try Statement(parsing: statement.text, header: "custody test v1",
                                   allowed: ["name", "empty", "line"])
        XCTAssertEqual(parsed, statement)
        XCTAssertEqual(parsed.value("empty"), "")
        XCTAssertThrowsError(try Statement(parsing: statement.text, header: "custody test v1", allowed: ["name"]))
        XCTAssertThrowsError(try Statement(parsing: "custody test v1\nname a\nname b\n", header: "custody test v1",
                                           allowed: ["name"]))
        XCTAssertThrowsError(try Statement(parsing: "custody other v1\n", header: "custody test v1", allowed: []))
        XCTAssertThrowsError(try Statement(parsing: "custody test v1", header: "custody test v1", allowed: []))
        XCTAssertThrowsError(try ReceiptStatement(text: "custody receipt v1\nresult passed\n"))
    }
}
