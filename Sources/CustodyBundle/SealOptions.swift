import CustodyBase
import CustodyCrypto
import CustodyEngine
import CustodyIO

/// How `custody seal` stores and describes items.
public struct SealOptions: Sendable {
    /// The tree digest's chunk size.
    public var chunkSize = TreeChunkSize.default
    /// The compression level (0-9).
    public var level = EvidencePacker.defaultLevel
    /// Store content packed (custody gzip) or raw.
    public var compress = true
    /// Linear digests of each item's content (sha256 always included).
    public var linearDigests: [DigestAlgorithm] = [.sha256]
    /// The order a collection seal reads each folder's entries in: by name (the default), or for spinning disks
    /// by inode or by physical position (`WalkOptions.Order`). A resumed seal keeps the interrupted run's.
    public var readOrder: WalkOptions.Order = .name
    /// Parallel positional readers (1: one sequential reader).
    public var readers = 1
    /// Read retries before an unreadable range is narrowed to sectors and zero-filled.
    public var readRetries = 3
    /// Apply the bad-sector policy (retry, narrow, zero-fill, record) to regular files too, not only to block
    /// devices: for images kept on failing media. Otherwise a file read error fails the seal.
    public var tolerateFileReadErrors = false
    /// Wraps each item's reader (fault injection in tests; the real reader is passed in).
    package var wrapReader: (@Sendable (ChunkReader) -> ChunkReader)?
    /// The case number (else the conditions' case).
    public var caseNumber: String?
    /// The evidence number.
    public var evidenceNumber: String?
    /// The examiner's name (else the key's holder).
    public var examiner: String?
    /// The description of the evidence.
    public var itemDescription: String?
    /// Notes recorded with each item.
    public var notes: String?
    /// The conditions the evidence is held under.
    public var conditions = Conditions()
    /// Called with (item path, bytes done) while an item is read.
    public var progress: (@Sendable (String, UInt64) -> Void)?
    /// Asked between chunks: true stops the seal, keeping its work for a resume.
    public var shouldStop: (@Sendable () -> Bool)?
    /// Called with one-line notices (resuming an item, reusing ledger entries).
    public var notice: (@Sendable (String) -> Void)?
    /// The payload is synced (and the seal journal updated) after this many chunks or `syncSeconds`,
    /// whichever comes first: the most an interrupted raw item re-copies after a crash.
    public var syncChunks: UInt64 = 256
    /// The longest time between two syncs of the payload, in seconds.
    public var syncSeconds = 2.0

    /// The defaults: packed at level 1, 1 MiB chunks, sha256, one reader.
    public init() {}
}

/// What a seal produced.
public struct SealResult: Sendable {
    /// The bundle's identifier (`urn:uuid:...`).
    public var bundleID: String
    /// Where the bundle is.
    public var path: String
    /// The sealed items, in order.
    public var items: [ItemRecord]
    /// Ledger sequence numbers of the entries the seal appended.
    public var entries: [UInt64]
    /// The checkpoint's tree size.
    public var checkpointSize: UInt64
    /// Links and special files met inside input directories and left out (also in the seal entry's details).
    public var skipped: [String] = []
}
