import CustodyBase
import CustodyCrypto
import CustodyEngine
import CustodyIO

/// The raw-copy pipeline of a seal stored without compression (`compress` off): copies content unchanged into
/// the payload while computing the same digests as packing (the content's, and the payload's for the manifests,
/// which are the same bytes), and re-hashes an interrupted run's durable part to continue from.
struct SealRawCopy {
    /// The tree digest's chunk size.
    let chunkSize: Int
    /// The linear digests of the content.
    let linear: [DigestAlgorithm]
    /// Parallel positional readers.
    let readers: Int
    /// Asked between chunks: true stops the copy.
    let shouldStop: (@Sendable () -> Bool)?

    /// The content's digests and the manifests' that are not among them: one pass computes both.
    private var pipelineDigests: [DigestAlgorithm] {
        linear + BundleLayout.payloadManifests.filter { !linear.contains($0) }
    }

    /// Re-hashes the first `chunks` chunks of a raw payload (the interrupted run's durable part) and returns the
    /// state to continue copying from.
    func rehash(_ output: FileDescriptor, chunks: UInt64, knownLeaves: [Hash32]) throws -> ChunkPipeline.ResumePoint {
        var pipeline = ChunkPipeline(chunkSize: chunkSize, linearDigests: pipelineDigests, keepLeaves: true,
                                     readers: max(readers, activeProcessorCount()))
        pipeline.shouldStop = shouldStop
        pipeline.knownLeaves = knownLeaves
        let limit = chunks * UInt64(chunkSize)
        let point = try pipeline.runToResumePoint(PrefixChunkReader(output, limit: limit), parallel: { _ in () },
                                                  ordered: nil)
        guard point.chunkCount == chunks else {
            throw SealError.payloadShorterThanJournal(path: output.path, chunks: point.chunkCount, journaled: chunks)
        }
        return point
    }

    /// Copies `reader` into `sink` from `start` (nil: from the beginning), appending each leaf to `leafLog`.
    func copy(_ reader: ChunkReader, to sink: DurableSink, start: ChunkPipeline.ResumePoint?, leafLog: LeafLog,
              progress: (@Sendable (UInt64) -> Void)?) throws -> PackResult {
        var pipeline = ChunkPipeline(chunkSize: chunkSize, linearDigests: pipelineDigests, keepLeaves: true,
                                     readers: readers)
        pipeline.shouldStop = shouldStop
        pipeline.resumePoint = start
        pipeline.leafObserver = { leafLog.append($0, $1) }
        pipeline.progress = progress
        let result = try pipeline.run(reader, parallel: { _ in () }, ordered: { chunk, _ in
            try sink.write(chunk.bytes)
        })
        var contentDigests: [DigestAlgorithm: [UInt8]] = [:]
        for algorithm in linear { contentDigests[algorithm] = result.digests[algorithm] }
        var stored: [DigestAlgorithm: [UInt8]] = [:]
        for algorithm in BundleLayout.payloadManifests { stored[algorithm] = result.digests[algorithm] }
        return PackResult(size: result.size, packedSize: result.size, chunkSize: result.chunkSize,
                          chunkCount: result.chunkCount, treeRoot: result.treeRoot ?? Merkle.emptyRoot,
                          leaves: result.leaves, digests: contentDigests, packedDigests: stored, storedChunks: 0,
                          zeroChunks: 0)
    }
}
