import CustodyBase
#if canImport(Glibc)
import Glibc
#endif
internal import CCustodySystem
import Dispatch
import Synchronization

/// Writes a file sequentially through two page-aligned staging buffers sent with `O_DIRECT`, past the page cache.
///
/// Large outputs (packed images, age files) written through the page cache cost the kernel a page allocation and a
/// copy for every 4 KiB, and on virtual machines that hand freed memory back to their host (free page reporting)
/// touching those pages again costs from one to ten times as much from one run to the next. Direct writes from the
/// same two buffers avoid both and leave the page cache to data that is read again.
///
/// The bytes before the first aligned block, and at each `flush()` the unaligned tail, go through the page cache
/// (a later direct write of that block replaces them: the kernel writes back and drops cached pages a direct write
/// covers). Where the file system refuses `O_DIRECT` (setting the flag or a direct write fails), everything goes
/// through the page cache; the file's bytes are the same either way. One thread writes at a time (a pipeline's
/// ordered stage or a serial queue); a full buffer is written by a background queue while the other one fills.
public final class DirectWriter: @unchecked Sendable {
    /// Offsets, lengths and buffer addresses of direct writes are multiples of this (covers 512 and 4096 byte
    /// logical blocks).
    public static let alignment = 4096

    /// The file written.
    public let output: FileDescriptor
    private let capacity: Int
    private let buffers: [UnsafeMutableRawPointer]
    /// Signalled when a buffer's background write is over.
    private let idle: [DispatchSemaphore]
    private let queue = DispatchQueue(label: "custody.direct-write", qos: .userInitiated)
    private let failure = Mutex<CustodyErrorBox?>(nil)
    private let direct = Atomic<Bool>(false)
    private var current = 0
    /// File offset of the current buffer's first byte (aligned once direct writing has started).
    private var base: UInt64
    /// Bytes in the current buffer.
    private var filled = 0
    /// Until the file offset reaches this aligned boundary, bytes are written through the page cache at once.
    private var headEnd: UInt64

