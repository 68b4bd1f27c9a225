import XCTest

import CustodyKit
@testable import CustodyBase

/// Known answers from golang.org/x/mod/sumdb/note (note_test.go), the C2SP signed-note spec and RFC 8032.
final class SignedNoteTests: XCTestCase {
    static let peterSigner = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
    static let peterKey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    static let enochKey = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
    static let text =
        "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
    static let peterSig =
        "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNX"
        + "gKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    static let enochSig =
        "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"

    /// The Go test's signer key: base64(0x01 || seed) after the key ID.
    func peterPrivateKey() throws -> Ed25519PrivateKey {
        let encoded = Self.peterSigner.split(separator: "+", maxSplits: 4).last!
        let bytes = try XCTUnwrap(Base64.decode(encoded))
        XCTAssertEqual(bytes.count, 33)
        XCTAssertEqual(bytes[0], 0x01)
        return try Ed25519PrivateKey(seed: Array(bytes[1...]))
    }

    func testSignMatchesGoKnownAnswer() throws {
        let key = try peterPrivateKey()
        let note = try SignedNote.sign(text: Self.text, name: "PeterNeumann", key: key)
        XCTAssertEqual(note.encoded, Self.text + "\n" + Self.peterSig)
        // The derived verifier key is the Go test's, byte for byte (so the key ID c74f20a3 matches).
        let verifier = try NoteVerifierKey(name: "PeterNeumann", publicKey: key.publicKey)
        XCTAssertEqual(verifier.encoded, Self.peterKey)
        XCTAssertEqual(verifier.keyIDHex, "c74f20a3")
    }

    func testGeneratedVerifierKeysRoundTrip() throws {
        for index in 0..<40 {
            let key = try Ed25519PrivateKey.generate()
            let verifier = try NoteVerifierKey(name: "officer-\(index)", publicKey: key.publicKey)
            XCTAssertEqual(try NoteVerifierKey(parsing: verifier.encoded), verifier, verifier.encoded)
        }
    }

    func testVerifierKeyParsingAndManglings() throws {
        let key = try NoteVerifierKey(parsing: Self.peterKey)
        XCTAssertEqual(key.name, "PeterNeumann")
        XCTAssertEqual(key.keyID, 0xc74f_20a3)
        XCTAssertEqual(try NoteVerifierKey(parsing: Self.enochKey).keyID, 0xaf0c_fe78)
        var bytes = Array(Self.peterKey.utf8)
        for index in bytes.indices {
            bytes[index] &+= 1
            XCTAssertThrowsError(try NoteVerifierKey(parsing: String(decoding: bytes, as: UTF8.self)), "byte \(index)")
            bytes[index] &-= 1
        }
        XCTAssertThrowsError(try NoteVerifierKey(parsing: String(Self.peterKey.dropLast())))
        // Wrong length and unknown algorithm, each with an adjusted key hash (from the Go test).
        XCTAssertThrowsError(
            try NoteVerifierKey(
                parsing:
                    "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="))
        XCTAssertThrowsError(
            try NoteVerifierKey(
                parsing:
                    "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"))
    }

    func testOpenVerifiesKnownAndIgnoresUnknownSignatures() throws {
        let peter = try NoteVerifierKey(parsing: Self.peterKey)
        let enoch = try NoteVerifierKey(parsing: Self.enochKey)
        let note = try SignedNote.parse(Array((Self.text + "\n" + Self.peterSig + Self.enochSig).utf8))
        XCTAssertEqual(note.text, Self.text)
        XCTAssertEqual(note.signatures.count, 2)
        XCTAssertEqual(try note.verify(with: [peter]), [peter])
        XCTAssertEqual(try note.verify(with: [peter, enoch]), [peter, enoch])
        XCTAssertThrowsError(try note.verify(with: [])) { error in
            XCTAssertEqual(error as? SignedNoteError, .noVerifiableSignature(trustedKeys: []))
            XCTAssertEqual((error as? SignedNoteError)?.kind, .verification)
        }
        // A bad signature from a known key rejects the note.
        let sig = Self.peterSig
        let broken = String(sig.prefix(60)) + "ABCD" + String(sig.dropFirst(60))
        let tampered = try SignedNote.parse(Array((Self.text + "\n" + broken).utf8))
        XCTAssertThrowsError(try tampered.verify(with: [peter]))
        // A changed text fails.
        let changed = try SignedNote.parse(Array((Self.text.uppercased() + "\n" + Self.peterSig).utf8))
        XCTAssertThrowsError(try changed.verify(with: [peter]))
    }

