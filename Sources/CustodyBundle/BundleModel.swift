import CustodyAge
import CustodyBase
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger

/// Names of the files in a sealed bundle (a BagIt 1.0 bag).
public enum BundleLayout {
    /// The bag declaration file.
    public static let declaration = "bagit.txt"
    /// The bag metadata file.
    public static let bagInfo = "bag-info.txt"
    /// The payload directory.
    public static let payloadDirectory = "data"
    /// The algorithms of the payload manifests custody writes.
    public static let payloadManifests: [DigestAlgorithm] = [.sha256, .sha512]
    /// The algorithms of the tag manifests custody writes.
    public static let tagManifests: [DigestAlgorithm] = [.sha256, .sha512]
    /// The directory of custody's own tag files.
    public static let custodyDirectory = "custody"
    /// Item metadata (canonical JSON).
    public static let items = "custody/items.json"
    /// Ledger excerpt: the exact bytes of every ledger entry about the bundle's items, one per line.
    public static let ledgerExcerpt = "custody/ledger-excerpt.jsonl"
    /// Inclusion proofs of the excerpt's entries, against the checkpoint.
    public static let proofs = "custody/proofs.json"
    /// The ledger's signed checkpoint the proofs lead to.
    public static let checkpoint = "custody/checkpoint.txt"
    /// Public identities of every signer (sealing officer, ledger key, entry actors).
    public static let identities = "custody/identities.json"
    /// Legal basis, case, use limitations and personal-data notes.
    public static let conditions = "custody/conditions.json"
    /// The seal: a signed note by the sealing officer.
    public static let seal = "custody/seal.txt"
    /// Folder of per-item leaf hash lists (32 bytes per chunk, binary).
    public static let leavesDirectory = "custody/leaves"
    /// A collection bundle's item records: one canonical JSON record per line (SPEC.md section 5.13).
    public static let itemRecords = "custody/items.jsonl"
    /// A collection bundle's leaf hashes of every item of more than one chunk, concatenated.
    public static let leavesFile = "custody/leaves.bin"

    /// The payload manifest file for `algorithm` (`manifest-sha256.txt`).
    public static func manifestName(_ algorithm: DigestAlgorithm) -> String { "manifest-\(algorithm.rawValue).txt" }

    /// Every file a bundle holds under a fixed name (the per-item payload and leaf files aside).
    public static var fixedFiles: [String] {
        [declaration, bagInfo, items, ledgerExcerpt, proofs, checkpoint, identities, conditions, seal]
            + payloadManifests.map(manifestName) + tagManifests.map(tagManifestName)
    }
    /// The tag manifest file for `algorithm` (`tagmanifest-sha256.txt`).
    public static func tagManifestName(_ algorithm: DigestAlgorithm) -> String {
        "tagmanifest-\(algorithm.rawValue).txt"
    }
}

/// How an item's content is stored in the payload.
public enum PayloadEncoding: String, Sendable, Equatable {
    /// custody's multi-member gzip (SPEC section 3): `gzip -dc` restores the content.
    case gzip = "gzip"
    /// The content as it is.
    case raw = "raw"
}

/// One evidence item: what was acquired, from where, when, by whom, and its digests (as E01 carries them).
public struct ItemRecord: Sendable, Equatable {
    /// Item identifier (`urn:uuid:...`).
    public var id: String
    /// 1-based position in the bundle.
    public var number: Int
    /// Bag-relative payload path (`data/...`).
    public var payloadPath: String
    /// How the payload file stores the content.
    public var encoding: PayloadEncoding
    /// The name the source had, when it differs from the payload's (unsafe characters are replaced).
    public var originalName: String
    /// Content size in bytes.
    public var size: UInt64
    /// Payload file size in bytes.
    public var storedSize: UInt64
    /// The tree digest chunk size, in bytes.
    public var chunkSize: Int
    /// Tree digest (hex) of the content.
    public var tree: String
    /// Linear digests (hex) of the content, by algorithm name.
    public var digests: [String: String]
    /// Bag-relative path of the leaf list (binary, 32 bytes per chunk).
    public var leavesPath: String
    /// Source description (path, kind, device model, serial, sector sizes...).
    public var source: [String: JSONValue]
    /// When acquisition began (RFC 3339, UTC).
    public var acquisitionStart: String
    /// When acquisition ended (RFC 3339, UTC).
    public var acquisitionEnd: String
    /// The tool and version that acquired the item.
    public var tool: String
    /// Case metadata: case number, evidence number, examiner, description, notes.
    public var caseNumber: String?
    /// The evidence number given at sealing.
    public var evidenceNumber: String?
    /// The examiner named at sealing.
    public var examiner: String?
    /// The description given at sealing.
    public var itemDescription: String?
    /// Free-text notes given at sealing.
    public var notes: String?
    /// Unreadable ranges that were zero-filled ({offset, length}).
    public var badRanges: [JSONValue]
    /// How many times sealing this item was interrupted and resumed (`custody seal --resume`); 0 is left out
    /// of the JSON.
    public var resumed = 0

