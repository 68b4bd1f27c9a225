import ArgumentParser
import CustodyKit

#if canImport(Glibc)
import Glibc
#endif

@main
struct Custody: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "custody",
        abstract: "Chain of custody for electronic evidence: hash, pack, seal, verify and transfer.",
        version: CustodyVersion.string + "\ncompression: " + CompressionEngine.summary,
        subcommands: [
            HashCommand.self, PackCommand.self, UnpackCommand.self, KeygenCommand.self, LedgerCommand.self,
            SealCommand.self, VerifyCommand.self, TrustCommand.self, TransferCommand.self, ReceiveCommand.self,
            ReceiptCommand.self, ConsentCommand.self, PreserveCommand.self, ExportCommand.self, ReportCommand.self,
            BenchCommand.self, DemoCommand.self, DiscloseCommand.self, ServeCommand.self,
        ]
    )

    /// Parses, runs, and maps every failure to the contract's exit codes: 1 for a verification failure,
    /// 2 for usage and operational errors, never a trap.
    static func main() {
        // The library takes no configuration from the environment: the command line reads it here.
        FileChunkReader.mapsRegularFilesByDefault = getenv("CUSTODY_NO_MMAP") == nil
        CompressionEngine.allowsISAL = getenv("CUSTODY_ZLIB_ONLY") == nil
        let arguments = rawArguments()
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch {
            let status = Custody.report(error)
            if status != 0, Custody.wantsJSON(arguments), let message = Custody.errorMessage(error) {
                Terminal.line(JSONValue.object(["error": .string(message), "exitCode": .int(Int64(status))])
                    .canonicalString)
            }
            Glibc.exit(status)
        }
    }

    /// Whether the command line asks for JSON (`--json`, or `--format json`) before any `--`.
    static func wantsJSON(_ arguments: [String]) -> Bool {
        let options = arguments.prefix { $0 != "--" }
        return options.contains("--json") || options.contains("--format=json")
            || zip(options, options.dropFirst()).contains { $0 == "--format" && $1 == "json" }
    }

    /// The message of an error that ends a command, as stderr shows it (without `custody: `); nil for an exit a
    /// command chose after printing its own result.
    static func errorMessage(_ error: Error) -> String? {
        switch error {
        case is ExitCode: return nil
        case let error as CustodyFailure: return error.description
        default: return fullMessage(for: error)
        }
    }

    /// The command line as the bytes it is: a file name that is not UTF-8 keeps its bytes (`RawName`), where
    /// `CommandLine.arguments` would replace them with U+FFFD.
    static func rawArguments() -> [String] {
        (1..<Int(CommandLine.argc)).map { index in
            guard let argument = CommandLine.unsafeArgv[index] else { return "" }
            return RawName.decode(UnsafeBufferPointer(start: argument, count: strlen(argument))
                .map { UInt8(bitPattern: $0) })
        }
    }

    /// The one place where errors become exit statuses: a library failure by its kind, ArgumentParser's own
    /// exits and usage errors as ArgumentParser says.
    static func report(_ error: Error) -> Int32 {
        switch error {
        case let error as ExitCode:
            return error.rawValue
        case let error as CustodyFailure:
            Terminal.error(error.description)
            return ExitStatus(error.kind).rawValue
        default:
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                print(message)
                return 0
            }
            Terminal.writeError(message + "\n")
            return ExitStatus.operationalError.rawValue
        }
    }
}

/// The exit statuses every command shares (CONTRACT.md).
enum ExitStatus: Int32, Sendable {
    /// Success, everything verified.
    case success = 0
    /// A verification failure or a difference was found.
    case verificationFailed = 1
    /// Usage error or operational error (unreadable input, bad key, corrupt file...).
    case operationalError = 2

    /// The status a library failure of `kind` ends a command with.
    init(_ kind: FailureKind) {
        switch kind {
        case .verification: self = .verificationFailed
        case .operational: self = .operationalError
        }
    }
}
