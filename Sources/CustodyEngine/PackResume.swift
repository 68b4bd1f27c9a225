import CustodyBase
import CustodyCrypto
import CustodyIO
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// What `EvidencePacker.verifyPrefix(of:)` found in the output of an interrupted pack.
public struct PackedPrefix: Sendable {
    /// The state after the verified members, for `EvidencePacker.resumePoint`.
    public var resumePoint: EvidencePacker.ResumePoint
    /// Bytes of the verified members: the file is to be cut here before packing appends to it.
    public var validSize: UInt64
    /// Bytes the file held.
    public var fileSize: UInt64
    /// Why verification stopped before the end of the file (nil when every byte belonged to a verified member).
    public var stopReason: String?

    /// Verified whole chunks.
    public var chunkCount: UInt64 { resumePoint.content.chunkCount }
}

extension EvidencePacker {
    /// Re-reads the members an interrupted pack wrote to `descriptor` (opened for reading, positional reads),
    /// from the start: each member is inflated and checked (header, chunk index and size, CRC-32, ISIZE, a whole
    /// chunk of content) while the content feeds the tree leaves and linear digests and the packed bytes feed
    /// `packedDigests`, exactly as packing would have. Stops at the first member that is incomplete, invalid,
    /// shorter than a whole chunk or the end-of-file member; everything from there on is to be cut and packed
    /// again. The file is not modified.
    ///
    /// The packed-byte digests run beside the content check, over every member whose header is sound; in the
    /// rare case that a member inside that extent fails the content check, they are computed again up to the
    /// last good member.
    ///
    /// `knownLeaves` are leaf hashes the interrupted run kept for its first chunks: those chunks are still inflated
    /// and CRC-checked, but not hashed again.
    public func verifyPrefix(of descriptor: FileDescriptor, knownLeaves: [Hash32] = []) throws -> PackedPrefix {
        _ = try TreeChunkSize.validate(UInt64(chunkSize))
        let fileSize = UInt64(try descriptor.status().st_size)
        let scan = try PrefixScan.members(of: descriptor, fileSize: fileSize, chunkSize: chunkSize)
        let scanned = scan.members.last.map { $0.offset + UInt64($0.size) } ?? 0
        let zeroMember = level > 0 ? try PackRun(level: level, chunkSize: chunkSize, sink: MemorySink(),
                                                 packedDigests: []).zeroMember : []
        let reader = PrefixMemberReader(descriptor: descriptor, members: scan.members, chunkSize: chunkSize,
                                        zeroMember: zeroMember)
        var pipeline = ChunkPipeline(chunkSize: chunkSize, linearDigests: linearDigests, computeTree: true,
                                     keepLeaves: true, readers: max(readers, activeProcessorCount()),
                                     slotCount: slotCount ?? ChunkPipeline.packingSlotCount(chunkSize: chunkSize))
        pipeline.shouldStop = shouldStop
        pipeline.progress = progress
        pipeline.knownLeaves = knownLeaves
        let packedPipeline = ChunkPipeline(chunkSize: 1 << 20, linearDigests: packedDigests, computeTree: false)
        let content = Mutex<Result<ChunkPipeline.ResumePoint, Error>?>(nil)
        let packed = Mutex<Result<(size: UInt64, digesters: [Digester]), Error>?>(nil)
        let configured = pipeline
        runOnThreads([{
            let outcome = Result { try configured.runToResumePoint(reader, parallel: { _ in () }, ordered: nil) }
            content.withLock { $0 = outcome }
        }, {
            let outcome = Result {
                try packedPipeline.digestKeepingState(PrefixChunkReader(descriptor, limit: scanned))
            }
            packed.withLock { $0 = outcome }
        }])
        let point = try content.withLock { $0! }.get()
        let count = Int(point.chunkCount)
        let kept = scan.members.prefix(count)
        let validSize = kept.last.map { $0.offset + UInt64($0.size) } ?? 0
        var packedState = try packed.withLock { $0! }.get()
        if packedState.size != validSize {
            packedState = try packedPipeline.digestKeepingState(PrefixChunkReader(descriptor, limit: validSize))
        }
        var reason: String?
        if count < scan.members.count {
            reason = reader.failure ?? "chunk \(count) could not be read back"
        } else if validSize < fileSize {
            reason = scan.stopReason
        }
        let resume = ResumePoint(
            content: point, packedDigesters: packedState.digesters, packedSize: validSize,
            storedChunks: UInt64(kept.filter { $0.flags.contains(.stored) }.count),
            zeroChunks: UInt64(kept.filter { $0.flags.contains(.zero) }.count))
        return PackedPrefix(resumePoint: resume, validSize: validSize, fileSize: fileSize, stopReason: reason)
    }
}

