import CustodyKit

extension FuzzTarget {
    /// A signed note: parsed, verified against the fixed key, and parsed again from its own encoding.
    static let signedNote = FuzzTarget(
        name: "signed-note", summary: "SignedNote.parse and verify: C2SP signed notes", mutate: NoteMutator.mutate
    ) { bytes in
        guard let note = try? SignedNote.parse(bytes) else { return }
        _ = try? note.verify(with: [FuzzKeys.noteVerifier])
        guard let again = try? SignedNote.parse(note.bytes), again == note else {
            fuzzFailure("a parsed note changes when encoded and parsed again")
        }
    }

    /// A signed checkpoint (C2SP tlog-checkpoint) opened with the fixed key.
    static let checkpoint = FuzzTarget(
        name: "checkpoint", summary: "Checkpoint.open: a signed checkpoint note", mutate: NoteMutator.mutate
    ) { bytes in
        guard let checkpoint = try? Checkpoint.open(bytes, keys: [FuzzKeys.noteVerifier]) else { return }
        guard let again = try? Checkpoint(text: checkpoint.text), again == checkpoint else {
            fuzzFailure("a checkpoint changes when written back and read")
        }
    }

    /// The statement signed beside an encrypted transfer (`FILE.note`).
    static let transferStatement = FuzzTarget(
        name: "transfer-statement", summary: "TransferStatement(text:): a transfer note", mutate: NoteMutator.mutate
    ) { bytes in
        guard let note = try? SignedNote.parse(bytes, source: "fuzz") else { return }
        guard let statement = try? TransferStatement(text: note.text) else { return }
        _ = try? note.verify(with: [FuzzKeys.noteVerifier])
        guard let again = try? TransferStatement(text: statement.text), again == statement else {
            fuzzFailure("a transfer statement changes when written back and read")
        }
    }

    /// A receipt a recipient sends back.
    static let receipt = FuzzTarget(
        name: "receipt", summary: "ReceiptStatement(text:): a signed receipt", mutate: NoteMutator.mutate
    ) { bytes in
        guard let note = try? SignedNote.parse(bytes, source: "fuzz"),
              let statement = try? ReceiptStatement(text: note.text) else { return }
        guard let again = try? ReceiptStatement(text: statement.text), again == statement else {
            fuzzFailure("a receipt changes when written back and read")
        }
    }

    /// A consent to an onward transfer.
    static let consent = FuzzTarget(
        name: "consent", summary: "ConsentStatement(text:): a signed consent", mutate: NoteMutator.mutate
    ) { bytes in
        guard let note = try? SignedNote.parse(bytes, source: "fuzz"),
              let statement = try? ConsentStatement(text: note.text) else { return }
        guard let again = try? ConsentStatement(text: statement.text), again == statement else {
            fuzzFailure("a consent changes when written back and read")
        }
    }
}
