extension String {
    /// This text with each Unicode scalar that `replacement` maps to a string replaced by that string; the scalars
    /// it maps to nil are kept. The one loop behind escaping for XML, HTML, manifests and checksum lines.
    public func replacingScalars(_ replacement: (Unicode.Scalar) -> String?) -> String {
        var out = ""
        out.reserveCapacity(utf8.count)
        for scalar in unicodeScalars {
            if let replaced = replacement(scalar) {
                out += replaced
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
