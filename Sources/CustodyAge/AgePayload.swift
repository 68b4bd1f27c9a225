import CustodyBase
import CustodyCrypto
import CustodyIO
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// What an encryption or decryption processed.
public struct AgeSummary: Sendable, Equatable {
    /// Plaintext bytes.
    public var plaintextSize: UInt64
    /// Bytes of the age file (header, nonce and payload).
    public var fileSize: UInt64
    /// Payload chunks (at least 1).
    public var chunkCount: UInt64
}

/// The STREAM payload constants of age v1.
enum AgePayloadFormat {
    static let chunkSize = 64 << 10
    static let sealedChunkSize = chunkSize + AgeCrypto.tagSize
    static let nonceSize = 16

    /// Fills `nonce` (12 bytes) for chunk `index`.
    static func fillNonce(_ nonce: UnsafeMutableRawBufferPointer, index: UInt64, final: Bool) {
        for byte in 0..<3 { nonce[byte] = 0 }
        for byte in 0..<8 { nonce[3 + byte] = UInt8(truncatingIfNeeded: index >> UInt64(8 * (7 - byte))) }
        nonce[11] = final ? 1 : 0
    }
}

/// How one chunk fared on a worker.
enum AgeChunkOutcome: Sendable {
    case pending
    /// Sealed or opened with the expected final flag; the output length.
    case ok(Int)
    /// Opened only with the opposite final flag; the output length.
    case oppositeFlag(Int)
    /// Authentication failed with either flag.
    case failed
    /// An OpenSSL failure (not an authentication failure).
    case error(String)
}

/// A batch of consecutive chunks with its input and output buffers, processed on Dispatch workers.
final class AgeBatch: @unchecked Sendable {
    let capacity: Int
    let inputChunkSize: Int
    let outputChunkSize: Int
    let input: UnsafeMutableRawBufferPointer
    let output: UnsafeMutableRawBufferPointer
    let outcomes: UnsafeMutableBufferPointer<AgeChunkOutcome>
    let done = DispatchGroup()
    /// Bytes of input held.
    var filled = 0
    var firstChunk: UInt64 = 0
    var chunkCount = 0
    /// Whether the batch's last chunk is the payload's final chunk.
    var holdsFinalChunk = false
    /// Byte offset of the batch's input in the whole stream (for messages).
    var streamOffset: UInt64 = 0

    init(capacity: Int, inputChunkSize: Int, outputChunkSize: Int) {
        self.capacity = capacity
        self.inputChunkSize = inputChunkSize
        self.outputChunkSize = outputChunkSize
        input = .allocate(byteCount: capacity * inputChunkSize, alignment: 64)
        output = .allocate(byteCount: capacity * outputChunkSize, alignment: 64)
        outcomes = .allocate(capacity: capacity)
        outcomes.initialize(repeating: .pending)
    }

    deinit {
        input.deallocate()
        output.deallocate()
        outcomes.deallocate()
    }

    var isFull: Bool { filled == capacity * inputChunkSize }

    /// Empties the batch for reuse.
    func reset() -> AgeBatch {
        filled = 0
        chunkCount = 0
        holdsFinalChunk = false
        return self
    }

    func inputLength(of chunk: Int) -> Int {
        min(inputChunkSize, filled - chunk * inputChunkSize)
    }
}

/// Numbers batches and hands them to Dispatch workers that seal or open every chunk in parallel.
/// Used from one thread at a time (the thread producing input).
final class AgeChunkDispatcher: @unchecked Sendable {
    let mode: AgePayloadEngine.Mode
    private let key: [UInt8]
    /// Offset in the whole age file where the payload chunks start (header + nonce), for messages.
    private let payloadOffset: UInt64
    private(set) var nextChunk: UInt64 = 0
    private(set) var inputBytes: UInt64 = 0
    private let workers = DispatchQueue.global(qos: .userInitiated)

    init(mode: AgePayloadEngine.Mode, key: [UInt8], payloadOffset: UInt64) {
        self.mode = mode
        self.key = key
        self.payloadOffset = payloadOffset
    }

