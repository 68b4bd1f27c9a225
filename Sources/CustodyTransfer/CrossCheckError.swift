import CustodyBase

/// Why a receive, receipt import or consent import was refused by a cross-check against what the ledger already
/// records or the trust store holds: a forked or unproven log, or a signed field that contradicts a record. Nothing
/// was recorded; each is a failed check (exit 1).
public enum CrossCheckError: CustodyFailure, Equatable {
    /// One side of a recorded pair: `origin` at `size` with `root` (hex), and where it comes from (an entry and
    /// detail key, or the file being imported).
    public struct Side: Sendable, Equatable {
        /// The log's origin line.
        public var origin: String
        /// The tree size.
        public var size: UInt64
        /// The root, hex.
        public var root: String
        /// Where it comes from: `entry 4 (transferCheckpoint)`, `the transfer note`...
        public var source: String

        /// A side from its parts.
        public init(origin: String, size: UInt64, root: String, source: String) {
            self.origin = origin
            self.size = size
            self.root = root
            self.source = source
        }

        var text: String { "\(origin) at size \(size) (root \(root.prefix(16))..., \(source))" }
    }

    /// `new` and an `earlier` recorded checkpoint have one origin and size but different roots: the log forked.
    case forkedLog(what: String, new: Side, earlier: Side)
    /// A consistency proof between `new` and `earlier` was given and does not verify: the logs are inconsistent.
    case inconsistentCheckpoints(what: String, new: Side, earlier: Side)
    /// No consistency proof ties `new` to `earlier` (sizes differ), where the signer should have supplied one.
    case consistencyUnproven(what: String, new: Side, earlier: Side)
    /// A signed field contradicts a record: `field` is `value` in the file, `expected` in `record`.
    case fieldContradicts(what: String, field: String, value: String, record: String, expected: String)

    /// Every cross-check failure is a failed check.
    public var kind: FailureKind { .verification }

    /// One line: the file, both sides or values, and that nothing was recorded.
    public var description: String {
        switch self {
        case .forkedLog(let what, let new, let earlier):
            return "\(what): \(new.text) and \(earlier.text) are two roots for one size: a forked log; nothing was "
                + "recorded; ask the holder of \(new.origin) which log is genuine"
        case .inconsistentCheckpoints(let what, let new, let earlier):
            return "\(what): the consistency proof between \(new.text) and \(earlier.text) does not verify: the "
                + "log forked; nothing was recorded; ask the holder of \(new.origin) which log is genuine"
        case .consistencyUnproven(let what, let new, let earlier):
            return "\(what): no consistency proof ties \(new.text) to \(earlier.text); nothing was recorded; ask "
                + "the holder of \(new.origin) for a new transfer or receipt (it carries proofs from every "
                + "checkpoint it gave you) or whether its log forked"
        case .fieldContradicts(let what, let field, let value, let record, let expected):
            return "\(what): \(field) \(value) contradicts \(record), which has \(expected); nothing was recorded"
        }
    }
}
