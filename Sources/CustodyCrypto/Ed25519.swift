import CustodyBase
import CustodyIO
internal import COpenSSL

/// A memory BIO holding bytes for OpenSSL's PEM readers and writers.
private final class MemoryBIO {
    let pointer: OpaquePointer

    init() throws {
        guard let bio = BIO_new(BIO_s_mem()) else { throw OpenSSLError.capture("BIO_new") }
        pointer = bio
    }

    init(_ bytes: [UInt8]) throws {
        guard let bio = bytes.withUnsafeBytes({ BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }) else {
            throw OpenSSLError.capture("BIO_new_mem_buf")
        }
        // BIO_new_mem_buf does not copy: keep a private copy alive as long as the BIO.
        pointer = bio
        retained = bytes
    }

    private var retained: [UInt8] = []

    deinit { BIO_free(pointer) }

    /// Everything written so far.
    func contents() -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = BIO_read(pointer, &buffer, Int32(buffer.count))
            if count <= 0 { break }
            out.append(contentsOf: buffer[0..<Int(count)])
        }
        return out
    }
}

/// Runs `body` with the passphrase as a NUL-terminated C string (or nil), wiping the copy afterwards.
private func withPassphrase<R>(_ passphrase: [UInt8]?, _ body: (UnsafeMutableRawPointer?) throws -> R) rethrows -> R {
    guard let passphrase else { return try body(nil) }
    var copy = passphrase + [0]
    defer { for index in copy.indices { copy[index] = 0 } }
    return try copy.withUnsafeMutableBytes { try body($0.baseAddress) }
}

/// An OpenSSL Ed25519 key (owned by the caller) from 32 raw bytes: a public key, or a private key's seed.
private func rawEd25519Key(_ bytes: [UInt8], isPrivate: Bool) throws -> OpaquePointer {
    guard bytes.count == 32 else {
        throw isPrivate ? KeyError.seedLength(bytes.count) : KeyError.publicKeyLength(bytes.count)
    }
    let key = isPrivate
        ? EVP_PKEY_new_raw_private_key_ex(nil, "ED25519", nil, bytes, 32)
        : EVP_PKEY_new_raw_public_key_ex(nil, "ED25519", nil, bytes, 32)
    guard let key else {
        throw OpenSSLError.capture(isPrivate ? "EVP_PKEY_new_raw_private_key_ex" : "EVP_PKEY_new_raw_public_key_ex")
    }
    return key
}

/// An Ed25519 public key (RFC 8032), verified through OpenSSL EVP.
public final class Ed25519PublicKey: @unchecked Sendable, Equatable {
    /// The OpenSSL key; immutable after creation, so safe to share between threads.
    let key: OpaquePointer
    /// The 32-byte encoding of RFC 8032.
    public let rawBytes: [UInt8]

    init(takingOwnershipOf key: OpaquePointer) throws {
        self.key = key
        var length = 32
        var raw = [UInt8](repeating: 0, count: 32)
        guard EVP_PKEY_is_a(key, "ED25519") == 1, EVP_PKEY_get_raw_public_key(key, &raw, &length) == 1,
            length == 32
        else {
            EVP_PKEY_free(key)
            throw KeyError.notEd25519PublicKey
        }
        rawBytes = raw
    }

    /// A key from its 32 raw bytes.
    public convenience init(rawBytes: [UInt8]) throws {
        try self.init(takingOwnershipOf: rawEd25519Key(rawBytes, isPrivate: false))
    }

    /// A key from PEM SubjectPublicKeyInfo text (`-----BEGIN PUBLIC KEY-----`).
    public convenience init(pem: [UInt8]) throws {
        let bio = try MemoryBIO(pem)
        OpenSSLError.clearQueue()
        guard let key = PEM_read_bio_PUBKEY(bio.pointer, nil, custody_pem_passphrase_callback(), nil) else {
            OpenSSLError.clearQueue()
            throw KeyError.notPEMPublicKey
        }
        try self.init(takingOwnershipOf: key)
    }

    deinit { EVP_PKEY_free(key) }

    /// PEM SubjectPublicKeyInfo text.
    public func pem() throws -> [UInt8] {
        let bio = try MemoryBIO()
        guard PEM_write_bio_PUBKEY(bio.pointer, key) == 1 else { throw OpenSSLError.capture("PEM_write_bio_PUBKEY") }
        return bio.contents()
    }

    /// Whether `signature` is a valid Ed25519 signature of `message` by this key.
    public func verify(signature: [UInt8], message: [UInt8]) -> Bool {
        guard signature.count == 64, let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit_ex(context, nil, nil, nil, nil, key, nil) == 1 else {
            OpenSSLError.clearQueue()
            return false
        }
        let result = EVP_DigestVerify(context, signature, 64, message, message.count)
        if result != 1 { OpenSSLError.clearQueue() }
        return result == 1
    }

    /// Whether both keys have the same 32 raw bytes.
    public static func == (lhs: Ed25519PublicKey, rhs: Ed25519PublicKey) -> Bool { lhs.rawBytes == rhs.rawBytes }
}

/// A reusable verification context for one public key, for verifying many signatures on one thread.
///
/// The context is initialized once and reused (OpenSSL allows repeated one-shot EdDSA verification on one
/// context); after a failed verification it is initialized afresh.
public final class Ed25519Verifier: @unchecked Sendable {
    private let publicKey: Ed25519PublicKey
    private let context: OpaquePointer
    private var ready = false

