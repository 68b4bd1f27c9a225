import CustodyKit

extension FuzzTarget {
    /// The 32-byte custody member header with its `CU` subfield.
    static let gzipMemberHeader = FuzzTarget(
        name: "gzip-member-header", summary: "PackFormat.MemberHeader.parse: gzip member header and CU subfield"
    ) { bytes in
        let parsed = bytes.withUnsafeBytes { PackFormat.MemberHeader.parse($0) }
        guard case .success(let header) = parsed else { return }
        // What parses must write back the same fields (mtime, XFL and OS are not custody's to keep).
        let written = header.bytes
        let reparsed = written.withUnsafeBytes { PackFormat.MemberHeader.parse($0) }
        guard case .success(let again) = reparsed, again == header else {
            fuzzFailure("a parsed header does not survive writing and parsing again")
        }
        for offset in 10..<PackFormat.headerSize where written[offset] != bytes[offset] {
            fuzzFailure("header byte \(offset) differs after writing the parsed header back")
        }
    }

    /// The unpacker without salvage: stops at the first damaged chunk.
    static let unpackStrict = FuzzTarget(
        name: "unpack-strict", summary: "EvidenceUnpacker.unpack: a packed stream, stopping at damage",
        mutate: PackedMutator.mutate
    ) { bytes in
        unpack(bytes, salvage: false)
    }

    /// The unpacker with salvage: zero-fills damaged chunks and goes on.
    static let unpackSalvage = FuzzTarget(
        name: "unpack-salvage", summary: "EvidenceUnpacker.unpack --salvage: a packed stream, past damage",
        mutate: PackedMutator.mutate
    ) { bytes in
        unpack(bytes, salvage: true)
    }

    private static func unpack(_ bytes: [UInt8], salvage: Bool) {
        var unpacker = EvidenceUnpacker(salvage: salvage, linearDigests: [.sha256])
        unpacker.slotCount = 2
        let sink = MemorySink()
        guard let result = try? unpacker.unpack(MemorySource(bytes), to: sink) else { return }
        let written = UInt64(sink.bytes.count)
        if result.verified && written != result.content.size {
            fuzzFailure("a verified unpack wrote \(written) bytes but reports \(result.content.size)")
        }
        if salvage && result.content.size != written {
            fuzzFailure("a salvage unpack wrote \(written) bytes but reports \(result.content.size)")
        }
        if result.verified, result.content.digests[.sha256] != Digester.digest(.sha256, sink.bytes) {
            fuzzFailure("a verified unpack reports a sha256 that is not that of the bytes it wrote")
        }
    }
}
