#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// One chunk of input as the pipeline's stages see it. The bytes stay valid until every stage of the
/// chunk has returned; do not keep the pointer afterwards.
public struct Chunk: @unchecked Sendable {
    /// Zero-based chunk number.
    public let index: UInt64
    /// Byte offset of the chunk in the input.
    public let offset: UInt64
    /// The chunk's content (shorter than the chunk size only for the last chunk).
    public let bytes: UnsafeRawBufferPointer
}

/// What a pipeline computed over the whole input.
public struct PipelineResult: Sendable {
    /// Total bytes read.
    public var size: UInt64
    public var chunkSize: Int
    /// Number of chunks (0 for empty input).
    public var chunkCount: UInt64
    /// RFC 6962 root over the chunks' leaf hashes, when the tree digest was asked for.
    public var treeRoot: Hash32?
    /// Every leaf hash in order, when `keepLeaves` was set.
    public var leaves: [Hash32]
    /// The linear digests asked for.
    public var digests: [DigestAlgorithm: [UInt8]]
}

/// Reads an input once in fixed-size chunks and runs, per chunk:
/// - in parallel on Dispatch workers: the RFC 6962 leaf hash and an optional caller stage (e.g. compression);
/// - in order, each on its own serial queue: every linear digest asked for;
/// - in chunk order: the tree accumulator (under a lock, by whichever worker completes the next chunk) and the
///   caller's ordered stage (e.g. writing output) on one serial queue.
///
/// Memory is a fixed pool of `slotCount` chunk buffers whatever the input size: the reader waits for a
/// free buffer, and a buffer returns to the pool only when every stage of its chunk has finished.
public struct ChunkPipeline: Sendable {
    public var chunkSize: Int
    public var linearDigests: [DigestAlgorithm]
    public var computeTree: Bool
    public var keepLeaves: Bool
    /// Positional readers working at once (1 = one sequential reader, kinder to spinning disks).
    public var readers: Int
    /// Chunk buffers in the pool.
    public var slotCount: Int
    /// Called after each chunk is read with the running byte count (from the reading thread).
    public var progress: (@Sendable (UInt64) -> Void)?
    /// Polled between chunks; returning true stops the run with `CustodyError("interrupted")`.
    public var shouldStop: (@Sendable () -> Bool)?

    /// The default pool: enough buffers to keep every core busy while one is being read.
    public static func defaultSlotCount(chunkSize: Int) -> Int {
        let cores = max(1, activeProcessorCount())
        return max(3, min(2 * cores + 2, (512 << 20) / max(chunkSize, 1)))
    }

    public init(chunkSize: Int, linearDigests: [DigestAlgorithm], computeTree: Bool = true,
                keepLeaves: Bool = false, readers: Int = 1, slotCount: Int? = nil) {
        self.chunkSize = chunkSize
        self.linearDigests = linearDigests
        self.computeTree = computeTree
        self.keepLeaves = keepLeaves
        self.readers = max(1, readers)
        self.slotCount = slotCount ?? ChunkPipeline.defaultSlotCount(chunkSize: chunkSize)
    }

    /// Runs the pipeline with no caller stages.
    public func run(_ reader: ChunkReader) throws -> PipelineResult {
        try run(reader, parallel: { _ in () }, ordered: nil)
    }

    /// Runs the pipeline. `parallel` runs concurrently for different chunks; its result reaches `ordered`,
    /// which runs for chunk 0, 1, 2... in turn, after that chunk's parallel stage. The first error thrown
    /// anywhere stops reading and is rethrown once in-flight chunks have drained.
    public func run<Work: Sendable>(
        _ reader: ChunkReader,
        parallel: @escaping @Sendable (Chunk) throws -> Work,
        ordered: (@Sendable (Chunk, Work) throws -> Void)?
    ) throws -> PipelineResult {
        precondition(chunkSize > 0)
        let run = PipelineRun(configuration: self, reader: reader, parallel: parallel, ordered: ordered)
        return try run.execute()
    }
}

/// The state of one pipeline execution.
private final class PipelineRun<Work: Sendable>: @unchecked Sendable {
    private let configuration: ChunkPipeline
    private let reader: ChunkReader
    private let parallel: @Sendable (Chunk) throws -> Work
    private let ordered: (@Sendable (Chunk, Work) throws -> Void)?

    private let slots: [UnsafeMutableRawBufferPointer]
    private let freeSlots: Mutex<[Int]>
    private let slotAvailable: DispatchSemaphore
    private let inFlight = DispatchGroup()
    private let workers = DispatchQueue.global(qos: .userInitiated)
    private let orderedQueue = DispatchQueue(label: "custody.pipeline.ordered", qos: .userInitiated)
    private let linearQueues: [DispatchQueue]
    private let digesters: [Digester]

