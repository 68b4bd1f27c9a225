import CustodyBase
import CustodyCrypto
import CustodyIO
#if canImport(Glibc)
import Glibc
#endif
internal import CSQLite

/// One SQLite connection, used by one thread at a time. Its failures are thrown as `LedgerError.storeFailed`.
/// (package: the test-support tampering hook writes through it.)
package final class SQLiteDatabase {
    let handle: OpaquePointer
    let path: String
    /// Whether the file was opened `immutable` (see `openReading`): read as it is, nothing created beside it.
    package let isImmutable: Bool
    /// The descriptor holding the read lock of an immutable connection (closed after the connection).
    private let lockDescriptor: FileDescriptor?

    /// Opens `path`; creates it only when `create` is true. `readOnly` opens it as `openReading` describes;
    /// `immutable`, when given, takes that choice instead (a second connection reading as the first does).
    package init(path: String, create: Bool, readOnly: Bool = false, immutable: Bool? = nil) throws {
        if readOnly && !create {
            (handle, isImmutable, lockDescriptor) = try SQLiteDatabase.openReading(path, immutable: immutable)
        } else {
            var flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX
            if create { flags |= SQLITE_OPEN_CREATE }
            handle = try SQLiteDatabase.open(path, name: path, flags: flags)
            isImmutable = false
            lockDescriptor = nil
        }
        self.path = path
        sqlite3_extended_result_codes(handle, 1)
    }

    private static func open(_ name: String, name path: String, flags: Int32) throws -> OpaquePointer {
        var db: OpaquePointer?
        let result = sqlite3_open_v2(name, &db, flags, nil)
        guard result == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close_v2(db) }
            throw LedgerError.storeFailed(location: path, reason: message, damaged: SQLiteDatabase.isDamage(result))
        }
        return db
    }

    /// Opens `path` for reading only, creating nothing beside it and writing nothing (read-only and write-blocked
    /// media, a full disk, a ledger being verified as evidence).
    ///
    /// While a connection uses the ledger (its `-shm` file exists) or a write-ahead log holds commits not yet in
    /// the file (a non-empty `-wal`), the file is opened `SQLITE_OPEN_READONLY` and shares them, so what other
    /// connections committed is read. Otherwise the file holds every commit: it is opened read-only and
    /// `immutable=1` (no `-wal`, `-shm` or lock file is made), under a shared lock on SQLite's lock bytes of the
    /// file (an open file description lock, which works on read-only media), so that a writer closing meanwhile
    /// cannot fold its log into the file while it is read. A `-wal` with commits on media where `-shm` cannot be
    /// made cannot be read: the error names it.
    static func openReading(_ path: String, immutable: Bool?)
        throws -> (OpaquePointer, immutable: Bool, lock: FileDescriptor?) {
        let readOnly = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX
        let lock = immutable == false ? nil : try? FileDescriptor.open(path, O_RDONLY | O_CLOEXEC)
        let lockResult = lock.map { SQLiteDatabase.lockShared($0) } ?? EBADF
        let complete = !FileSystem.exists(path + "-shm") && (fileSize(path + "-wal") ?? 0) == 0
        // Where locks are not supported, the file is read as it is only when no writer can start beside it.
        let unlockedButSafe = lockResult != EAGAIN && lockResult != EACCES
            && RawName.withCString(FileSystem.parentDirectory(of: path)) { access($0, W_OK) } != 0
        if immutable == true || (immutable == nil && complete && (lockResult == 0 || unlockedButSafe)) {
            do {
                let handle = try open("file:" + uriEscaped(path) + "?immutable=1", name: path,
                                      flags: readOnly | SQLITE_OPEN_URI)
                return (handle, true, lock)
            } catch {
                lock?.close()
                throw error
            }
        }
        lock?.close()
        let handle = try open(path, name: path, flags: readOnly)
        // SQLite opens the file and its log on first use: read the schema now to see whether the log can be read.
        let result = sqlite3_exec(handle, "PRAGMA schema_version", nil, nil, nil)
        guard result == SQLITE_OK || isDamage(result) || (fileSize(path + "-wal") ?? 0) == 0 else {
            let reason = String(cString: sqlite3_errmsg(handle))
            sqlite3_close_v2(handle)
            throw LedgerError.unreadableLog(location: path, reason: reason)
        }
        return (handle, false, nil)
    }

    /// SQLite's shared lock bytes (unix VFS): 510 bytes from 2 past the pending byte at 1 GiB.
    private static let sharedLockRange: (start: Int, count: Int) = (0x4000_0002, 510)

    /// Takes a shared open-file-description lock on SQLite's shared lock bytes, which a closing writer needs
    /// exclusively to fold its log into the file; returns 0, or the error (`EAGAIN` or `EACCES` while a writer
    /// holds them; another where the file system takes no such locks).
    private static func lockShared(_ descriptor: FileDescriptor) -> Int32 {
        var lock = flock()
        lock.l_type = Int16(F_RDLCK)
        lock.l_whence = Int16(SEEK_SET)
        lock.l_start = off_t(sharedLockRange.start)
        lock.l_len = off_t(sharedLockRange.count)
        #if os(Linux)
        let command: Int32 = 37  // F_OFD_SETLK (Linux 3.15), which Glibc's module does not export
        #else
        let command = F_SETLK  // elsewhere a process-associated lock: the same bytes, released when this closes
        #endif
        return fcntl(descriptor.rawValue, command, &lock) == 0 ? 0 : errno
    }

    private static func fileSize(_ path: String) -> Int64? {
        var info = stat()
        return stat(path, &info) == 0 ? Int64(info.st_size) : nil
    }

    /// `path` as the path of a `file:` URI: every byte other than letters, digits, `-._~/` percent-encoded.
    static func uriEscaped(_ path: String) -> String {
        var result = ""
        for byte in RawName.encode(path) {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                 UInt8(ascii: "~"), UInt8(ascii: "/"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                result += "%" + Hex.encode([byte])
            }
        }
        return result
    }

    deinit {
        sqlite3_close_v2(handle)
        lockDescriptor?.close()
    }

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

    /// Whether the connection can only read (opened read-only or immutable).
    package var isReadOnly: Bool { sqlite3_db_readonly(handle, "main") == 1 }

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
