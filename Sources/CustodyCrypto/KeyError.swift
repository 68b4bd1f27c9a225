import CustodyBase

/// Why a key, a passphrase or an identity could not be made, read or used.
///
/// Every case is an operation that could not be done, except `identitySignatureInvalid` (a failed check).
/// `source` and `keyPath` name the file or the origin a message speaks of.
public enum KeyError: CustodyFailure, Equatable {
    /// The key OpenSSL holds is not an Ed25519 public key.
    case notEd25519PublicKey
    /// Raw public key bytes of the wrong length.
    case publicKeyLength(Int)
    /// The text is not a PEM SubjectPublicKeyInfo public key.
    case notPEMPublicKey
    /// A seed of the wrong length.
    case seedLength(Int)
    /// The private key is not an Ed25519 key; `source` names the file when there is one.
    case notEd25519PrivateKey(source: String?)
    /// The text at `source` is not a PEM PKCS#8 private key.
    case notPEMPrivateKey(source: String)
    /// The key at `keyPath` is encrypted and the caller gave no passphrase for it.
    case passphraseRequired(keyPath: String)
    /// The passphrase does not decrypt the key at `source` (or the key file is damaged).
    case wrongPassphrase(source: String)
    /// A passphrase to encrypt a new key with is empty or holds a NUL byte.
    case unusablePassphrase
    /// The two passphrases typed for a new key differ.
    case passphrasesDiffer
    /// The passphrase from `source` (a file, a variable, the terminal) is empty.
    case emptyPassphrase(source: String)
    /// The passphrase from `source` for a new key is shorter than `minimumLength` bytes.
    case shortPassphrase(source: String, minimumLength: Int)
    /// The passphrase from `source` is longer than `maximumLength` bytes or holds a NUL byte.
    case oversizedPassphrase(source: String, maximumLength: Int)
    /// An agency that is empty, longer than 200 characters or holds control characters.
    case invalidAgency
    /// A holder name outside the rules (1 to 64 of `A-Z a-z 0-9 . _ -`, not starting with `.` or `-`).
    case invalidHolderName(String)
    /// The private key given to sign an identity is not the identity's.
    case keyDoesNotMatchIdentity
    /// The identity file at `source` is not JSON.
    case unreadableIdentity(source: String, JSONError)
    /// The file at `source` is not a custody identity file.
    case notIdentityFile(source: String)
    /// The identity file's key ID or verifier key does not match its public key.
    case identityKeyMismatch(source: String)
    /// The identity file's self-signature does not verify: a failed check.
    case identitySignatureInvalid(source: String)
    /// The private key does not match the identity named `holder`.
    case privateKeyDoesNotMatchHolder(String)
    /// The key file at `keyPath` does not match its identity file at `identityPath`.
    case keyFileDoesNotMatchIdentityFile(keyPath: String, identityPath: String)

    /// The file or origin the error names, if any (a key, identity or passphrase file, a variable's name).
    public var source: String? {
        switch self {
        case .notEd25519PrivateKey(let source): return source
        case .notPEMPrivateKey(let source), .wrongPassphrase(let source), .emptyPassphrase(let source),
             .shortPassphrase(let source, _),
             .oversizedPassphrase(let source, _), .unreadableIdentity(let source, _), .notIdentityFile(let source),
             .identityKeyMismatch(let source), .identitySignatureInvalid(let source):
            return source
        case .passphraseRequired(let keyPath), .keyFileDoesNotMatchIdentityFile(let keyPath, _): return keyPath
        case .notEd25519PublicKey, .publicKeyLength, .notPEMPublicKey, .seedLength, .unusablePassphrase,
             .passphrasesDiffer, .invalidAgency, .invalidHolderName, .keyDoesNotMatchIdentity,
             .privateKeyDoesNotMatchHolder:
            return nil
        }
    }

    /// A failed check for a self-signature that does not verify; otherwise an operation that could not be done.
    public var kind: FailureKind {
        if case .identitySignatureInvalid = self { return .verification }
        return .operational
    }

    /// The message, naming the file or origin when there is one.
    public var description: String {
        switch self {
        case .notEd25519PublicKey: return "not an Ed25519 public key"
        case .publicKeyLength(let count): return "an Ed25519 public key is 32 bytes, not \(count)"
        case .notPEMPublicKey: return "not a PEM public key (SubjectPublicKeyInfo)"
        case .seedLength(let count): return "an Ed25519 seed is 32 bytes, not \(count)"
        case .notEd25519PrivateKey(let source):
            return (source.map { "\($0): " } ?? "") + "not an Ed25519 private key"
        case .notPEMPrivateKey(let source): return "\(source): not a PEM PKCS#8 private key"
        case .passphraseRequired(let keyPath): return "\(keyPath) is encrypted: give its passphrase"
        case .wrongPassphrase(let source): return "\(source): wrong passphrase (or the key file is damaged)"
        case .unusablePassphrase: return "the passphrase must be non-empty and must not contain NUL bytes"
        case .passphrasesDiffer: return "the two passphrases differ"
        case .emptyPassphrase(let source): return "the passphrase from \(source) is empty"
        case .shortPassphrase(let source, let minimumLength):
            return "the passphrase from \(source) is too short for a new key: use at least \(minimumLength) "
                + "characters (a few words are easier to remember)"
        case .oversizedPassphrase(let source, let maximumLength):
            return "the passphrase from \(source) is longer than \(maximumLength) bytes or holds a NUL byte"
        case .invalidAgency: return "agency must be 1 to 200 characters without control characters"
        case .invalidHolderName(let name):
            return "name '\(name)' must be 1 to 64 of A-Z a-z 0-9 . _ - (not starting with . or -)"
        case .keyDoesNotMatchIdentity: return "the key does not match the identity"
        case .unreadableIdentity(let source, let error): return "\(source): \(error)"
        case .notIdentityFile(let source): return "\(source): not a custody identity file (\(Identity.type))"
        case .identityKeyMismatch(let source): return "\(source): key ID or verifier key does not match the public key"
        case .identitySignatureInvalid(let source): return "\(source): the identity's self-signature does not verify"
        case .privateKeyDoesNotMatchHolder(let name): return "the private key does not match identity '\(name)'"
        case .keyFileDoesNotMatchIdentityFile(let keyPath, let identityPath):
            return "\(keyPath) does not match \(identityPath)"
        }
    }
}
