import CustodyBase
import CustodyCrypto

/// Everything `custody hash` can compute: the chunked tree digest and the linear digests (`DigestAlgorithm`,
/// the one list of their names).
public enum HashAlgorithm: Hashable, Sendable, Comparable, CaseIterable, RawRepresentable {
    /// The tree digest (TREE-SHA256 at a chunk size).
    case tree
    /// A linear digest.
    case digest(DigestAlgorithm)

    /// The tree digest first, then the linear digests in their order.
    public static var allCases: [HashAlgorithm] { [.tree] + DigestAlgorithm.allCases.map(HashAlgorithm.digest) }

    /// The algorithm named `tree` or by a linear digest's name; nil for any other name.
    public init?(rawValue: String) {
        if rawValue == "tree" {
            self = .tree
        } else if let linear = DigestAlgorithm(rawValue: rawValue) {
            self = .digest(linear)
        } else {
            return nil
        }
    }

    /// The name as written on the command line and in output: `tree`, `md5`, `sha1`, `sha256`, `sha512`.
    public var rawValue: String {
        switch self {
        case .tree: return "tree"
        case .digest(let linear): return linear.rawValue
        }
    }

    /// The linear digest this names, or nil for the tree digest.
    public var linear: DigestAlgorithm? {
        if case .digest(let linear) = self { return linear }
        return nil
    }

    /// Parses a comma-separated list such as `tree,sha256`; throws naming the unknown entry.
    public static func parseList(_ text: String) throws -> [HashAlgorithm] {
        try parseNameList(text, naming: "algorithm")
    }

    /// The tree digest first, then the linear digests in `DigestAlgorithm`'s order.
    public static func < (lhs: HashAlgorithm, rhs: HashAlgorithm) -> Bool {
        switch (lhs, rhs) {
        case (.tree, .tree): return false
        case (.tree, .digest): return true
        case (.digest, .tree): return false
        case (.digest(let left), .digest(let right)): return left < right
        }
    }
}

extension CaseIterable where Self: RawRepresentable & Equatable, RawValue == String {
    /// Parses a comma-separated list of names (case and surrounding blanks ignored, repeats dropped) into the
    /// cases it names, in `allCases` order; throws naming the first unknown entry as a `what` ("stage").
    static func parseNameList(_ text: String, naming what: String) throws -> [Self] {
        var named: [Self] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let value = Self(rawValue: part.trimmingWhitespace().lowercased()) else {
                throw EngineError.unknownName(what: what, name: String(part), list: text,
                                              choices: allCases.map(\.rawValue))
            }
            named.append(value)
        }
        return allCases.filter(named.contains)
    }
}
