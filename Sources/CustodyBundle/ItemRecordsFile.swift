import CustodyBase
import CustodyCrypto
import CustodyIO
#if canImport(Glibc)
import Glibc
#endif

/// Appends to a work file through a buffer, keeping the SHA-256 and SHA-512 of everything written (for the tag or
/// payload manifests), so files of any size are written and digested in one pass without being read back.
final class DigestingAppender {
    /// The file.
    let descriptor: FileDescriptor
    /// Bytes written so far (flushed or not).
    private(set) var size: UInt64 = 0
    private var buffer: [UInt8] = []
    private let digesters = BundleLayout.tagManifests.map { Digester($0) }

    /// An appender to a new file at `path` (created, must not exist).
    init(creating path: String) throws {
        descriptor = try FileDescriptor.open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o644)
        buffer.reserveCapacity(1 << 20)
    }

    /// An appender continuing the file at `path` from its first `size` bytes (an interrupted seal's durable part):
    /// anything after them is cut off, and they are read again for the digests. The file must be a regular file
    /// with one link, at least `size` bytes long.
    init(resuming path: String, size: UInt64) throws {
        descriptor = try FileDescriptor.openOwnWorkFile(path)
        let info = try descriptor.status()
        guard UInt64(info.st_size) >= size else {
            descriptor.close()
            throw SealError.keptFileChanged(path: path, workPath: FileSystem.parentDirectory(of: path))
        }
        try descriptor.truncate(to: size)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: UInt64 = 0
        while offset < size {
            let want = Int(min(UInt64(buffer.count), size - offset))
            let got = try buffer.withUnsafeMutableBytes {
                try descriptor.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<want]), at: offset)
            }
            guard got > 0 else { break }
            buffer.withUnsafeBytes { raw in
                for digester in digesters { digester.update(UnsafeRawBufferPointer(rebasing: raw[0..<got])) }
            }
            offset += UInt64(got)
        }
        _ = try descriptor.seek(to: Int64(size), whence: SEEK_SET)
        self.size = size
        buffer.removeAll()
        self.buffer.reserveCapacity(1 << 20)
    }

    /// Appends `bytes`.
    func append(_ bytes: some Collection<UInt8>) throws {
        buffer.append(contentsOf: bytes)
        size += UInt64(bytes.count)
        if buffer.count >= 1 << 20 { try flush() }
    }

    /// Writes out the buffer (not synced).
    func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { raw in
            for digester in digesters { digester.update(raw) }
            try descriptor.writeAll(raw)
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, closes and returns the digests of the whole file by algorithm.
    func finish() throws -> [DigestAlgorithm: [UInt8]] {
        try flush()
        try descriptor.sync()
        descriptor.close()
        var result: [DigestAlgorithm: [UInt8]] = [:]
        for digester in digesters { result[digester.algorithm] = digester.finalize() }
        return result
    }
}

/// Reads `custody/items.jsonl` one record at a time (bounded memory whatever the item count), checking each line
/// is a record custody writes, numbered in order, and computing the items tree root as it goes.
public struct ItemRecordsReader {
    /// The longest record line read (a path of 4 KiB escaped, 64 KiB of extended attributes in base64, digests).
    public static let maximumLineLength = 1 << 20
    private var lines: LineReader
    private let descriptor: FileDescriptor
    private var accumulator = MerkleAccumulator()
    /// The records read so far.
    public private(set) var count = 0

    /// A reader of the records file at `path` (a regular file, never through a link).
    public init(path: String) throws {
        descriptor = try FileDescriptor.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
        let info = try descriptor.status()
        guard info.st_mode & S_IFMT == S_IFREG else {
            descriptor.close()
            throw BundleError.notRegularFile(path: path)
        }
        lines = LineReader(descriptor, maximumLength: ItemRecordsReader.maximumLineLength)
    }

    /// Closes the file.
    public func close() { descriptor.close() }

    /// The next record, or nil after the last. A line that is not a record, or numbered out of order, throws.
    public mutating func next() throws -> CollectionRecord? {
        guard let (line, location) = try nextLine() else { return nil }
        let record = try CollectionRecord(line: line, where: location)
        try accept(record, leafHash: Merkle.leafHash(line), location: location)
        return record
    }

    /// The next line, unparsed, and where it is (`custody/items.jsonl:N`), or nil after the last: for a caller
    /// that parses records on other threads and hands them back, in order, to `accept`.
    package mutating func nextLine() throws -> (line: [UInt8], location: String)? {
        do {
            guard let next = try lines.next() else { return nil }
            return (next, "\(BundleLayout.itemRecords):\(lines.lineNumber)")
        } catch let failure as LineReader.Failure {
            switch failure {
            case .lineTooLong(let number, let limit):
                throw BundleError.recordMalformed(location: "\(BundleLayout.itemRecords):\(number)",
                                                  problem: "longer than \(limit) bytes")
            case .unterminated(let number):
                throw BundleError.recordMalformed(location: "\(BundleLayout.itemRecords):\(number)",
                                                  problem: "the file ends inside this line (no newline)")
            }
        }
    }

    /// Takes the record parsed from the next line, in file order: checks its number and folds its leaf hash
    /// (`SHA-256(0x00 || line)`) into the root.
    package mutating func accept(_ record: CollectionRecord, leafHash: Hash32, location: String) throws {
        guard record.number == count + 1 else {
            throw BundleError.recordMalformed(location: location,
                                              problem: "numbered \(record.number), expected \(count + 1)")
        }
        accumulator.append(leafHash)
        count += 1
    }

    /// The root of the items tree over the records read so far.
    public var root: Hash32 { accumulator.root }
}