    func testMalformedNotesAreRejected() {
        let bad = [
            Self.text,
            Self.text + "\n",
            Self.text + "\n" + String(Self.peterSig.dropLast()),
            "\u{01}" + Self.text + "\n" + Self.peterSig,
            Self.text + "\n"
                + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNX"
                + "gKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
            Self.text + "\n" + Self.peterSig + "Unexpected line.\n",
            Self.text + "\n" + String(repeating: Self.peterSig, count: 101),
        ]
        for message in bad {
            XCTAssertThrowsError(try SignedNote.parse(Array(message.utf8)), message)
        }
        XCTAssertThrowsError(try SignedNote.parse([0xff] + Array((Self.text + "\n" + Self.peterSig).utf8)))
    }

    func testC2SPKeyIDDefinition() throws {
        // key ID = SHA-256(name || 0x0A || 0x01 || 32-byte key)[:4], computed here independently.
        let key = try NoteVerifierKey(parsing: Self.enochKey)
        let digest = Digester.digest(.sha256, Array("EnochRoot".utf8) + [0x0a, 0x01] + key.publicKey.rawBytes)
        XCTAssertEqual(Hex.encode(digest.prefix(4)), "af0cfe78")
    }

    func testRFC8032Vectors() throws {
        let vectors = [
            (
                "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                    + "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
            ),
            (
                "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
                "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
                    + "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
            ),
        ]
        for (seed, publicKey, message, signature) in vectors {
            let key = try Ed25519PrivateKey(seed: Hex.decode(seed)!)
            XCTAssertEqual(Hex.encode(key.publicKey.rawBytes), publicKey)
            let signed = try key.sign(Hex.decode(message)!)
            XCTAssertEqual(Hex.encode(signed), signature)
            XCTAssertTrue(key.publicKey.verify(signature: signed, message: Hex.decode(message)!))
            XCTAssertFalse(key.publicKey.verify(signature: signed, message: Hex.decode(message)! + [0]))
            let verifier = Ed25519Verifier(key.publicKey)
            for _ in 0..<3 {
                let ok = signed.withUnsafeBytes { s in
                    Hex.decode(message)!.withUnsafeBytes { verifier.verify(signature: s, message: $0) }
                }
                XCTAssertTrue(ok)
                let bad = signed.withUnsafeBytes { s in
                    [UInt8(1)].withUnsafeBytes { verifier.verify(signature: s, message: $0) }
                }
                XCTAssertFalse(bad)
            }
        }
    }

