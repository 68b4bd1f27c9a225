import CustodyBase
import CustodyBundle
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger
import CustodyTransfer

/// A bundle's items as DFXML the way hashdeep writes it (`hashdeep -d`): the hashdeep header, one `fileobject` per
/// item with its original name, content size and digests (MD5, SHA1, SHA256, SHA512 when sealed, and the tree
/// digest as `TREE-SHA256-<chunk>`). SPEC section 8 gives the profile.
public enum DFXMLExport {
    /// The DFXML text. `start_time` is `exportedAt`, the time of this export (as hashdeep writes its run's start);
    /// XML comments after the declaration record `verification` (`<!-- custody verification: failed -->`) and the
    /// seal time (the bundle's `seal` entry, else its last entry or the last acquisition's end).
    public static func text(summary: BundleSummary, commandLine: String,
                            verification: CaseExport.Verification, exportedAt: Timestamp) -> String {
        let sealTime = summary.entries.last { $0.action == .seal }?.time.description
            ?? summary.entries.last?.time.description ?? summary.items.map(\.acquisitionEnd).max()
        let algorithms = HashAlgorithm.allCases.filter { algorithm in
            algorithm == .tree || summary.items.contains { $0.digests[algorithm.rawValue] != nil }
        }
        var lines = HashFormatter.dfxmlHeader(algorithms: algorithms, commandLine: commandLine,
                                              version: CustodyVersion.string,
                                              startTime: exportedAt.description)
        lines.insert("<!-- custody verification: \(verification.rawValue) -->", at: 1)
        if let sealTime { lines.insert("<!-- custody sealed: \(sealTime) -->", at: 2) }
        for item in summary.items {
            var digests: [DigestAlgorithm: [UInt8]] = [:]
            for (name, hex) in item.digests {
                if let algorithm = DigestAlgorithm(rawValue: name), let bytes = Hex.decode(hex) {
                    digests[algorithm] = bytes
                }
            }
            let record = FileDigests(path: item.originalName, size: item.size, chunkSize: item.chunkSize,
                                     tree: Hash32(hex: item.tree), digests: digests)
            let order = DigestAlgorithm.allCases.map(HashAlgorithm.digest) + [.tree]
            lines += HashFormatter.dfxmlFileObject(record, algorithms: order)
        }
        lines += HashFormatter.dfxmlFooter
        return lines.joined(separator: "\n") + "\n"
    }
}
