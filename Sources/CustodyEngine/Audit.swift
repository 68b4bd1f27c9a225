import CustodyBase
import CustodyCrypto
import CustodyIO

/// A list of known hashes, as read from a hashdeep file, a `*sum` file or custody's text output.
public struct KnownHashList: Sendable {
    /// One file the list knows.
    public struct Entry: Sendable, Equatable {
        /// The file's path as the list gives it.
        public var path: String
        /// Its size, when the list gives one (hashdeep).
        public var size: UInt64?
        /// Its linear digests.
        public var digests: [DigestAlgorithm: [UInt8]]
        /// The line the entry came from (1-based).
        public var line: Int
        /// The tree digest and its chunk size, from a `TREE-SHA256-1M (NAME) = HEX` line.
        public var tree: Hash32?
        /// The chunk size of `tree`.
        public var treeChunkSize: Int?
    }

    /// The files, in the list's order.
    public var entries: [Entry]

    /// The linear digests the list holds for at least one entry.
    public var algorithms: [DigestAlgorithm] {
        DigestAlgorithm.allCases.filter { algorithm in entries.contains { $0.digests[algorithm] != nil } }
    }

    /// The one tree chunk size the list's tree digests use, or nil when it has none (or several).
    public var treeChunkSize: Int? {
        let sizes = Set(entries.compactMap(\.treeChunkSize))
        return sizes.count == 1 ? sizes.first : nil
    }

    /// Parses a known list; `source` names it in errors. Accepts the hashdeep format (`%%%% HASHDEEP-1.0`),
    /// coreutils `*sum` lines (plain or `--tag`, with coreutils escaping) whose algorithm follows from the
    /// digest length or tag.
    public static func parse(_ bytes: [UInt8], source: String) throws -> KnownHashList {
        let text = RawName.decode(bytes)
        var lines = text.textLines().map(String.init)
        if lines.last == "" { lines.removeLast() }
        if lines.first?.hasPrefix("%%%% HASHDEEP-1.0") == true {
            return try parseHashdeep(lines, source: source)
        }
        var entries: [Entry] = []
        var entryIndex: [String: Int] = [:]
        for (offset, rawLine) in lines.enumerated() {
            let number = offset + 1
            var line = rawLine
            if line.hasSuffix("\r") { line.removeLast() }
            // custody's text format writes the tree digest as a comment (`# TREE-SHA256-1M (NAME) = HEX`); lists
            // written before that carry it without `# `: both are read.
            let treeComment = HashFormatter.treeCommentPrefix
            if line.hasPrefix(treeComment + "TREE-SHA256-") || line.hasPrefix(treeComment + "\\TREE-SHA256-") {
                line.removeFirst(treeComment.count)
            } else if line.trimmingWhitespace().isEmpty || line.hasPrefix("#") {
                continue
            }
            guard let entry = parseSumLine(line, number: number) else {
                throw EngineError.hashList(source: source, line: number,
                                           problem: "not a hashdeep, sha256sum or md5sum line; fix or remove it")
            }
            // BSD-tag lists (custody's text output, `sha256sum --tag`) give one line per algorithm: one entry.
            if let index = entryIndex[entry.path] {
                for (algorithm, digest) in entry.digests {
                    if let other = entries[index].digests[algorithm], other != digest {
                        throw EngineError.hashList(
                            source: source, line: number,
                            problem: "\(algorithm.rawValue) of '\(entry.path)' differs from line "
                                + "\(entries[index].line)")
                    }
                    entries[index].digests[algorithm] = digest
                }
                if let tree = entry.tree {
                    if let other = entries[index].tree,
                       other != tree || entries[index].treeChunkSize != entry.treeChunkSize {
                        throw EngineError.hashList(
                            source: source, line: number,
                            problem: "tree digest of '\(entry.path)' differs from line \(entries[index].line)")
                    }
                    entries[index].tree = tree
                    entries[index].treeChunkSize = entry.treeChunkSize
                }
                continue
            }
            entryIndex[entry.path] = entries.count
            entries.append(entry)
        }
        return KnownHashList(entries: entries)
    }

