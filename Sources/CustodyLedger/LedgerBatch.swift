import CustodyBase
#if canImport(Glibc)
import Glibc
#endif

/// Why a batch of entry drafts (JSON lines) was refused; nothing of it is appended.
public enum LedgerBatchError: CustodyFailure, Equatable {
    /// Line `line` of `source` is not a draft custody accepts.
    case badLine(source: String, line: Int, problem: LedgerRecordProblem)
    /// Line `line` of `source` is longer than `limit` bytes.
    case lineTooLong(source: String, line: Int, limit: Int)
    /// `source` holds no draft at all.
    case empty(source: String)
    /// `source` holds more than `limit` drafts.
    case tooManyEntries(source: String, limit: Int)
    /// `source` is longer than `limit` bytes.
    case tooLarge(source: String, limit: Int)

    /// A batch that does not parse is input that could not be used.
    public var kind: FailureKind { .operational }

    /// The message: the source, the line number and what is wrong.
    public var description: String {
        switch self {
        case .badLine(let source, let line, let problem): "\(source) line \(line): \(problem); nothing was appended"
        case .lineTooLong(let source, let line, let limit): "\(source) line \(line): longer than \(limit) bytes"
        case .empty(let source): "\(source): no entries"
        case .tooManyEntries(let source, let limit):
            "\(source): more than \(limit) entries in one batch; nothing was appended (split it into batches)"
        case .tooLarge(let source, let limit):
            "\(source): larger than \(limit) bytes (\(ByteSize.describe(UInt64(limit)))) in one batch; nothing was "
                + "appended (split it into batches)"
        }
    }
}

/// Reads a batch of entry drafts, one JSON object a line (`LedgerEntryDraft(jsonLine:)`), from bytes handed over
/// in pieces of any size: lines may end in LF or CRLF, blank lines are skipped, the last line needs no newline.
/// The first bad line stops the batch, named by its number in `source`, and so does passing a bound: more than
/// `maximumEntries` drafts or `maximumBytes` bytes in all (each line at most `LedgerEntry.maximumSize`), so memory
/// stays bounded whatever the input.
public struct LedgerBatchParser {
    /// The most entries one batch may hold: 100,000 (about 3 minutes of signing and one transaction of some
    /// 100 MB of entries and nodes at most; larger jobs are split into batches).
    public static let maximumEntries = 100_000
    /// The most bytes one batch may take, blank lines included: 64 MiB.
    public static let maximumBytes = 64 << 20

    /// What the input is called in messages (for example `stdin`).
    public let source: String
    /// The most drafts this parser accepts (`maximumEntries` unless given).
    public let entryLimit: Int
    /// The most bytes this parser accepts (`maximumBytes` unless given).
    public let byteLimit: Int
    /// The drafts parsed so far, in order.
    public private(set) var drafts: [LedgerEntryDraft] = []
    private var pending: [UInt8] = []
    private var lineNumber = 0
    private var received = 0

    /// A parser for input called `source` in messages, refusing more than `entryLimit` drafts or `byteLimit`
    /// bytes.
    public init(source: String, entryLimit: Int = maximumEntries, byteLimit: Int = maximumBytes) {
        self.source = source
        self.entryLimit = entryLimit
        self.byteLimit = byteLimit
    }

    /// Parses every complete line in `bytes` (and what was left over from before).
    /// - Throws: `LedgerBatchError` for a bad or overlong line, or a batch past its bounds.
    public mutating func consume(_ bytes: some Collection<UInt8>) throws {
        received += bytes.count
        guard received <= byteLimit else { throw LedgerBatchError.tooLarge(source: source, limit: byteLimit) }
        // Only the new bytes are searched for a newline: what was pending holds none.
        var searchFrom = pending.count
        pending.append(contentsOf: bytes)
        var start = 0
        while let newline = pending.withUnsafeBytes({ buffer -> Int? in
            guard searchFrom < buffer.count, let base = buffer.baseAddress,
                  let found = memchr(base + searchFrom, 0x0a, buffer.count - searchFrom) else { return nil }
            return base.distance(to: UnsafeRawPointer(found))
        }) {
            try take(pending[start..<newline])
            start = newline + 1
            searchFrom = start
        }
        pending.removeFirst(start)
        if pending.count > LedgerEntry.maximumSize {
            throw LedgerBatchError.lineTooLong(source: source, line: lineNumber + 1, limit: LedgerEntry.maximumSize)
        }
    }

    /// Parses the last line (if it had no newline) and returns every draft.
    /// - Throws: `LedgerBatchError` for a bad last line or a batch without drafts.
    public mutating func finish() throws -> [LedgerEntryDraft] {
        if !pending.isEmpty {
            try take(pending[...])
            pending = []
        }
        guard !drafts.isEmpty else { throw LedgerBatchError.empty(source: source) }
        return drafts
    }

    private mutating func take(_ line: ArraySlice<UInt8>) throws {
        lineNumber += 1
        var bytes = Array(line)
        if bytes.last == 0x0d { bytes.removeLast() }
        let blank = bytes.withUnsafeBufferPointer { buffer in
            !buffer.contains { $0 != 0x20 && $0 != 0x09 }
        }
        if blank { return }
        guard drafts.count < entryLimit else {
            throw LedgerBatchError.tooManyEntries(source: source, limit: entryLimit)
        }
        do {
            drafts.append(try LedgerEntryDraft(jsonLine: bytes))
        } catch LedgerError.invalid(let problem) {
            throw LedgerBatchError.badLine(source: source, line: lineNumber, problem: problem)
        }
    }
}
