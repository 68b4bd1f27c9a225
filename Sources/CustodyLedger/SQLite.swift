import CustodyBase
import CustodyCrypto
import CustodyIO
internal import CSQLite

/// One SQLite connection, used by one thread at a time. Its failures are thrown as `LedgerError.storeFailed`.
/// (package: the test-support tampering hook writes through it.)
package final class SQLiteDatabase {
    let handle: OpaquePointer
    let path: String

    /// Opens `path`; creates it only when `create` is true.
    package init(path: String, create: Bool, readOnly: Bool = false) throws {
        var db: OpaquePointer?
        var flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX
        if create { flags |= SQLITE_OPEN_CREATE }
        let result = sqlite3_open_v2(path, &db, flags, nil)
        guard result == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close_v2(db) }
            throw LedgerError.storeFailed(location: path, reason: message, damaged: SQLiteDatabase.isDamage(result))
        }
        handle = db
        self.path = path
        sqlite3_extended_result_codes(db, 1)
    }

    deinit { sqlite3_close_v2(handle) }

    /// Whether a result code says the file is damaged or not a database.
    static func isDamage(_ code: Int32) -> Bool { code & 0xff == SQLITE_CORRUPT || code & 0xff == SQLITE_NOTADB }

    func error(_ code: Int32) -> LedgerError {
        LedgerError.storeFailed(
            location: path, reason: String(cString: sqlite3_errmsg(handle)), damaged: SQLiteDatabase.isDamage(code))
    }

    /// Runs SQL without results.
    package func execute(_ sql: String) throws {
        let result = sqlite3_exec(handle, sql, nil, nil, nil)
        guard result == SQLITE_OK else { throw error(result) }
    }

    /// Compiles `sql` into a statement.
    package func prepare(_ sql: String) throws -> SQLiteStatement {
        var statement: OpaquePointer?
        let result = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard result == SQLITE_OK, let statement else { throw error(result) }
        return SQLiteStatement(statement, database: self)
    }

    /// The integer result of a one-row query (a PRAGMA, a count).
    func integer(_ sql: String) throws -> Int64? {
        let statement = try prepare(sql)
        guard try statement.step() else { return nil }
        return statement.int64(0)
    }

    /// Waits up to `milliseconds` for locks held by other connections.
    func setBusyTimeout(_ milliseconds: Int32) {
        sqlite3_busy_timeout(handle, milliseconds)
    }
}

/// A prepared statement; reset before each use by the binding helpers.
package final class SQLiteStatement {
    let statement: OpaquePointer
    unowned let database: SQLiteDatabase

    init(_ statement: OpaquePointer, database: SQLiteDatabase) {
        self.statement = statement
        self.database = database
    }

    deinit { sqlite3_finalize(statement) }

    /// Resets and binds parameters (Int64, UInt64, Int, [UInt8] blobs, String text) in order.
    func bind(_ values: Any...) throws {
        try bind(values)
    }

    private func bind(_ values: [Any]) throws {
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
        for (offset, value) in values.enumerated() { try bindOne(value, at: Int32(offset + 1)) }
    }

    /// Steps once: true when a row is available, false when done.
    func step() throws -> Bool {
        let result = sqlite3_step(statement)
        switch result {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let error = database.error(result)
            sqlite3_reset(statement)
            throw error
        }
    }

    /// Runs a statement that returns no rows.
    func run(_ values: Any...) throws {
        try run(arguments: values)
    }

    /// Runs a statement that returns no rows, with `values` bound in order.
    package func run(arguments values: [Any]) throws {
        try bind(values)
        while try step() {}
        sqlite3_reset(statement)
    }

    private func bindOne(_ value: Any, at index: Int32) throws {
        let result: Int32
        switch value {
        case let number as Int64: result = sqlite3_bind_int64(statement, index, number)
        case let number as UInt64: result = sqlite3_bind_int64(statement, index, Int64(bitPattern: number))
        case let number as Int: result = sqlite3_bind_int64(statement, index, Int64(number))
        case let bytes as [UInt8]:
            result = bytes.withUnsafeBytes {
                sqlite3_bind_blob(
                    statement, index, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1),
                    Int32($0.count), custody_sqlite_transient())
            }
        case let text as String: result = sqlite3_bind_text(statement, index, text, -1, custody_sqlite_transient())
        default: preconditionFailure("unsupported SQLite binding \(type(of: value))")
        }
        guard result == SQLITE_OK else { throw database.error(result) }
    }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }

    func blob(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(statement, column))
        guard count > 0, let pointer = sqlite3_column_blob(statement, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    func text(_ column: Int32) -> String {
        guard let pointer = sqlite3_column_text(statement, column) else { return "" }
        return String(cString: pointer)
    }
}

extension SQLiteStatement {
    /// Resets the statement (ends its read, keeps its bindings).
    func reset() { sqlite3_reset(statement) }
}
