/// Parses and prints byte sizes with binary suffixes (`1M` = 1 MiB), as the contract specifies.
public enum ByteSize {
    /// Parses `123`, `64K`, `1M`, `2G`, `1T` (optionally followed by `iB` or `B`). Returns nil when malformed
    /// or when the value overflows.
    public static func parse(_ text: String) -> UInt64? {
        var body = text.trimmingWhitespace().uppercased()
        if body.hasSuffix("IB") { body.removeLast(2) } else if body.hasSuffix("B") { body.removeLast() }
        var multiplier: UInt64 = 1
        if let last = body.last, let shift = ["K": 10, "M": 20, "G": 30, "T": 40][String(last)] {
            multiplier = 1 << UInt64(shift)
            body.removeLast()
        }
        guard !body.isEmpty, body.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let value = UInt64(body) else {
            return nil
        }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : product
    }

    /// Formats a size for humans: `1.5 GiB`, `512 B`.
    public static func describe(_ bytes: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(bytes) B" }
        return "\(formatFixed(value, decimals: 1)) \(units[unit])"
    }

    /// Formats a chunk size the way digest names carry it: `64K`, `1M`, `64M`.
    public static func shortName(_ bytes: Int) -> String {
        if bytes >= 1 << 30 && bytes % (1 << 30) == 0 { return "\(bytes >> 30)G" }
        if bytes >= 1 << 20 && bytes % (1 << 20) == 0 { return "\(bytes >> 20)M" }
        if bytes >= 1 << 10 && bytes % (1 << 10) == 0 { return "\(bytes >> 10)K" }
        return "\(bytes)"
    }
}

/// Formats a double with a fixed number of decimals without Foundation's locale machinery.
public func formatFixed(_ value: Double, decimals: Int) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    // Beyond 2^63 the integer split below cannot hold the value: Swift's own rendering is exact enough there.
    guard scaled < 9.2e18 else { return "\(value)" }
    let whole = UInt64(scaled / scale)
    let fraction = UInt64(scaled) - whole * UInt64(scale)
    let sign = value < 0 && scaled != 0 ? "-" : ""
    if decimals == 0 { return "\(sign)\(whole)" }
    var fractionText = String(fraction)
    while fractionText.count < decimals { fractionText = "0" + fractionText }
    return "\(sign)\(whole).\(fractionText)"
}

extension StringProtocol {
    /// The text without leading and trailing whitespace.
    package func trimmingWhitespace() -> String {
        var scalars = Substring(String(self))
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
