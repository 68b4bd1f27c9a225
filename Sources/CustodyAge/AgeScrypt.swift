import CustodyBase
import CustodyCrypto
import CustodyIO

/// A passphrase recipient (age's `scrypt` stanza): the file key is wrapped with a key derived by scrypt
/// (N = 2^workFactor, r = 8, p = 1) from the passphrase and a fresh 16-byte salt. It must be the only stanza.
public struct AgeScryptRecipient: AgeRecipient {
    private let passphrase: [UInt8]
    /// log2 of scrypt's N; age uses 18 (about 256 MiB and a second).
    public let workFactor: Int

    public init(passphrase: String, workFactor: Int = 18) throws {
        guard !passphrase.isEmpty else { throw AgeError.badKey("empty passphrase") }
        guard (1...AgeScryptIdentity.maximumWorkFactor).contains(workFactor) else {
            let limit = AgeScryptIdentity.maximumWorkFactor
            throw AgeError.badKey("scrypt work factor \(workFactor) outside 1...\(limit)")
        }
        self.passphrase = Array(passphrase.utf8)
        self.workFactor = workFactor
    }

    public var requiresSoleStanza: Bool { true }

    public func wrap(fileKey: [UInt8]) throws -> AgeStanza {
        let salt = try AgeCrypto.randomBytes(16)
        let wrapKey = try AgeCrypto.scrypt(passphrase: passphrase,
                                           salt: Array("age-encryption.org/v1/scrypt".utf8) + salt, logN: workFactor)
        let body = try AgeCrypto.seal(key: wrapKey, nonce: [UInt8](repeating: 0, count: 12), plaintext: fileKey)
        return AgeStanza(arguments: ["scrypt", AgeBase64.encode(salt), String(workFactor)], body: body)
    }
}

/// A passphrase identity: opens `scrypt` stanzas made with the same passphrase.
public struct AgeScryptIdentity: AgeIdentity {
    /// The highest work factor accepted (age's limit): 2^22 blocks, 4 GiB of memory.
    public static let maximumWorkFactor = 22
    private let passphrase: [UInt8]

    public init(passphrase: String) {
        self.passphrase = Array(passphrase.utf8)
    }

    public func unwrap(_ stanza: AgeStanza, index: Int) throws -> [UInt8]? {
        guard stanza.arguments.first == "scrypt" else { return nil }
        guard stanza.arguments.count == 3 else {
            throw AgeError.badStanza(index: index, reason: "scrypt stanza has \(stanza.arguments.count - 1) "
                                     + "arguments after the type, expected 2")
        }
        guard let salt = AgeBase64.decode(stanza.arguments[1]), salt.count == 16 else {
            throw AgeError.badStanza(index: index, reason: "scrypt salt is not canonical base64 of 16 bytes")
        }
        let factorText = stanza.arguments[2]
        guard let first = factorText.utf8.first, first >= UInt8(ascii: "1"), first <= UInt8(ascii: "9"),
              factorText.utf8.count <= 2, factorText.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
              let workFactor = Int(factorText) else {
            throw AgeError.badStanza(index: index, reason: "scrypt work factor is not a decimal without leading zeros")
        }
        guard workFactor <= AgeScryptIdentity.maximumWorkFactor else {
            throw AgeError.badStanza(index: index, reason: "scrypt work factor \(workFactor) exceeds "
                                     + "\(AgeScryptIdentity.maximumWorkFactor)")
        }
        guard stanza.body.count == 32 else {
            throw AgeError.badStanza(index: index, reason: "scrypt body is \(stanza.body.count) bytes, expected 32")
        }
        let wrapKey = try AgeCrypto.scrypt(passphrase: passphrase,
                                           salt: Array("age-encryption.org/v1/scrypt".utf8) + salt, logN: workFactor)
        return try AgeCrypto.open(key: wrapKey, nonce: [UInt8](repeating: 0, count: 12), sealed: stanza.body)
    }
}
