import CustodyBase
import CustodyCrypto
import CustodyIO
import Dispatch
import Synchronization

/// What packing computed: the content's digests (read once) and the packed file's shape.
@dynamicMemberLookup
public struct PackResult: Sendable {
    /// The content read and the packed file written: sizes, tree digest, leaves, linear digests.
    public var content: PackedContent
    /// Linear digests of the packed bytes (for manifests), when asked for.
    public var packedDigests: [DigestAlgorithm: [UInt8]]
    /// Chunks written as stored blocks, and chunks taking the all-zero fast path.
    public var storedChunks: UInt64
    /// Chunks that were all zeros.
    public var zeroChunks: UInt64

    /// A result of the given fields.
    package init(size: UInt64, packedSize: UInt64, chunkSize: Int, chunkCount: UInt64, treeRoot: Hash32,
                 leaves: [Hash32], digests: [DigestAlgorithm: [UInt8]], packedDigests: [DigestAlgorithm: [UInt8]],
                 storedChunks: UInt64, zeroChunks: UInt64) {
        content = PackedContent(size: size, packedSize: packedSize, chunkSize: chunkSize, chunkCount: chunkCount,
                                treeRoot: treeRoot, leaves: leaves, digests: digests)
        self.packedDigests = packedDigests
        self.storedChunks = storedChunks
        self.zeroChunks = zeroChunks
    }

    /// A field of `content` (`result.size`, `result.treeRoot`, ...).
    public subscript<Value>(dynamicMember field: KeyPath<PackedContent, Value>) -> Value { content[keyPath: field] }

    /// packedSize / size (1 for empty content).
    public var ratio: Double { content.size == 0 ? 1 : Double(content.packedSize) / Double(content.size) }
}

/// Packs content into custody's multi-member gzip format (SPEC.md section 3) in one parallel pass: chunks
/// are compressed on Dispatch workers and written in order, while the tree digest and the linear digests of
/// the content are computed from the same reads. Memory is a window of chunks, never the whole input.
public struct EvidencePacker: Sendable {
    /// The default zlib level: 1, the fastest (see Benchmarks/RESULTS-pack.md).
    public static let defaultLevel = 1

    /// zlib level 0...9; 0 stores every chunk.
    public var level: Int
    /// Chunk size: a power of two from 64 KiB to 64 MiB (also the tree digest's chunk size).
    public var chunkSize: Int
    /// Linear digests of the content to compute.
    public var linearDigests: [DigestAlgorithm]
    /// Linear digests of the packed bytes to compute while writing them.
    public var packedDigests: [DigestAlgorithm]
    /// Positional readers (see `ChunkPipeline.readers`).
    public var readers: Int
    /// Chunks in flight; nil for `ChunkPipeline.packingSlotCount`.
    public var slotCount: Int?
    /// Called with the running count of content bytes read.
    public var progress: (@Sendable (UInt64) -> Void)?
    /// Polled between chunks; true stops packing.
    public var shouldStop: (@Sendable () -> Bool)?
    /// Continue an interrupted pack: the sink already holds the members of the first chunks (see
    /// `verifyPrefix(of:)`), and packing appends from the next chunk on.
    public var resumePoint: ResumePoint?
    /// Called with each chunk's index and leaf hash, in chunk order, before its member is written.
    public var leafObserver: (@Sendable (UInt64, Hash32) -> Void)?
    /// The engine that deflates; nil for the one serving `level` in this process
    /// (`CompressionEngine.deflating(level:)`). Either writes the same format.
    public var engine: CompressionEngine?

    /// The state of a pack after its first whole chunks: the content's (tree leaves, linear digests) and the
    /// packed bytes' (count, open digesters). Built by `verifyPrefix(of:)` from what an interrupted run wrote.
    public struct ResumePoint: @unchecked Sendable {
        /// The content pipeline's state after the verified chunks.
        public var content: ChunkPipeline.ResumePoint
        /// One open digester per `packedDigests` algorithm, in the same order, fed with the packed prefix.
        public var packedDigesters: [Digester]
        /// Bytes of the packed prefix.
        public var packedSize: UInt64
        /// Chunks written as stored blocks so far.
        public var storedChunks: UInt64
        /// All-zero chunks so far.
        public var zeroChunks: UInt64

        /// The state of a packed file after its verified members.
        public init(content: ChunkPipeline.ResumePoint, packedDigesters: [Digester], packedSize: UInt64,
                    storedChunks: UInt64 = 0, zeroChunks: UInt64 = 0) {
            self.content = content
            self.packedDigesters = packedDigesters
            self.packedSize = packedSize
            self.storedChunks = storedChunks
            self.zeroChunks = zeroChunks
        }
    }

    /// A packer of the given level, chunk size and digests.
    public init(level: Int = EvidencePacker.defaultLevel, chunkSize: Int = TreeChunkSize.default,
                linearDigests: [DigestAlgorithm] = [.sha256], packedDigests: [DigestAlgorithm] = [],
                readers: Int = 1) {
        self.level = level
        self.chunkSize = chunkSize
        self.linearDigests = linearDigests
        self.packedDigests = packedDigests
        self.readers = readers
    }

