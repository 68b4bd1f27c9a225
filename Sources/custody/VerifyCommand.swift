import ArgumentParser
import CustodyKit

#if canImport(Glibc)
import Glibc
#endif

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify a sealed bundle: BagIt, seal, every item's content, the ledger excerpt and its proofs.",
        discussion: """
            Reports each check as passed or failed with where, then each item's sealed and computed digests side \
            by side. Without --trust the signatures are checked but not their signers: the result says "verified, \
            signers NOT checked" (exit 0; in JSON "signersChecked": false). --quiet prints only the failed checks \
            and the one-line result. Exit 0 when everything verified, 1 when anything failed (each failure \
            named), 2 when the bundle cannot be read. Never writes into the bundle.
            """
    )

    @Argument(help: "The bundle directory.") var bundle: String
    @Option(help: "Trust store of agencies' keys; without it, valid signatures are not known to be trusted.")
    var trust: String?
    @Flag(help: "Skip only the decompression and re-hashing of item content.") var fast = false
    @Flag(help: "For a collection bundle: a line per stored file, OK or FAILED with its path, before the checks.")
    var list = false
    @Flag(name: .long, help: "Print the report as JSON.") var json = false
    @Flag(name: .shortAndLong, help: "Print only failed checks and the one-line result; no progress.")
    var quiet = false

    func run() throws {
        // One rule for BUNDLE: it must lead to a directory. A symbolic link named here is followed, as other tools
        // follow a link on their command line (links inside the bag are still refused, SPEC 5.9); a link to
        // nothing or to a file is the same operational error as a missing path.
        guard (try? FileSystem.status(bundle).st_mode & S_IFMT) == S_IFDIR, let root = Self.resolved(bundle) else {
            throw CommandError.operational("\(bundle): not a bundle directory (no such directory)")
        }
        let store = try trust.map { try TrustStore.load($0) }
        var verifier = BundleVerifier(root: root, trust: store, fast: fast)
        let display = ProgressReporter(label: "verifying", quiet: quiet)
        verifier.itemsLoaded = { items in
            display.setTotals(bytes: fast ? nil : items.reduce(0) { $0 + $1.size }, files: items.count)
        }
        verifier.progress = { path, done in display.item(path, bytesDone: done) }
        if list && !json {
            verifier.itemOutcome = { number, path, problems in
                Terminal.line((problems.isEmpty ? "OK      " : "FAILED  ") + "\(number) \(path)"
                    + (problems.isEmpty ? "" : ": " + problems.joined(separator: "; ")))
            }
        }
        let (report, summary) = verifier.verify()
        display.finish()
        let outcome = VerifyOutcome(report: report, signersChecked: store != nil)
        if json {
            Terminal.line(VerifyCommand.json(report: report, summary: summary, signersChecked: store != nil)
                .canonicalString)
        } else {
            if !quiet { Terminal.line("bundle \(bundle) (\(summary.bundleID ?? "no identifier"))") }
            VerifyCommand.printChecks(report, onlyFailures: quiet)
            if !quiet { VerifyCommand.printDigests(summary) }
            if let disclosure = summary.disclosure { Terminal.line(disclosure.line) }
            Terminal.line(outcome.line)
        }
        if !report.passed { throw ExitCode(ExitStatus.verificationFailed.rawValue) }
    }

    /// `path` itself when it is not a symbolic link, else the absolute path it leads to; nil when that cannot
    /// be resolved.
    static func resolved(_ path: String) -> String? {
        guard let info = try? FileSystem.status(path, followLinks: false) else { return nil }
        guard info.st_mode & S_IFMT == S_IFLNK else { return path }
        return RawName.withCString(path) { name -> String? in
            guard let target = realpath(name, nil) else { return nil }
            defer { free(target) }
            return RawName.decode(UnsafeBufferPointer(start: target, count: strlen(target))
                .map { UInt8(bitPattern: $0) })
        }
    }

    /// Prints one `PASS|FAIL|WARN|SKIP  NAME: DETAIL` line per check (only the failed ones with `onlyFailures`).
    static func printChecks(_ report: VerificationReport, onlyFailures: Bool = false) {
        for check in report.checks where !onlyFailures || check.status == .failed {
            let mark: String
            switch check.status {
            case .passed: mark = "PASS"
            case .failed: mark = "FAIL"
            case .warning: mark = "WARN"
            case .skipped: mark = "SKIP"
            }
            Terminal.line("\(mark)  \(check.name): \(check.detail)")
        }
    }

    /// Bundles with more items than this list their digests in `--json` only.
    static let digestListLimit = 20

    /// Prints, for each item, the sealed and the computed size and digests one above the other (as ewfverify
    /// shows stored and calculated hashes), each pair marked `match` or `DIFFERS`.
    static func printDigests(_ summary: BundleSummary) {
        guard !summary.items.isEmpty else { return }
        guard summary.items.count <= digestListLimit else {
            Terminal.line("digests: \(summary.items.count) items (sealed and computed digests with --json)")
            return
        }
        for item in summary.items {
            Terminal.line("item \(item.number): \(BagIt.printable(item.originalName))")
            let computed = summary.computed[item.number]
            var rows = [("size", "\(item.size)", computed.map { "\($0.size)" })]
            rows.append((TreeChunkSize.digestName(item.chunkSize), item.tree, computed?.tree))
            for (name, hex) in item.digests.sorted(by: { $0.key < $1.key }) {
                rows.append((name.uppercased(), hex, computed?.digests[name]))
            }
            let width = rows.map(\.0.count).max() ?? 0
            for (name, sealed, actual) in rows {
                let padded = name + String(repeating: " ", count: width - name.count)
                Terminal.line("  \(padded)  sealed    \(sealed)")
                let blank = String(repeating: " ", count: width)
                guard let actual else {
                    Terminal.line("  \(blank)  computed  (not computed: --fast, or the content could not be read)")
                    continue
                }
                Terminal.line("  \(blank)  computed  \(actual)  \(actual == sealed ? "match" : "DIFFERS")")
            }
        }
    }

    /// The report as one JSON document (SPEC 5.9): `passed`, `outcome`, `signersChecked`, the checks, the items
    /// (each with what was `computed` from its content), the conditions and the sealer.
    static func json(report: VerificationReport, summary: BundleSummary, signersChecked: Bool) -> JSONValue {
        let items: [JSONValue] = summary.items.map { item in
            guard var members = item.json.objectValue, let computed = summary.computed[item.number] else {
                return item.json
            }
            var values = computed.digests.mapValues { JSONValue.string($0) }
            values["size"] = .int(Int64(computed.size))
            values["tree"] = .string(computed.tree)
            members["computed"] = .object(values)
            return .object(members)
        }
        var members: [String: JSONValue] = [
            "passed": .bool(report.passed),
            "outcome": .string(VerifyOutcome(report: report, signersChecked: signersChecked).name),
            "signersChecked": .bool(signersChecked),
            "checks": .array(report.checks.map(\.json)),
            "items": .array(items),
        ]
        if let id = summary.bundleID { members["bundle"] = .string(id) }
        if let collection = summary.collection { members["collection"] = collectionJSON(collection) }
        if let disclosure = summary.disclosure { members["disclosure"] = disclosureJSON(disclosure) }
        if let conditions = summary.conditions { members["conditions"] = conditions.json }
        if let sealer = summary.sealer {
            members["sealedBy"] = .object(["name": .string(sealer.name), "agency": .string(sealer.agency),
                                           "jurisdiction": .string(sealer.jurisdiction),
                                           "keyId": .string(sealer.keyIDHex)])
        }
        return .object(members)
    }

    /// A disclosure's statement, signers and times, as SPEC 5.14 lists them.
    static func disclosureJSON(_ disclosure: DisclosureSummary) -> JSONValue {
        let statement = disclosure.statement
        func who(_ identity: Identity?) -> JSONValue {
            guard let identity else { return .null }
            return .object(["name": .string(identity.name), "agency": .string(identity.agency),
                            "jurisdiction": .string(identity.jurisdiction), "keyId": .string(identity.keyIDHex)])
        }
        let items: [JSONValue] = statement.items.map { item in
            var members: [String: JSONValue] = ["n": .int(Int64(item.number))]
            if let record = disclosure.records.first(where: { UInt64($0.number) == item.number }) {
                members["path"] = .string(record.displayPath)
            }
            switch item.extent {
            case .whole: members["whole"] = .bool(true)
            case .ranges(let ranges):
                members["ranges"] = .array(ranges.map {
                    .array([.int(Int64($0.lowerBound)), .int(Int64($0.upperBound))]) })
            }
            return .object(members)
        }
        return .object([
            "summary": .string(disclosure.line), "items": .int(Int64(statement.itemCount)),
            "disclosed": .int(Int64(statement.items.count)), "withheld": .int(Int64(statement.withheld)),
            "itemsRoot": .string(statement.itemsRoot.hex), "disclosedItems": .array(items),
            "disclosedBytes": .int(Int64(disclosure.disclosedBytes)), "sealedBy": who(disclosure.sealer),
            "sealedAt": disclosure.sealTime.map { .string($0.description) } ?? .null,
            "checkpointSize": disclosure.checkpointSize.map { .int(Int64($0)) } ?? .null,
            "disclosedBy": who(disclosure.discloser), "disclosedAt": .string(statement.time.description),
            "to": .string(statement.recipient), "legalBasis": .string(statement.legalBasis),
            "mlaReference": .string(statement.mlaReference),
            "previous": statement.previous.map { .string($0.hex) } ?? .null,
        ])
    }

    /// A collection bundle's counts, root and failed items, as SPEC 5.13 lists them.
    static func collectionJSON(_ collection: CollectionVerification) -> JSONValue {
        var kinds: [String: JSONValue] = [:]
        for (kind, count) in collection.kinds { kinds[kind.rawValue] = .int(Int64(count)) }
        let failed: [JSONValue] = collection.failedItems.map { failure in
            .object(["n": .int(Int64(failure.number)), "path": .string(failure.path),
                     "problem": .string(failure.problem)])
        }
        let errors: [JSONValue] = collection.acquisitionErrors.map { failure in
            .object(["n": .int(Int64(failure.number)), "path": .string(failure.path), "error": .string(failure.error)])
        }
        var members: [String: JSONValue] = [:]
        members["items"] = .int(Int64(collection.items))
        members["files"] = .int(Int64(collection.files))
        members["bytes"] = .int(Int64(collection.bytes))
        members["itemsRoot"] = collection.itemsRoot.map { .string($0.hex) } ?? .null
        members["kinds"] = .object(kinds)
        members["failedCount"] = .int(Int64(collection.failedCount))
        members["failedItems"] = .array(failed)
        members["acquisitionErrorCount"] = .int(Int64(collection.acquisitionErrorCount))
        members["acquisitionErrors"] = .array(errors)
        return .object(members)
    }

}

/// How a verification ended, as the last line and JSON `outcome` say it.
struct VerifyOutcome {
    /// The checks made.
    var report: VerificationReport
    /// Whether the signers were checked against a trust store.
    var signersChecked: Bool

    /// `verified`, `verified-signers-not-checked` or `failed`.
    var name: String {
        !report.passed ? "failed" : signersChecked ? "verified" : "verified-signers-not-checked"
    }

    /// The one-line result.
    var line: String {
        let failures = report.failures.count
        guard report.passed else { return "FAILED: \(failures) check\(failures == 1 ? "" : "s") failed" }
        let warnings = report.checks.filter { $0.status == .warning }.count
        let warned = warnings == 0 ? "" : " (\(warnings) warning\(warnings == 1 ? "" : "s"))"
        guard signersChecked else {
            return "verified, signers NOT checked: content, seal and ledger are intact, but no --trust store "
                + "says who signed" + warned
        }
        return "verified: every check passed" + warned
    }
}
