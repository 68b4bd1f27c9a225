import CustodyKit

/// The fixed test keys the structure-aware mutators sign and MAC with, so mutated inputs keep passing the checks
/// that would otherwise stop them at the door. Test keys only: the seeds in `Corpus/` are signed with them.
enum FuzzKeys {
    /// The Ed25519 seed of the signing key: 32 bytes of 0x46 ('F').
    static let signingSeed = [UInt8](repeating: 0x46, count: 32)

    /// The note signing key, named `fuzz` (agency "Fuzz", jurisdiction FR).
    static let signing: SigningKey = {
        do {
            let privateKey = try Ed25519PrivateKey(seed: signingSeed)
            let identity = try Identity(name: "fuzz", agency: "Fuzz", jurisdiction: "FR",
                                        publicKey: privateKey.publicKey)
            return try SigningKey(identity: identity, privateKey: privateKey)
        } catch {
            fuzzFailure("the fixed signing key cannot be made: \(error)")
        }
    }()

    /// The verifier key of `signing`.
    static let noteVerifier: NoteVerifierKey = signing.identity.verifierKey

    /// The age testkit's X25519 identity (Tests/Vectors/age-testkit, e.g. `x25519`): its files carry the file key
    /// `ageFileKey`, so the header MAC can be recomputed after a mutation.
    static let ageIdentityText = "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0"

    /// The identity parsed.
    static let ageIdentity: AgeX25519Identity = {
        do {
            return try AgeX25519Identity(parsing: ageIdentityText)
        } catch {
            fuzzFailure("the age testkit identity does not parse: \(error)")
        }
    }()

    /// The testkit's file key, "YELLOW SUBMARINE".
    static let ageFileKey = Array("YELLOW SUBMARINE".utf8)
}
