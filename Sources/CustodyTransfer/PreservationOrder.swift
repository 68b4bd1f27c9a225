import CustodyAge
import CustodyBase
import CustodyBundle
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger
import CustodyTar

/// A calendar date (proleptic Gregorian, UTC), counted in days since 1970-01-01.
public struct CivilDate: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Days since 1970-01-01 (negative before).
    public var daysSinceEpoch: Int64

    /// The date `daysSinceEpoch` days after 1970-01-01.
    public init(daysSinceEpoch: Int64) { self.daysSinceEpoch = daysSinceEpoch }

    /// The date of a year, month and day (not checked: out-of-range parts roll over).
    public init(year: Int64, month: Int64, day: Int64) {
        daysSinceEpoch = Timestamp.daysFromCivil(year: year, month: month, day: day)
    }

    /// Parses exactly `YYYY-MM-DD` (a real date: `2026-02-29` is refused, `2028-02-29` accepted).
    public init?(parsing text: String) {
        guard text.utf8.count == 10, let timestamp = Timestamp(parsing: text) else { return nil }
        daysSinceEpoch = timestamp.secondsSinceEpoch / 86400
    }

    /// The UTC date of a timestamp.
    public init(_ timestamp: Timestamp) {
        let seconds = timestamp.secondsSinceEpoch
        daysSinceEpoch = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
    }

    /// Today's date in UTC.
    public static func today() -> CivilDate { CivilDate(Timestamp.now()) }

    /// The year, month and day.
    public var components: (year: Int64, month: Int64, day: Int64) { Timestamp.civilFromDays(daysSinceEpoch) }

    /// The date `days` later (earlier when negative).
    public func adding(days: Int64) -> CivilDate { CivilDate(daysSinceEpoch: daysSinceEpoch + days) }

    /// The last date `YYYY-MM-DD` can write.
    public static let latest = CivilDate(year: 9999, month: 12, day: 31)

    /// This date moved by `days`, refused when it would fall past `latest` (an expiry must stay writable).
    func addingWithinRange(days: Int64) throws -> CivilDate {
        let result = adding(days: days)
        guard result <= CivilDate.latest else {
            throw PreservationError.pastLastDate(start: self, days: days)
        }
        return result
    }

    /// Days from `other` to this date (positive when this date is later).
    public func days(since other: CivilDate) -> Int64 { daysSinceEpoch - other.daysSinceEpoch }

    /// `YYYY-MM-DD`.
    public var description: String { Timestamp(secondsSinceEpoch: daysSinceEpoch * 86400).dateString }

    /// Whether `lhs` is the earlier date.
    public static func < (lhs: CivilDate, rhs: CivilDate) -> Bool { lhs.daysSinceEpoch < rhs.daysSinceEpoch }
}

/// How long preservation orders may run: at most `maximumDays` (90 by default, as the Convention's expedited
/// preservation provides) from issue, and each renewal at most `maximumDays` beyond the current expiry.
public struct PreservationPolicy: Sendable, Equatable {
    /// The default maximum, in days.
    public static let standardDays = 90
    /// The longest period, in days, of an order or a renewal.
    public var maximumDays: Int

    /// A policy allowing at most `maximumDays` (1 to 3660); throws `PreservationError.policyOutOfRange` otherwise.
    public init(maximumDays: Int = PreservationPolicy.standardDays) throws {
        guard (1...3660).contains(maximumDays) else {
            throw PreservationError.policyOutOfRange(maximumDays: maximumDays)
        }
        self.maximumDays = maximumDays
    }

    /// The expiry of an order issued on `issued` running `days` days (default: the maximum).
    public func expiry(issued: CivilDate, days: Int? = nil) throws -> CivilDate {
        let days = days ?? maximumDays
        guard (1...maximumDays).contains(days) else {
            throw PreservationError.periodOutOfRange(days: days, maximumDays: maximumDays)
        }
        return try issued.addingWithinRange(days: Int64(days))
    }

    /// Checks an explicit expiry: after the issue date and at most the maximum after it.
    public func check(issued: CivilDate, expires: CivilDate) throws {
        let days = expires.days(since: issued)
        guard days >= 1 else {
            throw PreservationError.expiryNotAfterIssue(expires: expires, issued: issued)
        }
        guard days <= maximumDays else {
            let latest = min(issued.adding(days: Int64(maximumDays)), CivilDate.latest)
            throw PreservationError.expiryTooLate(expires: expires, issued: issued, days: days,
                                                  maximumDays: maximumDays, latest: latest)
        }
    }

