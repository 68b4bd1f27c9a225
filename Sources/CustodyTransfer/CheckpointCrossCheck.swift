import CustodyBase
import CustodyCrypto
import CustodyLedger

/// A consistency proof a signed statement carries, from an earlier size of the signer's log to the size of the
/// checkpoint the statement carries: the field `consistency FROM HEX,HEX,...` (RFC 9162 2.1.4 path, hex), or
/// `consistency N` alone for the checkpoint's own size (which marks a statement made by a signer that supplies
/// proofs).
public struct CarriedProof: Sendable, Equatable {
    /// The most hashes a path may have (a tree of 2^64 entries needs fewer).
    public static let pathLimit = 128

    /// The earlier tree size.
    public var from: UInt64
    /// The consistency path from `from` to the carried checkpoint's size.
    public var path: [Hash32]

    /// A proof from its parts.
    public init(from: UInt64, path: [Hash32]) {
        self.from = from
        self.path = path
    }

    /// Parses a field value; nil when malformed.
    public init?(field: String) {
        let parts = field.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count <= 2, let from = UInt64(parts[0]), from >= 1 else { return nil }
        var path: [Hash32] = []
        if parts.count == 2 {
            let hashes = parts[1].split(separator: ",", omittingEmptySubsequences: false)
            guard hashes.count <= CarriedProof.pathLimit else { return nil }
            for hex in hashes {
                guard hex.utf8.count == 64, let bytes = Hex.decode(String(hex)), let hash = Hash32(bytes) else {
                    return nil
                }
                path.append(hash)
            }
        }
        self.init(from: from, path: path)
    }

    /// The field value.
    public var field: String {
        path.isEmpty ? String(from) : "\(from) " + path.map(\.hex).joined(separator: ",")
    }

    var json: JSONValue { .object(["from": .int(Int64(from)), "proof": .array(path.map { .string($0.hex) })]) }

    init?(json: JSONValue) {
        guard let from = json["from"]?.intValue, from >= 1, case .array(let items)? = json["proof"] else { return nil }
        var path: [Hash32] = []
        for item in items {
            guard let hex = item.stringValue, let bytes = Hex.decode(hex), let hash = Hash32(bytes) else { return nil }
            path.append(hash)
        }
        self.init(from: UInt64(from), path: path)
    }
}

/// A checkpoint with the proofs that tie earlier sizes of its log to it.
struct ProofAnchor {
    enum Outcome { case proven, missing, failed }

    var origin: String
    var size: UInt64
    var root: Hash32
    var proofs: [UInt64: [Hash32]]

    init(_ checkpoint: Checkpoint, proofs: [CarriedProof]) {
        origin = checkpoint.origin
        size = checkpoint.size
        root = checkpoint.root
        self.proofs = Dictionary(proofs.map { ($0.from, $0.path) }, uniquingKeysWith: { first, _ in first })
    }

    /// Whether the tree of `size` entries with `root` is a prefix of this checkpoint's tree.
    func prove(size other: UInt64, root otherRoot: Hash32) -> Outcome {
        if other == size { return otherRoot == root ? .proven : .failed }
        guard other < size, let path = proofs[other] else { return .missing }
        let valid = MerkleProofs.verifyConsistency(fromSize: other, toSize: size, fromRoot: otherRoot.bytes,
                                                   toRoot: root.bytes, proof: path.map(\.bytes))
        return valid ? .proven : .failed
    }

    /// Stored in a `receive` or `receipt` entry's details as `consistencyProofs`, so later checks can use it.
    var json: JSONValue {
        .object(["origin": .string(origin), "size": .int(Int64(size)), "root": .string(root.hex),
                 "proofs": .array(proofs.keys.sorted().map { CarriedProof(from: $0, path: proofs[$0]!).json })])
    }