    /// Numbers a filled batch and starts its chunks; `final` says its last chunk ends the payload.
    func dispatch(_ batch: AgeBatch, final: Bool) {
        let chunkSize = batch.inputChunkSize
        batch.chunkCount = max(1, (batch.filled + chunkSize - 1) / chunkSize)
        batch.firstChunk = nextChunk
        batch.holdsFinalChunk = final
        let sealedBefore = nextChunk * UInt64(AgePayloadFormat.sealedChunkSize)
        batch.streamOffset = payloadOffset + (mode == .open ? inputBytes : sealedBefore)
        nextChunk += UInt64(batch.chunkCount)
        inputBytes += UInt64(batch.filled)
        for index in 0..<batch.chunkCount { batch.outcomes[index] = .pending }
        let key = self.key
        let mode = self.mode
        workers.async(group: batch.done) {
            DispatchQueue.concurrentPerform(iterations: batch.chunkCount) { index in
                batch.outcomes[index] = AgeChunkDispatcher.process(batch, index, key: key, mode: mode)
            }
        }
    }

    /// Seals or opens one chunk of a batch (on a worker thread).
    private static func process(_ batch: AgeBatch, _ index: Int, key: [UInt8],
                                mode: AgePayloadEngine.Mode) -> AgeChunkOutcome {
        let inStart = index * batch.inputChunkSize
        let length = batch.inputLength(of: index)
        let input = UnsafeRawBufferPointer(rebasing: batch.input[inStart..<(inStart + length)])
        let outStart = index * batch.outputChunkSize
        let output = UnsafeMutableRawBufferPointer(
            rebasing: batch.output[outStart..<(outStart + batch.outputChunkSize)])
        let final = batch.holdsFinalChunk && index == batch.chunkCount - 1
        return key.withUnsafeBytes {
            AgePayloadFormat.process(input, into: output, chunk: batch.firstChunk + UInt64(index), final: final,
                                     key: $0, mode: mode)
        }
    }
}

extension AgePayloadFormat {
    /// Seals or opens one chunk: `input` is the plaintext (seal) or ciphertext and tag (open), `output` has room
    /// for the result. Opening tries the other final flag when the expected one fails, to tell a chunk in the
    /// wrong place from an altered one.
    static func process(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, chunk: UInt64,
                        final: Bool, key: UnsafeRawBufferPointer, mode: AgePayloadEngine.Mode) -> AgeChunkOutcome {
        var nonce: (UInt64, UInt32) = (0, 0)
        return withUnsafeMutableBytes(of: &nonce) { nonceBytes in
            let nonceView = UnsafeMutableRawBufferPointer(rebasing: nonceBytes[0..<12])
            fillNonce(nonceView, index: chunk, final: final)
            let nonceBuffer = UnsafeRawBufferPointer(nonceView)
            do {
                switch mode {
                case .seal:
                    let sealed = UnsafeMutableRawBufferPointer(rebasing: output[0..<(input.count + AgeCrypto.tagSize)])
                    try AgeCrypto.seal(key: key, nonce: nonceBuffer, plaintext: input, output: sealed)
                    return .ok(sealed.count)
                case .open:
                    guard input.count >= AgeCrypto.tagSize else { return .failed }
                    let plain = UnsafeMutableRawBufferPointer(rebasing: output[0..<(input.count - AgeCrypto.tagSize)])
                    if try AgeCrypto.open(key: key, nonce: nonceBuffer, sealed: input, output: plain) {
                        return .ok(plain.count)
                    }
                    fillNonce(nonceView, index: chunk, final: !final)
                    if try AgeCrypto.open(key: key, nonce: nonceBuffer, sealed: input, output: plain) {
                        return .oppositeFlag(plain.count)
                    }
                    return .failed
                }
            } catch {
                return .error("\(error)")
            }
        }
    }

