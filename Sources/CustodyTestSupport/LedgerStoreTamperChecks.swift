import CustodyBase
import CustodyCrypto
import CustodyLedger

extension LedgerStoreConformance {
    /// What `Ledger` must refuse or report, whatever the store: each tampering written through the backend's
    /// `LedgerStoreTampering` hook, with the outcome custody gives.
    static let tamperChecks: [Check] = [
        ("an edited entry is named", checkEditedEntry),
        ("a deleted entry is named", checkDeletedEntry),
        ("swapped entries are named", checkSwappedEntries),
        ("an inserted entry is named", checkInsertedEntry),
        ("truncation with the head rewritten is caught by the checkpoints", checkTruncationWithHeadRewritten),
        ("truncation is named and never extended", checkTruncation),
        ("numbers out of range are refused as damage", checkOutOfRangeNumbers),
        ("an origin custody does not write is refused", checkForeignOrigin),
        ("removed checkpoints are named", checkRemovedCheckpoints),
        ("a forged checkpoint is named", checkForgedCheckpoint),
        ("a damaged tree node is named", checkDamagedNode),
    ]

    /// Verifies the reopened ledger (in batches of 3) and expects it to fail with `firstBad` as first bad entry.
    static func expectVerifyFails(
        _ ledger: Ledger, _ harness: LedgerStoreHarness, firstBad: UInt64?
    ) throws -> LedgerVerificationReport {
        let report = try reopened(ledger, harness).verify(batchSize: 3)
        try expect(!report.passed, "verify passed")
        try expect(report.firstBadEntry == firstBad,
                   "first bad entry \(String(describing: report.firstBadEntry)), expected "
                   + "\(String(describing: firstBad)): \(report.problems.map(\.message))")
        return report
    }

    static func expectProblem(_ report: LedgerVerificationReport, _ fragment: String, first: Bool = false) throws {
        let messages = report.problems.map(\.message)
        let found = first ? messages.first?.contains(fragment) == true : messages.contains { $0.contains(fragment) }
        try expect(found, "no problem\(first ? " first" : "") saying '\(fragment)': \(messages)")
    }

    static func checkEditedEntry(_ harness: LedgerStoreHarness) throws {
        let ledger = try makeLedger(harness, key: try makeKey(), entries: 8)
        let edited = String(decoding: try ledger.entryBytes(at: 5), as: UTF8.self)
            .replacing("item-5", with: "item-9")
        try harness.tampering(with: ledger.store).overwriteEntry(5, with: Array(edited.utf8))
        try expectProblem(try expectVerifyFails(ledger, harness, firstBad: 5), "entry 5: signature does not verify")
    }

    static func checkDeletedEntry(_ harness: LedgerStoreHarness) throws {
        let ledger = try makeLedger(harness, key: try makeKey(), entries: 8)
        try harness.tampering(with: ledger.store).deleteEntries(3...3)
        try expectProblem(try expectVerifyFails(ledger, harness, firstBad: 3), "entry 3 is missing", first: true)
        try expectThrows("entry 3 is missing", "export over the gap") { try ledger.export { _ in } }
    }

    static func checkSwappedEntries(_ harness: LedgerStoreHarness) throws {
        let ledger = try makeLedger(harness, key: try makeKey(), entries: 8)
        let tampering = try harness.tampering(with: ledger.store)
        try tampering.renumberEntry(2, to: 100)
        try tampering.renumberEntry(4, to: 2)
        try tampering.renumberEntry(100, to: 4)
        try expectProblem(
            try expectVerifyFails(ledger, harness, firstBad: 2), "entry 2: holds sequence number 4", first: true)
    }

    static func checkInsertedEntry(_ harness: LedgerStoreHarness) throws {
        let ledger = try makeLedger(harness, key: try makeKey(), entries: 6)
        let copy = try ledger.entryBytes(at: 1)
        let tampering = try harness.tampering(with: ledger.store)
        for sequence in stride(from: Int64(5), through: 3, by: -1) {
            try tampering.renumberEntry(sequence, to: sequence + 1)
        }
        try tampering.insertEntry(3, bytes: copy)
        try expectProblem(try expectVerifyFails(ledger, harness, firstBad: 3), "entry 3", first: true)
    }

    static func checkTruncationWithHeadRewritten(_ harness: LedgerStoreHarness) throws {
        // The last three entries removed, the head and the tree rewritten to match: only checkpoints remain.
        let ledger = try makeLedger(harness, key: try makeKey(), entries: 8)
        let leaf = Merkle.leafHash(try ledger.entryBytes(at: 4))
        let tampering = try harness.tampering(with: ledger.store)
        try tampering.deleteEntries(5...7)
        try tampering.deleteNodes(from: MerkleNodePosition.count(forSize: 5))
        try tampering.overwriteHead(size: 5, lastLeaf: leaf.bytes)
        let report = try expectVerifyFails(ledger, harness, firstBad: 5)
        try expectProblem(report, "covers 8 entries but the ledger holds 5")
        try expect(!report.inconsistentCheckpoints.isEmpty, "no inconsistent checkpoints named")
    }

