import XCTest

import CustodyKit
@testable import CustodyLedger

final class MerkleProofTests: XCTestCase {
    static let vectorLeaves = [
        "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ].map { Merkle.leafHash(Hex.decode($0)!) }

    /// The RFC 6962 proof vectors, `Tests/Vectors/merkle` (a missing folder fails the test).
    static func vectorDirectory() throws -> URL {
        try TestSupport.vectors("merkle")
    }

    static func files(_ folder: URL) -> [URL] {
        let enumerator = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil)
        return (enumerator?.allObjects as? [URL] ?? []).filter { $0.pathExtension == "json" }.sorted {
            $0.path < $1.path
        }
    }

    /// Sizes and indexes as unsigned 64-bit numbers (a vector uses 2^64 - 1, beyond JSONValue's Int64).
    static func u64(_ value: JSONValue?) -> UInt64 {
        if let int = value?.intValue { return UInt64(bitPattern: int) }
        if case .double(let double)? = value { return double >= 1.8e19 ? UInt64.max : UInt64(double) }
        return 0
    }

    static func decode(_ value: JSONValue?) -> [UInt8] { value?.stringValue.flatMap { Base64.decode($0) } ?? [] }

    /// Checks every vector of the folder `kind` (more than 50 of them): `verify`, given the vector and its decoded
    /// proof, accepts exactly the vectors that do not want an error.
    func checkVectors(_ kind: String, file: StaticString = #filePath, line: UInt = #line,
                      _ verify: (JSONValue, [[UInt8]]) -> Bool) throws {
        let files = Self.files(try Self.vectorDirectory().appendingPathComponent(kind))
        XCTAssertGreaterThan(files.count, 50, kind, file: file, line: line)
        for vector in files {
            let json = try JSONValue.parse(Array(try Data(contentsOf: vector)))
            let proof = (json["proof"]?.arrayValue ?? []).map { Self.decode($0) }
            XCTAssertEqual(verify(json, proof), !(json["wantErr"]!.boolValue!), vector.path, file: file, line: line)
        }
    }

    func testInclusionVectors() throws {
        try checkVectors("inclusion") { json, proof in
            MerkleProofs.verifyInclusion(
                leafHash: Self.decode(json["leafHash"]), index: Self.u64(json["leafIdx"]),
                size: Self.u64(json["treeSize"]), proof: proof, root: Self.decode(json["root"]))
        }
    }

    func testConsistencyVectors() throws {
        try checkVectors("consistency") { json, proof in
            MerkleProofs.verifyConsistency(
                fromSize: Self.u64(json["size1"]), toSize: Self.u64(json["size2"]),
                fromRoot: Self.decode(json["root1"]), toRoot: Self.decode(json["root2"]), proof: proof)
        }
    }

    /// Our generated proofs for the vector tree equal the vectors' happy-path proofs.
    func testGeneratedProofsMatchVectors() throws {
        let directory = try Self.vectorDirectory()
        let source = MemoryNodeSource(leaves: Self.vectorLeaves)
        for file in Self.files(directory.appendingPathComponent("inclusion"))
        where file.lastPathComponent == "happy-path.json" {
            let json = try JSONValue.parse(Array(try Data(contentsOf: file)))
            let size = Self.u64(json["treeSize"])
            guard size <= 8, size > 0 else { continue }
            let proof = try MerkleProofs.inclusionProof(source, index: Self.u64(json["leafIdx"]), size: size)
            XCTAssertEqual(proof.map(\.bytes), (json["proof"]?.arrayValue ?? []).map { Self.decode($0) }, file.path)
            XCTAssertEqual(try MerkleProofs.root(source, size: size).bytes, Self.decode(json["root"]))
        }
        for file in Self.files(directory.appendingPathComponent("consistency"))
        where file.lastPathComponent == "happy-path.json" {
            let json = try JSONValue.parse(Array(try Data(contentsOf: file)))
            let from = Self.u64(json["size1"])
            let to = Self.u64(json["size2"])
            guard to <= 8, from > 0 else { continue }
            let proof = try MerkleProofs.consistencyProof(source, from: from, to: to)
            XCTAssertEqual(proof.map(\.bytes), (json["proof"]?.arrayValue ?? []).map { Self.decode($0) }, file.path)
        }
    }

