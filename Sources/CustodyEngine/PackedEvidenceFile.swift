import CustodyBase
import CustodyCrypto
import CustodyIO

/// Random access to the chunks of a packed file: opening it hops from member header to member header using
/// the member size in each `CU` subfield (reading 32 bytes per member, never the compressed data), which
/// yields an index of member offsets; `readChunk(_:)` then reads and inflates only the member asked for.
public struct PackedEvidenceFile: Sendable {
    /// Where one chunk's member lies.
    public struct Member: Sendable, Equatable {
        /// The member's first byte in the file.
        public var offset: UInt64
        /// The member's size.
        public var size: UInt32
        /// The member's flags.
        public var flags: PackFormat.Flags
    }

    /// The packed file, read with `pread`.
    public let descriptor: FileDescriptor
    /// The chunk size of its members.
    public let chunkSize: Int
    /// Every chunk's member, in order.
    public let members: [Member]
    /// Content size (from the chunk count and the last member's ISIZE).
    public let contentSize: UInt64

    /// The number of chunks.
    public var chunkCount: Int { members.count }

    /// Indexes the packed file behind `descriptor` (which must support positional reads). Throws a
    /// verification error naming the chunk and byte offset when the member chain is broken.
    public init(descriptor: FileDescriptor) throws {
        self.descriptor = descriptor
        let fileSize = UInt64(try descriptor.status().st_size)
        var members: [Member] = []
        var offset: UInt64 = 0
        var chunkSize: Int?
        var header = [UInt8](repeating: 0, count: PackFormat.headerSize)
        while true {
            let index = UInt64(members.count)
            let member = try PackFormat.MemberHeader.read(descriptor, at: offset, chunk: index, into: &header)
            if chunkSize == nil { chunkSize = member.chunkSize }
            guard member.chunkSize == chunkSize else {
                throw PackedFileError.chunkSizeDiffers(path: descriptor.path, chunk: index, offset: offset,
                                                       found: member.chunkSize, expected: chunkSize!)
            }
            if member.flags.contains(.endOfFile) {
                guard member.index == index, offset + UInt64(member.memberSize) == fileSize else {
                    throw PackedFileError.endOfFileMemberMisplaced(path: descriptor.path, offset: offset,
                                                                   counted: member.index, chunks: index,
                                                                   fileSize: fileSize)
                }
                var whole = [UInt8](repeating: 0, count: PackFormat.minimumMemberSize)
                let read = try whole.withUnsafeMutableBytes { try descriptor.readFully(into: $0, at: offset) }
                guard member.memberSize == UInt32(whole.count), read == whole.count,
                      whole == PackFormat.endOfFileMember(chunkCount: index, chunkSize: member.chunkSize) else {
                    throw PackedFileError.malformedEndOfFileMember(path: descriptor.path, offset: offset)
                }
                break
            }
            guard member.index == index else {
                throw PackedFileError.indexDiffers(path: descriptor.path, chunk: index, offset: offset,
                                                   found: member.index)
            }
            members.append(Member(offset: offset, size: member.memberSize, flags: member.flags))
            offset += UInt64(member.memberSize)
        }
        self.chunkSize = chunkSize!
        self.members = members
        if let last = members.last {
            var isize = [UInt8](repeating: 0, count: 4)
            let got = try isize.withUnsafeMutableBytes {
                try descriptor.readFully(into: $0, at: last.offset + UInt64(last.size) - 4)
            }
            let lastSize: UInt32 = got == 4 ? isize.withUnsafeBytes { loadLittleEndian($0.baseAddress!) } : 0
            contentSize = UInt64(members.count - 1) * UInt64(chunkSize!) + UInt64(min(lastSize, UInt32(chunkSize!)))
        } else {
            contentSize = 0
        }
    }

