import CZlibFuzz
import CustodyKit

/// A structure-aware mutator for custody-packed streams: it splits the input into members, changes one member's
/// content, deflate data, header fields or the member list, and recomputes what a byte flip would break (CRC-32,
/// ISIZE, the member size field, the chunk indices), so the unpacker's later checks (leaves, order, short chunks,
/// the end-of-file member) are reached, not only the CRC check. One mutation in five is libFuzzer's own.
enum PackedMutator {
    /// Content inflated for mutation is capped at this (chunks are 64 KiB in the seeds).
    static let contentLimit = 1 << 20

    /// One member as found in the input.
    struct Member {
        var header: PackFormat.MemberHeader
        var bytes: [UInt8]
    }

    static func mutate(_ bytes: inout [UInt8], maxSize: Int, random: inout FuzzRandom) {
        var (members, tail) = split(bytes)
        if members.isEmpty || random.below(5) == 0 {
            libFuzzerMutate(&bytes, maxSize: maxSize)
            return
        }
        let pick = random.below(members.count)
        switch random.below(6) {
        case 0: mutateContent(&members[pick], maxSize: maxSize, random: &random)
        case 1: mutateDeflateData(&members[pick], random: &random)
        case 2: mutateHeader(&members[pick], random: &random)
        case 3: members.insert(members[pick], at: random.below(members.count + 1))
        case 4: members.remove(at: pick)
        default: members.swapAt(pick, random.below(members.count))
        }
        if random.below(2) == 0 { renumber(&members) }
        if random.below(8) == 0 { libFuzzerMutate(&tail, maxSize: max(tail.count, 64)) }
        let joined = members.flatMap(\.bytes) + tail
        if joined.count <= maxSize {
            bytes = joined
        } else {
            libFuzzerMutate(&bytes, maxSize: maxSize)
        }
    }

    /// The members that parse from the start, and whatever follows the last one.
    static func split(_ bytes: [UInt8]) -> ([Member], [UInt8]) {
        var members: [Member] = []
        var offset = 0
        while offset < bytes.count {
            let parsed = bytes[offset...].withUnsafeBytes { PackFormat.MemberHeader.parse($0) }
            guard case .success(let header) = parsed, bytes.count - offset >= Int(header.memberSize) else { break }
            members.append(Member(header: header, bytes: Array(bytes[offset..<(offset + Int(header.memberSize))])))
            offset += Int(header.memberSize)
        }
        return (members, Array(bytes[offset...]))
    }

    /// Inflates the member's deflate data, nil when it does not inflate.
    static func inflate(_ member: Member) -> [UInt8]? {
        let body = member.bytes[PackFormat.headerSize..<(member.bytes.count - PackFormat.trailerSize)]
        let capacity = min(member.header.chunkSize, contentLimit) + 1
        var out = [UInt8](repeating: 0, count: capacity)
        let produced = body.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                custody_fuzz_inflate_raw(input.baseAddress, input.count, output.baseAddress, capacity)
            }
        }
        return produced < 0 ? nil : Array(out[..<Int(produced)])
    }

    /// Rebuilds `member` around `deflated` data holding `content`: header size field, CRC-32 and ISIZE.
    static func rebuild(_ member: inout Member, deflated: [UInt8], content: [UInt8]) {
        member.header.memberSize = UInt32(PackFormat.headerSize + deflated.count + PackFormat.trailerSize)
        let crc = content.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
        member.bytes = member.header.bytes + deflated + littleEndian(crc) + littleEndian(UInt32(truncatingIfNeeded:
            content.count))
    }

    /// Changes the chunk's content and deflates it again (stored or compressed, flags set to match mostly).
    static func mutateContent(_ member: inout Member, maxSize: Int, random: inout FuzzRandom) {
        guard var content = inflate(member) else { return }
        libFuzzerMutate(&content, maxSize: min(member.header.chunkSize, content.count + 4096))
        if random.below(4) == 0 { content += [UInt8](repeating: 0, count: random.below(member.header.chunkSize)) }
        let level = Int32(random.below(10))
        let capacity = content.count + content.count / 8 + 1024
        var deflated = [UInt8](repeating: 0, count: capacity)
        let produced = content.withUnsafeBufferPointer { input in
            deflated.withUnsafeMutableBufferPointer { output in
                custody_fuzz_deflate_raw(input.baseAddress, input.count, output.baseAddress, capacity, level)
            }
        }
        guard produced >= 0 else { return }
        if random.below(4) != 0 {
            member.header.flags.remove([.stored, .zero])
            if level == 0 { member.header.flags.insert(.stored) }
            if content.allSatisfy({ $0 == 0 }) { member.header.flags.insert(.zero) }
        }
        rebuild(&member, deflated: Array(deflated[..<Int(produced)]), content: content)
    }

    /// Flips the deflate data itself; when it still inflates, the trailer is made to match.
    static func mutateDeflateData(_ member: inout Member, random: inout FuzzRandom) {
        var body = Array(member.bytes[PackFormat.headerSize..<(member.bytes.count - PackFormat.trailerSize)])
        libFuzzerMutate(&body, maxSize: body.count + 64)
        var candidate = member
        candidate.bytes = member.header.bytes + body + [UInt8](repeating: 0, count: PackFormat.trailerSize)
        if let content = inflate(candidate) {
            rebuild(&candidate, deflated: body, content: content)
        } else {
            candidate.header.memberSize = UInt32(candidate.bytes.count)
            candidate.bytes.replaceSubrange(0..<PackFormat.headerSize, with: candidate.header.bytes)
        }
        member = candidate
    }

    /// Changes one header field (flags, chunk size, index), keeping the member size true.
    static func mutateHeader(_ member: inout Member, random: inout FuzzRandom) {
        switch random.below(4) {
        case 0: member.header.flags = PackFormat.Flags(rawValue: UInt8(random.below(8)))
        case 1:
            // Mostly 64 or 128 KiB: a 64 MiB chunk costs the unpacker 64 MiB buffers per slot and each run.
            member.header.chunkShift = UInt8(16 + (random.below(8) == 0 ? random.below(11) : random.below(2)))
        case 2: member.header.index = UInt64(random.below(4)) &+ member.header.index &- 2
        default: member.header.index = random.next()
        }
        member.bytes.replaceSubrange(0..<PackFormat.headerSize, with: member.header.bytes)
    }

    /// Numbers the chunks 0, 1, 2... and gives the end-of-file member their count.
    static func renumber(_ members: inout [Member]) {
        var index: UInt64 = 0
        for position in members.indices {
            let isEnd = members[position].header.flags.contains(.endOfFile)
            members[position].header.index = index
            if !isEnd { index += 1 }
            members[position].bytes.replaceSubrange(0..<PackFormat.headerSize, with: members[position].header.bytes)
        }
    }

    static func littleEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value & 0xff), UInt8(value >> 8 & 0xff), UInt8(value >> 16 & 0xff), UInt8(value >> 24)]
    }
}
