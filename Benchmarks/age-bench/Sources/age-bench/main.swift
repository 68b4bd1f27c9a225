#if canImport(Glibc)
import Glibc
#endif
import CustodyKit

// Usage:
//   age-bench keygen IDENTITY_FILE RECIPIENT_FILE
//   age-bench encrypt RECIPIENT_FILE INPUT OUTPUT
//   age-bench decrypt IDENTITY_FILE INPUT OUTPUT
// Prints the seconds spent and the throughput on stderr. Like the age command, the driver does not fsync its
// output, so both tools are measured the same way (data left in the page cache).

enum ProcessInfo {
    static var environment: [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}

func report(_ line: String) {
    try? FileDescriptor(rawValue: 2, path: "stderr").writeAll(Array((line + "\n").utf8))
}

func fail(_ message: String) -> Never {
    report("age-bench: \(message)")
    exit(2)
}

let arguments = CommandLine.arguments
guard arguments.count >= 4 else { fail("usage: age-bench keygen|encrypt|decrypt ...") }

do {
    switch arguments[1] {
    case "keygen":
        let identity = try AgeX25519Identity.generate()
        try AgeIdentityFile.write(identity, to: arguments[2])
        try AgeRecipientFile.write(identity.recipient, to: arguments[3])
    case "encrypt", "decrypt":
        guard arguments.count == 5 else { fail("usage: age-bench \(arguments[1]) KEYFILE INPUT OUTPUT") }
        let input = try FileDescriptor.openForReading(arguments[3])
        let size = UInt64(try input.status().st_size)
        let output = try FileDescriptor.open(arguments[4], O_WRONLY | O_CREAT | O_TRUNC)
        let reader = FileChunkReader(descriptor: input, size: size)
        let start = MonotonicClock.seconds()
        // Optional tuning, for experiments: AGE_BENCH_BATCH (chunks per batch), AGE_BENCH_INFLIGHT (batches).
        let environment = ProcessInfo.environment
        let summary: AgeSummary
        if arguments[1] == "encrypt" {
            var encryptor = try AgeEncryptor(recipients: try AgeRecipientFile.read(arguments[2]))
            if let batch = environment["AGE_BENCH_BATCH"].flatMap(Int.init) { encryptor.chunksPerBatch = batch }
            if let depth = environment["AGE_BENCH_INFLIGHT"].flatMap(Int.init) { encryptor.batchesInFlight = depth }
            summary = try encryptor.encrypt(from: reader, to: output)
        } else {
            var decryptor = try AgeDecryptor(identities: try AgeIdentityFile.read(arguments[2]))
            if let batch = environment["AGE_BENCH_BATCH"].flatMap(Int.init) { decryptor.chunksPerBatch = batch }
            if let depth = environment["AGE_BENCH_INFLIGHT"].flatMap(Int.init) { decryptor.batchesInFlight = depth }
            summary = try decryptor.decrypt(from: reader, to: output)
        }
        let seconds = MonotonicClock.seconds() - start
        output.close()
        input.close()
        let rate = Double(summary.plaintextSize) / seconds / 1_048_576
        report("\(arguments[1]) \(summary.plaintextSize) bytes in \(seconds) s: \(Int(rate)) MiB/s")
    default:
        fail("unknown mode \(arguments[1])")
    }
} catch {
    fail("\(error)")
}