    /// Reads, inflates and checks (CRC-32, ISIZE, size limit) chunk `index`, reading only its member.
    public func readChunk(_ index: Int) throws -> [UInt8] {
        guard index >= 0, index < members.count else {
            throw PackedFileError.noSuchChunk(index: index, count: members.count)
        }
        let member = members[index]
        let input = ByteBuffer(capacity: Int(member.size))
        input.count = try descriptor.readFully(into: input.storage, at: member.offset)
        guard input.count == Int(member.size) else {
            throw PackedFileError.damagedChunk(path: descriptor.path, DamagedChunk(
                index: UInt64(index), packedRange: member.offset..<(member.offset + UInt64(member.size)),
                contentRange: UInt64(index) * UInt64(chunkSize)..<UInt64(index) * UInt64(chunkSize),
                reason: "truncated member"))
        }
        return try PackedEvidenceFile.inflateMember(UnsafeRawBufferPointer(rebasing: input.storage[0..<input.count]),
                                                    index: UInt64(index),
                                                    offset: member.offset, chunkSize: chunkSize,
                                                    path: descriptor.path)
    }

    /// Inflates one whole member (`member`: its bytes, header to trailer) of chunk `index` found at packed byte
    /// `offset`, checking that it inflates to at most `chunkSize` bytes, fills its member exactly, and matches its
    /// ISIZE and CRC-32. Errors name `path`, the chunk and its packed bytes.
    public static func inflateMember(_ member: UnsafeRawBufferPointer, index: UInt64, offset: UInt64, chunkSize: Int,
                                     path: String) throws -> [UInt8] {
        let range = offset..<(offset + UInt64(member.count))
        let contentStart = index * UInt64(chunkSize)
        func damaged(_ reason: String) -> PackedFileError {
            PackedFileError.damagedChunk(path: path, DamagedChunk(
                index: index, packedRange: range, contentRange: contentStart..<contentStart, reason: reason))
        }
        guard member.count >= PackFormat.minimumMemberSize else { throw damaged("truncated member") }
        let output = ByteBuffer(capacity: chunkSize + 1)
        let dataEnd = member.count - PackFormat.trailerSize
        let data = UnsafeRawBufferPointer(rebasing: member[PackFormat.headerSize..<dataEnd])
        let inflater = try CompressionEngine.makeInflater()
        switch inflater.inflate(data, into: output.storage) {
        case .complete(let produced, let consumed):
            guard produced <= chunkSize else { throw damaged("decompression bomb: inflates past the chunk size") }
            guard consumed == data.count else { throw damaged("wrong member size") }
            output.count = produced
        case .overflow: throw damaged("decompression bomb: inflates past the chunk size")
        case .truncated: throw damaged("deflate data cut short")
        case .corrupt(let message): throw damaged("corrupt deflate data (zlib: \(message))")
        }
        let crc: UInt32 = loadLittleEndian(member.baseAddress! + dataEnd)
        let isize: UInt32 = loadLittleEndian(member.baseAddress! + dataEnd + 4)
        guard isize == UInt32(output.count) else { throw damaged("ISIZE \(isize) differs from \(output.count)") }
        guard PackFormat.crc32(output.bytes) == crc else { throw damaged("CRC-32 mismatch") }
        return Array(output.bytes)
    }
}

extension PackFormat.MemberHeader {
    /// The header of the member at `offset` of `descriptor`, read into `buffer` (`PackFormat.headerSize` bytes);
    /// `chunk` names the member expected there in errors. Nothing at `offset` means the end-of-file member is
    /// missing.
    static func read(_ descriptor: FileDescriptor, at offset: UInt64, chunk: UInt64,
                     into buffer: inout [UInt8]) throws -> PackFormat.MemberHeader {
        let got = try buffer.withUnsafeMutableBytes { try descriptor.readFully(into: $0, at: offset) }
        guard got > 0 else {
            throw PackedFileError.missingEndOfFileMember(path: descriptor.path, afterChunk: Int64(chunk) - 1,
                                                         offset: offset)
        }
        let parsed = buffer.withUnsafeBytes {
            PackFormat.MemberHeader.parse(UnsafeRawBufferPointer(rebasing: $0[0..<got]))
        }
        switch parsed {
        case .success(let header): return header
        case .failure(let problem):
            throw PackedFileError.badMemberHeader(path: descriptor.path, chunk: chunk, offset: offset,
                                                  problem: problem)
        }
    }
}
