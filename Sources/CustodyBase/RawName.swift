/// File names are bytes; Swift strings are Unicode. A name that is not valid UTF-8 (a Latin-1 name from an old disk,
/// say) is carried in a `String` with each byte that is not part of a valid UTF-8 sequence turned into one code
/// point of the last private-use plane, U+10FF80 to U+10FFFF (byte 0x80 to 0xFF), and turned back into that byte
/// wherever the name meets the system again: opening, `stat`, listing, and custody's output. Valid UTF-8 names are
/// unchanged (one that holds those code points itself has their bytes escaped, so every name comes back whole).
public enum RawName {
    /// The first of the 128 code points standing for the bytes 0x80-0xFF.
    static let base: UInt32 = 0x10FF00

    /// The name held in `bytes`, with bytes outside valid UTF-8 sequences escaped.
    public static func decode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let array = Array(bytes)
        if let valid = String(validating: array, as: UTF8.self), !hasEscapes(valid) { return valid }
        var scalars = String.UnicodeScalarView()
        var index = 0
        while index < array.count {
            if let (scalar, length) = sequence(at: index, in: array) {
                scalars.append(scalar)
                index += length
            } else {
                scalars.append(Unicode.Scalar(base + UInt32(array[index]))!)
                index += 1
            }
        }
        return String(scalars)
    }

    /// The bytes of `name`: UTF-8, with escaped bytes turned back into themselves.
    public static func encode(_ name: String) -> [UInt8] {
        guard hasEscapes(name) else { return Array(name.utf8) }
        var out: [UInt8] = []
        out.reserveCapacity(name.utf8.count)
        for scalar in name.unicodeScalars {
            if let byte = escapedByte(scalar) {
                out.append(byte)
            } else {
                out.append(contentsOf: Array(String(scalar).utf8))
            }
        }
        return out
    }

    /// The byte an escape code point stands for, or nil for any other code point.
    public static func escapedByte(_ scalar: Unicode.Scalar) -> UInt8? {
        scalar.value >= base + 0x80 && scalar.value <= base + 0xFF ? UInt8(scalar.value - base) : nil
    }

    /// Whether `name` holds escaped bytes (a quick look at its UTF-8 for the escapes' lead bytes F4 8F).
    public static func hasEscapes(_ name: String) -> Bool {
        var previous: UInt8 = 0
        for byte in name.utf8 {
            if previous == 0xF4 && byte == 0x8F { return true }
            previous = byte
        }
        return false
    }

    /// Calls `body` with `path` as a C string of its bytes.
    public static func withCString<Result>(_ path: String, _ body: (UnsafePointer<CChar>) throws -> Result)
        rethrows -> Result {
        guard hasEscapes(path) else { return try path.withCString(body) }
        let bytes = encode(path).map { CChar(bitPattern: $0) } + [0]
        return try bytes.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }

    /// The well-formed UTF-8 sequence starting at `index` (no overlong forms, no surrogates, nothing past
    /// U+10FFFF) and its length, or nil.
    private static func sequence(at index: Int, in bytes: [UInt8]) -> (Unicode.Scalar, Int)? {
        let lead = bytes[index]
        let length: Int, minimum: UInt32
        var value: UInt32
        switch lead {
        case 0x00...0x7F: return (Unicode.Scalar(lead), 1)
        case 0xC2...0xDF: (length, minimum, value) = (2, 0x80, UInt32(lead & 0x1F))
        case 0xE0...0xEF: (length, minimum, value) = (3, 0x800, UInt32(lead & 0x0F))
        case 0xF0...0xF4: (length, minimum, value) = (4, 0x10000, UInt32(lead & 0x07))
        default: return nil
        }
        guard index + length <= bytes.count else { return nil }
        for offset in 1..<length {
            let byte = bytes[index + offset]
            guard byte & 0xC0 == 0x80 else { return nil }
            value = value << 6 | UInt32(byte & 0x3F)
        }
        // The escape code points themselves are escaped byte by byte, so that every byte string comes back whole.
        guard value >= minimum, let scalar = Unicode.Scalar(value), escapedByte(scalar) == nil else { return nil }
        return (scalar, length)
    }
}
