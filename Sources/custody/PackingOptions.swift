import ArgumentParser
import CustodyKit

extension OutputTarget {
    /// Opens `path` for writing as `OutputTarget` does, naming `--force` when the output exists.
    static func create(path: String, overwrite: Bool, input: FileDescriptor?) throws -> OutputTarget {
        do {
            return try OutputTarget(path: path, overwrite: overwrite, input: input)
        } catch let error as EngineError {
            guard case .outputExists = error else { throw error }
            throw CommandError.operational("\(error) or use --force")
        }
    }
}

/// The help a command gives an option of a shared group (the groups below take the text from the command).
protocol OptionHelpText {
    /// The help line.
    static var text: ArgumentHelp { get }
}

/// `--level`: the zlib compression level, 0-9 (default 1, the fastest).
struct LevelOption<Help: OptionHelpText>: ParsableArguments {
    @Option(name: .long, help: Help.text)
    var level = EvidencePacker.defaultLevel

    func validate() throws {
        guard (0...9).contains(level) else { throw ValidationError("--level \(level): choose from 0 to 9") }
    }
}

/// `--retries`: read retries before an unreadable range is narrowed to sectors (default 3).
struct RetriesOption<Help: OptionHelpText>: ParsableArguments {
    @Option(name: .long, help: Help.text)
    var retries = 3

    func validate() throws {
        guard (0...100).contains(retries) else { throw ValidationError("--retries \(retries): choose from 0 to 100") }
    }
}

/// `--json` and `--force` of the commands that write one output file from one input (pack, unpack).
struct SingleOutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print the summary as one canonical JSON object.")
    var json = false

    @Flag(name: .shortAndLong, help: "Overwrite OUTPUT if it exists.")
    var force = false
}

/// `--level` as seal and bench describe it.
enum CompressionLevelHelp: OptionHelpText {
    static let text = ArgumentHelp(
        "Compression level 0-9 (default 1): ISA-L serves 1-3 where it is installed, zlib 4-9 (custody --version "
            + "says which is in use).")
}
