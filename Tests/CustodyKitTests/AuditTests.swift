import XCTest
@testable import CustodyEngine
import CustodyCrypto

/// `hash --audit`'s comparison: files found by path, moved (found by digest under another path), new, missing.
final class AuditTests: XCTestCase {
    private func digest(_ seed: Int) -> [UInt8] { Digester.digest(.sha256, Array("content \(seed)".utf8)) }

    private func file(_ path: String, _ seed: Int, size: UInt64 = 10) -> FileDigests {
        FileDigests(path: "/cases/" + path, size: size, chunkSize: 1 << 20, tree: nil, digests: [.sha256: digest(seed)])
    }

    private func entry(_ path: String, _ seed: Int, size: UInt64? = 10, line: Int) -> KnownHashList.Entry {
        KnownHashList.Entry(path: "/cases/" + path, size: size, digests: [.sha256: digest(seed)], line: line)
    }

    /// The findings as the definition gives them: a file not found by path is moved from the lowest-numbered
    /// unused entry every digest in common of which is equal (a linear scan of the list).
    private func expected(_ files: [FileDigests], _ entries: [KnownHashList.Entry]) -> [String] {
        var used = Set<Int>(), findings: [String] = []
        let byPath = Dictionary(entries.enumerated().map { ($0.element.path, $0.offset) }) { _, last in last }
        for file in files {
            if let index = byPath[file.path] {
                used.insert(index)
                let same = entries[index].digests[.sha256] == file.digests[.sha256]
                    && (entries[index].size ?? file.size) == file.size
                findings.append((same ? "matched " : "changed ") + file.path)
                continue
            }
            if let index = entries.indices.first(where: {
                !used.contains($0) && entries[$0].digests[.sha256] == file.digests[.sha256]
                    && (entries[$0].size ?? file.size) == file.size
            }) {
                used.insert(index)
                findings.append("moved \(file.path) from \(entries[index].path)")
            } else {
                findings.append("new " + file.path)
            }
        }
        for (index, entry) in entries.enumerated() where !used.contains(index) {
            findings.append("missing " + entry.path)
        }
        return findings
    }

    private func describe(_ report: AuditReport) -> [String] {
        report.findings.map {
            switch $0 {
            case .matched(let path): "matched " + path
            case .changed(let path, _, _, _): "changed " + path
            case .moved(let path, let knownAs): "moved \(path) from \(knownAs)"
            case .new(let path): "new " + path
            case .missing(let path): "missing " + path
            }
        }
    }

    func testMovedFilesAreFoundByDigestAsALinearScanWouldFindThem() {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<40 {
            // Few distinct contents, so that many files share a digest (empty files, copies), sizes that sometimes
            // differ for the same digest, paths that sometimes match.
            let contents = round % 5 + 1
            let entries = (0..<60).map { index in
                entry("old/\(index % 23)/\(index)", Int.random(in: 0..<contents, using: &generator),
                      size: index % 7 == 0 ? 11 : 10, line: index + 1)
            }
            let files = (0..<50).map { index in
                file(Bool.random(using: &generator) ? "old/\(index % 23)/\(index)" : "new/\(index)",
                     Int.random(in: 0..<(contents + 1), using: &generator))
            }
            let report = AuditReport.audit(files, against: KnownHashList(entries: entries), workingDirectory: "/")
            XCTAssertEqual(describe(report), expected(files, entries), "round \(round)")
        }
    }

    func testAWholeTreeMovedIsMatchedWithoutComparingEveryPair() {
        let count = 50_000
        let entries = (0..<count).map { entry("before/\($0)", $0 % 1000, line: $0 + 1) }
        let files = (0..<count).map { file("after/\($0)", $0 % 1000) }
        let report = AuditReport.audit(files, against: KnownHashList(entries: entries), workingDirectory: "/")
        let moved = report.findings.filter { if case .moved = $0 { true } else { false } }
        XCTAssertEqual(moved.count, count)
        XCTAssertFalse(report.passed)
        if case .moved(let path, let knownAs) = report.findings[1234] {
            XCTAssertEqual(path, "/cases/after/1234")
            XCTAssertEqual(knownAs, "/cases/before/1234")
        } else {
            XCTFail("\(report.findings[1234])")
        }
    }
}
