import CustodyBase
import CustodyIO
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A `ChunkReader` that imitates a failing disk over another reader, for tests and for measuring the
/// bad-sector path: reads touching a bad range fail with EIO (or, in `.shortRead` mode, stop short before it,
/// as some drivers do), and transient faults fail a given number of times before reading normally.
public struct FaultInjectingReader: ChunkReader {
    /// One injected fault over a byte range.
    public struct Fault: Sendable, Equatable {
        /// First byte of the range.
        public var offset: UInt64
        /// Bytes in the range.
        public var length: UInt64
        /// nil: the range never reads; n: the first n reads touching it fail, later ones succeed.
        public var failuresBeforeSuccess: Int?

        /// A range that never reads.
        public static func permanent(offset: UInt64, length: UInt64) -> Fault {
            Fault(offset: offset, length: length, failuresBeforeSuccess: nil)
        }

        /// A range whose first `failures` reads fail.
        public static func transient(offset: UInt64, length: UInt64, failures: Int) -> Fault {
            Fault(offset: offset, length: length, failuresBeforeSuccess: failures)
        }

        var end: UInt64 { offset + length }
    }

    /// How a read touching a fault fails.
    public enum Mode: Sendable, Equatable {
        /// The whole read fails with EIO.
        case error
        /// The read returns the bytes before the first faulty byte (EIO when there are none).
        case shortRead
    }

    /// The reader whose bytes are read where no fault applies.
    public let base: ChunkReader
    /// The injected faults.
    public let faults: [Fault]
    /// How a read touching a fault fails.
    public let mode: Mode
    private let counters: Counters

    /// The base reader's size.
    public var knownSize: UInt64? { base.knownSize }
    /// Whether the base reader reads at any offset.
    public var supportsPositionalReads: Bool { base.supportsPositionalReads }

    /// Injects `faults` into reads of `base`, failing them as `mode` says.
    public init(_ base: ChunkReader, faults: [Fault], mode: Mode = .error) {
        self.base = base
        self.faults = faults
        self.mode = mode
        self.counters = Counters(faultCount: faults.count)
    }

    /// Reads attempted so far, and how many of them failed (or were cut short).
    public var statistics: (reads: Int, failures: Int) { counters.statistics }

    /// Reads from the base reader, failing (or cutting short) reads that touch a fault still failing.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        let end = offset + UInt64(buffer.count)
        let touched = faults.indices.filter { faults[$0].offset < end && offset < faults[$0].end }
        let failing = counters.failing(touched, faults: faults)
        guard let firstBad = failing.map({ max(faults[$0].offset, offset) }).min() else {
            return try base.read(into: buffer, at: offset)
        }
        if mode == .shortRead && firstBad > offset {
            let prefix = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(firstBad - offset)])
            return try base.read(into: prefix, at: offset)
        }
        throw SystemError(operation: "read at byte \(offset) (injected fault at byte \(firstBad))",
                          path: "fault-injector", code: EIO)
    }

    /// Attempt counters shared by copies of the reader and by concurrent readers.
    private final class Counters: Sendable {
        private struct State {
            var attempts: [Int]
            var reads = 0
            var failures = 0
        }

        private let state: Mutex<State>

        init(faultCount: Int) { state = Mutex(State(attempts: Array(repeating: 0, count: faultCount))) }

        var statistics: (reads: Int, failures: Int) { state.withLock { ($0.reads, $0.failures) } }

        /// Counts one read touching `touched` and returns the faults that make it fail.
        func failing(_ touched: [Int], faults: [Fault]) -> [Int] {
            state.withLock { state in
                state.reads += 1
                var failing: [Int] = []
                for index in touched {
                    if let limit = faults[index].failuresBeforeSuccess {
                        guard state.attempts[index] < limit else { continue }
                        state.attempts[index] += 1
                    }
                    failing.append(index)
                }
                if !failing.isEmpty { state.failures += 1 }
                return failing
            }
        }
    }
}
