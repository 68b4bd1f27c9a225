import CustodyBase
import CustodyCrypto
import CustodyIO
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// What an item output (the sealer's packer, say) made of one file's bytes.
public struct ItemOutputResult: Sendable, Equatable {
    /// Bytes the output stored for the file (e.g. its compressed size).
    public var storedSize: UInt64
    /// Digests of what was stored (e.g. sha256 and sha512 of the payload file, for the BagIt manifests).
    public var storedDigests: [DigestAlgorithm: [UInt8]]
    /// Where it was stored, relative to wherever the output keeps its files (e.g. the payload name), if anywhere.
    public var storedName: [UInt8]?

    /// A result of the given values.
    public init(storedSize: UInt64, storedDigests: [DigestAlgorithm: [UInt8]] = [:], storedName: [UInt8]? = nil) {
        self.storedSize = storedSize
        self.storedDigests = storedDigests
        self.storedName = storedName
    }
}

/// Receives one regular file's bytes as they are read: `write` for each piece in order (offsets increasing, no
/// gaps), then either `finish` (every byte was read and the file held still) or `abandon` (the file could not be
/// read whole, or changed: discard what was written). Used by one thread at a time.
public protocol ItemOutputWriter: AnyObject {
    /// Takes the bytes at `offset` of the file; valid only during the call. Throwing stops the whole run.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws
    /// Ends the file, `size` bytes long; returns what was stored. Throwing stops the whole run.
    func finish(size: UInt64) throws -> ItemOutputResult
    /// Ends the file without a result: what was written must not count.
    func abandon()
}

/// Makes a writer for each regular file of a collection run (`CollectionHasher.run`), called on a worker thread:
/// many files are in flight at once, so writers must not share unguarded state. A failure here, in `write` or in
/// `finish` (a full disk) stops the run, which throws it once the items in flight are drained.
public protocol ItemOutput: Sendable {
    /// A writer for the regular file `entry`, item number `sequence` (0-based, in walk order).
    func begin(_ entry: WalkEntry, sequence: UInt64) throws -> any ItemOutputWriter
}

/// One entry of a collection, hashed when it is a regular file, as the consumer of a run receives it.
public struct CollectionItem: Sendable {
    /// Position in walk order, from 0.
    public var sequence: UInt64
    /// The walk's entry (its `openFile` already closed and cleared).
    public var entry: WalkEntry
    /// The digests of a regular file read whole while it held still; nil otherwise.
    public var digests: FileDigests?
    /// What the item output made of it, when there is one and the file was read whole.
    public var output: ItemOutputResult?
    /// Why a regular file has no digests (`read: Input/output error`, `changed while being read: ...`), beyond
    /// what the walk recorded in `entry.error`.
    public var hashError: String?

    /// The first problem with this item: the walk's, else the hashing's; nil when there was none.
    public var problem: String? { entry.error ?? hashError }
}

/// How far the walk feeding a run has got: what the consumer can show as totals.
public struct CollectionTally: Sendable, Equatable {
    /// Entries found so far.
    public var entriesFound: UInt64
    /// Regular files found so far.
    public var filesFound: UInt64
    /// Their bytes (sizes when found).
    public var bytesFound: UInt64
    /// Whether the walk has ended (the counts are then the totals).
    public var walkFinished: Bool
}

/// The counts of a finished run.
public struct CollectionSummary: Sendable, Equatable {
    /// Entries delivered.
    public var entries: UInt64 = 0
    /// Regular files hashed.
    public var filesHashed: UInt64 = 0
    /// Bytes hashed.
    public var bytesHashed: UInt64 = 0
    /// Entries with a problem.
    public var problems: UInt64 = 0
    /// Whether the run stopped early because `shouldStop` said so.
    public var interrupted = false
}

