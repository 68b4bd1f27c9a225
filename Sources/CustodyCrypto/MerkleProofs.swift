import CustodyBase
import CustodyIO

/// Why a Merkle proof could not be made: a request outside the tree.
public enum MerkleProofError: CustodyFailure, Equatable {
    /// A perfect node (level, index) beyond the leaves of an in-memory tree.
    case nodeBeyondTree(level: Int, index: UInt64)
    /// An inclusion proof of leaf `index` asked of a tree of only `size` leaves.
    case indexNotBelowSize(index: UInt64, size: UInt64)
    /// A consistency proof asked between sizes that do not satisfy 1 <= from <= to.
    case consistencySizes(from: UInt64, to: UInt64)

    /// A request outside the tree is an operation that cannot be done.
    public var kind: FailureKind { .operational }

    /// The one-line message.
    public var description: String {
        switch self {
        case .nodeBeyondTree: "node beyond the tree"
        case .indexNotBelowSize(let index, let size): "leaf index \(index) is not below tree size \(size)"
        case .consistencySizes(let from, let to): "a consistency proof needs 1 <= from (\(from)) <= to (\(to))"
        }
    }
}

/// A source of perfect-subtree hashes of an append-only RFC 6962 tree.
public protocol MerkleNodeSource {
    /// The hash of the perfect subtree of `2^level` leaves whose first leaf is `index << level`.
    func perfectNode(level: Int, index: UInt64) throws -> Hash32
}

/// Where the nodes of an append-only tree are stored: nodes are numbered in the order appending creates them
/// (a leaf, then each perfect subtree it completes, lowest first), so a scan in that order follows the log.
public enum MerkleNodePosition {
    /// The position of the perfect node at (`level`, `index`): `2n - popcount(n) + level`, where `n` is the last
    /// leaf of the subtree.
    public static func position(level: Int, index: UInt64) -> UInt64 {
        let lastLeaf = ((index + 1) << UInt64(level)) - 1
        return 2 * lastLeaf - UInt64(lastLeaf.nonzeroBitCount) + UInt64(level)
    }

    /// How many nodes a tree of `size` leaves stores: `2 size - popcount(size)`.
    public static func count(forSize size: UInt64) -> UInt64 { 2 * size - UInt64(size.nonzeroBitCount) }
}

/// An in-memory node source over leaf hashes (for tests and small trees); computes nodes on demand.
public struct MemoryNodeSource: MerkleNodeSource {
    /// The leaf hashes, in order.
    public var leaves: [Hash32]

    /// A source over `leaves`.
    public init(leaves: [Hash32]) { self.leaves = leaves }

    /// The perfect node (`level`, `index`), computed from the leaves.
    /// - Throws: `MerkleProofError.nodeBeyondTree` when the subtree reaches past the last leaf.
    public func perfectNode(level: Int, index: UInt64) throws -> Hash32 {
        let start = Int(index << UInt64(level))
        let count = 1 << level
        guard start + count <= leaves.count else { throw MerkleProofError.nodeBeyondTree(level: level, index: index) }
        return Merkle.root(leaves: leaves[start..<start + count])
    }
}

/// RFC 6962 / RFC 9162 inclusion and consistency proofs: generation from a node source, and verification.
public enum MerkleProofs {
    /// The tree hash of leaves `[start, start + count)`, where `start` is a multiple of the largest power of two
    /// not exceeding `count` rounded up (as every range in the RFC's recursion is). O(log count) node reads.
    public static func rangeHash(_ source: some MerkleNodeSource, start: UInt64, count: UInt64) throws -> Hash32 {
        if count == 0 { return Merkle.emptyRoot }
        // Decompose into perfect subtrees, largest first, and fold from the right.
        var parts: [Hash32] = []
        var offset = start
        var remaining = count
        while remaining > 0 {
            let level = 63 - remaining.leadingZeroBitCount
            parts.append(try source.perfectNode(level: level, index: offset >> UInt64(level)))
            offset += 1 << UInt64(level)
            remaining -= 1 << UInt64(level)
        }
        var result = parts.removeLast()
        while let left = parts.popLast() { result = Merkle.nodeHash(left, result) }
        return result
    }

