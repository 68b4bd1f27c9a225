import CustodyBase

// Ed25519 (RFC 8032) keys and signatures; the OpenSSL calls are in Ed25519OpenSSL.swift.

/// An Ed25519 public key (RFC 8032), verified through OpenSSL EVP.
public final class Ed25519PublicKey: Sendable, Equatable {
    /// The OpenSSL key.
    let backend: OpenSSLEd25519Key
    /// The 32-byte encoding of RFC 8032.
    public let rawBytes: [UInt8]

    init(backend: OpenSSLEd25519Key) throws {
        guard backend.isEd25519, let raw = backend.rawPublicKey() else { throw KeyError.notEd25519PublicKey }
        self.backend = backend
        rawBytes = raw
    }

    /// A key from its 32 raw bytes.
    public convenience init(rawBytes: [UInt8]) throws {
        try self.init(backend: OpenSSLEd25519Key(rawBytes: rawBytes, isPrivate: false))
    }

    /// A key from PEM SubjectPublicKeyInfo text (`-----BEGIN PUBLIC KEY-----`).
    public convenience init(pem: [UInt8]) throws {
        guard let key = try OpenSSLEd25519Key.readPublicKey(pem: pem) else { throw KeyError.notPEMPublicKey }
        try self.init(backend: key)
    }

    /// PEM SubjectPublicKeyInfo text.
    public func pem() throws -> [UInt8] {
        try backend.publicKeyPEM()
    }

    /// Whether `signature` is a valid Ed25519 signature of `message` by this key.
    public func verify(signature: [UInt8], message: [UInt8]) -> Bool {
        backend.verify(signature: signature, message: message)
    }

    /// Whether both keys have the same 32 raw bytes.
    public static func == (lhs: Ed25519PublicKey, rhs: Ed25519PublicKey) -> Bool { lhs.rawBytes == rhs.rawBytes }
}

/// A reusable verification context for one public key, for verifying many signatures on one thread.
///
/// The context is initialized once and reused (OpenSSL allows repeated one-shot EdDSA verification on one
/// context); after a failed verification it is initialized afresh.
public final class Ed25519Verifier: @unchecked Sendable {
    private let context: OpenSSLEd25519VerifyContext

    /// A verifier for signatures by `publicKey`.
    public init(_ publicKey: Ed25519PublicKey) {
        context = OpenSSLEd25519VerifyContext(publicKey.backend)
    }

    /// Whether `signature` is a valid signature of `message`.
    public func verify(signature: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer) -> Bool {
        context.verify(signature: signature, message: message)
    }
}

/// An Ed25519 private key (RFC 8032) held by OpenSSL.
public final class Ed25519PrivateKey: Sendable {
    /// The OpenSSL key.
    private let backend: OpenSSLEd25519Key
    /// The matching public key.
    public let publicKey: Ed25519PublicKey

    private init(backend: OpenSSLEd25519Key) throws {
        guard backend.isEd25519 else { throw KeyError.notEd25519PrivateKey(source: nil) }
        guard let raw = backend.rawPublicKey() else { throw OpenSSLError.capture("EVP_PKEY_get_raw_public_key") }
        self.backend = backend
        publicKey = try Ed25519PublicKey(rawBytes: raw)
    }

    /// A fresh key from OpenSSL's CSPRNG.
    public static func generate() throws -> Ed25519PrivateKey {
        try Ed25519PrivateKey(backend: OpenSSLEd25519Key.generate())
    }

    /// The key with the 32-byte RFC 8032 seed `seed` (for known-answer tests and imports).
    public convenience init(seed: [UInt8]) throws {
        try self.init(backend: OpenSSLEd25519Key(rawBytes: seed, isPrivate: true))
    }

    /// Whether PEM text holds an encrypted PKCS#8 key (`-----BEGIN ENCRYPTED PRIVATE KEY-----`).
    public static func isEncrypted(pem: [UInt8]) -> Bool {
        let marker = Array("-----BEGIN ENCRYPTED PRIVATE KEY-----".utf8)
        guard pem.count >= marker.count else { return false }
        for start in 0...(pem.count - marker.count) where pem[start] == marker[0] {
            if Array(pem[start..<start + marker.count]) == marker { return true }
        }
        return false
    }

    /// Loads a PEM PKCS#8 key, decrypting it with `passphrase` when it is encrypted.
    /// - Throws: `KeyError` naming `source` for a missing or wrong passphrase or a key that is not Ed25519.
    public convenience init(pem: [UInt8], passphrase: [UInt8]?, source: String = "private key") throws {
        let encrypted = Ed25519PrivateKey.isEncrypted(pem: pem)
        if encrypted && passphrase == nil {
            throw KeyError.passphraseRequired(keyPath: source)
        }
        guard let key = try OpenSSLEd25519Key.readPrivateKey(pem: pem, passphrase: encrypted ? passphrase : nil)
        else {
            if encrypted { throw KeyError.wrongPassphrase(source: source) }
            throw KeyError.notPEMPrivateKey(source: source)
        }
        do {
            try self.init(backend: key)
        } catch {
            throw KeyError.notEd25519PrivateKey(source: source)
        }
    }

    /// PEM PKCS#8 text; encrypted (PBES2: scrypt N=16384 r=8 p=1, AES-256-CBC) when `passphrase` is given.
    /// - Throws: `KeyError.unusablePassphrase` for an empty passphrase or one holding a NUL byte.
    public func pem(passphrase: [UInt8]?) throws -> [UInt8] {
        if let passphrase, passphrase.isEmpty || passphrase.contains(0) { throw KeyError.unusablePassphrase }
        return try backend.privateKeyPEM(passphrase: passphrase)
    }

    /// The Ed25519 signature (64 bytes) of `message`.
    public func sign(_ message: [UInt8]) throws -> [UInt8] {
        try backend.sign(message)
    }
}
