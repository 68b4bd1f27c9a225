import CustodyBase
import CustodyCrypto
import CustodyIO

/// One recipient stanza: `-> ARG ARG...` and a binary body.
public struct AgeStanza: Sendable, Equatable {
    /// The arguments; the first is the stanza type (e.g. `X25519`).
    public var arguments: [String]
    /// The decoded body.
    public var body: [UInt8]

    /// A stanza of `arguments` (the type first) and the decoded `body`.
    public init(arguments: [String], body: [UInt8]) {
        self.arguments = arguments
        self.body = body
    }
}

/// The age v1 text header: version line, stanzas, MAC line. Parsing is strict (the spec's ABNF, canonical
/// base64, LF line ends only); writing produces exactly what age writes.
public struct AgeHeader: Sendable {
    /// The version line of age v1.
    public static let versionLine = "age-encryption.org/v1"
    /// Headers longer than this are refused (about ten thousand X25519 stanzas).
    public static let maximumSize = 1 << 20

    /// The recipient stanzas, in order.
    public var stanzas: [AgeStanza]
    /// The 32-byte HMAC-SHA-256 from the `---` line.
    public var mac: [UInt8]
    /// The bytes the MAC covers: the header up to and including `---`.
    public var macInput: [UInt8]
    /// The header's length in bytes, including the MAC line's LF.
    public var length: Int

    /// The HMAC key of a file key: HKDF-SHA-256(ikm = file key, salt = empty, info = "header").
    static func macKey(fileKey: [UInt8]) throws -> [UInt8] {
        try AgeCrypto.hkdf(key: fileKey, salt: [], info: "header")
    }

    /// Writes a header for `stanzas`, MACed with `fileKey`.
    static func encode(stanzas: [AgeStanza], fileKey: [UInt8]) throws -> [UInt8] {
        var out = Array((versionLine + "\n").utf8)
        for stanza in stanzas {
            out += Array(("-> " + stanza.arguments.joined(separator: " ") + "\n").utf8)
            let body = AgeBase64.encodeBytes(stanza.body)
            var index = 0
            while body.count - index >= 64 {
                out += body[index..<(index + 64)] + [0x0A]
                index += 64
            }
            out += body[index...] + [0x0A]
        }
        out += Array("---".utf8)
        let mac = try AgeCrypto.hmacSHA256(key: macKey(fileKey: fileKey), message: out)
        out += Array((" " + AgeBase64.encode(mac) + "\n").utf8)
        return out
    }

    /// Checks the MAC with a candidate file key (constant-time comparison).
    func verifyMAC(fileKey: [UInt8]) throws -> Bool {
        let expected = try AgeCrypto.hmacSHA256(key: AgeHeader.macKey(fileKey: fileKey), message: macInput)
        return constantTimeEqual(expected, mac)
    }

    private static func isBase64Character(_ byte: UInt8) -> Bool {
        (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || (byte >= 48 && byte <= 57)
            || byte == 43 || byte == 47
    }

    /// Parses a header at the start of `bytes`. Returns nil when `bytes` ends before the header does (read
    /// more, or report truncation at end of file); throws for anything malformed.
    public static func parse(_ bytes: [UInt8]) throws(AgeError) -> AgeHeader? {
        var position = 0
        var lineNumber = 0
        /// The next line without its LF, or nil when no LF follows yet.
        func nextLine() -> ArraySlice<UInt8>? {
            guard let end = bytes[position...].firstIndex(of: 0x0A) else { return nil }
            let line = bytes[position..<end]
            position = end + 1
            lineNumber += 1
            return line
        }
        guard let first = nextLine() else {
            if bytes.count > 64 && !bytes.starts(with: Array("age-encryption.org/".utf8)) {
                throw .badHeader("not an age file: it does not start with age-encryption.org/v1")
            }
            return nil
        }
        if first.contains(0x0D) { throw .badHeader("line 1 ends with CR LF; age headers use LF only") }
        guard first.elementsEqual(versionLine.utf8) else {
            if first.starts(with: Array("age-encryption.org/".utf8)) {
                throw .unsupportedVersion(String(decoding: first.prefix(64), as: UTF8.self))
            }
            throw .badHeader("not an age file: it does not start with age-encryption.org/v1")
        }
        var stanzas: [AgeStanza] = []
        while true {
            let lineStart = position
            guard let line = nextLine() else { return nil }
            if line.starts(with: [0x2D, 0x2D, 0x2D]) {
                // "--- " followed by 43 base64 characters.
                guard !stanzas.isEmpty else { throw .badHeader("line \(lineNumber): no recipient stanza before MAC") }
                guard line.count == 47, line[line.startIndex + 3] == 0x20,
                      let mac = AgeBase64.decode(bytes: line.dropFirst(4)), mac.count == 32 else {
                    throw .badHeader("line \(lineNumber): MAC line is not \"--- \" and 43 canonical base64 characters")
                }
                return AgeHeader(stanzas: stanzas, mac: mac, macInput: Array(bytes[0..<(lineStart + 3)]),
                                 length: position)
            }
            guard line.starts(with: [0x2D, 0x3E, 0x20]) else {
                throw .badHeader("line \(lineNumber): expected a stanza (\"-> \") or the MAC line (\"--- \")")
            }
            let stanzaNumber = stanzas.count + 1
            let argumentText = line.dropFirst(3)
            let arguments = argumentText.split(separator: 0x20, omittingEmptySubsequences: false)
            for argument in arguments {
                if argument.isEmpty {
                    throw .badHeader("line \(lineNumber): stanza \(stanzaNumber) has an empty argument")
                }
                if argument.contains(where: { $0 < 0x21 || $0 > 0x7E }) {
                    throw .badHeader("line \(lineNumber): stanza \(stanzaNumber) argument has a non-printable byte")
                }
            }
            var body: [UInt8] = []
            while true {
                guard let bodyLine = nextLine() else { return nil }
                if bodyLine.count > 64 {
                    throw .badHeader("line \(lineNumber): stanza \(stanzaNumber) body line longer than 64 columns")
                }
                if !bodyLine.allSatisfy(isBase64Character) {
                    throw .badHeader("line \(lineNumber): stanza \(stanzaNumber) body has a non-base64 character")
                }
                body += bodyLine
                if bodyLine.count < 64 { break }
            }
            guard let decoded = AgeBase64.decode(bytes: body) else {
                throw .badHeader("stanza \(stanzaNumber) body is not canonical unpadded base64")
            }
            stanzas.append(AgeStanza(arguments: arguments.map { String(decoding: $0, as: UTF8.self) },
                                     body: decoded))
            if position > maximumSize { throw .badHeader("header longer than \(maximumSize) bytes") }
        }
    }
}
