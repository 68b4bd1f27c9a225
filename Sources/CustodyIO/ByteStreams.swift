import CustodyBase
import Synchronization

/// Where packed or unpacked bytes go, in order.
public protocol ByteSink: Sendable {
    /// Writes all of `bytes` after everything written before.
    func write(_ bytes: UnsafeRawBufferPointer) throws
}

extension FileDescriptor: ByteSink {
    /// Writes all of `bytes` at the current offset.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try writeAll(bytes)
    }
}

/// Collects bytes in memory (tests, small payloads).
public final class MemorySink: ByteSink, @unchecked Sendable {
    private let storage = Mutex<[UInt8]>([])

    /// An empty sink.
    public init() {}

    /// Appends `bytes`.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        storage.withLock { $0.append(contentsOf: bytes) }
    }

    /// Everything written so far.
    public var bytes: [UInt8] { storage.withLock { $0 } }
}

/// Where packed bytes are read from, sequentially (a file, a pipe, memory).
public protocol ByteSource: Sendable {
    /// Fills `buffer` completely unless the input ends first; returns the bytes read (0 at the end).
    func readFully(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

extension FileDescriptor: ByteSource {}

/// Reads from a byte array (tests, payloads already in memory).
public final class MemorySource: ByteSource, @unchecked Sendable {
    private let bytes: [UInt8]
    private let position = Mutex(0)

    /// A source reading `bytes` from the start.
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Copies the next bytes into `buffer`; fewer only at the end.
    public func readFully(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        position.withLock { position in
            let count = min(buffer.count, bytes.count - position)
            if count > 0 {
                bytes.withUnsafeBytes {
                    buffer.baseAddress!.copyMemory(from: $0.baseAddress! + position, byteCount: count)
                }
            }
            position += count
            return count
        }
    }
}
