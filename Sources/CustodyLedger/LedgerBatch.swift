import CustodyBase

/// Why a batch of entry drafts (JSON lines) was refused; nothing of it is appended.
public enum LedgerBatchError: CustodyFailure, Equatable {
    /// Line `line` of `source` is not a draft custody accepts.
    case badLine(source: String, line: Int, problem: LedgerRecordProblem)
    /// Line `line` of `source` is longer than `limit` bytes.
    case lineTooLong(source: String, line: Int, limit: Int)
    /// `source` holds no draft at all.
    case empty(source: String)

    /// A batch that does not parse is input that could not be used.
    public var kind: FailureKind { .operational }

    /// The message: the source, the line number and what is wrong.
    public var description: String {
        switch self {
        case .badLine(let source, let line, let problem): "\(source) line \(line): \(problem); nothing was appended"
        case .lineTooLong(let source, let line, let limit): "\(source) line \(line): longer than \(limit) bytes"
        case .empty(let source): "\(source): no entries"
        }
    }
}

/// Reads a batch of entry drafts, one JSON object a line (`LedgerEntryDraft(jsonLine:)`), from bytes handed over
/// in pieces of any size: lines may end in LF or CRLF, blank lines are skipped, the last line needs no newline.
/// The first bad line stops the batch, named by its number in `source`.
public struct LedgerBatchParser {
    /// What the input is called in messages (for example `stdin`).
    public let source: String
    /// The drafts parsed so far, in order.
    public private(set) var drafts: [LedgerEntryDraft] = []
    private var pending: [UInt8] = []
    private var lineNumber = 0

    /// A parser for input called `source` in messages.
    public init(source: String) { self.source = source }

    /// Parses every complete line in `bytes` (and what was left over from before).
    /// - Throws: `LedgerBatchError` for a bad or overlong line.
    public mutating func consume(_ bytes: some Collection<UInt8>) throws {
        pending.append(contentsOf: bytes)
        var start = 0
        while let newline = pending[start...].firstIndex(of: 0x0a) {
            try take(pending[start..<newline])
            start = newline + 1
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
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
        do {
            drafts.append(try LedgerEntryDraft(jsonLine: bytes))
        } catch LedgerError.invalid(let problem) {
            throw LedgerBatchError.badLine(source: source, line: lineNumber, problem: problem)
        }
    }
}
