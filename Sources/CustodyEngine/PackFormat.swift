import CustodyBase
import CustodyCrypto
import CustodyIO
#if canImport(Glibc)
import Glibc
#endif
internal import CCustodySystem
internal import CZlib

/// The byte layout of custody's packed evidence: a multi-member gzip file (RFC 1952), one member per chunk,
/// each member's header carrying the `CU` extra subfield, closed by an empty end-of-file member.
/// See SPEC.md section 3 for the normative description.
public enum PackFormat {
    /// Bytes in every custody member header (fixed layout).
    public static let headerSize = 32
    /// Bytes in the gzip trailer (CRC-32, ISIZE).
    public static let trailerSize = 8
    /// The extra subfield identifier: `CU`.
    public static let subfieldID: (UInt8, UInt8) = (0x43, 0x55)
    /// Format version carried in the subfield.
    public static let version: UInt8 = 1
    /// Largest deflate stored block.
    static let storedBlockLimit = 65535

    /// Flags in the subfield.
    public struct Flags: OptionSet, Sendable, Hashable {
        /// The flag bits.
        public let rawValue: UInt8
        /// Flags of the given bits.
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// The deflate data is stored blocks (the chunk did not shrink, or level 0).
        public static let stored = Flags(rawValue: 1)
        /// The chunk is all zero bytes.
        public static let zero = Flags(rawValue: 2)
        /// The empty end-of-file member.
        public static let endOfFile = Flags(rawValue: 4)
        /// Every flag this version defines.
        public static let known: Flags = [.stored, .zero, .endOfFile]
    }

    /// One member header as written or parsed.
    public struct MemberHeader: Sendable, Equatable {
        /// The member's flags.
        public var flags: Flags
        /// log2 of the chunk size (16...26).
        public var chunkShift: UInt8
        /// Total bytes of the member: header, deflate data and trailer.
        public var memberSize: UInt32
        /// The chunk's index; in the end-of-file member, the number of chunks.
        public var index: UInt64

        /// A header of the given fields.
        public init(flags: Flags, chunkShift: UInt8, memberSize: UInt32, index: UInt64) {
            self.flags = flags
            self.chunkShift = chunkShift
            self.memberSize = memberSize
            self.index = index
        }

        /// The chunk size, 2^`chunkShift`.
        public var chunkSize: Int { 1 << Int(chunkShift) }

        /// Writes the 32 header bytes at `destination`.
        public func write(to destination: UnsafeMutableRawPointer) {
            let fixed: [UInt8] = [0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 20, 0, subfieldID.0, subfieldID.1, 16, 0,
                                  version, flags.rawValue, chunkShift, 0]
            fixed.withUnsafeBytes { destination.copyMemory(from: $0.baseAddress!, byteCount: fixed.count) }
            storeLittleEndian(memberSize, at: destination + 20)
            storeLittleEndian(index, at: destination + 24)
        }

        /// The 32 header bytes.
        public var bytes: [UInt8] {
            var out = [UInt8](repeating: 0, count: headerSize)
            out.withUnsafeMutableBytes { write(to: $0.baseAddress!) }
            return out
        }

        /// Parses a custody member header; the error says what is wrong (the caller adds where).
        public static func parse(_ raw: UnsafeRawBufferPointer) -> Result<MemberHeader, HeaderProblem> {
            let magic: [UInt8] = [0x1f, 0x8b, 8]
            for (offset, byte) in magic.enumerated() where offset < raw.count && raw[offset] != byte {
                return .failure(offset < 2 ? .notGzip : .malformed("compression method \(raw[2]) is not deflate"))
            }
            if raw.count > 3 && raw[3] & 4 == 0 { return .failure(.notCustody) }
            guard raw.count >= headerSize else { return .failure(.truncated) }
            guard raw[12] == subfieldID.0, raw[13] == subfieldID.1 else { return .failure(.notCustody) }
            guard raw[3] == 4, raw[10] == 20, raw[11] == 0, raw[14] == 16, raw[15] == 0 else {
                return .failure(.malformed("header flags or extra field lengths differ from custody's layout"))
            }
            guard raw[16] == version else { return .failure(.malformed("format version \(raw[16]) is unknown")) }
            let flags = Flags(rawValue: raw[17])
            guard Flags.known.isSuperset(of: flags), raw[19] == 0 else {
                return .failure(.malformed("unknown flags 0x\(Hex.encode([raw[17]])) or reserved byte set"))
            }
            let shift = raw[18]
            guard (16...26).contains(shift) else {
                return .failure(.malformed("chunk size 2^\(shift) is outside 64K...64M"))
            }
            let header = MemberHeader(flags: flags, chunkShift: shift,
                                      memberSize: loadLittleEndian(raw.baseAddress! + 20),
                                      index: loadLittleEndian(raw.baseAddress! + 24))
            guard header.memberSize >= UInt32(minimumMemberSize),
                  UInt64(header.memberSize) <= UInt64(maximumMemberSize(chunkSize: header.chunkSize)) else {
                return .failure(.malformed("member size field \(header.memberSize) is out of range"))
            }
            return .success(header)
        }
    }

    /// Why a header could not be parsed.
    public enum HeaderProblem: Error, Equatable, Sendable {
        /// The file ends inside the header.
        case truncated
        /// No gzip magic.
        case notGzip
        /// A gzip member without custody's subfield.
        case notCustody
        /// A custody header that breaks a rule (the reason).
        case malformed(String)

        /// The problem in words.
        public var text: String {
            switch self {
            case .truncated: return "the file ends inside a member header"
            case .notGzip: return "no gzip member header (magic 1f 8b missing)"
            case .notCustody:
                return "a gzip member without custody's CU extra subfield (not made by custody pack; "
                    + "decompress it with gzip -dc)"
            case .malformed(let reason): return "malformed member header: \(reason)"
            }
        }
    }

