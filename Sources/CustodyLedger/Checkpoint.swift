import CustodyBase
import CustodyCrypto
import CustodyIO

/// A C2SP tlog-checkpoint body: origin, tree size, base64 root hash, optional extension lines.
public struct Checkpoint: Sendable, Equatable {
    public var origin: String
    public var size: UInt64
    public var root: Hash32
    /// Opaque, non-empty extension lines (not recommended; custody writes none).
    public var extensions: [String]

    public init(origin: String, size: UInt64, root: Hash32, extensions: [String] = []) throws {
        try Checkpoint.validateOrigin(origin)
        guard extensions.allSatisfy({ !$0.isEmpty && !$0.contains("\n") }) else {
            throw CustodyError.operational("checkpoint extension lines must be non-empty single lines")
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
            throw CustodyError.operational(
                "origin '\(origin)' must be 1 to 255 bytes without spaces, '+' or control "
                    + "characters (for example police.example/custody)")
        }
    }

    /// The note text: `origin\nsize\nbase64(root)\n` and any extension lines.
    public var text: String {
        ([origin, String(size), Base64.encode(root.bytes)] + extensions).map { $0 + "\n" }.joined()
    }

    /// Parses a checkpoint note text.
    public init(text: String) throws {
        func bad(_ why: String) -> CustodyError { CustodyError.operational("malformed checkpoint: \(why)") }
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

/// An inclusion proof as custody writes it: `{"index","leafHash","proof","root","size"}` with hex hashes.
public struct InclusionProof: Sendable, Equatable {
    public var index: UInt64
    public var size: UInt64
    public var leafHash: Hash32
    public var proof: [Hash32]
    public var root: Hash32

    public init(index: UInt64, size: UInt64, leafHash: Hash32, proof: [Hash32], root: Hash32) {
        self.index = index
        self.size = size
        self.leafHash = leafHash
        self.proof = proof
        self.root = root
    }

    public var json: JSONValue {
        .object([
            "index": .int(Int64(index)), "size": .int(Int64(size)), "leafHash": .string(leafHash.hex),
            "proof": .array(proof.map { .string($0.hex) }), "root": .string(root.hex),
        ])
    }

    /// Parses the JSON form (hex hashes; at most 64 proof elements).
    public init(json bytes: [UInt8], source: String = "inclusion proof") throws {
        let value: JSONValue
        do { value = try JSONValue.parse(bytes) } catch { throw CustodyError.operational("\(source): \(error)") }
        guard let index = value["index"]?.intValue, index >= 0, let size = value["size"]?.intValue, size >= 0,
            let leaf = value["leafHash"]?.stringValue.flatMap({ Hash32(hex: $0) }),
            let root = value["root"]?.stringValue.flatMap({ Hash32(hex: $0) }),
            let elements = value["proof"]?.arrayValue, elements.count <= 64
        else {
            throw CustodyError.operational("\(source): not an inclusion proof {index,size,leafHash,proof,root}")
        }
        var proof: [Hash32] = []
        for element in elements {
            guard let hash = element.stringValue.flatMap({ Hash32(hex: $0) }) else {
                throw CustodyError.operational("\(source): proof element is not 64 hex digits")
            }
            proof.append(hash)
        }
        self.init(index: UInt64(index), size: UInt64(size), leafHash: leaf, proof: proof, root: root)
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
    public var from: UInt64
    public var to: UInt64
    public var fromRoot: Hash32
    public var toRoot: Hash32
    public var proof: [Hash32]

    public init(from: UInt64, to: UInt64, fromRoot: Hash32, toRoot: Hash32, proof: [Hash32]) {
        self.from = from
        self.to = to
        self.fromRoot = fromRoot
        self.toRoot = toRoot
        self.proof = proof
    }

    public var json: JSONValue {
        .object([
            "from": .int(Int64(from)), "to": .int(Int64(to)), "fromRoot": .string(fromRoot.hex),
            "toRoot": .string(toRoot.hex), "proof": .array(proof.map { .string($0.hex) }),
        ])
    }

    /// Parses the JSON form (hex hashes; at most 128 proof elements).
    public init(json bytes: [UInt8], source: String = "consistency proof") throws {
        let value: JSONValue
        do { value = try JSONValue.parse(bytes) } catch { throw CustodyError.operational("\(source): \(error)") }
        guard let from = value["from"]?.intValue, from >= 0, let to = value["to"]?.intValue, to >= 0,
            let fromRoot = value["fromRoot"]?.stringValue.flatMap({ Hash32(hex: $0) }),
            let toRoot = value["toRoot"]?.stringValue.flatMap({ Hash32(hex: $0) }),
            let elements = value["proof"]?.arrayValue, elements.count <= 128
        else {
            throw CustodyError.operational("\(source): not a consistency proof {from,to,fromRoot,toRoot,proof}")
        }
        var proof: [Hash32] = []
        for element in elements {
            guard let hash = element.stringValue.flatMap({ Hash32(hex: $0) }) else {
                throw CustodyError.operational("\(source): proof element is not 64 hex digits")
            }
            proof.append(hash)
        }
        self.init(from: UInt64(from), to: UInt64(to), fromRoot: fromRoot, toRoot: toRoot, proof: proof)
    }

    /// Whether the proof shows the tree at `to` extends the tree at `from`.
    public func verify() -> Bool {
        MerkleProofs.verifyConsistency(
            fromSize: from, toSize: to, fromRoot: fromRoot.bytes, toRoot: toRoot.bytes,
            proof: proof.map(\.bytes))
    }
}
