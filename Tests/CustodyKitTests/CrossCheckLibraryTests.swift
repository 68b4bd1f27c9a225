import Foundation
import XCTest
import CustodyKit
@testable import CustodyTransfer

/// The pieces of the cross-checks (SPEC 6.6) on their own: the `consistency` field, proof anchors over a real
/// ledger, and the book of recorded checkpoints `ledger verify` keeps.
final class CrossCheckLibraryTests: XCTestCase {
    func testConsistencyFieldRoundTripsAndRefusesWhatIsNotAProof() throws {
        let hash = Hash32([UInt8](repeating: 7, count: 32))!
        let proof = CarriedProof(from: 3, path: [hash, hash])
        XCTAssertEqual(proof.field, "3 \(hash.hex),\(hash.hex)")
        XCTAssertEqual(CarriedProof(field: proof.field), proof)
        XCTAssertEqual(CarriedProof(field: "9"), CarriedProof(from: 9, path: []))
        let tooLong = Array(repeating: hash.hex, count: CarriedProof.pathLimit + 1).joined(separator: ",")
        for bad in ["0", "x", "", "3 ", "3 zz", "3 \(hash.hex),", "3 \(hash.hex) 4", "3 \(tooLong)",
                    "3 \(hash.hex.uppercased().dropLast())"] {
            XCTAssertNil(CarriedProof(field: bad), bad)
        }
    }

    func testAnchorsProveEarlierSizesOfTheirOwnLogOnly() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "custody-crosscheck-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        let privateKey = try Ed25519PrivateKey.generate()
        let key = try SigningKey(identity: Identity(name: "fr", agency: "Police", jurisdiction: "FR",
                                                    publicKey: privateKey.publicKey), privateKey: privateKey)
        let ledger = try Ledger.create(path: directory.appendingPathComponent("fr.ledger").path,
                                       origin: "fr.example/custody", key: key)
        for number in 0..<5 {
            _ = try ledger.append(LedgerEntryDraft(action: .note, details: ["n": .int(Int64(number))]), key: key)
        }
        let note = try XCTUnwrap(try ledger.checkpoint(size: 5))
        let checkpoint = try Checkpoint(text: note.text)
        let proofs = try CheckpointCrossCheck.proofs(ledger, from: [2, 3, 9], to: 5)
        XCTAssertEqual(proofs.map(\.from), [2, 3, 5])
        let anchor = ProofAnchor(checkpoint, proofs: proofs)
        XCTAssertEqual(anchor.prove(size: 2, root: try ledger.root(size: 2)), .proven)
        XCTAssertEqual(anchor.prove(size: 3, root: try ledger.root(size: 2)), .failed)
        XCTAssertEqual(anchor.prove(size: 4, root: try ledger.root(size: 4)), .missing)
        XCTAssertEqual(anchor.prove(size: 5, root: try ledger.root(size: 4)), .failed)
        XCTAssertEqual(anchor.prove(size: 6, root: try ledger.root(size: 5)), .missing)
        let stored = try XCTUnwrap(ProofAnchor(json: anchor.json))
        XCTAssertEqual(stored.prove(size: 3, root: try ledger.root(size: 3)), .proven)
    }

    func testTheBookFindsTwoRootsForOneOriginAndSize() {
        let one = Hash32([UInt8](repeating: 1, count: 32))!, two = Hash32([UInt8](repeating: 2, count: 32))!
        var book = RecordedCheckpointBook()
        func recorded(_ origin: String, _ size: UInt64, _ root: Hash32, _ entry: UInt64) -> RecordedCheckpoint {
            RecordedCheckpoint(origin: origin, size: size, root: root, entry: entry, field: "senderCheckpoint")
        }
        XCTAssertNil(book.add(recorded("a", 5, one, 0)))
        XCTAssertNil(book.add(recorded("a", 5, one, 1)))
        XCTAssertNil(book.add(recorded("b", 5, two, 2)))
        XCTAssertNil(book.add(recorded("a", 6, two, 3)))
        let fork = book.add(recorded("a", 5, two, 4))
        XCTAssertEqual(fork?.entry, 0)
    }
}
