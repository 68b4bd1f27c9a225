import CustodyBase
import CustodyCrypto
import CustodyIO
internal import CZlib
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One measured stage of `custody bench`. Every stage reads the whole input through the chunk pipeline, so
/// stage times include reading; `read` alone is the floor.
public enum BenchStage: String, CaseIterable, Sendable {
    /// Reading alone.
    case read
    /// MD5 of the content.
    case md5
    /// SHA-1 of the content.
    case sha1
    /// SHA-256 of the content.
    case sha256
    /// SHA-512 of the content.
    case sha512
    /// The tree digest (RFC 6962 over chunks).
    case tree
    /// Every linear digest at once.
    case allDigests = "all-digests"
    /// Compressing every chunk (custody gzip members) with the engine serving the level here.
    case compress
    /// Compressing every chunk with zlib whatever the level (to compare the engines).
    case compressZlib = "compress-zlib"
    /// The seal's pipeline: tree, sha256 and compression in one read.
    case seal

    /// The name printed in the table.
    public var title: String {
        switch self {
        case .read: return "raw read"
        case .md5, .sha1, .sha256, .sha512: return rawValue
        case .tree: return "tree (RFC 6962)"
        case .allDigests: return "all digests"
        case .compress: return "compress"
        case .compressZlib: return "compress"
        case .seal: return "seal pipeline"
        }
    }

    /// Linear digests the stage computes.
    public var linearDigests: [DigestAlgorithm] {
        switch self {
        case .md5: return [.md5]
        case .sha1: return [.sha1]
        case .sha256, .seal: return [.sha256]
        case .sha512: return [.sha512]
        case .allDigests: return DigestAlgorithm.allCases
        case .read, .tree, .compress, .compressZlib: return []
        }
    }

    /// Whether the stage computes the tree digest.
    public var computesTree: Bool { self == .tree || self == .allDigests || self == .seal }

    /// Whether the stage compresses every chunk.
    public var compresses: Bool { self == .compress || self == .compressZlib || self == .seal }

    /// The stages the seal pipeline is made of; the slowest is its bottleneck.
    public static let sealComponents: [BenchStage] = [.read, .tree, .sha256, .compress]

    /// Parses `read,tree,seal`; throws naming the unknown entry.
    public static func parseList(_ text: String) throws -> [BenchStage] {
        try parseNameList(text, naming: "stage")
    }
}

/// The result of one stage.
public struct BenchMeasurement: Sendable, Equatable {
    /// The stage measured.
    public var stage: BenchStage
    /// Content bytes processed.
    public var bytes: UInt64
    /// Wall-clock seconds taken.
    public var seconds: Double
    /// Total compressed size, for stages that compress.
    public var compressedBytes: UInt64?

    /// A measurement of the given values.
    public init(stage: BenchStage, bytes: UInt64, seconds: Double, compressedBytes: UInt64? = nil) {
        self.stage = stage
        self.bytes = bytes
        self.seconds = seconds
        self.compressedBytes = compressedBytes
    }

    /// Throughput (0 when no time passed).
    public var bytesPerSecond: Double { seconds > 0 ? Double(bytes) / seconds : 0 }

    /// The measurement as a JSON object (SPEC.md, bench output).
    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "stage": .string(stage.rawValue),
            "bytes": .int(Int64(clamping: bytes)),
            "seconds": .double(rounded(seconds, 6)),
            "bytesPerSecond": .int(Int64(bytesPerSecond.rounded())),
        ]
        if let compressedBytes { members["compressedBytes"] = .int(Int64(clamping: compressedBytes)) }
        return .object(members)
    }
}

/// Runs bench stages over a reader.
public struct BenchRunner: Sendable {
    /// The chunk size read with.
    public var chunkSize: Int
    /// Parallel positional readers.
    public var readers: Int
    /// The zlib level of compressing stages.
    public var compressionLevel: Int32
    /// Seconds each stage may run; once spent, the stage finishes the chunks it started and stops, and its
    /// throughput covers the bytes it read. nil reads the whole input.
    public var timeLimit: Double?
    /// Polled between chunks (SIGINT/SIGTERM): stops the stage with "interrupted".
    public var shouldStop: (@Sendable () -> Bool)?
    /// Running byte count of the stage in progress.
    public var progress: (@Sendable (BenchStage, UInt64) -> Void)?

