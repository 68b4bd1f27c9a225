import CustodyBase
import CustodyCrypto
import CustodyIO
#if canImport(Glibc)
import Glibc
#endif

/// Something a file key can be wrapped for: one recipient stanza per file.
public protocol AgeRecipient: Sendable {
    /// Wraps the 16-byte file key into a stanza (fresh randomness every call).
    func wrap(fileKey: [UInt8]) throws -> AgeStanza
    /// Whether the stanza must be the only one in the header (passphrases).
    var requiresSoleStanza: Bool { get }
}

extension AgeRecipient {
    /// False: most recipients may share the header with others.
    public var requiresSoleStanza: Bool { false }
}

/// Something that can unwrap file keys from the stanzas addressed to it.
public protocol AgeIdentity: Sendable {
    /// The file key if `stanza` is addressed to this identity; nil for other stanzas; throws for stanzas of
    /// this identity's type that break the spec's rules.
    func unwrap(_ stanza: AgeStanza, index: Int) throws -> [UInt8]?
}

extension AgeStanza {
    /// A stanza of `arguments` whose body is `fileKey` sealed with `wrapKey` under the zero nonce.
    init(arguments: [String], wrapping fileKey: [UInt8], with wrapKey: [UInt8]) throws {
        let body = try AgeCrypto.seal(key: wrapKey, nonce: [UInt8](repeating: 0, count: 12), plaintext: fileKey)
        self.init(arguments: arguments, body: body)
    }

    /// The arguments after the type when the stanza is of `type`; nil for a stanza of another type.
    /// - Throws: `AgeError.badStanza` (stanza `index`) when there are not `count` of them.
    func arguments(ofType type: String, count: Int, index: Int) throws -> [String]? {
        guard arguments.first == type else { return nil }
        guard arguments.count == count + 1 else {
            throw AgeError.badStanza(index: index, reason: "\(type) stanza has \(arguments.count - 1) "
                                     + "arguments after the type, expected \(count)")
        }
        return Array(arguments.dropFirst())
    }

    /// The bytes of `argument`, canonical base64 of exactly `length` bytes; `name` says what it is in messages.
    static func decode(_ argument: String, length: Int, naming name: String, index: Int) throws -> [UInt8] {
        guard let bytes = AgeBase64.decode(argument), bytes.count == length else {
            throw AgeError.badStanza(index: index, reason: "\(name) is not canonical base64 of \(length) bytes")
        }
        return bytes
    }

    /// Checks that the body is a sealed 16-byte file key (32 bytes).
    func checkWrappedFileKey(index: Int) throws {
        guard body.count == 32 else {
            let type = arguments.first ?? ""
            throw AgeError.badStanza(index: index, reason: "\(type) body is \(body.count) bytes, expected 32")
        }
    }

    /// The file key the body holds, opened with `wrapKey` under the zero nonce; nil when it does not open.
    func unwrapFileKey(with wrapKey: [UInt8]) throws -> [UInt8]? {
        try AgeCrypto.open(key: wrapKey, nonce: [UInt8](repeating: 0, count: 12), sealed: body)
    }
}

/// An age X25519 recipient: the public key a file is encrypted to, written `age1...` (Bech32, HRP `age`).
public struct AgeX25519Recipient: AgeRecipient, Hashable, CustomStringConvertible {
    /// The 32-byte X25519 public key.
    public let publicKey: [UInt8]

    /// A recipient from a raw 32-byte public key.
    public init(publicKey: [UInt8]) throws(AgeError) {
        guard publicKey.count == 32 else { throw .badKey("an X25519 public key is 32 bytes, not \(publicKey.count)") }
        self.publicKey = publicKey
    }

    /// Parses `age1...` (lower case, as age writes it).
    public init(parsing text: String) throws(AgeError) {
        let trimmed = text.trimmingWhitespace()
        if trimmed.utf8.contains(where: { $0 >= 65 && $0 <= 90 }) {
            throw .badKey("recipient \(Self.excerpt(trimmed)) must be lower case")
        }
        let decoded: (hrp: String, data: [UInt8])
        do {
            decoded = try Bech32.decode(trimmed)
        } catch {
            throw .badKey("recipient \(Self.excerpt(trimmed)) \(error)")
        }
        guard decoded.hrp == "age" else {
            throw .badKey("recipient \(Self.excerpt(trimmed)) is not an age X25519 recipient (prefix \(decoded.hrp)1)")
        }
        try self.init(publicKey: decoded.data)
    }

    /// The `age1...` encoding.
    public var encoded: String { Bech32.encode(hrp: "age", data: publicKey) }

    /// The `age1...` encoding.
    public var description: String { encoded }

