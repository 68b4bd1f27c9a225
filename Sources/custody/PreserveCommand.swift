import ArgumentParser
import CustodyKit

struct PreserveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preserve",
        abstract: "Record preservation orders in the ledger and see when they expire.",
        subcommands: [PreserveAddCommand.self, PreserveRenewCommand.self, PreserveReleaseCommand.self,
                      PreserveListCommand.self]
    )

    static func date(_ text: String?, option: String) throws -> CivilDate? {
        guard let text else { return nil }
        guard let date = CivilDate(parsing: text) else {
            throw CommandError.operational("\(option) '\(text)' is not a date (YYYY-MM-DD)")
        }
        return date
    }

    /// The orders `ledger` records, each entry that does not parse as an order named in a warning.
    static func register(_ ledger: Ledger) throws -> PreservationRegister {
        let register = try PreservationRegister(ledger: ledger)
        for problem in register.problems { Terminal.error("warning: \(register.location): \(problem)") }
        return register
    }

    /// The ledger at `path`, opened, and the order `id` it records.
    static func order(_ id: String, ledger path: String) throws -> (ledger: Ledger, order: PreservationOrder) {
        let ledger = try LedgerLocation.open(path)
        return (ledger, try register(ledger).order(id))
    }
}

/// `--policy-max-days N`: the longest period a policy allows (default 90 days).
struct PolicyOption: ParsableArguments {
    @Option(name: .customLong("policy-max-days"),
            help: "The longest period, in days, a policy allows for an order or a renewal (default 90).")
    var maximumDays = PreservationPolicy.standardDays

    var policy: PreservationPolicy { get throws { try PreservationPolicy(maximumDays: maximumDays) } }

    /// Runs `body`, naming this option in the refusal of a period longer than the standard maximum.
    static func namingFlag<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as PreservationError {
            guard case .periodOutOfRange(_, PreservationPolicy.standardDays) = error else { throw error }
            throw CommandError("\(error) (a longer period needs --policy-max-days)", kind: error.kind)
        }
    }
}

struct PreserveAddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Record a preservation order (a preserve entry).",
        discussion: """
            The order runs from --issued to --expires, or for --days days (default 90); at most 90 days after \
            issue unless --policy-max-days allows more. The order runs through its expiry date.
            """
    )

    @Option(help: "The ledger.") var ledger: String
    @OptionGroup var signing: KeyOptions<LedgerOwnerKey>
    @Option(help: "The issuing authority.") var authority: String
    @Option(name: .customLong("legal-basis"), help: "The order's legal basis.") var legalBasis: String
    @Option(help: "The data to be preserved.") var data: String
    @Option(help: "Issue date (YYYY-MM-DD).") var issued: String
    @Option(help: "Expiry date (YYYY-MM-DD).") var expires: String?
    @Option(help: "Days the order runs from issue (default 90).") var days: Int?
    @OptionGroup var policyOption: PolicyOption
    @Option(name: .customLong("subject"), help: "An evidence, account or bundle ID the order concerns (repeatable).")
    var subjects: [String] = []
    @Flag(name: .long, help: "Print the order as JSON.") var json = false

    func validate() throws {
        if expires != nil && days != nil { throw ValidationError("give --expires or --days, not both") }
        // Each is one line of `preserve list` and of reports: text, no control characters.
        for (option, value) in [("--authority", authority), ("--legal-basis", legalBasis), ("--data", data)] {
            guard !value.isEmpty, value.count <= 1000, !Printable.hasControls(value) else {
                throw ValidationError("\(option): give 1 to 1000 characters without control characters")
            }
        }
    }

    func run() throws {
        let policy = try policyOption.policy
        let issuedDate = try PreserveCommand.date(issued, option: "--issued")!
        let expiresDate = try PreserveCommand.date(expires, option: "--expires")
        let expiry = try PolicyOption.namingFlag {
            try policy.expiry(issued: issuedDate, expires: expiresDate, days: days)
        }
        let store = try LedgerLocation.open(ledger)
        let signer = try signing.signingKey()
        var order = PreservationOrder(id: Identifier.urn(), authority: authority, legalBasis: legalBasis, data: data,
                                      issued: issuedDate, expires: expiry, subjects: subjects)
        let entry = try store.append(order.draft(policy: policy), key: signer)
        order.entries = [entry.sequence]
        if json {
            Terminal.line(order.json.canonicalString)
        } else {
            Terminal.line("preservation order \(order.id): issued \(issuedDate), expires \(expiry) "
                + "(\(expiry.days(since: issuedDate)) days); ledger entry \(entry.sequence)")
        }
    }
}