/// Hops over the member headers of a partial packed file.
enum PrefixScan {
    /// The members whose headers are sound and lie wholly inside the file, up to the first that is not (or the
    /// end-of-file member), and why the scan stopped there.
    static func members(of descriptor: FileDescriptor, fileSize: UInt64, chunkSize: Int) throws
        -> (members: [PackedEvidenceFile.Member], stopReason: String?) {
        var members: [PackedEvidenceFile.Member] = []
        var offset: UInt64 = 0
        var header = [UInt8](repeating: 0, count: PackFormat.headerSize)
        while offset < fileSize {
            let index = UInt64(members.count)
            let place = "chunk \(index) (packed byte \(offset))"
            let got = try header.withUnsafeMutableBytes { try descriptor.readFully(into: $0, at: offset) }
            let parsed = header.withUnsafeBytes {
                PackFormat.MemberHeader.parse(UnsafeRawBufferPointer(rebasing: $0[0..<got]))
            }
            let member: PackFormat.MemberHeader
            switch parsed {
            case .success(let value): member = value
            case .failure(let problem): return (members, "\(place): \(problem.text)")
            }
            if member.flags.contains(.endOfFile) { return (members, "\(place): the end-of-file member") }
            guard member.chunkSize == chunkSize else {
                return (members, "\(place): member chunk size \(member.chunkSize), not \(chunkSize)")
            }
            guard member.index == index else { return (members, "\(place): member carries index \(member.index)") }
            guard offset + UInt64(member.memberSize) <= fileSize else {
                return (members, "\(place): the file ends inside the member")
            }
            members.append(PackedEvidenceFile.Member(offset: offset, size: member.memberSize, flags: member.flags))
            offset += UInt64(member.memberSize)
        }
        return (members, nil)
    }
}

/// Reads chunk `i` of the content by inflating and checking member `i` of a partial packed file. A member
/// that fails a check reads as the end of input (and is remembered), so the pipeline stops before it.
final class PrefixMemberReader: ChunkReader, @unchecked Sendable {
    let descriptor: FileDescriptor
    let members: [PackedEvidenceFile.Member]
    let chunkSize: Int
    /// The member packing writes for a chunk of zeros (index 0), or empty: a member equal to it apart from the
    /// index is all zeros without inflating it.
    let zeroMember: [UInt8]
    private let inflaters = ObjectPool { try CompressionEngine.makeInflater() }
    private let buffers: ObjectPool<ByteBuffer>
    private let firstFailure = Mutex<(index: Int, reason: String)?>(nil)

    var knownSize: UInt64? { UInt64(members.count) * UInt64(chunkSize) }
    var supportsPositionalReads: Bool { true }

    init(descriptor: FileDescriptor, members: [PackedEvidenceFile.Member], chunkSize: Int, zeroMember: [UInt8]) {
        self.descriptor = descriptor
        self.members = members
        self.chunkSize = chunkSize
        self.zeroMember = zeroMember
        let capacity = PackFormat.maximumMemberSize(chunkSize: chunkSize)
        buffers = ObjectPool { ByteBuffer(capacity: capacity) }
    }

    /// The first member that failed, in words.
    var failure: String? { firstFailure.withLock { $0?.reason } }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        let index = Int(offset / UInt64(chunkSize))
        guard index < members.count else { return 0 }
        if let problem = check(index, into: buffer) {
            let member = members[index]
            let range = PackFormat.describeRange(member.offset..<(member.offset + UInt64(member.size)))
            firstFailure.withLock { first in
                if first == nil || first!.index > index {
                    first = (index, "chunk \(index) (packed bytes \(range)): \(problem)")
                }
            }
            return 0
        }
        return chunkSize
    }

    /// Inflates member `index` into `output` (a whole chunk); returns what is wrong, or nil.
    private func check(_ index: Int, into output: UnsafeMutableRawBufferPointer) -> String? {
        let member = members[index]
        guard let input = try? buffers.take() else { return "out of memory" }
        defer { buffers.give(input) }
        let wanted = UnsafeMutableRawBufferPointer(rebasing: input.storage[0..<Int(member.size)])
        guard let got = try? descriptor.readFully(into: wanted, at: member.offset), got == Int(member.size) else {
            return "the member cannot be read back"
        }
        let target = UnsafeMutableRawBufferPointer(rebasing: output[0..<chunkSize])
        if member.flags.contains(.zero) && isZeroMember(UnsafeRawBufferPointer(wanted)) {
            target.initializeMemory(as: UInt8.self, repeating: 0)
            return nil
        }
        let dataEnd = Int(member.size) - PackFormat.trailerSize
        let data = UnsafeRawBufferPointer(rebasing: input.storage[PackFormat.headerSize..<dataEnd])
        guard let inflater = try? inflaters.take() else { return "zlib could not start" }
        defer { inflaters.give(inflater) }
        switch inflater.inflate(data, into: target) {
        case .complete(let produced, let consumed):
            guard produced == chunkSize else { return "holds \(produced) bytes, not a whole chunk" }
            guard consumed == data.count else { return "wrong member size" }
        case .overflow: return "inflates past the chunk size"
        case .truncated: return "deflate data cut short"
        case .corrupt(let message): return "corrupt deflate data (zlib: \(message))"
        }
        let crc: UInt32 = loadLittleEndian(input.storage.baseAddress! + dataEnd)
        let isize: UInt32 = loadLittleEndian(input.storage.baseAddress! + dataEnd + 4)
        guard isize == UInt32(truncatingIfNeeded: chunkSize) else { return "ISIZE \(isize) differs" }
        guard PackFormat.crc32(UnsafeRawBufferPointer(target)) == crc else { return "CRC-32 mismatch" }
        return nil
    }

    /// Whether `bytes` is the all-zero member apart from its chunk index (header bytes 24-31).
    private func isZeroMember(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard !zeroMember.isEmpty, bytes.count == zeroMember.count else { return false }
        return zeroMember.withUnsafeBytes { expected in
            memcmp(expected.baseAddress!, bytes.baseAddress!, 24) == 0
                && memcmp(expected.baseAddress! + 32, bytes.baseAddress! + 32, bytes.count - 32) == 0
        }
    }
}
