import CustodyBase

/// What the PostgreSQL ledger store throws beside `LedgerError` (which it uses for what every store reports: no
/// such ledger, already exists, damage, an unknown schema version). Messages are one line, name the ledger by its
/// URL without the password (`PostgresLedgerAddress.location`) and never contain a password.
public enum PostgresLedgerError: CustodyFailure, Equatable {
    /// A ledger URL that does not parse: `part` (scheme, user, host, port, database, a parameter) and what is wrong.
    case invalidURL(url: String, part: String, problem: String)
    /// The server could not be reached or the connection broke (`reason`: the network's or the driver's words).
    case connectionFailed(location: String, reason: String)
    /// The server refused or failed a statement: its SQLSTATE and message.
    case server(location: String, sqlState: String, message: String)
    /// The database has a `custody` schema that custody did not create (its comment is not custody's).
    case notALedger(location: String)

    /// A bad URL is input custody does not accept, and the others operations that could not be done: all exit 2.
    public var kind: FailureKind { .operational }

    /// The one-line message.
    public var description: String {
        switch self {
        case .invalidURL(let url, let part, let problem):
            "\(url): not a PostgreSQL ledger URL: \(part): \(problem)"
        case .connectionFailed(let location, let reason):
            "\(location): cannot reach PostgreSQL: \(reason)"
        case .server(let location, let sqlState, let message):
            "\(location): PostgreSQL error \(sqlState): \(message)" + Self.advice(sqlState)
        case .notALedger(let location):
            "\(location): not a custody ledger (the database's custody schema was not made by custody ledger init)"
        }
    }

    /// What to do about the commonest refusals.
    private static func advice(_ sqlState: String) -> String {
        switch sqlState {
        case "3D000": " (create the database first, for example with createdb)"
        case "28000", "28P01": " (check the user and the password: PGPASSWORD or the URL)"
        case "55P03": " (another writer held the ledger for over 60 s)"
        default: ""
        }
    }
}
