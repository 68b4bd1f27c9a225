/// Standard base64 (RFC 4648 section 4 alphabet), padded or not, with strict canonical decoding: characters
/// outside the alphabet, misplaced or missing padding, impossible lengths and non-zero unused trailing bits
/// (RFC 4648 section 3.5) are rejected, so every byte string has exactly one accepted encoding.
public enum Base64 {
    private static let alphabet: [UInt8] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xff, count: 256)
        for (index, char) in alphabet.enumerated() { table[Int(char)] = UInt8(index) }
        return table
    }()

    /// Encodes bytes; with `padded` (the default) the output is padded with `=` to a multiple of four.
    public static func encode<Bytes: Collection>(_ bytes: Bytes, padded: Bool = true) -> String
        where Bytes.Element == UInt8 {
        String(decoding: encodeBytes(Array(bytes), padded: padded), as: UTF8.self)
    }

    /// Encodes bytes as ASCII bytes.
    public static func encodeBytes(_ bytes: [UInt8], padded: Bool = true) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= bytes.count {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out.append(alphabet[Int(value >> 18 & 63)])
            out.append(alphabet[Int(value >> 12 & 63)])
            out.append(alphabet[Int(value >> 6 & 63)])
            out.append(alphabet[Int(value & 63)])
            index += 3
        }
        let rest = bytes.count - index
        if rest > 0 {
            let value = UInt32(bytes[index]) << 16 | (rest == 2 ? UInt32(bytes[index + 1]) << 8 : 0)
            out.append(alphabet[Int(value >> 18 & 63)])
            out.append(alphabet[Int(value >> 12 & 63)])
            if rest == 2 { out.append(alphabet[Int(value >> 6 & 63)]) }
            if padded { out.append(contentsOf: [UInt8](repeating: 61, count: 3 - rest)) }
        }
        return out
    }

    /// Decodes a canonical encoding (padded when `padded`, the default); nil for anything else.
    public static func decode(_ text: some StringProtocol, padded: Bool = true) -> [UInt8]? {
        decode(bytes: Array(text.utf8), padded: padded)
    }

    /// Decodes a canonical encoding given as ASCII bytes; nil for anything else.
    public static func decode<Bytes: Collection>(bytes text: Bytes, padded: Bool = true) -> [UInt8]?
        where Bytes.Element == UInt8 {
        var input = Array(text)
        if padded {
            guard input.count % 4 == 0 else { return nil }
            var padding = 0
            while padding < 2, input.last == 61 {
                input.removeLast()
                padding += 1
            }
        }
        if input.count % 4 == 1 { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(input.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for character in input {
            let value = decodeTable[Int(character)]
            if value == 0xff { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
            accumulator &= (1 << UInt32(bits)) - 1
        }
        // Leftover bits must be zero: otherwise two encodings would decode to the same bytes.
        return accumulator == 0 ? out : nil
    }
}