/// The small-file engine: hashes the regular files of a collection with many files in flight across the cores.
///
/// A walker thread (`CollectionWalker`, which opens each regular file relative to its directory) feeds a bounded
/// queue; `workers` threads each take a file, read it with `pread` into the worker's own reused buffer (files of
/// at most `largeFileThreshold` bytes; larger ones go through a `ChunkPipeline`, which spreads one file's chunks over
/// the cores), compute the tree digest (leaves of `chunkSize`) and the linear digests, hand the bytes to the item
/// output if any, and check the file held still (size, modification and status-change times, and the byte count,
/// before and after). Results come back to the caller's thread in walk order; at most `window` entries are between
/// the walk and the consumer, so memory and open descriptors stay bounded whatever the number of items.
public struct CollectionHasher: Sendable {
    /// The tree digest's chunk size.
    public var chunkSize: Int
    /// The linear digests computed.
    public var linearDigests: [DigestAlgorithm]
    /// Whether the tree digest is computed.
    public var computesTree: Bool
    /// Whether each file's leaf hashes are kept in its digests.
    public var keepsLeaves: Bool
    /// Hashing threads.
    public var workers: Int
    /// Files larger than this go through the chunk pipeline instead of one read into a worker's buffer.
    public var largeFileThreshold: Int
    /// The most entries between the walk and the consumer (bounds memory and open files).
    public var window: Int
    /// How to walk (regular files are always opened by the walker).
    public var walkOptions: WalkOptions

    /// An engine of the given shape. `window` is lowered to fit the process's limit of open files.
    public init(chunkSize: Int = 1 << 20, linearDigests: [DigestAlgorithm] = [.sha256], computesTree: Bool = true,
                keepsLeaves: Bool = false, workers: Int = activeProcessorCount(),
                largeFileThreshold: Int = 8 << 20, window: Int = 512, walkOptions: WalkOptions = WalkOptions()) {
        self.chunkSize = chunkSize
        self.linearDigests = linearDigests
        self.computesTree = computesTree
        self.keepsLeaves = keepsLeaves
        self.workers = max(1, workers)
        self.largeFileThreshold = max(0, largeFileThreshold)
        self.window = max(2, window)
        self.walkOptions = walkOptions
        self.walkOptions.opensRegularFiles = true
    }

    /// Walks `roots`, hashes every regular file and calls `consume` on the calling thread with each entry in walk
    /// order, with the walk's tally so far. `shouldStop` is polled between entries: the walk stops, what is in
    /// flight is delivered, and the summary says `interrupted`. Throws what `output` or `consume` threw (after
    /// draining), or when no thread could be started.
    public func run(roots: [String], output: (any ItemOutput)? = nil, shouldStop: (@Sendable () -> Bool)? = nil,
                    consume: (CollectionItem, CollectionTally) throws -> Void) throws -> CollectionSummary {
        let run = CollectionRun(configuration: self, window: effectiveWindow(), output: output,
                                shouldStop: shouldStop)
        return try run.execute(roots: roots, consume: consume)
    }

    /// The window, lowered so that it, the walker's directories and the pipeline's needs fit under RLIMIT_NOFILE.
    private func effectiveWindow() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else {
            return window
        }
        let spare = Int(min(limit.rlim_cur, 1 << 20)) - walkOptions.maximumOpenDirectories - 64
        return max(2, min(window, spare / 2))
    }
}

/// One run of the engine: the queues between walker, workers and consumer.
private final class CollectionRun: @unchecked Sendable {
    private enum Job {
        case file(sequence: UInt64, entry: WalkEntry)
        case stop
    }

    private let configuration: CollectionHasher
    private let output: (any ItemOutput)?
    private let shouldStop: (@Sendable () -> Bool)?
    private let windowPermits: DispatchSemaphore
    private let jobs = Mutex<(items: [Job], head: Int)>(([], 0))
    private let jobAvailable = DispatchSemaphore(value: 0)
    private let results = Mutex<[UInt64: CollectionItem]>([:])
    private let resultReady = DispatchSemaphore(value: 0)
    private let tally = Mutex(CollectionTally(entriesFound: 0, filesFound: 0, bytesFound: 0, walkFinished: false))
    private let stopping = Atomic<Bool>(false)
    private let interrupted = Atomic<Bool>(false)
    private let firstFailure = Mutex<CustodyErrorBox?>(nil)