    /// What to do with a processed chunk: how many output bytes to release, then whether to stop with an error.
    /// `offset` is the chunk's position in the age file, `length` its input length.
    static func verdict(_ outcome: AgeChunkOutcome, chunk: UInt64, offset: UInt64, length: Int, final: Bool,
                        mode: AgePayloadEngine.Mode) -> (release: Int, error: Error?) {
        switch outcome {
        case .ok(let count):
            if mode == .open && final && count == 0 && chunk > 0 {
                return (0, AgeError.emptyFinalChunk(chunkIndex: chunk, byteOffset: offset))
            }
            return (count, nil)
        case .oppositeFlag(let count):
            if !final && count == 0 && chunk > 0 {
                return (0, AgeError.emptyFinalChunk(chunkIndex: chunk, byteOffset: offset))
            }
            // The chunk is authentic but in the wrong place: a non-final chunk with nothing after it (the file
            // was cut at a chunk boundary) or a final chunk with more data after it (data was appended). Like
            // age, a full-size chunk's plaintext is released first; a short chunk can only ever be final.
            let release = length == sealedChunkSize ? count : 0
            let end = offset + UInt64(length)
            return (release, final ? AgeError.truncated(byteOffset: end) : AgeError.trailingData(byteOffset: end))
        case .failed:
            if final && length < AgeCrypto.tagSize {
                return (0, AgeError.truncated(byteOffset: offset + UInt64(length)))
            }
            return (0, AgeError.payloadAuthenticationFailed(chunkIndex: chunk, byteOffset: offset, isFinal: final))
        case .error(let message):
            return (0, AgeOperationError.chunkFailed(chunkIndex: chunk, reason: message))
        case .pending:
            return (0, AgeOperationError.chunkNotProcessed(chunkIndex: chunk))
        }
    }
}

/// Runs the STREAM construction over batches of chunks, output always in order through `sink` on the calling
/// thread. Two ways to feed it:
/// - push (`takeBatch`, `submit`): the calling thread fills batches; up to `maxInFlight` are sealed at once;
/// - pull (`run(input:)`): a reader thread fills batches from a `ChunkReader` while workers process them and the
///   calling thread writes, so reading, sealing/opening and writing overlap.
/// Memory is bounded by `maxInFlight + 2` batches whatever the input size.
final class AgePayloadEngine {
    enum Mode: Sendable { case seal, open }

    let mode: Mode
    private let dispatcher: AgeChunkDispatcher
    private let chunksPerBatch: Int
    private let maxInFlight: Int
    private let sink: (UnsafeRawBufferPointer) throws -> Void
    private var free: [AgeBatch] = []
    private var allocated = 0
    private var inFlight: [AgeBatch] = []
    private(set) var outputBytes: UInt64 = 0
    /// Chunks and input bytes, once the pull reader has finished (the dispatcher's otherwise).
    private var pulledTotals: (chunks: UInt64, bytes: UInt64)?

    init(mode: Mode, key: [UInt8], chunksPerBatch: Int, maxInFlight: Int, payloadOffset: UInt64,
         sink: @escaping (UnsafeRawBufferPointer) throws -> Void) {
        self.mode = mode
        self.dispatcher = AgeChunkDispatcher(mode: mode, key: key, payloadOffset: payloadOffset)
        self.chunksPerBatch = max(1, chunksPerBatch)
        self.maxInFlight = max(1, maxInFlight)
        self.sink = sink
    }

    deinit {
        // Workers hold their batch strongly; waiting here keeps no work running after the caller returns.
        for batch in inFlight { batch.done.wait() }
    }

    var chunkCount: UInt64 { pulledTotals?.chunks ?? dispatcher.nextChunk }
    var inputBytes: UInt64 { pulledTotals?.bytes ?? dispatcher.inputBytes }

    private var poolSize: Int { maxInFlight + 2 }

    private static func makeBatch(mode: Mode, chunks: Int) -> AgeBatch {
        let sealed = AgePayloadFormat.sealedChunkSize, plain = AgePayloadFormat.chunkSize
        return AgeBatch(capacity: chunks, inputChunkSize: mode == .seal ? plain : sealed,
                        outputChunkSize: mode == .seal ? sealed : plain)
    }

    // MARK: Push

    /// An empty batch, waiting for the oldest in-flight batch when the pool is exhausted.
    func takeBatch() throws -> AgeBatch {
        if let batch = free.popLast() { return batch.reset() }
        if allocated < poolSize {
            allocated += 1
            return AgePayloadEngine.makeBatch(mode: mode, chunks: chunksPerBatch)
        }
        try drainOldest()
        return free.removeLast().reset()
    }

