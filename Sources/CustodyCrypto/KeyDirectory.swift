import CustodyBase
import CustodyIO

/// A key holder's files, side by side as `custody keygen` writes them (CONTRACT.md `keygen`): `NAME.key` (the
/// Ed25519 private key, PEM PKCS#8, encrypted when a passphrase is given; mode 0600), `NAME.pub` (PEM
/// SubjectPublicKeyInfo), `NAME.vkey` (the signed-note verifier key and a newline), `NAME.identity.json` (the
/// self-signed identity), `NAME.age` (the age X25519 identity, encrypted to the same passphrase; mode 0600) and
/// `NAME.recipient` (its `age1...` recipient). The files are written by `create` (CustodyAge, which makes the age
/// key pair).
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
}
