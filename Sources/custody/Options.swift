import ArgumentParser
import CustodyKit

/// `--quiet`: no progress on stderr.
struct QuietOption: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Do not show progress on stderr.")
    var quiet = false
}

/// `--chunk-size`: the tree digest's chunk size.
struct ChunkSizeOption: ParsableArguments {
    @Option(name: .customLong("chunk-size"), help: "Chunk size of the tree digest: a power of two from 64K to 64M.")
    var chunkSizeText = "1M"

    var chunkSize: Int {
        get throws {
            guard let bytes = ByteSize.parse(chunkSizeText) else {
                throw CommandError.operational("--chunk-size '\(chunkSizeText)' is not a size (for example 1M)")
            }
            return try TreeChunkSize.validate(bytes)
        }
    }

    func validate() throws {
        _ = try chunkSize
    }
}

/// `--readers`: positional readers for fast random-access storage.
struct ReadersOption: ParsableArguments {
    @Option(name: .customLong("readers"),
            help: ArgumentHelp("Parallel positional readers (1 = one sequential reader, best for spinning disks; "
                + "2-8 for SSD/NVMe)."))
    var readers = 1

    func validate() throws {
        guard (1...64).contains(readers) else {
            throw CommandError.operational("--readers \(readers): choose from 1 to 64")
        }
    }
}

/// Checks of a command's named inputs and outputs, made before any passphrase is asked for (a typo in a path
/// must not cost the user a passphrase), and the one overwrite rule.
enum InputCheck {
    /// Throws (exit 2) unless something exists at `path`: `OPTION PATH: no such file or directory`.
    static func requireExisting(_ path: String, _ option: String) throws {
        guard (try? FileSystem.status(path)) != nil else {
            throw CommandError.operational("\(option.isEmpty ? "" : option + " ")\(path): no such file or directory")
        }
    }

    /// Throws (exit 2) when `path` exists and `force` is not given: every command that writes a named output
    /// refuses to replace an existing one unless `--force` (and then replaces it atomically).
    static func requireNew(_ path: String, _ option: String, force: Bool = false, forceAllowed: Bool = true) throws {
        guard !force, (try? FileSystem.status(path, followLinks: false)) != nil else { return }
        throw CommandError.operational("\(option.isEmpty ? "" : option + " ")\(path): already exists; not overwriting"
            + (forceAllowed ? " (give --force to replace it)" : " (choose a new path)"))
    }
}

/// `--force`: replace an existing output.
struct ForceOption: ParsableArguments {
    @Flag(help: "Replace the output file if it exists (else an existing output is refused).")
    var force = false
}
