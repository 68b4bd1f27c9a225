import CustodyBase
import CustodyIO
internal import COpenSSL
import Synchronization

/// A 32-byte SHA-256 value stored inline (no heap allocation), used for Merkle leaves and nodes.
public struct Hash32: Hashable, Sendable, CustomStringConvertible {
    /// The 32 bytes as four words, in memory order.
    public private(set) var storage: (UInt64, UInt64, UInt64, UInt64)

    /// Creates a hash from exactly 32 bytes; returns nil for any other length.
    public init?(_ bytes: some Collection<UInt8>) {
        guard bytes.count == 32 else { return nil }
        storage = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &storage) { raw in
            for (offset, byte) in bytes.enumerated() { raw[offset] = byte }
        }
    }

    /// Creates a hash from 32 lower- or upper-case hex digits.
    public init?(hex: some StringProtocol) {
        guard let bytes = Hex.decode(hex) else { return nil }
        self.init(bytes)
    }

    init(copying pointer: UnsafeRawPointer) {
        storage = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: 32)) }
    }

    /// The 32 bytes.
    public var bytes: [UInt8] { withUnsafeBytes(of: storage) { Array($0) } }

    /// Lower-case hex.
    public var hex: String { withUnsafeBytes(of: storage) { Hex.encode($0) } }

    /// Lower-case hex.
    public var description: String { hex }

    /// Calls `body` with the 32 bytes.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: storage, body)
    }

    /// Whether both hold the same 32 bytes.
    public static func == (lhs: Hash32, rhs: Hash32) -> Bool {
        lhs.storage.0 == rhs.storage.0 && lhs.storage.1 == rhs.storage.1
            && lhs.storage.2 == rhs.storage.2 && lhs.storage.3 == rhs.storage.3
    }

    /// Feeds the 32 bytes to `hasher`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(storage.0)
        hasher.combine(storage.1)
        hasher.combine(storage.2)
        hasher.combine(storage.3)
    }
}

/// RFC 6962 Merkle tree hashing: leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right).
public enum Merkle {
    /// The root of the empty tree: SHA-256 of nothing.
    public static let emptyRoot: Hash32 = Hash32(Digester.digest(.sha256, []))!

    /// The leaf hash of `data`.
    public static func leafHash(_ data: UnsafeRawBufferPointer) -> Hash32 {
        let digester = Digester(.sha256)
        var prefix: UInt8 = 0
        withUnsafeBytes(of: &prefix) { digester.update($0) }
        digester.update(data)
        return Hash32(digester.finalize())!
    }

    /// The leaf hash of a chunk of `chunkSize` zero bytes, computed once per size and process.
    public static func zeroLeafHash(chunkSize: Int) -> Hash32 {
        if let known = zeroLeaves.withLock({ $0[chunkSize] }) { return known }
        let zeros = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 64)
        defer { zeros.deallocate() }
        zeros.initializeMemory(as: UInt8.self, repeating: 0)
        let leaf = leafHash(UnsafeRawBufferPointer(zeros))
        zeroLeaves.withLock { $0[chunkSize] = leaf }
        return leaf
    }

    private static let zeroLeaves = Mutex<[Int: Hash32]>([:])

    /// Whether every byte of `bytes` is zero; stops at the first 512-byte block holding anything else.
    public static func isAllZero(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let words = bytes.count / 8
        var index = 0
        while index < words {
            var combined: UInt64 = 0
            let end = min(words, index + 64)
            while index < end {
                combined |= base.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)
                index += 1
            }
            if combined != 0 { return false }
        }
        for offset in (words * 8)..<bytes.count where bytes[offset] != 0 { return false }
        return true
    }

    /// The leaf hash of `data`.
    public static func leafHash(_ data: [UInt8]) -> Hash32 {
        data.withUnsafeBytes { leafHash($0) }
    }

    /// The interior node hash of two children.
    public static func nodeHash(_ left: Hash32, _ right: Hash32) -> Hash32 {
        var input = [UInt8](repeating: 1, count: 65)
        input.withUnsafeMutableBytes { destination in
            left.withBytes { (destination.baseAddress! + 1).copyMemory(from: $0.baseAddress!, byteCount: 32) }
            right.withBytes { (destination.baseAddress! + 33).copyMemory(from: $0.baseAddress!, byteCount: 32) }
        }
        var out = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        let ok = withUnsafeMutableBytes(of: &out) { raw -> Bool in
            var length: UInt32 = 0
            return EVP_Digest(input, 65, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), &length,
                              DigestAlgorithm.sha256.method.pointer, nil) == 1
        }
        precondition(ok, "\(OpenSSLError.capture("EVP_Digest"))")
        return withUnsafeBytes(of: &out) { Hash32(copying: $0.baseAddress!) }
    }

    /// The Merkle tree hash (MTH) of a list of leaf hashes.
    public static func root(leaves: some Collection<Hash32>) -> Hash32 {
        var accumulator = MerkleAccumulator()
        for leaf in leaves { accumulator.append(leaf) }
        return accumulator.root
    }

    /// The largest power of two strictly less than `n` (n >= 2).
    public static func splitPoint(_ n: UInt64) -> UInt64 {
        precondition(n >= 2)
        var k: UInt64 = 1
        while k << 1 < n { k <<= 1 }
        return k
    }
}

/// Computes an RFC 6962 root from leaves appended in order, keeping only O(log n) hashes (a compact range).
public struct MerkleAccumulator: Sendable {
    /// Roots of perfect subtrees, left to right, with strictly decreasing sizes.
    private var peaks: [(size: UInt64, hash: Hash32)] = []
    /// Number of leaves appended.
    public private(set) var count: UInt64 = 0

    /// An empty tree.
    public init() {}

    /// Appends the next leaf hash.
    public mutating func append(_ leaf: Hash32) {
        var node = (size: UInt64(1), hash: leaf)
        while let last = peaks.last, last.size == node.size {
            peaks.removeLast()
            node = (last.size * 2, Merkle.nodeHash(last.hash, node.hash))
        }
        peaks.append(node)
        count += 1
    }

    /// The tree hash of the leaves so far (the empty root when none).
    public var root: Hash32 {
        guard var result = peaks.last?.hash else { return Merkle.emptyRoot }
        for peak in peaks.dropLast().reversed() {
            result = Merkle.nodeHash(peak.hash, result)
        }
        return result
    }
}
