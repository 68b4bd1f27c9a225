import CustodyCrypto

/// What a pass over content and its packed form computed, the same for packing and unpacking: sizes, the tree
/// digest with its leaves, and the content's linear digests. `PackResult` and `UnpackResult` carry one and read
/// its fields as their own.
public struct PackedContent: Sendable {
    /// Content bytes (read when packing; written, damaged chunks zero-filled, when unpacking).
    public var size: UInt64
    /// Bytes of the packed file (written when packing, read when unpacking), end-of-file member included.
    public var packedSize: UInt64
    /// The chunk size of the tree digest and of the packed members.
    public var chunkSize: Int
    /// Chunks of content.
    public var chunkCount: UInt64
    /// RFC 6962 tree digest of the content over `chunkSize` chunks.
    public var treeRoot: Hash32
    /// Every chunk's leaf hash, in order.
    public var leaves: [Hash32]
    /// Linear digests of the content.
    public var digests: [DigestAlgorithm: [UInt8]]
}