    /// Packs everything `reader` yields into `sink`, end-of-file member included. The sink is not synced.
    public func pack(_ reader: ChunkReader, to sink: ByteSink) throws -> PackResult {
        guard (0...9).contains(level) else {
            throw EngineError.levelNotAllowed(level)
        }
        _ = try TreeChunkSize.validate(UInt64(chunkSize))
        var pipeline = ChunkPipeline(chunkSize: chunkSize, linearDigests: linearDigests, computeTree: true,
                                     keepLeaves: true, readers: readers,
                                     slotCount: slotCount ?? ChunkPipeline.packingSlotCount(chunkSize: chunkSize))
        pipeline.progress = progress
        pipeline.shouldStop = shouldStop
        pipeline.resumePoint = resumePoint?.content
        pipeline.leafObserver = leafObserver
        if let resumePoint, resumePoint.packedDigesters.map(\.algorithm) != packedDigests {
            throw EngineError.resumePointPackedDigestsDiffer
        }
        let run = try PackRun(level: level, chunkSize: chunkSize, sink: sink, packedDigests: packedDigests,
                              resumePoint: resumePoint, engine: engine)
        let result: PipelineResult
        do {
            // Unowned: the pipeline's stages run only before `run` returns, but its worker blocks are released a
            // moment later; they must not keep the run (and the sink) alive past this call.
            result = try pipeline.run(reader, parallel: { [unowned run] in try run.encode($0) },
                                      ordered: { [unowned run] in try run.emit($0, $1) })
        } catch {
            // Members already written are still being digested on the packed-digest queues, which hold the run and
            // through it the sink: wait for them, so that nothing of this pack outlives the call (a caller that
            // resumes at once must find the sink, its file and whatever they keep open released).
            run.waitForPackedDigests()
            throw error
        }
        let trailer = PackFormat.endOfFileMember(chunkCount: result.chunkCount, chunkSize: chunkSize)
        try trailer.withUnsafeBytes { try run.write($0) }
        let state = run.finish()
        return PackResult(size: result.size, packedSize: state.written, chunkSize: chunkSize,
                          chunkCount: result.chunkCount, treeRoot: result.treeRoot ?? Merkle.emptyRoot,
                          leaves: result.leaves, digests: result.digests, packedDigests: state.digests,
                          storedChunks: state.stored, zeroChunks: state.zero)
    }
}

/// One chunk's member, between the parallel and the ordered stage.
enum EncodedMember: Sendable {
    /// A complete member in a pooled buffer.
    case buffer(ByteBuffer, stored: Bool)
    /// The precomputed all-zero member (full chunk size), to be stamped with the chunk index.
    case zero
}

/// The state of one packing run.
final class PackRun: @unchecked Sendable {
    let level: Int
    let chunkSize: Int
    let sink: ByteSink
    let deflaters: ObjectPool<any ChunkDeflater>
    let buffers: ObjectPool<ByteBuffer>
    /// The member for a full chunk of zeros, index 0 (patched per chunk).
    let zeroMember: [UInt8]
    private let packedDigesters: [Digester]
    /// One serial queue per packed digest, so they overlap each other and the writes.
    private let packedQueues: [DispatchQueue]
    private let packedDigesting = DispatchGroup()
    /// Members written but still being digested: bounds the buffers held by the packed digests.
    private let membersInDigest: DispatchSemaphore
    // Touched only by the ordered stage.
    private var written: UInt64 = 0
    private var stored: UInt64 = 0
    private var zero: UInt64 = 0

    init(level: Int, chunkSize: Int, sink: ByteSink, packedDigests: [DigestAlgorithm],
         resumePoint: EvidencePacker.ResumePoint? = nil, engine: CompressionEngine? = nil) throws {
        self.level = level
        self.chunkSize = chunkSize
        self.sink = sink
        let engine = engine ?? CompressionEngine.deflating(level: level)
        deflaters = ObjectPool { try CompressionEngine.makeDeflater(level: level, engine: engine) }
        let capacity = PackFormat.maximumMemberSize(chunkSize: chunkSize)
        buffers = ObjectPool { ByteBuffer(capacity: capacity) }
        if let resumePoint {
            packedDigesters = resumePoint.packedDigesters
            written = resumePoint.packedSize
            stored = resumePoint.storedChunks
            zero = resumePoint.zeroChunks
        } else {
            packedDigesters = packedDigests.map { Digester($0) }
        }
        packedQueues = packedDigesters.map {
            DispatchQueue(label: "custody.pack.\($0.algorithm.rawValue)", qos: .userInitiated)
        }
        membersInDigest = DispatchSemaphore.permits(2 * activeProcessorCount() + 2)
        zeroMember = try PackRun.zeroMember(level: level, chunkSize: chunkSize, deflaters: deflaters,
                                            buffers: buffers)
    }

    /// The parallel stage: builds the chunk's member.
    func encode(_ chunk: Chunk) throws -> EncodedMember {
        if level > 0 && chunk.bytes.count == chunkSize && chunk.isAllZero { return .zero }
        let buffer = try PackRun.buildMember(chunk.bytes, index: chunk.index, level: level, chunkSize: chunkSize,
                                             deflaters: deflaters, buffers: buffers)
        return .buffer(buffer, stored: buffer.storage[17] & PackFormat.Flags.stored.rawValue != 0)
    }