    init?(json: JSONValue) {
        guard let origin = json["origin"]?.stringValue, let size = json["size"]?.intValue, size >= 0,
              let hex = json["root"]?.stringValue, let bytes = Hex.decode(hex), let root = Hash32(bytes),
              case .array(let items)? = json["proofs"] else { return nil }
        self.origin = origin
        self.size = UInt64(size)
        self.root = root
        var proofs: [UInt64: [Hash32]] = [:]
        for item in items {
            guard let proof = CarriedProof(json: item) else { return nil }
            proofs[proof.from] = proof.path
        }
        self.proofs = proofs
    }
}

/// The cross-check of checkpoints of another log against those a ledger already records (SPEC 6.6): one origin and
/// size must have one root, and checkpoints of different sizes must be tied by a consistency proof.
enum CheckpointCrossCheck {
    /// The detail key under which a `receive` or `receipt` entry stores the proofs it was given.
    static let proofsField = "consistencyProofs"

    /// A recorded checkpoint, and whether its log's holder handed it over itself (so it must supply proofs from
    /// it): a transfer or receiver checkpoint, or a bundle's checkpoint of the log the transfer came from.
    struct Known {
        var checkpoint: RecordedCheckpoint
        var demandsProof: Bool
    }

    /// What a ledger's entries record: checkpoints and stored proofs.
    struct History {
        var known: [Known] = []
        var anchors: [ProofAnchor] = []

        init(_ entries: [LedgerEntry]) {
            for entry in entries {
                let recorded = RecordedCheckpoint.recorded(in: entry)
                let transferOrigin = recorded.first { $0.field == "transferCheckpoint" }?.origin
                for checkpoint in recorded {
                    let handed = checkpoint.field != "senderCheckpoint" || checkpoint.origin == transferOrigin
                    known.append(Known(checkpoint: checkpoint, demandsProof: handed))
                }
                if let json = entry.details[CheckpointCrossCheck.proofsField], let anchor = ProofAnchor(json: json) {
                    anchors.append(anchor)
                }
            }
        }
    }

    static func side(_ checkpoint: RecordedCheckpoint) -> CrossCheckError.Side {
        CrossCheckError.Side(origin: checkpoint.origin, size: checkpoint.size, root: checkpoint.root.hex,
                             source: "entry \(checkpoint.entry) (\(checkpoint.field))")
    }

    /// Checks each of `new` (checkpoints about to be recorded, their `field` naming where they come from) against
    /// `history` and against `anchor` (the checkpoint the signed statement carries, with its proofs; nil proofs
    /// for a statement made before proofs were carried). Throws on a fork, a proof that does not verify, or a
    /// missing proof the signer should have supplied; returns warnings for pairs nobody can prove.
    static func check(_ new: [(checkpoint: Checkpoint, source: String)], anchor: ProofAnchor?, supplied: Bool,
                      history: History, what: String) throws -> [String] {
        var warnings: [String] = []
        for (checkpoint, source) in new {
            let mine = CrossCheckError.Side(origin: checkpoint.origin, size: checkpoint.size,
                                            root: checkpoint.root.hex, source: source)
            var anchors = history.anchors.filter { $0.origin == checkpoint.origin }
            if let anchor, anchor.origin == checkpoint.origin, supplied {
                let carried = CrossCheckError.Side(origin: anchor.origin, size: anchor.size, root: anchor.root.hex,
                                                   source: "the checkpoint it carries")
                switch anchor.prove(size: checkpoint.size, root: checkpoint.root) {
                case .proven: break
                case .failed: throw CrossCheckError.inconsistentCheckpoints(what: what, new: mine, earlier: carried)
                case .missing: throw CrossCheckError.consistencyUnproven(what: what, new: mine, earlier: carried)
                }
                anchors.insert(anchor, at: 0)
            }
            for known in history.known where known.checkpoint.origin == checkpoint.origin {
                let earlier = known.checkpoint
                if earlier.size == checkpoint.size {
                    guard earlier.root == checkpoint.root else {
                        throw CrossCheckError.forkedLog(what: what, new: mine, earlier: side(earlier))
                    }
                    continue
                }
                var proven = false
                for candidate in anchors {
                    let outcomes = (candidate.prove(size: checkpoint.size, root: checkpoint.root),
                                    candidate.prove(size: earlier.size, root: earlier.root))
                    if outcomes.0 == .failed || outcomes.1 == .failed {
                        throw CrossCheckError.inconsistentCheckpoints(what: what, new: mine, earlier: side(earlier))
                    }
                    if outcomes.0 == .proven && outcomes.1 == .proven {
                        proven = true
                        break
                    }
                }
                if proven { continue }
                if known.demandsProof, supplied, anchor?.origin == checkpoint.origin {
                    throw CrossCheckError.consistencyUnproven(what: what, new: mine, earlier: side(earlier))
                }
                warnings.append("\(mine.text) is not proven consistent with \(side(earlier).text): "
                    + (supplied && anchor?.origin == checkpoint.origin
                       ? "its log's holder did not give it to this ledger" : "the signer supplied no proofs"))
            }
        }
        return warnings
    }

