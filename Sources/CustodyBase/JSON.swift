/// A JSON value with a canonical serialization (sorted keys, no insignificant whitespace, UTF-8, minimal
/// escaping as in RFC 8785) and a strict, bounded parser.
public enum JSONValue: Sendable, Equatable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number without fraction or exponent that fits 64 bits.
    case int(Int64)
    /// Any other number.
    case double(Double)
    /// A string.
    case string(String)
    /// An array, in order.
    case array([JSONValue])
    /// An object; member names are unique.
    case object([String: JSONValue])

    /// Canonical bytes: keys sorted by their UTF-16 code units (RFC 8785), no whitespace.
    public var canonicalBytes: [UInt8] {
        var out: [UInt8] = []
        write(into: &out)
        return out
    }

    /// Canonical text.
    public var canonicalString: String { String(decoding: canonicalBytes, as: UTF8.self) }

    private func write(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let value): out.append(contentsOf: (value ? "true" : "false").utf8)
        case .int(let value): out.append(contentsOf: String(value).utf8)
        case .double(let value):
            if value.rounded() == value, abs(value) < 1e15 {
                out.append(contentsOf: String(Int64(value)).utf8)
            } else {
                out.append(contentsOf: "\(value)".utf8)
            }
        case .string(let value): JSONValue.writeString(value, into: &out)
        case .array(let values):
            out.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                value.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            let keys = members.keys.sorted { $0.utf16.lexicographicallyPrecedes($1.utf16) }
            for (index, key) in keys.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                members[key]!.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Appends `string` to `out` as a quoted, escaped JSON string literal (a raw-name byte as `\udcXX`).
    package static func writeString(_ string: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        if RawName.hasEscapes(string) {
            for scalar in string.unicodeScalars {
                guard let raw = RawName.escapedByte(scalar) else {
                    for byte in String(scalar).utf8 { appendEscaped(byte, into: &out) }
                    continue
                }
                // A byte of a file name outside UTF-8 (`RawName`): written as Python's surrogate escape, \udcXX.
                out.append(contentsOf: Array("\\udc".utf8))
                out.append(hexDigits[Int(raw >> 4)])
                out.append(hexDigits[Int(raw & 0xf)])
            }
        } else {
            for byte in string.utf8 { appendEscaped(byte, into: &out) }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// One byte of a string's UTF-8, escaped as canonical JSON wants it.
    private static func appendEscaped(_ byte: UInt8, into out: inout [UInt8]) {
        switch byte {
        case UInt8(ascii: "\""): out.append(contentsOf: [92, 34])
        case UInt8(ascii: "\\"): out.append(contentsOf: [92, 92])
        case 0x08: out.append(contentsOf: [92, UInt8(ascii: "b")])
        case 0x0c: out.append(contentsOf: [92, UInt8(ascii: "f")])
        case 0x0a: out.append(contentsOf: [92, UInt8(ascii: "n")])
        case 0x0d: out.append(contentsOf: [92, UInt8(ascii: "r")])
        case 0x09: out.append(contentsOf: [92, UInt8(ascii: "t")])
        case 0..<0x20:
            out.append(contentsOf: Array("\\u00".utf8))
            out.append(hexDigits[Int(byte >> 4)])
            out.append(hexDigits[Int(byte & 0xf)])
        default: out.append(byte)
        }
    }

    // MARK: Accessors

    /// The member `key` of an object; nil for a missing member or another kind of value.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The text of a string; nil for another kind of value.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The value of an integer number; nil for another kind of value.
    public var intValue: Int64? {
        switch self {
        case .int(let value): return value
        case .double(let value) where value.rounded() == value && abs(value) < 9e15: return Int64(value)
        default: return nil
        }
    }

    /// The value of a boolean; nil for another kind of value.
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The elements of an array; nil for another kind of value.
    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The members of an object; nil for another kind of value.
    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    // MARK: Parsing

    /// Parses one JSON document (RFC 8259), rejecting trailing content, invalid UTF-8, duplicate keys and
    /// nesting deeper than `maxDepth`. Errors name the byte offset.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 64) throws -> JSONValue {
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else { throw parser.error("unexpected content after the JSON value") }
        return value
    }

    /// Parses JSON text.
    public static func parse(_ text: String) throws -> JSONValue {
        try parse(Array(text.utf8))
    }
}

/// A JSON syntax error with its byte offset.
public struct JSONError: CustodyFailure, Equatable {
    /// What is wrong at `offset` (for example "duplicate key 'name'").
    public var message: String
    /// The offset, from 0, of the byte where parsing stopped.
    public var offset: Int

    /// Input that cannot be read as JSON: an operation that could not be done.
    public var kind: FailureKind { .operational }

    /// `invalid JSON at byte OFFSET: MESSAGE`.
    public var description: String { "invalid JSON at byte \(offset): \(message)" }
}

private struct JSONParser {
    let bytes: [UInt8]
    let maxDepth: Int
    var position = 0

    init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    func error(_ message: String) -> JSONError { JSONError(message: message, offset: position) }