    func recycle(_ batch: AgeBatch) { free.append(batch) }

    /// Hands a filled batch to the workers; `final` says its last chunk ends the payload.
    func submit(_ batch: AgeBatch, final: Bool) throws {
        dispatcher.dispatch(batch, final: final)
        inFlight.append(batch)
        if inFlight.count > maxInFlight { try drainOldest() }
    }

    /// Waits for every batch in flight and writes their output in order.
    func drainAll() throws {
        while !inFlight.isEmpty { try drainOldest() }
    }

    private func drainOldest() throws {
        let batch = inFlight.removeFirst()
        batch.done.wait()
        defer { free.append(batch) }
        try emit(batch)
    }

    // MARK: Pull

    /// Reads `input` to its end on a reader thread, processes it and writes the output here, in order.
    /// An empty input gives one empty final chunk when sealing, and `truncated` when opening.
    func run(input: AgeInput) throws {
        let mode = self.mode, chunks = chunksPerBatch
        let pipeline = AgePullPipeline(poolSize: poolSize, dispatcher: dispatcher) {
            AgePayloadEngine.makeBatch(mode: mode, chunks: chunks)
        }
        let readerDone = DispatchGroup()
        DispatchQueue.global(qos: .userInitiated).async(group: readerDone) {
            pipeline.readAll(input)
        }
        var failure: Error?
        while true {
            let item = pipeline.nextReady()
            switch item {
            case .batch(let batch):
                batch.done.wait()
                if failure == nil {
                    do { try emit(batch) } catch {
                        failure = error
                        pipeline.stop()
                    }
                }
                pipeline.release(batch)
                continue
            case .end:
                break
            case .failure(let error):
                if failure == nil { failure = error }
            }
            break
        }
        readerDone.wait()
        pulledTotals = (dispatcher.nextChunk, dispatcher.inputBytes)
        if let failure { throw failure }
    }

    // MARK: Output

    /// Writes a processed batch's output; throws at the first bad chunk after writing every good chunk before it.
    private func emit(_ batch: AgeBatch) throws {
        var pendingStart = 0
        var pendingLength = 0
        func flush() throws {
            if pendingLength > 0 {
                try sink(UnsafeRawBufferPointer(rebasing: batch.output[pendingStart..<(pendingStart + pendingLength)]))
                outputBytes += UInt64(pendingLength)
            }
            pendingLength = 0
        }
        for index in 0..<batch.chunkCount {
            let chunk = batch.firstChunk + UInt64(index)
            let offset = batch.streamOffset + UInt64(index * batch.inputChunkSize)
            let final = batch.holdsFinalChunk && index == batch.chunkCount - 1
            let (release, error) = AgePayloadFormat.verdict(batch.outcomes[index], chunk: chunk, offset: offset,
                                                            length: batch.inputLength(of: index), final: final,
                                                            mode: mode)
            if let error {
                try flush()
                pendingStart = index * batch.outputChunkSize
                pendingLength = release
                try flush()
                throw error
            }
            pendingLength += release
        }
        try flush()
    }
}

/// The hand-over between the reader thread and the writing thread of a pull run.
final class AgePullPipeline: @unchecked Sendable {
    enum Item {
        case batch(AgeBatch)
        case end
        case failure(Error)
    }

    private struct State {
        var free: [AgeBatch] = []
        var allocated = 0
        var ready: [Item] = []
        var stopped = false
    }

    private let state = Mutex(State())
    private let freeSignal: DispatchSemaphore
    private let readySignal = DispatchSemaphore(value: 0)
    private let makeBatch: @Sendable () -> AgeBatch
    private let dispatcher: AgeChunkDispatcher
    private let poolSize: Int

    init(poolSize: Int, dispatcher: AgeChunkDispatcher, makeBatch: @escaping @Sendable () -> AgeBatch) {
        self.poolSize = poolSize
        self.makeBatch = makeBatch
        self.dispatcher = dispatcher
        freeSignal = DispatchSemaphore.permits(poolSize)
    }