    /// The sizes of this ledger's checkpoints it gave the party with `key` or `ageRecipient` before: after each
    /// transfer-out to it, the checkpoint of each bundle sent (its `bundleCheckpoint` detail; for entries made
    /// before that detail, the size after the bundle's last sealing entry), and after each receive from it (its
    /// receipt's checkpoint).
    static func sizesGiven(_ entries: [LedgerEntry], origin: String, key: NoteVerifierKey?,
                           ageRecipient: String?) -> Set<UInt64> {
        var sealed: [String: UInt64] = [:]
        var sizes = Set<UInt64>()
        for entry in entries {
            if let bundle = entry.details["bundle"]?.stringValue, entry.action == .acquire || entry.action == .seal {
                sealed[bundle] = entry.sequence + 1
            }
            switch entry.action {
            case .transferOut:
                let recipient = entry.details["recipient"]
                let toKey = key != nil && recipient?["verifierKey"]?.stringValue == key?.encoded
                let toRecipient = ageRecipient != nil && recipient?["ageRecipient"]?.stringValue == ageRecipient
                guard toKey || toRecipient else { continue }
                sizes.insert(entry.sequence + 1)
                if let sent = entry.details["bundleCheckpoint"] {
                    if sent["origin"]?.stringValue == origin, let size = sent["size"]?.intValue, size > 0 {
                        sizes.insert(UInt64(size))
                    }
                } else {
                    for subject in entry.subjects { if let size = sealed[subject.id] { sizes.insert(size) } }
                }
            case .receive:
                if let key, entry.details["sender"]?["verifierKey"]?.stringValue == key.encoded {
                    sizes.insert(entry.sequence + 1)
                }
            default:
                continue
            }
        }
        return sizes
    }

    /// Consistency proofs from each of `sizes` (and from `size` itself, the marker) to `size`, in size order.
    static func proofs(_ ledger: Ledger, from sizes: Set<UInt64>, to size: UInt64) throws -> [CarriedProof] {
        try sizes.union([size]).filter { $0 >= 1 && $0 <= size }.sorted().map {
            CarriedProof(from: $0, path: $0 == size ? [] : try ledger.consistencyProof(from: $0, to: size).proof)
        }
    }
}

extension CarriedProof {
    /// The `consistency` fields of a statement, or a verification error naming the statement and the bad field.
    static func parse(_ statement: Statement, header: String) throws -> [CarriedProof] {
        try statement.values("consistency").map {
            guard let proof = CarriedProof(field: $0) else {
                throw TransferError.statementMalformed(header: header, reason: "consistency '\($0.prefix(40))' is "
                    + "not a size and at most \(CarriedProof.pathLimit) comma-separated hashes")
            }
            return proof
        }
    }
}