    /// An item record from all its fields.
    public init(id: String, number: Int, payloadPath: String, encoding: PayloadEncoding, originalName: String,
                size: UInt64, storedSize: UInt64, chunkSize: Int, tree: String, digests: [String: String],
                leavesPath: String, source: [String: JSONValue], acquisitionStart: String, acquisitionEnd: String,
                tool: String, caseNumber: String? = nil, evidenceNumber: String? = nil, examiner: String? = nil,
                itemDescription: String? = nil, notes: String? = nil, badRanges: [JSONValue] = []) {
        self.id = id
        self.number = number
        self.payloadPath = payloadPath
        self.encoding = encoding
        self.originalName = originalName
        self.size = size
        self.storedSize = storedSize
        self.chunkSize = chunkSize
        self.tree = tree
        self.digests = digests
        self.leavesPath = leavesPath
        self.source = source
        self.acquisitionStart = acquisitionStart
        self.acquisitionEnd = acquisitionEnd
        self.tool = tool
        self.caseNumber = caseNumber
        self.evidenceNumber = evidenceNumber
        self.examiner = examiner
        self.itemDescription = itemDescription
        self.notes = notes
        self.badRanges = badRanges
    }

    /// The record as `items.json` holds it.
    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "id": .string(id), "number": .int(Int64(number)), "payload": .string(payloadPath),
            "encoding": .string(encoding.rawValue), "originalName": .string(originalName),
            "size": .int(Int64(size)), "storedSize": .int(Int64(storedSize)), "chunkSize": .int(Int64(chunkSize)),
            "tree": .string(tree), "digests": .object(digests.mapValues { .string($0) }),
            "leaves": .string(leavesPath), "source": .object(source),
            "acquisitionStart": .string(acquisitionStart), "acquisitionEnd": .string(acquisitionEnd),
            "tool": .string(tool), "badRanges": .array(badRanges),
        ]
        let optional: [(String, String?)] = [("caseNumber", caseNumber), ("evidenceNumber", evidenceNumber),
                                             ("examiner", examiner), ("description", itemDescription),
                                             ("notes", notes)]
        for (key, value) in optional { if let value { members[key] = .string(value) } }
        if resumed > 0 { members["resumed"] = .int(Int64(resumed)) }
        return .object(members)
    }

    /// Reads an item from its JSON, naming the first missing or ill-typed field.
    public init(json: JSONValue, where location: String) throws {
        func string(_ key: String) throws -> String {
            guard let value = json[key]?.stringValue else {
                throw BundleError.itemFieldNotString(location: location, field: key)
            }
            return value
        }
        func integer(_ key: String) throws -> Int64 {
            guard let value = json[key]?.intValue, value >= 0 else {
                throw BundleError.itemFieldNotCount(location: location, field: key)
            }
            return value
        }
        id = try string("id")
        number = Int(try integer("number"))
        payloadPath = try string("payload")
        guard let encoding = PayloadEncoding(rawValue: try string("encoding")) else {
            throw BundleError.itemEncodingUnknown(location: location, encoding: try string("encoding"))
        }
        self.encoding = encoding
        originalName = try string("originalName")
        size = UInt64(try integer("size"))
        storedSize = UInt64(try integer("storedSize"))
        let chunk = try integer("chunkSize")
        chunkSize = try TreeChunkSize.validate(UInt64(chunk))
        tree = try string("tree")
        guard let digestObject = json["digests"]?.objectValue else {
            throw BundleError.itemDigestsMissing(location: location)
        }
        var digests: [String: String] = [:]
        for (key, value) in digestObject {
            guard let hex = value.stringValue else {
                throw BundleError.itemDigestNotString(location: location, algorithm: key)
            }
            digests[key] = hex
        }
        self.digests = digests
        leavesPath = try string("leaves")
        source = json["source"]?.objectValue ?? [:]
        acquisitionStart = try string("acquisitionStart")
        acquisitionEnd = try string("acquisitionEnd")
        tool = try string("tool")
        caseNumber = json["caseNumber"]?.stringValue
        evidenceNumber = json["evidenceNumber"]?.stringValue
        examiner = json["examiner"]?.stringValue
        itemDescription = json["description"]?.stringValue
        notes = json["notes"]?.stringValue
        badRanges = json["badRanges"]?.arrayValue ?? []
        resumed = Int(json["resumed"]?.intValue ?? 0)
    }
}

/// Random identifiers (`urn:uuid:` version 4) from OpenSSL's CSPRNG.
public enum Identifier {
    /// A random (version 4) UUID, lower-case.
    public static func uuid() -> String { uuidString(SecureRandom.bytes(16), version: 4) }

    /// The first 16 of `bytes` as a UUID of `version` (RFC 9562: the version in the high nibble of byte 6, the
    /// variant `10` in the high bits of byte 8), lower-case hex in groups 8-4-4-4-12.
    package static func uuidString(_ bytes: [UInt8], version: UInt8) -> String {
        var bytes = Array(bytes.prefix(16))
        bytes[6] = (bytes[6] & 0x0f) | (version << 4)
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        let hex = Hex.encode(bytes)
        let parts = [hex.prefix(8), hex.dropFirst(8).prefix(4), hex.dropFirst(12).prefix(4),
                     hex.dropFirst(16).prefix(4), hex.dropFirst(20)]
        return parts.joined(separator: "-")
    }

    /// A random `urn:uuid:` identifier.
    public static func urn() -> String { "urn:uuid:" + uuid() }

    /// Whether `text` is `urn:uuid:` and a UUID in lower-case hex groups 8-4-4-4-12, as `urn()` writes it.
    public static func isURN(_ text: String) -> Bool {
        guard text.hasPrefix("urn:uuid:") else { return false }
        let groups = text.dropFirst(9).split(separator: "-", omittingEmptySubsequences: false)
        return groups.map(\.count) == [8, 4, 4, 4, 12]
            && groups.allSatisfy { $0.allSatisfy { ("0"..."9").contains($0) || ("a"..."f").contains($0) } }
    }
}