    private static func parseHashdeep(_ lines: [String], source: String) throws -> KnownHashList {
        guard lines.count >= 2, lines[1].hasPrefix("%%%% size,"), lines[1].hasSuffix(",filename") else {
            throw EngineError.hashList(source: source, line: 2,
                                       problem: "hashdeep header line '%%%% size,...,filename' missing")
        }
        let columnNames = lines[1].dropFirst("%%%% ".count).split(separator: ",").map(String.init)
        let hashColumns = columnNames.dropFirst().dropLast()
        var algorithms: [DigestAlgorithm?] = []
        for name in hashColumns { algorithms.append(DigestAlgorithm(rawValue: name)) }
        var entries: [Entry] = []
        for (offset, rawLine) in lines.enumerated().dropFirst(2) {
            let number = offset + 1
            var line = rawLine
            if line.hasSuffix("\r") { line.removeLast() }
            if line.hasPrefix("#") || line.hasPrefix("%%%%") || line.isEmpty { continue }
            let fields = line.split(separator: ",", maxSplits: columnNames.count - 1, omittingEmptySubsequences: false)
            guard fields.count == columnNames.count, let size = UInt64(fields[0]) else {
                throw EngineError.hashList(source: source, line: number,
                                           problem: "expected \(columnNames.count) comma-separated fields "
                                               + "(\(columnNames.joined(separator: ",")))")
            }
            var digests: [DigestAlgorithm: [UInt8]] = [:]
            for (index, algorithm) in algorithms.enumerated() {
                guard let algorithm else { continue }
                guard let bytes = Hex.decode(fields[index + 1]), bytes.count == algorithm.outputSize else {
                    throw EngineError.hashList(source: source, line: number,
                                               problem: "bad \(algorithm.rawValue) value")
                }
                digests[algorithm] = bytes
            }
            entries.append(Entry(path: String(fields[fields.count - 1]), size: size, digests: digests, line: number))
        }
        return KnownHashList(entries: entries)
    }

    private static func parseSumLine(_ line: String, number: Int) -> Entry? {
        var body = Substring(line)
        let escaped = body.first == "\\"
        if escaped { body = body.dropFirst() }
        // BSD tag form: ALGO (NAME) = HEX
        if let tagged = parseTagLine(String(body)) {
            let tag = tagged.tag.lowercased()
            guard let path = escaped ? unescape(tagged.name) : tagged.name, let bytes = Hex.decode(tagged.hex) else {
                return nil
            }
            if tag.hasPrefix("tree-sha256-") {
                guard let size = ByteSize.parse(String(tag.dropFirst("tree-sha256-".count))),
                      let chunkSize = try? TreeChunkSize.validate(size), let tree = Hash32(bytes) else { return nil }
                return Entry(path: path, size: nil, digests: [:], line: number, tree: tree, treeChunkSize: chunkSize)
            }
            guard let algorithm = DigestAlgorithm(rawValue: tag), bytes.count == algorithm.outputSize else {
                return nil
            }
            return Entry(path: path, size: nil, digests: [algorithm: bytes], line: number)
        }
        guard let space = body.firstIndex(of: " ") else { return nil }
        let hex = body[..<space]
        var rest = body[body.index(after: space)...]
        guard let marker = rest.first, marker == " " || marker == "*" else { return nil }
        rest = rest.dropFirst()
        guard let bytes = Hex.decode(hex),
              let algorithm = DigestAlgorithm.allCases.first(where: { $0.outputSize == bytes.count }),
              !rest.isEmpty, let path = escaped ? unescape(String(rest)) : String(rest) else { return nil }
        return Entry(path: path, size: nil, digests: [algorithm: bytes], line: number)
    }

    /// Splits `TAG (NAME) = HEX`; the name may itself hold parentheses.
    static func parseTagLine(_ line: String) -> (tag: String, name: String, hex: String)? {
        let utf8 = Array(line.utf8)
        guard let open = firstIndex(of: Array(" (".utf8), in: utf8),
              let close = lastIndex(of: Array(") = ".utf8), in: utf8), open + 2 <= close else { return nil }
        let tag = String(decoding: utf8[..<open], as: UTF8.self)
        guard !tag.isEmpty, !tag.contains(" ") else { return nil }
        return (tag, String(decoding: utf8[(open + 2)..<close], as: UTF8.self),
                String(decoding: utf8[(close + 4)...], as: UTF8.self))
    }

    private static func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        return (0...(haystack.count - needle.count)).first { Array(haystack[$0..<($0 + needle.count)]) == needle }
    }

    private static func lastIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        return (0...(haystack.count - needle.count)).reversed().first {
            Array(haystack[$0..<($0 + needle.count)]) == needle
        }
    }

    /// Reverses coreutils escaping (`\\`, `\n`, `\r`); nil on any other escape.
    static func unescape(_ name: String) -> String? {
        var out = ""
        var iterator = name.unicodeScalars.makeIterator()
        while let scalar = iterator.next() {
            guard scalar == "\\" else {
                out.unicodeScalars.append(scalar)
                continue
            }
            switch iterator.next() {
            case "\\": out += "\\"
            case "n": out += "\n"
            case "r": out += "\r"
            default: return nil
            }
        }
        return out
    }
}

/// The outcome of comparing computed digests with a known list, like `hashdeep -a`.
public struct AuditReport: Sendable, Equatable {
    /// What one file's comparison found.
    public enum Finding: Sendable, Equatable {
        /// Same path, same content.
        case matched(path: String)
        /// Same path, different content; names the first algorithm (or `size`) that differs.
        case changed(path: String, what: String, expected: String, actual: String)
        /// Content known under another path.
        case moved(path: String, knownAs: String)
        /// Not in the list.
        case new(path: String)
        /// In the list, not among the files hashed.
        case missing(path: String)
    }

    /// One finding per file, hashed or listed.
    public var findings: [Finding]

