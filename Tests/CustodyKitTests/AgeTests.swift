import CZlib
import Foundation
import XCTest
import CustodyKit
@testable import CustodyAge

/// Helpers of the age and archive tests (test-kit parsing); the general ones are in TestSupport.swift.
enum AgeTestSupport {
    static func sha256Hex(_ bytes: [UInt8]) -> String { Hex.encode(Digester.digest(.sha256, bytes)) }

    /// zlib (RFC 1950) inflate, for test-kit files marked `compressed: zlib`.
    static func inflate(_ input: [UInt8]) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw TestFailure("inflateInit failed")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var source = input
        let status: Int32 = source.withUnsafeMutableBufferPointer { inPointer in
            stream.next_in = inPointer.baseAddress
            stream.avail_in = UInt32(inPointer.count)
            var result: Int32 = Z_OK
            while result == Z_OK {
                buffer.withUnsafeMutableBufferPointer { outPointer in
                    stream.next_out = outPointer.baseAddress
                    stream.avail_out = UInt32(outPointer.count)
                    result = CZlib.inflate(&stream, Z_NO_FLUSH)
                    output.append(contentsOf: outPointer[0..<(outPointer.count - Int(stream.avail_out))])
                }
            }
            return result
        }
        guard status == Z_STREAM_END else { throw TestFailure("inflate failed: \(status)") }
        return output
    }
}

enum AgeFileMode {
    static func of(_ path: String) throws -> UInt32 { UInt32(try FileSystem.status(path).st_mode & 0o777) }
}

final class AgeTests: XCTestCase {
    // MARK: Encodings

    func testBech32BIP173ValidVectors() throws {
        // BIP 173 "valid Bech32" test vectors: the checksum must verify.
        let valid = [
            "A12UEL5L",
            "a12uel5l",
            "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
            "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
            "11" + String(repeating: "q", count: 82) + "c8247j",
            "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
            "?1ezyfcl",
        ]
        for text in valid {
            XCTAssertNoThrow(try Bech32.decodeValues(text), text)
        }
        // BIP 173 invalid vectors that concern the checksum and case (age lifts the length limit).
        XCTAssertThrowsError(try Bech32.decodeValues("A1G7SGD8")) // checksum computed with an upper-case HRP
        XCTAssertThrowsError(try Bech32.decodeValues("10a06t8")) // empty HRP
        XCTAssertThrowsError(try Bech32.decodeValues("1qzzfhee")) // empty HRP
        XCTAssertThrowsError(try Bech32.decodeValues("x1b4n0q5v")) // invalid data character
        XCTAssertThrowsError(try Bech32.decodeValues("li1dgmt3")) // too short checksum
        XCTAssertThrowsError(try Bech32.decodeValues("pzry9x0s0muk")) // no separator
        XCTAssertThrowsError(try Bech32.decodeValues("abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxW")) // mixed
        // The BIP 173 segwit example: witness version 0, then the 20-byte program in 5-bit groups.
        let (hrp, values) = try Bech32.decodeValues("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4")
        XCTAssertEqual(hrp, "bc")
        XCTAssertEqual(values.first, 0)
        let program = Bech32.convertBits(Array(values.dropFirst()), from: 5, to: 8, pad: false)
        XCTAssertEqual(program.map { Hex.encode($0) }, "751e76e8199196d454941c45d1b3a323f1433bd6")
        // Encoding round trip with age's HRPs and no length limit.
        let long = pseudoRandomBytes(200)
        let encoded = Bech32.encode(hrp: "AGE-SECRET-KEY-", data: long, uppercase: true)
        XCTAssertGreaterThan(encoded.count, 90)
        XCTAssertEqual(try Bech32.decode(encoded).data, long)
    }

