import ArgumentParser
import CustodyKit

#if canImport(Glibc)
import Glibc
#endif

struct PackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pack",
        abstract: "Compress evidence into a parallel, chunked gzip file that plain gzip can read.",
        discussion: """
            Writes a multi-member gzip file (RFC 1952), one member per chunk, each header carrying the chunk \
            index and member size (SPEC.md section 3), closed by an empty end-of-file member: `gzip -t` passes \
            and `gzip -dc OUTPUT | sha256sum` prints the content's sha256. Chunks that would not shrink are \
            stored; all-zero chunks take a fast path. The tree digest and sha256 of the content are computed in \
            the same read and printed (on stderr when OUTPUT is -).
            """
    )

    @Argument(help: "File, block device, or - for stdin.")
    var input: String

    @Argument(help: "Packed file to write, or - for stdout.")
    var output: String

    /// `--level` as pack describes it.
    enum LevelHelp: OptionHelpText {
        static let text = ArgumentHelp(
            "Compression level 0-9 (0 stores every chunk; default 1, the fastest): ISA-L serves 1-3 where it is "
                + "installed, zlib 4-9 (custody --version says which is in use).")
    }

    @OptionGroup var levelOption: LevelOption<LevelHelp>

    @OptionGroup var chunk: ChunkSizeOption
    @OptionGroup var readersOption: ReadersOption

    @OptionGroup var outputOptions: SingleOutputOptions
    @OptionGroup var quietOption: QuietOption

    private var level: Int { levelOption.level }
    private var json: Bool { outputOptions.json }
    private var force: Bool { outputOptions.force }

    func run() throws {
        let chunkSize = try chunk.chunkSize
        let source: EvidenceSource
        do {
            source = try EvidenceSource.open(input, describingDevice: false)
        } catch IOError.isDirectory(let path) {
            throw CommandError.operational("\(path): is a directory; pack takes one file or device")
        }
        defer { source.close() }
        if output == "-" && isatty(1) == 1 {
            throw CommandError.operational("refusing to write compressed data to a terminal; redirect stdout")
        }
        let target = try OutputTarget.create(path: output, overwrite: force, input: source.descriptor)
        // Installed once input and output are open (an open may wait on a FIFO): from here a signal stops the
        // pack between chunks and removes the partial output (SPEC 7.3).
        try InterruptFlag.install()
        defer { InterruptFlag.uninstall() }
        var packer = EvidencePacker(level: level, chunkSize: chunkSize, linearDigests: [.sha256],
                                    readers: readersOption.readers)
        packer.shouldStop = InterruptFlag.shouldStop
        let display = ProgressReporter(label: "packing \(input)", totalBytes: source.size, quiet: quietOption.quiet)
        packer.progress = { display.update($0) }
        let result: PackResult
        do {
            result = try packer.pack(source.plainReader(), to: target.sink)
            display.finish()
            if let change = try source.sizeChange(read: result.size) {
                throw EngineError.changedSize(path: input, change, activity: .pack)
            }
            if InterruptFlag.isSet { throw IOError.interrupted }
            try target.commit()
        } catch {
            display.finish()
            target.discard()
            if InterruptFlag.isSet { throw InterruptFlag.stoppedError(what: target.stoppedOutcome) }
            throw error
        }
        let lines = summary(result)
        for line in lines {
            if output == "-" { Terminal.writeError(line + "\n") } else { Terminal.line(line) }
        }
    }

    private func summary(_ result: PackResult) -> [String] {
        let sha256 = Hex.encode(result.digests[.sha256] ?? [])
        if json {
            return [JSONValue.object([
                "input": .string(input), "output": .string(output),
                "size": .int(Int64(result.size)), "packedSize": .int(Int64(result.packedSize)),
                "chunkSize": .int(Int64(result.chunkSize)), "chunks": .int(Int64(result.chunkCount)),
                "storedChunks": .int(Int64(result.storedChunks)), "zeroChunks": .int(Int64(result.zeroChunks)),
                "level": .int(Int64(level)),
                "engine": .string(level == 0 ? "none" : CompressionEngine.deflating(level: level).rawValue), "tree": .string(result.treeRoot.hex), "sha256": .string(sha256),
            ]).canonicalString]
        }
        return [
            "packed \(input) -> \(output)",
            "size: \(result.size) bytes (\(ByteSize.describe(result.size)))",
            "packed size: \(result.packedSize) bytes (\(formatFixed(result.ratio * 100, decimals: 1))%), "
                + "\(result.chunkCount) chunks, \(result.storedChunks) stored, \(result.zeroChunks) zero, "
                + "deflate: \(level == 0 ? "none (stored)" : CompressionEngine.deflating(level: level).rawValue)",
            "\(TreeChunkSize.digestName(result.chunkSize)) (\(input)) = \(result.treeRoot.hex)",
            "SHA256 (\(input)) = \(sha256)",
        ]
    }
}
