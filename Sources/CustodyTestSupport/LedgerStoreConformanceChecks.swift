import CustodyBase
import CustodyCrypto
import CustodyLedger

extension LedgerStoreConformance {
    /// What a store must do: keep what it is given, return it in order, commit and roll back, reopen.
    static let storageChecks: [Check] = [
        ("metadata survives creation and reopening", checkMetadata),
        ("appended entries, nodes and checkpoints read back in order", checkAppendAndRead),
        ("ranges of entries and nodes", checkRanges),
        ("write transactions roll back when their body throws", checkRollback),
        ("a stored checkpoint is never replaced by a different one", checkCheckpointsNeverReplaced),
        ("a reopened store and a second reader see every commit", checkReopen),
    ]

    static func checkMetadata(_ harness: LedgerStoreHarness) throws {
        let key = try makeKey()
        let ledger = try makeLedger(harness, key: key, entries: 0)
        let document = try key.identity.document(signedWith: key.privateKey)
        for opened in [ledger, try reopened(ledger, harness)] {
            try expectEqual(opened.origin, origin, "origin")
            try expectEqual(opened.owner, key.identity, "owner")
            try expectEqual(opened.metadata.ownerDocument, document, "owner document")
            try expectEqual(try opened.size(), 0, "size of a new ledger")
            try expect(try opened.latestCheckpoint() == nil, "a new ledger holds a checkpoint")
            try expect(try opened.store.storedEntryBounds() == nil, "a new ledger holds entries")
            try expectEqual(try opened.store.nodeCount(), 0, "nodes of a new ledger")
            try expect(try opened.store.checkpoints().isEmpty, "a new ledger holds checkpoints")
        }
    }

    static func checkAppendAndRead(_ harness: LedgerStoreHarness) throws {
        let key = try makeKey()
        let ledger = try makeLedger(harness, key: key, entries: 3)
        let batch = try (0..<10).map { _ in try LedgerEntryDraft(action: .note) }
        let appended = try ledger.appendBatch(batch, key: key)
        try expectEqual(appended.map(\.sequence), Array(3..<13), "batch sequence numbers")
        try expectEqual(try ledger.size(), 13, "size")
        var leaves: [Hash32] = []
        for sequence in 0..<UInt64(13) {
            let bytes = try ledger.entryBytes(at: sequence)
            try expectEqual(try ledger.entry(at: sequence).sequence, sequence, "entry \(sequence)'s number")
            leaves.append(Merkle.leafHash(bytes))
        }
        try expectEqual(appended.map(\.bytes), try (3..<UInt64(13)).map { try ledger.entryBytes(at: $0) },
                        "stored bytes of the batch")
        let bounds = try ledger.store.storedEntryBounds()
        try expect(bounds?.lowest == 0 && bounds?.highest == 12, "entry bounds \(String(describing: bounds))")
        try expectEqual(try ledger.store.nodeCount(), MerkleNodePosition.count(forSize: 13), "node count")
        try expectEqual(try ledger.root(), Merkle.root(leaves: leaves[...]), "root")
        // One checkpoint per append, for the size it reached, in order of size.
        let sizes = try ledger.store.checkpoints().map(\.size)
        try expectEqual(sizes, [1, 2, 3, 13], "checkpoint sizes")
        try expectEqual(try ledger.store.latestCheckpoint()?.size, 13, "latest checkpoint size")
        let note = try ledger.checkpoint(size: 13)
        let checkpoint = try Checkpoint.open(note?.bytes ?? [], keys: [key.identity.verifierKey])
        try expectEqual(checkpoint.root, Merkle.root(leaves: leaves[...]), "checkpoint root")
        try expect(try ledger.checkpoint(size: 5) == nil, "a checkpoint for a size no append reached")
        for index in [0, 6, 12] {
            try expect(try ledger.inclusionProof(index: UInt64(index), size: 13).verify(), "proof of \(index)")
        }
        try expect(try ledger.consistencyProof(from: 3, to: 13).verify(), "consistency 3 to 13")
        let report = try ledger.verify(batchSize: 4)
        try expect(report.passed, "verify: \(report.problems.map(\.message))")
        try expectEqual(report.checkpointsChecked, 4, "checkpoints verified")
    }