    func testSpecExampleKeys() throws {
        // The X25519 identity/recipient pair printed in the C2SP age specification.
        let identity = try AgeX25519Identity(
            parsing: "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX")
        XCTAssertEqual(identity.recipient.encoded, "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj")
        XCTAssertEqual(identity.encoded,
                       "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX")
        XCTAssertFalse(identity.description.contains("AGE-SECRET"))
        XCTAssertThrowsError(try AgeX25519Identity(
            parsing: "age-secret-key-1gfpyysjzgfpyysjzgfpyysjzgfpyysjzgfpyysjzgfpyysjzgfpq4egaex"))
        XCTAssertThrowsError(try AgeX25519Identity(
            parsing: "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEY"))
        XCTAssertThrowsError(try AgeX25519Recipient(
            parsing: "AGE1ZVKYG2LQZRAA2LNJVQEJ32NKUU0UES2S82HZRYE869XEEXVN73EQUNUJWJ"))
        XCTAssertThrowsError(try AgeX25519Recipient(parsing: "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzr"))
    }

    func testBase64IsCanonicalAndUnpadded() {
        XCTAssertEqual(AgeBase64.encode(Array("f".utf8)), "Zg")
        XCTAssertEqual(AgeBase64.encode(Array("fo".utf8)), "Zm8")
        XCTAssertEqual(AgeBase64.encode(Array("foo".utf8)), "Zm9v")
        XCTAssertEqual(AgeBase64.decode("Zm9vYg"), Array("foob".utf8))
        XCTAssertNil(AgeBase64.decode("Zg=="))
        XCTAssertNil(AgeBase64.decode("Zh"), "non-zero trailing bits are not canonical")
        XCTAssertNil(AgeBase64.decode("Z"))
        XCTAssertNil(AgeBase64.decode("Zm9v\n"))
    }

    func testIdentityFileRoundTrip() throws {
        let identity = try AgeX25519Identity.generate()
        let text = AgeIdentityFile.render(identity, created: Timestamp(secondsSinceEpoch: 0))
        let lines = text.split(separator: "\n")
        XCTAssertEqual(lines[0], "# created: 1970-01-01T00:00:00Z")
        XCTAssertEqual(String(lines[1]), "# public key: \(identity.recipient.encoded)")
        XCTAssertTrue(lines[2].hasPrefix("AGE-SECRET-KEY-1"))
        let parsed = try AgeIdentityFile.parse(text, source: "test.age")
        XCTAssertEqual(parsed.map(\.recipient), [identity.recipient])
        XCTAssertThrowsError(try AgeIdentityFile.parse("# nothing\n\n", source: "empty.age"))
        XCTAssertThrowsError(try AgeIdentityFile.parse("AGE-SECRET-KEY-1XYZ\n", source: "bad.age")) { error in
            XCTAssertTrue("\(error)".contains("bad.age line 1"), "\(error)")
        }
        let directory = try TestSupport.temporaryDirectory(self)
        let path = directory.appendingPathComponent("k.age").path
        try AgeIdentityFile.write(identity, to: path)
        XCTAssertEqual(try AgeFileMode.of(path), 0o600)
        XCTAssertThrowsError(try AgeIdentityFile.write(identity, to: path), "never overwrites a key")
        XCTAssertEqual(try AgeIdentityFile.read(path).first?.recipient, identity.recipient)
    }

    func testPassphraseProtectedIdentityFile() throws {
        let directory = try TestSupport.temporaryDirectory(self)
        let identity = try AgeX25519Identity.generate()
        let path = directory.appendingPathComponent("protected.age").path
        try AgeIdentityFile.write(identity, to: path, passphrase: "correct horse", workFactor: 10)
        let bytes = try FileSystem.readFile(path)
        XCTAssertTrue(AgeIdentityFile.isEncrypted(bytes))
        XCTAssertFalse(String(decoding: bytes, as: UTF8.self).contains("AGE-SECRET-KEY"), "no plaintext key on disk")
        XCTAssertEqual(try AgeFileMode.of(path), 0o600)
        XCTAssertEqual(try AgeIdentityFile.read(path, passphrase: { "correct horse" }).first?.recipient,
                       identity.recipient)
        XCTAssertThrowsError(try AgeIdentityFile.read(path, passphrase: { "wrong" })) {
            XCTAssertTrue("\($0)".contains("wrong passphrase"), "\($0)")
        }
        XCTAssertThrowsError(try AgeIdentityFile.read(path), "no passphrase supplied")
        let passphrase = try AgeScryptRecipient(passphrase: "p")
        XCTAssertThrowsError(try AgeEncryptor(recipients: [passphrase, identity.recipient]))
    }