    /// The root of the first `size` leaves.
    public static func root(_ source: some MerkleNodeSource, size: UInt64) throws -> Hash32 {
        try rangeHash(source, start: 0, count: size)
    }

    /// The inclusion proof (RFC 9162 2.1.3.1 PATH) of leaf `index` in the tree of the first `size` leaves,
    /// from the leaf up.
    public static func inclusionProof(_ source: some MerkleNodeSource, index: UInt64, size: UInt64) throws -> [Hash32]
    {
        guard index < size else {
            throw MerkleProofError.indexNotBelowSize(index: index, size: size)
        }
        var path: [Hash32] = []
        var start: UInt64 = 0
        var count = size
        var leaf = index
        while count > 1 {
            let k = Merkle.splitPoint(count)
            if leaf < k {
                path.append(try rangeHash(source, start: start + k, count: count - k))
                count = k
            } else {
                path.append(try rangeHash(source, start: start, count: k))
                start += k
                count -= k
                leaf -= k
            }
        }
        return path.reversed()
    }

    /// The consistency proof (RFC 9162 2.1.4.1 PROOF) between the trees of the first `from` and `to` leaves.
    public static func consistencyProof(_ source: some MerkleNodeSource, from: UInt64, to: UInt64) throws -> [Hash32] {
        guard from >= 1, from <= to else {
            throw MerkleProofError.consistencySizes(from: from, to: to)
        }
        var proof: [Hash32] = []
        var start: UInt64 = 0
        var m = from
        var n = to
        var complete = true
        while m != n {
            let k = Merkle.splitPoint(n)
            if m <= k {
                proof.append(try rangeHash(source, start: start + k, count: n - k))
                n = k
            } else {
                proof.append(try rangeHash(source, start: start, count: k))
                start += k
                m -= k
                n -= k
                complete = false
            }
        }
        if !complete { proof.append(try rangeHash(source, start: start, count: n)) }
        return proof.reversed()
    }

    /// The proof elements as hashes, nil when one is not 32 bytes.
    private static func hashes(_ proof: [[UInt8]]) -> [Hash32]? {
        var hashes: [Hash32] = []
        hashes.reserveCapacity(proof.count)
        for element in proof {
            guard let hash = Hash32(element) else { return nil }
            hashes.append(hash)
        }
        return hashes
    }