    mutating func skipWhitespace() {
        while position < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[position]) { position += 1 }
    }

    mutating func expect(_ literal: String) throws {
        let expected = Array(literal.utf8)
        guard position + expected.count <= bytes.count,
              Array(bytes[position..<position + expected.count]) == expected else {
            throw error("expected '\(literal)'")
        }
        position += expected.count
    }

    mutating func parseValue(depth: Int) throws -> JSONValue {
        guard depth <= maxDepth else { throw error("nested deeper than \(maxDepth) levels") }
        guard position < bytes.count else { throw error("unexpected end of input") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        default: return try parseNumber()
        }
    }

    mutating func parseObject(depth: Int) throws -> JSONValue {
        var members: [String: JSONValue] = [:]
        try parseContainer(closing: "}", named: "an object") { parser in
            guard parser.position < parser.bytes.count, parser.bytes[parser.position] == UInt8(ascii: "\"") else {
                throw parser.error("expected a string key")
            }
            let keyStart = parser.position
            let key = try parser.parseString()
            guard members[key] == nil else {
                parser.position = keyStart
                throw parser.error("duplicate key '\(key)'")
            }
            parser.skipWhitespace()
            guard parser.position < parser.bytes.count, parser.bytes[parser.position] == UInt8(ascii: ":") else {
                throw parser.error("expected ':'")
            }
            parser.position += 1
            parser.skipWhitespace()
            members[key] = try parser.parseValue(depth: depth + 1)
        }
        return .object(members)
    }

    mutating func parseArray(depth: Int) throws -> JSONValue {
        var values: [JSONValue] = []
        try parseContainer(closing: "]", named: "an array") { parser in
            values.append(try parser.parseValue(depth: depth + 1))
        }
        return .array(values)
    }

    /// Parses a container from its opening bracket to its closing bracket `close`: `element` parses each member
    /// or element (whitespace before it skipped); commas separate them.
    mutating func parseContainer(closing close: Unicode.Scalar, named container: String,
                                 _ element: (inout JSONParser) throws -> Void) throws {
        position += 1
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: close) {
            position += 1
            return
        }
        while true {
            skipWhitespace()
            try element(&self)
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end of input in \(container)") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                continue
            }
            guard bytes[position] == UInt8(ascii: close) else { throw error("expected ',' or '\(close)'") }
            position += 1
            return
        }
    }

    mutating func parseHex4() throws -> UInt32 {
        guard position + 4 <= bytes.count, let value = UInt32(String(decoding: bytes[position..<position + 4],
                                                                       as: UTF8.self), radix: 16) else {
            throw error("bad \\u escape")
        }
        position += 4
        return value
    }

    mutating func parseString() throws -> String {
        position += 1
        var out: [UInt8] = []
        while true {
            guard position < bytes.count else { throw error("unterminated string") }
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                guard let text = String(validating: out, as: UTF8.self) else {
                    throw error("string is not valid UTF-8")
                }
                return text
            case UInt8(ascii: "\\"):
                position += 1
                guard position < bytes.count else { throw error("unterminated escape") }
                let escape = bytes[position]
                position += 1
                switch escape {
                case UInt8(ascii: "\""): out.append(34)
                case UInt8(ascii: "\\"): out.append(92)
                case UInt8(ascii: "/"): out.append(47)
                case UInt8(ascii: "b"): out.append(8)
                case UInt8(ascii: "f"): out.append(12)
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "r"): out.append(13)
                case UInt8(ascii: "t"): out.append(9)
                case UInt8(ascii: "u"):
                    var scalar = try parseHex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard position + 2 <= bytes.count, bytes[position] == 92, bytes[position + 1] == 117 else {
                            throw error("unpaired surrogate")
                        }
                        position += 2
                        let low = try parseHex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC80..<0xDD00).contains(scalar) {
                        // A byte of a file name outside UTF-8, as the writer escapes it (`RawName`).
                        scalar = RawName.base + (scalar - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw error("unpaired surrogate")
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw error("bad \\u escape") }
                    out.append(contentsOf: Array(String(Character(unicode)).utf8))
                default:
                    throw error("bad escape")
                }
            case 0..<0x20:
                throw error("control character in string")
            default:
                out.append(byte)
                position += 1
            }
        }
    }

    mutating func parseNumber() throws -> JSONValue {
        let start = position
        if position < bytes.count, bytes[position] == UInt8(ascii: "-") { position += 1 }
        var isInteger = true
        let digitsStart = position
        while position < bytes.count, (48...57).contains(bytes[position]) { position += 1 }
        guard position > digitsStart else { throw error("unexpected character") }
        if bytes[digitsStart] == 48 && position - digitsStart > 1 { throw error("leading zero in number") }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            isInteger = false
            position += 1
            let fractionStart = position
            while position < bytes.count, (48...57).contains(bytes[position]) { position += 1 }
            guard position > fractionStart else { throw error("digits expected after '.'") }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            isInteger = false
            position += 1
            if position < bytes.count, bytes[position] == 43 || bytes[position] == 45 { position += 1 }
            let exponentStart = position
            while position < bytes.count, (48...57).contains(bytes[position]) { position += 1 }
            guard position > exponentStart else { throw error("digits expected in exponent") }
        }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        if isInteger, let value = Int64(text) { return .int(value) }
        guard let value = Double(text), value.isFinite else {
            position = start
            throw error("number out of range")
        }
        return .double(value)
    }
}