    func testEncryptToFileIsAtomicAndNeverOverwrites() throws {
        let directory = try TestSupport.temporaryDirectory(self)
        let identity = try AgeX25519Identity.generate()
        let path = directory.appendingPathComponent("out.age").path
        let plaintext = pseudoRandomBytes(100_000)
        let encryptor = try AgeEncryptor(recipients: [identity.recipient])
        let summary = try encryptor.encrypt(from: MemoryChunkReader(plaintext), toFile: path)
        XCTAssertEqual(summary.plaintextSize, 100_000)
        XCTAssertEqual(try AgeDecryptor(identities: [identity]).decrypt(try FileSystem.readFile(path)), plaintext)
        XCTAssertThrowsError(try encryptor.encrypt(from: MemoryChunkReader([1]), toFile: path))
        XCTAssertEqual(try FileSystem.directoryEntries(directory.path), ["out.age"], "no temporary file left")
    }

    // MARK: Round trips and failures

    func testRoundTripSizes() throws {
        let identity = try AgeX25519Identity.generate()
        var encryptor = try AgeEncryptor(recipients: [identity.recipient])
        encryptor.chunksPerBatch = 2
        encryptor.batchesInFlight = 2
        var decryptor = try AgeDecryptor(identities: [identity])
        decryptor.chunksPerBatch = 3
        decryptor.batchesInFlight = 2
        let chunk = 65536
        for size in [0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk, 5 * chunk + 7, 3 << 20] {
            let plaintext = pseudoRandomBytes(size, seed: UInt64(size) + 1)
            let file = try encryptor.encrypt(plaintext)
            let chunks = max(1, (size + chunk - 1) / chunk)
            XCTAssertEqual(file.count - headerLength(file) - 16, size + 16 * chunks, "size \(size)")
            XCTAssertEqual(try decryptor.decrypt(file), plaintext, "size \(size)")
            // Push-style writes in odd pieces give an equally valid file.
            var pushed: [UInt8] = []
            let stream = try encryptor.makeStream { pushed.append(contentsOf: $0) }
            var offset = 0
            while offset < size {
                let piece = min(40_000, size - offset)
                try stream.write(Array(plaintext[offset..<(offset + piece)]))
                offset += piece
            }
            let summary = try stream.finish()
            XCTAssertEqual(summary.plaintextSize, UInt64(size))
            XCTAssertEqual(summary.chunkCount, UInt64(chunks))
            XCTAssertEqual(try decryptor.decrypt(pushed), plaintext, "pushed, size \(size)")
        }
    }

    func testMultipleRecipientsAndWrongIdentity() throws {
        let alice = try AgeX25519Identity.generate(), bob = try AgeX25519Identity.generate()
        let mallory = try AgeX25519Identity.generate()
        let file = try AgeEncryptor(recipients: [alice.recipient, bob.recipient]).encrypt(Array("hello".utf8))
        XCTAssertEqual(try AgeDecryptor(identities: [bob]).decrypt(file), Array("hello".utf8))
        XCTAssertEqual(try AgeDecryptor(identities: [mallory, alice]).decrypt(file), Array("hello".utf8))
        XCTAssertThrowsError(try AgeDecryptor(identities: [mallory]).decrypt(file)) { error in
            XCTAssertEqual(error as? AgeError, .noMatchingIdentity(stanzaCount: 2))
        }
    }

    private func headerLength(_ file: [UInt8]) -> Int {
        ((try? AgeHeader.parse(file)) ?? nil)?.length ?? 0
    }

    private func decryptFailure(_ file: [UInt8], _ identity: AgeX25519Identity,
                                released: inout [UInt8]) -> AgeError? {
        do {
            var decryptor = try AgeDecryptor(identities: [identity])
            decryptor.chunksPerBatch = 2
            try decryptor.decrypt(from: MemoryChunkReader(file)) { released.append(contentsOf: $0) }
            return nil
        } catch let error as AgeError {
            return error
        } catch {
            XCTFail("unexpected error \(error)")
            return nil
        }
    }

