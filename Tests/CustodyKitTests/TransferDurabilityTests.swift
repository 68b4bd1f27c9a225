import Foundation
import XCTest
import CustodyKit
@testable import CustodyTransfer

/// A disk that fills after `transfer` or `receive` appended its ledger entry (SPEC.md 6.5, 6.6): the entry stays,
/// and the same command run again writes the missing note or receipt from it instead of refusing.
final class TransferDurabilityTests: TemporaryDirectoryTestCase {

    private func party(_ name: String, _ jurisdiction: String) throws -> (SigningKey, Ledger) {
        try makeKeyAndLedger(at: directory + "/\(name).ledger", name: name, agency: "\(name) agency",
                             jurisdiction: jurisdiction, origin: "\(name).example/custody")
    }

    private func transferOutEntries(_ ledger: Ledger) throws -> [LedgerEntry] {
        try (0..<ledger.size()).map { try ledger.entry(at: $0) }.filter { $0.action == .transferOut }
    }

    private func receiveEntries(_ ledger: Ledger) throws -> [LedgerEntry] {
        try (0..<ledger.size()).map { try ledger.entry(at: $0) }.filter { $0.action == .receive }
    }

    func testANoteOrReceiptLostAfterTheAppendIsWrittenByTheSameCommandRunAgain() throws {
        let (sender, senderLedger) = try party("sender", "FR")
        let (receiver, receiverLedger) = try party("receiver", "DE")
        let input = directory + "/evidence.bin"
        try FileSystem.writeAtomically(input, (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        var sealOptions = SealOptions()
        sealOptions.chunkSize = 64 << 10
        let bundle = directory + "/bundle"
        _ = try BundleSealer.seal(paths: [input], out: bundle, ledger: senderLedger, key: sender, options: sealOptions)
        let identity = try AgeX25519Identity.generate()
        let recipient = TransferRecipient(ageRecipient: identity.recipient)

        // The disk fills after the transfer-out entry: the note cannot be written.
        let file = directory + "/evidence.age"
        let note = file + TransferLayout.noteSuffix
        var failing = TransferOptions()
        failing.afterLedgerAppend = { try FileSystem.createDirectory(note) }
        XCTAssertThrowsError(try BundleTransfer.send(bundle: bundle, to: recipient, out: file, ledger: senderLedger,
                                                     key: sender, options: failing)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("is recorded") && text.contains("run the same command again"), text)
            XCTAssertFalse(text.contains("nothing was sent"), text)
        }
        XCTAssertEqual(try transferOutEntries(senderLedger).count, 1)
        FileSystem.removeTree(note)

        let sent = try BundleTransfer.send(bundle: bundle, to: recipient, out: file, ledger: senderLedger,
                                           key: sender, options: TransferOptions())
        XCTAssertTrue(sent.regenerated)
        XCTAssertEqual(try transferOutEntries(senderLedger).map(\.sequence), [sent.entry.sequence])
        XCTAssertTrue(FileSystem.exists(note))
        // A third run has nothing left to write: it refuses as before.
        XCTAssertThrowsError(try BundleTransfer.send(bundle: bundle, to: recipient, out: file, ledger: senderLedger,
                                                     key: sender, options: TransferOptions()))

        // The disk fills after the receive entry: the receipt cannot be written.
        let out = directory + "/received"
        let receipt = out + TransferLayout.receiptSuffix
        var failingReceive = ReceiveOptions()
        failingReceive.afterLedgerAppend = { try FileSystem.createDirectory(receipt) }
        XCTAssertThrowsError(try BundleReceiver.receive(file: file, identities: [identity], ledger: receiverLedger,
                                                        key: receiver, out: out, options: failingReceive)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("is recorded") && text.contains("run the same command again"), text)
            XCTAssertFalse(text.contains("nothing was received"), text)
        }
        XCTAssertEqual(try receiveEntries(receiverLedger).count, 1)
        FileSystem.removeTree(receipt)

        let received = try BundleReceiver.receive(file: file, identities: [identity], ledger: receiverLedger,
                                                  key: receiver, out: out, options: ReceiveOptions())
        XCTAssertTrue(received.regenerated)
        XCTAssertTrue(received.report.passed, "\(received.report.failures)")
        XCTAssertEqual(try receiveEntries(receiverLedger).map(\.sequence), [received.entry.sequence])
        let signed = try SignedNote.parse(try FileSystem.readFile(receipt))
        try signed.verifySigned(by: receiver.identity.verifierKey, what: receipt)
        let statement = try ReceiptStatement(text: signed.text)
        XCTAssertEqual(statement.entry, received.entry.sequence)
        XCTAssertEqual(statement.transferID, sent.statement.transferID)
        XCTAssertTrue(statement.passed)

        // The regenerated note is the one the receiver checks: a fresh receive elsewhere accepts it.
        let again = try BundleReceiver.receive(file: file, identities: [identity], ledger: receiverLedger,
                                               key: receiver, out: directory + "/again", options: ReceiveOptions())
        XCTAssertTrue(again.report.checks.contains { $0.name == "transfer note" && $0.status == .passed },
                      "\(again.report.checks.filter { $0.name.hasPrefix("transfer") })")
    }
}