    init(configuration: CollectionHasher, window: Int, output: (any ItemOutput)?,
         shouldStop: (@Sendable () -> Bool)?) {
        self.configuration = configuration
        self.output = output
        self.shouldStop = shouldStop
        windowPermits = DispatchSemaphore.permits(window)
    }

    func execute(roots: [String], consume: (CollectionItem, CollectionTally) throws -> Void) throws
        -> CollectionSummary {
        let workerBodies: [@Sendable () -> Void] = (0..<configuration.workers).map { _ in { self.work() } }
        let workers = StartedThreads(workerBodies)
        guard workers.startedCount > 0 else { throw EngineError.noThreads }
        let workerCount = workers.startedCount
        let walker = StartedThreads([{ self.walk(roots, workerCount: workerCount) }])
        guard walker.startedCount == 1 else {
            for _ in 0..<workers.startedCount { enqueue(.stop) }
            workers.join()
            throw EngineError.noThreads
        }
        var summary = CollectionSummary()
        var consumerError: Error?
        var next: UInt64 = 0
        while true {
            if let item = results.withLock({ $0.removeValue(forKey: next) }) {
                next += 1
                windowPermits.signal()
                summary.entries += 1
                if let digests = item.digests {
                    summary.filesHashed += 1
                    summary.bytesHashed += digests.size
                }
                if item.problem != nil { summary.problems += 1 }
                if consumerError == nil {
                    do {
                        try consume(item, tally.withLock { $0 })
                    } catch {
                        consumerError = error
                        stopping.store(true, ordering: .relaxed)
                    }
                }
                continue
            }
            let finished = tally.withLock { $0.walkFinished ? $0.entriesFound : nil }
            if let finished, next >= finished { break }
            resultReady.wait()
        }
        walker.join()
        workers.join()
        if let consumerError { throw consumerError }
        if let failure = firstFailure.withLock({ $0 }) { throw failure.error }
        summary.interrupted = interrupted.load(ordering: .relaxed)
        return summary
    }

    // MARK: - Walker

    private func walk(_ roots: [String], workerCount: Int) {
        let walker = CollectionWalker(roots: roots, options: configuration.walkOptions)
        var sequence: UInt64 = 0
        while true {
            if stopping.load(ordering: .relaxed) { break }
            if let shouldStop, shouldStop() {
                interrupted.store(true, ordering: .relaxed)
                break
            }
            windowPermits.wait()
            guard var entry = walker.next() else {
                windowPermits.signal()
                break
            }
            tally.withLock { tally in
                tally.entriesFound += 1
                if entry.kind == .regular {
                    tally.filesFound += 1
                    tally.bytesFound += entry.metadata?.size ?? 0
                }
            }
            if entry.kind == .regular, entry.openFile != nil {
                enqueue(.file(sequence: sequence, entry: entry))
            } else {
                entry.openFile?.close()
                entry.openFile = nil
                deliver(CollectionItem(sequence: sequence, entry: entry))
            }
            sequence += 1
        }
        tally.withLock { $0.walkFinished = true }
        resultReady.signal()
        for _ in 0..<workerCount { enqueue(.stop) }
    }

    private func enqueue(_ job: Job) {
        jobs.withLock { $0.items.append(job) }
        jobAvailable.signal()
    }

    private func deliver(_ item: CollectionItem) {
        results.withLock { $0[item.sequence] = item }
        resultReady.signal()
    }

    // MARK: - Workers

