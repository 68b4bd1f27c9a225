import CustodyBase
import CustodyBundle
import CustodyCrypto
import CustodyEngine
import CustodyIO

/// A text output written in pieces: bytes are gathered and handed to a `ByteSink` in blocks of 1 MiB, so an
/// export of a million records never holds more than one block.
public final class StreamedText {
    private let sink: ByteSink
    private var buffer: [UInt8] = []
    /// Bytes handed to the sink or waiting in the buffer.
    public private(set) var bytesWritten: UInt64 = 0

    /// Text written to `sink`.
    public init(_ sink: ByteSink) {
        self.sink = sink
        buffer.reserveCapacity(1 << 20)
    }

    /// Appends `bytes`.
    public func write(_ bytes: some Collection<UInt8>) throws {
        buffer.append(contentsOf: bytes)
        bytesWritten += UInt64(bytes.count)
        if buffer.count >= 1 << 20 { try flush() }
    }

    /// Appends `text` as UTF-8 (escaped raw-name bytes stay code points: XML and JSON text is always UTF-8).
    public func write(_ text: String) throws { try write(Array(text.utf8)) }

    /// Appends `text` and a newline, with the bytes of file names that are not UTF-8 written as they are
    /// (`RawName.encode`): for hash lists, which must name the files byte for byte.
    public func rawLine(_ text: String) throws { try write(RawName.encode(text) + [0x0a]) }

    /// Hands what is buffered to the sink.
    public func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try sink.write($0) }
        buffer.removeAll(keepingCapacity: true)
    }
}

/// Reads a collection bundle's item records again, after its verification, for an export: one record at a time
/// (bounded memory), checking at the end that what was read is what the verification read (the same number of
/// records hashing to the same items root), so a bundle changed between the two reads is never exported as
/// verified.
public struct CollectionRecordStream {
    /// The bundle directory.
    public var bundle: String
    /// What the verification of the bundle learned (its `collection` must be set).
    public var summary: BundleSummary

    /// A stream of the records of the collection bundle at `bundle`, verified as `summary` says.
    public init(bundle: String, summary: BundleSummary) {
        self.bundle = bundle
        self.summary = summary
    }

    /// The records read, and the first problem when not all could be read or they differ from those verified.
    public struct Outcome: Sendable {
        /// Records handed to the body.
        public var records = 0
        /// Why the records are not all those the verification read (unreadable line, different root), or nil.
        public var problem: String?
    }

    /// Calls `body` with each record in order. A record that cannot be read ends the stream (the outcome names
    /// it); an error thrown by `body` is rethrown.
    public func forEach(_ body: (CollectionRecord) throws -> Void) throws -> Outcome {
        var outcome = Outcome()
        var reader: ItemRecordsReader
        do { reader = try ItemRecordsReader(path: bundle + "/" + BundleLayout.itemRecords) } catch {
            outcome.problem = "\(BundleLayout.itemRecords): \(error)"
            return outcome
        }
        defer { reader.close() }
        while true {
            let record: CollectionRecord?
            do { record = try reader.next() } catch {
                outcome.problem = "\(error)"
                return outcome
            }
            guard let record else { break }
            try body(record)
            outcome.records += 1
        }
        let verified = summary.collection
        if let root = verified?.itemsRoot, root != reader.root || verified?.items != reader.count {
            outcome.problem = "\(BundleLayout.itemRecords) changed since it was verified (\(reader.count) records "
                + "with root \(reader.root.hex), verified \(verified?.items ?? 0) with root \(root.hex))"
        }
        return outcome
    }

    /// The algorithms of the first record with content (a seal computes the same ones for every file), in
    /// `DigestAlgorithm` order; `[.sha256]` when there is none.
    public func algorithms() -> [DigestAlgorithm] {
        guard var reader = try? ItemRecordsReader(path: bundle + "/" + BundleLayout.itemRecords) else {
            return [.sha256]
        }
        defer { reader.close() }
        while let record = try? reader.next() {
            guard let content = record.content else { continue }
            return DigestAlgorithm.allCases.filter { content.digests[$0.rawValue] != nil }
        }
        return [.sha256]
    }
}

/// The content of the files a collection holds under more than one name: a hard link's record names the path of
/// the first name (`linkTo`), whose record holds the content. Only records of files with more than one link are
/// kept (as the seal's walk keeps them), so memory grows with the hard-linked files, not with the collection.
public struct LinkedContent {
    private var byPath: [[UInt8]: CollectionRecord.Content] = [:]

    /// An empty index.
    public init() {}

