import ArgumentParser
import CustodyKit

#if canImport(Glibc)
import Glibc
#endif

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure read, digest, compression and seal throughput on a file, a device or synthetic data.",
        discussion: """
            Reads the input once per stage, read-only, from the start until it ends or the stage has run for \
            --seconds (default 1.5; 0 reads everything): raw read, md5, sha1, sha256, sha512 each alone, the tree \
            digest, all digests together, compression, and the seal pipeline (read + tree + sha256 + \
            compression). Prints each stage's throughput and names the seal pipeline's bottleneck. \
            --synthetic SIZE generates a disk-like mix in memory (no disk involved). A file or device input is \
            read through the same bad-sector handling as seal (--plain-reader turns it off); after the first \
            stage a small file is usually served from the page cache.
            """
    )

    @Argument(help: "A file or block device to read (read-only).")
    var path: String?

    @Option(name: .long, help: "Measure a synthetic input of this size generated in memory (for example 1G).")
    var synthetic: String?

    @Option(name: .long,
            help: "Stages, comma-separated: read, md5, sha1, sha256, sha512, tree, all-digests, compress, seal.")
    var stages: String?

    @OptionGroup var levelOption: LevelOption<CompressionLevelHelp>

    @Flag(name: .long, help: "Read a file or device without the bad-sector handling layer (to measure its cost).")
    var plainReader = false

    /// `--retries` as bench describes it.
    enum RetriesHelp: OptionHelpText {
        static let text: ArgumentHelp = "Retries of a failed read before narrowing to sectors (default 3)."
    }

    @OptionGroup var retriesOption: RetriesOption<RetriesHelp>

    private var level: Int32 { Int32(levelOption.level) }
    private var retries: Int { retriesOption.retries }

    @Option(name: .long, help: "Seconds each stage may run before it stops and reports (default 1.5; 0: whole input).")
    var seconds = 1.5

    @Flag(name: .long, help: "Print one JSON object on stdout.")
    var json = false

    @OptionGroup var chunk: ChunkSizeOption
    @OptionGroup var readersOption: ReadersOption
    @OptionGroup var quietOption: QuietOption

    func validate() throws {
        switch (path, synthetic) {
        case (nil, nil):
            throw ValidationError("name a PATH (file or block device) or give --synthetic SIZE")
        case (.some, .some):
            throw ValidationError("give either PATH or --synthetic SIZE, not both")
        default:
            break
        }
        if path == "-" {
            throw ValidationError("bench reads its input once per stage: PATH must be a file or block device, not -")
        }
        _ = try syntheticSize()
        _ = try selectedStages()
        guard seconds >= 0, seconds <= 86_400 * 365 else {
            throw ValidationError("--seconds \(seconds): give 0 (no limit) to one year (31536000)")
        }
    }

    private func syntheticSize() throws -> UInt64? {
        guard let synthetic else { return nil }
        guard let size = ByteSize.parse(synthetic), size > 0 else {
            throw CommandError.operational("--synthetic '\(synthetic)' is not a size above zero (for example 1G)")
        }
        return size
    }

    private func selectedStages() throws -> [BenchStage] {
        guard let stages else { return BenchStage.allCases }
        return try BenchStage.parseList(stages)
    }

    func run() throws {
        let chunkSize = try chunk.chunkSize
        let stageList = try selectedStages()
        try InterruptFlag.install()
        defer { InterruptFlag.uninstall() }

        var runner = BenchRunner(chunkSize: chunkSize, readers: readersOption.readers, compressionLevel: level)
        runner.shouldStop = InterruptFlag.shouldStop
        runner.timeLimit = seconds > 0 ? seconds : nil

        let input: JSONValue
        let label: String
        var source: EvidenceSource?
        if let size = try syntheticSize() {
            input = .object(["kind": .string("synthetic"), "size": .int(Int64(clamping: size))])
            label = "synthetic \(ByteSize.describe(size)) (random, text, zeros, binary, copies), in memory"
        } else {
            let opened = try EvidenceSource.open(path!)
            guard opened.description.kind != .stream else {
                opened.close()
                throw CommandError.operational(
                    "\(path!): not a regular file or block device; bench reads its input once per stage")
            }
            source = opened
            input = opened.description.json
            label = describe(opened.description)
        }
        defer { source?.close() }
        let synthetic = try syntheticSize().map { SyntheticInput(size: $0) }
        let resilient = source != nil && !plainReader

        var measurements: [BenchMeasurement] = []
        var firstLog: BadSectorLog?
        for stage in stageList {
            let log = BadSectorLog()
            if firstLog == nil { firstLog = log }
            let reader: ChunkReader
            if let synthetic {
                reader = synthetic
            } else if resilient {
                reader = source!.resilientReader(policy: ReadPolicy(retries: retries), log: log,
                                                 shouldStop: InterruptFlag.shouldStop)
            } else {
                reader = source!.plainReader()
            }
            let display = ProgressReporter(label: "bench \(stage.rawValue)", totalBytes: reader.knownSize,
                                           quiet: quietOption.quiet,
                                           detail: { log.badSectors > 0 ? "\(log.badSectors) bad sectors" : nil })
            var stageRunner = runner
            stageRunner.progress = { _, done in display.update(done) }
            do {
                measurements.append(try stageRunner.measure(stage, reader: reader))
                display.finish()
            } catch {
                display.finish()
                if InterruptFlag.isSet { throw InterruptFlag.stoppedError(what: "benchmark stopped, no results") }
                throw error
            }
        }

        let report = BenchReport(machine: MachineInfo.current(), input: input, inputLabel: label,
                                 chunkSize: chunkSize, readers: readersOption.readers, compressionLevel: level,
                                 resilientReader: resilient, timeLimit: runner.timeLimit, measurements: measurements,
                                 badSectors: resilient ? firstLog : nil)
        if json {
            Terminal.line(report.json.canonicalString)
        } else {
            report.tableLines.forEach(Terminal.line)
        }
    }

    private func describe(_ description: SourceDescription) -> String {
        var text = description.path
        if let size = description.size { text += ", \(ByteSize.describe(size))" }
        if description.kind == .blockDevice {
            var parts: [String] = []
            let identity = [description.vendor, description.model].compactMap { $0 }.joined(separator: " ")
            if !identity.isEmpty { parts.append(identity) }
            if let serial = description.serial { parts.append("serial \(serial)") }
            if let backing = description.backingFile { parts.append("loop on \(backing)") }
            if let rotational = description.rotational { parts.append(rotational ? "rotational" : "solid state") }
            if let logical = description.logicalSectorSize { parts.append("\(logical)-byte sectors") }
            text += " (block device" + (parts.isEmpty ? "" : ": " + parts.joined(separator: ", ")) + ")"
        }
        return text
    }
}
