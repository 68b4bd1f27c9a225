import ArgumentParser
import CustodyKit

#if canImport(Glibc)
import Glibc
#endif

/// `--passphrase-file F`: where a passphrase comes from (else CUSTODY_PASSPHRASE, else a prompt), for a signing
/// key, a new key or an age identity.
struct PassphraseOptions: ParsableArguments {
    @Option(
        name: .customLong("passphrase-file"),
        help: "Read the key's passphrase from the first line of this file (else CUSTODY_PASSPHRASE, else a prompt).")
    var passphraseFile: String?

    /// The environment variable read when no passphrase file is given.
    static let environmentVariable = "CUSTODY_PASSPHRASE"

    /// The passphrase file, else the environment variable, else the terminal.
    var source: PassphraseSource {
        let variable = PassphraseOptions.environmentVariable
        let supplied = getenv(variable).map {
            PassphraseSource.Supplied(bytes: Array(String(cString: $0).utf8), origin: variable)
        }
        return PassphraseSource(file: passphraseFile, supplied: supplied)
    }

    /// The signing key at `keyPath` (DIR/NAME.key) with its identity file, decrypted with the passphrase when
    /// it is encrypted.
    func signingKey(at keyPath: String) throws -> SigningKey {
        do {
            return try SigningKey.load(keyPath: keyPath, passphrase: source)
        } catch KeyError.passphraseRequired(let path) {
            throw CommandError.operational("\(path) is encrypted: give its passphrase with --passphrase-file, "
                + "CUSTODY_PASSPHRASE or on a terminal")
        }
    }
}

/// Whose private key a command signs with; `--key`'s help names them.
protocol KeyHolder {
    /// The help text of `--key`.
    static var keyHelp: String { get }
}

/// `--key DIR/NAME.key` and `--passphrase-file F`: the private key a command signs with.
struct KeyOptions<Holder: KeyHolder>: ParsableArguments {
    @Option(help: ArgumentHelp(Holder.keyHelp)) var key: String
    @OptionGroup var passphrase: PassphraseOptions

    /// The key and its identity, decrypted with the passphrase (file, CUSTODY_PASSPHRASE or prompt) if needed.
    func signingKey() throws -> SigningKey {
        try passphrase.signingKey(at: key)
    }
}

/// Where a signing key's files are, as `--key` help says it.
private let keyFiles = "DIR/NAME.key beside DIR/NAME.identity.json"

// Whose key each command signs with, as its `--key` help names them.
enum LedgerOwnerKey: KeyHolder { static let keyHelp = "The ledger owner's private key (\(keyFiles))." }
enum SealingOfficerKey: KeyHolder { static let keyHelp = "The sealing officer's private key (\(keyFiles))." }
enum SenderKey: KeyHolder { static let keyHelp = "The sender's private key (\(keyFiles))." }
enum ReceiverKey: KeyHolder { static let keyHelp = "The receiver's private key (\(keyFiles))." }
enum ReceiptRecorderKey: KeyHolder { static let keyHelp = "The sender's private key (the ledger owner's)." }
enum ConsentGrantorKey: KeyHolder { static let keyHelp = "The original sender's private key (the bundle's sealer)." }
enum ConsentHolderKey: KeyHolder { static let keyHelp = "The holder's private key (the ledger owner's)." }
enum DiscloserKey: KeyHolder { static let keyHelp = "The discloser's private key (the ledger owner's)." }
