import CustodyBase
import CustodyIO

/// A C2SP signed-note verifier key for Ed25519: `name+hex8(keyID)+base64(0x01 || public key)`.
public struct NoteVerifierKey: Sendable, Equatable {
    /// The key name (non-empty, no Unicode spaces, no `+`).
    public let name: String
    /// The key ID: the first four bytes, big-endian, of SHA-256(name || 0x0A || 0x01 || public key).
    public let keyID: UInt32
    /// The Ed25519 public key.
    public let publicKey: Ed25519PublicKey

    /// The signature type byte for Ed25519 notes.
    public static let ed25519Type: UInt8 = 0x01

    /// The verifier key for `publicKey` under `name`.
    public init(name: String, publicKey: Ed25519PublicKey) throws {
        try SignedNote.validateKeyName(name)
        self.name = name
        self.publicKey = publicKey
        keyID = NoteVerifierKey.keyID(name: name, publicKey: publicKey.rawBytes)
    }

    /// Parses `name+hex8+base64`, checking the algorithm byte, the key length and that the ID matches.
    public init(parsing text: String) throws {
        let trimmed = text.hasSuffix("\n") ? String(text.dropLast()) : text
        let parts = trimmed.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1].utf8.count == 8, let id = UInt32(parts[1], radix: 16),
            Hex.decode(parts[1]) != nil, let encoded = Base64.decode(parts[2])
        else {
            throw SignedNoteError.notVerifierKey(excerpt: String(trimmed.prefix(80)))
        }
        guard encoded.count == 33, encoded[0] == NoteVerifierKey.ed25519Type else {
            throw SignedNoteError.verifierKeyNotEd25519(name: String(parts[0]))
        }
        let name = String(parts[0])
        try SignedNote.validateKeyName(name)
        let publicKey = try Ed25519PublicKey(rawBytes: Array(encoded[1...]))
        guard NoteVerifierKey.keyID(name: name, publicKey: publicKey.rawBytes) == id else {
            throw SignedNoteError.verifierKeyIDMismatch(name: name, keyIDText: String(parts[1]))
        }
        self.name = name
        self.publicKey = publicKey
        keyID = id
    }

    /// The key ID of an Ed25519 key under `name`.
    public static func keyID(name: String, publicKey: [UInt8]) -> UInt32 {
        let digest = Digester.digest(.sha256, Array(name.utf8) + [0x0a, ed25519Type] + publicKey)
        return UInt32(digest[0]) << 24 | UInt32(digest[1]) << 16 | UInt32(digest[2]) << 8 | UInt32(digest[3])
    }

    /// The key ID as eight lower-case hex digits.
    public var keyIDHex: String { NoteVerifierKey.hex8(keyID) }

    static func hex8(_ value: UInt32) -> String {
        Hex.encode([UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)])
    }

    /// The text form `name+hex8+base64(0x01 || key)`.
    public var encoded: String {
        "\(name)+\(keyIDHex)+\(Base64.encode([NoteVerifierKey.ed25519Type] + publicKey.rawBytes))"
    }

    /// Whether both have the same name, key ID and public key.
    public static func == (lhs: NoteVerifierKey, rhs: NoteVerifierKey) -> Bool {
        lhs.name == rhs.name && lhs.keyID == rhs.keyID && lhs.publicKey == rhs.publicKey
    }
}

/// One signature line of a signed note: `— name base64(keyID || signature)`.
public struct NoteSignature: Sendable, Equatable {
    /// The key name.
    public var name: String
    /// The key ID of the signing key.
    public var keyID: UInt32
    /// The signature bytes after the key ID.
    public var signature: [UInt8]

    /// The line without its final newline.
    public var line: String {
        let id = [UInt8(keyID >> 24), UInt8(keyID >> 16 & 0xff), UInt8(keyID >> 8 & 0xff), UInt8(keyID & 0xff)]
        return "\u{2014} \(name) \(Base64.encode(id + signature))"
    }
}

/// A C2SP signed note: a text ending in a newline, a blank line, and one or more signature lines.
public struct SignedNote: Sendable, Equatable {
    /// The signed text, including its final newline.
    public var text: String
    /// The signature lines, in order.
    public var signatures: [NoteSignature]

    /// The most signatures a parsed note may carry.
    public static let maximumSignatures = 100
    /// The largest note accepted by `parse`.
    public static let maximumSize = 1 << 20

    /// Signs `text` (which must end with a newline) with `key` under the key name `name`.
    public static func sign(text: String, name: String, key: Ed25519PrivateKey) throws -> SignedNote {
        try validateText(text)
        var note = SignedNote(text: text, signatures: [])
        try note.addSignature(name: name, key: key)
        return note
    }

    /// Adds (or replaces) the signature of `key` under `name`.
    public mutating func addSignature(name: String, key: Ed25519PrivateKey) throws {
        let verifier = try NoteVerifierKey(name: name, publicKey: key.publicKey)
        let signature = try key.sign(Array(text.utf8))
        signatures.removeAll { $0.name == name && $0.keyID == verifier.keyID }
        signatures.append(NoteSignature(name: name, keyID: verifier.keyID, signature: signature))
    }

