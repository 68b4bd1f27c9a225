import ArgumentParser
import CustodyKit
import CustodyService

#if canImport(Glibc)
import Glibc
#endif

/// `custody ledger append|checkpoint|prove|consistency|export|verify http://SERVER`: the same commands against a
/// log service (SPEC 4.9.6). The one place a LEDGER argument that names a service is dispatched; every command
/// calls `RemoteLedger.handles(_:)` first.
enum RemoteLedger {
    /// Whether `ledger` names a log service (`http://` or `https://`) rather than a ledger file.
    static func handles(_ ledger: String) -> Bool { LogClient.isServiceURL(ledger) }

    /// Appends each draft as an officer's submission signed here with `key`, printing each entry once durable.
    static func append(_ url: String, drafts: [LedgerEntryDraft], key: SigningKey) throws {
        let log = try RemoteLog(url: url)
        for draft in drafts {
            let result = try log.append(draft, key: key)
            try FileDescriptor.standardOutput.writeAll(result.entry + [10])
        }
    }

    /// Prints the log's latest checkpoint note (its signature checked).
    static func checkpoint(_ url: String) throws {
        try FileDescriptor.standardOutput.writeAll(RemoteLog(url: url).checkpoint().note)
    }

    /// The inclusion proof of `index` in the tree of `size` entries (default: the log's size).
    static func prove(_ url: String, index: UInt64, size: UInt64?) throws -> InclusionProof {
        try RemoteLog(url: url).inclusionProof(index: index, size: size)
    }

    /// The consistency proof from `from` to `to` entries (default: the log's size).
    static func consistency(_ url: String, from: UInt64, to: UInt64?) throws -> ConsistencyProof {
        try RemoteLog(url: url).consistencyProof(from: from, to: to)
    }

    /// Writes entries `from..<to` (default: up to the latest checkpoint) one per line, from the entry bundles.
    static func export(_ url: String, from: UInt64, to: UInt64?) throws {
        let log = try RemoteLog(url: url)
        let size = try log.checkpoint().checkpoint.size
        let end = to ?? size
        guard from <= end, end <= size else {
            throw LedgerError.rangeOutsideLedger(from: from, end: end, size: size)
        }
        var out: [UInt8] = []
        try log.entries(from: from, to: end) { bytes in
            out.append(contentsOf: bytes)
            out.append(0x0a)
            if out.count >= 1 << 20 {
                try FileDescriptor.standardOutput.writeAll(out)
                out.removeAll(keepingCapacity: true)
            }
        }
        try FileDescriptor.standardOutput.writeAll(out)
    }

    /// Mirrors the log up to its latest checkpoint into a temporary ledger file and verifies the copy; the
    /// folder is removed afterwards.
    static func verify(
        _ url: String, externalCheckpoints: [(source: String, note: [UInt8])],
        trustedOfficer: (@Sendable (LogOfficer) -> Bool)?
    ) throws -> LedgerVerificationReport {
        let log = try RemoteLog(url: url)
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array("\(base)/custody-mirror-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw CommandError.operational(
                "cannot make a temporary folder in \(base) for the mirror: \(String(cString: strerror(errno)))")
        }
        let folder = String(cString: made)
        defer {
            for name in ["mirror.ledger", "mirror.ledger-wal", "mirror.ledger-shm"] { unlink(folder + "/" + name) }
            rmdir(folder)
        }
        let (ledger, _) = try log.mirror(to: folder + "/mirror.ledger")
        var report = try ledger.verify(externalCheckpoints: externalCheckpoints, trustedOfficer: trustedOfficer)
        report.location = url
        return report
    }
}
