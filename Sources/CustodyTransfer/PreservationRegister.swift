import CustodyBase
import CustodyLedger

/// Why a preservation order, renewal or release cannot be recorded: each case carries the dates and periods
/// involved. All are operational (nothing was recorded).
public enum PreservationError: CustodyFailure, Equatable {
    /// `start` plus `days` falls after `CivilDate.latest`, the last date an order can carry.
    case pastLastDate(start: CivilDate, days: Int64)
    /// A policy maximum outside 1 to 3660 days.
    case policyOutOfRange(maximumDays: Int)
    /// An order period outside 1 to the policy's maximum. The command line adds how to allow a longer period.
    case periodOutOfRange(days: Int, maximumDays: Int)
    /// An explicit expiry on or before the issue date.
    case expiryNotAfterIssue(expires: CivilDate, issued: CivilDate)
    /// An explicit expiry `days` after issue, more than the policy's `maximumDays`; `latest` is the last one allowed.
    case expiryTooLate(expires: CivilDate, issued: CivilDate, days: Int64, maximumDays: Int, latest: CivilDate)
    /// A renewal dated after the order expired.
    case renewalAfterExpiry(expired: CivilDate, renewal: CivilDate)
    /// A renewal period outside 1 to the policy's maximum.
    case renewalOutOfRange(days: Int, maximumDays: Int)
    /// The ledger at `ledger` records no order with this ID.
    case noSuchOrder(id: String, ledger: String)
    /// A renewal of an order released on `released`.
    case renewalOfReleased(id: String, released: CivilDate)
    /// A second release of an order released on `released`.
    case alreadyReleased(id: String, released: CivilDate)

    /// Always operational: the order was not recorded.
    public var kind: FailureKind { .operational }

    /// The one-line message.
    public var description: String {
        switch self {
        case .pastLastDate(let start, let days):
            return "\(start) plus \(days) days falls after \(CivilDate.latest), the last date an order can carry"
        case .policyOutOfRange(let maximumDays):
            return "a policy maximum of \(maximumDays) days: choose from 1 to 3660"
        case .periodOutOfRange(let days, let maximumDays):
            return "a preservation order runs 1 to \(maximumDays) days, not \(days)"
        case .expiryNotAfterIssue(let expires, let issued):
            return "the expiry \(expires) must be after the issue date \(issued)"
        case .expiryTooLate(let expires, let issued, let days, let maximumDays, let latest):
            return "the expiry \(expires) is \(days) days after the issue date \(issued); at most \(maximumDays) are "
                + "allowed (latest \(latest))"
        case .renewalAfterExpiry(let expired, let renewal):
            return "the order expired on \(expired) and cannot be renewed on \(renewal); record a new order"
        case .renewalOutOfRange(let days, let maximumDays):
            return "a renewal extends an order by 1 to \(maximumDays) days, not \(days)"
        case .noSuchOrder(let id, let ledger):
            return "\(ledger) records no preservation order \(id) (see custody preserve list)"
        case .renewalOfReleased(let id, let released):
            return "order \(id) was released on \(released); record a new order"
        case .alreadyReleased(let id, let released):
            return "order \(id) was already released on \(released)"
        }
    }
}

extension PreservationPolicy {
    /// The expiry of an order issued on `issued`: `expires` when given (checked against the policy), else `days`
    /// after issue (default: the maximum).
    public func expiry(issued: CivilDate, expires: CivilDate?, days: Int?) throws -> CivilDate {
        guard let expires else { return try expiry(issued: issued, days: days) }
        try check(issued: issued, expires: expires)
        return expires
    }
}

extension PreservationOrder {
    /// The `preserve-renew` entry extending the order by `days` (default: the policy's maximum) on `date`, with
    /// the new expiry. Refused for a released order, an expired one, or a period the policy does not allow.
    public func renewal(on date: CivilDate, days: Int?, policy: PreservationPolicy, legalBasis: String?) throws
        -> (draft: LedgerEntryDraft, expires: CivilDate) {
        if let released { throw PreservationError.renewalOfReleased(id: id, released: released) }
        let expiry = try policy.renewal(currentExpiry: expires, days: days, on: date)
        return (try renewalDraft(to: expiry, on: date, legalBasis: legalBasis ?? self.legalBasis), expiry)
    }

    /// The `preserve-release` entry ending the order on `date`; refused for an order already released.
    public func release(on date: CivilDate, reason: String) throws -> LedgerEntryDraft {
        if let released { throw PreservationError.alreadyReleased(id: id, released: released) }
        return try releaseDraft(on: date, reason: reason)
    }
}

/// The preservation orders one ledger records, rebuilt from its `preserve`, `preserve-renew` and
/// `preserve-release` entries.
public struct PreservationRegister: Sendable {
    /// Where the ledger is, for messages.
    public var location: String
    /// The orders, in the order they were recorded.
    public var orders: [PreservationOrder]
    /// Entries that do not parse as orders, one line each (they are skipped).
    public var problems: [String]

    /// Reads the orders `ledger` records.
    public init(ledger: Ledger) throws {
        var entries: [LedgerEntry] = []
        try ledger.export { bytes in
            let entry = try LedgerEntry.parse(bytes)
            if [.preserve, .preserveRenew, .preserveRelease].contains(entry.action) { entries.append(entry) }
        }
        location = ledger.store.location
        (orders, problems) = PreservationOrder.orders(from: entries)
    }

    /// The order with ID `id`; throws `PreservationError.noSuchOrder` when the ledger records none.
    public func order(_ id: String) throws -> PreservationOrder {
        guard let order = orders.first(where: { $0.id == id }) else {
            throw PreservationError.noSuchOrder(id: id, ledger: location)
        }
        return order
    }

    /// The orders to list on `date`, by expiry then ID: all of them, or with `window` only the active orders
    /// expiring within that many days.
    public func listed(on date: CivilDate, expiringWithin window: Int64?) -> [PreservationOrder] {
        let chosen = window.map { days in orders.filter { $0.isExpiring(within: days, on: date) } } ?? orders
        return chosen.sorted { ($0.expires, $0.id) < ($1.expires, $1.id) }
    }
}