    /// Prepares to write `output` from byte `offset` on; `bufferSize` is rounded up to the alignment.
    public init(_ output: FileDescriptor, at offset: UInt64, bufferSize: Int = 4 << 20) {
        self.output = output
        let capacity = max(1, (bufferSize + DirectWriter.alignment - 1) / DirectWriter.alignment)
            * DirectWriter.alignment
        self.capacity = capacity
        buffers = (0..<2).map { _ in
            UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: DirectWriter.alignment)
        }
        idle = (0..<2).map { _ in DispatchSemaphore.permits(1) }
        base = offset
        headEnd = offset
        begin(at: offset)
    }

    deinit {
        waitForBackgroundWrites()
        for buffer in buffers { buffer.deallocate() }
        stopDirect()
    }

    /// The file offset the next byte goes to.
    public var position: UInt64 { base + UInt64(filled) }

    /// Whether whole blocks currently bypass the page cache.
    public var isDirect: Bool { direct.load(ordering: .relaxed) }

    /// Appends `bytes` at `position`.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try checkFailure()
        var rest = bytes
        if base < headEnd && !rest.isEmpty {
            let head = Int(min(UInt64(rest.count), headEnd - base))
            try output.writeAll(UnsafeRawBufferPointer(rebasing: rest[0..<head]), at: base)
            base += UInt64(head)
            rest = UnsafeRawBufferPointer(rebasing: rest[head...])
            if base == headEnd { startDirect() }
        }
        while !rest.isEmpty {
            let count = min(rest.count, capacity - filled)
            (buffers[current] + filled).copyMemory(from: rest.baseAddress!, byteCount: count)
            filled += count
            rest = UnsafeRawBufferPointer(rebasing: rest[count...])
            if filled == capacity { try submitFull() }
        }
    }

    /// Appends `bytes` at `offset`: where that is not `position`, what is staged is flushed first and writing
    /// goes on from `offset`.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        if offset != position { try reposition(to: offset) }
        try write(bytes)
    }

    /// Puts every byte written so far into the file (the caller syncs it when it must be durable).
    public func flush() throws {
        waitForBackgroundWrites()
        try checkFailure()
        guard filled > 0 else { return }
        let whole = filled / DirectWriter.alignment * DirectWriter.alignment
        if whole > 0 {
            try writeBlocks(UnsafeRawBufferPointer(start: buffers[current], count: whole), at: base)
        }
        let tail = filled - whole
        guard tail > 0 else {
            base += UInt64(filled)
            filled = 0
            return
        }
        let tailStart = buffers[current] + whole
        try throughPageCache {
            try output.writeAll(UnsafeRawBufferPointer(start: tailStart, count: tail), at: base + UInt64(whole))
        }
        // The tail stays staged: the next direct write of its block writes it again, whole.
        if whole > 0 { buffers[current].copyMemory(from: tailStart, byteCount: tail) }
        base += UInt64(whole)
        filled = tail
    }

    /// Flushes, turns direct I/O off again and leaves the file offset at `position`.
    public func finish() throws {
        try flush()
        stopDirect()
        try output.seek(to: Int64(position))
    }

    private func reposition(to offset: UInt64) throws {
        try flush()
        stopDirect()
        begin(at: offset)
    }

    /// Writing starts (again) at `offset`: through the page cache up to the next aligned block, direct from there.
    private func begin(at offset: UInt64) {
        let align = UInt64(DirectWriter.alignment)
        filled = 0
        base = offset
        headEnd = (offset + align - 1) / align * align
        if offset == headEnd { startDirect() }
    }

    private func startDirect() {
        direct.store(custody_set_direct_io(output.rawValue, 1) == 0, ordering: .relaxed)
    }

    private func stopDirect() {
        if direct.exchange(false, ordering: .relaxed) { _ = custody_set_direct_io(output.rawValue, 0) }
    }

    private func submitFull() throws {
        let index = current, at = base, count = capacity
        idle[index].wait()
        queue.async {
            defer { self.idle[index].signal() }
            do {
                try self.writeBlocks(UnsafeRawBufferPointer(start: self.buffers[index], count: count), at: at)
            } catch {
                self.failure.withLock { if $0 == nil { $0 = CustodyErrorBox(error) } }
            }
        }
        current ^= 1
        base += UInt64(capacity)
        filled = 0
        idle[current].wait()
        idle[current].signal()
        try checkFailure()
    }

    /// Writes whole aligned blocks. A direct write that fails (a file system that accepts the flag but not the
    /// writes, typically with EINVAL) is made again through the page cache, and so is everything after it; an
    /// error that is not about direct I/O (a full disk, a failing device) fails that second write too and is thrown.
    private func writeBlocks(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        do {
            try output.writeAll(bytes, at: offset)
        } catch where direct.load(ordering: .relaxed) {
            stopDirect()
            try output.writeAll(bytes, at: offset)
        }
    }

    private func throughPageCache(_ body: () throws -> Void) throws {
        guard direct.load(ordering: .relaxed) else { return try body() }
        _ = custody_set_direct_io(output.rawValue, 0)
        defer { _ = custody_set_direct_io(output.rawValue, 1) }
        try body()
    }

    /// Waits for the buffer being written in the background, if any (before closing the descriptor on failure).
    public func waitForBackgroundWrites() {
        for semaphore in idle {
            semaphore.wait()
            semaphore.signal()
        }
    }

    private func checkFailure() throws {
        if let box = failure.withLock({ $0 }) { throw box.error }
    }
}

/// A `ByteSink` over a `DirectWriter`.
package final class DirectSink: ByteSink, @unchecked Sendable {
    /// The writer the sink writes through.
    package let writer: DirectWriter

    /// A sink writing through `writer`.
    package init(_ writer: DirectWriter) { self.writer = writer }

    /// Writes `bytes` through the writer.
    package func write(_ bytes: UnsafeRawBufferPointer) throws { try writer.write(bytes) }
}
