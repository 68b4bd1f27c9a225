import CustodyBase
import Synchronization

/// How a `ResilientReader` handles read errors (SPEC.md section 7.1).
public struct ReadPolicy: Sendable, Equatable {
    /// Further attempts after a read fails, both for a whole chunk and for each sector. Default 3.
    public var retries: Int
    /// The granularity bad ranges are narrowed to; nil lets the source decide (its logical sector size, or 512).
    public var sectorSize: Int?

    /// A policy of `retries` (at least 0) and `sectorSize` (nil: the source's).
    public init(retries: Int = 3, sectorSize: Int? = nil) {
        self.retries = max(0, retries)
        self.sectorSize = sectorSize
    }
}

/// A `ChunkReader` for failing media: wraps another reader and never lets one bad sector end an acquisition.
///
/// A read that fails is retried `policy.retries` times; if it still fails, the range is split in halves
/// (at sector boundaries) and each half read again, down to single sectors; a sector that fails every retry
/// is filled with zeros and recorded in the `BadSectorLog`. When the size is known, a short read before the
/// end counts as a failure of the bytes it did not return. Readers without positional reads (streams) cannot
/// re-read: their errors are passed on unchanged.
public struct ResilientReader: ChunkReader {
    /// The reader wrapped.
    public let base: ChunkReader
    /// Retries and sector size.
    public let policy: ReadPolicy
    /// Where zero-filled ranges are recorded.
    public let log: BadSectorLog
    /// Narrowing granularity in bytes.
    public let sectorSize: Int
    /// Polled while narrowing (which can take long on a dying disk); true stops with "interrupted".
    public let shouldStop: (@Sendable () -> Bool)?

    /// The wrapped reader's size.
    public var knownSize: UInt64? { base.knownSize }
    /// Whether the wrapped reader reads at any offset (needed to re-read).
    public var supportsPositionalReads: Bool { base.supportsPositionalReads }

    /// Wraps `base`: failures are retried, narrowed and zero-filled as `policy` says, recorded in `log`;
    /// `shouldStop` ends a long retry early.
    public init(_ base: ChunkReader, policy: ReadPolicy = ReadPolicy(), log: BadSectorLog,
                shouldStop: (@Sendable () -> Bool)? = nil) {
        self.base = base
        self.policy = policy
        self.log = log
        let size = policy.sectorSize ?? 512
        self.sectorSize = size > 0 ? size : 512
        self.shouldStop = shouldStop
    }

    private enum Outcome {
        case complete
        case short(Int)
        case failed(String)
    }

    /// Reads the range, zero-filling and recording what stays unreadable.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        guard base.supportsPositionalReads else { return try base.read(into: buffer, at: offset) }
        let wanted = expected(buffer.count, at: offset)
        guard wanted > 0 else { return 0 }
        let target = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<wanted])
        for attempt in 0...policy.retries {
            switch attemptRead(target, at: offset) {
            case .complete:
                if attempt > 0 { log.recordRecovered() }
                return wanted
            case .short(let count):
                if attempt > 0 { log.recordRecovered() }
                return count
            case .failed(let message):
                log.noteError(message)
            }
            try checkStop()
        }
        return try narrow(target, at: offset)
    }

    /// How many bytes a read of `count` at `offset` must return: up to the known end, else all asked for.
    private func expected(_ count: Int, at offset: UInt64) -> Int {
        guard let size = knownSize else { return count }
        guard offset < size else { return 0 }
        return Int(min(UInt64(count), size - offset))
    }

    /// One read. With a known size, a short read is a failure; without, it marks the end of input.
    private func attemptRead(_ buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) -> Outcome {
        do {
            let count = try base.read(into: buffer, at: offset)
            if count >= buffer.count { return .complete }
            if knownSize == nil { return .short(count) }
            return .failed("short read at byte \(offset + UInt64(count)) (\(buffer.count - count) bytes missing)")
        } catch {
            return .failed("\(error)")
        }
    }

    /// Reads `buffer` at `offset` piecewise after a failure; returns the bytes covered (fewer only at the end
    /// of an input of unknown size).
    private func narrow(_ buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        try checkStop()
        if buffer.count <= sectorSize { return try readSector(buffer, at: offset) }
        let sectors = (buffer.count + sectorSize - 1) / sectorSize
        let split = (sectors / 2) * sectorSize
        var covered = 0
        for (start, end) in [(0, split), (split, buffer.count)] {
            let part = UnsafeMutableRawBufferPointer(rebasing: buffer[start..<end])
            let partOffset = offset + UInt64(start)
            let count: Int
            switch attemptRead(part, at: partOffset) {
            case .complete: count = part.count
            case .short(let short): return covered + short
            case .failed: count = try narrow(part, at: partOffset)
            }
            covered += count
            if count < part.count { return covered }
        }
        return covered
    }

    /// Reads one sector with retries; zero-fills and records it when every attempt fails.
    private func readSector(_ buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        var lastMessage = "unreadable"
        for attempt in 0...policy.retries {
            switch attemptRead(buffer, at: offset) {
            case .complete:
                if attempt > 0 { log.recordRecovered() }
                return buffer.count
            case .short(let count):
                return count
            case .failed(let message):
                lastMessage = message
            }
            try checkStop()
        }
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        log.recordBad(offset: offset, length: UInt64(buffer.count), sectors: 1, error: lastMessage)
        return buffer.count
    }

    private func checkStop() throws {
        if let shouldStop, shouldStop() { throw IOError.interrupted }
    }
}
