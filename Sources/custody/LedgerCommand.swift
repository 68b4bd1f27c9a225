import ArgumentParser
import CustodyKit
import CustodyService

#if canImport(Glibc)
import Glibc
#endif

struct LedgerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract: "The custody ledger: signed, hash-chained entries under an RFC 6962 tree with C2SP checkpoints.",
        subcommands: [
            LedgerInitCommand.self, LedgerAppendCommand.self, LedgerExportCommand.self, LedgerCheckpointCommand.self,
            LedgerProveCommand.self, LedgerConsistencyCommand.self, LedgerVerifyCommand.self,
            LedgerCheckInclusionCommand.self, LedgerCheckConsistencyCommand.self,
        ]
    )
}

/// Parses a decimal option value that must be a non-negative integer.
private func count(_ value: Int, _ option: String) throws -> UInt64 {
    guard value >= 0 else { throw CommandError.operational("\(option) must not be negative (got \(value))") }
    return UInt64(value)
}

struct LedgerInitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a ledger owned by a key (its entries and checkpoints sign with it).",
        discussion: """
            LEDGER is a file (SQLite, created; it must not exist) or postgres://USER[:PASSWORD]@HOST[:PORT]/DB \
            (or postgres://USER@/DB?host=/SOCKET/DIR): an existing PostgreSQL database, in which the custody schema \
            is created (it must not have one). PGPASSWORD gives a password the URL does not carry.
            """)

    @Argument(help: "The ledger to create: a file (must not exist) or a postgres:// URL.") var ledger: String
    @Option(help: "The checkpoint origin: a unique log name such as police.example/custody.") var origin: String
    @OptionGroup var signing: KeyOptions<LedgerOwnerKey>

    func run() throws {
        if case .file(let path) = try LedgerLocation(ledger) {
            try InputCheck.requireNew(path, "", forceAllowed: false)
        }
        let signer = try signing.signingKey()
        let created = try LedgerLocation.create(ledger, origin: origin, key: signer)
        Terminal.line(
            "created \(created.store.location): origin \(created.origin), key \(signer.identity.verifierKey.encoded)")
    }
}

struct LedgerAppendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Append signed entries; prints each appended entry (its exact bytes) once it is durable.",
        discussion: """
            Actions: \(LedgerAction.allCases.map(\.rawValue).joined(separator: ", ")). \
            --subject takes ID or ID=NAME:VALUE[,NAME:VALUE]... (for example item-1=sha256:HEX,size:1024). \
            --batch reads JSON lines {"action":...,"subjects":[...],"legalBasis":...,"details":{...}} from stdin \
            and commits them all in one transaction.
            """
    )

    @Argument(help: """
        The ledger: a file, a postgres:// URL, or a log service's http://HOST:PORT (the key is then an officer's).
        """)
    var ledger: String
    @OptionGroup var signing: KeyOptions<LedgerOwnerKey>
    @Option(help: "The action to record.") var action: String?
    @Option(help: "An evidence ID, optionally with digests: ID or ID=sha256:HEX[,size:N]...") var subject: [String] =
        []
    @Option(help: "A detail to record, key=value (repeatable).") var detail: [String] = []
    @Option(name: .customLong("legal-basis"), help: "The legal basis of the action.") var legalBasis = ""
    @Flag(help: "Read entries as JSON lines from stdin and commit them as one transaction.") var batch = false

    func validate() throws {
        if batch && (action != nil || !subject.isEmpty || !detail.isEmpty || !legalBasis.isEmpty) {
            throw ValidationError(
                "--batch reads everything from stdin: drop --action, --subject, --detail, --legal-basis")
        }
        if !batch && action == nil { throw ValidationError("give --action (or --batch)") }
    }

    func run() throws {
        let drafts = try batch ? readBatch() : [singleDraft()]
        if RemoteLedger.handles(ledger) {
            return try RemoteLedger.append(ledger, drafts: drafts, key: signing.signingKey())
        }
        let store = try LedgerLocation.open(ledger)
        let signer = try signing.signingKey()
        let entries = try store.appendBatch(drafts, key: signer)
        var out: [UInt8] = []
        for entry in entries {
            out.append(contentsOf: entry.bytes)
            out.append(0x0a)
            if out.count > 1 << 20 {
                try FileDescriptor.standardOutput.writeAll(out)
                out.removeAll(keepingCapacity: true)
            }
        }
        try FileDescriptor.standardOutput.writeAll(out)
    }

    private func singleDraft() throws -> LedgerEntryDraft {
        let action = try LedgerAction.parse(self.action ?? "")
        var details: [String: JSONValue] = [:]
        for pair in detail {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw CommandError.operational("--detail '\(pair)': expected key=value")
            }
            let name = String(pair[..<equals])
            guard details[name] == nil else { throw CommandError.operational("--detail '\(name)' given twice") }
            details[name] = .string(String(pair[pair.index(after: equals)...]))
        }
        let subjects = try subject.map { text in
            do {
                return try LedgerSubject(compactForm: text)
            } catch LedgerError.invalid(.subjectSyntax(let text, let problem)) {
                throw CommandError.operational("--subject '\(text)': \(problem)")
            }
        }
        return try LedgerEntryDraft(action: action, subjects: subjects, legalBasis: legalBasis, details: details)
    }

    /// The drafts of the JSON lines on stdin (`LedgerBatchParser`).
    private func readBatch() throws -> [LedgerEntryDraft] {
        var parser = LedgerBatchParser(source: "stdin")
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = try buffer.withUnsafeMutableBytes { try FileDescriptor.standardInput.read(into: $0) }
            if count == 0 { break }
            try parser.consume(buffer[0..<count])
        }
        do {
            return try parser.finish()
        } catch LedgerBatchError.empty {
            throw CommandError.operational("--batch: no entries on stdin")
        }
    }
}

