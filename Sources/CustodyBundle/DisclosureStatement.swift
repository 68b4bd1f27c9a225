import CustodyBase
import CustodyCrypto

/// The discloser's statement (`custody/disclosure/statement.txt`, a C2SP signed note; SPEC.md section 5.14):
///
/// ```
/// custody disclosure v1
/// bundle urn:uuid:...
/// seal SHA256-OF-SEAL.TXT
/// items COUNT ROOT
/// previous SHA256-OF-THE-NARROWED-STATEMENT | none
/// disclosed D withheld W
/// item N whole
/// item N range START-END[,START-END...]
/// to TEXT
/// legal-basis TEXT
/// mla-ref TEXT
/// time RFC3339
/// ```
public struct DisclosureStatement: Sendable, Equatable {
    /// What is disclosed of one item.
    public enum Extent: Sendable, Equatable {
        /// The record and, for a stored file, its whole content.
        case whole
        /// The record and the chunks covering these inclusive content byte ranges (ascending, disjoint).
        case ranges([ClosedRange<UInt64>])
    }

    /// The statement's first line.
    public static let header = "custody disclosure v1"
    /// The original bundle's identifier.
    public var bundleID: String
    /// SHA-256 of the original `custody/seal.txt`, as carried.
    public var sealDigest: Hash32
    /// The sealed item count and items root.
    public var itemCount: UInt64, itemsRoot: Hash32
    /// SHA-256 of the statement this disclosure narrows, if any.
    public var previous: Hash32?
    /// Disclosed item numbers and extents, ascending by number.
    public var items: [(number: UInt64, extent: Extent)]
    /// The recipient, legal basis and mutual legal assistance reference (one line each, may be empty).
    public var recipient: String, legalBasis: String, mlaReference: String
    /// When the disclosure was made.
    public var time: Timestamp

    /// Items withheld: the sealed count minus the disclosed.
    public var withheld: UInt64 { itemCount - UInt64(items.count) }

    /// A statement of the given fields.
    public init(bundleID: String, sealDigest: Hash32, itemCount: UInt64, itemsRoot: Hash32, previous: Hash32?,
                items: [(number: UInt64, extent: Extent)], recipient: String, legalBasis: String,
                mlaReference: String, time: Timestamp) {
        self.bundleID = bundleID
        self.sealDigest = sealDigest
        self.itemCount = itemCount
        self.itemsRoot = itemsRoot
        self.previous = previous
        self.items = items
        self.recipient = recipient
        self.legalBasis = legalBasis
        self.mlaReference = mlaReference
        self.time = time
    }

    /// The statement's text, newline-terminated.
    public var text: String {
        var lines = [DisclosureStatement.header, "bundle \(bundleID)", "seal \(sealDigest.hex)",
                     "items \(itemCount) \(itemsRoot.hex)", "previous \(previous?.hex ?? "none")",
                     "disclosed \(items.count) withheld \(withheld)"]
        for item in items {
            switch item.extent {
            case .whole: lines.append("item \(item.number) whole")
            case .ranges(let ranges):
                lines.append("item \(item.number) range "
                    + ranges.map { "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ","))
            }
        }
        lines += ["to \(recipient)", "legal-basis \(legalBasis)", "mla-ref \(mlaReference)", "time \(time)"]
        return lines.joined(separator: "\n") + "\n"
    }

    /// Whether `text` may be a field's value: no line break or other control character.
    public static func isOneLine(_ text: String) -> Bool {
        !text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f }
    }

    /// Parses a statement; the text must be exactly what `text` gives for the parsed fields.
    public init(text: String) throws {
        func fail(_ problem: String) -> DisclosureError { .statementMalformed(problem: problem) }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.last == "" else { throw fail("does not end with a newline") }
        lines.removeLast()
        guard lines.count >= 10, lines[0] == DisclosureStatement.header else {
            throw fail("first line is not '\(DisclosureStatement.header)'")
        }
        func value(_ line: Int, _ key: String) throws -> String {
            guard lines[line].hasPrefix(key + " ") else { throw fail("line \(line + 1) is not '\(key) ...'") }
            return String(lines[line].dropFirst(key.count + 1))
        }
        bundleID = try value(1, "bundle")
        guard let seal = Hash32(hex: try value(2, "seal")) else { throw fail("line 3: seal digest is not hex") }
        sealDigest = seal
        let counted = try value(3, "items").split(separator: " ")
        guard counted.count == 2, let count = UInt64(counted[0]), let root = Hash32(hex: counted[1]) else {
            throw fail("line 4 is not 'items COUNT ROOT'")
        }
        itemCount = count
        itemsRoot = root
        let previousText = try value(4, "previous")
        if previousText == "none" {
            previous = nil
        } else {
            guard let hash = Hash32(hex: previousText) else { throw fail("line 5: previous is not hex or none") }
            previous = hash
        }
        let tally = try value(5, "disclosed").split(separator: " ")
        guard tally.count == 3, tally[1] == "withheld", let disclosed = Int(tally[0]), disclosed >= 1,
              lines.count == 6 + disclosed + 4 else {
            throw fail("line 6 is not 'disclosed D withheld W' with D item lines after it")
        }
        var items: [(UInt64, Extent)] = []
        for line in 6..<(6 + disclosed) {
            let fields = try value(line, "item").split(separator: " ").map(String.init)
            guard fields.count >= 2, let number = UInt64(fields[0]), number >= 1, number <= count,
                  number > (items.last?.0 ?? 0) else {
                throw fail("line \(line + 1): not 'item N ...' with N ascending within the item count")
            }
            if fields == [fields[0], "whole"] {
                items.append((number, .whole))
                continue
            }
            guard fields.count == 3, fields[1] == "range" else {
                throw fail("line \(line + 1): not 'item N whole' or 'item N range START-END,...'")
            }
            var ranges: [ClosedRange<UInt64>] = []
            for part in fields[2].split(separator: ",", omittingEmptySubsequences: false) {
                let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
                guard bounds.count == 2, let start = UInt64(bounds[0]), let end = UInt64(bounds[1]), start <= end,
                      start > (ranges.last?.upperBound ?? 0) || ranges.isEmpty else {
                    throw fail("line \(line + 1): ranges must be START-END, ascending and disjoint")
                }
                ranges.append(start...end)
            }
            items.append((number, .ranges(ranges)))
        }
        self.items = items
        let tail = 6 + disclosed
        recipient = try value(tail, "to")
        legalBasis = try value(tail + 1, "legal-basis")
        mlaReference = try value(tail + 2, "mla-ref")
        guard let time = Timestamp(parsing: try value(tail + 3, "time")) else {
            throw fail("line \(tail + 4): time is not RFC 3339")
        }
        self.time = time
        guard UInt64(tally[2]) == withheld, self.text == text else {
            throw fail("the withheld count or the form differs from what the fields give")
        }
    }

    /// Statements are equal when their texts are.
    public static func == (lhs: DisclosureStatement, rhs: DisclosureStatement) -> Bool { lhs.text == rhs.text }
}
