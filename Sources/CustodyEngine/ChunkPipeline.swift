import CustodyBase
import CustodyCrypto
import CustodyIO
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
    /// Whether every byte is zero, checked before the parallel stage by pipelines that compute the tree (unused
    /// space on a disk: its leaf hash is known without hashing, and packing stores it as the shared zero member).
    public let isAllZero: Bool

    /// A chunk of `bytes` at `index` (content byte `offset`).
    public init(index: UInt64, offset: UInt64, bytes: UnsafeRawBufferPointer, isAllZero: Bool = false) {
        self.index = index
        self.offset = offset
        self.bytes = bytes
        self.isAllZero = isAllZero
    }
}

/// What a pipeline computed over the whole input.
public struct PipelineResult: Sendable {
    /// Total bytes read.
    public var size: UInt64
    /// The chunk size read with.
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
    /// The chunk size (a power of two from 64 KiB to 64 MiB for tree digests).
    public var chunkSize: Int
    /// The linear digests computed over the content.
    public var linearDigests: [DigestAlgorithm]
    /// Whether the tree digest is computed.
    public var computeTree: Bool
    /// Whether every leaf hash is kept in the result.
    public var keepLeaves: Bool
    /// Positional readers working at once (1 = one sequential reader, kinder to spinning disks).
    public var readers: Int
    /// Chunk buffers in the pool.
    public var slotCount: Int
    /// Called after each chunk is read with the running byte count (from the reading thread).
    public var progress: (@Sendable (UInt64) -> Void)?
    /// Polled between chunks; returning true stops reading: chunks already read go through every stage (so an
    /// interrupted pack keeps all it read), then the run throws `IOError.interrupted`.
    public var shouldStop: (@Sendable () -> Bool)?
    /// Where the run starts: nil for chunk 0; a resume point continues an earlier run's state (its first
    /// `chunkCount` chunks already hashed), reading from chunk `chunkCount` on.
    public var resumePoint: ResumePoint?
    /// Leaf hashes already known for the first chunks (computed by an earlier run over the same bytes and kept):
    /// those chunks are not hashed again.
    public var knownLeaves: [Hash32] = []
    /// Called with each chunk's index and leaf hash, in chunk order, before the ordered stage of that chunk.
    public var leafObserver: (@Sendable (UInt64, Hash32) -> Void)?

    /// The state of a run after some number of whole chunks, from which a later run can continue (resuming an
    /// interrupted seal: linear digests cannot be saved mid-stream, so the state is rebuilt by re-reading what
    /// was already written, see `runToResumePoint`).
    public struct ResumePoint: @unchecked Sendable {
        /// Chunks already processed; every one of them was a full chunk.
        public var chunkCount: UInt64
        /// Their leaf hashes, in order (empty when the tree digest is not computed).
        public var leaves: [Hash32]
        /// One open digester per linear digest of the pipeline, in the same order, fed with those chunks.
        public var digesters: [Digester]

        /// The state after `chunkCount` chunks: their leaves and the open digesters.
        public init(chunkCount: UInt64, leaves: [Hash32], digesters: [Digester]) {
            self.chunkCount = chunkCount
            self.leaves = leaves
            self.digesters = digesters
        }

        /// The state before any chunk: fresh digesters for `linearDigests`.
        public static func start(linearDigests: [DigestAlgorithm]) -> ResumePoint {
            ResumePoint(chunkCount: 0, leaves: [], digesters: linearDigests.map { Digester($0) })
        }
    }

    /// The default pool: enough buffers to keep every core busy while one is being read.
    public static func defaultSlotCount(chunkSize: Int) -> Int {
        let cores = max(1, activeProcessorCount())
        return max(3, min(2 * cores + 2, (512 << 20) / max(chunkSize, 1)))
    }

    /// The pool for packing, whose chunks take very different times (zeros, stored, compressed): up to twice the
    /// default within 32 MiB, so that one slow chunk does not hold up the workers behind it while the ordered stage
    /// waits for it; never more than the default's 512 MiB.
    public static func packingSlotCount(chunkSize: Int) -> Int {
        let cores = max(1, activeProcessorCount())
        let size = max(chunkSize, 1)
        let wanted = min(4 * cores + 4, max(2 * cores + 2, (32 << 20) / size))
        return max(3, min(wanted, (512 << 20) / size))
    }

