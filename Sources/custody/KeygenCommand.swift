import ArgumentParser
import CustodyKit

#if canImport(Glibc)
import Glibc
#endif

struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Create an identity: Ed25519 signing keys, verifier key, identity file and an age key pair.",
        discussion: """
            Writes DIR/NAME.key (Ed25519 private key, PEM PKCS#8, encrypted with scrypt + AES-256 unless \
            --no-passphrase; mode 0600), DIR/NAME.pub (PEM SubjectPublicKeyInfo), DIR/NAME.vkey (the C2SP \
            signed-note verifier key NAME+KEYID+BASE64), DIR/NAME.identity.json (name, agency and jurisdiction \
            bound to the public key, self-signed), DIR/NAME.age (age X25519 identity for receiving transfers, \
            encrypted to the same passphrase unless --no-passphrase; mode 0600) and DIR/NAME.recipient (age1...). \
            Existing files are never replaced.
            """
    )

    @Option(help: "The holder's name: 1 to 64 of A-Z a-z 0-9 . _ - (also the key name in signed notes).")
    var name: String

    @Option(help: "The holder's agency.")
    var agency: String

    @Option(help: "The agency's jurisdiction: an ISO 3166-1 alpha-2 country code (FR, DE, US...).")
    var jurisdiction: String

    @Option(help: "The directory to write the key files into (created if missing).")
    var out: String

    @Flag(help: "Store the private key unencrypted (for test and automation only).")
    var noPassphrase = false

    @OptionGroup var passphrase: PassphraseOption

    func validate() throws {
        if noPassphrase && passphrase.passphraseFile != nil {
            throw ValidationError("--no-passphrase conflicts with --passphrase-file")
        }
    }

    func run() throws {
        try Identity.validateName(name)
        let jurisdiction = try CountryCode.validate(self.jurisdiction)
        let paths = ["key", "pub", "vkey", "identity.json", "age", "recipient"].map { "\(out)/\(name).\($0)" }
        for path in paths where FileSystem.exists(path) {
            throw CustodyError.operational("\(path) already exists; choose another --name or --out (nothing written)")
        }
        var secret: [UInt8]?
        if !noPassphrase {
            secret = try passphrase.source.passphrase(prompt: "Passphrase for the new key \(name): ", confirm: true)
            guard secret != nil else {
                throw CustodyError.operational(
                    "no passphrase: give --passphrase-file F, set CUSTODY_PASSPHRASE, run "
                        + "on a terminal, or pass --no-passphrase")
            }
        }
        let key = try Ed25519PrivateKey.generate()
        let identity = try Identity(name: name, agency: agency, jurisdiction: jurisdiction, publicKey: key.publicKey)
        if !FileSystem.exists(out) { try FileSystem.createDirectory(out, mode: 0o700) }
        try FileSystem.writeAtomically(paths[0], key.pem(passphrase: secret), mode: 0o600)
        try FileSystem.writeAtomically(paths[1], key.publicKey.pem())
        try FileSystem.writeAtomically(paths[2], Array((identity.verifierKey.encoded + "\n").utf8))
        try FileSystem.writeAtomically(paths[3], identity.document(signedWith: key))
        let ageIdentity = try AgeX25519Identity.generate()
        try AgeIdentityFile.write(ageIdentity, to: paths[4],
                                  passphrase: secret.map { String(decoding: $0, as: UTF8.self) })
        try AgeRecipientFile.write(ageIdentity.recipient, to: paths[5])
        Terminal.line("\(identity.verifierKey.encoded)")
    }
}

/// `--passphrase-file F`: where a private key's passphrase comes from (else CUSTODY_PASSPHRASE, else a prompt).
struct PassphraseOption: ParsableArguments {
    @Option(
        name: .customLong("passphrase-file"),
        help: "Read the key's passphrase from the first line of this file (else CUSTODY_PASSPHRASE, else a prompt).")
    var passphraseFile: String?

    var source: PassphraseSource { PassphraseSource(file: passphraseFile) }
}
