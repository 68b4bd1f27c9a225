import CustodyBase

/// Why a signed note or a verifier key could not be read, made or verified.
public enum SignedNoteError: CustodyFailure, Equatable {
    /// The text is not `NAME+KEYID+BASE64`; `excerpt` is its first 80 characters.
    case notVerifierKey(excerpt: String)
    /// The verifier key named `name` is not an Ed25519 key (type 0x01, 32 bytes).
    case verifierKeyNotEd25519(name: String)
    /// The key ID `keyIDText` of the verifier key named `name` does not match its key.
    case verifierKeyIDMismatch(name: String, keyIDText: String)
    /// The note breaks the syntax (`reason` says how); with `source`, the note came in a received file and
    /// that is a failed check.
    case malformed(reason: String, source: String?)
    /// The signature by a trusted key (`name+keyIDHex`) does not verify: a failed check.
    case invalidSignature(keyName: String, keyIDHex: String)
    /// No trusted key (listed as `name+keyIDHex`) signed the note: a failed check.
    case noVerifiableSignature(trustedKeys: [String])
    /// A key name that is empty or holds spaces or `+`.
    case invalidKeyName(String)
    /// A note text that does not end with a newline or holds control characters.
    case invalidText

    /// A failed check for signatures and received notes; otherwise an operation that could not be done.
    public var kind: FailureKind {
        switch self {
        case .invalidSignature, .noVerifiableSignature, .malformed(_, .some(_)): return .verification
        default: return .operational
        }
    }

    /// The message, naming the key or the file.
    public var description: String {
        switch self {
        case .notVerifierKey(let excerpt): return "not a signed-note verifier key (NAME+KEYID+BASE64): '\(excerpt)'"
        case .verifierKeyNotEd25519(let name):
            return "verifier key '\(name)' is not an Ed25519 key (type 0x01, 32 bytes)"
        case .verifierKeyIDMismatch(let name, let keyIDText):
            return "verifier key '\(name)': key ID \(keyIDText) does not match the key"
        case .malformed(let reason, let source):
            return (source.map { "\($0): " } ?? "") + "malformed signed note: \(reason)"
        case .invalidSignature(let keyName, let keyIDHex): return "invalid signature for key \(keyName)+\(keyIDHex)"
        case .noVerifiableSignature(let trustedKeys):
            return "note has no verifiable signature (trusted keys: \(trustedKeys.joined(separator: ", ")))"
        case .invalidKeyName(let name): return "'\(name)' is not a valid key name (non-empty, no spaces, no '+')"
        case .invalidText: return "a note text must end with a newline and hold no control characters"
        }
    }
}