    /// Remembers `record`'s content when its file has more than one link.
    public mutating func note(_ record: CollectionRecord) {
        guard let content = record.content, (record.metadata?.links ?? 1) > 1 else { return }
        byPath[record.path] = content
    }

    /// The content a record stands for: its own, or for a hard link the content of its first name.
    public func content(of record: CollectionRecord) -> CollectionRecord.Content? {
        if let content = record.content { return content }
        guard record.kind == .hardlink, let first = record.linkTo else { return nil }
        return byPath[first]
    }
}

extension CollectionRecord.Content {
    /// The content's digests as `FileDigests` under `path`.
    func fileDigests(path: String) -> FileDigests {
        var linear: [DigestAlgorithm: [UInt8]] = [:]
        for (name, hex) in digests {
            if let algorithm = DigestAlgorithm(rawValue: name), let bytes = Hex.decode(hex) {
                linear[algorithm] = bytes
            }
        }
        return FileDigests(path: path, size: size, chunkSize: chunkSize, tree: Hash32(hex: tree), digests: linear)
    }
}

/// Hash lists of a bundle's files for the tools examiners audit with: hashdeep (`hashdeep -a -k LIST -r FOLDER`)
/// and coreutils (`sha256sum -c LIST`). For a collection bundle, one line per regular file and per further name of
/// a hard-linked file, named by its original path (`BASE/...`, relative to the sealed folder's parent, or under
/// `prefix`); for an image bundle, one line per item, named by its original name.
public enum HashListExport {
    /// The list formats.
    public enum Format: String, Sendable {
        /// hashdeep 1.0 (`%%%% HASHDEEP-1.0`; columns md5 and sha1 when sealed, and sha256).
        case hashdeep
        /// `sha256sum` lines (`HEX  NAME`, coreutils escaping).
        case sha256sum
    }

    /// Writes the list of the bundle at `bundle` (verified as `summary` says) to `out`; `prefix` is put before
    /// every name (with a `/`). hashdeep names are then made absolute against `workingDirectory`, as hashdeep
    /// writes and compares them; `commandLine` and `workingDirectory` go into its header. Returns what was read
    /// of a collection's records (the caller decides what a problem means).
    public static func write(_ format: Format, bundle: String, summary: BundleSummary, prefix: String?,
                             workingDirectory: String, commandLine: String,
                             to out: StreamedText) throws -> CollectionRecordStream.Outcome {
        func named(_ path: String) -> String {
            var name = path
            if let prefix, !prefix.isEmpty { name = prefix.hasSuffix("/") ? prefix + path : prefix + "/" + path }
            guard format == .hashdeep else { return name }
            return HashFormatter.absolutePath(name, workingDirectory: workingDirectory)
        }
        let stream = CollectionRecordStream(bundle: bundle, summary: summary)
        let algorithms: [DigestAlgorithm]
        if summary.collection != nil {
            algorithms = stream.algorithms()
        } else {
            algorithms = DigestAlgorithm.allCases.filter { algorithm in
                !summary.items.isEmpty && summary.items.allSatisfy { $0.digests[algorithm.rawValue] != nil }
            }
        }
        let columns = [DigestAlgorithm.md5, .sha1, .sha256].filter { algorithms.contains($0) }
        if format == .hashdeep {
            for line in HashFormatter.hashdeepHeader(columns: columns, directory: workingDirectory,
                                                     commandLine: commandLine) {
                try out.rawLine(line)
            }
        }
        func emit(_ digests: FileDigests) throws {
            switch format {
            case .hashdeep: try out.rawLine(HashFormatter.hashdeepLine(digests, columns: columns))
            case .sha256sum: try out.rawLine(HashFormatter.sumLine(digests, algorithm: .sha256))
            }
        }
        guard summary.collection != nil else {
            for item in summary.items {
                let content = CollectionRecord.Content(
                    size: item.size, payload: item.payloadPath, encoding: item.encoding, storedSize: item.storedSize,
                    chunkSize: item.chunkSize, tree: item.tree, digests: item.digests, leavesOffset: nil)
                try emit(content.fileDigests(path: named(item.originalName)))
            }
            try out.flush()
            return CollectionRecordStream.Outcome(records: summary.items.count)
        }
        var linked = LinkedContent()
        let outcome = try stream.forEach { record in
            linked.note(record)
            guard let content = linked.content(of: record) else { return }
            try emit(content.fileDigests(path: named(RawName.decode(record.path))))
        }
        try out.flush()
        return outcome
    }
}
