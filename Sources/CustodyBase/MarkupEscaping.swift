/// Escaping text for XML and HTML documents (DFXML, the HTML report and its SVG timeline).
public enum MarkupEscaping {
    /// The markup a text is written into.
    public enum Dialect: Sendable {
        /// XML 1.0: `'` as `&apos;`, carriage returns as `&#xD;` so parsers keep them.
        case xml
        /// HTML (and SVG inside it): `'` as `&#39;`; carriage returns and C1 controls (U+007F to U+009F) become
        /// U+FFFD.
        case html
    }

    /// Escapes `text` for character data and quoted attribute values of `dialect`: `& < > " '`; tab and newline
    /// are kept; characters the document cannot carry (controls below U+0020, U+FFFE, U+FFFF, and the escape code
    /// points `RawName` gives the bytes of file names that are not UTF-8) are written as U+FFFD, the replacement
    /// character, so the document stays well-formed.
    public static func escaped(_ text: String, for dialect: Dialect) -> String {
        text.replacingScalars { scalar in
            switch scalar {
            case "&": return "&amp;"
            case "<": return "&lt;"
            case ">": return "&gt;"
            case "\"": return "&quot;"
            case "'": return dialect == .xml ? "&apos;" : "&#39;"
            case "\r" where dialect == .xml: return "&#xD;"
            case "\t", "\n": return nil
            default:
                let cannotCarry = scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF
                    || RawName.escapedByte(scalar) != nil
                    || (dialect == .html && (0x7f...0x9f).contains(scalar.value))
                return cannotCarry ? "\u{FFFD}" : nil
            }
        }
    }
}