    func testTamperingIsDetectedWhereItHappens() throws {
        let identity = try AgeX25519Identity.generate()
        let plaintext = pseudoRandomBytes(5 * 65536 + 100)
        let file = try AgeEncryptor(recipients: [identity.recipient]).encrypt(plaintext)
        let header = headerLength(file)
        let payload = header + 16
        let sealed = 65536 + 16
        var released: [UInt8] = []

        // Header: a flipped bit in a stanza body, and one in the MAC.
        var altered = file
        altered[header - 50] ^= 0x01
        let headerError = decryptFailure(altered, identity, released: &released)
        XCTAssertNotNil(headerError)
        XCTAssertTrue([.header, .headerMAC, .noMatch].contains(headerError!.failureClass), "\(headerError!)")
        altered = file
        let macLine = file[..<header].lastIndex(of: UInt8(ascii: "-"))! + 2
        altered[macLine + 5] = altered[macLine + 5] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        XCTAssertEqual(decryptFailure(altered, identity, released: &released)?.failureClass, .headerMAC)

        // The payload nonce: every chunk fails, starting with chunk 0.
        altered = file
        altered[header + 3] ^= 0x80
        released = []
        XCTAssertEqual(decryptFailure(altered, identity, released: &released),
                       .payloadAuthenticationFailed(chunkIndex: 0, byteOffset: UInt64(payload), isFinal: false))
        XCTAssertTrue(released.isEmpty)

        // Payload start, middle (chunk 2) and end (the final chunk's tag).
        for (chunk, position) in [(0, payload), (2, payload + 2 * sealed + 1000), (5, file.count - 1)] {
            altered = file
            altered[position] ^= 0x04
            released = []
            let error = decryptFailure(altered, identity, released: &released)
            XCTAssertEqual(error, .payloadAuthenticationFailed(chunkIndex: UInt64(chunk),
                                                               byteOffset: UInt64(payload + chunk * sealed),
                                                               isFinal: chunk == 5))
            XCTAssertEqual(released, Array(plaintext.prefix(chunk * 65536)), "only verified chunks are released")
            XCTAssertTrue(error!.description.contains("chunk \(chunk) at byte \(payload + chunk * sealed)"))
        }
    }

    func testTruncationAndTrailingData() throws {
        let identity = try AgeX25519Identity.generate()
        let plaintext = pseudoRandomBytes(3 * 65536 + 10)
        let file = try AgeEncryptor(recipients: [identity.recipient]).encrypt(plaintext)
        let payload = headerLength(file) + 16
        let sealed = 65536 + 16
        var released: [UInt8] = []
        // Cut at a chunk boundary: no final chunk.
        let cut = Array(file.prefix(payload + 2 * sealed))
        XCTAssertEqual(decryptFailure(cut, identity, released: &released),
                       .truncated(byteOffset: UInt64(payload + 2 * sealed)))
        XCTAssertEqual(released, Array(plaintext.prefix(2 * 65536)), "authentic chunks are released, as age does")
        // Cut inside the final chunk: it cannot authenticate.
        released = []
        let error = decryptFailure(Array(file.dropLast(5)), identity, released: &released)
        XCTAssertEqual(error, .payloadAuthenticationFailed(chunkIndex: 3, byteOffset: UInt64(payload + 3 * sealed),
                                                           isFinal: true))
        XCTAssertTrue(error!.description.contains("truncated"))
        // Cut inside the header, inside the nonce, and right after the nonce.
        XCTAssertEqual(decryptFailure(Array(file.prefix(40)), identity, released: &released),
                       .truncatedHeader(byteOffset: 40))
        XCTAssertEqual(decryptFailure(Array(file.prefix(payload - 3)), identity, released: &released),
                       .truncatedHeader(byteOffset: UInt64(payload - 3)))
        XCTAssertEqual(decryptFailure(Array(file.prefix(payload)), identity, released: &released),
                       .truncated(byteOffset: UInt64(payload)))
        // Data after a full final chunk: the final chunk is released, then refused.
        let full = pseudoRandomBytes(2 * 65536)
        let exact = try AgeEncryptor(recipients: [identity.recipient]).encrypt(full)
        released = []
        XCTAssertEqual(decryptFailure(exact + Array(repeating: 0, count: sealed), identity, released: &released),
                       .trailingData(byteOffset: UInt64(exact.count)))
        XCTAssertEqual(released, full)
    }