    /// The new expiry of an order renewed on `on` by `days` days (default: the maximum) from its current expiry.
    /// An order that has already expired cannot be renewed.
    public func renewal(currentExpiry: CivilDate, days: Int? = nil, on date: CivilDate) throws -> CivilDate {
        guard date <= currentExpiry else {
            throw PreservationError.renewalAfterExpiry(expired: currentExpiry, renewal: date)
        }
        let days = days ?? maximumDays
        guard (1...maximumDays).contains(days) else {
            throw PreservationError.renewalOutOfRange(days: days, maximumDays: maximumDays)
        }
        return try currentExpiry.addingWithinRange(days: Int64(days))
    }
}

/// A preservation order as its ledger entries describe it: the `preserve` entry that recorded it, then any
/// `preserve-renew` and `preserve-release` entries naming its ID.
public struct PreservationOrder: Sendable, Equatable {
    /// The order ID (`urn:uuid:`).
    public var id: String
    /// The issuing authority.
    public var authority: String
    /// The order's legal basis.
    public var legalBasis: String
    /// What data is to be preserved.
    public var data: String
    /// The issue date.
    public var issued: CivilDate
    /// The last day the order runs (after renewals).
    public var expires: CivilDate
    /// Evidence, account or bundle IDs the order concerns.
    public var subjects: [String]
    /// Each renewal: its date and the expiry it set.
    public var renewals: [(date: CivilDate, expires: CivilDate)]
    /// The release date, if released.
    public var released: CivilDate?
    /// Ledger sequence numbers of the order's entries.
    public var entries: [UInt64]

    /// A new order (no entries yet).
    public init(id: String, authority: String, legalBasis: String, data: String, issued: CivilDate,
                expires: CivilDate, subjects: [String] = []) {
        self.id = id
        self.authority = authority
        self.legalBasis = legalBasis
        self.data = data
        self.issued = issued
        self.expires = expires
        self.subjects = subjects
        renewals = []
        entries = []
    }

    /// Orders are equal when their ID, expiry, release and entries are.
    public static func == (lhs: PreservationOrder, rhs: PreservationOrder) -> Bool {
        lhs.id == rhs.id && lhs.expires == rhs.expires && lhs.released == rhs.released && lhs.entries == rhs.entries
    }

    /// Where an order stands on a date.
    public enum Status: Sendable, Equatable {
        /// Running: `daysLeft` days until the expiry date (0 on the expiry date itself, the order's last day).
        case active(daysLeft: Int64)
        /// Past its expiry date, by `daysAgo` days.
        case expired(daysAgo: Int64)
        /// Released on that date.
        case released(on: CivilDate)

        /// `active`, `expired` or `released`.
        public var name: String {
            switch self {
            case .active: return "active"
            case .expired: return "expired"
            case .released: return "released"
            }
        }
    }

    /// The order's status on `date`: active through its expiry date, expired after it.
    public func status(on date: CivilDate) -> Status {
        if let released, released <= date { return .released(on: released) }
        let left = expires.days(since: date)
        return left >= 0 ? .active(daysLeft: left) : .expired(daysAgo: -left)
    }

    /// Whether the order is active on `date` and expires within `days` days of it.
    public func isExpiring(within days: Int64, on date: CivilDate) -> Bool {
        if case .active(let left) = status(on: date) { return left <= days }
        return false
    }

    /// The `preserve` entry recording a new order.
    public func draft(policy: PreservationPolicy) throws -> LedgerEntryDraft {
        try LedgerEntryDraft(
            action: .preserve,
            subjects: [try LedgerSubject(id: id)] + subjects.map { try LedgerSubject(id: $0) },
            legalBasis: legalBasis,
            details: ["order": .string(id), "authority": .string(authority), "data": .string(data),
                      "issued": .string(issued.description), "expires": .string(expires.description),
                      "days": .int(expires.days(since: issued)), "policyMaxDays": .int(Int64(policy.maximumDays))])
    }

