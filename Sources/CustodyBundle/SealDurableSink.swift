import CustodyBase
import CustodyIO
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A payload file being written: counts the writes (one per chunk), syncs the file every `syncChunks` writes or
/// `syncSeconds` and reports each durable point. Written only from a pipeline's ordered stage, through a
/// `DirectWriter` flushed before each sync; the periodic syncs run on a queue of their own (one at a time), so that
/// writing does not wait for the disk.
final class DurableSink: ByteSink, @unchecked Sendable {
    let output: FileDescriptor
    let syncChunks: UInt64
    let syncSeconds: Double
    /// Called before each write (journals new bad ranges first).
    var beforeWrite: (() throws -> Void)?
    /// Called after each periodic sync with the writes made durable.
    var afterSync: ((UInt64) throws -> Void)?
    /// Writes so far, including those of an interrupted run the sink continues.
    private(set) var chunks: UInt64 = 0
    /// False for a sink continuing an interrupted payload until `restart` has positioned it.
    private(set) var positioned: Bool
    private var sinceSync: UInt64 = 0
    private var lastSync = ContinuousClock.now
    private let syncQueue = DispatchQueue(label: "custody.seal.sync", qos: .userInitiated)
    private let syncState = Mutex<(inFlight: Bool, error: CustodyErrorBox?)>((false, nil))
    private var writer: DirectWriter?

    init(_ output: FileDescriptor, syncChunks: UInt64, syncSeconds: Double, positioned: Bool) {
        self.output = output
        self.positioned = positioned
        self.syncChunks = max(1, syncChunks)
        self.syncSeconds = syncSeconds
    }

    /// Cuts the file to `size` (what an interrupted run wrote and was verified), syncs it and appends from there.
    func restart(at size: UInt64, chunks: UInt64) throws {
        try output.truncate(to: size)
        try output.sync()
        _ = try output.seek(to: Int64(size))
        writer = DirectWriter(output, at: size)
        self.chunks = chunks
        positioned = true
        try afterSync?(chunks)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        try beforeWrite?()
        if let failure = syncState.withLock({ $0.error }) { throw failure.error }
        if writer == nil { writer = DirectWriter(output, at: try output.seek(to: 0, whence: SEEK_CUR)) }
        try writer!.write(bytes)
        chunks += 1
        sinceSync += 1
        let elapsed = ContinuousClock.now - lastSync
        guard sinceSync >= syncChunks || elapsed >= .milliseconds(Int64(syncSeconds * 1000)) else { return }
        let start = syncState.withLock { state -> Bool in
            if state.inFlight { return false }
            state.inFlight = true
            return true
        }
        guard start else { return }
        do { try writer!.flush() } catch {
            syncState.withLock { $0.inFlight = false }
            throw error
        }
        sinceSync = 0
        lastSync = .now
        let durable = chunks
        syncQueue.async {
            do {
                try self.output.sync()
                try self.afterSync?(durable)
                self.syncState.withLock { $0.inFlight = false }
            } catch {
                self.syncState.withLock { $0 = (false, CustodyErrorBox(error)) }
            }
        }
    }

    /// Puts every byte written into the file, waits for the sync in flight, if any, and rethrows a failure.
    func drain() throws {
        syncQueue.sync {}
        try writer?.finish()
        if let failure = syncState.withLock({ $0.error }) { throw failure.error }
    }
}
