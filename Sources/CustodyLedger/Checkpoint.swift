import CustodyBase
import CustodyCrypto
import CustodyIO

/// A C2SP tlog-checkpoint body: origin, tree size, base64 root hash, optional extension lines.
public struct Checkpoint: Sendable, Equatable {
    /// The log's origin line (unique log name).
    public var origin: String
    /// The tree size the checkpoint commits to.
    public var size: UInt64
    /// The RFC 6962 root of the tree of `size` entries.
    public var root: Hash32
    /// Opaque, non-empty extension lines (not recommended; custody writes none).
    public var extensions: [String]

    /// A checkpoint body; the origin and the extension lines are checked.
    public init(origin: String, size: UInt64, root: Hash32, extensions: [String] = []) throws {
        try Checkpoint.validateOrigin(origin)
        guard extensions.allSatisfy({ !$0.isEmpty && !$0.contains("\n") }) else {
            throw LedgerError.invalid(.checkpointExtensions)
        }
        self.origin = origin
        self.size = size
        self.root = root
        self.extensions = extensions
    }

    /// An origin is non-empty and holds no spaces, `+` or control characters (C2SP's recommendation, enforced).
    public static func validateOrigin(_ origin: String) throws {
        guard !origin.isEmpty, origin.utf8.count <= 255,
            !origin.unicodeScalars.contains(where: {
                $0 == "+" || $0.properties.isWhitespace || Printable.isControl($0)
            })
        else {
            throw LedgerError.invalid(.origin(origin))
        }
    }

    /// The note text: `origin\nsize\nbase64(root)\n` and any extension lines.
    public var text: String {
        ([origin, String(size), Base64.encode(root.bytes)] + extensions).map { $0 + "\n" }.joined()
    }

    /// Parses a checkpoint note text.
    public init(text: String) throws {
        func bad(_ why: String) -> LedgerError { .invalid(.malformedCheckpoint(why)) }
        guard text.hasSuffix("\n") else { throw bad("text does not end with a newline") }
        let lines = text.dropLast().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count >= 3 else { throw bad("fewer than three lines") }
        guard let size = UInt64(lines[1]), String(size) == lines[1] else {
            throw bad("tree size '\(lines[1].prefix(40))' is not a decimal number without leading zeros")
        }
        guard size <= UInt64(Int64.max) else { throw bad("tree size \(size) is larger than 2^63 - 1") }
        guard let rootBytes = Base64.decode(lines[2]), let root = Hash32(rootBytes) else {
            throw bad("root hash is not base64 of 32 bytes")
        }
        guard lines[3...].allSatisfy({ !$0.isEmpty }) else { throw bad("empty extension line") }
        try self.init(origin: lines[0], size: size, root: root, extensions: Array(lines[3...]))
    }

    /// Signs the checkpoint as a signed note under the key's identity name.
    public func signed(by key: SigningKey) throws -> SignedNote {
        try SignedNote.sign(text: text, name: key.identity.name, key: key.privateKey)
    }

    /// Parses a signed checkpoint note and verifies it against `keys` (see `SignedNote.verify`).
    public static func open(_ note: [UInt8], keys: [NoteVerifierKey]) throws -> Checkpoint {
        let parsed = try SignedNote.parse(note)
        try parsed.verify(with: keys)
        return try Checkpoint(text: parsed.text)
    }
}

/// Reads the JSON form of a proof: the object, and its `proof` array of hex hashes (at most `limit`).
private struct ProofJSON {
    let members: JSONValue
    let source: String

    init(_ bytes: [UInt8], source: String) throws {
        do {
            members = try JSONValue.parse(bytes)
        } catch {
            throw LedgerError.invalid(.proofJSON(source: source, "\(error)"))
        }
        self.source = source
    }

    /// The hash held as hex by member `name`.
    func hash(_ name: String) -> Hash32? { members[name]?.stringValue.flatMap { Hash32(hex: $0) } }

    /// The non-negative integer held by member `name`.
    func count(_ name: String) -> UInt64? { members[name]?.intValue.flatMap { $0 >= 0 ? UInt64($0) : nil } }

    /// The `proof` array's hashes, nil when it is missing or longer than `limit`.
    func path(limit: Int) throws -> [Hash32]? {
        guard let elements = members["proof"]?.arrayValue, elements.count <= limit else { return nil }
        return try elements.map { element in
            guard let hash = element.stringValue.flatMap({ Hash32(hex: $0) }) else {
                throw LedgerError.invalid(.proofElement(source: source))
            }
            return hash
        }
    }