    /// A short, safe excerpt of untrusted key text for messages.
    static func excerpt(_ text: String) -> String {
        let visible = text.prefix(16).map { $0.isASCII && !$0.isWhitespace ? String($0) : "?" }.joined()
        return "\"" + visible + (text.count > 16 ? "...\"" : "\"")
    }

    /// Wraps `fileKey` in an X25519 stanza for this recipient (a fresh ephemeral key per stanza).
    public func wrap(fileKey: [UInt8]) throws -> AgeStanza {
        let ephemeral = try AgeCrypto.generateX25519PrivateKey()
        let share = try AgeCrypto.x25519PublicKey(privateKey: ephemeral)
        guard let shared = try AgeCrypto.x25519(privateKey: ephemeral, publicKey: publicKey) else {
            throw AgeError.badKey("recipient \(encoded) is a low-order point and cannot receive files")
        }
        let wrapKey = try AgeCrypto.hkdf(key: shared, salt: share + publicKey, info: "age-encryption.org/v1/X25519")
        return try AgeStanza(arguments: ["X25519", AgeBase64.encode(share)], wrapping: fileKey, with: wrapKey)
    }
}

/// An age X25519 identity: the secret key that opens files for its recipient, written `AGE-SECRET-KEY-1...`.
///
/// `description` never shows the secret; only `encoded` does, for writing the identity file.
public struct AgeX25519Identity: AgeIdentity, CustomStringConvertible {
    private let secretKey: [UInt8]
    /// The recipient (public key) of this identity.
    public let recipient: AgeX25519Recipient

    /// An identity from a raw 32-byte X25519 private key.
    public init(privateKey: [UInt8]) throws {
        guard privateKey.count == 32 else {
            throw AgeError.badKey("an X25519 private key is 32 bytes, not \(privateKey.count)")
        }
        secretKey = privateKey
        recipient = try AgeX25519Recipient(publicKey: try AgeCrypto.x25519PublicKey(privateKey: privateKey))
    }

    /// A new identity from OpenSSL's X25519 key generation.
    public static func generate() throws -> AgeX25519Identity {
        try AgeX25519Identity(privateKey: try AgeCrypto.generateX25519PrivateKey())
    }

    /// Parses `AGE-SECRET-KEY-1...` (upper case, as age-keygen writes it).
    public init(parsing text: String) throws {
        let trimmed = text.trimmingWhitespace()
        if trimmed.utf8.contains(where: { $0 >= 97 && $0 <= 122 }) {
            throw AgeError.badKey("identity must be upper case AGE-SECRET-KEY-1...")
        }
        let decoded: (hrp: String, data: [UInt8])
        do {
            decoded = try Bech32.decode(trimmed)
        } catch {
            // The message never repeats the secret text.
            throw AgeError.badKey("identity \(error)")
        }
        guard decoded.hrp == "age-secret-key-" else {
            throw AgeError.badKey("not an age X25519 identity (prefix \(decoded.hrp.uppercased())1)")
        }
        try self.init(privateKey: decoded.data)
    }

    /// The `AGE-SECRET-KEY-1...` encoding. This is the secret: write it only to a 0600 file.
    public var encoded: String { Bech32.encode(hrp: "AGE-SECRET-KEY-", data: secretKey, uppercase: true) }

    /// Names the recipient, never the secret.
    public var description: String { "age X25519 identity for \(recipient.encoded)" }

    /// Unwraps the file key from `stanza` if it is addressed to this identity.
    ///
    /// Returns nil for stanzas of other types and X25519 stanzas for other keys; throws for X25519 stanzas
    /// that break the spec's rules (argument count, share encoding, body size, low-order share).
    public func unwrap(_ stanza: AgeStanza, index: Int) throws -> [UInt8]? {
        guard let arguments = try stanza.arguments(ofType: "X25519", count: 1, index: index) else { return nil }
        let share = try AgeStanza.decode(arguments[0], length: 32, naming: "X25519 share", index: index)
        try stanza.checkWrappedFileKey(index: index)
        guard let shared = try AgeCrypto.x25519(privateKey: secretKey, publicKey: share) else {
            throw AgeError.badStanza(index: index, reason: "X25519 share is a low-order point (all-zero secret)")
        }
        let wrapKey = try AgeCrypto.hkdf(key: shared, salt: share + recipient.publicKey,
                                         info: "age-encryption.org/v1/X25519")
        return try stanza.unwrapFileKey(with: wrapKey)
    }
}

/// Identity files as age-keygen writes them: `# created: ...`, `# public key: age1...`, then the key.
/// Blank lines and lines starting with `#` are ignored when reading; every other line is one identity.
public enum AgeIdentityFile {
    /// The file's text for one identity.
    public static func render(_ identity: AgeX25519Identity, created: Timestamp = .now()) -> String {
        "# created: \(created)\n# public key: \(identity.recipient.encoded)\n\(identity.encoded)\n"
    }