    /// Smallest possible member: header, a 2-byte empty deflate stream, trailer.
    public static let minimumMemberSize = headerSize + 2 + trailerSize

    /// Bytes of stored-block deflate data for `length` content bytes.
    public static func storedDataSize(_ length: Int) -> Int {
        let blocks = max(1, (length + storedBlockLimit - 1) / storedBlockLimit)
        return length + 5 * blocks
    }

    /// The largest member a chunk of `chunkSize` bytes may take (its stored form).
    public static func maximumMemberSize(chunkSize: Int) -> Int {
        headerSize + storedDataSize(chunkSize) + trailerSize
    }

    /// log2 of a power-of-two chunk size.
    public static func shift(forChunkSize chunkSize: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: chunkSize.trailingZeroBitCount)
    }

    /// The end-of-file member closing a file of `chunkCount` chunks: an empty gzip member (deflate `03 00`,
    /// CRC-32 0, ISIZE 0) with the `CU` subfield flagged end-of-file.
    public static func endOfFileMember(chunkCount: UInt64, chunkSize: Int) -> [UInt8] {
        let header = MemberHeader(flags: .endOfFile, chunkShift: shift(forChunkSize: chunkSize),
                                  memberSize: UInt32(minimumMemberSize), index: chunkCount)
        return header.bytes + [0x03, 0x00] + [UInt8](repeating: 0, count: trailerSize)
    }

    /// Writes `content` as deflate stored blocks at `destination`; returns the bytes written
    /// (`storedDataSize(content.count)`).
    public static func writeStoredBlocks(_ content: UnsafeRawBufferPointer,
                                         to destination: UnsafeMutableRawPointer) -> Int {
        var written = 0
        var offset = 0
        repeat {
            let length = min(storedBlockLimit, content.count - offset)
            let final = offset + length == content.count
            destination.storeBytes(of: final ? 1 : 0, toByteOffset: written, as: UInt8.self)
            storeLittleEndian(UInt16(length), at: destination + written + 1)
            storeLittleEndian(~UInt16(length), at: destination + written + 3)
            written += 5
            if length > 0 {
                (destination + written).copyMemory(from: content.baseAddress! + offset, byteCount: length)
            }
            written += length
            offset += length
        } while offset < content.count
        return written
    }

    /// CRC-32 (the gzip trailer's) of `bytes`: folded with carry-less multiplication where the processor has it
    /// (16 bytes per step), the rest through zlib's tables.
    public static func crc32(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress else { return crc }
        var folded = (UInt64(0), UInt64(0))
        let prefix = withUnsafeMutableBytes(of: &folded) {
            custody_crc32_fold(~crc, base.assumingMemoryBound(to: UInt8.self), bytes.count,
                               $0.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        guard prefix > 0 else { return tableCRC32(bytes, continuing: crc) }
        // The register over the prefix is the register over the folded 16 bytes from zero; zlib's crc32 inverts
        // the register on the way in and out.
        let register = withUnsafeBytes(of: &folded) { ~tableCRC32($0, continuing: 0xFFFF_FFFF) }
        return tableCRC32(UnsafeRawBufferPointer(rebasing: bytes[prefix...]), continuing: ~register)
    }

    /// CRC-32 through zlib's tables.
    static func tableCRC32(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        var value = UInt(crc)
        var offset = 0
        while offset < bytes.count {
            let length = min(bytes.count - offset, 1 << 30)
            value = CZlib.crc32(value, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset,
                                UInt32(length))
            offset += length
        }
        return UInt32(truncatingIfNeeded: value)
    }

    /// Order-0 entropy in bits per byte of up to eight 2 KiB samples spread over `bytes`: a cheap test for
    /// content that will not shrink (encrypted or already compressed data scores close to 8).
    public static func sampledEntropy(_ bytes: UnsafeRawBufferPointer, samples: Int = 8, sampleLength: Int = 2048)
        -> Double {
        var counts = [Int](repeating: 0, count: 256)
        var total = 0
        counts.withUnsafeMutableBufferPointer { histogram in
            if bytes.count <= sampleLength * samples {
                for byte in bytes { histogram[Int(byte)] += 1 }
                total = bytes.count
                return
            }
            let stride = bytes.count / samples
            for sample in 0..<samples {
                let start = sample * stride
                for byte in UnsafeRawBufferPointer(rebasing: bytes[start..<(start + sampleLength)]) {
                    histogram[Int(byte)] += 1
                }
            }
            total = sampleLength * samples
        }
        guard total > 0 else { return 0 }
        var entropy = 0.0
        let scale = 1.0 / Double(total)
        for count in counts where count > 0 {
            let p = Double(count) * scale
            entropy -= p * log2(p)
        }
        return entropy
    }

    /// Sampled entropy above which a chunk is stored without trying deflate.
    public static let storeEntropyThreshold = 7.9

    /// Inside a deflated chunk, segments of this size whose sampled entropy (four 1 KiB samples) exceeds the
    /// threshold are written as stored blocks within the same deflate stream.
    public static let segmentSize = 65536

    static func segmentIsIncompressible(_ segment: UnsafeRawBufferPointer) -> Bool {
        segment.count >= 16384 && sampledEntropy(segment, samples: 4, sampleLength: 1024) > storeEntropyThreshold
    }
}

@inline(__always)
func storeLittleEndian<T: FixedWidthInteger>(_ value: T, at destination: UnsafeMutableRawPointer) {
    withUnsafeBytes(of: value.littleEndian) { destination.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
}

@inline(__always)
func loadLittleEndian<T: FixedWidthInteger>(_ source: UnsafeRawPointer) -> T {
    T(littleEndian: source.loadUnaligned(as: T.self))
}
