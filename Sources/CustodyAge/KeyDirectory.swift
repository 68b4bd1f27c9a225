import CustodyBase
import CustodyCrypto
import CustodyIO

/// A key holder's files, side by side as `custody keygen` writes them (CONTRACT.md `keygen`): `NAME.key` (the
/// Ed25519 private key, PEM PKCS#8, encrypted when a passphrase is given; mode 0600), `NAME.pub` (PEM
/// SubjectPublicKeyInfo), `NAME.vkey` (the signed-note verifier key and a newline), `NAME.identity.json` (the
/// self-signed identity), `NAME.age` (the age X25519 identity, encrypted to the same passphrase; mode 0600) and
/// `NAME.recipient` (its `age1...` recipient).
public struct KeyDirectory: Sendable, Equatable {
    /// One of the holder's files, by the suffix after `NAME.`.
    public enum File: String, Sendable, CaseIterable {
        /// The Ed25519 private key.
        case privateKey = "key"
        /// The Ed25519 public key.
        case publicKey = "pub"
        /// The signed-note verifier key.
        case verifierKey = "vkey"
        /// The self-signed identity.
        case identity = "identity.json"
        /// The age identity (secret).
        case ageIdentity = "age"
        /// The age recipient.
        case ageRecipient = "recipient"
    }

    /// Every path but the suffix: `DIR/NAME`.
    public let stem: String

    /// The files of holder `name` in `directory`.
    public init(directory: String, name: String) {
        stem = "\(directory)/\(name)"
    }

    /// The files beside the private key at `keyPath` (`DIR/NAME.key`).
    public init(keyPath: String) {
        stem = keyPath.hasSuffix(".key") ? String(keyPath.dropLast(4)) : keyPath
    }

    /// The path of `file`.
    public func path(_ file: File) -> String { "\(stem).\(file.rawValue)" }

    /// The holder's files that already exist, in `File` order.
    public func existingPaths() -> [String] {
        File.allCases.map(path).filter(FileSystem.exists)
    }

    /// Creates a holder: a fresh Ed25519 key bound to name, agency and jurisdiction, and a fresh age X25519 key
    /// pair, written to all six files; the directory is created (mode 0700) if missing. Both secrets are
    /// encrypted to `passphrase` when one is given. Nothing is written when one of the files exists.
    /// - Throws: `AgeOperationError.outputExists` naming the first existing file; a `KeyError` for an invalid
    ///   name, agency or jurisdiction; I/O and OpenSSL errors.
    public static func create(name: String, agency: String, jurisdiction: String, in directory: String,
                              passphrase: [UInt8]?) throws -> (signingKey: SigningKey, age: AgeX25519Identity) {
        let files = KeyDirectory(directory: directory, name: name)
        if let existing = files.existingPaths().first {
            throw AgeOperationError.outputExists(path: existing, holdsKey: true)
        }
        let key = try Ed25519PrivateKey.generate()
        let identity = try Identity(name: name, agency: agency, jurisdiction: jurisdiction, publicKey: key.publicKey)
        if !FileSystem.exists(directory) { try FileSystem.createDirectory(directory, mode: 0o700) }
        try FileSystem.writeAtomically(files.path(.privateKey), key.pem(passphrase: passphrase), mode: 0o600)
        try FileSystem.writeAtomically(files.path(.publicKey), key.publicKey.pem())
        try FileSystem.writeAtomically(files.path(.verifierKey), Array((identity.verifierKey.encoded + "\n").utf8))
        try FileSystem.writeAtomically(files.path(.identity), identity.document(signedWith: key))
        let ageIdentity = try AgeX25519Identity.generate()
        try AgeIdentityFile.write(ageIdentity, to: files.path(.ageIdentity),
                                  passphrase: passphrase.map { String(decoding: $0, as: UTF8.self) })
        try AgeRecipientFile.write(ageIdentity.recipient, to: files.path(.ageRecipient))
        return (try SigningKey(identity: identity, privateKey: key), ageIdentity)
    }
}