    /// A runner of the given chunk size, readers and level.
    public init(chunkSize: Int = TreeChunkSize.default, readers: Int = 1,
                compressionLevel: Int32 = Int32(EvidencePacker.defaultLevel)) {
        self.chunkSize = chunkSize
        self.readers = max(1, readers)
        self.compressionLevel = compressionLevel
    }

    /// Reads all of `reader` once, doing what `stage` names, and times it.
    public func measure(_ stage: BenchStage, reader: ChunkReader) throws -> BenchMeasurement {
        var pipeline = ChunkPipeline(chunkSize: chunkSize, linearDigests: stage.linearDigests,
                                     computeTree: stage.computesTree, readers: readers)
        pipeline.shouldStop = shouldStop
        if let progress { pipeline.progress = { progress(stage, $0) } }
        let start = MonotonicClock.seconds()
        let reader: ChunkReader = timeLimit.map { TimeBoxedReader(reader, deadline: start + $0) } ?? reader
        let bytes: UInt64
        var compressed: UInt64?
        if stage.compresses {
            // The pack engine itself: the same chunk compressor, member framing and digests as `custody pack`.
            var packer = EvidencePacker(level: Int(compressionLevel), chunkSize: chunkSize,
                                        linearDigests: stage.linearDigests)
            packer.readers = readers
            if stage == .compressZlib { packer.engine = .zlib }
            packer.shouldStop = shouldStop
            if let progress { packer.progress = { progress(stage, $0) } }
            let sink = CountingSink()
            bytes = try packer.pack(reader, to: sink).size
            compressed = sink.total
        } else {
            bytes = try pipeline.run(reader).size
        }
        let seconds = MonotonicClock.seconds() - start
        return BenchMeasurement(stage: stage, bytes: bytes, seconds: seconds, compressedBytes: compressed)
    }

}

/// Ends the input at the first chunk asked for after a deadline; chunks before it are still read, whatever
/// order concurrent readers ask for them in, so the bytes read are always a prefix of the input.
private struct TimeBoxedReader: ChunkReader {
    let base: ChunkReader
    let deadline: Double
    private let state = Cutoff()

    private final class Cutoff: Sendable {
        let offset = Mutex<UInt64?>(nil)
    }

    init(_ base: ChunkReader, deadline: Double) {
        self.base = base
        self.deadline = deadline
    }

    var knownSize: UInt64? { base.knownSize }
    var supportsPositionalReads: Bool { base.supportsPositionalReads }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        let ended = state.offset.withLock { cutoff -> Bool in
            if cutoff == nil && MonotonicClock.seconds() >= deadline { cutoff = offset }
            return cutoff.map { offset >= $0 } ?? false
        }
        return ended ? 0 : try base.read(into: buffer, at: offset)
    }
}

/// Counts what the pack engine would write, discarding it (bench measures compression, not the disk).
private final class CountingSink: ByteSink, @unchecked Sendable {
    private let count = Mutex<UInt64>(0)
    func write(_ bytes: UnsafeRawBufferPointer) throws { count.withLock { $0 += UInt64(bytes.count) } }
    var total: UInt64 { count.withLock { $0 } }
}

/// Deterministic input for `custody bench --synthetic SIZE`, generated in memory (no disk).
///
/// The content imitates a seized disk as `shared/bench/make-corpus` does: runs of 64 KiB to 8 MiB of random
/// bytes (~30%), text (~25%), zeros (~20%), structured binary (~15%) and copies of earlier runs (~10%).
/// At most `patternLimit` bytes are generated; larger inputs repeat that pattern, which changes nothing
/// for per-chunk work (hashing and per-chunk compression do not see across chunks).
public struct SyntheticInput: ChunkReader {
    /// The most bytes generated; larger inputs repeat them.
    public static let patternLimit = 64 << 20
    /// The input's size.
    public let size: UInt64
    private let pattern: [UInt8]

    /// The input's size.
    public var knownSize: UInt64? { size }
    /// Always true: memory reads at any offset.
    public var supportsPositionalReads: Bool { true }

    /// An input of `size` bytes generated from `seed` (the same seed, the same bytes).
    public init(size: UInt64, seed: UInt64 = 20_251_025) {
        self.size = size
        pattern = SyntheticInput.generate(count: Int(min(size, UInt64(SyntheticInput.patternLimit))), seed: seed)
    }

