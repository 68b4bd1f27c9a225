import CustodyKit
import Dispatch
import Foundation

/// Measures the ledger through the library: durable single and batched appends, inclusion and consistency proofs
/// at N entries, and `verify` of N entries against the Ed25519 verification rate of this machine.
let arguments = CommandLine.arguments
let total = arguments.count > 1 ? Int(arguments[1]) ?? 1_000_000 : 1_000_000
let workDirectory = arguments.count > 2 ? arguments[2] : NSTemporaryDirectory()
let batchSize = 10_000

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = MonotonicClock.seconds()
    try body()
    return MonotonicClock.seconds() - start
}

/// User + system CPU seconds used by this process so far.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

func fixed(_ value: Double, _ decimals: Int = 1) -> String { String(format: "%.\(decimals)f", value) }

let privateKey = try Ed25519PrivateKey.generate()
let key = try SigningKey(
    identity: Identity(
        name: "bench", agency: "Benchmark Agency", jurisdiction: "FR",
        publicKey: privateKey.publicKey), privateKey: privateKey)
func draft(_ index: Int) throws -> LedgerEntryDraft {
    try LedgerEntryDraft(
        action: .access,
        subjects: [
            LedgerSubject(
                id: "item-\(index)",
                attributes: [
                    "sha256": .string(String(repeating: "5a", count: 32)), "size": .int(1 << 30),
                ])
        ],
        legalBasis: "bench", details: ["case": .string("2026-0001"), "n": .int(Int64(index))])
}

let base = workDirectory + "/ledger-bench-\(getpid())"
try FileSystem.createDirectory(base)
defer { try? FileManager.default.removeItem(atPath: base) }
print("# ledger benchmark: \(total) entries, work directory \(base), \(Ledger.processorCount) CPUs")

// 1. Durable appends one at a time: each committed and fsynced before the next.
let singleCount = 3000
let single = try Ledger.create(path: base + "/single.ledger", origin: "bench.example/single", key: key)
let singleTime = try seconds { for index in 0..<singleCount { try single.append(draft(index), key: key) } }
print(
    "single durable appends: \(singleCount) in \(fixed(singleTime, 2)) s = "
        + "\(fixed(Double(singleCount) / singleTime, 0))/s"
)

// 2. Batched appends, building the large ledger (each batch one transaction, one fsync).
let big = try Ledger.create(path: base + "/big.ledger", origin: "bench.example/big", key: key)
var built = 0
var batchTimes: [Double] = []
while built < total {
    let count = min(batchSize, total - built)
    let drafts = try (built..<built + count).map(draft)
    batchTimes.append(try seconds { try big.appendBatch(drafts, key: key) })
    built += count
}
let batchTotal = batchTimes.reduce(0, +)
print(
    "batched durable appends: \(total) in \(batchTimes.count) transactions of \(batchSize), \(fixed(batchTotal, 1)) s "
        + "= \(fixed(Double(total) / batchTotal, 0))/s")

// 3. Proofs at full size.
let size = UInt64(total)
var inclusion: [Double] = []
var consistency: [Double] = []
var generator = SystemRandomNumberGenerator()
for _ in 0..<1000 {
    let index = UInt64.random(in: 0..<size, using: &generator)
    inclusion.append(
        try seconds {
            let proof = try big.inclusionProof(index: index, size: size)
            precondition(proof.verify())
        })
    let from = UInt64.random(in: 1...size, using: &generator)
    consistency.append(
        try seconds {
            let proof = try big.consistencyProof(from: from, to: size)
            precondition(proof.verify())
        })
}
func summary(_ values: [Double]) -> String {
    let sorted = values.sorted()
    return "mean \(fixed(sorted.reduce(0, +) / Double(sorted.count) * 1000, 3)) ms, "
        + "p99 \(fixed(sorted[sorted.count * 99 / 100] * 1000, 3)) ms, max \(fixed(sorted.last! * 1000, 3)) ms"
}
print("inclusion proof at \(total) (generate + verify, 1000 random): \(summary(inclusion))")
print("consistency proof at \(total) (generate + verify, 1000 random): \(summary(consistency))")

// 4. Verify the whole ledger, and the Ed25519 verifications alone in this process for comparison.
var report: LedgerVerificationReport?
let verifyCPUStart = cpuSeconds()
let verifyTime = try seconds { report = try big.verify() }
let verifyCPU = cpuSeconds() - verifyCPUStart
precondition(report!.passed, "\(report!.problems)")
print(
    "ledger verify: \(total) entries, \(report!.checkpointsChecked) checkpoints in \(fixed(verifyTime, 2)) s "
        + "= \(fixed(Double(total) / verifyTime, 0)) entries/s")

let message = try Array(big.entryBytes(at: 0))
let signature = try privateKey.sign(message)
let workers = Ledger.processorCount
let perWorker = total / workers
let aloneCPUStart = cpuSeconds()
let aloneTime = seconds {
    DispatchQueue.concurrentPerform(iterations: workers) { _ in
        let verifier = Ed25519Verifier(privateKey.publicKey)
        signature.withUnsafeBytes { sig in
            message.withUnsafeBytes { msg in
                for _ in 0..<perWorker { precondition(verifier.verify(signature: sig, message: msg)) }
            }
        }
    }
}
let aloneCPU = cpuSeconds() - aloneCPUStart
print("CPU seconds: verify \(fixed(verifyCPU, 2)), verifications alone \(fixed(aloneCPU, 2)) "
    + "(ratio \(fixed(verifyCPU / aloneCPU, 2)))")
print(
    "Ed25519 verifications alone (in process, \(workers) threads): \(perWorker * workers) in \(fixed(aloneTime, 2)) s")
print(
    "RESULT verify_seconds=\(fixed(verifyTime, 2)) alone_seconds=\(fixed(aloneTime, 2)) "
        + "verify_cpu=\(fixed(verifyCPU, 2)) alone_cpu=\(fixed(aloneCPU, 2)) "
        + "single_per_s=\(fixed(Double(singleCount) / singleTime, 0)) "
        + "batched_per_s=\(fixed(Double(total) / batchTotal, 0))"
)
