import CustodyBase
import CustodyCrypto
import CustodyIO

/// Bech32 (BIP 173) as age uses it: no 90-character limit, all upper or all lower case, the checksum
/// always computed over the lower-case form.
public enum Bech32 {
    private static let charset: [UInt8] = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)
    private static let generator: [UInt32] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3]

    private static let charsetIndex: [Int8] = {
        var table = [Int8](repeating: -1, count: 128)
        for (value, character) in charset.enumerated() { table[Int(character)] = Int8(value) }
        return table
    }()

    /// Why a string is not valid Bech32.
    public enum DecodingError: CustodyFailure, Equatable {
        /// Upper and lower case letters are mixed.
        case mixedCase
        /// The character at `position` (from 0) is outside the Bech32 alphabet.
        case invalidCharacter(position: Int)
        /// There is no `1` between the prefix and the data.
        case missingSeparator
        /// The prefix before the separator is empty.
        case invalidHumanReadablePart
        /// The data part is shorter than the six checksum characters.
        case tooShortChecksum
        /// The checksum does not match.
        case badChecksum
        /// The padding bits of the data are not zero.
        case invalidPadding

        /// Input that cannot be decoded: an operation that could not be done.
        public var kind: FailureKind { .operational }

        /// What is wrong, to follow the string's name ("... has a wrong checksum").
        public var description: String {
            switch self {
            case .mixedCase: return "mixes upper and lower case"
            case .invalidCharacter(let position): return "invalid character at position \(position)"
            case .missingSeparator: return "has no '1' separator"
            case .invalidHumanReadablePart: return "has an empty or invalid prefix"
            case .tooShortChecksum: return "is too short to hold a checksum"
            case .badChecksum: return "has a wrong checksum (mistyped or truncated?)"
            case .invalidPadding: return "has non-zero padding bits"
            }
        }
    }

    private static func polymod(_ values: [UInt8]) -> UInt32 {
        var checksum: UInt32 = 1
        for value in values {
            let top = checksum >> 25
            checksum = (checksum & 0x1ff_ffff) << 5 ^ UInt32(value)
            for bit in 0..<5 where (top >> UInt32(bit)) & 1 == 1 {
                checksum ^= generator[bit]
            }
        }
        return checksum
    }

    private static func expand(_ hrp: [UInt8]) -> [UInt8] {
        hrp.map { $0 >> 5 } + [0] + hrp.map { $0 & 31 }
    }

    /// Regroups bits, e.g. 8-bit bytes into 5-bit values; nil when padding is not allowed and is wrong.
    static func convertBits(_ data: [UInt8], from: Int, to: Int, pad: Bool) -> [UInt8]? {
        var accumulator: UInt32 = 0
        var bits = 0
        let maxValue: UInt32 = (1 << UInt32(to)) - 1
        var out: [UInt8] = []
        out.reserveCapacity(data.count * from / to + 1)
        for value in data {
            accumulator = accumulator << UInt32(from) | UInt32(value)
            bits += from
            while bits >= to {
                bits -= to
                out.append(UInt8(accumulator >> UInt32(bits) & maxValue))
            }
            accumulator &= (1 << UInt32(bits)) - 1
        }
        if pad {
            if bits > 0 { out.append(UInt8(accumulator << UInt32(to - bits) & maxValue)) }
        } else if bits >= from || accumulator != 0 {
            return nil
        }
        return out
    }

    /// Encodes `data` (bytes) under the human-readable part `hrp`; upper case when `uppercase` is set.
    public static func encode(hrp: String, data: [UInt8], uppercase: Bool = false) -> String {
        let lowerHRP = Array(hrp.lowercased().utf8)
        let values = convertBits(data, from: 8, to: 5, pad: true) ?? []
        let check = polymod(expand(lowerHRP) + values + [0, 0, 0, 0, 0, 0]) ^ 1
        var out = lowerHRP + [UInt8(ascii: "1")]
        for value in values { out.append(charset[Int(value)]) }
        for index in 0..<6 { out.append(charset[Int(check >> UInt32(5 * (5 - index)) & 31)]) }
        let text = String(decoding: out, as: UTF8.self)
        return uppercase ? text.uppercased() : text
    }

    /// Checks the checksum and returns the lower-case human-readable part and the 5-bit values.
    public static func decodeValues(_ text: String) throws(DecodingError) -> (hrp: String, values: [UInt8]) {
        let bytes = Array(text.utf8)
        var hasLower = false, hasUpper = false
        for (position, byte) in bytes.enumerated() {
            if byte < 33 || byte > 126 { throw .invalidCharacter(position: position) }
            if byte >= 97 && byte <= 122 { hasLower = true }
            if byte >= 65 && byte <= 90 { hasUpper = true }
        }
        if hasLower && hasUpper { throw .mixedCase }
        let lower = bytes.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
        guard let separator = lower.lastIndex(of: UInt8(ascii: "1")) else { throw .missingSeparator }
        if separator == 0 { throw .invalidHumanReadablePart }
        if lower.count - separator - 1 < 6 { throw .tooShortChecksum }
        let hrp = Array(lower[..<separator])
        var values: [UInt8] = []
        values.reserveCapacity(lower.count - separator - 1)
        for position in (separator + 1)..<lower.count {
            let character = lower[position]
            let value = character < 128 ? charsetIndex[Int(character)] : -1
            if value < 0 { throw .invalidCharacter(position: position) }
            values.append(UInt8(value))
        }
        if polymod(expand(hrp) + values) != 1 { throw .badChecksum }
        return (String(decoding: hrp, as: UTF8.self), Array(values.dropLast(6)))
    }

    /// Decodes a Bech32 string into its lower-case human-readable part and data bytes.
    public static func decode(_ text: String) throws(DecodingError) -> (hrp: String, data: [UInt8]) {
        let (hrp, values) = try decodeValues(text)
        guard let data = convertBits(values, from: 5, to: 8, pad: false) else { throw .invalidPadding }
        return (hrp, data)
    }
}