    /// A pipeline of the given shape; the buffer pool holds `slotCount` chunks (by default enough for the readers
    /// and workers).
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
        let run = try PipelineRun(configuration: self, reader: reader, parallel: parallel, ordered: ordered)
        return try run.execute()
    }

    /// Runs the pipeline like `run(_:parallel:ordered:)` but leaves the linear digests open and returns the
    /// state reached, for a later run's `resumePoint`. Throws when the input ends with a short chunk (a resume
    /// point holds whole chunks only).
    public func runToResumePoint<Work: Sendable>(
        _ reader: ChunkReader,
        parallel: @escaping @Sendable (Chunk) throws -> Work,
        ordered: (@Sendable (Chunk, Work) throws -> Void)?
    ) throws -> ResumePoint {
        var configuration = self
        configuration.keepLeaves = true
        let run = try PipelineRun(configuration: configuration, reader: reader, parallel: parallel, ordered: ordered)
        let state = try run.executeKeepingState()
        guard state.size == state.chunkCount * UInt64(chunkSize) else {
            throw EngineError.resumePointNotWholeChunks(size: state.size, chunkSize: chunkSize)
        }
        return ResumePoint(chunkCount: state.chunkCount, leaves: state.leaves, digesters: state.digesters)
    }

    /// Reads everything once through the linear digests only and returns them still open, with the byte count.
    func digestKeepingState(_ reader: ChunkReader) throws -> (size: UInt64, digesters: [Digester]) {
        var configuration = self
        configuration.computeTree = false
        configuration.keepLeaves = false
        let run = try PipelineRun(configuration: configuration, reader: reader, parallel: { _ in () }, ordered: nil)
        let state = try run.executeKeepingState()
        return (state.size, state.digesters)
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
        var readyChunks: [UInt64: (chunk: Chunk, slot: Int, region: MappedRegion?)] = [:]
        var bytesRead: UInt64 = 0
        var endIndex: UInt64?
        var stopped = false
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
         ordered: (@Sendable (Chunk, Work) throws -> Void)?) throws {
        precondition(configuration.chunkSize > 0)
        if let start = configuration.resumePoint {
            guard start.digesters.map(\.algorithm) == configuration.linearDigests else {
                throw EngineError.resumePointDigestsDiffer(resumePoint: start.digesters.map(\.algorithm.rawValue),
                                                           pipeline: configuration.linearDigests.map(\.rawValue))
            }
            guard !configuration.computeTree || UInt64(start.leaves.count) == start.chunkCount else {
                throw EngineError.resumePointLeavesDiffer(leaves: start.leaves.count, chunks: start.chunkCount)
            }
        }
        self.configuration = configuration
        self.reader = reader
        self.parallel = parallel
        self.ordered = ordered
        slots = (0..<configuration.slotCount).map { _ in
            UnsafeMutableRawBufferPointer.allocate(byteCount: configuration.chunkSize, alignment: 4096)
        }
        freeSlots = Mutex(Array(0..<configuration.slotCount))
        slotAvailable = DispatchSemaphore.permits(configuration.slotCount)
        linearQueues = configuration.linearDigests.map {
            DispatchQueue(label: "custody.pipeline.\($0.rawValue)", qos: .userInitiated)
        }
        if let start = configuration.resumePoint {
            digesters = start.digesters
            let bytes = start.chunkCount * UInt64(configuration.chunkSize)
            shared.withLock { state in
                state.nextIndex = start.chunkCount
                state.nextToDispatch = start.chunkCount
                state.bytesRead = bytes
            }
            orderedState.withLock { state in
                state.nextIndex = start.chunkCount
                if configuration.computeTree {
                    for leaf in start.leaves { state.accumulator.append(leaf) }
                    if configuration.keepLeaves { state.leaves = start.leaves }
                }
            }
        } else {
            digesters = configuration.linearDigests.map { Digester($0) }
        }
    }

    deinit {
        for slot in slots { slot.deallocate() }
    }

    func execute() throws -> PipelineResult {
        let state = try executeKeepingState()
        var digests: [DigestAlgorithm: [UInt8]] = [:]
        for digester in digesters { digests[digester.algorithm] = digester.finalize() }
        return PipelineResult(
            size: state.size,
            chunkSize: configuration.chunkSize,
            chunkCount: state.chunkCount,
            treeRoot: configuration.computeTree ? state.root : nil,
            leaves: state.leaves,
            digests: digests
        )
    }

    /// Reads to the end (or the first failure) and returns the counts, tree state and still-open digesters.
    func executeKeepingState() throws
        -> (size: UInt64, chunkCount: UInt64, root: Hash32, leaves: [Hash32], digesters: [Digester]) {
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
            return Array(state.readyChunks.values)
        }
        for chunk in parked {
            chunk.region?.unmap()
            releaseSlot(chunk.slot)
        }
        let state = shared.withLock { $0 }
        if let error = state.firstError { throw error }
        if state.stopped { throw IOError.interrupted }
        let tree = orderedState.withLock { (root: $0.accumulator.root, leaves: $0.leaves) }
        return (state.bytesRead, state.nextToDispatch, tree.root, tree.leaves, digesters)
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
                shared.withLock { state in
                    state.stopped = true
                    state.endIndex = min(state.endIndex ?? state.nextIndex, state.nextIndex)
                }
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
            // A reader that can lend its bytes (a mapped regular file) saves copying them into the buffer.
            let region = reader.knownSize.flatMap { size in
                offset < size ? reader.borrow(at: offset, count: Int(min(UInt64(configuration.chunkSize),
                                                                             size - offset))) : nil
            }
            let count: Int
            if let region {
                count = region.bytes.count
            } else {
                do {
                    count = try reader.read(into: buffer, at: offset)
                } catch {
                    fail(error)
                    releaseSlot(slot)
                    return
                }
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
                finishReady(index: index, chunk: nil, slot: slot, region: nil)
                return
            }
            let chunk = Chunk(index: index, offset: offset,
                              bytes: region?.bytes ?? UnsafeRawBufferPointer(start: buffer.baseAddress, count: count))
            finishReady(index: index, chunk: chunk, slot: slot, region: region)
            if isLast { return }
        }
    }

    /// Queues chunks for processing strictly in index order, whichever reader finished them.
    private func finishReady(index: UInt64, chunk: Chunk?, slot: Int, region: MappedRegion?) {
        let progress: UInt64? = shared.withLock { state -> UInt64? in
            if let chunk { state.readyChunks[index] = (chunk, slot, region) }
            var advanced = false
            while let ready = state.readyChunks.removeValue(forKey: state.nextToDispatch) {
                state.bytesRead += UInt64(ready.chunk.bytes.count)
                state.nextToDispatch += 1
                dispatch(ready.chunk, slot: ready.slot, region: ready.region)
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
    private func dispatch(_ chunk: Chunk, slot: Int, region: MappedRegion?) {
        inFlight.enter()
        let completion = ChunkCompletion(stages: linearQueues.count + 1, slot: slot, region: region)
        for (queue, digester) in zip(linearQueues, digesters) {
            queue.async {
                digester.update(chunk.bytes)
                self.stageFinished(completion)
            }
        }
        let box = ResultBox<Work>()
        let computeTree = configuration.computeTree
        let chunkSize = configuration.chunkSize
        workers.async {
            let chunk = Chunk(index: chunk.index, offset: chunk.offset, bytes: chunk.bytes,
                              isAllZero: computeTree && Merkle.isAllZero(chunk.bytes))
            if !self.failed {
                if computeTree {
                    let known = self.configuration.knownLeaves
                    if chunk.index < UInt64(known.count) {
                        box.leaf = known[Int(chunk.index)]
                    } else if chunk.isAllZero && chunk.bytes.count == chunkSize {
                        box.leaf = Merkle.zeroLeafHash(chunkSize: chunkSize)
                    } else {
                        box.leaf = Merkle.leafHash(chunk.bytes)
                    }
                }
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
                    configuration.leafObserver?(next.chunk.index, leaf)
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
        // What the parallel stage made of a mapped chunk counts only if no page of it was lost meanwhile.
        if let region = completion.region, region.isDamaged {
            fail(region.damageError)
            return
        }
        do { try ordered(chunk, work) } catch { fail(error) }
    }

    /// Counts one finished stage of a chunk; the last one frees the chunk's buffer.
    private func stageFinished(_ completion: ChunkCompletion) {
        guard completion.stages.finishOne() else { return }
        if let region = completion.region, region.unmap() { fail(region.damageError) }
        releaseSlot(completion.slot)
        inFlight.leave()
    }

    private func releaseSlot(_ slot: Int) {
        freeSlots.withLock { $0.append(slot) }
        slotAvailable.signal()
    }
}

/// How many stages of one chunk are still running, and the buffer (or mapping) to free when none is.
private final class ChunkCompletion: Sendable {
    let stages: Countdown
    let slot: Int
    let region: MappedRegion?

    init(stages: Int, slot: Int, region: MappedRegion?) {
        self.stages = Countdown(stages)
        self.slot = slot
        self.region = region
    }
}

/// Carries one chunk's parallel results to its ordered stage (handed over through `orderedState`'s lock).
private final class ResultBox<Work>: @unchecked Sendable {
    var leaf: Hash32?
    var work: Work?
}
