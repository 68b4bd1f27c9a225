import CustodyBase

/// Chunk sizes allowed in tree digests: powers of two from 64 KiB to 64 MiB.
public enum TreeChunkSize {
    /// 1 MiB, the default.
    public static let `default` = 1 << 20
    /// 64 KiB, the smallest.
    public static let minimum = 64 << 10
    /// 64 MiB, the largest.
    public static let maximum = 64 << 20

    /// Checks a chunk size; throws a usage error naming the rule.
    public static func validate(_ size: UInt64) throws -> Int {
        guard size >= UInt64(minimum), size <= UInt64(maximum), size & (size - 1) == 0 else {
            throw EngineError.chunkSizeNotAllowed(size)
        }
        return Int(size)
    }

    /// The digest's name with its chunk size, as written in text output: `TREE-SHA256-1M`.
    public static func digestName(_ chunkSize: Int) -> String {
        "TREE-SHA256-\(ByteSize.shortName(chunkSize))"
    }
}
