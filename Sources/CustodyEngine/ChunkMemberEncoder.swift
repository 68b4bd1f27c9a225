import CustodyBase
import CustodyCrypto

/// Encodes one file's chunks into custody gzip members (SPEC.md section 3.1) on the calling thread, one after the
/// other: for engines that already run many files at once (a collection seal), where `EvidencePacker`'s own
/// pipeline per file would only add threads. The members are byte-for-byte what `EvidencePacker` writes for the
/// same chunks at the same level and engine. Used by one thread at a time (it may be handed between threads).
public final class ChunkMemberEncoder: @unchecked Sendable {
    /// The compression level (0 stores).
    public let level: Int
    /// The chunk size the members declare.
    public let chunkSize: Int
    private let deflaters: ObjectPool<any ChunkDeflater>
    private let buffers: ObjectPool<ByteBuffer>
    private let zeroMember: [UInt8]

    /// An encoder at `level` (0-9) for chunks of `chunkSize`, with `engine` (the level's default when nil).
    public init(level: Int, chunkSize: Int, engine: CompressionEngine? = nil) throws {
        guard (0...9).contains(level) else { throw EngineError.levelNotAllowed(level) }
        _ = try TreeChunkSize.validate(UInt64(chunkSize))
        self.level = level
        self.chunkSize = chunkSize
        let chosen = engine ?? CompressionEngine.deflating(level: level)
        deflaters = ObjectPool { try CompressionEngine.makeDeflater(level: level, engine: chosen) }
        let capacity = PackFormat.maximumMemberSize(chunkSize: chunkSize)
        buffers = ObjectPool { ByteBuffer(capacity: capacity) }
        zeroMember = try PackRun.zeroMember(level: level, chunkSize: chunkSize, deflaters: deflaters,
                                            buffers: buffers)
    }

    /// The member for chunk `index` holding `content` (at most one chunk), passed to `body` while valid.
    public func withMember<Result>(for content: UnsafeRawBufferPointer, index: UInt64,
                                   _ body: (UnsafeRawBufferPointer) throws -> Result) throws -> Result {
        if level > 0 && content.count == chunkSize && Merkle.isAllZero(content) {
            var member = zeroMember
            for byte in 0..<8 { member[24 + byte] = UInt8(truncatingIfNeeded: index >> (8 * UInt64(byte))) }
            return try member.withUnsafeBytes(body)
        }
        let buffer = try PackRun.buildMember(content, index: index, level: level, chunkSize: chunkSize,
                                             deflaters: deflaters, buffers: buffers)
        defer { buffers.give(buffer) }
        return try body(buffer.bytes)
    }

    /// The end-of-file member after `chunkCount` chunks.
    public func endOfFile(chunkCount: UInt64) -> [UInt8] {
        PackFormat.endOfFileMember(chunkCount: chunkCount, chunkSize: chunkSize)
    }
}