    /// Proofs collected while leaves stream past (`SelectedProofs`, the disclosure's bounded-memory path) equal the
    /// proofs from all leaves at hand, for every size up to 70 and any choice of indexes; the vector tree's proofs
    /// equal the vectors'.
    func testSelectedProofsEqualProofsFromAllLeaves() throws {
        let leaves = (0..<70).map { Merkle.leafHash([UInt8($0), 7]) }
        var generator = SystemRandomNumberGenerator()
        for size in 1...UInt64(70) {
            let source = MemoryNodeSource(leaves: Array(leaves.prefix(Int(size))))
            let chosen = Set((0..<3).map { _ in UInt64.random(in: 0..<size, using: &generator) } + [0, size - 1])
            var collector = try SelectedProofs(proving: chosen, size: size)
            for leaf in leaves.prefix(Int(size)) { collector.append(leaf) }
            for index in chosen {
                XCTAssertEqual(try collector.proof(index: index),
                               try MerkleProofs.inclusionProof(source, index: index, size: size), "\(index)/\(size)")
            }
            XCTAssertThrowsError(try SelectedProofs(proving: [size], size: size))
        }
        let directory = try Self.vectorDirectory()
        for file in Self.files(directory.appendingPathComponent("inclusion"))
        where file.lastPathComponent == "happy-path.json" {
            let json = try JSONValue.parse(Array(try Data(contentsOf: file)))
            let size = Self.u64(json["treeSize"]), index = Self.u64(json["leafIdx"])
            guard size <= 8, size > 0 else { continue }
            var collector = try SelectedProofs(proving: [index], size: size)
            for leaf in Self.vectorLeaves.prefix(Int(size)) { collector.append(leaf) }
            XCTAssertEqual(try collector.proof(index: index).map(\.bytes),
                           (json["proof"]?.arrayValue ?? []).map { Self.decode($0) }, file.path)
        }
    }

    /// Every proof over trees up to 40 leaves verifies, against roots from the independent `Merkle.root`.
    func testAllSmallProofsRoundTrip() throws {
        let leaves = (0..<40).map { Merkle.leafHash([UInt8($0)]) }
        let source = MemoryNodeSource(leaves: leaves)
        for size in 1...40 {
            let root = Merkle.root(leaves: leaves[0..<size])
            XCTAssertEqual(try MerkleProofs.root(source, size: UInt64(size)), root)
            for index in 0..<size {
                let proof = try MerkleProofs.inclusionProof(source, index: UInt64(index), size: UInt64(size))
                XCTAssertTrue(
                    MerkleProofs.verifyInclusion(
                        leafHash: leaves[index].bytes, index: UInt64(index),
                        size: UInt64(size), proof: proof.map(\.bytes), root: root.bytes))
                XCTAssertFalse(
                    MerkleProofs.verifyInclusion(
                        leafHash: leaves[(index + 1) % 40].bytes, index: UInt64(index),
                        size: UInt64(size), proof: proof.map(\.bytes), root: root.bytes))
            }
            for from in 1...size {
                let proof = try MerkleProofs.consistencyProof(source, from: UInt64(from), to: UInt64(size))
                let old = Merkle.root(leaves: leaves[0..<from])
                XCTAssertTrue(
                    MerkleProofs.verifyConsistency(
                        fromSize: UInt64(from), toSize: UInt64(size), fromRoot: old.bytes,
                        toRoot: root.bytes, proof: proof.map(\.bytes)), "\(from) \(size)")
                if from < size {
                    XCTAssertFalse(
                        MerkleProofs.verifyConsistency(
                            fromSize: UInt64(from), toSize: UInt64(size),
                            fromRoot: leaves[39].bytes, toRoot: root.bytes,
                            proof: proof.map(\.bytes)))
                }
            }
        }
    }

    func testNodePositionsFollowAppendOrder() {
        var frontier = TreeFrontier()
        var positions: [UInt64] = []
        for leaf in 0..<100 {
            frontier.append(Merkle.leafHash([UInt8(leaf)])) { position, _ in positions.append(position) }
        }
        XCTAssertEqual(positions, Array(0..<UInt64(positions.count)))
        XCTAssertEqual(UInt64(positions.count), MerkleNodePosition.count(forSize: 100))
        XCTAssertEqual(frontier.root, Merkle.root(leaves: (0..<100).map { Merkle.leafHash([UInt8($0)]) }))
    }
}