    /// Tells the reader to stop at its next batch.
    func stop() {
        state.withLock { $0.stopped = true }
    }

    /// Returns a written batch to the pool.
    func release(_ batch: AgeBatch) {
        state.withLock { $0.free.append(batch) }
        freeSignal.signal()
    }

    /// The next batch to write (blocking), or the end of input, or the reader's failure.
    func nextReady() -> Item {
        readySignal.wait()
        return state.withLock { $0.ready.removeFirst() }
    }

    private func publish(_ item: Item) {
        state.withLock { $0.ready.append(item) }
        readySignal.signal()
    }

    /// A free batch, or nil once stopped.
    private func take() -> AgeBatch? {
        freeSignal.wait()
        let makeNew = state.withLock { state -> AgeBatch?? in
            if state.stopped { return .some(nil) }
            if let batch = state.free.popLast() { return .some(batch.reset()) }
            state.allocated += 1
            return nil
        }
        switch makeNew {
        case .some(let batch):
            if batch == nil { freeSignal.signal() }
            return batch
        case .none:
            return makeBatch()
        }
    }

    private func giveBack(_ batch: AgeBatch) {
        release(batch)
    }

    /// The reader thread: fills batches, looks one batch ahead to find the final chunk, dispatches them.
    func readAll(_ start: AgeInput) {
        var input = start
        do {
            guard var batch = take() else { return publish(.end) }
            batch.filled = try input.fill(batch.input)
            while batch.isFull {
                guard let next = take() else {
                    giveBack(batch)
                    return publish(.end)
                }
                next.filled = try input.fill(next.input)
                if next.filled == 0 {
                    giveBack(next)
                    break
                }
                dispatcher.dispatch(batch, final: false)
                publish(.batch(batch))
                batch = next
            }
            if dispatcher.mode == .open && batch.filled == 0 && dispatcher.nextChunk == 0 {
                giveBack(batch)
                return publish(.failure(AgeError.truncated(byteOffset: input.offset)))
            }
            dispatcher.dispatch(batch, final: true)
            publish(.batch(batch))
            publish(.end)
        } catch {
            publish(.failure(error))
        }
    }
}

/// Sequential input over a `ChunkReader`, with bytes already read (e.g. after a header) served first.
struct AgeInput: Sendable {
    let reader: ChunkReader
    private(set) var offset: UInt64 = 0
    private var pending: [UInt8] = []
    private var pendingStart = 0
    private var ended = false

    init(reader: ChunkReader) { self.reader = reader }

    /// Puts bytes back in front of the input.
    mutating func unread(_ bytes: ArraySlice<UInt8>) {
        pending = Array(bytes) + pending[pendingStart...]
        pendingStart = 0
        offset -= UInt64(bytes.count)
    }

    /// Fills `buffer` completely unless the input ends first; returns the byte count.
    mutating func fill(_ buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        if pendingStart < pending.count {
            let count = min(buffer.count, pending.count - pendingStart)
            pending.withUnsafeBytes { source in
                buffer.baseAddress!.copyMemory(from: source.baseAddress! + pendingStart, byteCount: count)
            }
            pendingStart += count
            filled = count
            if pendingStart == pending.count {
                pending = []
                pendingStart = 0
            }
        }
        while filled < buffer.count && !ended {
            let n = try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]),
                                    at: offset + UInt64(filled))
            if n == 0 { ended = true }
            filled += n
        }
        offset += UInt64(filled)
        return filled
    }

    /// Reads up to `count` bytes into an array.
    mutating func read(upTo count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let n = try bytes.withUnsafeMutableBytes { try fill($0) }
        return Array(bytes.prefix(n))
    }
}

/// Seals or opens a payload read from a positional input (a regular file) straight into a regular output file.
/// Each worker reads its next chunk with `pread`, processes it and writes the result with `pwrite` at its final
/// place, so a chunk's bytes stay in one core's cache; memory is two chunk buffers per worker.
///
/// When a chunk fails, the output is cut back to what precedes it (plus the chunk itself where age would release
/// it), exactly the plaintext the streaming path would have released, and the first failure is thrown.
enum AgePositionalRun {
    struct Totals {
        var chunks: UInt64
        var outputBytes: UInt64
    }

