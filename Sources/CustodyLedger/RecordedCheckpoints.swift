import CustodyBase
import CustodyCrypto

/// A checkpoint of a log (usually another agency's) that a ledger entry records in its details:
/// `senderCheckpoint` and `transferCheckpoint` (a `receive` entry) or `receiverCheckpoint` (a `receipt` entry), each
/// `{"origin","root","size"}`. Two recorded checkpoints of one origin and one size with different roots prove that
/// log forked.
public struct RecordedCheckpoint: Sendable, Equatable {
    /// The detail keys that hold recorded checkpoints.
    public static let fields = ["senderCheckpoint", "transferCheckpoint", "receiverCheckpoint"]

    /// The log's origin line.
    public var origin: String
    /// The tree size.
    public var size: UInt64
    /// The root hash.
    public var root: Hash32
    /// The entry that records it.
    public var entry: UInt64
    /// The detail key it is recorded under.
    public var field: String

    /// A recorded checkpoint from its parts.
    public init(origin: String, size: UInt64, root: Hash32, entry: UInt64, field: String) {
        self.origin = origin
        self.size = size
        self.root = root
        self.entry = entry
        self.field = field
    }

    /// The checkpoint recorded under `field` in `details` of entry `entry`, if it is well formed.
    public init?(_ details: [String: JSONValue], field: String, entry: UInt64) {
        guard let value = details[field], let origin = value["origin"]?.stringValue,
              let size = value["size"]?.intValue, size >= 0,
              let hex = value["root"]?.stringValue, let bytes = Hex.decode(hex), let root = Hash32(bytes) else {
            return nil
        }
        self.init(origin: origin, size: UInt64(size), root: root, entry: entry, field: field)
    }

    /// Every checkpoint `entry` records.
    public static func recorded(in entry: LedgerEntry) -> [RecordedCheckpoint] {
        fields.compactMap { RecordedCheckpoint(entry.details, field: $0, entry: entry.sequence) }
    }

    /// `ORIGIN at size N (root HEX...) recorded by entry E (FIELD)`.
    public var description: String {
        "\(origin) at size \(size) (root \(root.hex.prefix(16))...) recorded by entry \(entry) (\(field))"
    }
}

/// Finds, entry by entry, recorded checkpoints that fork: one origin and size, two roots.
public struct RecordedCheckpointBook: Sendable {
    private var seen: [String: [UInt64: RecordedCheckpoint]] = [:]

    /// An empty book.
    public init() {}

    /// Adds `checkpoint`; returns the one recorded earlier for its origin and size with another root, if any.
    public mutating func add(_ checkpoint: RecordedCheckpoint) -> RecordedCheckpoint? {
        if let earlier = seen[checkpoint.origin]?[checkpoint.size] {
            return earlier.root == checkpoint.root ? nil : earlier
        }
        seen[checkpoint.origin, default: [:]][checkpoint.size] = checkpoint
        return nil
    }
}