    func testPEMRoundTripEncryptedAndWrongPassphrase() throws {
        let key = try Ed25519PrivateKey.generate()
        let pem = try key.pem(passphrase: Array("correct horse".utf8))
        XCTAssertTrue(Ed25519PrivateKey.isEncrypted(pem: pem))
        let loaded = try Ed25519PrivateKey(pem: pem, passphrase: Array("correct horse".utf8))
        XCTAssertEqual(loaded.publicKey, key.publicKey)
        XCTAssertThrowsError(try Ed25519PrivateKey(pem: pem, passphrase: Array("wrong".utf8))) { error in
            XCTAssertEqual(error as? KeyError, .wrongPassphrase(source: "private key"), "\(error)")
            XCTAssertEqual("\(error)", "private key: wrong passphrase (or the key file is damaged)")
        }
        XCTAssertThrowsError(try Ed25519PrivateKey(pem: pem, passphrase: nil)) { error in
            XCTAssertEqual(error as? KeyError, .passphraseRequired(keyPath: "private key"), "\(error)")
        }
        let plain = try key.pem(passphrase: nil)
        XCTAssertFalse(Ed25519PrivateKey.isEncrypted(pem: plain))
        XCTAssertEqual(try Ed25519PrivateKey(pem: plain, passphrase: nil).publicKey, key.publicKey)
        let publicPEM = try key.publicKey.pem()
        XCTAssertEqual(try Ed25519PublicKey(pem: publicPEM), key.publicKey)
        XCTAssertThrowsError(try Ed25519PublicKey(pem: Array("garbage".utf8)))
    }

    func testIdentityRoundTripAndTamper() throws {
        let key = try Ed25519PrivateKey.generate()
        let identity = try Identity(
            name: "alice", agency: "Police Nationale", jurisdiction: "fr", publicKey: key.publicKey)
        XCTAssertEqual(identity.jurisdiction, "FR")
        let document = try identity.document(signedWith: key)
        XCTAssertEqual(try Identity.parse(document), identity)
        let tampered = String(decoding: document, as: UTF8.self).replacingOccurrences(of: "Police", with: "Polise")
        XCTAssertThrowsError(try Identity.parse(Array(tampered.utf8)))
        XCTAssertThrowsError(try Identity(name: "a b", agency: "x", jurisdiction: "FR", publicKey: key.publicKey))
        XCTAssertThrowsError(try Identity(name: "ok", agency: "x", jurisdiction: "XX", publicKey: key.publicKey))
        XCTAssertThrowsError(try Identity(name: "ok", agency: "x", jurisdiction: "UK", publicKey: key.publicKey))
    }

    func testKeyDirectoryAndPassphraseSources() throws {
        let directory = try TestSupport.temporaryDirectory(self).path + "/keys"
        let secret = Array("correct horse".utf8)
        let (signer, age) = try KeyDirectory.create(name: "alice", agency: "Police", jurisdiction: "FR",
                                                    in: directory, passphrase: secret)
        let files = KeyDirectory(directory: directory, name: "alice")
        let keyPath = files.path(KeyDirectory.File.privateKey)
        XCTAssertEqual(files.existingPaths().count, KeyDirectory.File.allCases.count)
        XCTAssertEqual(KeyDirectory(keyPath: keyPath), files)
        XCTAssertEqual(try AgeRecipientFile.read(files.path(KeyDirectory.File.ageRecipient)), [age.recipient])
        XCTAssertThrowsError(try KeyDirectory.create(name: "alice", agency: "Police", jurisdiction: "FR",
                                                     in: directory, passphrase: nil)) { error in
            XCTAssertEqual(error as? AgeOperationError, .outputExists(path: keyPath, holdsKey: true))
        }
        // No file, nothing supplied, no prompt: the caller learns which key needs a passphrase.
        XCTAssertThrowsError(try SigningKey.load(keyPath: keyPath, passphrase: PassphraseSource(file: nil,
                                                                                              allowPrompt: false))) {
            XCTAssertEqual($0 as? KeyError, .passphraseRequired(keyPath: keyPath))
        }
        let supplied = PassphraseSource.Supplied(bytes: secret, origin: "SOME_VARIABLE")
        let loaded = try SigningKey.load(keyPath: keyPath, passphrase: PassphraseSource(file: nil, supplied: supplied,
                                                                                        allowPrompt: false))
        XCTAssertEqual(loaded.identity, signer.identity)
        let empty = PassphraseSource(file: nil, supplied: .init(bytes: [], origin: "SOME_VARIABLE"),
                                     allowPrompt: false)
        XCTAssertThrowsError(try SigningKey.load(keyPath: keyPath, passphrase: empty)) {
            XCTAssertEqual("\($0)", "the passphrase from SOME_VARIABLE is empty")
        }
    }