    /// Copies the generated bytes at `offset`.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        guard offset < size, !pattern.isEmpty else { return 0 }
        let count = Int(min(UInt64(buffer.count), size - offset))
        pattern.withUnsafeBytes { source in
            var done = 0
            var position = Int(offset % UInt64(pattern.count))
            while done < count {
                let piece = min(count - done, pattern.count - position)
                (buffer.baseAddress! + done).copyMemory(from: source.baseAddress! + position, byteCount: piece)
                done += piece
                position = 0
            }
        }
        return count
    }

    /// The generated pattern: the input's first `count` bytes.
    public static func generate(count: Int, seed: UInt64) -> [UInt8] {
        var random = SplitMix64(seed: seed)
        let pool = textPool(&random)
        var bytes = [UInt8](repeating: 0, count: count)
        var history: [(offset: Int, length: Int)] = []
        bytes.withUnsafeMutableBytes { output in
            let base = output.baseAddress!
            var position = 0
            while position < count {
                let length = min(Int(random.below(UInt64((8 << 20) - (64 << 10) + 1))) + (64 << 10), count - position)
                let kind = random.unit()
                let run = UnsafeMutableRawBufferPointer(start: base + position, count: length)
                if kind < 0.30 {
                    fillRandom(run, &random)
                } else if kind < 0.55 {
                    fillRepeating(run, from: pool, start: Int(random.below(UInt64(pool.count))))
                } else if kind < 0.75 {
                    // Zeros: the buffer already holds them.
                } else if kind < 0.90 {
                    fillStructured(run, &random)
                } else if let source = history.isEmpty ? nil : history[Int(random.below(UInt64(history.count)))] {
                    let copy = UnsafeRawBufferPointer(start: base + source.offset, count: source.length)
                    fillRepeating(run, from: copy, start: 0)
                } else {
                    fillRandom(run, &random)
                }
                if history.count < 64 && length <= 1 << 20 { history.append((position, length)) }
                position += length
            }
        }
        return bytes
    }

    private static func textPool(_ random: inout SplitMix64) -> [UInt8] {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz".utf8)
        let vocabulary: [[UInt8]] = (0..<4000).map { _ in
            (0..<(2 + Int(random.below(10)))).map { _ in alphabet[Int(random.below(26))] }
        }
        var pool: [UInt8] = []
        for line in 0..<3000 {
            var number = Array(String(line).utf8)
            while number.count < 6 { number.insert(UInt8(ascii: "0"), at: 0) }
            pool += number
            for _ in 0..<(4 + Int(random.below(13))) {
                pool.append(UInt8(ascii: " "))
                pool += vocabulary[Int(random.below(UInt64(vocabulary.count)))]
            }
            pool.append(UInt8(ascii: "\n"))
        }
        return pool
    }

    private static func fillRandom(_ run: UnsafeMutableRawBufferPointer, _ random: inout SplitMix64) {
        var index = 0
        while index + 8 <= run.count {
            run.storeBytes(of: random.next(), toByteOffset: index, as: UInt64.self)
            index += 8
        }
        while index < run.count {
            run[index] = UInt8(truncatingIfNeeded: random.next())
            index += 1
        }
    }

    private static func fillRepeating(_ run: UnsafeMutableRawBufferPointer, from source: [UInt8], start: Int) {
        source.withUnsafeBytes { fillRepeating(run, from: $0, start: start) }
    }

    private static func fillRepeating(_ run: UnsafeMutableRawBufferPointer, from source: UnsafeRawBufferPointer,
                                      start: Int) {
        guard !source.isEmpty else { return }
        var done = 0
        var position = start % source.count
        while done < run.count {
            let piece = min(run.count - done, source.count - position)
            (run.baseAddress! + done).copyMemory(from: source.baseAddress! + position, byteCount: piece)
            done += piece
            position = 0
        }
    }

    /// Small integers and opcodes repeated every 4 KiB, with a random byte sprinkled every 512 bytes or so.
    private static func fillStructured(_ run: UnsafeMutableRawBufferPointer, _ random: inout SplitMix64) {
        let choices: [UInt8] = [0, 0, 0, 1, 2, 4, 8, 0x10, 0x20, 0xff, 0x48, 0x89, 0xe5]
        let template = (0..<4096).map { _ in choices[Int(random.below(UInt64(choices.count)))] }
        fillRepeating(run, from: template, start: 0)
        for _ in 0..<(run.count / 512) {
            run[Int(random.below(UInt64(run.count)))] = UInt8(truncatingIfNeeded: random.next())
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a small, fast, seedable generator for synthetic content.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// A value in 0..<bound (bound > 0).
    mutating func below(_ bound: UInt64) -> UInt64 { next() % bound }

    /// A value in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

/// The machine a benchmark ran on.
public struct MachineInfo: Sendable, Equatable {
    /// Processors available.
    public var cores: Int
    /// The CPU's model name, when the kernel gives one.
    public var cpuModel: String?
    /// The machine architecture (`x86_64`, `aarch64`).
    public var architecture: String
    /// CPU features that matter here, as the kernel names them (`sha_ni`, `avx2`, `avx512f`, `aes` on x86;
    /// `sha1`, `sha2`, `sha512`, `aes`, `asimd` on ARM).
    public var features: [String]

    /// A machine of the given facts.
    public init(cores: Int, cpuModel: String?, architecture: String, features: [String]) {
        self.cores = cores
        self.cpuModel = cpuModel
        self.architecture = architecture
        self.features = features
    }

    /// SHA-256 in hardware: Intel/AMD SHA extensions or ARMv8 SHA2 instructions.
    public var shaExtensions: Bool { features.contains("sha_ni") || features.contains("sha2") }
    /// Whether the CPU has AVX2.
    public var avx2: Bool { features.contains("avx2") }

    static let interestingFeatures = ["sha_ni", "avx2", "avx512f", "aes", "sha1", "sha2", "sha512", "asimd"]

    /// This machine, from `/proc/cpuinfo` and uname.
    public static func current() -> MachineInfo {
        let cpuinfo = (try? FileSystem.readFile("/proc/cpuinfo", limit: 16 << 20)).map {
            String(decoding: $0, as: UTF8.self)
        } ?? ""
        var name = utsname()
        uname(&name)
        let machine = withUnsafeBytes(of: name.machine) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return parse(cpuinfo: cpuinfo, cores: activeProcessorCount(), architecture: machine)
    }

    /// Reads the first processor's model and feature flags from `/proc/cpuinfo` text.
    public static func parse(cpuinfo: String, cores: Int, architecture: String) -> MachineInfo {
        var model: String?
        var flags: Set<String> = []
        for line in cpuinfo.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingWhitespace()
            let value = line[line.index(after: colon)...].trimmingWhitespace()
            switch key {
            case "model name", "Hardware", "Model":
                if model == nil && !value.isEmpty { model = value }
            case "flags", "Features":
                if flags.isEmpty { flags = Set(value.split(separator: " ").map(String.init)) }
            default:
                break
            }
        }
        return MachineInfo(cores: cores, cpuModel: model, architecture: architecture,
                           features: interestingFeatures.filter(flags.contains))
    }

    /// The machine as a JSON object.
    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "cores": .int(Int64(cores)),
            "architecture": .string(architecture),
            "features": .array(features.map { .string($0) }),
            "shaExtensions": .bool(shaExtensions),
            "avx2": .bool(avx2),
        ]
        if let cpuModel { members["cpuModel"] = .string(cpuModel) }
        return .object(members)
    }

    /// `2 cores, AMD EPYC (x86_64); SHA extensions: yes (sha_ni); AVX2: yes`.
    public var summary: String {
        let sha = features.filter { ["sha_ni", "sha1", "sha2", "sha512"].contains($0) }
        let shaText = shaExtensions ? "yes (\(sha.joined(separator: ", ")))" : "no"
        let avxText = architecture.hasPrefix("x86") ? "; AVX2: \(avx2 ? "yes" : "no")" : ""
        return "\(cores) core\(cores == 1 ? "" : "s"), \(cpuModel ?? "unknown CPU") (\(architecture)); "
            + "SHA extensions: \(shaText)\(avxText)"
    }
}

