import ArgumentParser
import CustodyKit

#if canImport(Glibc)
import Glibc
#endif

struct UnpackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unpack",
        abstract: "Decompress and verify a file made by custody pack, in parallel.",
        discussion: """
            Checks every member's CRC-32, size and chunk index, the end-of-file member and that nothing follows \
            it; with --expect-leaves, every chunk's leaf hash; with --expect-tree / --expect-sha256, the digests \
            of the whole content. A damaged chunk is named by index and byte range (exit 1) and no output is \
            left behind; --salvage writes every good chunk, zero-fills the damaged ones and lists them (exit 1). \
            OUTPUT is written to a temporary file and renamed when complete; - streams to stdout.
            """
    )

    @Argument(help: "Packed file, or - for stdin.")
    var input: String

    @Argument(help: "File to write the content to, or - for stdout.")
    var output: String

    @Flag(name: .long, help: "Write every good chunk, zero-fill and list the damaged ones (exit 1 if any).")
    var salvage = false

    @Option(name: .customLong("expect-tree"), help: "Expected tree digest (hex) at the file's chunk size.")
    var expectTree: String?

    @Option(name: .customLong("expect-sha256"), help: "Expected sha256 of the content (hex).")
    var expectSHA256: String?

    @Option(name: .customLong("expect-leaves"), help: "File of expected leaf hashes, one hex per line, in order.")
    var expectLeaves: String?

    @OptionGroup var outputOptions: SingleOutputOptions
    @OptionGroup var quietOption: QuietOption

    private var json: Bool { outputOptions.json }
    private var force: Bool { outputOptions.force }

    func validate() throws {
        _ = try expectation()
    }

    func expectation() throws -> UnpackExpectation {
        var expected = UnpackExpectation()
        if let expectTree {
            guard let hash = Hash32(hex: expectTree) else {
                throw ValidationError("--expect-tree '\(expectTree)' is not 64 hex digits")
            }
            expected.treeRoot = hash
        }
        if let expectSHA256 {
            guard let bytes = Hex.decode(expectSHA256), bytes.count == 32 else {
                throw ValidationError("--expect-sha256 '\(expectSHA256)' is not 64 hex digits")
            }
            expected.digests[.sha256] = bytes
        }
        return expected
    }

    /// Damaged chunks listed one per line on stderr at most.
    static let listedDamage = 100

    func run() throws {
        var expected = try expectation()
        if let expectLeaves { expected.leaves = try Self.readLeaves(expectLeaves) }
        let source = input == "-" ? FileDescriptor.standardInput : try FileDescriptor.openForReading(input)
        defer { if input != "-" { source.close() } }
        let target = try OutputTarget.create(path: output, overwrite: force, input: input == "-" ? nil : source)
        // Installed once input and output are open (an open may wait on a FIFO): from here a signal stops the
        // unpack at its next read and removes the decompressed evidence written so far (SPEC 7.3).
        try InterruptFlag.install()
        defer { InterruptFlag.uninstall() }
        var unpacker = EvidenceUnpacker(expected: expected, salvage: salvage, linearDigests: [.sha256])
        let total = input == "-" ? nil : (try? source.status()).map { UInt64($0.st_size) }
        let display = ProgressReporter(label: "unpacking \(input)", totalBytes: total, quiet: quietOption.quiet)
        unpacker.progress = { display.update($0) }
        let result: UnpackResult
        do {
            result = try unpacker.unpack(StoppableSource(source), to: target.sink)
            display.finish()
            if InterruptFlag.isSet { throw IOError.interrupted }
            if result.verified || salvage {
                try target.commit()
            } else {
                target.discard()
            }
        } catch let error as EngineError where !InterruptFlag.isSet {
            // The unpacker reads a byte stream and knows no path: its errors are named here.
            display.finish()
            target.discard()
            throw CommandError("\(input): \(error)", kind: error.kind)
        } catch {
            display.finish()
            target.discard()
            if InterruptFlag.isSet { throw InterruptFlag.stoppedError(what: target.stoppedOutcome) }
            throw error
        }
        // A forged file can describe thousands of lost chunks: the first hundred are listed, then a count.
        for damage in result.damaged.prefix(Self.listedDamage) { Terminal.error("\(input): \(damage)") }
        if result.damaged.count > Self.listedDamage {
            Terminal.error("\(input): \(result.damaged.count - Self.listedDamage) more damaged chunks not listed "
                + "(\(result.damaged.count) in all)")
        }
        for problem in result.problems { Terminal.error("\(input): \(problem)") }
        for line in summary(result) {
            if output == "-" { Terminal.writeError(line + "\n") } else { Terminal.line(line) }
        }
        if !result.verified {
            if !salvage && target.isAtomic { Terminal.error("\(output): not written (verification failed)") }
            throw ExitCode(ExitStatus.verificationFailed.rawValue)
        }
    }

    /// Reads a leaf list: one 64-hex-digit hash per line (blank lines ignored).
    static func readLeaves(_ path: String) throws -> [Hash32] {
        let text = String(decoding: try FileSystem.readFile(path, limit: 1 << 30), as: UTF8.self)
        var leaves: [Hash32] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: " \t\r")
            if trimmed.isEmpty { continue }
            guard let leaf = Hash32(hex: trimmed) else {
                throw CommandError.operational("\(path): line \(number + 1): not a 64-hex-digit leaf hash")
            }
            leaves.append(leaf)
        }
        return leaves
    }

    private func summary(_ result: UnpackResult) -> [String] {
        let sha256 = Hex.encode(result.digests[.sha256] ?? [])
        if json {
            let damaged = result.damaged.map { damage -> JSONValue in
                .object([
                    "chunk": .int(Int64(damage.index)),
                    "packedStart": .int(Int64(damage.packedRange.lowerBound)),
                    "packedEnd": .int(Int64(damage.packedRange.upperBound)),
                    "contentStart": .int(Int64(damage.contentRange.lowerBound)),
                    "contentEnd": .int(Int64(damage.contentRange.upperBound)),
                    "reason": .string(damage.reason),
                ])
            }
            return [JSONValue.object([
                "input": .string(input), "output": .string(output), "verified": .bool(result.verified),
                "size": .int(Int64(result.size)), "packedSize": .int(Int64(result.packedSize)),
                "chunkSize": .int(Int64(result.chunkSize)), "chunks": .int(Int64(result.chunkCount)),
                "tree": .string(result.treeRoot.hex), "sha256": .string(sha256),
                "damaged": .array(damaged), "problems": .array(result.problems.map { .string($0) }),
            ]).canonicalString]
        }
        var lines = [
            "\(result.verified ? "verified" : salvage ? "salvaged" : "FAILED") \(input) -> \(output)",
            "size: \(result.size) bytes, \(result.chunkCount) chunks",
        ]
        if result.chunkSize > 0 {
            lines.append("\(TreeChunkSize.digestName(result.chunkSize)) (\(output)) = \(result.treeRoot.hex)")
        }
        lines.append("SHA256 (\(output)) = \(sha256)")
        if salvage && !result.damaged.isEmpty {
            lines.append("zero-filled chunks: " + result.damaged.map { "\($0.index)" }.joined(separator: ", "))
        }
        return lines
    }
}

/// A source that stops reading once SIGINT or SIGTERM has arrived (`InterruptFlag`): the next read throws
/// `IOError.interrupted`, so the unpacker unwinds with its workers drained.
private struct StoppableSource: ByteSource {
    let base: FileDescriptor

    init(_ base: FileDescriptor) { self.base = base }

    func readFully(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if InterruptFlag.isSet { throw IOError.interrupted }
        return try base.readFully(into: buffer)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var slice = self
        while let first = slice.first, set.contains(first) { slice.removeFirst() }
        while let last = slice.last, set.contains(last) { slice.removeLast() }
        return String(slice)
    }
}
