import CustodyBase
import CustodyCrypto
import CustodyIO

/// A passphrase recipient (age's `scrypt` stanza): the file key is wrapped with a key derived by scrypt
/// (N = 2^workFactor, r = 8, p = 1) from the passphrase and a fresh 16-byte salt. It must be the only stanza.
public struct AgeScryptRecipient: AgeRecipient {
    private let passphrase: [UInt8]
    /// log2 of scrypt's N; age uses 18 (about 256 MiB and a second).
    public let workFactor: Int

    /// A recipient for `passphrase` with scrypt work factor `workFactor`.
    /// - Throws: `AgeError.badKey` for an empty passphrase or a work factor outside 1 to 22.
    public init(passphrase: String, workFactor: Int = 18) throws {
        guard !passphrase.isEmpty else { throw AgeError.badKey("empty passphrase") }
        guard (1...AgeScryptIdentity.maximumWorkFactor).contains(workFactor) else {
            let limit = AgeScryptIdentity.maximumWorkFactor
            throw AgeError.badKey("scrypt work factor \(workFactor) outside 1...\(limit)")
        }
        self.passphrase = Array(passphrase.utf8)
        self.workFactor = workFactor
    }

    /// True: a passphrase stanza must be the only one.
    public var requiresSoleStanza: Bool { true }

    /// Wraps `fileKey` in an `scrypt` stanza with a fresh salt.
    public func wrap(fileKey: [UInt8]) throws -> AgeStanza {
        let salt = try AgeCrypto.randomBytes(16)
        let wrapKey = try AgeScryptIdentity.wrapKey(passphrase: passphrase, salt: salt, workFactor: workFactor)
        return try AgeStanza(arguments: ["scrypt", AgeBase64.encode(salt), String(workFactor)], wrapping: fileKey,
                             with: wrapKey)
    }
}

/// A passphrase identity: opens `scrypt` stanzas made with the same passphrase.
public struct AgeScryptIdentity: AgeIdentity {
    /// The highest work factor accepted (age's limit): 2^22 blocks, 4 GiB of memory.
    public static let maximumWorkFactor = 22
    private let passphrase: [UInt8]

    /// An identity that opens `scrypt` stanzas made with `passphrase`.
    public init(passphrase: String) {
        self.passphrase = Array(passphrase.utf8)
    }

    /// The file key if `stanza` is an `scrypt` stanza this passphrase opens; nil for other stanzas and for one
    /// made with another passphrase; throws for `scrypt` stanzas that break the spec's rules.
    public func unwrap(_ stanza: AgeStanza, index: Int) throws -> [UInt8]? {
        guard let arguments = try stanza.arguments(ofType: "scrypt", count: 2, index: index) else { return nil }
        let salt = try AgeStanza.decode(arguments[0], length: 16, naming: "scrypt salt", index: index)
        let factorText = arguments[1]
        guard let first = factorText.utf8.first, first >= UInt8(ascii: "1"), first <= UInt8(ascii: "9"),
              factorText.utf8.count <= 2, factorText.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
              let workFactor = Int(factorText) else {
            throw AgeError.badStanza(index: index, reason: "scrypt work factor is not a decimal without leading zeros")
        }
        guard workFactor <= AgeScryptIdentity.maximumWorkFactor else {
            throw AgeError.badStanza(index: index, reason: "scrypt work factor \(workFactor) exceeds "
                                     + "\(AgeScryptIdentity.maximumWorkFactor)")
        }
        try stanza.checkWrappedFileKey(index: index)
        let wrapKey = try AgeScryptIdentity.wrapKey(passphrase: passphrase, salt: salt, workFactor: workFactor)
        return try stanza.unwrapFileKey(with: wrapKey)
    }

    /// The key that wraps the file key: scrypt of the passphrase with the labelled salt, N = 2^workFactor.
    static func wrapKey(passphrase: [UInt8], salt: [UInt8], workFactor: Int) throws -> [UInt8] {
        try AgeCrypto.scrypt(passphrase: passphrase, salt: Array("age-encryption.org/v1/scrypt".utf8) + salt,
                             logN: workFactor)
    }
}