/// What `custody bench` prints.
public struct BenchReport: Sendable {
    /// The machine measured on.
    public var machine: MachineInfo
    /// `{"kind":"synthetic","size":N}` or a `SourceDescription`'s JSON.
    public var input: JSONValue
    /// One line for humans: `synthetic 1.0 GiB` or the path.
    public var inputLabel: String
    /// The chunk size read with.
    public var chunkSize: Int
    /// Parallel positional readers.
    public var readers: Int
    /// The zlib level of compressing stages.
    public var compressionLevel: Int32
    /// Whether file and device inputs were read through `ResilientReader` (as seal reads them).
    public var resilientReader: Bool
    /// Seconds each stage was allowed (nil: whole input).
    public var timeLimit: Double?
    /// One measurement per stage, in order.
    public var measurements: [BenchMeasurement]
    /// The bad-sector log of the first stage, when reading found unreadable sectors.
    public var badSectors: BadSectorLog?

    /// A report of the given facts.
    public init(machine: MachineInfo, input: JSONValue, inputLabel: String, chunkSize: Int, readers: Int,
                compressionLevel: Int32, resilientReader: Bool, timeLimit: Double? = nil,
                measurements: [BenchMeasurement], badSectors: BadSectorLog? = nil) {
        self.machine = machine
        self.input = input
        self.inputLabel = inputLabel
        self.chunkSize = chunkSize
        self.readers = readers
        self.compressionLevel = compressionLevel
        self.resilientReader = resilientReader
        self.timeLimit = timeLimit
        self.measurements = measurements
        self.badSectors = badSectors
    }

