import Foundation
import XCTest
import CustodyKit

/// `transfer` and `receive` run again after their note or receipt was lost once the ledger entry was appended
/// (SPEC.md 6.5, 6.6): the missing file is written from the entry; nothing is sent or recorded twice.
final class TransferRetryTests: CLITestCase {
    private func ledgerSize(_ ledger: String) throws -> Int {
        try custody(["ledger", "export", path(ledger)]).out.split(separator: "\n").count
    }

    func testTheSameCommandsRunAgainWriteTheLostNoteAndReceipt() throws {
        try setUpHandOff()
        try custody(["seal", "--ledger", path("fr.ledger"), "--key", key("fr"), "--out", path("bundle"),
                     path("evidence")])
        let transfer = ["transfer", path("bundle"), "--to", "de", "--trust", path("fr-trust.json"), "--ledger",
                        path("fr.ledger"), "--key", key("fr"), "--out", path("to-de.age")]
        try custody(transfer)
        let note = try Data(contentsOf: URL(fileURLWithPath: path("to-de.age.note")))
        let sent = try ledgerSize("fr.ledger")
        try FileManager.default.removeItem(atPath: path("to-de.age.note"))

        let again = try custody(transfer)
        XCTAssertTrue(again.out.contains("was already sent") && again.out.contains("nothing was sent again"),
                      again.out)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("to-de.age.note"))), note,
                       "the note written again is the one the first run would have written")
        XCTAssertEqual(try ledgerSize("fr.ledger"), sent)
        let refused = try custody(transfer, expect: 2)
        XCTAssertTrue(refused.err.contains("already exists"), refused.err)

        let receive = ["receive", path("to-de.age"), "--identity", path("keys/de.age"), "--ledger",
                       path("de.ledger"), "--key", key("de"), "--out", path("received"), "--trust",
                       path("de-trust.json")]
        try custody(receive)
        let received = try ledgerSize("de.ledger")
        let receipt = try String(contentsOfFile: path("received.receipt"), encoding: .utf8)
        try FileManager.default.removeItem(atPath: path("received.receipt"))
        let receivedAgain = try custody(receive)
        XCTAssertTrue(receivedAgain.out.contains("was already received")
                      && receivedAgain.out.contains("nothing was recorded again"), receivedAgain.out)
        XCTAssertEqual(try ledgerSize("de.ledger"), received)
        let rewritten = try String(contentsOfFile: path("received.receipt"), encoding: .utf8)
        func withoutTime(_ text: String) -> [Substring] {
            text.split(separator: "\n").filter { !$0.hasPrefix("time ") && !$0.hasPrefix("— ") }
        }
        XCTAssertEqual(withoutTime(rewritten), withoutTime(receipt))
        try custody(["receipt", "import", path("received.receipt"), "--ledger", path("fr.ledger"), "--key",
                     key("fr"), "--trust", path("fr-trust.json")])
    }
}
