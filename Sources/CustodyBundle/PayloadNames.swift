import CustodyBase
import CustodyCrypto

/// The payload names of a collection bundle (SPEC.md section 5.13): `data/` mirrors the sealed tree, each path
/// component made portable and printable by an injective escaping, so the folder structure stays visible and two
/// different original names never share a payload name.
///
/// A component keeps every valid UTF-8 character except the ASCII controls, DEL and `~ % \ : * ? " < > |`; every
/// other byte is written `~HH` (upper-case hex), and so are the bytes of a name `.` or `..`. (`~` rather than `%`:
/// `%` must be written `%25` in a manifest, which bagit.py does not decode.) A directory whose escaped name ends in
/// `.gz` has that final `z` written `~7A`, so it can never meet a packed file's `NAME.gz`. A component longer than
/// 240 bytes once escaped (with its suffix) keeps its first 200 bytes (cut at a character or escape boundary)
/// followed by `~~` and the first 16 hex digits of the SHA-256 of the raw name: `~~` appears in no other name.
public enum PayloadNames {
    /// The longest escaped component (suffix included) kept whole; file systems allow 255 bytes.
    public static let longestComponent = 240

    /// The escaped form of one raw path component (never empty, never `.` or `..`).
    public static func component(_ raw: some Collection<UInt8>, isDirectory: Bool, suffix: String = "") -> String {
        let bytes = Array(raw)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + suffix.utf8.count)
        var boundaries: [Int] = [0]
        var index = 0
        let dotsOnly = bytes.allSatisfy { $0 == UInt8(ascii: ".") } && bytes.count <= 2
        while index < bytes.count {
            if dotsOnly || bytes.isEmpty {
                escape(bytes[index], into: &out)
                index += 1
                boundaries.append(out.count)
                continue
            }
            let length = validCharacterLength(bytes, at: index)
            if length > 0, keeps(bytes, at: index, length: length) {
                out += bytes[index..<index + length]
                index += length
            } else {
                escape(bytes[index], into: &out)
                index += 1
            }
            boundaries.append(out.count)
        }
        if isDirectory, out.count >= 3, out.suffix(3).elementsEqual(".gz".utf8) {
            out.removeLast()
            out += Array("~7A".utf8)
        }
        if out.count + suffix.utf8.count > longestComponent {
            let cut = boundaries.last { $0 <= 200 } ?? 0
            let digest = Hex.encode(Digester.digest(.sha256, bytes).prefix(8))
            out = Array(out[..<cut]) + Array("~~\(digest)".utf8)
        }
        return String(decoding: out, as: UTF8.self) + suffix
    }

    /// The bag-relative payload path of an item at `rawPath` (components separated by `/`): `data/` and every
    /// component escaped, the last one with `suffix` (`.gz` for a packed file).
    public static func payloadPath(_ rawPath: [UInt8], isDirectory: Bool, suffix: String) -> String {
        let parts = rawPath.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true)
        var names: [String] = []
        for (index, part) in parts.enumerated() {
            let last = index == parts.count - 1
            names.append(component(part, isDirectory: last ? isDirectory : true, suffix: last ? suffix : ""))
        }
        return "data/" + names.joined(separator: "/")
    }

    private static func escape(_ byte: UInt8, into out: inout [UInt8]) {
        let digits = Array("0123456789ABCDEF".utf8)
        out += [UInt8(ascii: "~"), digits[Int(byte >> 4)], digits[Int(byte & 15)]]
    }

    private static func keeps(_ bytes: [UInt8], at index: Int, length: Int) -> Bool {
        guard length == 1 else { return true }
        let byte = bytes[index]
        if byte < 0x20 || byte == 0x7f { return false }
        return !"~%\\:*?\"<>|".utf8.contains(byte)
    }

    /// The length of the well-formed UTF-8 character at `index` (1 to 4), or 0 when the bytes there are not one.
    static func validCharacterLength(_ bytes: [UInt8], at index: Int) -> Int {
        let lead = bytes[index]
        if lead < 0x80 { return 1 }
        let length: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xbf
        switch lead {
        case 0xc2...0xdf: length = 2
        case 0xe0: length = 3; low = 0xa0
        case 0xe1...0xec, 0xee...0xef: length = 3
        case 0xed: length = 3; high = 0x9f
        case 0xf0: length = 4; low = 0x90
        case 0xf1...0xf3: length = 4
        case 0xf4: length = 4; high = 0x8f
        default: return 0
        }
        guard index + length <= bytes.count else { return 0 }
        let second = bytes[index + 1]
        guard second >= low, second <= high else { return 0 }
        for offset in 2..<max(2, length) where !(0x80...0xbf).contains(bytes[index + offset]) { return 0 }
        return length
    }

    /// Whether `bytes` are valid UTF-8 throughout.
    public static func isValidUTF8(_ bytes: [UInt8]) -> Bool {
        var index = 0
        while index < bytes.count {
            let length = validCharacterLength(bytes, at: index)
            if length == 0 { return false }
            index += length
        }
        return true
    }
}
