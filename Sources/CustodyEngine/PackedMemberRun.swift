import CustodyBase
import CustodyCrypto
import CustodyIO

/// The members of a file holding only some chunks of a packed item (a disclosure's range, SPEC.md section 5.14):
/// custody gzip members copied bit for bit from the full payload, in increasing chunk index, with no end-of-file
/// member. Opening it hops from header to header (32 bytes read per member) and checks every header, the chunk
/// size and that the indexes are exactly `expected`; `chunk(at:)` then reads and inflates one member.
public struct PackedMemberRun: Sendable {
    /// One member: the chunk index its header carries, where it lies, its size.
    public struct Member: Sendable, Equatable {
        /// The chunk index in the member's `CU` subfield.
        public var index: UInt64
        /// The member's first byte in the file.
        public var offset: UInt64
        /// The member's size in bytes.
        public var size: UInt32
    }

    /// The file, read with `pread`.
    public let descriptor: FileDescriptor
    /// The members, in file order.
    public let members: [Member]
    /// The chunk size every member declares.
    public let chunkSize: Int

    /// Indexes the members behind `descriptor`, which must carry exactly the chunk indexes `expected` (in that
    /// order) at chunk size `chunkSize`, and nothing after the last. Throws a verification error naming the
    /// member and packed byte that breaks the chain; never reads more headers than `expected` has.
    public init(descriptor: FileDescriptor, expected: [UInt64], chunkSize: Int) throws {
        self.descriptor = descriptor
        self.chunkSize = chunkSize
        let fileSize = UInt64(try descriptor.status().st_size)
        var members: [Member] = []
        var offset: UInt64 = 0
        var header = [UInt8](repeating: 0, count: PackFormat.headerSize)
        for wanted in expected {
            let member = try PackFormat.MemberHeader.read(descriptor, at: offset, chunk: wanted, into: &header)
            guard member.chunkSize == chunkSize else {
                throw PackedFileError.chunkSizeDiffers(path: descriptor.path, chunk: wanted, offset: offset,
                                                       found: member.chunkSize, expected: chunkSize)
            }
            guard !member.flags.contains(.endOfFile), member.index == wanted else {
                throw PackedFileError.indexDiffers(path: descriptor.path, chunk: wanted, offset: offset,
                                                   found: member.index)
            }
            guard offset + UInt64(member.memberSize) <= fileSize else {
                throw PackedFileError.badMemberHeader(path: descriptor.path, chunk: wanted, offset: offset,
                                                      problem: .truncated)
            }
            members.append(Member(index: wanted, offset: offset, size: member.memberSize))
            offset += UInt64(member.memberSize)
        }
        guard offset == fileSize else {
            throw PackedFileError.endOfFileMemberMisplaced(path: descriptor.path, offset: offset,
                                                           counted: UInt64(members.count),
                                                           chunks: UInt64(expected.count), fileSize: fileSize)
        }
        self.members = members
    }

    /// The member at `position` (in file order) as stored, header to trailer.
    public func memberBytes(at position: Int) throws -> [UInt8] {
        let member = members[position]
        var bytes = [UInt8](repeating: 0, count: Int(member.size))
        let got = try bytes.withUnsafeMutableBytes { try descriptor.readFully(into: $0, at: member.offset) }
        guard got == bytes.count else {
            throw PackedFileError.badMemberHeader(path: descriptor.path, chunk: member.index, offset: member.offset,
                                                  problem: .truncated)
        }
        return bytes
    }

    /// Reads, inflates and checks (CRC-32, ISIZE, size limit) the member at `position`; returns its chunk.
    public func chunk(at position: Int) throws -> [UInt8] {
        let member = members[position]
        let bytes = try memberBytes(at: position)
        return try bytes.withUnsafeBytes {
            try PackedEvidenceFile.inflateMember($0, index: member.index, offset: member.offset,
                                                 chunkSize: chunkSize, path: descriptor.path)
        }
    }
}