    /// How many files matched.
    public var matched: Int { findings.filter { if case .matched = $0 { return true } else { return false } }.count }
    /// Whether every file matched.
    public var passed: Bool { findings.allSatisfy { if case .matched = $0 { return true } else { return false } } }

    /// Compares `computed` against `known`. Paths are compared after normalizing both against `workingDirectory`
    /// (hashdeep writes absolute paths); only the algorithms both sides have are compared.
    public static func audit(_ computed: [FileDigests], against known: KnownHashList,
                             workingDirectory: String) -> AuditReport {
        func normalize(_ path: String) -> String {
            HashFormatter.absolutePath(path, workingDirectory: workingDirectory)
        }
        var knownByPath: [String: Int] = [:]
        for (index, entry) in known.entries.enumerated() {
            knownByPath[normalize(entry.path)] = index
        }
        var used = Set<Int>()
        var findings: [Finding] = []
        var moved: MovedIndex?
        for file in computed {
            if let index = knownByPath[normalize(file.path)] {
                used.insert(index)
                let entry = known.entries[index]
                if let difference = firstDifference(file, entry) {
                    findings.append(.changed(path: file.path, what: difference.what, expected: difference.expected,
                                             actual: difference.actual))
                } else {
                    findings.append(.matched(path: file.path))
                }
                continue
            }
            if moved == nil { moved = MovedIndex(known.entries) }
            if let index = moved!.firstUnused(matching: file, used: used, in: known.entries) {
                used.insert(index)
                findings.append(.moved(path: file.path, knownAs: known.entries[index].path))
            } else {
                findings.append(.new(path: file.path))
            }
        }
        for (index, entry) in known.entries.enumerated() where !used.contains(index) {
            findings.append(.missing(path: entry.path))
        }
        return AuditReport(findings: findings)
    }

    /// The known entries by digest (`ALGORITHM:HEX`, and `treeCHUNK:HEX`), made at the first file not found by
    /// path: a moved file is matched by looking up its own digests instead of comparing it with every entry (a
    /// whole tree moved would otherwise cost files x entries comparisons).
    struct MovedIndex {
        private var entriesByKey: [String: [Int]] = [:]
        /// How many entries at the front of each key's list are known to be used (skipped from then on).
        private var usedPrefix: [String: Int] = [:]

        init(_ entries: [KnownHashList.Entry]) {
            for (index, entry) in entries.enumerated() {
                for key in MovedIndex.keys(entry.digests, tree: entry.tree, chunkSize: entry.treeChunkSize) {
                    entriesByKey[key, default: []].append(index)
                }
            }
        }

        static func keys(_ digests: [DigestAlgorithm: [UInt8]], tree: Hash32?, chunkSize: Int?) -> [String] {
            var keys = digests.map { "\($0.key.rawValue):\(Hex.encode($0.value))" }
            if let tree, let chunkSize { keys.append("tree\(chunkSize):\(tree.hex)") }
            return keys
        }

        /// The lowest-numbered entry not yet used whose every digest in common with `file` (at least one) is
        /// equal: the entry the linear scan in file order would have found.
        mutating func firstUnused(matching file: FileDigests, used: Set<Int>,
                                  in entries: [KnownHashList.Entry]) -> Int? {
            var best: Int?
            for key in MovedIndex.keys(file.digests, tree: file.tree, chunkSize: file.chunkSize) {
                guard let list = entriesByKey[key] else { continue }
                var front = usedPrefix[key, default: 0]
                while front < list.count && used.contains(list[front]) { front += 1 }
                usedPrefix[key] = front
                for index in list[front...] where !used.contains(index) {
                    if let best, index >= best { break }
                    if AuditReport.firstDifference(file, entries[index]) == nil {
                        best = index
                        break
                    }
                }
            }
            return best
        }
    }

    fileprivate static func firstDifference(_ file: FileDigests, _ entry: KnownHashList.Entry)
        -> (what: String, expected: String, actual: String)? {
        if let size = entry.size, size != file.size {
            return ("size", String(size), String(file.size))
        }
        var compared = 0
        for algorithm in DigestAlgorithm.allCases {
            guard let expected = entry.digests[algorithm], let actual = file.digests[algorithm] else { continue }
            compared += 1
            if !constantTimeEqual(expected, actual) {
                return (algorithm.rawValue, Hex.encode(expected), Hex.encode(actual))
            }
        }
        if let expected = entry.tree, let actual = file.tree, entry.treeChunkSize == file.chunkSize {
            compared += 1
            if !constantTimeEqual(expected.bytes, actual.bytes) {
                return ("tree", expected.hex, actual.hex)
            }
        }
        if compared == 0 {
            let names = entry.digests.keys.sorted().map(\.rawValue)
                + (entry.treeChunkSize.map { [TreeChunkSize.digestName($0)] } ?? [])
            let known = names.joined(separator: ",")
            return ("algorithms", known.isEmpty ? "none" : known, "none in common (add them with -a)")
        }
        return nil
    }
}
