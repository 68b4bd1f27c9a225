import ArgumentParser
import CustodyKit

#if canImport(Glibc)
import Glibc
#endif

struct HashCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash",
        abstract: "Hash files, directories, block devices or stdin in one parallel pass.",
        discussion: """
            Computes the RFC 6962 tree digest over fixed-size chunks and the linear digests (md5, sha1, sha256, \
            sha512) in a single read. Formats: text (BSD tags), json (one object per line), sha256sum, md5sum, \
            sha1sum, sha512sum (checkable with sha256sum -c and friends), hashdeep (auditable with hashdeep -a -k), \
            dfxml. --audit compares against a hashdeep or sha256sum list and exits 1 on any difference.
            """
    )

    @Option(name: [.customShort("a"), .customLong("algorithms")],
            help: "Comma-separated list from tree, md5, sha1, sha256, sha512 (default tree,sha256).")
    var algorithmList: String?

    @OptionGroup var chunk: ChunkSizeOption
    @OptionGroup var readersOption: ReadersOption

    @Flag(name: .shortAndLong, help: "Hash the files inside directories, recursively, in a stable order.")
    var recursive = false

    @Flag(name: [.customShort("L"), .customLong("follow-symlinks")], help: "Follow symbolic links inside directories.")
    var followSymlinks = false

    @Option(name: .long, help: "text, json, sha256sum, md5sum, sha1sum, sha512sum, hashdeep or dfxml.")
    var format: String?

    @Flag(name: .long, help: "Same as --format json.")
    var json = false

    @Option(name: .long, help: "Compare with a known hashdeep or sha256sum list; exit 1 on any difference.")
    var audit: String?

    @OptionGroup var quietOption: QuietOption

    @Argument(help: "Files, directories (with -r), block devices, or - for stdin.")
    var paths: [String] = []

    func validate() throws {
        if paths.isEmpty { throw ValidationError("name at least one PATH (or - for stdin)") }
        if json, let format, format != "json" { throw ValidationError("--json conflicts with --format \(format)") }
        _ = try resolvedSettings()
    }

    /// The output format and the algorithms to compute, reconciled.
    func resolvedSettings() throws -> (format: HashOutputFormat, algorithms: [HashAlgorithm]) {
        let formatName = json ? "json" : (format ?? "text")
        guard let outputFormat = HashOutputFormat(rawValue: formatName) else {
            let known = HashOutputFormat.allCases.map(\.rawValue).joined(separator: ", ")
            throw CommandError.operational("--format '\(formatName)' is unknown: choose from \(known)")
        }
        var algorithms: [HashAlgorithm]
        if let algorithmList {
            algorithms = try HashAlgorithm.parseList(algorithmList)
        } else if let sum = outputFormat.sumAlgorithm {
            algorithms = [.digest(sum)]
        } else if outputFormat == .hashdeep {
            algorithms = [.digest(.md5), .digest(.sha256)]
        } else {
            algorithms = [.tree, .digest(.sha256)]
        }
        if let sum = outputFormat.sumAlgorithm, !algorithms.contains(.digest(sum)) {
            throw CommandError.operational("--format \(outputFormat.rawValue) needs \(sum.rawValue) in -a")
        }
        if outputFormat == .hashdeep && HashFormatter.hashdeepColumns(algorithms).isEmpty {
            throw CommandError.operational("--format hashdeep needs md5, sha1 or sha256 in -a")
        }
        if audit != nil && algorithms.allSatisfy({ $0 == .tree }) {
            throw CommandError.operational("--audit compares linear digests: add md5, sha1, sha256 or sha512 to -a")
        }
        return (outputFormat, algorithms)
    }

    func run() throws {
        let settings = try resolvedSettings()
        let outputFormat = settings.format
        var algorithms = settings.algorithms
        var chunkSize = try chunk.chunkSize
        var known: KnownHashList?
        if let audit {
            let list = try KnownHashList.parse(FileSystem.readFile(audit, limit: 1 << 30), source: audit)
            // Without -a, compute what the list holds; its tree digests fix the chunk size.
            if algorithmList == nil {
                let listed = list.algorithms.map(HashAlgorithm.digest)
                    + (list.treeChunkSize == nil ? [] : [HashAlgorithm.tree])
                if !listed.isEmpty { algorithms = listed.sorted() }
            }
            if let listed = list.treeChunkSize, algorithms.contains(.tree) { chunkSize = listed }
            known = list
        }
        let report = HashRunReport(json: outputFormat == .json && known == nil, quiet: quietOption.quiet)
        let commandLine = (["custody"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        if known == nil { printHeader(outputFormat, algorithms: algorithms, commandLine: commandLine) }
        var results: [FileDigests] = []
        let emit: (FileDigests) -> Void = { digests in
            if known == nil {
                printRecord(digests, format: outputFormat, algorithms: algorithms)
            } else {
                results.append(digests)
            }
        }
        for path in paths {
            if recursive && !followSymlinks && path != "-" && isDirectory(path) {
                try hashCollection(path, algorithms: algorithms, chunkSize: chunkSize, report: report, emit: emit)
                continue
            }
            let inputs = InputHasher.enumerate([path], recursive: recursive,
                                               followSymlinks: followSymlinks) { message, isError in
                if isError { report.failure(message) } else { report.note(message) }
            }
            for input in inputs {
                var pipeline = ChunkPipeline(chunkSize: chunkSize, linearDigests: algorithms.compactMap(\.linear),
                                             computeTree: algorithms.contains(.tree), readers: readersOption.readers)
                let display = ProgressReporter(label: "hashing", totalBytes: ProgressReporter.size(of: input.path),
                                               quiet: quietOption.quiet)
                pipeline.progress = { display.item(input.path, bytesDone: $0) }
                do {
                    let digests = try InputHasher.hash(input, pipeline: pipeline)
                    display.finish()
                    report.hashed(digests.size)
                    emit(digests)
                } catch {
                    display.finish()
                    report.failure(describe(error, path: input.path), path: input.path)
                }
            }
        }
        if known == nil { printFooter(outputFormat) }
        let hadError = report.failures > 0
        if recursive { report.finish() }
        if let known {
            let report = AuditReport.audit(results, against: known, workingDirectory: currentDirectory())
            printAudit(report, json: outputFormat == .json)
            if hadError { throw ExitCode(ExitStatus.operationalError.rawValue) }
            if !report.passed { throw ExitCode(ExitStatus.verificationFailed.rawValue) }
            return
        }
        if hadError { throw ExitCode(ExitStatus.operationalError.rawValue) }
    }

    /// Hashes the files under the directory `root` with the collection engine (walk and hashing overlapped, many
    /// files in flight), handing each file's digests to `emit` in walk order and every problem to `report`.
    private func hashCollection(_ root: String, algorithms: [HashAlgorithm], chunkSize: Int, report: HashRunReport,
                                emit: (FileDigests) -> Void) throws {
        let progress = CollectionProgressDisplay(label: root, quiet: quietOption.quiet)
        var hasher = CollectionHasher(chunkSize: chunkSize, linearDigests: algorithms.compactMap(\.linear),
                                      computesTree: algorithms.contains(.tree))
        hasher.countsAhead = progress.enabled
        defer { progress.finish() }
        _ = try hasher.run(roots: [root]) { item, tally in
            let path = item.entry.pathString
            if let digests = item.digests {
                report.hashed(digests.size)
                progress.update(report: report, tally: tally)
                emit(digests)
                return
            }
            if let problem = item.problem {
                report.failure("\(Printable.escapingControls(path)): \(problem)", path: path, reason: problem)
                return
            }
            switch item.entry.kind {
            case .symlink:
                report.note("\(Printable.escapingControls(path)): symbolic link skipped (use -L to follow links)")
            case .fifo, .socket, .characterDevice, .blockDevice, .unknown:
                report.note("\(Printable.escapingControls(path)): special file skipped")
            case .regular, .directory:
                break
            }
        }
    }

    private func isDirectory(_ path: String) -> Bool {
        guard let info = try? FileSystem.status(path, followLinks: true) else { return false }
        return info.st_mode & S_IFMT == S_IFDIR
    }

    private func describe(_ error: Error, path: String) -> String {
        switch error {
        case let error as CustodyFailure: return error.description
        default: return "\(path): \(error)"
        }
    }

    private func printHeader(_ format: HashOutputFormat, algorithms: [HashAlgorithm], commandLine: String) {
        switch format {
        case .hashdeep:
            for line in HashFormatter.hashdeepHeader(columns: HashFormatter.hashdeepColumns(algorithms),
                                                     directory: currentDirectory(), commandLine: commandLine) {
                Terminal.line(line)
            }
        case .dfxml:
            for line in HashFormatter.dfxmlHeader(algorithms: algorithms, commandLine: commandLine,
                                                  version: CustodyVersion.string,
                                                  startTime: Timestamp.now().description) {
                Terminal.line(line)
            }
        default:
            break
        }
    }

    private func printRecord(_ computed: FileDigests, format: HashOutputFormat, algorithms: [HashAlgorithm]) {
        var digests = computed
        if format == .hashdeep || format == .dfxml {
            // hashdeep writes absolute names, and `hashdeep -a -k` matches on them.
            digests.path = HashFormatter.absolutePath(computed.path, workingDirectory: currentDirectory())
        }
        switch format {
        case .text:
            HashFormatter.textLines(digests, algorithms: algorithms).forEach(Terminal.line)
        case .json:
            Terminal.line(HashFormatter.jsonObject(digests, algorithms: algorithms).canonicalString)
        case .sha256sum, .md5sum, .sha1sum, .sha512sum:
            Terminal.line(HashFormatter.sumLine(digests, algorithm: format.sumAlgorithm!))
        case .hashdeep:
            Terminal.line(HashFormatter.hashdeepLine(digests, columns: HashFormatter.hashdeepColumns(algorithms)))
        case .dfxml:
            HashFormatter.dfxmlFileObject(digests, algorithms: algorithms).forEach(Terminal.line)
        }
    }

    private func printFooter(_ format: HashOutputFormat) {
        if format == .dfxml { HashFormatter.dfxmlFooter.forEach(Terminal.line) }
    }

    private func printAudit(_ report: AuditReport, json: Bool) {
        var counts: [String: Int] = ["matched": 0, "changed": 0, "moved": 0, "new": 0, "missing": 0]
        var items: [JSONValue] = []
        for finding in report.findings {
            switch finding {
            case .matched(let path):
                counts["matched"]! += 1
                items.append(.object(["status": .string("matched"), "path": .string(path)]))
            case .changed(let path, let what, let expected, let actual):
                counts["changed"]! += 1
                items.append(.object(["status": .string("changed"), "path": .string(path), "what": .string(what),
                                      "expected": .string(expected), "actual": .string(actual)]))
                if !json {
                    Terminal.line("changed: \(Printable.escapingControls(path)): \(what) expected \(expected), "
                                      + "got \(actual)")
                }
            case .moved(let path, let knownAs):
                counts["moved"]! += 1
                items.append(.object(["status": .string("moved"), "path": .string(path), "knownAs": .string(knownAs)]))
                if !json {
                    Terminal.line("moved: \(Printable.escapingControls(path)) "
                                      + "(known as \(Printable.escapingControls(knownAs)))")
                }
            case .new(let path):
                counts["new"]! += 1
                items.append(.object(["status": .string("new"), "path": .string(path)]))
                if !json { Terminal.line("new: \(Printable.escapingControls(path))") }
            case .missing(let path):
                counts["missing"]! += 1
                items.append(.object(["status": .string("missing"), "path": .string(path)]))
                if !json { Terminal.line("missing: \(Printable.escapingControls(path))") }
            }
        }
        if json {
            Terminal.line(JSONValue.object([
                "passed": .bool(report.passed),
                "counts": .object(counts.mapValues { .int(Int64($0)) }),
                "files": .array(items),
            ]).canonicalString)
            return
        }
        let summary = ["matched", "changed", "moved", "new", "missing"].map { "\(counts[$0]!) \($0)" }
        Terminal.line("audit \(report.passed ? "passed" : "failed"): " + summary.joined(separator: ", "))
    }
}

/// The process's working directory.
func currentDirectory() -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    guard getcwd(&buffer, buffer.count) != nil else { return "." }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// What a `hash` run met, for the summary on stderr: counts, and the problems listed by path (at most
/// `listLimit` failure lines and as many notes on stderr; with `json`, every failure is also an object on stdout).
final class HashRunReport {
    /// The most failure lines (and, separately, notes) written to stderr.
    static let listLimit = 100

    private let json: Bool
    private let quiet: Bool
    private let start = MonotonicClock.seconds()
    /// Files hashed.
    private(set) var files: UInt64 = 0
    /// Their bytes.
    private(set) var bytes: UInt64 = 0
    /// Inputs that could not be hashed.
    private(set) var failures = 0
    /// Entries skipped (links, special files).
    private(set) var skipped = 0

    init(json: Bool, quiet: Bool) {
        self.json = json
        self.quiet = quiet
    }

    /// Counts one hashed file of `size` bytes.
    func hashed(_ size: UInt64) {
        files += 1
        bytes += size
    }

    /// An input that could not be hashed: `message` (`PATH: what: reason`) on stderr while under the limit; with
    /// `json`, `{"error":REASON,"path":PATH}` on stdout whatever the count (`{"error":MESSAGE}` without a path).
    func failure(_ message: String, path: String? = nil, reason: String? = nil) {
        failures += 1
        if failures <= Self.listLimit { Terminal.error(message) }
        if json {
            var object: [String: JSONValue] = ["error": .string(reason ?? message)]
            if let path { object["path"] = .string(path) }
            Terminal.line(JSONValue.object(object).canonicalString)
        }
    }

    /// Something skipped, not an error (a link, a special file).
    func note(_ message: String) {
        skipped += 1
        if skipped <= Self.listLimit { Terminal.error(message) }
    }

    /// Ends the run: how many lines were left out, and (unless quiet) the summary line.
    func finish() {
        if failures > Self.listLimit {
            Terminal.error("\(failures - Self.listLimit) more failures not listed"
                               + (json ? "" : " (--json lists every one)"))
        }
        if skipped > Self.listLimit { Terminal.error("\(skipped - Self.listLimit) more skipped entries not listed") }
        guard !quiet else { return }
        let seconds = max(MonotonicClock.seconds() - start, 1e-6)
        let rate = Double(bytes) / seconds
        let filesPerSecond = Int(Double(files) / seconds)
        let duration = formatFixed(seconds, decimals: 2)
        Terminal.writeError("hashed \(files) files, \(ByteSize.describe(bytes)) in \(duration) s "
                                + "(\(ByteSize.describe(UInt64(rate)))/s, \(filesPerSecond) files/s); "
                                + "\(failures) failed, \(skipped) skipped\n")
    }
}

/// Progress of a collection on a terminal: files and bytes done of those found so far, of the totals once a walk
/// (the count ahead, or the hashing's) has ended, with the rate and ETA; at most five redraws a second.
final class CollectionProgressDisplay {
    private let label: String
    /// Whether progress is shown (stderr is a terminal and not --quiet).
    let enabled: Bool
    private let start = MonotonicClock.seconds()
    private var lastDraw = 0.0
    private var drew = false

    init(label: String, quiet: Bool) {
        self.label = label
        enabled = !quiet && Terminal.stderrIsTerminal
    }

    func update(report: HashRunReport, tally: CollectionTally) {
        guard enabled else { return }
        let now = MonotonicClock.seconds()
        guard now - lastDraw >= 0.2 else { return }
        lastDraw = now
        drew = true
        let elapsed = max(now - start, 1e-6)
        let rate = Double(report.bytes) / elapsed
        let totals = tally.totals
        let known = totals ?? tally.atLeast
        let of = totals == nil ? "of at least" : "of"
        var text = "\r\(Printable.escapingControls(label)): \(report.files) \(of) \(known.files) files, "
            + "\(ByteSize.describe(report.bytes)) \(of) \(ByteSize.describe(known.bytes))"
        if let totals, totals.bytes > 0, rate > 0, report.bytes < totals.bytes {
            let percent = Double(report.bytes) * 100 / Double(totals.bytes)
            let remaining = Int(Double(totals.bytes - report.bytes) / rate)
            text += " (\(formatFixed(percent, decimals: 0))%), ETA \(remaining / 60):"
                + "\(remaining % 60 < 10 ? "0" : "")\(remaining % 60)"
        }
        text += ", \(ByteSize.describe(UInt64(rate)))/s   "
        Terminal.writeError(text)
    }

    func finish() {
        guard enabled, drew else { return }
        Terminal.writeError("\r\u{1B}[K")
    }
}
