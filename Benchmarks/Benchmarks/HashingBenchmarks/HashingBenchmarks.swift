import Benchmark
import CustodyKit
import Foundation

/// The hashing engine's throughput and peak memory: the tree digest alone, sha256 alone and all five digests in
/// one pass, over an in-memory buffer and over the page-cached corpus file (`CUSTODY_BENCH_CORPUS`, default
/// /tmp/custody-corpus-1g.img, made with ../shared/bench/make-corpus when missing).
///
/// `throughput` counts passes per second; multiply by the input size printed in the benchmark's name for bytes
/// per second. The `MiBPerSecond` custom metric does that multiplication.
let benchmarks: @Sendable () -> Void = {
    let chunkSize = TreeChunkSize.default
    let memorySize = 256 << 20
    let memoryInput = MemoryChunkReader(syntheticBytes(memorySize))
    let corpus = corpusPath()

    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .throughput, .peakMemoryResident, .mallocCountTotal, mebibytesPerSecond],
        timeUnits: .milliseconds,
        warmupIterations: 1,
        maxDuration: .seconds(20),
        maxIterations: 5
    )

    let variants: [(String, [DigestAlgorithm], Bool)] = [
        ("tree", [], true),
        ("sha256", [.sha256], false),
        ("tree+md5+sha1+sha256+sha512", DigestAlgorithm.allCases, true),
    ]

    for (name, linear, tree) in variants {
        let pipeline = ChunkPipeline(chunkSize: chunkSize, linearDigests: linear, computeTree: tree,
                                     readers: max(1, activeProcessorCount()))
        Benchmark("memory 256MiB: \(name)") { benchmark in
            let start = ContinuousClock.now
            for _ in benchmark.scaledIterations {
                let result = try pipeline.run(memoryInput)
                blackHole(result)
            }
            let seconds = (ContinuousClock.now - start) / .seconds(1)
            let bytes = Double(memorySize * benchmark.scaledIterations.count)
            benchmark.measurement(mebibytesPerSecond, Int(bytes / seconds / 1_048_576))
        }
    }

    for (name, linear, tree) in variants {
        let pipeline = ChunkPipeline(chunkSize: chunkSize, linearDigests: linear, computeTree: tree,
                                     readers: max(1, activeProcessorCount()))
        Benchmark("file \(corpus.split(separator: "/").last ?? ""): \(name)") { benchmark in
            var bytes: UInt64 = 0
            let start = ContinuousClock.now
            for _ in benchmark.scaledIterations {
                let digests = try InputHasher.hash(HashInput(path: corpus, kind: .regularFile), pipeline: pipeline)
                bytes += digests.size
                blackHole(digests)
            }
            let seconds = (ContinuousClock.now - start) / .seconds(1)
            benchmark.measurement(mebibytesPerSecond, Int(Double(bytes) / seconds / 1_048_576))
        }
    }
}

/// Throughput in MiB/s (larger is better), measured around the iterations.
let mebibytesPerSecond = BenchmarkMetric.custom("MiBPerSecond", polarity: .prefersLarger, useScalingFactor: false)

/// Deterministic bytes that no compressor or dedup layer can shortcut.
func syntheticBytes(_ count: Int) -> [UInt8] {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    var out = [UInt8](repeating: 0, count: count)
    out.withUnsafeMutableBytes { raw in
        let words = raw.bindMemory(to: UInt64.self)
        for index in words.indices {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            words[index] = state
        }
    }
    return out
}

/// The corpus file, made with make-corpus when it does not exist yet.
func corpusPath() -> String {
    let path = ProcessInfo.processInfo.environment["CUSTODY_BENCH_CORPUS"] ?? "/tmp/custody-corpus-1g.img"
    if !FileManager.default.fileExists(atPath: path) {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("shared/bench/make-corpus").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, path, "1G"]
        try? process.run()
        process.waitUntilExit()
    }
    return path
}
