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

extension DFXMLExport {
    /// Writes a collection bundle's DFXML to `out` as a stream (SPEC section 8.3): the header, then one
    /// `fileobject` per item record in item order, with what the record holds: the original path, the
    /// acquisition error, the kind (`name_type`), the content size, inode, permission bits, link count, owner and
    /// group, the four times, a symbolic link's target, and the digests (a further name of a hard-linked file
    /// carries the digests of its content). Returns what was read of the records.
    public static func writeCollection(bundle: String, summary: BundleSummary, commandLine: String,
                                       verification: CaseExport.Verification,
                                       to out: StreamedText) throws -> CollectionRecordStream.Outcome {
        let stream = CollectionRecordStream(bundle: bundle, summary: summary)
        let sealTime = summary.entries.last { $0.action == .seal }?.time.description
            ?? summary.entries.last?.time.description ?? ""
        let algorithms = [HashAlgorithm.tree] + stream.algorithms().map(HashAlgorithm.digest)
        var lines = HashFormatter.dfxmlHeader(algorithms: algorithms, commandLine: commandLine,
                                              version: CustodyVersion.string, startTime: sealTime)
        lines.insert("<!-- custody verification: \(verification.rawValue) -->", at: 1)
        try out.write(lines.joined(separator: "\n") + "\n")
        var linked = LinkedContent()
        let order = DigestAlgorithm.allCases.map(HashAlgorithm.digest) + [.tree]
        let outcome = try stream.forEach { record in
            linked.note(record)
            try out.write(fileObject(record, content: linked.content(of: record), algorithms: order))
        }
        try out.write(HashFormatter.dfxmlFooter.joined(separator: "\n") + "\n")
        try out.flush()
        return outcome
    }

    /// DFXML's `name_type` letters (as fiwalk writes them) by record kind.
    static func nameType(_ kind: CollectionRecord.Kind) -> String {
        switch kind {
        case .file, .hardlink: return "r"
        case .directory: return "d"
        case .symlink: return "l"
        case .fifo: return "p"
        case .socket: return "s"
        case .characterDevice: return "c"
        case .blockDevice: return "b"
        }
    }

    /// One record's `fileobject`, its elements in the DFXML schema's order.
    static func fileObject(_ record: CollectionRecord, content: CollectionRecord.Content?,
                           algorithms: [HashAlgorithm]) -> String {
        func element(_ name: String, _ value: String) -> String { "    <\(name)>\(value)</\(name)>\n" }
        var text = "  <fileobject>\n" + element("filename", HashFormatter.xmlEscaped(RawName.decode(record.path)))
        if let error = record.error { text += element("error", HashFormatter.xmlEscaped(error)) }
        text += element("name_type", nameType(record.kind))
        if let content { text += element("filesize", String(content.size)) }
        if let metadata = record.metadata {
            text += element("inode", String(metadata.inode)) + element("mode", String(metadata.mode & 0o7777))
                + element("nlink", String(metadata.links)) + element("uid", String(metadata.uid))
                + element("gid", String(metadata.gid)) + element("mtime", metadata.modified)
                + element("ctime", metadata.changed) + element("atime", metadata.accessed)
            if let born = metadata.born { text += element("crtime", born) }
        }
        if let target = record.target {
            text += element("link_target", HashFormatter.xmlEscaped(RawName.decode(target)))
        }
        if let content {
            for line in HashFormatter.dfxmlFileObject(content.fileDigests(path: ""), algorithms: algorithms)
            where line.contains("<hashdigest") {
                text += line + "\n"
            }
        }
        return text + "  </fileobject>\n"
    }
}