    /// The member of an all-zero chunk of `chunkSize` at `level` (flagged `zero`, index 0: the caller writes the
    /// index), built once per run and copied for every zero chunk; empty at level 0, which stores zeros as data.
    static func zeroMember(level: Int, chunkSize: Int, deflaters: ObjectPool<any ChunkDeflater>,
                           buffers: ObjectPool<ByteBuffer>) throws -> [UInt8] {
        guard level > 0 else { return [] }
        let zeros = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 64)
        defer { zeros.deallocate() }
        zeros.initializeMemory(as: UInt8.self, repeating: 0)
        let buffer = try buildMember(UnsafeRawBufferPointer(zeros), index: 0, level: level, chunkSize: chunkSize,
                                     deflaters: deflaters, buffers: buffers)
        defer { buffers.give(buffer) }
        var member = Array(buffer.bytes)
        member[17] |= PackFormat.Flags.zero.rawValue
        return member
    }

    /// Compresses (or stores) `content` into a complete member in a pooled buffer.
    static func buildMember(_ content: UnsafeRawBufferPointer, index: UInt64, level: Int, chunkSize: Int,
                            deflaters: ObjectPool<any ChunkDeflater>, buffers: ObjectPool<ByteBuffer>) throws -> ByteBuffer {
        let buffer = try buffers.take()
        let base = buffer.storage.baseAddress!
        let dataStart = PackFormat.headerSize
        let storedSize = PackFormat.storedDataSize(content.count)
        var dataSize: Int?
        if level > 0 && PackFormat.sampledEntropy(content) < PackFormat.storeEntropyThreshold {
            let deflater = try deflaters.take()
            defer { deflaters.give(deflater) }
            // Only a stream strictly smaller than the stored form is worth keeping: bound the output there.
            let room = UnsafeMutableRawBufferPointer(start: base + dataStart, count: storedSize - 1)
            dataSize = try deflater.compress(content, into: room, segment: PackFormat.segmentSize,
                                             incompressible: PackFormat.segmentIsIncompressible)
        }
        var flags: PackFormat.Flags = []
        if dataSize == nil {
            dataSize = PackFormat.writeStoredBlocks(content, to: base + dataStart)
            flags.insert(.stored)
        }
        let memberSize = dataStart + dataSize! + PackFormat.trailerSize
        let header = PackFormat.MemberHeader(flags: flags, chunkShift: PackFormat.shift(forChunkSize: chunkSize),
                                             memberSize: UInt32(memberSize), index: index)
        header.write(to: base)
        storeLittleEndian(PackFormat.crc32(content), at: base + dataStart + dataSize!)
        storeLittleEndian(UInt32(truncatingIfNeeded: content.count), at: base + dataStart + dataSize! + 4)
        buffer.count = memberSize
        return buffer
    }

    /// The ordered stage: writes the member, then hands it to the packed digests.
    func emit(_ chunk: Chunk, _ member: EncodedMember) throws {
        let buffer: ByteBuffer
        switch member {
        case .buffer(let built, let wasStored):
            if wasStored { stored += 1 }
            buffer = built
        case .zero:
            zero += 1
            buffer = try buffers.take()
            buffer.count = zeroMember.count
            zeroMember.withUnsafeBytes {
                buffer.storage.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count)
            }
            storeLittleEndian(chunk.index, at: buffer.storage.baseAddress! + 24)
        }
        do {
            try sink.write(buffer.bytes)
        } catch {
            buffers.give(buffer)
            throw error
        }
        written += UInt64(buffer.count)
        digestPacked(buffer)
    }

    /// Feeds a written member to every packed digest, each on its own queue; the buffer returns to the pool
    /// when the last one is done.
    private func digestPacked(_ buffer: ByteBuffer) {
        guard !packedDigesters.isEmpty else { return buffers.give(buffer) }
        membersInDigest.wait()
        let remaining = Countdown(packedDigesters.count)
        for (queue, digester) in zip(packedQueues, packedDigesters) {
            queue.async(group: packedDigesting) {
                digester.update(buffer.bytes)
                guard remaining.finishOne() else { return }
                self.buffers.give(buffer)
                self.membersInDigest.signal()
            }
        }
    }

    /// Writes bytes to the sink, counting and digesting them (after every member handed on before).
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        try sink.write(bytes)
        packedDigesting.wait()
        for digester in packedDigesters { digester.update(bytes) }
        written += UInt64(bytes.count)
    }

    /// Waits until every member handed to the packed digests has been digested.
    func waitForPackedDigests() {
        packedDigesting.wait()
    }

    func finish() -> (written: UInt64, stored: UInt64, zero: UInt64, digests: [DigestAlgorithm: [UInt8]]) {
        packedDigesting.wait()
        var digests: [DigestAlgorithm: [UInt8]] = [:]
        for digester in packedDigesters { digests[digester.algorithm] = digester.finalize() }
        return (written, stored, zero, digests)
    }
}
