import CustodyAge
import CustodyBase
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger
#if canImport(Glibc)
import Glibc
#endif

/// BagIt 1.0 (RFC 8493) building blocks: declaration, bag-info, manifests, and path safety.
public enum BagIt {
    /// The bag declaration (`bagit.txt`).
    public static let declaration = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"

    /// Checks a manifest path: relative, `/`-separated, no empty, `.` or `..` component, no NUL or backslash,
    /// so that it can never leave the bag. Returns the components.
    public static func safeComponents(_ path: String) throws -> [String] {
        guard !path.isEmpty else { throw BundleError.emptyPath }
        guard !path.hasPrefix("/") else { throw BundleError.absolutePath(path) }
        guard !path.contains("\0"), !path.contains("\\") else { throw BundleError.pathWithNULOrBackslash(path) }
        let components = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        for component in components {
            if component.isEmpty || component == "." || component == ".." {
                throw BundleError.pathNotNormalized(path)
            }
        }
        return components
    }

    /// Percent-encodes CR, LF and `%` in a manifest path, as RFC 8493 section 2.1.3 requires.
    public static func encodePath(_ path: String) -> String {
        path.replacingScalars { scalar in
            switch scalar {
            case "%": return "%25"
            case "\r": return "%0D"
            case "\n": return "%0A"
            default: return nil
            }
        }
    }

    /// Decodes `%25`, `%0D`, `%0A` (case-insensitive); any other `%` sequence is kept as it is.
    public static func decodePath(_ encoded: String) -> String {
        var out = ""
        let scalars = Array(encoded.unicodeScalars)
        var index = 0
        while index < scalars.count {
            if scalars[index] == "%", index + 2 < scalars.count {
                let code = String(String.UnicodeScalarView(scalars[(index + 1)...(index + 2)])).uppercased()
                let decoded: Unicode.Scalar? = code == "25" ? "%" : code == "0D" ? "\r" : code == "0A" ? "\n" : nil
                if let decoded {
                    out.unicodeScalars.append(decoded)
                    index += 3
                    continue
                }
            }
            out.unicodeScalars.append(scalars[index])
            index += 1
        }
        return out
    }

    /// A manifest's text: `HEX  PATH` lines sorted by path.
    public static func manifest(_ entries: [(path: String, hex: String)]) -> String {
        entries.sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
            .map { "\($0.hex)  \(encodePath($0.path))\n" }.joined()
    }

    /// Parses a manifest (`HEX<whitespace>PATH` per line) for `algorithm`. Rejects malformed lines, digests of
    /// the wrong length, unsafe paths and duplicates, naming the manifest and line.
    public static func parseManifest(_ bytes: [UInt8], name: String, algorithm: DigestAlgorithm) throws
        -> [(path: String, digest: [UInt8])] {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw BundleError.tagFileNotUTF8(file: name) }
        var entries: [(path: String, digest: [UInt8])] = []
        var seen = Set<String>()
        var lines = text.textLines(lineEndsAtCR: true)
        if lines.last == "" { lines.removeLast() }
        for (offset, line) in lines.enumerated() {
            guard let space = line.firstIndex(where: { $0 == " " || $0 == "\t" }) else {
                throw BundleError.manifestLineMalformed(file: name, line: offset + 1)
            }
            let hex = line[..<space]
            let path = decodePath(String(line[space...].drop { $0 == " " || $0 == "\t" }))
            guard let digest = Hex.decode(hex), digest.count == algorithm.outputSize else {
                throw BundleError.manifestDigestMalformed(file: name, line: offset + 1, text: String(hex.prefix(16)),
                                                          algorithm: algorithm)
            }
            do {
                _ = try safeComponents(path)
            } catch let error as BundleError {
                throw BundleError.manifestPathUnsafe(file: name, line: offset + 1, problem: error)
            }
            guard seen.insert(path).inserted else {
                throw BundleError.manifestPathListedTwice(file: name, line: offset + 1, path: path)
            }
            entries.append((path, digest))
        }
        return entries
    }

    /// `bag-info.txt` text from ordered label/value pairs; values with line breaks are folded (RFC 8493 2.2.2).
    public static func bagInfo(_ fields: [(label: String, value: String)]) -> String {
        fields.map { field in
            let folded = field.value.replacingLineBreaks(with: "\n  ")
            return "\(field.label): \(folded)\n"
        }.joined()
    }

    /// Parses `bag-info.txt` (or `bagit.txt`): `Label: value` lines, continuation lines starting with
    /// whitespace. Labels may repeat.
    public static func parseBagInfo(_ bytes: [UInt8], name: String) throws -> [(label: String, value: String)] {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw BundleError.tagFileNotUTF8(file: name) }
        var fields: [(label: String, value: String)] = []
        var lines = text.textLines(lineEndsAtCR: true)
        if lines.last == "" { lines.removeLast() }
        for (offset, line) in lines.enumerated() {
            if let first = line.first, first == " " || first == "\t" {
                guard !fields.isEmpty else {
                    throw BundleError.continuationBeforeLabel(file: name, line: offset + 1)
                }
                fields[fields.count - 1].value += "\n" + line.drop { $0 == " " || $0 == "\t" }
                continue
            }
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                throw BundleError.bagInfoLineMalformed(file: name, line: offset + 1)
            }
            let label = String(line[..<colon])
            let value = String(line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" })
            fields.append((label, value))
        }
        return fields
    }

    /// Makes a file name safe for a payload path: keeps letters, digits, `.`, `_`, `-`; replaces anything else
    /// (including `%`, CR, LF, spaces and non-ASCII) with `_`; never empty, never starting with `.`.
    public static func safeFileName(_ name: String, maxLength: Int = 120) -> String {
        var out = ""
        for scalar in name.unicodeScalars {
            let ok = (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z")
                || (scalar >= "0" && scalar <= "9") || scalar == "." || scalar == "_" || scalar == "-"
            out.unicodeScalars.append(ok ? scalar : "_")
        }
        while out.hasPrefix(".") { out.removeFirst() }
        if out.isEmpty { out = "item" }
        if out.count > maxLength { out = String(out.suffix(maxLength)) }
        return out
    }

    /// Shows control characters visibly in messages.
    public static func printable(_ text: String) -> String { Printable.escapingControls(text) }
}

