import CustodyBase
internal import COpenSSL

// The OpenSSL backend of Ed25519.swift: every C call for Ed25519 keys, PEM files and signatures.

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

/// An OpenSSL key (`EVP_PKEY`), owned and freed with this object; immutable after creation, so safe to share
/// between threads.
final class OpenSSLEd25519Key: @unchecked Sendable {
    /// The `EVP_PKEY`.
    let pointer: OpaquePointer

    private init(owning pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit { EVP_PKEY_free(pointer) }

    /// The Ed25519 key with 32 raw bytes: a public key, or a private key's seed.
    convenience init(rawBytes bytes: [UInt8], isPrivate: Bool) throws {
        guard bytes.count == 32 else {
            throw isPrivate ? KeyError.seedLength(bytes.count) : KeyError.publicKeyLength(bytes.count)
        }
        let key = isPrivate
            ? EVP_PKEY_new_raw_private_key_ex(nil, "ED25519", nil, bytes, 32)
            : EVP_PKEY_new_raw_public_key_ex(nil, "ED25519", nil, bytes, 32)
        guard let key else {
            let operation = isPrivate ? "EVP_PKEY_new_raw_private_key_ex" : "EVP_PKEY_new_raw_public_key_ex"
            throw OpenSSLError.capture(operation)
        }
        self.init(owning: key)
    }

    /// A fresh Ed25519 private key from OpenSSL's CSPRNG.
    static func generate() throws -> OpenSSLEd25519Key {
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "ED25519", nil) else {
            throw OpenSSLError.capture("EVP_PKEY_CTX_new_from_name ED25519")
        }
        defer { EVP_PKEY_CTX_free(context) }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_generate(context, &key) == 1, let key else {
            throw OpenSSLError.capture("EVP_PKEY_generate ED25519")
        }
        return OpenSSLEd25519Key(owning: key)
    }

    /// The public key in PEM SubjectPublicKeyInfo text, of any algorithm; nil when the text holds none.
    static func readPublicKey(pem: [UInt8]) throws -> OpenSSLEd25519Key? {
        let bio = try MemoryBIO(pem)
        OpenSSLError.clearQueue()
        guard let key = PEM_read_bio_PUBKEY(bio.pointer, nil, custody_pem_passphrase_callback(), nil) else {
            OpenSSLError.clearQueue()
            return nil
        }
        return OpenSSLEd25519Key(owning: key)
    }

    /// The private key in PEM PKCS#8 text, of any algorithm, decrypted with `passphrase` when given; nil when
    /// the text holds none or the passphrase does not open it.
    static func readPrivateKey(pem: [UInt8], passphrase: [UInt8]?) throws -> OpenSSLEd25519Key? {
        let bio = try MemoryBIO(pem)
        OpenSSLError.clearQueue()
        let key = withPassphrase(passphrase) { pointer in
            PEM_read_bio_PrivateKey(bio.pointer, nil, custody_pem_passphrase_callback(), pointer)
        }
        guard let key else {
            OpenSSLError.clearQueue()
            return nil
        }
        return OpenSSLEd25519Key(owning: key)
    }

    /// Whether the key is an Ed25519 key.
    var isEd25519: Bool { EVP_PKEY_is_a(pointer, "ED25519") == 1 }

    /// The 32 raw bytes of the public key; nil when OpenSSL cannot give them (another kind of key), the reason
    /// left on OpenSSL's error queue.
    func rawPublicKey() -> [UInt8]? {
        var length = 32
        var raw = [UInt8](repeating: 0, count: 32)
        guard EVP_PKEY_get_raw_public_key(pointer, &raw, &length) == 1, length == 32 else { return nil }
        return raw
    }

    /// The public key as PEM SubjectPublicKeyInfo text.
    func publicKeyPEM() throws -> [UInt8] {
        let bio = try MemoryBIO()
        guard PEM_write_bio_PUBKEY(bio.pointer, pointer) == 1 else {
            throw OpenSSLError.capture("PEM_write_bio_PUBKEY")
        }
        return bio.contents()
    }

    /// The private key as PEM PKCS#8 text; encrypted (PBES2: scrypt N=16384 r=8 p=1, AES-256-CBC) when
    /// `passphrase` is given (non-empty, without NUL bytes: the caller checks).
    func privateKeyPEM(passphrase: [UInt8]?) throws -> [UInt8] {
        let bio = try MemoryBIO()
        guard let passphrase else {
            guard PEM_write_bio_PKCS8PrivateKey(bio.pointer, pointer, nil, nil, 0, nil, nil) == 1 else {
                throw OpenSSLError.capture("PEM_write_bio_PKCS8PrivateKey")
            }
            return bio.contents()
        }
        guard let info = EVP_PKEY2PKCS8(pointer) else { throw OpenSSLError.capture("EVP_PKEY2PKCS8") }
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

    /// Whether `signature` (64 bytes) is a valid Ed25519 signature of `message` by this key.
    func verify(signature: [UInt8], message: [UInt8]) -> Bool {
        guard signature.count == 64, let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit_ex(context, nil, nil, nil, nil, pointer, nil) == 1 else {
            OpenSSLError.clearQueue()
            return false
        }
        let result = EVP_DigestVerify(context, signature, 64, message, message.count)
        if result != 1 { OpenSSLError.clearQueue() }
        return result == 1
    }

    /// The Ed25519 signature (64 bytes) of `message` by this private key.
    func sign(_ message: [UInt8]) throws -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw OpenSSLError.capture("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(context) }
        var signature = [UInt8](repeating: 0, count: 64)
        var length = 64
        guard EVP_DigestSignInit_ex(context, nil, nil, nil, nil, pointer, nil) == 1,
            EVP_DigestSign(context, &signature, &length, message, message.count) == 1, length == 64
        else {
            throw OpenSSLError.capture("EVP_DigestSign Ed25519")
        }
        return signature
    }
}

/// A verification context (`EVP_MD_CTX`) for one key, initialized once and reused for many one-shot EdDSA
/// verifications on one thread; after a failed verification it is initialized afresh.
final class OpenSSLEd25519VerifyContext {
    private let key: OpenSSLEd25519Key
    private let context: OpaquePointer
    private var ready = false

    /// A context for signatures by `key`.
    init(_ key: OpenSSLEd25519Key) {
        self.key = key
        guard let context = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new: out of memory") }
        self.context = context
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Whether `signature` (64 bytes) is a valid signature of `message`.
    func verify(signature: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer) -> Bool {
        guard signature.count == 64 else { return false }
        if !ready {
            guard EVP_DigestVerifyInit_ex(context, nil, nil, nil, nil, key.pointer, nil) == 1 else {
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
