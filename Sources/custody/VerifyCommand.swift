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
            Reports each check as passed or failed with where. Exit 0 when everything verified, 1 when anything \
            failed (each failure named), 2 when the bundle cannot be read. Never writes into the bundle.
            """
    )

    @Argument(help: "The bundle directory.") var bundle: String
    @Option(help: "Trust store of agencies' keys; without it, valid signatures are not known to be trusted.")
    var trust: String?
    @Flag(help: "Skip only the decompression and re-hashing of item content.") var fast = false
    @Flag(help: "For a collection bundle: a line per stored file, OK or FAILED with its path, before the checks.")
    var list = false
    @Flag(name: .long, help: "Print the report as JSON.") var json = false
    @OptionGroup var quietOption: QuietOption

    func run() throws {
        // One rule for BUNDLE: it must lead to a directory. A symbolic link named here is followed, as other tools
        // follow a link on their command line (links inside the bag are still refused, SPEC 5.9); a link to
        // nothing or to a file is the same operational error as a missing path.
        guard (try? FileSystem.status(bundle).st_mode & S_IFMT) == S_IFDIR, let root = Self.resolved(bundle) else {
            throw CommandError.operational("\(bundle): not a bundle directory (no such directory)")
        }
        let store = try trust.map { try TrustStore.load($0) }
        var verifier = BundleVerifier(root: root, trust: store, fast: fast)
        let display = ProgressDisplay(label: "verifying", total: nil, quiet: quietOption.quiet)
        verifier.progress = { _, done in display.update(done) }
        if list && !json {
            verifier.itemOutcome = { number, path, problems in
                Terminal.line((problems.isEmpty ? "OK      " : "FAILED  ") + "\(number) \(path)"
                    + (problems.isEmpty ? "" : ": " + problems.joined(separator: "; ")))
            }
        }
        let (report, summary) = verifier.verify()
        display.finish()
        if json {
            Terminal.line(VerifyCommand.json(report: report, summary: summary).canonicalString)
        } else {
            Terminal.line("bundle \(bundle) (\(summary.bundleID ?? "no identifier"))")
            VerifyCommand.printChecks(report)
            let failures = report.failures.count
            Terminal.line(report.passed ? "verified: every check passed" + (store == nil ? " (signers not checked "
                + "against a trust store)" : "") : "FAILED: \(failures) check\(failures == 1 ? "" : "s") failed")
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

    /// Prints one `PASS|FAIL|WARN|SKIP  NAME: DETAIL` line per check.
    static func printChecks(_ report: VerificationReport) {
        for check in report.checks {
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

    static func json(report: VerificationReport, summary: BundleSummary) -> JSONValue {
        var members: [String: JSONValue] = [
            "passed": .bool(report.passed),
            "checks": .array(report.checks.map(\.json)),
            "items": .array(summary.items.map(\.json)),
        ]
        if let id = summary.bundleID { members["bundle"] = .string(id) }
        if let collection = summary.collection { members["collection"] = collectionJSON(collection) }
        if let conditions = summary.conditions { members["conditions"] = conditions.json }
        if let sealer = summary.sealer {
            members["sealedBy"] = .object(["name": .string(sealer.name), "agency": .string(sealer.agency),
                                           "jurisdiction": .string(sealer.jurisdiction),
                                           "keyId": .string(sealer.keyIDHex)])
        }
        return .object(members)
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