    func missing(_ members: String) -> LedgerError { .invalid(.proofShape(source: source, members: members)) }
}

/// An inclusion proof as custody writes it: `{"index","leafHash","proof","root","size"}` with hex hashes.
public struct InclusionProof: Sendable, Equatable {
    /// The entry's sequence number.
    public var index: UInt64
    /// The tree size the proof is for.
    public var size: UInt64
    /// The entry's RFC 6962 leaf hash.
    public var leafHash: Hash32
    /// The audit path, from the leaf up.
    public var proof: [Hash32]
    /// The root of the tree of `size` entries.
    public var root: Hash32

    /// A proof from its parts.
    public init(index: UInt64, size: UInt64, leafHash: Hash32, proof: [Hash32], root: Hash32) {
        self.index = index
        self.size = size
        self.leafHash = leafHash
        self.proof = proof
        self.root = root
    }

    /// The JSON form (`custody ledger prove --json`).
    public var json: JSONValue {
        .object([
            "index": .int(Int64(index)), "size": .int(Int64(size)), "leafHash": .string(leafHash.hex),
            "proof": .array(proof.map { .string($0.hex) }), "root": .string(root.hex),
        ])
    }

    /// Parses the JSON form (hex hashes; at most 64 proof elements); `source` names it in messages.
    public init(json bytes: [UInt8], source: String = "inclusion proof") throws {
        let value = try ProofJSON(bytes, source: source)
        guard let index = value.count("index"), let size = value.count("size"), let leaf = value.hash("leafHash"),
              let root = value.hash("root"), let proof = try value.path(limit: 64) else {
            throw value.missing("an inclusion proof {index,size,leafHash,proof,root}")
        }
        self.init(index: index, size: size, leafHash: leaf, proof: proof, root: root)
    }

    /// Whether the proof takes its leaf hash to its root.
    public func verify() -> Bool {
        MerkleProofs.verifyInclusion(
            leafHash: leafHash.bytes, index: index, size: size, proof: proof.map(\.bytes),
            root: root.bytes)
    }
}

/// A consistency proof as custody writes it: `{"from","fromRoot","proof","to","toRoot"}` with hex hashes.
public struct ConsistencyProof: Sendable, Equatable {
    /// The older tree size.
    public var from: UInt64
    /// The newer tree size.
    public var to: UInt64
    /// The root of the tree of `from` entries.
    public var fromRoot: Hash32
    /// The root of the tree of `to` entries.
    public var toRoot: Hash32
    /// The RFC 9162 consistency path.
    public var proof: [Hash32]

    /// A proof from its parts.
    public init(from: UInt64, to: UInt64, fromRoot: Hash32, toRoot: Hash32, proof: [Hash32]) {
        self.from = from
        self.to = to
        self.fromRoot = fromRoot
        self.toRoot = toRoot
        self.proof = proof
    }

    /// The JSON form (`custody ledger consistency --json`).
    public var json: JSONValue {
        .object([
            "from": .int(Int64(from)), "to": .int(Int64(to)), "fromRoot": .string(fromRoot.hex),
            "toRoot": .string(toRoot.hex), "proof": .array(proof.map { .string($0.hex) }),
        ])
    }

    /// Parses the JSON form (hex hashes; at most 128 proof elements); `source` names it in messages.
    public init(json bytes: [UInt8], source: String = "consistency proof") throws {
        let value = try ProofJSON(bytes, source: source)
        guard let from = value.count("from"), let to = value.count("to"), let fromRoot = value.hash("fromRoot"),
              let toRoot = value.hash("toRoot"), let proof = try value.path(limit: 128) else {
            throw value.missing("a consistency proof {from,to,fromRoot,toRoot,proof}")
        }
        self.init(from: from, to: to, fromRoot: fromRoot, toRoot: toRoot, proof: proof)
    }

    /// Whether the proof shows the tree at `to` extends the tree at `from`.
    public func verify() -> Bool {
        MerkleProofs.verifyConsistency(
            fromSize: from, toSize: to, fromRoot: fromRoot.bytes, toRoot: toRoot.bytes,
            proof: proof.map(\.bytes))
    }
}
