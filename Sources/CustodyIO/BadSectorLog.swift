import CustodyBase
import Synchronization

/// One unreadable byte range, zero-filled in the acquired image.
public struct BadRange: Sendable, Equatable, Hashable {
    /// The first unreadable byte.
    public var offset: UInt64
    /// The number of unreadable bytes.
    public var length: UInt64

    /// The range of `length` bytes from `offset`.
    public init(offset: UInt64, length: UInt64) {
        self.offset = offset
        self.length = length
    }

    /// The byte after the range.
    public var end: UInt64 { offset + length }

    /// `{"length":N,"offset":N}`.
    public var json: JSONValue {
        .object(["offset": .int(Int64(clamping: offset)), "length": .int(Int64(clamping: length))])
    }

    /// Parses a JSON list of ranges: sorted, non-empty, non-overlapping and not adjacent (as the log writes it).
    public static func parseList(_ json: JSONValue) throws -> [BadRange] {
        guard case .array(let items) = json else { throw IOError.malformedBadRanges(problem: "not a JSON array") }
        var ranges: [BadRange] = []
        for (index, item) in items.enumerated() {
            guard case .object(let members) = item, members.count == 2,
                  case .int(let offset)? = members["offset"], case .int(let length)? = members["length"],
                  offset >= 0, length > 0 else {
                throw IOError.malformedBadRanges(
                    problem: "entry \(index) is not {\"offset\":N,\"length\":N} with a positive length")
            }
            let range = BadRange(offset: UInt64(offset), length: UInt64(length))
            if let previous = ranges.last, range.offset <= previous.end {
                throw IOError.malformedBadRanges(problem: "entry \(index) overlaps or touches the one before it")
            }
            ranges.append(range)
        }
        return ranges
    }
}

/// The unreadable ranges met during one acquisition, shared by every reading thread.
///
/// Ranges are kept sorted and merged into runs, so the list is the same whatever order concurrent readers
/// found them in. Read it once the run has finished.
public final class BadSectorLog: Sendable {
    private struct State: Sendable {
        var ranges: [BadRange] = []
        var badBytes: UInt64 = 0
        var badSectors: UInt64 = 0
        var recoveredReads: UInt64 = 0
        var firstError: String?
    }

    private let state = Mutex(State())

    /// An empty log.
    public init() {}

    /// The zero-filled ranges, sorted, adjacent ranges merged.
    public var ranges: [BadRange] { state.withLock { $0.ranges } }
    /// Bytes replaced with zeros.
    public var badBytes: UInt64 { state.withLock { $0.badBytes } }
    /// Sectors replaced with zeros (a short last sector of an image counts as one).
    public var badSectors: UInt64 { state.withLock { $0.badSectors } }
    /// Reads that failed at first and succeeded on a retry (nothing was lost).
    public var recoveredReads: UInt64 { state.withLock { $0.recoveredReads } }
    /// The first error met, for the report (`read at byte N: Input/output error`).
    public var firstError: String? { state.withLock { $0.firstError } }
    /// Whether the image is complete (no zero filling happened).
    public var isClean: Bool { state.withLock { $0.ranges.isEmpty } }

    /// Records one unreadable sector (or a run of them) that was zero-filled.
    public func recordBad(offset: UInt64, length: UInt64, sectors: UInt64 = 1, error: String? = nil) {
        guard length > 0 else { return }
        state.withLock { state in
            state.badBytes += length
            state.badSectors += sectors
            if state.firstError == nil { state.firstError = error }
            state.ranges = BadSectorLog.inserting(BadRange(offset: offset, length: length), into: state.ranges)
        }
    }

    /// Records a read that succeeded after failing.
    public func recordRecovered() {
        state.withLock { $0.recoveredReads += 1 }
    }

    /// Notes an error message if none was recorded yet.
    func noteError(_ message: String) {
        state.withLock { if $0.firstError == nil { $0.firstError = message } }
    }

    /// Inserts `range` into sorted, merged `ranges`, merging with neighbours it overlaps or touches.
    static func inserting(_ range: BadRange, into ranges: [BadRange]) -> [BadRange] {
        // Sectors mostly arrive in order: appending to, or growing, the last run avoids copying the list.
        if let last = ranges.last, last.offset <= range.offset {
            var result = ranges
            if last.end < range.offset {
                result.append(range)
            } else {
                result[result.count - 1].length = max(last.end, range.end) - last.offset
            }
            return result
        }
        var result: [BadRange] = []
        result.reserveCapacity(ranges.count + 1)
        var pending = range
        var placed = false
        for existing in ranges {
            if existing.end < pending.offset {
                result.append(existing)
            } else if pending.end < existing.offset {
                if !placed {
                    result.append(pending)
                    placed = true
                }
                result.append(existing)
            } else {
                let start = min(existing.offset, pending.offset)
                pending = BadRange(offset: start, length: max(existing.end, pending.end) - start)
            }
        }
        if !placed { result.append(pending) }
        return result
    }

    /// `{"badBytes":N,"badRanges":[{"length":N,"offset":N},...],"badSectors":N,"recoveredReads":N}`.
    public var json: JSONValue {
        state.withLock { state in
            .object([
                "badRanges": .array(state.ranges.map(\.json)),
                "badBytes": .int(Int64(clamping: state.badBytes)),
                "badSectors": .int(Int64(clamping: state.badSectors)),
                "recoveredReads": .int(Int64(clamping: state.recoveredReads)),
            ])
        }
    }

    /// One sentence for reports: nil when the image is complete.
    public var summary: String? {
        state.withLock { state in
            guard !state.ranges.isEmpty else { return nil }
            let runs = state.ranges.count == 1 ? "1 range" : "\(state.ranges.count) ranges"
            return "\(state.badSectors) unreadable sector(s) (\(state.badBytes) bytes in \(runs)) were replaced "
                + "with zeros; the digests cover the zero-filled image"
        }
    }
}