    // MARK: Interoperability with the age command

    func testAgeCommandDecryptsWhatCustodyWrites() throws {
        let age = try TestSupport.requireTool("age")
        let directory = try TestSupport.temporaryDirectory(self)
        let identity = try AgeX25519Identity.generate()
        let identityPath = directory.appendingPathComponent("agency.age").path
        try AgeIdentityFile.write(identity, to: identityPath)
        for size in [0, 65536, 3 * 65536 + 123] {
            let plaintext = pseudoRandomBytes(size, seed: UInt64(size) + 7)
            // In memory (the streaming path) and file to file (the parallel positional path).
            let encrypted = directory.appendingPathComponent("file-\(size).age")
            try Data(try AgeEncryptor(recipients: [identity.recipient]).encrypt(plaintext)).write(to: encrypted)
            let plainPath = directory.appendingPathComponent("plain-\(size)").path
            try Data(plaintext).write(to: URL(fileURLWithPath: plainPath))
            let input = try FileDescriptor.openForReading(plainPath)
            defer { input.close() }
            try AgeEncryptor(recipients: [identity.recipient])
                .encrypt(from: FileChunkReader(descriptor: input, size: UInt64(size)), toFile: plainPath + ".age")
            for path in [encrypted.path, plainPath + ".age"] {
                let result = try TestSupport.run(age, ["-d", "-i", identityPath, path])
                XCTAssertEqual(result.status, 0, "age -d: \(result.err)")
                XCTAssertEqual([UInt8](result.out), plaintext, "size \(size)")
            }
        }
    }

    func testCustodyDecryptsWhatAgeCommandWrites() throws {
        let age = try TestSupport.requireTool("age")
        let keygen = try TestSupport.requireTool("age-keygen")
        let directory = try TestSupport.temporaryDirectory(self)
        // A key written by age-keygen, read through custody's identity file parser.
        let keyPath = directory.appendingPathComponent("key.txt").path
        let generated = try TestSupport.run(keygen, ["-o", keyPath])
        XCTAssertEqual(generated.status, 0, generated.err)
        let identities = try AgeIdentityFile.read(keyPath)
        XCTAssertTrue(try String(contentsOfFile: keyPath, encoding: .utf8)
            .contains("# public key: \(identities[0].recipient.encoded)"))
        // A custody-generated recipient, given to age -r.
        let ours = try AgeX25519Identity.generate()
        for size in [0, 1, 65536, 2 * 65536 + 5] {
            let plaintext = pseudoRandomBytes(size, seed: UInt64(size) + 3)
            let input = directory.appendingPathComponent("in-\(size)")
            try Data(plaintext).write(to: input)
            let output = directory.appendingPathComponent("in-\(size).age").path
            let result = try TestSupport.run(age, ["-r", identities[0].recipient.encoded,
                                                      "-r", ours.recipient.encoded, "-o", output, input.path])
            XCTAssertEqual(result.status, 0, result.err)
            let file = try [UInt8](Data(contentsOf: URL(fileURLWithPath: output)))
            XCTAssertEqual(try AgeDecryptor(identities: identities).decrypt(file), plaintext, "size \(size)")
            XCTAssertEqual(try AgeDecryptor(identities: [ours]).decrypt(file), plaintext, "size \(size)")
        }
    }

