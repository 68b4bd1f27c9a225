import CustodyKit
import CustodyPostgres
import Dispatch
import Foundation

/// PostgreSQL ledger store benchmark. Arguments: ADMIN_URL (a role that may create databases) ENTRIES SECONDS
/// WORKDIR. Prints one line per figure; medians of per-append latencies and totals per second.
let arguments = CommandLine.arguments
guard arguments.count > 4, let entries = Int(arguments[2]), let seconds = Double(arguments[3]) else {
    print("usage: PostgresLedgerBench ADMIN_URL ENTRIES SECONDS WORKDIR")
    exit(2)
}
let admin = try PostgresLedgerAddress(url: arguments[1])
let workDirectory = arguments[4]

let privateKey = try Ed25519PrivateKey.generate()
let key = try SigningKey(
    identity: Identity(name: "bench", agency: "Benchmark Agency", jurisdiction: "FR", publicKey: privateKey.publicKey),
    privateKey: privateKey)

@Sendable func draft(_ index: Int) throws -> LedgerEntryDraft {
    try LedgerEntryDraft(
        action: .access,
        subjects: [
            LedgerSubject(id: "item-\(index)", attributes: ["sha256": .string(String(repeating: "5a", count: 32))]),
        ],
        legalBasis: "bench", details: ["n": .int(Int64(index))])
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

func fixed(_ value: Double, _ decimals: Int = 1) -> String { String(format: "%.\(decimals)f", value) }

/// Databases made and dropped with `psql` on the admin URL.
struct PostgresAdmin {
    let admin: PostgresLedgerAddress
    var counter = 0

    init(_ admin: PostgresLedgerAddress) { self.admin = admin }

    func psql(_ sql: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", "-q", "-v", "ON_ERROR_STOP=1", admin.location, "-c", sql]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    mutating func makeDatabase() throws -> PostgresLedgerAddress {
        counter += 1
        var address = admin
        address.database = "custody_bench_\(getpid())_\(counter)"
        try psql("CREATE DATABASE \(address.database)")
        return address
    }

    func drop(_ address: PostgresLedgerAddress) {
        try? psql("DROP DATABASE IF EXISTS \(address.database) WITH (FORCE)")
    }
}

var adminStore = PostgresAdmin(admin)

final class Latencies: @unchecked Sendable {
    private let lock = NSLock()
    var values: [Double] = []
    var failures: [String] = []
    func add(_ value: Double) { lock.lock(); values.append(value); lock.unlock() }
    func fail(_ message: String) { lock.lock(); failures.append(message); lock.unlock() }
}

/// `writers` threads, each with its own connection (`open`), appending one entry per transaction for `seconds`.
func appendRun(_ name: String, writers: Int, open: @escaping @Sendable () throws -> Ledger) throws {
    let latencies = Latencies()
    let start = MonotonicClock.seconds()
    DispatchQueue.concurrentPerform(iterations: writers) { writer in
        do {
            let ledger = try open()
            var index = 0
            while MonotonicClock.seconds() - start < seconds {
                let began = MonotonicClock.seconds()
                try ledger.append(draft(writer * 1_000_000 + index), key: key)
                latencies.add(MonotonicClock.seconds() - began)
                index += 1
            }
        } catch {
            latencies.fail("\(error)")
        }
    }
    let elapsed = MonotonicClock.seconds() - start
    let count = latencies.values.count
    print("\(name), \(writers) writer(s): \(count) durable appends in \(fixed(elapsed, 1)) s = "
          + "\(fixed(Double(count) / elapsed, 0))/s; latency median \(fixed(median(latencies.values) * 1000, 2)) ms, "
          + "p99 \(fixed(percentile(latencies.values, 0.99) * 1000, 2)) ms"
          + (latencies.failures.isEmpty ? "" : "; FAILURES: \(latencies.failures.prefix(3))"))
}

print("# PostgreSQL ledger benchmark: \(entries) entries, appends for \(fixed(seconds, 0)) s per run, "
      + "\(ProcessInfo.processInfo.activeProcessorCount) CPUs")

// 1. Appends per second: PostgreSQL and SQLite, 1 and 16 writers, each writer its own connection.
for writers in [1, 16] {
    let address = try adminStore.makeDatabase()
    let ledger = try Ledger.create(origin: "bench.example/pg", key: key) {
        try PostgresLedgerStore.create(address: address, origin: $0, ownerDocument: $1)
    }
    try appendRun("PostgreSQL", writers: writers) { try Ledger(store: PostgresLedgerStore.open(address: address)) }
    let report = try ledger.verify()
    print("  PostgreSQL ledger after the run: \(report.entries) entries, "
          + "verify \(report.passed ? "passed" : "FAILED")")
    let path = workDirectory + "/bench-\(getpid())-\(writers).ledger"
    _ = try Ledger.create(path: path, origin: "bench.example/sqlite", key: key)
    try appendRun("SQLite", writers: writers) { try Ledger.open(path: path) }
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    adminStore.drop(address)
}

// 2. A large log, built in batches (one transaction of 10,000 entries each), then proofs on it.
let address = try adminStore.makeDatabase()
let big = try Ledger.create(origin: "bench.example/big", key: key) {
    try PostgresLedgerStore.create(address: address, origin: $0, ownerDocument: $1)
}
let buildStart = MonotonicClock.seconds()
var built = 0
while built < entries {
    let count = min(10_000, entries - built)
    try big.appendBatch(try (built..<built + count).map(draft), key: key)
    built += count
}
let buildTime = MonotonicClock.seconds() - buildStart
print("built \(entries) entries in batches of 10000: \(fixed(buildTime, 1)) s = "
      + "\(fixed(Double(entries) / buildTime, 0))/s")
let size = UInt64(entries)
var inclusion: [Double] = []
var consistency: [Double] = []
var generator = SystemRandomNumberGenerator()
for _ in 0..<1000 {
    let index = UInt64.random(in: 0..<size, using: &generator)
    var began = MonotonicClock.seconds()
    let proof = try big.inclusionProof(index: index, size: size)
    inclusion.append(MonotonicClock.seconds() - began)
    precondition(try proof.verify())
    let from = UInt64.random(in: 1...size, using: &generator)
    began = MonotonicClock.seconds()
    let consistent = try big.consistencyProof(from: from, to: size)
    consistency.append(MonotonicClock.seconds() - began)
    precondition(try consistent.verify())
}
print("inclusion proof at \(entries) (1000 random, generate): median \(fixed(median(inclusion) * 1000, 3)) ms, "
      + "p99 \(fixed(percentile(inclusion, 0.99) * 1000, 3)) ms")
print("consistency proof at \(entries) (1000 random, generate): median \(fixed(median(consistency) * 1000, 3)) ms, "
      + "p99 \(fixed(percentile(consistency, 0.99) * 1000, 3)) ms")
let verifyStart = MonotonicClock.seconds()
let report = try big.verify()
let verifyTime = MonotonicClock.seconds() - verifyStart
print("ledger verify: \(report.entries) entries in \(fixed(verifyTime, 1)) s = "
      + "\(fixed(Double(report.entries) / verifyTime, 0)) entries/s, \(report.passed ? "passed" : "FAILED")")
print("RESULT build_seconds=\(fixed(buildTime, 1)) verify_seconds=\(fixed(verifyTime, 2)) "
      + "inclusion_ms=\(fixed(median(inclusion) * 1000, 3)) consistency_ms=\(fixed(median(consistency) * 1000, 3))")
adminStore.drop(address)
