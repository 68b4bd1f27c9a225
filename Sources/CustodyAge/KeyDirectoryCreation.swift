import CustodyBase
import CustodyCrypto
import CustodyIO

extension KeyDirectory {
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
