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
            BenchCommand.self, DemoCommand.self,
        ]
    )

    /// Parses, runs, and maps every failure to the contract's exit codes: 1 for a verification failure,
    /// 2 for usage and operational errors, never a trap.
    static func main() {
        // The library takes no configuration from the environment: the command line reads it here.
        FileChunkReader.mapsRegularFilesByDefault = getenv("CUSTODY_NO_MMAP") == nil
        CompressionEngine.allowsISAL = getenv("CUSTODY_ZLIB_ONLY") == nil
        do {
            var command = try parseAsRoot(rawArguments())
            try command.run()
        } catch {
            Glibc.exit(Custody.report(error))
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