struct PreserveRenewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "renew",
        abstract: "Extend a preservation order from its current expiry (a preserve-renew entry).",
        discussion: "Extends by --days (default 90, at most 90 unless --policy-max-days allows more). An order that "
            + "has expired cannot be renewed."
    )

    @Argument(help: "The order ID (from preserve add or list).") var orderID: String
    @Option(help: "The ledger.") var ledger: String
    @OptionGroup var signing: KeyOptions<LedgerOwnerKey>
    @Option(help: "Days added to the current expiry (default 90).") var days: Int?
    @OptionGroup var policyOption: PolicyOption
    @Option(name: .customLong("legal-basis"), help: "Legal basis of the renewal (default: the order's).")
    var legalBasis: String?
    @Option(help: "Date of the renewal (YYYY-MM-DD, default today).") var on: String?

    func run() throws {
        let policy = try policyOption.policy
        let date = try PreserveCommand.date(on, option: "--on") ?? CivilDate.today()
        let (store, order) = try PreserveCommand.order(orderID, ledger: ledger)
        let signer = try signing.signingKey()
        let (draft, expiry) = try order.renewal(on: date, days: days, policy: policy, legalBasis: legalBasis)
        let entry = try store.append(draft, key: signer)
        Terminal.line("preservation order \(orderID): renewed on \(date), expires \(expiry) (was \(order.expires)); "
            + "ledger entry \(entry.sequence)")
    }
}

struct PreserveReleaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Record the end of a preservation order (a preserve-release entry)."
    )

    @Argument(help: "The order ID.") var orderID: String
    @Option(help: "The ledger.") var ledger: String
    @OptionGroup var signing: KeyOptions<LedgerOwnerKey>
    @Option(help: "Why the order ends.") var reason = "released"
    @Option(help: "Date of the release (YYYY-MM-DD, default today).") var on: String?

    func run() throws {
        let date = try PreserveCommand.date(on, option: "--on") ?? CivilDate.today()
        let (store, order) = try PreserveCommand.order(orderID, ledger: ledger)
        let signer = try signing.signingKey()
        let entry = try store.append(order.release(on: date, reason: reason), key: signer)
        Terminal.line("preservation order \(orderID): released on \(date); ledger entry \(entry.sequence)")
    }
}

struct PreserveListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List preservation orders with their expiry and status.",
        discussion: """
            Status on the date (--as-of, default today, UTC): active (days left; 0 on the expiry date, the order's \
            last day), expired, or released. --expiring 14d lists only active orders expiring within 14 days.
            """
    )

    @Option(help: "The ledger.") var ledger: String
    @Option(help: "Only active orders expiring within this many days (14d, 2w or 14).") var expiring: String?
    @Option(name: .customLong("as-of"), help: "The date to compute status on (YYYY-MM-DD, default today).")
    var asOf: String?
    @Flag(name: .long, help: "Print one JSON array of the orders (empty when none).") var json = false

    func run() throws {
        var window: Int64?
        if let expiring {
            guard let days = PreservationOrder.parseDays(expiring) else {
                throw CommandError.operational("--expiring '\(expiring)' is not a number of days (14d, 2w or 14)")
            }
            window = days
        }
        let date = try PreserveCommand.date(asOf, option: "--as-of") ?? CivilDate.today()
        let register = try PreserveCommand.register(try LedgerLocation.open(ledger))
        let orders = register.listed(on: date, expiringWithin: window)
        var listed: [JSONValue] = []
        for order in orders {
            let status = order.status(on: date)
            var detail: String
            switch status {
            case .active(let left): detail = left == 0 ? "last day" : "\(left) day\(left == 1 ? "" : "s") left"
            case .expired(let ago): detail = "expired \(ago) day\(ago == 1 ? "" : "s") ago"
            case .released(let day): detail = "released \(day)"
            }
            if json {
                guard case .object(var members) = order.json else { continue }
                members["status"] = .string(status.name)
                if case .active(let left) = status { members["daysLeft"] = .int(left) }
                listed.append(.object(members))
            } else {
                Terminal.line("\(order.id)\t\(status.name)\texpires \(order.expires) (\(detail))\tissued "
                    + "\(order.issued) by \(order.authority)\t\(order.data)")
            }
        }
        if json { Terminal.line(JSONValue.array(listed).canonicalString) }
        if !json && orders.isEmpty {
            Terminal.line(window.map { "no active order expires within \($0) days of \(date)" }
                ?? "no preservation orders recorded")
        }
    }
}