    func testPassphraseProtectedIdentityFilesInteroperate() throws {
        // age reads passphrases from a terminal only; `script` gives it one fed from our input.
        let age = try TestSupport.requireTool("age")
        let script = try TestSupport.requireTool("script")
        let directory = try TestSupport.temporaryDirectory(self)
        let identity = try AgeX25519Identity.generate()
        let ours = directory.appendingPathComponent("ours.age").path
        try AgeIdentityFile.write(identity, to: ours, passphrase: "evidence pass", workFactor: 12)
        let message = directory.appendingPathComponent("message.age").path
        try Data(try AgeEncryptor(recipients: [identity.recipient]).encrypt(Array("hello custody\n".utf8)))
            .write(to: URL(fileURLWithPath: message))
        let opened = try TestSupport.run(script, ["-qec", "\(age) -d -i \(ours) \(message)", "/dev/null"],
                                            stdin: Data("evidence pass\n".utf8))
        XCTAssertEqual(opened.status, 0, opened.err)
        XCTAssertTrue(String(decoding: opened.out, as: UTF8.self).contains("hello custody"))
        // The other direction (files age protects with a passphrase, scrypt work factor 18) is covered by the
        // test kit's scrypt vectors, which keeps this test fast.
    }

    /// Decrypts `file` from a file into a regular file (the parallel positional path); returns what the output
    /// file holds afterwards and the error, if any.
    private func decryptFileToFile(_ file: [UInt8], _ identities: [any AgeIdentity], in directory: URL) throws
        -> (output: [UInt8], error: Error?) {
        let inputPath = directory.appendingPathComponent("in-\(UUID().uuidString)").path
        let outputPath = inputPath + ".out"
        try Data(file).write(to: URL(fileURLWithPath: inputPath))
        let input = try FileDescriptor.openForReading(inputPath)
        let output = try FileDescriptor.open(outputPath, O_RDWR | O_CREAT | O_TRUNC)
        defer {
            input.close()
            output.close()
        }
        var failure: Error?
        do {
            try AgeDecryptor(identities: identities)
                .decrypt(from: FileChunkReader(descriptor: input, size: UInt64(file.count)), to: output)
        } catch {
            failure = error
        }
        return (try FileSystem.readFile(outputPath), failure)
    }

    func testFileToFileMatchesStreaming() throws {
        let directory = try TestSupport.temporaryDirectory(self)
        let identity = try AgeX25519Identity.generate()
        let encryptor = try AgeEncryptor(recipients: [identity.recipient])
        for size in [0, 1, 65536, 3 * 65536 + 5, 40 * 65536 + 1] {
            // File to file encryption (positional path), then both decryption paths.
            let plaintext = pseudoRandomBytes(size, seed: UInt64(size) + 11)
            let inputPath = directory.appendingPathComponent("plain-\(size)").path
            try Data(plaintext).write(to: URL(fileURLWithPath: inputPath))
            let encryptedPath = inputPath + ".age"
            let input = try FileDescriptor.openForReading(inputPath)
            let summary = try encryptor.encrypt(from: FileChunkReader(descriptor: input, size: UInt64(size)),
                                                toFile: encryptedPath)
            input.close()
            let file = try FileSystem.readFile(encryptedPath, limit: 1 << 30)
            XCTAssertEqual(summary.fileSize, UInt64(file.count))
            XCTAssertEqual(try AgeDecryptor(identities: [identity]).decrypt(file), plaintext, "size \(size)")
            let (output, error) = try decryptFileToFile(file, [identity], in: directory)
            XCTAssertNil(error)
            XCTAssertEqual(output, plaintext, "size \(size)")
        }
        // Damage: both paths report the same error and leave the same plaintext.
        let plaintext = pseudoRandomBytes(10 * 65536 + 77)
        let file = try encryptor.encrypt(plaintext)
        let payload = headerLength(file) + 16
        var damaged: [[UInt8]] = [Array(file.prefix(payload + 4 * 65552)), Array(file.dropLast(3)),
                                  file + [1, 2, 3], Array(file.prefix(payload))]
        for position in [payload + 10, payload + 5 * 65552 + 9, file.count - 1] {
            var altered = file
            altered[position] ^= 0x10
            damaged.append(altered)
        }
        for (number, bytes) in damaged.enumerated() {
            var released: [UInt8] = []
            let streamed = decryptFailure(bytes, identity, released: &released)
            let (output, error) = try decryptFileToFile(bytes, [identity], in: directory)
            XCTAssertNotNil(streamed, "case \(number)")
            XCTAssertEqual(error as? AgeError, streamed, "case \(number)")
            XCTAssertEqual(output, released, "case \(number)")
        }
    }

