/// A C2SP tlog-tiles resource path (`tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`), parsed strictly:
/// level 0 to 63 and width 1 to 255 in decimal without leading zeros, the index in 3-digit groups, all but the
/// last prefixed with `x` and none above the first holding only zeros beyond what the index needs.
public struct TilePath: Sendable, Equatable {
    /// The tile height: 2^8 hashes or entries a full tile.
    public static let height = 8
    /// Hashes (or entries) in a full tile.
    public static let width: UInt64 = 256

    /// The tile level (nil for an entry bundle).
    public var level: Int?
    /// The tile's index within its level.
    public var index: UInt64
    /// The width of a partial tile (1 to 255), nil for a full one.
    public var partialWidth: Int?

    /// A tile or bundle from its parts.
    public init(level: Int?, index: UInt64, partialWidth: Int? = nil) {
        self.level = level
        self.index = index
        self.partialWidth = partialWidth
    }

    /// Whether the path names an entry bundle.
    public var isEntryBundle: Bool { level == nil }

    /// The number of hashes or entries the resource holds.
    public var count: Int { partialWidth ?? Int(Self.width) }

    /// The encoding of a tile index: zero-padded 3-digit groups, all but the last prefixed with `x`
    /// (1234067 is `x001/x234/067`).
    public static func encode(index: UInt64) -> String {
        var groups: [String] = []
        var rest = index
        repeat {
            let group = String(rest % 1000)
            groups.append(String(repeating: "0", count: 3 - group.count) + group)
            rest /= 1000
        } while rest > 0
        return groups.reversed().enumerated().map { $0.offset == groups.count - 1 ? $0.element : "x" + $0.element }
            .joined(separator: "/")
    }

    /// The path under the log's prefix, e.g. `tile/0/x001/234.p/7` or `tile/entries/000`.
    public var path: String {
        var text = "tile/" + (level.map(String.init) ?? "entries") + "/" + Self.encode(index: index)
        if let partialWidth { text += ".p/\(partialWidth)" }
        return text
    }

    /// Parses the path after the log's prefix (`tile/...`); nil when it is not a tlog-tiles resource path.
    public init?(parsing text: Substring) {
        var parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 3, parts[0] == "tile" else { return nil }
        if parts[1] == "entries" {
            level = nil
        } else {
            guard let level = Self.decimal(parts[1], maximum: 63) else { return nil }
            self.level = level
        }
        parts.removeFirst(2)
        partialWidth = nil
        if parts.count >= 2, parts[parts.count - 2].hasSuffix(".p") {
            guard let width = Self.decimal(parts[parts.count - 1], maximum: 255), width >= 1 else { return nil }
            partialWidth = width
            parts.removeLast()
            parts[parts.count - 1] = parts[parts.count - 1].dropLast(2)
        }
        // At most 7 groups: indexes up to 2^64 fit 20 digits, and the tree holds at most 2^48 entries anyway.
        guard !parts.isEmpty, parts.count <= 7 else { return nil }
        var value: UInt64 = 0
        for (position, part) in parts.enumerated() {
            var digits = part
            if position < parts.count - 1 {
                guard digits.first == "x" else { return nil }
                digits = digits.dropFirst()
            }
            guard digits.count == 3, digits.utf8.allSatisfy({ (48...57).contains($0) }),
                  let group = UInt64(digits) else { return nil }
            let (scaled, overflow) = value.multipliedReportingOverflow(by: 1000)
            guard !overflow else { return nil }
            value = scaled + group
        }
        // The canonical encoding only: no leading all-zero groups.
        guard Self.encode(index: value) == parts.joined(separator: "/") else { return nil }
        index = value
    }

    private static func decimal(_ text: Substring, maximum: Int) -> Int? {
        guard !text.isEmpty, text.count <= 3, text.utf8.allSatisfy({ (48...57).contains($0) }),
              text == "0" || text.first != "0", let value = Int(text), value <= maximum else { return nil }
        return value
    }
}
