import CustodyBase
import CustodyCrypto
import CustodyIO

/// Output formats of `custody hash`.
public enum HashOutputFormat: String, CaseIterable, Sendable {
    /// BSD-tag lines (`SHA256 (NAME) = HEX`), one per algorithm.
    case text
    /// One canonical JSON object per input.
    case json
    /// `sha256sum` lines.
    case sha256sum
    /// `md5sum` lines.
    case md5sum
    /// `sha1sum` lines.
    case sha1sum
    /// `sha512sum` lines.
    case sha512sum
    /// hashdeep's CSV with its header.
    case hashdeep
    /// Digital Forensics XML, as hashdeep writes it.
    case dfxml

    /// The linear digest a `*sum` format prints, or nil.
    public var sumAlgorithm: DigestAlgorithm? {
        switch self {
        case .md5sum: return .md5
        case .sha1sum: return .sha1
        case .sha256sum: return .sha256
        case .sha512sum: return .sha512
        default: return nil
        }
    }
}

/// Formats digests the way coreutils, hashdeep and DFXML consumers expect.
public enum HashFormatter {
    /// Escapes a file name as coreutils does: when it holds a backslash, newline or carriage return, those are
    /// written `\\`, `\n`, `\r` and the line is marked with a leading backslash.
    public static func coreutilsEscaped(_ name: String) -> (name: String, escaped: Bool) {
        guard name.contains(where: { $0 == "\\" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else {
            return (name, false)
        }
        let escaped = name.replacingScalars { scalar in
            switch scalar {
            case "\\": return "\\\\"
            case "\n": return "\\n"
            case "\r": return "\\r"
            default: return nil
            }
        }
        return (escaped, true)
    }

    /// `path` made absolute against `workingDirectory`, with `.`, `..` and repeated slashes removed lexically,
    /// the way hashdeep writes file names. `-` (standard input) stays as it is.
    public static func absolutePath(_ path: String, workingDirectory: String) -> String {
        if path == "-" { return path }
        let absolute = path.hasPrefix("/") ? path : workingDirectory + "/" + path
        var parts: [Substring] = []
        for part in absolute.split(separator: "/") {
            if part == "." || part.isEmpty { continue }
            if part == ".." {
                if !parts.isEmpty { parts.removeLast() }
                continue
            }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// A `sha256sum`-style line: `HEX  NAME`.
    public static func sumLine(_ digests: FileDigests, algorithm: DigestAlgorithm) -> String {
        let (name, escaped) = coreutilsEscaped(digests.path)
        let hex = digests.digests[algorithm].map { Hex.encode($0) } ?? ""
        return (escaped ? "\\" : "") + "\(hex)  \(name)"
    }

    /// What starts a tree digest line in the `text` format: a comment for `sha256sum -c` and friends.
    public static let treeCommentPrefix = "# "

    /// BSD-tag lines, one per algorithm: `SHA256 (NAME) = HEX`, the tree digest as a comment line
    /// `# TREE-SHA256-1M (NAME) = HEX`, which `sha256sum -c --strict` skips (SPEC 2.4).
    public static func textLines(_ digests: FileDigests, algorithms: [HashAlgorithm]) -> [String] {
        let (name, escaped) = coreutilsEscaped(digests.path)
        return algorithms.compactMap { algorithm in
            guard let hex = digests.hex(algorithm) else { return nil }
            let tag = algorithm == .tree ? TreeChunkSize.digestName(digests.chunkSize)
                : algorithm.linear!.tagName
            return (algorithm == .tree ? treeCommentPrefix : "") + (escaped ? "\\" : "") + "\(tag) (\(name)) = \(hex)"
        }
    }

    /// One JSON object: path, size, chunkSize and one key per algorithm computed.
    public static func jsonObject(_ digests: FileDigests, algorithms: [HashAlgorithm]) -> JSONValue {
        var members: [String: JSONValue] = [
            "path": .string(digests.path),
            "size": .int(Int64(digests.size)),
            "chunkSize": .int(Int64(digests.chunkSize)),
        ]
        for algorithm in algorithms {
            if let hex = digests.hex(algorithm) { members[algorithm.rawValue] = .string(hex) }
        }
        return .object(members)
    }

    /// The algorithms hashdeep knows, in the order it writes columns.
    public static func hashdeepColumns(_ algorithms: [HashAlgorithm]) -> [DigestAlgorithm] {
        [.md5, .sha1, .sha256].filter { algorithms.contains(.digest($0)) }
    }

    /// The hashdeep file header (`%%%% HASHDEEP-1.0` ...).
    public static func hashdeepHeader(columns: [DigestAlgorithm], directory: String, commandLine: String) -> [String] {
        [
            "%%%% HASHDEEP-1.0",
            "%%%% size," + columns.map(\.rawValue).joined(separator: ",") + ",filename",
            "## Invoked from: \(directory)",
            "## $ \(commandLine)",
            "##",
        ]
    }

    /// One hashdeep row: `size,hash,...,filename`.
    public static func hashdeepLine(_ digests: FileDigests, columns: [DigestAlgorithm]) -> String {
        let hashes = columns.map { digests.digests[$0].map { Hex.encode($0) } ?? "" }
        return ([String(digests.size)] + hashes + [digests.path]).joined(separator: ",")
    }

    /// Escapes text for XML character data and attribute values (`MarkupEscaping`'s XML rules): carriage returns
    /// are written `&#xD;` so parsers keep them; characters XML 1.0 cannot carry become U+FFFD.
    public static func xmlEscaped(_ text: String) -> String { MarkupEscaping.escaped(text, for: .xml) }

    /// DFXML header as hashdeep writes it (`dfxml` root, configuration, creator).
    public static func dfxmlHeader(algorithms: [HashAlgorithm], commandLine: String, version: String,
                                   startTime: String) -> [String] {
        let enabled = Set(algorithms.compactMap(\.linear))
        var lines = [
            "<?xml version='1.0' encoding='UTF-8'?>",
            "<dfxml",
            "  xmlns='http://www.forensicswiki.org/wiki/Category:Digital_Forensics_XML'",
            "  xmlns:deep='http://md5deep.sourceforge.net/md5deep/'",
            "  xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance'",
            "  xmlns:dc='http://purl.org/dc/elements/1.1/' version='1.0'>",
            "  <deep:configuration>",
            "    <algorithms>",
        ]
        for algorithm in DigestAlgorithm.allCases {
            let flag = enabled.contains(algorithm) ? 1 : 0
            lines.append("      <algorithm name='\(algorithm.rawValue)' enabled='\(flag)'/>")
        }
        lines += [
            "    </algorithms>",
            "  </deep:configuration>",
            "  <metadata>",
            "    <dc:type>Hash List</dc:type>",
            "  </metadata>",
            "  <creator version='1.0'>",
            "    <program>custody</program>",
            "    <version>\(xmlEscaped(version))</version>",
            "    <execution_environment>",
            "      <command_line>\(xmlEscaped(commandLine))</command_line>",
            "      <start_time>\(startTime)</start_time>",
            "    </execution_environment>",
            "  </creator>",
        ]
        return lines
    }

    /// One DFXML `fileobject`, with the tree digest as a custody-specific hashdigest type.
    public static func dfxmlFileObject(_ digests: FileDigests, algorithms: [HashAlgorithm]) -> [String] {
        var lines = [
            "  <fileobject>",
            "    <filename>\(xmlEscaped(digests.path))</filename>",
            "    <filesize>\(digests.size)</filesize>",
        ]
        for algorithm in algorithms {
            guard let hex = digests.hex(algorithm) else { continue }
            let type = algorithm == .tree ? TreeChunkSize.digestName(digests.chunkSize) : algorithm.linear!.tagName
            lines.append("    <hashdigest type='\(type)'>\(hex)</hashdigest>")
        }
        lines.append("  </fileobject>")
        return lines
    }

    /// The DFXML document's closing lines.
    public static let dfxmlFooter = ["</dfxml>"]
}
