import CustodyAge
import CustodyBase
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger

extension BundleSealer {
    /// The seal entry's details: the bundle, its item count, the case and what was skipped.
    static func sealDetails(bundleID: String, count: Int, skipped: [String],
                            options: SealOptions) -> [String: JSONValue] {
        var details: [String: JSONValue] = [
            "bundle": .string(bundleID), "items": .int(Int64(count)),
            "case": .string(options.caseNumber ?? options.conditions.caseID ?? ""),
        ]
        if !skipped.isEmpty { details["skipped"] = .array(skipped.map { .string($0) }) }
        return details
    }

    /// Appends the seal's ledger entries exactly once across interruptions: the ledger size is journaled before
    /// the append and the sequence numbers after it; a resumed seal reuses entries already there (found by
    /// their `bundle` detail from the journaled size on) instead of appending them again.
    static func appendOnce(_ drafts: [LedgerEntryDraft], bundleID: String, ledger: Ledger, key: SigningKey,
                                   journal: SealJournal, options: SealOptions) throws -> [LedgerEntry] {
        func ours(_ entry: LedgerEntry) -> Bool { entry.details["bundle"] == .string(bundleID) }
        if let sequences = journal.snapshot.ledgerEntries {
            let entries = try sequences.map { try ledger.entry(at: $0) }
            guard entries.count == drafts.count, entries.allSatisfy(ours) else {
                throw SealError.journaledEntriesNotOurs(journalPath: journal.path, sequences: sequences,
                                                        bundleID: bundleID)
            }
            return entries
        }
        let from: UInt64
        if let recorded = journal.snapshot.ledgerFrom {
            from = recorded
        } else {
            from = try ledger.size()
            try journal.update { $0.ledgerFrom = from }
        }
        let size = try ledger.size()
        // A ledger only grows: a journaled size beyond it means the journal (or the ledger) was altered, and
        // searching from there would miss entries already appended and append them twice.
        guard from <= size else {
            let location = ledger.store.location
            throw SealError.ledgerShorterThanJournal(journalPath: journal.path, journaled: from, ledger: location,
                                                     size: size)
        }
        var found: [LedgerEntry] = []
        if from < size {
            for sequence in from..<size {
                let entry = try ledger.entry(at: sequence)
                if ours(entry) { found.append(entry) }
            }
        }
        let entries: [LedgerEntry]
        if found.isEmpty {
            entries = try ledger.appendBatch(drafts, key: key)
        } else if found.count == drafts.count {
            entries = found
            let numbers = found.map { String($0.sequence) }.joined(separator: ", ")
            options.notice?("the ledger already holds this seal's entries \(numbers) (appended before the "
                + "interruption): not appending them again")
        } else {
            throw SealError.ledgerEntriesIncomplete(ledger: ledger.store.location, found: found.count,
                                                    bundleID: bundleID, from: from, expected: drafts.count)
        }
        try journal.update { $0.ledgerEntries = entries.map(\.sequence) }
        return entries
    }

    /// Signs a checkpoint after `entries` and writes the ledger tag files (5.6): the excerpt, the entries'
    /// inclusion proofs at the checkpoint's size, the checkpoint and the signer's identity. Returns the size.
    static func writeLedgerFiles(_ entries: [LedgerEntry], ledger: Ledger, key: SigningKey,
                                 writer: BundleWriter) throws -> UInt64 {
        let checkpoint = try ledger.makeCheckpoint(key: key)
        let checkpointBody = try Checkpoint.open(checkpoint.bytes, keys: [key.identity.verifierKey])
        var excerpt: [UInt8] = []
        var proofs: [JSONValue] = []
        for entry in entries {
            excerpt += entry.bytes + [10]
            proofs.append(try ledger.inclusionProof(index: entry.sequence, size: checkpointBody.size).json)
        }
        try writer.writeTagFile(BundleLayout.ledgerExcerpt, excerpt)
        try writer.writeTagFile(BundleLayout.proofs, JSONValue.array(proofs).canonicalBytes + [10])
        try writer.writeTagFile(BundleLayout.checkpoint, checkpoint.bytes)
        try writer.writeTagFile(BundleLayout.identities, try key.identity.document(signedWith: key.privateKey))
        return checkpointBody.size
    }

    /// The ledger subject naming an item by its identifier and digests.
    static func subject(for record: ItemRecord) throws -> LedgerSubject {
        var attributes: [String: JSONValue] = [
            "tree": .string(record.tree), "chunk-size": .int(Int64(record.chunkSize)), "size": .int(Int64(record.size)),
        ]
        for (name, hex) in record.digests { attributes[name] = .string(hex) }
        return try LedgerSubject(id: record.id, attributes: attributes)
    }

    /// The acquire entry's details: the item, its source, times, tool and bad ranges.
    static func acquireDetails(_ record: ItemRecord, bundleID: String) -> [String: JSONValue] {
        var details: [String: JSONValue] = [
            "bundle": .string(bundleID), "item": .int(Int64(record.number)), "name": .string(record.originalName),
            "source": .object(record.source), "started": .string(record.acquisitionStart),
            "finished": .string(record.acquisitionEnd), "tool": .string(record.tool),
        ]
        if !record.badRanges.isEmpty { details["badRanges"] = .array(record.badRanges) }
        return details
    }
}