extension String {
    func replacingLineBreaks(with replacement: String) -> String {
        var out = ""
        var previousWasCR = false
        for scalar in unicodeScalars {
            if scalar == "\n" && previousWasCR {
                previousWasCR = false
                continue
            }
            previousWasCR = scalar == "\r"
            if scalar == "\r" || scalar == "\n" {
                out += replacement
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

/// Walks a bag directory without following links, listing regular files by bag-relative path and flagging
/// anything else (symlinks, devices, FIFOs, sockets) as a finding.
public enum BagTree {
    /// What a walk of a bag found.
    public struct Listing: Sendable {
        /// Regular files, bag-relative, with sizes.
        public var files: [String: UInt64] = [:]
        /// Paths that are not regular files or directories, with what they are.
        public var unexpected: [(path: String, kind: String)] = []
    }

    /// Opens a file inside a bag for reading only if it is a regular file: the last component is never
    /// followed as a symbolic link and a FIFO never blocks the open, so a hostile bag cannot hang or redirect
    /// a verifier.
    public static func openRegular(_ path: String) throws -> FileDescriptor {
        let descriptor = try FileDescriptor.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
        do {
            guard try descriptor.status().st_mode & S_IFMT == S_IFREG else {
                throw BundleError.notRegularFile(path: path)
            }
        } catch {
            descriptor.close()
            throw error
        }
        return descriptor
    }

    /// Reads a regular file inside a bag (see `openRegular`), refusing more than `limit` bytes.
    public static func readRegular(_ path: String, limit: Int) throws -> [UInt8] {
        let descriptor = try openRegular(path)
        defer { descriptor.close() }
        let size = Int(try descriptor.status().st_size)
        guard size <= limit else {
            throw BundleError.fileTooLarge(path: path, limit: limit)
        }
        guard let bytes = try descriptor.readToEnd(limit: limit, expectedSize: size) else {
            throw BundleError.fileTooLarge(path: path, limit: limit)
        }
        return bytes
    }

    /// Walks the bag at `root` without following links: regular files with their sizes, anything else as unexpected.
    public static func list(_ root: String) throws -> Listing {
        var listing = Listing()
        try walk(root: root, relative: "", into: &listing)
        return listing
    }

    private static func walk(root: String, relative: String, into listing: inout Listing) throws {
        let directory = relative.isEmpty ? root : root + "/" + relative
        for name in try FileSystem.directoryEntries(directory) {
            let path = relative.isEmpty ? name : relative + "/" + name
            let info = try FileSystem.status(root + "/" + path, followLinks: false)
            switch info.st_mode & S_IFMT {
            case S_IFDIR: try walk(root: root, relative: path, into: &listing)
            case S_IFREG: listing.files[path] = UInt64(info.st_size)
            case S_IFLNK: listing.unexpected.append((path, "symbolic link"))
            default: listing.unexpected.append((path, "special file"))
            }
        }
    }
}
