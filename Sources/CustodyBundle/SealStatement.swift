import CustodyBase
import CustodyCrypto
import CustodyEngine

/// The statement the sealing officer signs (`custody/seal.txt`, a C2SP signed note):
///
/// ```
/// custody seal v1
/// bundle urn:uuid:...
/// tagmanifest-sha256 HEX
/// item 1 urn:uuid:... TREE-SHA256-1M HEX size N
/// ```
public struct SealStatement: Sendable, Equatable {
    /// The statement's first line.
    public static let header = "custody seal v1"
    /// The bundle's identifier.
    public var bundleID: String
    /// SHA-256 of tagmanifest-sha256.txt without the seal's own line.
    public var tagManifestDigest: [UInt8]
    /// The items: number, identifier, chunk size, tree digest (hex) and size.
    public var items: [(number: Int, id: String, chunkSize: Int, tree: String, size: UInt64)]

    /// A statement of the given fields.
    public init(bundleID: String, tagManifestDigest: [UInt8],
                items: [(number: Int, id: String, chunkSize: Int, tree: String, size: UInt64)]) {
        self.bundleID = bundleID
        self.tagManifestDigest = tagManifestDigest
        self.items = items
    }

    /// The statement's text, one line each, newline-terminated.
    public var text: String {
        var lines = [SealStatement.header, "bundle \(bundleID)", "tagmanifest-sha256 \(Hex.encode(tagManifestDigest))"]
        for item in items {
            lines.append("item \(item.number) \(item.id) \(TreeChunkSize.digestName(item.chunkSize)) \(item.tree) "
                + "size \(item.size)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Parses a statement, naming the first line that does not fit.
    public init(text: String) throws {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        guard lines.count >= 3, lines[0] == SealStatement.header else {
            throw SealError.malformedStatement(problem: "first line is not '\(SealStatement.header)'")
        }
        guard lines[1].hasPrefix("bundle "), lines[2].hasPrefix("tagmanifest-sha256 "),
              let digest = Hex.decode(lines[2].dropFirst("tagmanifest-sha256 ".count)), digest.count == 32 else {
            throw SealError.malformedStatement(problem: "lines 2-3 must be 'bundle ID' and 'tagmanifest-sha256 HEX'")
        }
        bundleID = String(lines[1].dropFirst("bundle ".count))
        tagManifestDigest = digest
        items = []
        for (offset, line) in lines.enumerated().dropFirst(3) {
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count == 7, fields[0] == "item", let number = Int(fields[1]),
                  fields[3].hasPrefix("TREE-SHA256-"), let chunk = ByteSize.parse(String(fields[3].dropFirst(12))),
                  let chunkSize = try? TreeChunkSize.validate(chunk), Hash32(hex: fields[4]) != nil,
                  fields[5] == "size", let size = UInt64(fields[6]) else {
                throw SealError.malformedStatement(
                    problem: "line \(offset + 1) is not 'item N ID TREE-SHA256-S HEX size N'")
            }
            items.append((number, fields[2], chunkSize, fields[4], size))
        }
    }

    /// Statements are equal when their texts are.
    public static func == (lhs: SealStatement, rhs: SealStatement) -> Bool { lhs.text == rhs.text }
}

/// The statement of a collection bundle (SPEC.md section 5.13): the items are committed by the root of the items
/// tree, so the statement has four lines whatever the item count.
///
/// ```
/// custody seal v2
/// bundle urn:uuid:...
/// tagmanifest-sha256 HEX
/// items COUNT ROOT-HEX
/// ```
public struct CollectionSealStatement: Sendable, Equatable {
    /// The statement's first line.
    public static let header = "custody seal v2"
    /// The bundle's identifier.
    public var bundleID: String
    /// SHA-256 of tagmanifest-sha256.txt without the seal's own line.
    public var tagManifestDigest: [UInt8]
    /// How many records `custody/items.jsonl` holds.
    public var itemCount: UInt64
    /// The root of the items tree (RFC 6962 over the records' lines).
    public var itemsRoot: Hash32

    /// A statement of the given fields.
    public init(bundleID: String, tagManifestDigest: [UInt8], itemCount: UInt64, itemsRoot: Hash32) {
        self.bundleID = bundleID
        self.tagManifestDigest = tagManifestDigest
        self.itemCount = itemCount
        self.itemsRoot = itemsRoot
    }

    /// The statement's text, newline-terminated.
    public var text: String {
        [CollectionSealStatement.header, "bundle \(bundleID)",
         "tagmanifest-sha256 \(Hex.encode(tagManifestDigest))", "items \(itemCount) \(itemsRoot.hex)"]
            .joined(separator: "\n") + "\n"
    }

    /// Parses a statement, naming what does not fit.
    public init(text: String) throws {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count == 5, lines[4].isEmpty, lines[0] == CollectionSealStatement.header else {
            throw SealError.malformedStatement(problem: "not four lines starting '\(CollectionSealStatement.header)'")
        }
        guard lines[1].hasPrefix("bundle "), lines[2].hasPrefix("tagmanifest-sha256 "),
              let digest = Hex.decode(lines[2].dropFirst("tagmanifest-sha256 ".count)), digest.count == 32 else {
            throw SealError.malformedStatement(problem: "lines 2-3 must be 'bundle ID' and 'tagmanifest-sha256 HEX'")
        }
        let fields = lines[3].split(separator: " ", omittingEmptySubsequences: false)
        guard fields.count == 3, fields[0] == "items", let count = UInt64(fields[1]), String(count) == fields[1],
              let root = Hash32(hex: fields[2]), root.hex == fields[2] else {
            throw SealError.malformedStatement(problem: "line 4 is not 'items COUNT ROOT'")
        }
        bundleID = String(lines[1].dropFirst("bundle ".count))
        tagManifestDigest = digest
        itemCount = count
        itemsRoot = root
    }
}