    static func checkRanges(_ harness: LedgerStoreHarness) throws {
        let ledger = try makeLedger(harness, key: try makeKey(), entries: 9)
        var seen: [UInt64] = []
        try ledger.store.entries(from: 3, limit: 4) { sequence, _ in seen.append(sequence) }
        try expectEqual(seen, [3, 4, 5, 6], "entries from 3, at most 4")
        seen = []
        try ledger.store.entries(from: 7, limit: 100) { sequence, _ in seen.append(sequence) }
        try expectEqual(seen, [7, 8], "entries from 7 to the end")
        seen = []
        try ledger.store.entries(from: 9, limit: 100) { sequence, _ in seen.append(sequence) }
        try expect(seen.isEmpty, "entries beyond the end: \(seen)")
        var positions: [UInt64] = []
        try ledger.store.nodes(in: 2..<9) { position, bytes in
            positions.append(position)
            if bytes.count != 32 { throw Finding(description: "node \(position) is \(bytes.count) bytes") }
        }
        try expectEqual(positions, Array(2..<9), "nodes in 2..<9")
        var exported: [[UInt8]] = []
        try ledger.export(from: 2, to: 5) { exported.append($0) }
        try expectEqual(exported, try (2..<UInt64(5)).map { try ledger.entryBytes(at: $0) }, "export 2..<5")
        try expectThrows("exceeds the ledger's 9 entries", "a proof beyond the tree") {
            _ = try ledger.inclusionProof(index: 1, size: 10)
        }
        try expectThrows("is outside the ledger's 9 entries", "an export beyond the tree") {
            try ledger.export(from: 0, to: 10) { _ in }
        }
        try expectThrows("no entry 9", "an entry beyond the tree") { _ = try ledger.entryBytes(at: 9) }
    }

    static func checkRollback(_ harness: LedgerStoreHarness) throws {
        let ledger = try makeLedger(harness, key: try makeKey(), entries: 1)
        struct Abort: Error {}
        do {
            try ledger.store.writeTransaction {
                try ledger.store.insertEntry(sequence: 1, bytes: Array("x".utf8))
                try ledger.store.insertCheckpoint(size: 2, note: Array("y".utf8))
                throw Abort()
            }
        } catch is Abort {}
        try expect(try ledger.store.entry(at: 1) == nil, "a rolled back entry is stored")
        try expect(try ledger.store.checkpoint(size: 2) == nil, "a rolled back checkpoint is stored")
        let value = try ledger.store.readTransaction { try ledger.store.entry(at: 0)?.count ?? 0 }
        try expect(value > 0, "a read transaction returns its body's value")
        try expect(try ledger.verify().passed, "the ledger after a rollback does not verify")
    }

    static func checkCheckpointsNeverReplaced(_ harness: LedgerStoreHarness) throws {
        let key = try makeKey()
        let ledger = try makeLedger(harness, key: key, entries: 2)
        let stored = try ledger.store.checkpoint(size: 2)
        // The same checkpoint again is accepted (Ed25519 signatures are deterministic).
        try expectEqual(try ledger.makeCheckpoint(key: key).bytes, stored ?? [], "checkpoint signed again")
        let forged = try Checkpoint(origin: origin, size: 2, root: Merkle.leafHash([1])).signed(by: key)
        try expectThrows("a different checkpoint is already stored for size 2", "a different checkpoint") {
            try ledger.store.writeTransaction {
                try ValidatedLedgerStore(ledger.store).insertCheckpoint(size: 2, note: forged.bytes)
            }
        }
        try expectEqual(try ledger.store.checkpoint(size: 2), stored, "the stored checkpoint")
    }

    static func checkReopen(_ harness: LedgerStoreHarness) throws {
        let key = try makeKey()
        let ledger = try makeLedger(harness, key: key, entries: 4)
        let reader = try ledger.store.makeReader()
        try ledger.append(LedgerEntryDraft(action: .note), key: key)
        let again = try reopened(ledger, harness)
        try expectEqual(try again.size(), 5, "size after reopening")
        try expectEqual(try reader.entry(at: 4), try ledger.entryBytes(at: 4), "a reader's view of a later commit")
        try expectEqual(try again.entryBytes(at: 4), try ledger.entryBytes(at: 4), "entry 4 after reopening")
        try again.append(LedgerEntryDraft(action: .note), key: key)
        try expect(try reopened(again, harness).verify().passed, "the reopened ledger does not verify")
    }
}