struct LedgerExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write entries, one per line, exactly as their leaf bytes.")

    @Argument(help: "The ledger: a file, a postgres:// URL or a log service's http://HOST:PORT.") var ledger: String
    @Option(help: "The first entry to write (default 0).") var from = 0
    @Option(help: "Stop before this entry (default: the ledger's size), so --to N writes the tree of size N.")
    var to: Int?

    func run() throws {
        if RemoteLedger.handles(ledger) {
            return try RemoteLedger.export(ledger, from: count(from, "--from"), to: to.map { try count($0, "--to") })
        }
        let store = try LedgerLocation.open(ledger, readOnly: true)
        var out: [UInt8] = []
        try store.export(from: count(from, "--from"), to: to.map { try count($0, "--to") }) { bytes in
            out.append(contentsOf: bytes)
            out.append(0x0a)
            if out.count >= 1 << 20 {
                try FileDescriptor.standardOutput.writeAll(out)
                out.removeAll(keepingCapacity: true)
            }
        }
        try FileDescriptor.standardOutput.writeAll(out)
    }
}

struct LedgerCheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Print the signed checkpoint (C2SP tlog-checkpoint note) for the ledger's current size.")

    @Argument(help: "The ledger: a file, a postgres:// URL or a log service's http://HOST:PORT.") var ledger: String
    @Option(help: "Sign and store a checkpoint with this key if none is stored for the current size.") var key: String?
    @OptionGroup var passphrase: PassphraseOptions

    func run() throws {
        if RemoteLedger.handles(ledger) {
            guard key == nil else { throw CommandError.operational("--key: a log service signs its own checkpoints") }
            return try RemoteLedger.checkpoint(ledger)
        }
        // Printing a stored checkpoint only reads; signing one (--key) writes.
        let store = try LedgerLocation.open(ledger, readOnly: key == nil)
        let size = try store.size()
        if let note = try store.checkpoint(size: size) {
            try FileDescriptor.standardOutput.writeAll(note.bytes)
            return
        }
        guard let key else {
            throw CommandError.operational(
                "\(store.store.location): no checkpoint stored for size \(size); pass --key to sign one")
        }
        let note = try store.makeCheckpoint(key: passphrase.signingKey(at: key))
        try FileDescriptor.standardOutput.writeAll(note.bytes)
    }
}

