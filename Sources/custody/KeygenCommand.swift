import ArgumentParser
import CustodyKit

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
            Existing files are never replaced. The passphrase must have at least 8 characters; on a terminal it is \
            asked twice, and asked again once if it is too short or the two differ.
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

    @OptionGroup var passphrase: PassphraseOptions

    func validate() throws {
        if noPassphrase && passphrase.passphraseFile != nil {
            throw ValidationError("--no-passphrase conflicts with --passphrase-file")
        }
    }

    func run() throws {
        try Identity.validateName(name)
        let jurisdiction = try CountryCode.validate(self.jurisdiction)
        if let path = KeyDirectory(directory: out, name: name).existingPaths().first {
            throw CommandError.operational("\(path) already exists; choose another --name or --out (nothing written)")
        }
        var secret: [UInt8]?
        if !noPassphrase {
            secret = try passphrase.source.passphrase(prompt: "Passphrase for the new key \(name) "
                + "(at least \(PassphraseSource.minimumNewKeyLength) characters): ", confirm: true)
            guard secret != nil else {
                throw CommandError.operational(
                    "no passphrase: give --passphrase-file F, set CUSTODY_PASSPHRASE, run "
                        + "on a terminal, or pass --no-passphrase")
            }
        }
        let created = try KeyDirectory.create(name: name, agency: agency, jurisdiction: jurisdiction, in: out,
                                              passphrase: secret)
        Terminal.line("\(created.signingKey.identity.verifierKey.encoded)")
    }
}
