import CustodyKit

extension FuzzTarget {
    /// Canonical JSON: whatever parses has one canonical encoding, which parses to the same value and encodes to
    /// itself again.
    static let canonicalJSON = FuzzTarget(
        name: "canonical-json", summary: "JSONValue.parse and canonicalBytes: parse, encode, parse again"
    ) { bytes in
        guard let value = try? JSONValue.parse(bytes) else { return }
        let canonical = value.canonicalBytes
        guard let again = try? JSONValue.parse(canonical) else {
            fuzzFailure("the canonical encoding of a parsed value does not parse")
        }
        if !sameValue(again, value) { fuzzFailure("a value changes when encoded canonically and parsed again") }
        if again.canonicalBytes != canonical { fuzzFailure("the canonical encoding is not a fixed point") }
    }

    /// Whether two values are the same JSON value: an integral double is written as the integer it equals
    /// (`1e3` as `1000`), so reads back as `.int`; SPEC 1.1 specifies integers only, so that is not a change.
    private static func sameValue(_ left: JSONValue, _ right: JSONValue) -> Bool {
        switch (left, right) {
        case (.int(let integer), .double(let real)), (.double(let real), .int(let integer)):
            return Double(integer) == real
        case (.array(let lefts), .array(let rights)):
            return lefts.count == rights.count && zip(lefts, rights).allSatisfy { sameValue($0, $1) }
        case (.object(let lefts), .object(let rights)):
            return lefts.count == rights.count
                && lefts.allSatisfy { key, value in rights[key].map { sameValue(value, $0) } ?? false }
        default:
            return left == right
        }
    }

    /// A ledger entry as stored: canonical JSON with exactly the entry's members; what parses is its own bytes.
    static let ledgerEntry = FuzzTarget(
        name: "ledger-entry", summary: "LedgerEntry.parseWithSigningInput: one stored ledger entry"
    ) { bytes in
        guard let (entry, signingInput) = try? LedgerEntry.parseWithSigningInput(bytes) else { return }
        if entry.bytes != bytes { fuzzFailure("a parsed entry does not keep the bytes it was parsed from") }
        if !signingInput.starts(with: LedgerEntry.signaturePrefix) {
            fuzzFailure("the signing input lacks the entry signature prefix")
        }
        _ = entry.leafHash
    }

    /// A line of `custody ledger append --batch`: the lenient draft form of an entry.
    static let ledgerBatchLine = FuzzTarget(
        name: "ledger-batch-line", summary: "LedgerEntryDraft(jsonLine:): one line of a ledger batch"
    ) { bytes in
        guard let draft = try? LedgerEntryDraft(jsonLine: bytes) else { return }
        _ = try? LedgerEntry.make(draft, sequence: 0, time: Timestamp(secondsSinceEpoch: 0), origin: "fuzz.example/l",
                                  previous: LedgerEntry.noPrevious, key: FuzzKeys.signing)
    }

    /// Preservation orders rebuilt from ledger entries: each line a batch draft, signed into an entry in turn.
    static let preservationOrders = FuzzTarget(
        name: "preservation-orders", summary: "PreservationOrder.orders(from:): orders from ledger entry lines"
    ) { bytes in
        var entries: [LedgerEntry] = []
        var previous = LedgerEntry.noPrevious
        for line in bytes.split(separator: 0x0A).prefix(64) {
            guard let draft = try? LedgerEntryDraft(jsonLine: Array(line)),
                  let entry = try? LedgerEntry.make(draft, sequence: UInt64(entries.count),
                                                    time: Timestamp(secondsSinceEpoch: 1_800_000_000),
                                                    origin: "fuzz.example/l", previous: previous,
                                                    key: FuzzKeys.signing) else { continue }
            previous = entry.leafHash
            entries.append(entry)
        }
        let (orders, _) = PreservationOrder.orders(from: entries)
        for order in orders { _ = order.expires.description }
        for line in bytes.split(separator: 0x0A).prefix(4) {
            let text = String(decoding: line, as: UTF8.self)
            _ = CivilDate(parsing: text)
            _ = PreservationOrder.parseDays(text)
        }
    }

    /// Inclusion and consistency proofs in their JSON form, verified.
    static let merkleProofs = FuzzTarget(
        name: "merkle-proofs", summary: "InclusionProof / ConsistencyProof (json:): proof files, then verify"
    ) { bytes in
        if let proof = try? InclusionProof(json: bytes) { _ = proof.verify() }
        if let proof = try? ConsistencyProof(json: bytes) { _ = proof.verify() }
    }

    /// A self-signed identity document (`NAME.identity.json`, `custody/identities.json` lines).
    static let identity = FuzzTarget(name: "identity", summary: "Identity.parse: an identity document") { bytes in
        _ = try? Identity.parse(bytes)
    }
}