    /// The walk up a proof path both verifications share (RFC 9162 2.1.3.2 and 2.1.4.2): from node `fn` with
    /// `sn` the last node of its level, each element joins `larger` on the side the path says; `smaller` (the
    /// older tree's root in a consistency proof) takes only the elements to its left. Nil when the path does not
    /// end at the root (too long or too short).
    private static func climb(
        _ path: some Sequence<Hash32>, from fn: UInt64, last sn: UInt64, smaller: Hash32?, larger: Hash32
    ) -> (smaller: Hash32?, larger: Hash32)? {
        var fn = fn
        var sn = sn
        var smaller = smaller
        var larger = larger
        for element in path {
            guard sn != 0 else { return nil }
            if fn & 1 == 1 || fn == sn {
                smaller = smaller.map { Merkle.nodeHash(element, $0) }
                larger = Merkle.nodeHash(element, larger)
                while fn & 1 == 0 && fn != 0 {
                    fn >>= 1
                    sn >>= 1
                }
            } else {
                larger = Merkle.nodeHash(larger, element)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 ? (smaller, larger) : nil
    }

    /// Verifies an inclusion proof (RFC 9162 2.1.3.2). Sizes of zero, indexes beyond the tree and hashes that are
    /// not 32 bytes are rejected.
    public static func verifyInclusion(
        leafHash: [UInt8], index: UInt64, size: UInt64, proof: [[UInt8]],
        root: [UInt8]
    ) -> Bool {
        guard index < size, let leaf = Hash32(leafHash), let expected = Hash32(root),
              let hashes = hashes(proof) else { return false }
        guard let result = climb(hashes, from: index, last: size - 1, smaller: nil, larger: leaf) else { return false }
        return constantTimeEqual(result.larger.bytes, expected.bytes)
    }

    /// Verifies a consistency proof (RFC 9162 2.1.4.2). Equal sizes need an empty proof and equal roots; a first
    /// size of zero (which proves nothing) and a first size above the second are rejected.
    public static func verifyConsistency(
        fromSize: UInt64, toSize: UInt64, fromRoot: [UInt8], toRoot: [UInt8],
        proof: [[UInt8]]
    ) -> Bool {
        guard fromSize >= 1, fromSize <= toSize else { return false }
        if fromSize == toSize {
            return proof.isEmpty && constantTimeEqual(fromRoot, toRoot)
        }
        guard let first = Hash32(fromRoot), let second = Hash32(toRoot), !proof.isEmpty,
              var path = hashes(proof) else { return false }
        if fromSize & (fromSize - 1) == 0 { path.insert(first, at: 0) }
        var fn = fromSize - 1
        var sn = toSize - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        guard let roots = climb(path.dropFirst(), from: fn, last: sn, smaller: path[0], larger: path[0]) else {
            return false
        }
        return roots.smaller == first && roots.larger == second
    }
}

/// Inclusion proofs for chosen leaves of a tree whose leaves stream past once (a collection's records, an item's
/// chunk leaves): the perfect subtrees the proofs need are worked out first from the indexes and the size, kept as
/// they form while the leaves are folded in, and nothing else is stored, so memory stays O(k log n) for k proofs
/// whatever the number of leaves.
public struct SelectedProofs: Sendable {
    private struct Node: Hashable, Sendable { var level: Int, index: UInt64 }
    private final class Recorder: MerkleNodeSource, @unchecked Sendable {
        var wanted = Set<Node>()
        func perfectNode(level: Int, index: UInt64) throws -> Hash32 {
            wanted.insert(Node(level: level, index: index))
            return Merkle.emptyRoot
        }
    }
    private struct Kept: MerkleNodeSource {
        var nodes: [Node: Hash32]
        func perfectNode(level: Int, index: UInt64) throws -> Hash32 {
            guard let hash = nodes[Node(level: level, index: index)] else {
                throw MerkleProofError.nodeBeyondTree(level: level, index: index)
            }
            return hash
        }
    }

    /// The tree's size.
    public let size: UInt64
    private let wanted: Set<Node>
    private var kept: [Node: Hash32] = [:]
    private var stack: [(level: Int, index: UInt64, hash: Hash32)] = []
    /// Leaves folded in so far.
    public private(set) var count: UInt64 = 0

    /// A collector for the proofs of `indexes` in a tree of `size` leaves.
    /// - Throws: `MerkleProofError.indexNotBelowSize` for an index not below `size`.
    public init(proving indexes: some Sequence<UInt64>, size: UInt64) throws {
        let recorder = Recorder()
        for index in indexes { _ = try MerkleProofs.inclusionProof(recorder, index: index, size: size) }
        self.size = size
        wanted = recorder.wanted
    }

    /// Folds in the next leaf.
    public mutating func append(_ leaf: Hash32) {
        var node = (level: 0, index: count, hash: leaf)
        count += 1
        while true {
            let key = Node(level: node.level, index: node.index)
            if wanted.contains(key) { kept[key] = node.hash }
            guard let top = stack.last, top.level == node.level else { break }
            stack.removeLast()
            node = (node.level + 1, top.index / 2, Merkle.nodeHash(top.hash, node.hash))
        }
        stack.append(node)
    }

    /// The inclusion proof of leaf `index` (one of those given at the start), once every leaf is folded in.
    public func proof(index: UInt64) throws -> [Hash32] {
        try MerkleProofs.inclusionProof(Kept(nodes: kept), index: index, size: size)
    }
}
