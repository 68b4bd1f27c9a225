import CustodyBase
import CustodyIO

/// The ustar header layout (POSIX.1-1988, pax.1-2001) shared by the writer and the extractor.
enum TarFormat {
    static let blockSize = 512
    /// The largest value an 11-digit octal field holds (8 GiB - 1); larger sizes need a pax `size` record.
    static let maximumOctal11: UInt64 = 0o77777777777

    enum Field {
        static let name = 0..<100
        static let mode = 100..<108
        static let uid = 108..<116
        static let gid = 116..<124
        static let size = 124..<136
        static let mtime = 136..<148
        static let checksum = 148..<156
        static let typeflag = 156
        static let linkname = 157..<257
        static let magic = 257..<263
        static let version = 263..<265
        static let uname = 265..<297
        static let gname = 297..<329
        static let prefix = 345..<500
    }

    /// Writes `value` as zero-padded octal digits filling the field but its last byte (NUL).
    static func putOctal(_ value: UInt64, _ field: Range<Int>, into block: inout [UInt8]) {
        let digits = field.count - 1
        var remaining = value
        for position in stride(from: field.lowerBound + digits - 1, through: field.lowerBound, by: -1) {
            block[position] = UInt8(ascii: "0") + UInt8(remaining & 7)
            remaining >>= 3
        }
        block[field.upperBound - 1] = 0
    }

    static func putString(_ bytes: [UInt8], _ field: Range<Int>, into block: inout [UInt8]) {
        for (offset, byte) in bytes.prefix(field.count).enumerated() { block[field.lowerBound + offset] = byte }
    }

    /// Unsigned and signed sums of the header with the checksum field read as spaces (historic tars used
    /// signed bytes; both are accepted on reading).
    static func checksums(_ block: UnsafeRawBufferPointer) -> (unsigned: Int, signed: Int) {
        var unsigned = 0, signed = 0
        for index in 0..<blockSize {
            let byte = Field.checksum.contains(index) ? UInt8(ascii: " ") : block[index]
            unsigned += Int(byte)
            signed += Int(Int8(bitPattern: byte))
        }
        return (unsigned, signed)
    }

    /// Fills in the checksum field of a finished header: six octal digits, NUL, space.
    static func seal(_ block: inout [UInt8]) {
        let sum = block.withUnsafeBytes { checksums($0).unsigned }
        putOctal(UInt64(sum), 148..<155, into: &block)
        block[155] = UInt8(ascii: " ")
    }

    /// Parses a numeric field: octal digits padded with spaces or NULs, or GNU base-256 (high bit set).
    /// Nil when malformed or larger than 2^63.
    static func parseNumber(_ block: UnsafeRawBufferPointer, _ field: Range<Int>) -> UInt64? {
        if block[field.lowerBound] & 0x80 != 0 {
            // Base-256: the remaining bits of the first byte and the following bytes, big-endian; negative refused.
            if block[field.lowerBound] & 0x40 != 0 { return nil }
            var value = UInt64(block[field.lowerBound] & 0x3F)
            for index in (field.lowerBound + 1)..<field.upperBound {
                if value >> 55 != 0 { return nil }
                value = value << 8 | UInt64(block[index])
            }
            return value
        }
        var index = field.lowerBound
        while index < field.upperBound && block[index] == UInt8(ascii: " ") { index += 1 }
        var value: UInt64 = 0
        var digits = 0
        while index < field.upperBound, block[index] >= UInt8(ascii: "0"), block[index] <= UInt8(ascii: "7") {
            if value >> 60 != 0 { return nil }
            value = value << 3 | UInt64(block[index] - UInt8(ascii: "0"))
            digits += 1
            index += 1
        }
        while index < field.upperBound {
            if block[index] != 0 && block[index] != UInt8(ascii: " ") { return nil }
            index += 1
        }
        return digits == 0 && block[field.lowerBound] != 0 && block[field.lowerBound] != UInt8(ascii: " ")
            ? nil : value
    }

    /// The bytes of a NUL-terminated (or full) string field.
    static func string(_ block: UnsafeRawBufferPointer, _ field: Range<Int>) -> [UInt8] {
        var bytes: [UInt8] = []
        for index in field {
            if block[index] == 0 { break }
            bytes.append(block[index])
        }
        return bytes
    }

    /// One pax extended header record: `LENGTH key=value\n`, LENGTH counting the whole record.
    static func paxRecord(_ key: String, _ value: [UInt8]) -> [UInt8] {
        let body = Array(" \(key)=".utf8) + value + [0x0A]
        var length = body.count + 1
        while String(length).utf8.count + body.count != length { length = String(length).utf8.count + body.count }
        return Array(String(length).utf8) + body
    }
}
