import CustodyBase
import CustodyCrypto
import CustodyEngine
import CustodyIO
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The collection seal's item output: each regular file the engine reads becomes its payload file under `data/`
/// (custody gzip, or raw), written by the worker that reads it, with the SHA-256 and SHA-512 of the stored bytes
/// for the payload manifests. Payload files are not synced one by one (the seal syncs the file system once).
final class PayloadOutput: ItemOutput, @unchecked Sendable {
    private let workPath: String
    private let compress: Bool
    private let level: Int
    private let chunkSize: Int
    private let encoders: Mutex<[ChunkMemberEncoder]> = Mutex([])
    private let replacing: Bool

    /// With `replacing` (a resumed seal), a payload file left by the interrupted run is written over.
    init(workPath: String, compress: Bool, level: Int, chunkSize: Int, replacing: Bool = false) throws {
        self.workPath = workPath
        self.replacing = replacing
        self.compress = compress
        self.level = level
        self.chunkSize = chunkSize
        _ = try ChunkMemberEncoder(level: level, chunkSize: chunkSize)
    }

    /// The payload path of a regular file at `relativePath`.
    func payloadPath(_ relativePath: [UInt8]) -> String {
        PayloadNames.payloadPath(relativePath, isDirectory: false, suffix: compress ? ".gz" : "")
    }

    func begin(_ entry: WalkEntry, sequence: UInt64) throws -> any ItemOutputWriter {
        // A further name of a file met before: its content is stored once, under the first name.
        if entry.hardLinkTarget != nil { return DiscardingWriter() }
        let relative = payloadPath(entry.relativePath)
        let path = workPath + "/" + relative
        let descriptor: FileDescriptor
        let flags = O_WRONLY | O_CREAT | O_NOFOLLOW | (replacing ? O_TRUNC : O_EXCL)
        do {
            descriptor = try FileDescriptor.open(path, flags, mode: 0o644)
        } catch let error as SystemError where error.code == ENOENT {
            // The worker got here before the consumer created the folder: make it (and any above it) now.
            try FileSystem.createDirectory(FileSystem.parentDirectory(of: path))
            descriptor = try FileDescriptor.open(path, flags, mode: 0o644)
        }
        let encoder = compress ? try takeEncoder() : nil
        return PayloadWriter(output: self, descriptor: descriptor, relative: relative, encoder: encoder,
                             chunkSize: chunkSize)
    }

    private func takeEncoder() throws -> ChunkMemberEncoder {
        if let encoder = encoders.withLock({ $0.popLast() }) { return encoder }
        return try ChunkMemberEncoder(level: level, chunkSize: chunkSize)
    }

    fileprivate func giveBack(_ encoder: ChunkMemberEncoder) {
        encoders.withLock { $0.append(encoder) }
    }
}

/// Writes one payload file: the bytes gathered into chunks, each chunk encoded as a member (or copied raw),
/// buffered, digested as written.
private final class PayloadWriter: ItemOutputWriter {
    private let output: PayloadOutput
    private let descriptor: FileDescriptor
    private let relative: String
    private var encoder: ChunkMemberEncoder?
    private let chunkSize: Int
    private var pending: [UInt8] = []
    private var out: [UInt8] = []
    private var written: UInt64 = 0
    private var chunkIndex: UInt64 = 0
    private let digesters = BundleLayout.payloadManifests.map { Digester($0) }
    private var closed = false

    init(output: PayloadOutput, descriptor: FileDescriptor, relative: String, encoder: ChunkMemberEncoder?,
         chunkSize: Int) {
        self.output = output
        self.descriptor = descriptor
        self.relative = relative
        self.encoder = encoder
        self.chunkSize = chunkSize
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        guard encoder != nil else {
            try emit(bytes)
            return
        }
        var rest = bytes
        if !pending.isEmpty {
            let take = min(chunkSize - pending.count, rest.count)
            pending.append(contentsOf: rest.prefix(take))
            rest = UnsafeRawBufferPointer(rebasing: rest.dropFirst(take))
            if pending.count == chunkSize {
                try pending.withUnsafeBytes { try encodeChunk($0) }
                pending.removeAll(keepingCapacity: true)
            }
        }
        while rest.count >= chunkSize {
            try encodeChunk(UnsafeRawBufferPointer(rebasing: rest.prefix(chunkSize)))
            rest = UnsafeRawBufferPointer(rebasing: rest.dropFirst(chunkSize))
        }
        pending.append(contentsOf: rest)
    }

    private func encodeChunk(_ chunk: UnsafeRawBufferPointer) throws {
        guard let encoder else { return }
        try encoder.withMember(for: chunk, index: chunkIndex) { try emit($0) }
        chunkIndex += 1
    }

    private func emit(_ bytes: UnsafeRawBufferPointer) throws {
        for digester in digesters { digester.update(bytes) }
        written += UInt64(bytes.count)
        if out.count + bytes.count > 1 << 20 { try flush() }
        if bytes.count >= 1 << 20 {
            try descriptor.writeAll(bytes)
        } else {
            out.append(contentsOf: bytes)
        }
    }

    private func flush() throws {
        guard !out.isEmpty else { return }
        try descriptor.writeAll(out)
        out.removeAll(keepingCapacity: true)
    }

    func finish(size: UInt64) throws -> ItemOutputResult {
        defer { close() }
        if let encoder {
            if !pending.isEmpty {
                try pending.withUnsafeBytes { try encodeChunk($0) }
                pending.removeAll()
            }
            try encoder.endOfFile(chunkCount: chunkIndex).withUnsafeBytes { try emit($0) }
        }
        try flush()
        var digests: [DigestAlgorithm: [UInt8]] = [:]
        for digester in digesters { digests[digester.algorithm] = digester.finalize() }
        return ItemOutputResult(storedSize: written, storedDigests: digests, storedName: Array(relative.utf8))
    }

    func abandon() {
        close()
        unlink(output.workPath(relative))
    }

    private func close() {
        guard !closed else { return }
        closed = true
        descriptor.close()
        if let encoder {
            output.giveBack(encoder)
            self.encoder = nil
        }
    }
}

/// Stores nothing (a hard link's further name).
private final class DiscardingWriter: ItemOutputWriter {
    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {}
    func finish(size: UInt64) throws -> ItemOutputResult { ItemOutputResult(storedSize: 0) }
    func abandon() {}
}

extension PayloadOutput {
    fileprivate func workPath(_ relative: String) -> String { workPath + "/" + relative }
}