    private struct Shared {
        var firstError: Error?
        var nextIndex: UInt64 = 0
        var nextToDispatch: UInt64 = 0
        var readyChunks: [UInt64: (chunk: Chunk, slot: Int)] = [:]
        var bytesRead: UInt64 = 0
        var endIndex: UInt64?
    }

    private let shared = Mutex(Shared())

    private struct OrderedState {
        var nextIndex: UInt64 = 0
        var pending: [UInt64: (chunk: Chunk, box: ResultBox<Work>, completion: ChunkCompletion)] = [:]
        var accumulator = MerkleAccumulator()
        var leaves: [Hash32] = []
    }

    private let orderedState = Mutex(OrderedState())
    /// The last running total given to `progress`.
    private let reported = Mutex<UInt64>(0)

    init(configuration: ChunkPipeline, reader: ChunkReader,
         parallel: @escaping @Sendable (Chunk) throws -> Work,
         ordered: (@Sendable (Chunk, Work) throws -> Void)?) {
        self.configuration = configuration
        self.reader = reader
        self.parallel = parallel
        self.ordered = ordered
        slots = (0..<configuration.slotCount).map { _ in
            UnsafeMutableRawBufferPointer.allocate(byteCount: configuration.chunkSize, alignment: 4096)
        }
        freeSlots = Mutex(Array(0..<configuration.slotCount))
        slotAvailable = DispatchSemaphore(value: configuration.slotCount)
        linearQueues = configuration.linearDigests.map {
            DispatchQueue(label: "custody.pipeline.\($0.rawValue)", qos: .userInitiated)
        }
        digesters = configuration.linearDigests.map { Digester($0) }
    }

    deinit {
        for slot in slots { slot.deallocate() }
    }

    func execute() throws -> PipelineResult {
        let readerCount = reader.supportsPositionalReads ? configuration.readers : 1
        if readerCount == 1 {
            readLoop()
        } else {
            // Readers block (on the buffer pool, on I/O), so they run on threads of their own: on Dispatch's
            // pool they would take its few threads from the chunk work that frees their buffers.
            runOnThreads(readerCount) { self.readLoop() }
        }
        inFlight.wait()
        // After a failure, chunks read past the failing one are never dispatched: give their buffers back so
        // the pool (and its semaphore, which libdispatch refuses to free below its initial value) is whole.
        let parked = shared.withLock { state in
            defer { state.readyChunks = [:] }
            return state.readyChunks.values.map(\.slot)
        }
        for slot in parked { releaseSlot(slot) }
        let state = shared.withLock { $0 }
        if let error = state.firstError { throw error }
        let tree = orderedState.withLock { (root: $0.accumulator.root, leaves: $0.leaves) }
        var digests: [DigestAlgorithm: [UInt8]] = [:]
        for digester in digesters { digests[digester.algorithm] = digester.finalize() }
        return PipelineResult(
            size: state.bytesRead,
            chunkSize: configuration.chunkSize,
            chunkCount: state.nextToDispatch,
            treeRoot: configuration.computeTree ? tree.root : nil,
            leaves: tree.leaves,
            digests: digests
        )
    }

    private func fail(_ error: Error) {
        shared.withLock { state in
            if state.firstError == nil { state.firstError = error }
        }
    }

    private var failed: Bool { shared.withLock { $0.firstError != nil } }

    /// Takes a buffer, then the next chunk index, reads it and hands it on; until end of input or failure.
    private func readLoop() {
        while true {
            if let stop = configuration.shouldStop, stop() {
                fail(CustodyError.operational("interrupted"))
                return
            }
            slotAvailable.wait()
            let slot = freeSlots.withLock { $0.removeLast() }
            let claim = shared.withLock { state -> UInt64? in
                if state.firstError != nil { return nil }
                if let end = state.endIndex, state.nextIndex >= end { return nil }
                defer { state.nextIndex += 1 }
                return state.nextIndex
            }
            guard let index = claim else {
                releaseSlot(slot)
                return
            }
            let offset = index * UInt64(configuration.chunkSize)
            let buffer = slots[slot]
            let count: Int
            do {
                count = try reader.read(into: buffer, at: offset)
            } catch {
                fail(error)
                releaseSlot(slot)
                return
            }
            let isLast = count < configuration.chunkSize
            if isLast {
                shared.withLock { state in
                    let end = count == 0 ? index : index + 1
                    state.endIndex = min(state.endIndex ?? end, end)
                }
            }
            // An empty input still has no chunks; a chunk of zero bytes past the end is dropped.
            if count == 0 {
                releaseSlot(slot)
                finishReady(index: index, chunk: nil, slot: slot)
                return
            }
            let chunk = Chunk(index: index, offset: offset,
                              bytes: UnsafeRawBufferPointer(start: buffer.baseAddress, count: count))
            finishReady(index: index, chunk: chunk, slot: slot)
            if isLast { return }
        }
    }