    /// Parses identity file text; `source` names the file in messages.
    public static func parse(_ text: String, source: String) throws -> [AgeX25519Identity] {
        var identities: [AgeX25519Identity] = []
        for (number, line) in text.textLines().enumerated() {
            let content = String(line).trimmingWhitespace()
            if content.isEmpty || content.hasPrefix("#") { continue }
            do {
                identities.append(try AgeX25519Identity(parsing: content))
            } catch let error as AgeError {
                if case .badKey(let reason) = error {
                    throw AgeError.badKey("\(source) line \(number + 1): \(reason)")
                }
                throw error
            }
        }
        guard !identities.isEmpty else { throw AgeError.badKey("\(source): no AGE-SECRET-KEY-1 identity found") }
        return identities
    }

    /// Whether identity file bytes are themselves an age file (a passphrase-protected identity, as
    /// `age -p` or `custody keygen` without `--no-passphrase` writes them).
    public static func isEncrypted(_ bytes: [UInt8]) -> Bool {
        bytes.starts(with: Array("age-encryption.org/v1\n".utf8))
    }

    /// Reads and parses an identity file (at most 1 MiB). A passphrase-protected file is decrypted in memory with
    /// the passphrase `passphrase` returns (called only for such files).
    public static func read(_ path: String, passphrase: () throws -> String = {
        throw AgeError.badKey("the identity file is passphrase-protected; a passphrase is needed")
    }) throws -> [AgeX25519Identity] {
        var bytes = try FileSystem.readFile(path, limit: 1 << 20)
        if isEncrypted(bytes) {
            let identity = AgeScryptIdentity(passphrase: try passphrase())
            do {
                bytes = try AgeDecryptor(identities: [identity]).decrypt(bytes)
            } catch AgeError.noMatchingIdentity {
                throw AgeError.badKey("\(path): wrong passphrase")
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw AgeError.badKey("\(path): not UTF-8 text")
        }
        return try parse(text, source: path)
    }

    /// Writes an identity file durably with mode 0600, refusing to replace an existing file. With a passphrase
    /// the file is an age file encrypted to it (scrypt), which `age -d -i FILE` also opens after asking for it.
    public static func write(_ identity: AgeX25519Identity, to path: String, passphrase: String? = nil,
                             workFactor: Int = 18, created: Timestamp = .now()) throws {
        if FileSystem.exists(path) { throw AgeOperationError.outputExists(path: path, holdsKey: true) }
        var bytes = Array(render(identity, created: created).utf8)
        if let passphrase {
            let recipient = try AgeScryptRecipient(passphrase: passphrase, workFactor: workFactor)
            bytes = try AgeEncryptor(recipients: [recipient]).encrypt(bytes)
        }
        try FileSystem.writeAtomically(path, bytes, mode: 0o600)
    }
}

/// Recipient files: one `age1...` per line; blank lines and `#` comments ignored.
public enum AgeRecipientFile {
    /// The file's text for one recipient.
    public static func render(_ recipient: AgeX25519Recipient) -> String { recipient.encoded + "\n" }

    /// Parses recipient file text; `source` names the file in messages.
    public static func parse(_ text: String, source: String) throws -> [AgeX25519Recipient] {
        var recipients: [AgeX25519Recipient] = []
        for (number, line) in text.textLines().enumerated() {
            let content = String(line).trimmingWhitespace()
            if content.isEmpty || content.hasPrefix("#") { continue }
            do {
                recipients.append(try AgeX25519Recipient(parsing: content))
            } catch {
                if case .badKey(let reason) = error {
                    throw AgeError.badKey("\(source) line \(number + 1): \(reason)")
                }
                throw error
            }
        }
        guard !recipients.isEmpty else { throw AgeError.badKey("\(source): no age1 recipient found") }
        return recipients
    }

    /// Reads and parses a recipient file (at most 1 MiB).
    public static func read(_ path: String) throws -> [AgeX25519Recipient] {
        let bytes = try FileSystem.readFile(path, limit: 1 << 20)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw AgeError.badKey("\(path): not UTF-8 text")
        }
        return try parse(text, source: path)
    }

    /// Writes a recipient file durably (mode 0644), refusing to replace an existing file.
    public static func write(_ recipient: AgeX25519Recipient, to path: String) throws {
        if FileSystem.exists(path) { throw AgeOperationError.outputExists(path: path, holdsKey: false) }
        try FileSystem.writeAtomically(path, Array(render(recipient).utf8), mode: 0o644)
    }
}
