/// Text from untrusted input made safe for one terminal line.
public enum Printable {
    /// Whether `scalar` is a C0 control character or DEL (U+0000-U+001F, U+007F).
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool { scalar.value < 0x20 || scalar.value == 0x7f }

    /// Whether `text` holds a control character (see `isControl`).
    public static func hasControls(_ text: String) -> Bool { text.unicodeScalars.contains(where: isControl) }

    /// `text` with control characters (U+0000-U+001F, U+007F) written as `\xHH`, at most `limit` scalars kept.
    public static func escapingControls(_ text: String, limit: Int = .max) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(limit) {
            if isControl(scalar) {
                out += "\\x" + (scalar.value < 16 ? "0" : "") + String(scalar.value, radix: 16)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