    /// A verifier for signatures by `publicKey`.
    public init(_ publicKey: Ed25519PublicKey) {
        self.publicKey = publicKey
        guard let context = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new: out of memory") }
        self.context = context
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Whether `signature` is a valid signature of `message`.
    public func verify(signature: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer) -> Bool {
        guard signature.count == 64 else { return false }
        if !ready {
            guard EVP_DigestVerifyInit_ex(context, nil, nil, nil, nil, publicKey.key, nil) == 1 else {
                OpenSSLError.clearQueue()
                return false
            }
            ready = true
        }
        let result = EVP_DigestVerify(
            context, signature.baseAddress!.assumingMemoryBound(to: UInt8.self), 64,
            message.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count)
        if result != 1 {
            OpenSSLError.clearQueue()
            ready = false
        }
        return result == 1
    }
}

/// An Ed25519 private key (RFC 8032) held by OpenSSL.
public final class Ed25519PrivateKey: @unchecked Sendable {
    let key: OpaquePointer
    /// The matching public key.
    public let publicKey: Ed25519PublicKey

    private init(takingOwnershipOf key: OpaquePointer) throws {
        guard EVP_PKEY_is_a(key, "ED25519") == 1 else {
            EVP_PKEY_free(key)
            throw KeyError.notEd25519PrivateKey(source: nil)
        }
        self.key = key
        var length = 32
        var raw = [UInt8](repeating: 0, count: 32)
        guard EVP_PKEY_get_raw_public_key(key, &raw, &length) == 1 else {
            EVP_PKEY_free(key)
            throw OpenSSLError.capture("EVP_PKEY_get_raw_public_key")
        }
        publicKey = try Ed25519PublicKey(rawBytes: raw)
    }

    deinit { EVP_PKEY_free(key) }

    /// A fresh key from OpenSSL's CSPRNG.
    public static func generate() throws -> Ed25519PrivateKey {
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "ED25519", nil) else {
            throw OpenSSLError.capture("EVP_PKEY_CTX_new_from_name ED25519")
        }
        defer { EVP_PKEY_CTX_free(context) }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_generate(context, &key) == 1, let key else {
            throw OpenSSLError.capture("EVP_PKEY_generate ED25519")
        }
        return try Ed25519PrivateKey(takingOwnershipOf: key)
    }

    /// The key with the 32-byte RFC 8032 seed `seed` (for known-answer tests and imports).
    public convenience init(seed: [UInt8]) throws {
        try self.init(takingOwnershipOf: rawEd25519Key(seed, isPrivate: true))
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
        let bio = try MemoryBIO(pem)
        OpenSSLError.clearQueue()
        let key = withPassphrase(encrypted ? passphrase : nil) { pointer in
            PEM_read_bio_PrivateKey(bio.pointer, nil, custody_pem_passphrase_callback(), pointer)
        }
        guard let key else {
            OpenSSLError.clearQueue()
            if encrypted { throw KeyError.wrongPassphrase(source: source) }
            throw KeyError.notPEMPrivateKey(source: source)
        }
        do {
            try self.init(takingOwnershipOf: key)
        } catch {
            throw KeyError.notEd25519PrivateKey(source: source)
        }
    }

    /// PEM PKCS#8 text; encrypted (PBES2: scrypt N=16384 r=8 p=1, AES-256-CBC) when `passphrase` is given.
    public func pem(passphrase: [UInt8]?) throws -> [UInt8] {
        let bio = try MemoryBIO()
        guard let passphrase else {
            guard PEM_write_bio_PKCS8PrivateKey(bio.pointer, key, nil, nil, 0, nil, nil) == 1 else {
                throw OpenSSLError.capture("PEM_write_bio_PKCS8PrivateKey")
            }
            return bio.contents()
        }
        guard !passphrase.isEmpty, !passphrase.contains(0) else {
            throw KeyError.unusablePassphrase
        }
        guard let info = EVP_PKEY2PKCS8(key) else { throw OpenSSLError.capture("EVP_PKEY2PKCS8") }
        guard let algorithm = PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), nil, 0, nil, 16384, 8, 1) else {
            PKCS8_PRIV_KEY_INFO_free(info)
            throw OpenSSLError.capture("PKCS5_pbe2_set_scrypt")
        }
        let sealed = passphrase.withUnsafeBytes { raw in
            PKCS8_set0_pbe(raw.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(raw.count), info, algorithm)
        }
        PKCS8_PRIV_KEY_INFO_free(info)
        guard let sealed else {
            X509_ALGOR_free(algorithm)
            throw OpenSSLError.capture("PKCS8_set0_pbe")
        }
        defer { X509_SIG_free(sealed) }
        guard PEM_write_bio_PKCS8(bio.pointer, sealed) == 1 else { throw OpenSSLError.capture("PEM_write_bio_PKCS8") }
        return bio.contents()
    }

    /// The Ed25519 signature (64 bytes) of `message`.
    public func sign(_ message: [UInt8]) throws -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw OpenSSLError.capture("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(context) }
        var signature = [UInt8](repeating: 0, count: 64)
        var length = 64
        guard EVP_DigestSignInit_ex(context, nil, nil, nil, nil, key, nil) == 1,
            EVP_DigestSign(context, &signature, &length, message, message.count) == 1, length == 64
        else {
            throw OpenSSLError.capture("EVP_DigestSign Ed25519")
        }
        return signature
    }
}