    private final class Shared: @unchecked Sendable {
        struct State {
            var next: UInt64 = 0
            var stopped = false
            /// The failing chunk with the lowest index: its index, the output length to keep, the error.
            var failure: (chunk: UInt64, keep: UInt64, error: Error)?
        }
        let state = Mutex(State())
        let output: FileDescriptor
        /// Groups arrive in order and each follows the one before, so the output is one sequential direct write.
        let sequential: DirectWriter
        /// Every write goes through this one serial queue, in group order: concurrent or out-of-order writes to one
        /// file contend on its inode lock and fragment the file system's delayed allocation in the kernel, and a
        /// worker blocked on a lock while a slow write runs would only spin. A worker hands its group over and goes
        /// on with the next one in its other buffer.
        let writer = DispatchQueue(label: "custody.age.write", qos: .userInitiated)
        /// Groups processed but not yet handed to the writer, waiting for the groups before them.
        let waiting = Mutex<(next: UInt64, groups: [UInt64: PendingWrite])>((0, [:]))

        init(output: FileDescriptor, at start: UInt64) {
            self.output = output
            sequential = DirectWriter(output, at: start)
        }
    }

    static func run(mode: AgePayloadEngine.Mode, key: [UInt8], reader: ChunkReader, inputStart: UInt64,
                    inputLength: UInt64, output: FileDescriptor, outputStart: UInt64) throws -> Totals {
        let inChunk = UInt64(mode == .seal ? AgePayloadFormat.chunkSize : AgePayloadFormat.sealedChunkSize)
        let outChunk = UInt64(mode == .seal ? AgePayloadFormat.sealedChunkSize : AgePayloadFormat.chunkSize)
        let chunks = (inputLength + inChunk - 1) / inChunk
        let count = mode == .seal ? max(1, chunks) : chunks
        if count == 0 { throw AgeError.truncated(byteOffset: inputStart) }
        let shared = Shared(output: output, at: outputStart)
        // Chunks are claimed in groups: one read and one write per group, input and output of a group together
        // small enough (512 KiB) to stay in a core's cache.
        let group = 4
        let groups = (count + UInt64(group) - 1) / UInt64(group)
        let workers = Int(min(UInt64(max(1, activeProcessorCount())), groups))
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            let input = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(inChunk) * group, alignment: 64)
            // Two output buffers: one being written while the next group is processed into the other.
            let results = (0..<2).map { _ in
                UnsafeMutableRawBufferPointer.allocate(byteCount: Int(outChunk) * group, alignment: 64)
            }
            let free = results.map { _ in DispatchSemaphore.permits(1) }
            var current = 0
            defer {
                for semaphore in free { semaphore.wait() }
                for semaphore in free { semaphore.signal() }
                input.deallocate()
                for result in results { result.deallocate() }
            }
            key.withUnsafeBytes { keyBytes in
                while true {
                    current ^= 1
                    let result = results[current]
                    let resultFree = free[current]
                    resultFree.wait()
                    guard let first = claim(shared, count: groups) else {
                        resultFree.signal()
                        break
                    }
                    let firstChunk = first * UInt64(group)
                    let chunksHere = Int(min(UInt64(group), count - firstChunk))
                    let offset = inputStart + firstChunk * inChunk
                    let length = Int(min(inChunk * UInt64(chunksHere), inputLength - firstChunk * inChunk))
                    let target = outputStart + firstChunk * outChunk
                    var released = 0
                    do {
                        let view = UnsafeMutableRawBufferPointer(rebasing: input[0..<length])
                        guard try reader.read(into: view, at: offset) == length else {
                            throw AgeOperationError.inputShrank(byteOffset: offset)
                        }
                        var failure: (chunk: UInt64, error: Error)?
                        for index in 0..<chunksHere {
                            let chunk = firstChunk + UInt64(index)
                            let start = index * Int(inChunk)
                            let end = min(start + Int(inChunk), length)
                            let out = index * Int(outChunk)
                            let outcome = AgePayloadFormat.process(
                                UnsafeRawBufferPointer(rebasing: input[start..<end]),
                                into: UnsafeMutableRawBufferPointer(rebasing: result[out..<(out + Int(outChunk))]),
                                chunk: chunk, final: chunk == count - 1, key: keyBytes, mode: mode)
                            let (release, error) = AgePayloadFormat.verdict(
                                outcome, chunk: chunk, offset: offset + UInt64(start), length: end - start,
                                final: chunk == count - 1, mode: mode)
                            released += release
                            if let error {
                                failure = (chunk, error)
                                break
                            }
                        }
                        submit(shared, group: first, PendingWrite(
                            bytes: UnsafeRawBufferPointer(rebasing: result[0..<released]), at: target,
                            firstChunk: firstChunk, failure: failure, done: resultFree))
                    } catch {
                        fail(shared, chunk: firstChunk, keep: target, error)
                        submit(shared, group: first, PendingWrite(
                            bytes: UnsafeRawBufferPointer(start: nil, count: 0), at: target, firstChunk: firstChunk,
                            failure: nil, done: resultFree))
                    }
                }
            }
        }
        try shared.sequential.finish()
        if let failure = shared.state.withLock({ $0.failure }) {
            try output.truncate(to: failure.keep)
            try output.seek(to: Int64(failure.keep))
            throw failure.error
        }
        let total = mode == .seal ? inputLength + count * UInt64(AgeCrypto.tagSize)
            : inputLength - count * UInt64(AgeCrypto.tagSize)
        try output.seek(to: Int64(outputStart + total))
        return Totals(chunks: count, outputBytes: total)
    }

    /// A processed group for the writer: its bytes (in a worker's buffer), where they go, the chunk that failed in
    /// it if any, and the signal that frees the buffer.
    private struct PendingWrite: @unchecked Sendable {
        let bytes: UnsafeRawBufferPointer
        let at: UInt64
        let firstChunk: UInt64
        let failure: (chunk: UInt64, error: Error)?
        let done: DispatchSemaphore
    }

    /// Queues a processed group; hands every group now in order to the writer.
    private static func submit(_ shared: Shared, group: UInt64, _ write: PendingWrite) {
        shared.waiting.withLock { waiting in
            waiting.groups[group] = write
            while let next = waiting.groups.removeValue(forKey: waiting.next) {
                waiting.next += 1
                shared.writer.async { perform(next, shared: shared) }
            }
        }
    }

    private static func perform(_ write: PendingWrite, shared: Shared) {
        defer { write.done.signal() }
        // Past a failed chunk nothing is kept (the output is cut back to it): such groups are not written.
        let pastFailure = shared.state.withLock { state in state.failure.map { write.firstChunk > $0.chunk } ?? false }
        do {
            if write.bytes.count > 0 && !pastFailure { try shared.sequential.write(write.bytes, at: write.at) }
            if let failure = write.failure {
                fail(shared, chunk: failure.chunk, keep: write.at + UInt64(write.bytes.count), failure.error)
            }
        } catch {
            fail(shared, chunk: write.firstChunk, keep: write.at, error)
        }
    }

    private static func claim(_ shared: Shared, count: UInt64) -> UInt64? {
        shared.state.withLock { state in
            guard !state.stopped, state.next < count else { return nil }
            defer { state.next += 1 }
            return state.next
        }
    }

    private static func fail(_ shared: Shared, chunk: UInt64, keep: UInt64, _ error: Error) {
        shared.state.withLock { state in
            state.stopped = true
            if state.failure == nil || chunk < state.failure!.chunk { state.failure = (chunk, keep, error) }
        }
    }

    /// Whether a descriptor is a regular file not opened for appending (positional writes and truncation work).
    static func isRegularFile(_ descriptor: FileDescriptor) -> Bool {
        guard let info = try? descriptor.status(), info.st_mode & S_IFMT == S_IFREG else { return false }
        let flags = fcntl(descriptor.rawValue, F_GETFL)
        return flags >= 0 && flags & O_APPEND == 0
    }
}