    /// The encoded note: text, blank line, one line per signature.
    public var encoded: String {
        text + "\n" + signatures.map { $0.line + "\n" }.joined()
    }

    /// The encoded note as bytes.
    public var bytes: [UInt8] { Array(encoded.utf8) }

    /// Parses the note a received file holds (a receipt, a consent): a malformed note is a verification failure
    /// naming `source`, as the statement inside it would be.
    public static func parse(_ bytes: [UInt8], source: String) throws -> SignedNote {
        try parse(bytes, receivedFrom: source)
    }

    /// Parses an encoded note, checking the syntax only (no signature is verified here).
    public static func parse(_ bytes: [UInt8]) throws -> SignedNote {
        try parse(bytes, receivedFrom: nil)
    }

    /// Parses an encoded note; a malformed one names `source` when the note came in a received file.
    private static func parse(_ bytes: [UInt8], receivedFrom source: String?) throws(SignedNoteError) -> SignedNote {
        func malformed(_ why: String) -> SignedNoteError { .malformed(reason: why, source: source) }
        guard bytes.count <= maximumSize else { throw malformed("larger than \(maximumSize) bytes") }
        guard String(validating: bytes, as: UTF8.self) != nil else { throw malformed("not valid UTF-8") }
        if let bad = bytes.first(where: { $0 < 0x20 && $0 != 0x0a }) {
            throw malformed("control character 0x\(Hex.encode([bad]))")
        }
        guard bytes.last == 0x0a else { throw malformed("does not end with a newline") }
        // The text is separated from the signatures by the last blank line.
        var split: Int?
        var index = bytes.count - 2
        while index >= 0 {
            if bytes[index] == 0x0a && bytes[index + 1] == 0x0a {
                split = index
                break
            }
            index -= 1
        }
        guard let split else { throw malformed("no blank line before the signatures") }
        let text = String(decoding: bytes[0...split], as: UTF8.self)
        let block = String(decoding: bytes[(split + 2)...], as: UTF8.self)
        var signatures: [NoteSignature] = []
        for line in block.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            guard line.hasPrefix("\u{2014} ") else { throw malformed("signature line does not start with an em dash") }
            let fields = line.dropFirst(2).split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 2, (try? validateKeyName(String(fields[0]))) != nil,
                let decoded = Base64.decode(fields[1]), decoded.count > 4
            else {
                throw malformed("bad signature line '\(line.prefix(60))'")
            }
            let id = UInt32(decoded[0]) << 24 | UInt32(decoded[1]) << 16 | UInt32(decoded[2]) << 8 | UInt32(decoded[3])
            signatures.append(NoteSignature(name: String(fields[0]), keyID: id, signature: Array(decoded[4...])))
            guard signatures.count <= maximumSignatures else {
                throw malformed("more than \(maximumSignatures) signatures")
            }
        }
        guard !signatures.isEmpty else { throw malformed("no signature lines") }
        return SignedNote(text: text, signatures: signatures)
    }

    /// Verifies the note against trusted keys. Signatures from unknown keys are ignored; a signature from a known
    /// key (same name and key ID) that fails rejects the note (exit 1); so does a note no known key signed.
    /// - Returns: the keys whose signatures verified, in signature order.
    @discardableResult
    public func verify(with keys: [NoteVerifierKey]) throws -> [NoteVerifierKey] {
        var verified: [NoteVerifierKey] = []
        let message = Array(text.utf8)
        for signature in signatures {
            guard let key = keys.first(where: { $0.name == signature.name && $0.keyID == signature.keyID }) else {
                continue
            }
            guard key.publicKey.verify(signature: signature.signature, message: message) else {
                throw SignedNoteError.invalidSignature(keyName: key.name, keyIDHex: key.keyIDHex)
            }
            if !verified.contains(key) { verified.append(key) }
        }
        guard !verified.isEmpty else {
            throw SignedNoteError.noVerifiableSignature(trustedKeys: keys.map { "\($0.name)+\($0.keyIDHex)" })
        }
        return verified
    }

    /// Checks the C2SP key-name rules: non-empty, no Unicode spaces, no `+`.
    public static func validateKeyName(_ name: String) throws {
        guard !name.isEmpty,
            !name.unicodeScalars.contains(where: {
                $0 == "+" || $0.properties.isWhitespace || Printable.isControl($0)
            })
        else {
            throw SignedNoteError.invalidKeyName(name)
        }
    }

    /// Checks a note text: non-empty, ends with a newline, no control characters but newlines.
    public static func validateText(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard bytes.last == 0x0a, !bytes.contains(where: { $0 < 0x20 && $0 != 0x0a }) else {
            throw SignedNoteError.invalidText
        }
    }
}