    /// Queues chunks for processing strictly in index order, whichever reader finished them.
    private func finishReady(index: UInt64, chunk: Chunk?, slot: Int) {
        let progress: UInt64? = shared.withLock { state -> UInt64? in
            if let chunk { state.readyChunks[index] = (chunk, slot) }
            var advanced = false
            while let ready = state.readyChunks.removeValue(forKey: state.nextToDispatch) {
                state.bytesRead += UInt64(ready.chunk.bytes.count)
                state.nextToDispatch += 1
                dispatch(ready.chunk, slot: ready.slot)
                advanced = true
            }
            return advanced ? state.bytesRead : nil
        }
        if let progress, let report = configuration.progress {
            // Several readers may get here out of order: report under a lock, and only totals that grew.
            reported.withLock { last in
                guard progress > last else { return }
                last = progress
                report(progress)
            }
        }
    }

    /// Enqueues every stage of one chunk; called in chunk order, under the shared lock. The chunk's buffer goes
    /// back to the pool as soon as its last stage ends, from that stage's thread: no extra hop, no blocked thread.
    private func dispatch(_ chunk: Chunk, slot: Int) {
        inFlight.enter()
        let completion = ChunkCompletion(stages: linearQueues.count + 1, slot: slot)
        for (queue, digester) in zip(linearQueues, digesters) {
            queue.async {
                digester.update(chunk.bytes)
                self.stageFinished(completion)
            }
        }
        let box = ResultBox<Work>()
        let computeTree = configuration.computeTree
        workers.async {
            if !self.failed {
                if computeTree { box.leaf = Merkle.leafHash(chunk.bytes) }
                do { box.work = try self.parallel(chunk) } catch { self.fail(error) }
            }
            self.parallelFinished(chunk, box: box, completion: completion)
        }
    }

    /// Takes every chunk whose parallel stage is done and whose predecessors are taken, in chunk order: appends
    /// its leaf to the tree, then runs the caller's ordered stage on `orderedQueue` (or ends the chunk's stage).
    private func parallelFinished(_ chunk: Chunk, box: ResultBox<Work>, completion: ChunkCompletion) {
        typealias Ready = (chunk: Chunk, box: ResultBox<Work>, completion: ChunkCompletion)
        let ready = orderedState.withLock { state -> [Ready] in
            state.pending[chunk.index] = (chunk, box, completion)
            var ready: [Ready] = []
            while let next = state.pending.removeValue(forKey: state.nextIndex) {
                state.nextIndex += 1
                if let leaf = next.box.leaf {
                    state.accumulator.append(leaf)
                    if configuration.keepLeaves { state.leaves.append(leaf) }
                }
                ready.append(next)
            }
            if ordered != nil {
                // Enqueued under the lock so the serial queue receives chunks in order.
                for next in ready {
                    orderedQueue.async { self.runOrdered(next.chunk, box: next.box, completion: next.completion) }
                }
                return []
            }
            return ready
        }
        for next in ready { stageFinished(next.completion) }
    }

    /// The caller's ordered stage for one chunk; runs on `orderedQueue` in chunk order.
    private func runOrdered(_ chunk: Chunk, box: ResultBox<Work>, completion: ChunkCompletion) {
        defer { stageFinished(completion) }
        guard !failed, let ordered, let work = box.work else { return }
        do { try ordered(chunk, work) } catch { fail(error) }
    }

    /// Counts one finished stage of a chunk; the last one frees the chunk's buffer.
    private func stageFinished(_ completion: ChunkCompletion) {
        guard completion.remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 else { return }
        releaseSlot(completion.slot)
        inFlight.leave()
    }

    private func releaseSlot(_ slot: Int) {
        freeSlots.withLock { $0.append(slot) }
        slotAvailable.signal()
    }
}

/// How many stages of one chunk are still running, and the buffer to free when none is.
private final class ChunkCompletion: Sendable {
    let remaining: Atomic<Int>
    let slot: Int

    init(stages: Int, slot: Int) {
        remaining = Atomic(stages)
        self.slot = slot
    }
}

/// Carries one chunk's parallel results to its ordered stage (handed over through `orderedState`'s lock).
private final class ResultBox<Work>: @unchecked Sendable {
    var leaf: Hash32?
    var work: Work?
}

/// Cores available to this process.
public func activeProcessorCount() -> Int {
    #if canImport(Glibc)
    let count = sysconf(Int32(_SC_NPROCESSORS_ONLN))
    return count > 0 ? Int(count) : 1
    #else
    return 1
    #endif
}

/// Runs `body` on `count` new threads and waits for them all; runs it on the calling thread when the system
/// refuses a thread.
func runOnThreads(_ count: Int, _ body: @escaping @Sendable () -> Void) {
    final class Body: Sendable {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }
    var threads: [pthread_t] = []
    for _ in 0..<count {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { context in
            Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, context)
        if status == 0 {
            threads.append(thread)
        } else {
            Unmanaged<Body>.fromOpaque(context).release()
            body()
        }
    }
    for thread in threads { pthread_join(thread, nil) }
}
