import CustodyBase
import CustodyIO

/// A key holder: name, agency and jurisdiction bound to an Ed25519 public key.
///
/// Stored beside the public key as `NAME.identity.json`: canonical JSON with the members `agency`,
/// `jurisdiction` (ISO 3166-1 alpha-2), `keyId` (hex8, the signed-note key ID), `name`, `publicKey` (base64 of the
/// 32 raw bytes), `type` (`custody-identity-v1`), `verifierKey` (the signed-note verifier key) and `signature`:
/// base64 of the holder's Ed25519 signature over `custody identity v1\n` followed by the canonical JSON of the
/// other members (proof that the holder of the private key made the claim).
public struct Identity: Sendable, Equatable {
    /// The holder's name: a file name and the key name in signed notes.
    public var name: String
    /// The holder's agency.
    public var agency: String
    /// The agency's jurisdiction: an ISO 3166-1 alpha-2 code, upper case.
    public var jurisdiction: String
    /// The holder's Ed25519 public key.
    public var publicKey: Ed25519PublicKey

    /// The type tag of the identity file.
    public static let type = "custody-identity-v1"
    /// What the self-signature covers before the canonical JSON.
    static let signaturePrefix = Array("custody identity v1\n".utf8)

    /// Creates an identity, validating the name (a file name and a signed-note key name: 1 to 64 of `A-Z a-z 0-9 .
    /// _ -`, not starting with `.` or `-`), the agency (1 to 200 characters, no control characters) and the
    /// jurisdiction (ISO 3166-1 alpha-2; normalized to upper case).
    public init(name: String, agency: String, jurisdiction: String, publicKey: Ed25519PublicKey) throws {
        try Identity.validateName(name)
        try Identity.validateAgency(agency)
        self.name = name
        self.agency = agency
        self.jurisdiction = try CountryCode.validate(jurisdiction)
        self.publicKey = publicKey
    }

    /// Checks an agency: 1 to 200 characters without control characters.
    public static func validateAgency(_ agency: String) throws {
        guard !agency.isEmpty, agency.count <= 200, !Printable.hasControls(agency) else {
            throw KeyError.invalidAgency
        }
    }

    /// Checks a holder name.
    public static func validateName(_ name: String) throws {
        let allowed = name.utf8.allSatisfy { byte in
            (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte)
                || byte == 46 || byte == 95 || byte == 45
        }
        guard (1...64).contains(name.utf8.count), allowed, !name.hasPrefix("."), !name.hasPrefix("-") else {
            throw KeyError.invalidHolderName(name)
        }
    }

    /// The signed-note verifier key under the holder's name.
    public var verifierKey: NoteVerifierKey {
        // The name was validated at creation, so this cannot fail.
        try! NoteVerifierKey(name: name, publicKey: publicKey)
    }

    /// The signed-note key ID.
    public var keyID: UInt32 { NoteVerifierKey.keyID(name: name, publicKey: publicKey.rawBytes) }

    /// The key ID as eight hex digits.
    public var keyIDHex: String { NoteVerifierKey.hex8(keyID) }

    /// The members without the signature.
    public var unsignedJSON: JSONValue {
        .object([
            "agency": .string(agency),
            "jurisdiction": .string(jurisdiction),
            "keyId": .string(keyIDHex),
            "name": .string(name),
            "publicKey": .string(Base64.encode(publicKey.rawBytes)),
            "type": .string(Identity.type),
            "verifierKey": .string(verifierKey.encoded),
        ])
    }

    /// The self-signed identity file contents (canonical JSON and a newline).
    public func document(signedWith key: Ed25519PrivateKey) throws -> [UInt8] {
        guard key.publicKey == publicKey else { throw KeyError.keyDoesNotMatchIdentity }
        let signature = try key.sign(Identity.signaturePrefix + unsignedJSON.canonicalBytes)
        guard case .object(var members) = unsignedJSON else { return [] }
        members["signature"] = .string(Base64.encode(signature))
        return JSONValue.object(members).canonicalBytes + [0x0a]
    }

