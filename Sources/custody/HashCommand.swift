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
        var hadError = false
        let inputs = InputHasher.enumerate(paths, recursive: recursive,
                                           followSymlinks: followSymlinks) { message, isError in
            Terminal.error(message)
            if isError { hadError = true }
        }
        let commandLine = (["custody"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        if known == nil { printHeader(outputFormat, algorithms: algorithms, commandLine: commandLine) }
        var results: [FileDigests] = []
        for input in inputs {
            var pipeline = ChunkPipeline(chunkSize: chunkSize, linearDigests: algorithms.compactMap(\.linear),
                                         computeTree: algorithms.contains(.tree), readers: readersOption.readers)
            let display = ProgressReporter(label: "hashing", totalBytes: ProgressReporter.size(of: input.path),
                                           quiet: quietOption.quiet)
            pipeline.progress = { display.item(input.path, bytesDone: $0) }
            do {
                let digests = try InputHasher.hash(input, pipeline: pipeline)
                display.finish()
                if known == nil {
                    printRecord(digests, format: outputFormat, algorithms: algorithms)
                } else {
                    results.append(digests)
                }
            } catch {
                display.finish()
                Terminal.error(describe(error, path: input.path))
                hadError = true
            }
        }
        if known == nil { printFooter(outputFormat) }
        if let known {
            let report = AuditReport.audit(results, against: known, workingDirectory: currentDirectory())
            printAudit(report, json: outputFormat == .json)
            if hadError { throw ExitCode(ExitStatus.operationalError.rawValue) }
            if !report.passed { throw ExitCode(ExitStatus.verificationFailed.rawValue) }
            return
        }
        if hadError { throw ExitCode(ExitStatus.operationalError.rawValue) }
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