    func testErrorsAreTypedAndWordedAsBefore() throws {
        XCTAssertThrowsError(try NoteVerifierKey(parsing: "nope")) {
            XCTAssertEqual($0 as? SignedNoteError, .notVerifierKey(excerpt: "nope"))
            XCTAssertEqual("\($0)", "not a signed-note verifier key (NAME+KEYID+BASE64): 'nope'")
        }
        XCTAssertThrowsError(try SignedNote.parse(Array("text\n".utf8), source: "receipt.note")) {
            XCTAssertEqual($0 as? SignedNoteError, .malformed(reason: "no blank line before the signatures",
                                                               source: "receipt.note"))
            XCTAssertEqual("\($0)", "receipt.note: malformed signed note: no blank line before the signatures")
            XCTAssertEqual(($0 as? any CustodyFailure)?.kind, .verification)
        }
        XCTAssertThrowsError(try SignedNote.parse(Array("text\n".utf8))) {
            XCTAssertEqual("\($0)", "malformed signed note: no blank line before the signatures")
            XCTAssertEqual(($0 as? any CustodyFailure)?.kind, .operational)
        }
        XCTAssertThrowsError(try CountryCode.validate("ZZ")) {
            XCTAssertEqual($0 as? CountryCodeError, .notAssigned("ZZ"))
            XCTAssertEqual("\($0)",
                           "jurisdiction 'ZZ' is not an ISO 3166-1 alpha-2 country code (for example FR, DE, US, GB)")
        }
        XCTAssertThrowsError(try Identity.validateName(".hidden")) {
            XCTAssertEqual("\($0)", "name '.hidden' must be 1 to 64 of A-Z a-z 0-9 . _ - (not starting with . or -)")
        }
        XCTAssertThrowsError(try Ed25519PublicKey(rawBytes: [1, 2])) {
            XCTAssertEqual($0 as? KeyError, .publicKeyLength(2))
            XCTAssertEqual("\($0)", "an Ed25519 public key is 32 bytes, not 2")
        }
        XCTAssertThrowsError(try JSONValue.parse("[1,")) {
            XCTAssertEqual($0 as? JSONError, JSONError(message: "unexpected end of input", offset: 3))
            XCTAssertEqual(($0 as? any CustodyFailure)?.kind, .operational)
        }
        XCTAssertThrowsError(try JSONValue.parse("{\"a\":1 2}")) {
            XCTAssertEqual("\($0)", "invalid JSON at byte 7: expected ',' or '}'")
        }
        XCTAssertEqual(KeyError.identitySignatureInvalid(source: "x").kind, .verification)
        XCTAssertEqual(KeyError.passphraseRequired(keyPath: "k.key").source, "k.key")
    }

    func testCountryCodesAreTheOfficialList() throws {
        XCTAssertEqual(CountryCode.assigned.count, 249)
        let tab = "/usr/share/zoneinfo/iso3166.tab"
        guard let text = try? String(contentsOfFile: tab, encoding: .utf8) else {
            throw XCTSkip("\(tab) is missing; it is the independent copy of ISO 3166-1 this test compares with")
        }
        let codes = Set(
            text.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap {
                $0.split(separator: "\t").first.map(String.init)
            })
        XCTAssertEqual(CountryCode.assigned, codes)
    }

    func testBase64() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(($0 * 37 + 11) & 0xff) }
            let encoded = Base64.encode(bytes)
            XCTAssertEqual(encoded, Data(bytes).base64EncodedString())
            XCTAssertEqual(Base64.decode(encoded), bytes)
        }
        for bad in ["A", "AB=C", "AB", "AB==AB==", "A===", "QR==", "ab$d"] { XCTAssertNil(Base64.decode(bad), bad) }
    }
}
