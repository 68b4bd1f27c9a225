import CustodyBase
import CustodyCrypto

extension BundleLayout {
    /// The folder of a disclosure's own tag files (SPEC.md section 5.14).
    public static let disclosureDirectory = "custody/disclosure"
    /// The discloser's signed statement.
    public static let disclosureStatement = "custody/disclosure/statement.txt"
    /// The disclosed item records, verbatim, one per line, ascending by number.
    public static let disclosureRecords = "custody/disclosure/records.jsonl"
    /// One inclusion proof per disclosed record into the sealed items tree.
    public static let disclosureRecordProofs = "custody/disclosure/record-proofs.json"
    /// Per item disclosed in ranges: the chunks held and each chunk's proof into the item's tree digest.
    public static let disclosureChunks = "custody/disclosure/chunks.json"
    /// The discloser's `disclose` ledger entry.
    public static let disclosureEntry = "custody/disclosure/ledger-entry.jsonl"
    /// That entry's inclusion proof.
    public static let disclosureEntryProof = "custody/disclosure/ledger-proof.json"
    /// The discloser's checkpoint the proof leads to.
    public static let disclosureCheckpoint = "custody/disclosure/checkpoint.txt"
}

/// Chunk arithmetic shared by the discloser and the verifier.
public enum DisclosureChunks {
    /// The chunk indexes covering `ranges` (inclusive content byte ranges) at `chunkSize`, ascending, each once.
    public static func covering(_ ranges: [ClosedRange<UInt64>], chunkSize: Int) -> [UInt64] {
        var chunks: [UInt64] = []
        for range in ranges {
            let first = range.lowerBound / UInt64(chunkSize), last = range.upperBound / UInt64(chunkSize)
            for chunk in first...last where chunk > (chunks.last ?? 0) || chunks.isEmpty { chunks.append(chunk) }
        }
        return chunks
    }

    /// The length of chunk `index` of content of `size` bytes.
    public static func length(of index: UInt64, size: UInt64, chunkSize: Int) -> Int {
        Int(min(UInt64(chunkSize), size - index * UInt64(chunkSize)))
    }

    /// Chunk indexes as runs `[[A,B],...]` (inclusive) for JSON.
    public static func runs(_ chunks: [UInt64]) -> JSONValue {
        var runs: [(UInt64, UInt64)] = []
        for chunk in chunks {
            if let last = runs.last, last.1 + 1 == chunk { runs[runs.count - 1].1 = chunk } else {
                runs.append((chunk, chunk))
            }
        }
        return .array(runs.map { .array([.int(Int64($0.0)), .int(Int64($0.1))]) })
    }
}