    /// The slowest measured component of the seal pipeline (read, tree, sha256, compress), or nil if none
    /// was measured.
    public var bottleneck: BenchMeasurement? {
        measurements.filter { BenchStage.sealComponents.contains($0.stage) }
            .min { $0.bytesPerSecond < $1.bytesPerSecond }
    }

    /// The report as one JSON object (SPEC.md, bench output).
    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "machine": machine.json,
            "input": input,
            "chunkSize": .int(Int64(chunkSize)),
            "readers": .int(Int64(readers)),
            "compressionLevel": .int(Int64(compressionLevel)),
            "resilientReader": .bool(resilientReader),
            "stages": .array(measurements.map(\.json)),
            "bottleneck": bottleneck.map { .string($0.stage.rawValue) } ?? .null,
            "timeLimit": timeLimit.map { .double($0) } ?? .null,
        ]
        if let badSectors, !badSectors.isClean { members["badSectors"] = badSectors.json }
        return .object(members)
    }

    /// The human-readable table.
    public var tableLines: [String] {
        var lines = [
            "machine: \(machine.summary)",
            "input: \(inputLabel); chunk \(ByteSize.shortName(chunkSize)), \(readers) reader\(readers == 1 ? "" : "s")"
                + (resilientReader ? ", bad-sector handling on" : "")
                + (timeLimit.map { "; at most \(formatFixed($0, decimals: 1)) s per stage" } ?? ""),
            "",
            pad("stage", 24, left: true) + pad("MB/s", 10) + pad("GiB/s", 9) + pad("seconds", 10) + pad("read", 12),
        ]
        for measurement in measurements {
            var title = measurement.stage.title
            if measurement.stage == .compress || measurement.stage == .compressZlib {
                let engine = measurement.stage == .compressZlib ? CompressionEngine.zlib
                    : CompressionEngine.deflating(level: Int(compressionLevel))
                title += " (\(engine.rawValue) \(compressionLevel))"
            }
            var line = pad(title, 24, left: true)
                + pad(formatFixed(measurement.bytesPerSecond / 1e6, decimals: 1), 10)
                + pad(formatFixed(measurement.bytesPerSecond / Double(1 << 30), decimals: 2), 9)
                + pad(formatFixed(measurement.seconds, decimals: 3), 10)
                + pad(ByteSize.describe(measurement.bytes), 12)
            if let compressed = measurement.compressedBytes, measurement.bytes > 0 {
                let percent = Double(compressed) * 100 / Double(measurement.bytes)
                line += "   (output \(formatFixed(percent, decimals: 1))% of input)"
            }
            lines.append(line)
        }
        if let bottleneck {
            var text = "bottleneck: \(bottleneck.stage.title) at "
                + "\(formatFixed(bottleneck.bytesPerSecond / 1e6, decimals: 1)) MB/s"
            if let seal = measurements.first(where: { $0.stage == .seal }) {
                text += "; the seal pipeline runs at \(formatFixed(seal.bytesPerSecond / 1e6, decimals: 1)) MB/s"
            }
            lines.append("")
            lines.append(text)
        }
        if let summary = badSectors?.summary { lines.append("bad sectors: " + summary) }
        return lines
    }

    private func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
        let padding = String(repeating: " ", count: max(0, width - text.count))
        return left ? text + padding : padding + text
    }
}

private func rounded(_ value: Double, _ decimals: Int) -> Double {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    return (value * scale).rounded() / scale
}
