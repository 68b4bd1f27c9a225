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