    /// The `preserve-renew` entry extending the order to `newExpiry`, made on `date`.
    public func renewalDraft(to newExpiry: CivilDate, on date: CivilDate, legalBasis: String) throws
        -> LedgerEntryDraft {
        try LedgerEntryDraft(
            action: .preserveRenew, subjects: [try LedgerSubject(id: id)], legalBasis: legalBasis,
            details: ["order": .string(id), "renewed": .string(date.description),
                      "previousExpires": .string(expires.description), "expires": .string(newExpiry.description),
                      "days": .int(newExpiry.days(since: expires))])
    }

    /// The `preserve-release` entry ending the order on `date`.
    public func releaseDraft(on date: CivilDate, reason: String) throws -> LedgerEntryDraft {
        try LedgerEntryDraft(
            action: .preserveRelease, subjects: [try LedgerSubject(id: id)], legalBasis: legalBasis,
            details: ["order": .string(id), "released": .string(date.description), "reason": .string(reason)])
    }

    /// Rebuilds the orders from ledger entries (in ledger order); entries that do not parse as orders are named
    /// in `problems` and skipped.
    public static func orders(from entries: [LedgerEntry]) -> (orders: [PreservationOrder], problems: [String]) {
        var orders: [PreservationOrder] = []
        var problems: [String] = []
        func index(_ entry: LedgerEntry) -> Int? {
            guard let id = entry.details["order"]?.stringValue, let found = orders.firstIndex(where: { $0.id == id })
            else {
                problems.append("entry \(entry.sequence): \(entry.action.rawValue) names no recorded order")
                return nil
            }
            return found
        }
        for entry in entries {
            switch entry.action {
            case .preserve:
                guard let id = entry.details["order"]?.stringValue,
                      let issued = entry.details["issued"]?.stringValue.flatMap(CivilDate.init(parsing:)),
                      let expires = entry.details["expires"]?.stringValue.flatMap(CivilDate.init(parsing:)) else {
                    problems.append("entry \(entry.sequence): preserve entry without order, issued and expires")
                    continue
                }
                var order = PreservationOrder(
                    id: id, authority: entry.details["authority"]?.stringValue ?? "", legalBasis: entry.legalBasis,
                    data: entry.details["data"]?.stringValue ?? "", issued: issued, expires: expires,
                    subjects: entry.subjects.map(\.id).filter { $0 != id })
                order.entries = [entry.sequence]
                orders.append(order)
            case .preserveRenew:
                guard let found = index(entry) else { continue }
                guard let date = entry.details["renewed"]?.stringValue.flatMap(CivilDate.init(parsing:)),
                      let expires = entry.details["expires"]?.stringValue.flatMap(CivilDate.init(parsing:)) else {
                    problems.append("entry \(entry.sequence): preserve-renew entry without renewed and expires")
                    continue
                }
                orders[found].renewals.append((date, expires))
                orders[found].expires = expires
                orders[found].entries.append(entry.sequence)
            case .preserveRelease:
                guard let found = index(entry) else { continue }
                let date = entry.details["released"]?.stringValue.flatMap(CivilDate.init(parsing:))
                    ?? CivilDate(entry.time)
                orders[found].released = date
                orders[found].entries.append(entry.sequence)
            default:
                continue
            }
        }
        return (orders, problems)
    }

    /// Parses `14d`, `14` or `2w` as a number of days.
    public static func parseDays(_ text: String) -> Int64? {
        var digits = text
        var factor: Int64 = 1
        if text.hasSuffix("d") {
            digits = String(text.dropLast())
        } else if text.hasSuffix("w") {
            digits = String(text.dropLast())
            factor = 7
        }
        guard !digits.isEmpty, digits.utf8.allSatisfy({ (48...57).contains($0) }), digits.utf8.count <= 6,
              let value = Int64(digits) else { return nil }
        return value * factor
    }

    /// The order as JSON, for `preserve list --json`.
    public var json: JSONValue {
        .object([
            "order": .string(id), "authority": .string(authority), "legalBasis": .string(legalBasis),
            "data": .string(data), "issued": .string(issued.description), "expires": .string(expires.description),
            "subjects": .array(subjects.map { .string($0) }),
            "renewals": .array(renewals.map { .object(["renewed": .string($0.date.description),
                                                       "expires": .string($0.expires.description)]) }),
            "entries": .array(entries.map { .int(Int64($0)) }),
        ].merging(released.map { ["released": .string($0.description)] } ?? [:]) { first, _ in first })
    }
}
