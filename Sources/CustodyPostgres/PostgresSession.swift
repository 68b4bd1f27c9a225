import CustodyBase
import CustodyLedger
internal import Logging
internal import NIOCore
internal import NIOPosix
internal import PostgresNIO

/// One connection to a PostgreSQL server, used by one thread at a time, synchronously: each statement is sent on
/// the module's private event loop and its future waited for on the caller's thread (never an event loop's). Every
/// failure is thrown as `PostgresLedgerError` (or `LedgerError.storeFailed` for a value of the wrong type), with the
/// ledger's location and never a password.
package final class PostgresSession {
    /// The module's own event loop (one thread, for the life of the process).
    private static let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    /// A logger that logs nothing: the driver's messages never reach a terminal or a log (no secrets leak).
    private static let logger = Logger(label: "custody.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    private let connection: PostgresConnection
    /// The ledger's location, for messages.
    package let location: String

    private init(connection: PostgresConnection, location: String) {
        self.connection = connection
        self.location = location
    }

    /// Connects to `address`. Every session reads names only from `pg_catalog` unless qualified
    /// (`search_path`), commits durably (`synchronous_commit = on`), waits at most 60 s for a lock, and, when
    /// `readOnly`, runs read-only transactions only.
    package static func connect(_ address: PostgresLedgerAddress, readOnly: Bool) throws -> PostgresSession {
        var configuration: PostgresConnection.Configuration
        switch address.endpoint {
        case .tcp(let host, let port):
            configuration = .init(
                host: host, port: port, username: address.user, password: address.password,
                database: address.database, tls: .disable)
        case .unixSocket(let directory, let port):
            configuration = .init(
                unixSocketPath: "\(directory)/.s.PGSQL.\(port)", username: address.user,
                password: address.password, database: address.database)
        }
        configuration.options.additionalStartupParameters = [
            ("search_path", "pg_catalog"),
            ("synchronous_commit", "on"),
            ("lock_timeout", "60s"),
            ("application_name", "custody"),
            ("default_transaction_read_only", readOnly ? "on" : "off"),
        ]
        let location = address.location
        do {
            let connection = try PostgresConnection.connect(
                on: group.next(), configuration: configuration, id: 0, logger: logger
            ).wait()
            return PostgresSession(connection: connection, location: location)
        } catch {
            throw translate(error, location: location)
        }
    }

    deinit {
        try? connection.close().wait()
    }

    /// Runs `query` and returns its rows.
    @discardableResult
    func rows(_ query: PostgresQuery) throws -> [PostgresRow] {
        try result(query).rows
    }

    /// Runs `query` and returns its command tag (`COMMIT`, `ROLLBACK`, `INSERT 0 1`...).
    @discardableResult
    func execute(_ query: PostgresQuery) throws -> String {
        try result(query).metadata.command
    }

    /// How long one statement may take before the session gives up on it (a lock wait ends at 60 s before).
    static let statementLimit = TimeAmount.minutes(5)

    /// Runs `query`, waiting for its answer on the caller's thread. The answer is also given up for when the
    /// connection closes first or after `statementLimit`: the driver was seen to leave a statement sent on a
    /// connection the server had dropped (a crash, a restart) waiting forever.
    private func result(_ query: PostgresQuery) throws -> PostgresQueryResult {
        guard !connection.isClosed else {
            throw PostgresLedgerError.connectionFailed(location: location, reason: "the connection was closed")
        }
        let promise = connection.eventLoop.makePromise(of: PostgresQueryResult.self)
        connection.query(query, logger: Self.logger).cascade(to: promise)
        connection.closeFuture.whenComplete { _ in promise.fail(SessionEnded.closed) }
        let timeout = connection.eventLoop.scheduleTask(in: Self.statementLimit) {
            promise.fail(SessionEnded.timedOut)
        }
        defer { timeout.cancel() }
        do {
            return try promise.futureResult.wait()
        } catch SessionEnded.closed {
            throw PostgresLedgerError.connectionFailed(
                location: location, reason: "the server closed the connection before answering")
        } catch SessionEnded.timedOut {
            throw PostgresLedgerError.connectionFailed(
                location: location, reason: "no answer from the server in 5 minutes")
        } catch {
            throw Self.translate(error, location: location)
        }
    }

    private enum SessionEnded: Error {
        case closed, timedOut
    }

    /// Runs `sql` with `values` bound to `$1`, `$2`... (for the test-support tampering hook and set-up), returning
    /// the number of rows it touched or returned.
    @discardableResult
    package func run(_ sql: String, _ values: [PostgresValue] = []) throws -> Int {
        var binds = PostgresBindings(capacity: values.count)
        for value in values {
            switch value {
            case .int(let number): binds.append(number)
            case .bytes(let bytes): binds.append(bytes.buffer)
            case .text(let text): binds.append(text)
            }
        }
        let outcome = try result(PostgresQuery(unsafeSQL: sql, binds: binds))
        return outcome.metadata.rows ?? outcome.rows.count
    }

    /// Decodes the cells of `row` as `Columns`, a value of another type being reported as store damage.
    func decode<each Column: PostgresDecodable>(
        _ row: PostgresRow, as type: (repeat each Column).Type
    ) throws -> (repeat each Column) {
        do {
            return try row.decode(type, context: .default)
        } catch {
            throw notCustodysType()
        }
    }

    /// Decodes the one cell of `row` as `Column` (a pack of one does not decode).
    func decodeOne<Column: PostgresDecodable>(_ row: PostgresRow, as type: Column.Type) throws -> Column {
        do {
            return try row.decode(type, context: .default)
        } catch {
            throw notCustodysType()
        }
    }

    private func notCustodysType() -> LedgerError {
        LedgerError.storeFailed(location: location, reason: "a stored value is not of custody's type", damaged: true)
    }

    /// The SQLSTATE of a server error thrown by this session, if it is one.
    package static func sqlState(of error: Error) -> String? {
        if case .server(_, let state, _) = error as? PostgresLedgerError { return state }
        return nil
    }

    /// The driver's error as the layer's: a server error with its SQLSTATE and message, or a connection failure.
    static func translate(_ error: Error, location: String) -> Error {
        if error is PostgresLedgerError || error is LedgerError { return error }
        guard let error = error as? PSQLError else {
            return PostgresLedgerError.connectionFailed(location: location, reason: oneLine("\(error)"))
        }
        if error.code == .server, let info = error.serverInfo {
            return PostgresLedgerError.server(
                location: location, sqlState: info[.sqlState] ?? "?????", message: oneLine(info[.message] ?? ""))
        }
        let reason = error.underlying.map { oneLine("\($0)") } ?? "\(error.code)"
        return PostgresLedgerError.connectionFailed(location: location, reason: reason)
    }

    /// `text` on one line of at most 300 characters.
    static func oneLine(_ text: String) -> String {
        let flat = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).joined(separator: " ")
        return flat.count > 300 ? String(flat.prefix(300)) + "..." : flat
    }
}

/// A value bound to a statement run with `PostgresSession.run`.
package enum PostgresValue {
    /// A `bigint`.
    case int(Int64)
    /// A `bytea`.
    case bytes([UInt8])
    /// A `text`.
    case text(String)
}

extension [UInt8] {
    /// The bytes as a buffer to bind as `bytea` (a `[UInt8]` would bind as an array of `"char"`).
    var buffer: ByteBuffer { ByteBuffer(bytes: self) }
}

extension ByteBuffer {
    /// The readable bytes.
    var bytes: [UInt8] { Array(readableBytesView) }
}