    private func work() {
        let hasher = FileHasher(configuration: configuration)
        while true {
            jobAvailable.wait()
            let job = jobs.withLock { queue -> Job in
                let job = queue.items[queue.head]
                queue.head += 1
                // Drop what was taken once it is most of the array, keeping appends amortised O(1).
                if queue.head > 1024 && queue.head * 2 > queue.items.count {
                    queue.items.removeFirst(queue.head)
                    queue.head = 0
                }
                return job
            }
            guard case .file(let sequence, var entry) = job else { return }
            let file = entry.openFile!
            entry.openFile = nil
            var item = CollectionItem(sequence: sequence, entry: entry)
            if stopping.load(ordering: .relaxed) {
                item.hashError = "not read: the run was stopped"
            } else {
                do {
                    try hasher.hash(file, entry: entry, sequence: sequence, output: output, into: &item)
                } catch {
                    firstFailure.withLock { if $0 == nil { $0 = CustodyErrorBox(error) } }
                    stopping.store(true, ordering: .relaxed)
                    item.hashError = "output: \(error)"
                }
            }
            file.close()
            deliver(item)
        }
    }
}

/// A worker's hashing state: its reused buffer and digesters.
private final class FileHasher {
    private let configuration: CollectionHasher
    private var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 4096)
    private let digesters: [Digester]
    private let leafDigester = Digester(.sha256)

    init(configuration: CollectionHasher) {
        self.configuration = configuration
        digesters = configuration.linearDigests.map { Digester($0) }
    }

    deinit { buffer.deallocate() }

    /// Hashes the open regular file into `item`: digests, or `hashError` for a read error or a change. Throws only
    /// what the item output threw.
    func hash(_ file: FileDescriptor, entry: WalkEntry, sequence: UInt64, output: (any ItemOutput)?,
              into item: inout CollectionItem) throws {
        guard let before = entry.metadata else { return }
        let writer = try output?.begin(entry, sequence: sequence)
        var finished = false
        defer { if !finished { writer?.abandon() } }
        let read: (size: UInt64, tree: Hash32?, leaves: [Hash32], digests: [DigestAlgorithm: [UInt8]])
        do {
            if before.size > UInt64(configuration.largeFileThreshold) {
                read = try hashLarge(file, size: before.size, writer: writer)
            } else {
                read = try hashSmall(file, size: Int(before.size), writer: writer)
            }
        } catch let failure as SystemError {
            item.hashError = "\(failure.operation): \(systemErrorDescription(failure.code))"
            return
        } catch let failure as ItemOutputFailure {
            throw failure.error
        } catch {
            item.hashError = "\(error)"
            return
        }
        if let change = changeDescription(file, before: before, read: read.size) {
            item.hashError = "changed while being read (\(change)); hash it again once it is stable"
            return
        }
        item.output = try writer?.finish(size: read.size)
        finished = true
        item.digests = FileDigests(path: entry.pathString, size: read.size, chunkSize: configuration.chunkSize,
                                   tree: read.tree, digests: read.digests, leaves: read.leaves)
    }

    /// One `pread` loop into the reused buffer, then every digest over it while it is in the cache.
    private func hashSmall(_ file: FileDescriptor, size: Int, writer: (any ItemOutputWriter)?) throws
        -> (size: UInt64, tree: Hash32?, leaves: [Hash32], digests: [DigestAlgorithm: [UInt8]]) {
        // One byte more than the size: a file that grew is seen without a second read.
        let wanted = size + 1
        if buffer.count < wanted {
            buffer.deallocate()
            var capacity = 64 << 10
            while capacity < wanted { capacity *= 2 }
            buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 4096)
        }
        let count = try file.readFully(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<wanted]), at: 0)
        let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<min(count, size)])
        var tree: Hash32?
        var leaves: [Hash32] = []
        if configuration.computesTree || writer != nil {
            var accumulator = MerkleAccumulator()
            var offset = 0
            while offset < bytes.count {
                let end = min(offset + configuration.chunkSize, bytes.count)
                let chunk = UnsafeRawBufferPointer(rebasing: bytes[offset..<end])
                if configuration.computesTree {
                    let leaf = leafHash(chunk)
                    accumulator.append(leaf)
                    if configuration.keepsLeaves { leaves.append(leaf) }
                }
                do {
                    try writer?.write(chunk, at: UInt64(offset))
                } catch {
                    throw ItemOutputFailure(error: error)
                }
                offset = end
            }
            if configuration.computesTree { tree = accumulator.root }
        }
        var digests: [DigestAlgorithm: [UInt8]] = [:]
        for digester in digesters {
            digester.reset()
            digester.update(bytes)
            digests[digester.algorithm] = digester.finalize()
        }
        return (UInt64(count), tree, leaves, digests)
    }

    private func leafHash(_ chunk: UnsafeRawBufferPointer) -> Hash32 {
        leafDigester.reset()
        var prefix: UInt8 = 0
        withUnsafeBytes(of: &prefix) { leafDigester.update($0) }
        leafDigester.update(chunk)
        return Hash32(leafDigester.finalize())!
    }

    /// A large file through the chunk pipeline (its chunks spread over the cores), the writer fed in order.
    private func hashLarge(_ file: FileDescriptor, size: UInt64, writer: (any ItemOutputWriter)?) throws
        -> (size: UInt64, tree: Hash32?, leaves: [Hash32], digests: [DigestAlgorithm: [UInt8]]) {
        let pipeline = ChunkPipeline(chunkSize: configuration.chunkSize, linearDigests: configuration.linearDigests,
                                     computeTree: configuration.computesTree, keepLeaves: configuration.keepsLeaves)
        let reader = FileChunkReader(descriptor: file, size: size)
        let result: PipelineResult
        if let writer {
            let box = WriterBox(writer)
            result = try pipeline.run(reader, parallel: { _ in () }, ordered: { chunk, _ in
                do {
                    try box.writer.write(chunk.bytes, at: chunk.offset)
                } catch {
                    throw ItemOutputFailure(error: error)
                }
            })
        } else {
            result = try pipeline.run(reader)
        }
        // The pipeline reads up to the size at the start: one more byte tells whether the file grew.
        var probe: UInt8 = 0
        let beyond = try withUnsafeMutableBytes(of: &probe) { try file.read(into: $0, at: size) }
        return (result.size + UInt64(beyond), result.treeRoot, result.leaves, result.digests)
    }

    /// What changed between the walk's status and now, in words; nil when the file held still and `read` bytes
    /// (its size) came.
    private func changeDescription(_ file: FileDescriptor, before: WalkMetadata, read: UInt64) -> String? {
        guard let now = try? file.status() else { return "its status could not be read again" }
        var parts: [String] = []
        let size = UInt64(now.st_size)
        if size != before.size {
            parts.append("size \(before.size) -> \(size) bytes")
        } else if read != before.size {
            parts.append("size \(before.size) bytes, \(read) read")
        }
        let modified = WalkTime(seconds: Int64(now.st_mtim.tv_sec), nanoseconds: UInt32(now.st_mtim.tv_nsec))
        if modified != before.modified { parts.append("modification time \(before.modified) -> \(modified)") }
        let changed = WalkTime(seconds: Int64(now.st_ctim.tv_sec), nanoseconds: UInt32(now.st_ctim.tv_nsec))
        if changed != before.changed { parts.append("status-change time \(before.changed) -> \(changed)") }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }
}

/// An item output's failure, told apart from the read's on its way out of the pipeline.
private struct ItemOutputFailure: Error {
    let error: Error
}

/// Carries a writer to the pipeline's ordered stage (one serial queue: used by one thread at a time).
private final class WriterBox: @unchecked Sendable {
    let writer: any ItemOutputWriter
    init(_ writer: any ItemOutputWriter) { self.writer = writer }
}
