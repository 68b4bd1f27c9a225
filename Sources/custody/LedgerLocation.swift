import CustodyKit
import CustodyPostgres

#if canImport(Glibc)
import Glibc
#endif

/// The one place a LEDGER argument becomes a ledger, for every command that takes one: a file path (SQLite, the
/// default), a `postgres://` or `postgresql://` URL (PostgreSQL; `PGPASSWORD` supplies a password the URL does not
/// carry), or an `http://` or `https://` URL (a ledger served by `custody serve`, which these commands do not open).
enum LedgerLocation: Equatable {
    /// A ledger file.
    case file(String)
    /// A ledger in a PostgreSQL database.
    case postgres(PostgresLedgerAddress)
    /// A ledger served over HTTP (`custody serve`).
    case http(String)

    /// What `argument` names; a PostgreSQL URL that does not parse is a usage error (exit 2) naming the wrong part.
    init(_ argument: String) throws {
        let lower = argument.lowercased()
        if PostgresLedgerAddress.isPostgresURL(argument) {
            var address = try PostgresLedgerAddress(url: argument)
            if address.password == nil, let password = getenv("PGPASSWORD").map({ String(cString: $0) }),
               !password.isEmpty {
                address.password = password
            }
            self = .postgres(address)
        } else if lower.hasPrefix("http://") || lower.hasPrefix("https://") {
            self = .http(PostgresLedgerAddress.redacted(argument))
        } else if let scheme = argument.range(of: "://"),
                  argument[..<scheme.lowerBound].allSatisfy({ $0.isLetter || $0.isNumber || "+-.".contains($0) }) {
            throw CommandError.operational(
                "\(PostgresLedgerAddress.redacted(argument)): not a ledger (a file path, postgres://, postgresql://)")
        } else {
            self = .file(argument)
        }
    }

    /// Opens the existing ledger `argument` names; `readOnly` for commands that only read (SQLite: nothing is
    /// created beside the file; PostgreSQL: read-only transactions).
    static func open(_ argument: String, readOnly: Bool = false) throws -> Ledger {
        switch try LedgerLocation(argument) {
        case .file(let path): return try Ledger.open(path: path, readOnly: readOnly)
        case .postgres(let address):
            return try Ledger(store: PostgresLedgerStore.open(address: address, readOnly: readOnly))
        case .http(let url): throw httpNotSupported(url)
        }
    }

    /// Creates a new ledger where `argument` names (a file that must not exist, or a database without a ledger).
    static func create(_ argument: String, origin: String, key: SigningKey) throws -> Ledger {
        switch try LedgerLocation(argument) {
        case .file(let path): return try Ledger.create(path: path, origin: origin, key: key)
        case .postgres(let address):
            return try Ledger.create(origin: origin, key: key) {
                try PostgresLedgerStore.create(address: address, origin: $0, ownerDocument: $1)
            }
        case .http(let url): throw httpNotSupported(url)
        }
    }

    private static func httpNotSupported(_ url: String) -> CommandError {
        .operational("\(url): http ledgers are served by custody serve: not supported by this command")
    }
}