struct LedgerProveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prove", abstract: "The RFC 9162 inclusion proof of an entry in the tree of a given size.")

    @Argument(help: "The ledger: a file, a postgres:// URL or a log service's http://HOST:PORT.") var ledger: String
    @Option(help: "The entry's sequence number.") var index: Int
    @Option(help: "The tree size (default: the ledger's size).") var size: Int?
    @Flag(help: "Print {\"index\",\"size\",\"leafHash\",\"proof\",\"root\"} as JSON.") var json = false

    func run() throws {
        let proof =
            try RemoteLedger.handles(ledger)
            ? RemoteLedger.prove(ledger, index: count(index, "--index"), size: size.map { try count($0, "--size") })
            : LedgerLocation.open(ledger, readOnly: true).inclusionProof(
                index: count(index, "--index"), size: size.map { try count($0, "--size") })
        if json {
            Terminal.line(proof.json.canonicalString)
        } else {
            Terminal.line("entry \(proof.index) in tree size \(proof.size)")
            Terminal.line("leaf \(proof.leafHash.hex)")
            for hash in proof.proof { Terminal.line("path \(hash.hex)") }
            Terminal.line("root \(proof.root.hex)")
        }
    }
}

struct LedgerConsistencyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consistency", abstract: "The RFC 9162 consistency proof between two tree sizes.")

    @Argument(help: "The ledger: a file, a postgres:// URL or a log service's http://HOST:PORT.") var ledger: String
    @Option(help: "The older tree size (at least 1).") var from: Int
    @Option(help: "The newer tree size (default: the ledger's size).") var to: Int?
    @Flag(help: "Print {\"from\",\"to\",\"fromRoot\",\"toRoot\",\"proof\"} as JSON.") var json = false

    func run() throws {
        let proof =
            try RemoteLedger.handles(ledger)
            ? RemoteLedger.consistency(ledger, from: count(from, "--from"), to: to.map { try count($0, "--to") })
            : LedgerLocation.open(ledger, readOnly: true).consistencyProof(
                from: count(from, "--from"), to: to.map { try count($0, "--to") })
        if json {
            Terminal.line(proof.json.canonicalString)
        } else {
            Terminal.line("tree size \(proof.from) root \(proof.fromRoot.hex)")
            Terminal.line("tree size \(proof.to) root \(proof.toRoot.hex)")
            for hash in proof.proof { Terminal.line("path \(hash.hex)") }
        }
    }
}

struct LedgerVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Recompute every entry, signature, chain link, tree node and checkpoint; exit 1 on any problem.")

    @Argument(help: "The ledger: a file, a postgres:// URL or a log service's http://HOST:PORT.") var ledger: String
    @Option(help: "Also check a checkpoint note received earlier (repeatable).") var checkpoint: [String] = []
    @Option(help: "A trust store: officers' submissions must be signed by keys it holds (SPEC 4.9).")
    var trust: String?
    @Flag(help: "Print the report as JSON.") var json = false
    @OptionGroup var quietOption: QuietOption

    func run() throws {
        let external = try checkpoint.map { (source: $0, note: try FileSystem.readFile($0, limit: 1 << 20)) }
        var trusted: (@Sendable (LogOfficer) -> Bool)?
        if let trust {
            let officers = OfficerTrust(try TrustStore.load(trust))
            trusted = { officers.trusts($0) }
        }
        let report: LedgerVerificationReport
        let location: String
        if RemoteLedger.handles(ledger) {
            report = try RemoteLedger.verify(ledger, externalCheckpoints: external, trustedOfficer: trusted)
            location = ledger
        } else {
            let store = try LedgerLocation.open(ledger, readOnly: true)
            report = try store.verify(externalCheckpoints: external, trustedOfficer: trusted)
            location = store.store.location
        }
        if json {
            Terminal.line(report.json.canonicalString)
        } else {
            for problem in report.problems { Terminal.line("FAILED: \(problem.message)") }
            if report.problemCount > report.problems.count {
                Terminal.line("FAILED: \(report.problemCount - report.problems.count) more problems not shown")
            }
            if let first = report.firstBadEntry { Terminal.line("first bad entry: \(first)") }
            for pair in report.inconsistentCheckpoints {
                Terminal.line("inconsistent checkpoints: sizes \(pair.0) and \(pair.1)")
            }
            let verdict = report.passed ? "verified" : "FAILED"
            Terminal.line(
                "\(location): \(verdict): \(report.entries) entries, "
                    + "\(report.checkpointsChecked) checkpoints, root \(report.root.hex)")
        }
        if !report.passed { throw ExitCode(ExitStatus.verificationFailed.rawValue) }
    }
}

