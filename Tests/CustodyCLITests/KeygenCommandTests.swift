import XCTest

import CustodyKit

final class KeygenCommandTests: XCTestCase {
    func testWritesKeyFilesWithModes() throws {
        let dir = try makeTemporaryDirectory(self)
        let out = dir.appendingPathComponent("keys").path
        let result = try CLI.run([
            "keygen", "--name", "alice", "--agency", "Police Nationale", "--jurisdiction", "fr",
            "--out", out, "--no-passphrase",
        ])
        XCTAssertEqual(result.status, 0, result.err)
        let keyAttributes = try FileManager.default.attributesOfItem(atPath: "\(out)/alice.key")
        XCTAssertEqual((keyAttributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        let vkey = try String(contentsOfFile: "\(out)/alice.vkey", encoding: .utf8)
        let verifier = try NoteVerifierKey(parsing: vkey)
        XCTAssertEqual(verifier.name, "alice")
        let identity = try Identity.parse(
            Array(try Data(contentsOf: URL(fileURLWithPath: "\(out)/alice.identity.json"))))
        XCTAssertEqual(identity.jurisdiction, "FR")
        XCTAssertEqual(identity.agency, "Police Nationale")
        XCTAssertEqual(identity.verifierKey, verifier)
        let pub = try Ed25519PublicKey(pem: Array(try Data(contentsOf: URL(fileURLWithPath: "\(out)/alice.pub"))))
        XCTAssertEqual(pub, identity.publicKey)
        // Never replaces existing files.
        let again = try CLI.run([
            "keygen", "--name", "alice", "--agency", "X", "--jurisdiction", "FR", "--out", out,
            "--no-passphrase",
        ])
        XCTAssertEqual(again.status, 2)
        XCTAssertTrue(again.err.contains("already exists"), again.err)
    }

    func testEncryptedKeyInteropWithOpenSSL() throws {
        let openssl = try CLI.requireTool("openssl")
        let dir = try makeTemporaryDirectory(self)
        let passFile = dir.appendingPathComponent("pass").path
        try "s3cret passphrase\n".write(toFile: passFile, atomically: true, encoding: .utf8)
        let result = try CLI.run([
            "keygen", "--name", "bob", "--agency", "BKA", "--jurisdiction", "DE", "--out", dir.path,
            "--passphrase-file", passFile,
        ])
        XCTAssertEqual(result.status, 0, result.err)
        let pem = try String(contentsOfFile: dir.appendingPathComponent("bob.key").path, encoding: .utf8)
        XCTAssertTrue(pem.hasPrefix("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
        // OpenSSL decrypts the key with the passphrase and derives the same public key.
        let derived = try CLI.runTool(
            openssl,
            [
                "pkey", "-in", dir.appendingPathComponent("bob.key").path,
                "-passin", "file:\(passFile)", "-pubout",
            ])
        XCTAssertEqual(derived.status, 0, derived.err)
        XCTAssertEqual(
            derived.out, try String(contentsOfFile: dir.appendingPathComponent("bob.pub").path, encoding: .utf8))
        let wrong = try CLI.runTool(
            openssl,
            [
                "pkey", "-in", dir.appendingPathComponent("bob.key").path,
                "-passin", "pass:nope", "-pubout",
            ])
        XCTAssertNotEqual(wrong.status, 0)
    }

    func testBadInputs() throws {
        let dir = try makeTemporaryDirectory(self)
        let bad = [
            ["--name", "a b", "--agency", "X", "--jurisdiction", "FR"],
            ["--name", "ok", "--agency", "X", "--jurisdiction", "XX"],
            ["--name", "ok", "--agency", "X", "--jurisdiction", "FRA"],
            ["--name", "ok+1", "--agency", "X", "--jurisdiction", "FR"],
        ]
        for arguments in bad {
            let result = try CLI.run(["keygen"] + arguments + ["--out", dir.path, "--no-passphrase"])
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.err)")
            XCTAssertTrue(result.err.hasPrefix("custody: ") || result.err.contains("Error"), result.err)
        }
        // No passphrase source and no terminal: refused, nothing written.
        let none = try CLI.run(
            ["keygen", "--name", "carol", "--agency", "X", "--jurisdiction", "FR", "--out", dir.path],
            environment: ["CUSTODY_PASSPHRASE": ""])
        XCTAssertEqual(none.status, 2, none.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("carol.key").path))
    }

    func testEncryptedKeyWithoutPassphraseNamesTheWaysToGiveIt() throws {
        // No passphrase file, no CUSTODY_PASSPHRASE and, in a new session, no terminal to prompt on.
        let setsid = try CLI.requireTool("setsid")
        let dir = try makeTemporaryDirectory(self)
        let passFile = dir.appendingPathComponent("pass").path
        try "s3cret passphrase\n".write(toFile: passFile, atomically: true, encoding: .utf8)
        let created = try CLI.run(["keygen", "--name", "dana", "--agency", "X", "--jurisdiction", "FR",
                                   "--out", dir.path, "--passphrase-file", passFile])
        XCTAssertEqual(created.status, 0, created.err)
        let key = dir.appendingPathComponent("dana.key").path
        let ledger = dir.appendingPathComponent("dana.ledger").path
        let refused = try CLI.runTool("/usr/bin/env", [
            "-u", "CUSTODY_PASSPHRASE", setsid, "-w", CLI.executable,
            "ledger", "init", ledger, "--origin", "o", "--key", key,
        ])
        XCTAssertEqual(refused.status, 2, refused.err)
        XCTAssertEqual(refused.err, "custody: \(key) is encrypted: give its passphrase with --passphrase-file, "
            + "CUSTODY_PASSPHRASE or on a terminal\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: ledger))
    }

    func testAgeKeyPairIsSecretAndMatchesAgeKeygen() throws {
        let dir = try makeTemporaryDirectory(self)
        let result = try CLI.run(["keygen", "--name", "carol", "--agency", "Agency C", "--jurisdiction", "PT",
                                  "--out", dir.path, "--no-passphrase"])
        XCTAssertEqual(result.status, 0, result.err)
        let identityPath = dir.appendingPathComponent("carol.age").path
        let attributes = try FileManager.default.attributesOfItem(atPath: identityPath)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        let identityText = try String(contentsOfFile: identityPath, encoding: .utf8)
        XCTAssertTrue(identityText.contains("AGE-SECRET-KEY-1"))
        XCTAssertFalse(result.out.contains("AGE-SECRET-KEY") || result.err.contains("AGE-SECRET-KEY"),
                       "the secret key must never be printed")
        let recipient = try String(contentsOfFile: dir.appendingPathComponent("carol.recipient").path, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(recipient.hasPrefix("age1"), recipient)
        let ageKeygen = try CLI.requireTool("age-keygen")
        let derived = try CLI.runTool(ageKeygen, ["-y", identityPath])
        XCTAssertEqual(derived.status, 0, derived.err)
        XCTAssertEqual(derived.out.trimmingCharacters(in: .whitespacesAndNewlines), recipient)
    }
}