    // MARK: The age test kit

    func testAgeTestKit() throws {
        let scratch = try TestSupport.temporaryDirectory(self)
        let folder = try TestSupport.vectors("age-testkit")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        var skipped: [String] = []
        var passed = 0
        for name in names {
            let raw = try [UInt8](Data(contentsOf: folder.appendingPathComponent(name)))
            guard let split = findBlankLine(raw) else { XCTFail("\(name): no blank line"); continue }
            let headerText = String(decoding: raw[..<split], as: UTF8.self)
            var fields: [(String, String)] = []
            for line in headerText.split(separator: "\n") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                fields.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingWhitespace()))
            }
            func values(_ key: String) -> [String] { fields.filter { $0.0 == key }.map(\.1) }
            // Features custody does not implement: ASCII armor and ML-KEM hybrid (post-quantum) keys.
            if name.hasPrefix("armor") || name.hasPrefix("hybrid") || values("armored") == ["yes"]
                || values("identity").contains(where: { $0.hasPrefix("AGE-SECRET-KEY-PQ-") }) {
                skipped.append(name)
                continue
            }
            var body = Array(raw[(split + 2)...])
            if values("compressed") == ["zlib"] { body = try AgeTestSupport.inflate(body) }
            var identities: [any AgeIdentity] = try values("identity").map { try AgeX25519Identity(parsing: $0) }
            identities += values("passphrase").map { AgeScryptIdentity(passphrase: $0) }
            if identities.isEmpty { identities = [try AgeX25519Identity.generate()] }
            let expect = values("expect").first ?? ""
            var released: [UInt8] = []
            var failure: Error?
            do {
                try AgeDecryptor(identities: identities).decrypt(from: MemoryChunkReader(body)) {
                    released.append(contentsOf: $0)
                }
            } catch {
                failure = error
            }
            // The parallel file-to-file path agrees: same outcome, same plaintext left in the output.
            let viaFiles = try decryptFileToFile(body, identities, in: scratch)
            XCTAssertEqual((viaFiles.error as? AgeError)?.failureClass, (failure as? AgeError)?.failureClass, name)
            XCTAssertEqual(viaFiles.output, released, "\(name): file-to-file output")
            if expect == "success" {
                XCTAssertNil(failure, "\(name): \(failure.map { "\($0)" } ?? "")")
                XCTAssertEqual(AgeTestSupport.sha256Hex(released), values("payload").first, name)
                // The unwrapped file key matches the kit's.
                if let header = try AgeHeader.parse(body) {
                    let key = try AgeDecryptor(identities: identities).fileKey(for: header)
                    XCTAssertEqual(Hex.encode(key), values("file key").first, name)
                }
            } else {
                guard let ageError = failure as? AgeError else {
                    XCTFail("\(name): expected \(expect), got \(failure.map { "\($0)" } ?? "success")")
                    continue
                }
                XCTAssertEqual(ageError.failureClass.rawValue, expect, "\(name): \(ageError)")
                if let payload = values("payload").first {
                    XCTAssertEqual(AgeTestSupport.sha256Hex(released), payload, "\(name): released plaintext")
                }
            }
            passed += 1
        }
        print("age test kit: \(passed) cases run; skipped by name (armor, hybrid ML-KEM): "
              + skipped.joined(separator: " "))
        XCTAssertGreaterThan(passed, 85)
    }

    private func findBlankLine(_ bytes: [UInt8]) -> Int? {
        var index = 0
        while index + 1 < bytes.count {
            if bytes[index] == 0x0A && bytes[index + 1] == 0x0A { return index }
            index += 1
        }
        return nil
    }
}
