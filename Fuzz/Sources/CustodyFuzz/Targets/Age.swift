import CustodyKit

extension FuzzTarget {
    /// The age header: version line, stanzas, MAC line.
    static let ageHeader = FuzzTarget(
        name: "age-header", summary: "AgeHeader.parse: age v1 header and stanzas", mutate: AgeMutator.mutate
    ) { bytes in
        guard let header = try? AgeHeader.parse(bytes) else { return }
        if header.length > bytes.count || header.macInput.count > header.length {
            fuzzFailure("header length \(header.length) is past the input or its MAC input")
        }
        if header.mac.count != 32 { fuzzFailure("a parsed header's MAC is \(header.mac.count) bytes") }
    }

    /// A whole age file decrypted with the testkit identity: header, MAC, stanza unwrapping, STREAM payload.
    static let ageFile = FuzzTarget(
        name: "age-file", summary: "AgeDecryptor.decrypt: age file to the testkit X25519 identity",
        mutate: AgeMutator.mutate
    ) { bytes in
        guard var decryptor = try? AgeDecryptor(identities: [FuzzKeys.ageIdentity]) else {
            fuzzFailure("no decryptor for the testkit identity")
        }
        decryptor.batchesInFlight = 2
        _ = try? decryptor.decrypt(bytes)
    }

    /// Bech32 strings, age recipients (`age1...`) and identities (`AGE-SECRET-KEY-1...`).
    static let bech32 = FuzzTarget(name: "bech32", summary: "Bech32.decode, age recipients and identities") {
        bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        if let (hrp, data) = try? Bech32.decode(text) {
            let lower = String(decoding: text.utf8.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
            if Bech32.encode(hrp: hrp, data: data) != lower {
                fuzzFailure("a decoded Bech32 string does not encode back to itself")
            }
        }
        _ = try? Bech32.decodeValues(text)
        if let recipient = try? AgeX25519Recipient(parsing: text) { _ = recipient.encoded }
        _ = try? AgeX25519Identity(parsing: text)
    }

    /// Identity and recipient files (one key a line, comments).
    static let ageKeyFiles = FuzzTarget(
        name: "age-key-files", summary: "AgeIdentityFile.parse / AgeRecipientFile.parse: key files"
    ) { bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        _ = try? AgeIdentityFile.parse(text, source: "fuzz")
        _ = try? AgeRecipientFile.parse(text, source: "fuzz")
    }
}