    /// Parses and checks an identity file: every member, the key ID and verifier key, and the self-signature.
    public static func parse(_ bytes: [UInt8], source: String = "identity") throws -> Identity {
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes.last == 0x0a ? Array(bytes.dropLast()) : bytes)
        } catch let error as JSONError {
            throw KeyError.unreadableIdentity(source: source, error)
        }
        guard case .object(var members) = value, members["type"]?.stringValue == Identity.type,
            let name = members["name"]?.stringValue, let agency = members["agency"]?.stringValue,
            let jurisdiction = members["jurisdiction"]?.stringValue,
            let keyText = members["publicKey"]?.stringValue, let raw = Base64.decode(keyText),
            let signatureText = members["signature"]?.stringValue, let signature = Base64.decode(signatureText),
            members.count == 8
        else {
            throw KeyError.notIdentityFile(source: source)
        }
        let identity = try Identity(
            name: name, agency: agency, jurisdiction: jurisdiction,
            publicKey: Ed25519PublicKey(rawBytes: raw))
        members["signature"] = nil
        guard JSONValue.object(members) == identity.unsignedJSON else {
            throw KeyError.identityKeyMismatch(source: source)
        }
        guard
            identity.publicKey.verify(
                signature: signature,
                message: Identity.signaturePrefix + identity.unsignedJSON.canonicalBytes)
        else {
            throw KeyError.identitySignatureInvalid(source: source)
        }
        return identity
    }
}

/// A private key with the identity it signs as.
public struct SigningKey: Sendable {
    /// Who signs.
    public let identity: Identity
    /// The key that signs, matching `identity.publicKey`.
    public let privateKey: Ed25519PrivateKey

    /// Pairs a private key with its identity.
    /// - Throws: `KeyError.privateKeyDoesNotMatchHolder` when the keys differ.
    public init(identity: Identity, privateKey: Ed25519PrivateKey) throws {
        guard identity.publicKey == privateKey.publicKey else {
            throw KeyError.privateKeyDoesNotMatchHolder(identity.name)
        }
        self.identity = identity
        self.privateKey = privateKey
    }

    /// The identity file that travels with a key file: `DIR/NAME.key` -> `DIR/NAME.identity.json`.
    public static func identityPath(forKey keyPath: String) -> String {
        KeyDirectory(keyPath: keyPath).path(.identity)
    }

    /// Loads `DIR/NAME.key` (decrypting it with the passphrase from `passphrase` when encrypted) and its identity
    /// file `DIR/NAME.identity.json`.
    public static func load(keyPath: String, passphrase: PassphraseSource) throws -> SigningKey {
        let pem = try FileSystem.readFile(keyPath, limit: 64 << 10)
        var secret: [UInt8]?
        var key: Ed25519PrivateKey?
        var attempt = 1
        while key == nil {
            if Ed25519PrivateKey.isEncrypted(pem: pem) {
                secret = try passphrase.passphrase(prompt: "Passphrase for \(keyPath): ")
                if secret == nil { throw KeyError.passphraseRequired(keyPath: keyPath) }
            }
            do {
                key = try Ed25519PrivateKey(pem: pem, passphrase: secret, source: keyPath)
            } catch KeyError.wrongPassphrase(let source)
                        where passphrase.prompts && attempt < PassphraseSource.terminalAttempts {
                PassphraseSource.tellTerminal("\(KeyError.wrongPassphrase(source: source)); try again\n")
                attempt += 1
            }
        }
        guard let key else { throw KeyError.passphraseRequired(keyPath: keyPath) }
        let identityPath = identityPath(forKey: keyPath)
        let identity = try Identity.parse(FileSystem.readFile(identityPath, limit: 64 << 10), source: identityPath)
        guard identity.publicKey == key.publicKey else {
            throw KeyError.keyFileDoesNotMatchIdentityFile(keyPath: keyPath, identityPath: identityPath)
        }
        return try SigningKey(identity: identity, privateKey: key)
    }
}