    static func checkTruncation(_ harness: LedgerStoreHarness) throws {
        let key = try makeKey()
        let ledger = try makeLedger(harness, key: key, entries: 8)
        try harness.tampering(with: ledger.store).deleteEntries(7...7)
        _ = try expectVerifyFails(ledger, harness, firstBad: 7)
        try expectThrows("damaged", "an append to a truncated ledger") {
            try reopened(ledger, harness).append(LedgerEntryDraft(action: .note), key: key)
        }
        let bounds = try ledger.store.storedEntryBounds()
        try expect(bounds?.lowest == 0 && bounds?.highest == 6,
                   "the refused append wrote entries: \(String(describing: bounds))")
    }

    /// Numbers no tree arithmetic could take (they trapped once): verify, append and export stop with
    /// "damaged ... out of range" or "head record missing or invalid" instead.
    static func checkOutOfRangeNumbers(_ harness: LedgerStoreHarness) throws {
        let tamperings: [(what: String, touchesEntries: Bool, (LedgerStoreTampering, Ledger) throws -> Void)] = [
            ("entry 2^63 - 1", true, { try $0.insertEntry(Int64.max, bytes: try $1.entryBytes(at: 0)) }),
            ("entry -1", true, { try $0.insertEntry(-1, bytes: try $1.entryBytes(at: 0)) }),
            ("checkpoint -1", false, {
                try $0.insertCheckpoint(size: -1, note: try $1.store.checkpoint(size: 1) ?? [])
            }),
            ("checkpoint 2^48 + 1", false, {
                try $0.insertCheckpoint(size: 1 << 48 + 1, note: try $1.store.checkpoint(size: 1) ?? [])
            }),
            ("head 2^64 - 1", true, {
                try $0.overwriteHead(size: UInt64.max, lastLeaf: Merkle.leafHash(try $1.entryBytes(at: 2)).bytes)
            }),
        ]
        for (what, touchesEntries, tamper) in tamperings {
            let key = try makeKey()
            let ledger = try makeLedger(harness, key: key, entries: 3)
            try tamper(try harness.tampering(with: ledger.store), ledger)
            let opened = try reopened(ledger, harness)
            try expectThrows("damaged", "verify with \(what)") { _ = try opened.verify(batchSize: 2) }
            if touchesEntries {
                try expectThrows("damaged", "append with \(what)") {
                    try opened.append(LedgerEntryDraft(action: .note), key: key)
                }
            }
        }
    }

    static func checkForeignOrigin(_ harness: LedgerStoreHarness) throws {
        for origin in [[UInt8](repeating: 0, count: 8_000_000), Array("has space".utf8), [0xff, 0xfe]] {
            let ledger = try makeLedger(harness, key: try makeKey(), entries: 1)
            try harness.tampering(with: ledger.store).overwriteOrigin(origin)
            try expectThrows("origin or owner record", "opening with origin of \(origin.count) bytes") {
                _ = try reopened(ledger, harness)
            }
        }
    }

    static func checkRemovedCheckpoints(_ harness: LedgerStoreHarness) throws {
        let ledger = try makeLedger(harness, key: try makeKey(), entries: 4)
        try harness.tampering(with: ledger.store).deleteCheckpoints(size: nil)
        try expectProblem(try expectVerifyFails(ledger, harness, firstBad: nil),
                          "no stored checkpoint for the head size 4")
    }

    static func checkForgedCheckpoint(_ harness: LedgerStoreHarness) throws {
        let ledger = try makeLedger(harness, key: try makeKey(), entries: 4)
        let root = try ledger.root(size: 2)
        let forged = try Checkpoint(origin: origin, size: 2, root: root).signed(by: try makeKey())
        let tampering = try harness.tampering(with: ledger.store)
        try tampering.deleteCheckpoints(size: 2)
        try tampering.insertCheckpoint(size: 2, note: forged.bytes)
        let report = try expectVerifyFails(ledger, harness, firstBad: nil)
        try expect(report.problems.contains { $0.kind == .checkpoint && $0.checkpoints == [2] },
                   "the forged checkpoint is not named: \(report.problems.map(\.message))")
        try expectProblem(report, "stored checkpoint 2")
    }

    static func checkDamagedNode(_ harness: LedgerStoreHarness) throws {
        let ledger = try makeLedger(harness, key: try makeKey(), entries: 4)
        try harness.tampering(with: ledger.store).overwriteNode(at: 0, with: [0])
        try expectProblem(try expectVerifyFails(ledger, harness, firstBad: nil), "stored tree node 0")
        try expectThrows("tree node 0 is not 32 bytes", "a proof through the damaged node") {
            _ = try reopened(ledger, harness).inclusionProof(index: 0)
        }
    }
}