struct LedgerCheckInclusionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-inclusion",
        abstract: "Offline: check an entry's inclusion proof against a signed checkpoint, without the ledger.")

    @Option(help: "The inclusion proof JSON (from custody ledger prove --json).") var proof: String
    @Option(help: "The entry: its exact bytes (one line of custody ledger export).") var leaf: String
    @Option(help: "The signed checkpoint note of the proof's tree size.") var checkpoint: String
    @OptionGroup var check: OfflineCheckOptions

    func run() throws {
        let (verifier, parsed) = try check.load(proof, as: InclusionProof.init(json:source:))
        let head = try check.checkpoint(checkpoint, verifier: verifier)
        var entryBytes = try FileSystem.readFile(leaf, limit: LedgerEntry.maximumSize + 2)
        if entryBytes.last == 0x0a { entryBytes.removeLast() }
        let failures = parsed.mismatches(entry: entryBytes, key: verifier, to: head).map(\.description)
        try check.report(failures, success: "entry \(parsed.index) is included in \(head.origin) at size \(head.size)")
    }
}

struct LedgerCheckConsistencyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-consistency",
        abstract: "Offline: check that a newer signed checkpoint extends an older one, without the ledger.")

    @Option(help: "The consistency proof JSON (from custody ledger consistency --json).") var proof: String
    @Option(help: "The older signed checkpoint note.") var old: String
    @Option(help: "The newer signed checkpoint note.") var new: String
    @OptionGroup var check: OfflineCheckOptions

    func run() throws {
        let (verifier, parsed) = try check.load(proof, as: ConsistencyProof.init(json:source:))
        let older = try check.checkpoint(old, verifier: verifier)
        let newer = try check.checkpoint(new, verifier: verifier)
        try check.report(parsed.mismatches(from: older, to: newer).map(\.description),
                         success: "\(newer.origin): size \(newer.size) extends size \(older.size)")
    }
}

/// Reads a proof or checkpoint file given to an offline check (at most 1 MiB).
private func readProofFile(_ path: String) throws -> [UInt8] {
    try FileSystem.readFile(path, limit: 1 << 20)
}

/// `--key` and `--json` of the offline proof checks, and how they report.
struct OfflineCheckOptions: ParsableArguments {
    @Option(help: "The ledger's verifier key: a .vkey file or the key itself.") var key: String
    @Flag(help: "Print the result as JSON.") var json = false

    /// The verifier key from a file holding one line, or the argument itself when it is a key.
    func verifierKey() throws -> NoteVerifierKey {
        if FileSystem.exists(key) {
            let text = String(decoding: try FileSystem.readFile(key, limit: 4096), as: UTF8.self)
            return try NoteVerifierKey(parsing: text.split(separator: "\n").first.map(String.init) ?? "")
        }
        return try NoteVerifierKey(parsing: key)
    }

    /// The verifier key, then the proof in the file at `path` (`parse` takes its bytes and the path for messages).
    func load<Proof>(_ path: String, as parse: ([UInt8], String) throws -> Proof) throws -> (NoteVerifierKey, Proof) {
        let verifier = try verifierKey()
        return (verifier, try parse(readProofFile(path), path))
    }

    /// The signed checkpoint note in the file at `path`, its signature verified with `verifier`.
    func checkpoint(_ path: String, verifier: NoteVerifierKey) throws -> Checkpoint {
        try Checkpoint.open(readProofFile(path), keys: [verifier])
    }

    /// Prints the outcome of an offline proof check and exits 1 when anything failed.
    func report(_ failures: [String], success: String) throws {
        if json {
            Terminal.line(
                JSONValue.object([
                    "passed": .bool(failures.isEmpty),
                    "problems": .array(failures.map { .string($0) }),
                ]).canonicalString)
        } else if failures.isEmpty {
            Terminal.line(success)
        } else {
            failures.forEach { Terminal.line("FAILED: \($0)") }
        }
        if !failures.isEmpty { throw ExitCode(ExitStatus.verificationFailed.rawValue) }
    }
}
