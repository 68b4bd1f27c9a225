import CustodyBase
import CustodyCrypto
import CustodyIO
#if canImport(Glibc)
import Glibc
#endif

/// Encrypts to age v1 X25519 recipients, streaming: 64 KiB chunks sealed in parallel on Dispatch workers in
/// batches, written in order, memory bounded by `(batchesInFlight + 2)` batches whatever the input size.
public struct AgeEncryptor: Sendable {
    /// The recipients, each given its own stanza.
    public let recipients: [any AgeRecipient]
    /// Chunks per batch handed to the workers (16 = 1 MiB of plaintext; small enough to stay in cache).
    public var chunksPerBatch = 16
    /// Batches being sealed while the input is read and the output written.
    public var batchesInFlight = 4

    /// An encryptor to one or more recipients (each gets its own stanza).
    public init(recipients: [any AgeRecipient]) throws {
        guard !recipients.isEmpty else { throw AgeError.badKey("no recipient to encrypt to") }
        if recipients.count > 1 && recipients.contains(where: \.requiresSoleStanza) {
            throw AgeError.badKey("a passphrase cannot be combined with other recipients")
        }
        self.recipients = recipients
    }

    /// Starts a push-style encryption: the header and nonce go to `sink` now, then `write` and `finish`.
    public func makeStream(sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws -> AgeEncryptingStream {
        try AgeEncryptingStream(encryptor: self, sink: sink)
    }

    /// Encrypts everything `reader` yields (read sequentially) into `sink`, called in order on this thread.
    @discardableResult
    public func encrypt(from reader: ChunkReader, to sink: (UnsafeRawBufferPointer) throws -> Void) throws
        -> AgeSummary {
        try withoutActuallyEscaping(sink) { escapable in
            try makeStream(sink: escapable).encryptAll(from: reader)
        }
    }

    /// Encrypts everything `reader` yields into `output` (the caller syncs and closes it). When the input is a
    /// file of known size and the output a regular file, workers read, seal and write chunks at their final
    /// offsets in parallel; otherwise the streaming pipeline is used.
    @discardableResult
    public func encrypt(from reader: ChunkReader, to output: FileDescriptor) throws -> AgeSummary {
        try encryptOrDecrypt(from: reader, to: output) { sink in
            try encrypt(from: reader, to: sink)
        } positionally: { size in
            let stream = try makeStream { try output.writeAll($0) }
            return try stream.encryptPositionally(from: reader, size: size, to: output)
        }
    }

    /// Encrypts `reader` into a new file at `path`, atomically and durably: a temporary file beside it, fsync,
    /// link into place, directory fsync. An existing file at `path` is refused, never replaced.
    @discardableResult
    public func encrypt(from reader: ChunkReader, toFile path: String, mode: mode_t = 0o644) throws -> AgeSummary {
        try encryptFile(path, mode: mode) { try encrypt(from: reader, to: $0) }
    }

    /// Encrypts what `produce` writes into the stream it is given (e.g. a `TarWriter` over `stream.write`) into
    /// a new file at `path`, atomically and durably like `encrypt(from:toFile:)`. The stream is finished here.
    @discardableResult
    public func encrypt(toFile path: String, mode: mode_t = 0o644,
                        _ produce: (AgeEncryptingStream) throws -> Void) throws -> AgeSummary {
        try encryptFile(path, mode: mode) { output in
            try writingDirectly(to: output) { sink in
                let stream = try makeStream(sink: sink)
                try produce(stream)
                return try stream.finish()
            }
        }
    }

    private func encryptFile(_ path: String, mode: mode_t,
                             _ body: (FileDescriptor) throws -> AgeSummary) throws -> AgeSummary {
        if FileSystem.exists(path) { throw AgeOperationError.outputExists(path: path, holdsKey: false) }
        let temporary = path + ".partial-\(getpid())"
        let output = try FileDescriptor.open(temporary, O_WRONLY | O_CREAT | O_EXCL, mode: mode)
        do {
            let summary = try body(output)
            try output.sync()
            output.close()
            // link(2) rather than rename(2): an existing file at `path` makes it fail instead of being replaced.
            guard link(temporary, path) == 0 else {
                throw SystemError(operation: "create", path: path, code: errno)
            }
            unlink(temporary)
            try FileSystem.syncDirectory(FileSystem.parentDirectory(of: path))
            return summary
        } catch {
            output.close()
            unlink(temporary)
            throw error
        }
    }

    /// Encrypts bytes in memory (tests and small files).
    public func encrypt(_ plaintext: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        try encrypt(from: MemoryChunkReader(plaintext)) { out.append(contentsOf: $0) }
        return out
    }
}

/// A push-style age encryption: `write` any amount of plaintext, then `finish` once.
///
/// The sink is called on the thread calling `write`/`finish`, in file order. Not thread safe.
public final class AgeEncryptingStream {
    private let engine: AgePayloadEngine
    private var current: AgeBatch?
    private var finished = false
    private let headerSize: UInt64
    private let payloadKey: [UInt8]

    init(encryptor: AgeEncryptor, sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        let fileKey = try AgeCrypto.randomBytes(16)
        let stanzas = try encryptor.recipients.map { try $0.wrap(fileKey: fileKey) }
        let header = try AgeHeader.encode(stanzas: stanzas, fileKey: fileKey)
        let nonce = try AgeCrypto.randomBytes(AgePayloadFormat.nonceSize)
        payloadKey = try AgeCrypto.hkdf(key: fileKey, salt: nonce, info: "payload")
        try (header + nonce).withUnsafeBytes { try sink($0) }
        headerSize = UInt64(header.count + nonce.count)
        engine = AgePayloadEngine(mode: .seal, key: payloadKey, chunksPerBatch: encryptor.chunksPerBatch,
                                  maxInFlight: encryptor.batchesInFlight, payloadOffset: headerSize, sink: sink)
    }

    /// Adds plaintext.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(!finished, "write after finish")
        var remaining = bytes
        while !remaining.isEmpty {
            var batch = try currentBatch()
            if batch.isFull {
                // More data follows, so this batch's last chunk is not the final one.
                try engine.submit(batch, final: false)
                current = try engine.takeBatch()
                batch = current!
            }
            let space = batch.capacity * batch.inputChunkSize - batch.filled
            let count = min(space, remaining.count)
            (batch.input.baseAddress! + batch.filled).copyMemory(from: remaining.baseAddress!, byteCount: count)
            batch.filled += count
            remaining = UnsafeRawBufferPointer(rebasing: remaining[count...])
        }
    }

    /// Adds plaintext.
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    private func currentBatch() throws -> AgeBatch {
        if let current { return current }
        let batch = try engine.takeBatch()
        current = batch
        return batch
    }

    /// Encrypts all of `reader` (read on a reader thread straight into batch buffers) and finishes.
    func encryptAll(from reader: ChunkReader) throws -> AgeSummary {
        precondition(!finished && current == nil, "encryptAll on a stream already written to")
        finished = true
        try engine.run(input: AgeInput(reader: reader))
        return summary
    }

    /// Encrypts a positional input of `size` bytes into a regular file whose header is already written.
    func encryptPositionally(from reader: ChunkReader, size: UInt64, to output: FileDescriptor) throws
        -> AgeSummary {
        precondition(!finished && current == nil, "encryptPositionally on a stream already written to")
        finished = true
        let start = try output.seek(to: 0, whence: SEEK_CUR)
        let totals = try AgePositionalRun.run(mode: .seal, key: payloadKey, reader: reader, inputStart: 0,
                                              inputLength: size, output: output, outputStart: start)
        return AgeSummary(plaintextSize: size, fileSize: headerSize + totals.outputBytes, chunkCount: totals.chunks)
    }

    private var summary: AgeSummary {
        AgeSummary(plaintextSize: engine.inputBytes, fileSize: headerSize + engine.outputBytes,
                   chunkCount: engine.chunkCount)
    }

    /// Seals the final chunk and writes everything still pending.
    @discardableResult
    public func finish() throws -> AgeSummary {
        precondition(!finished, "finish called twice")
        finished = true
        let batch = try currentBatch()
        current = nil
        try engine.submit(batch, final: true)
        try engine.drainAll()
        return summary
    }
}

/// Decrypts age v1 files with X25519 identities, streaming: the header is parsed strictly, the file key
/// unwrapped, the header MAC checked, then 64 KiB chunks are opened in parallel in batches and released in
/// order. Plaintext of a chunk reaches the sink only once the chunk is authenticated and known to be in the
/// right place (non-final chunks followed by more data, the final chunk at the end of the file).
public struct AgeDecryptor: Sendable {
    /// The identities tried on every stanza.
    public let identities: [any AgeIdentity]
    /// Chunks per batch handed to the workers (16 = about 1 MiB).
    public var chunksPerBatch = 16
    /// Batches being opened while the input is read and the output written.
    public var batchesInFlight = 4

    /// A decryptor with one or more identities.
    /// - Throws: `AgeError.badKey` when `identities` is empty.
    public init(identities: [any AgeIdentity]) throws {
        guard !identities.isEmpty else { throw AgeError.badKey("no identity to decrypt with") }
        self.identities = identities
    }

    /// Unwraps the file key of a parsed header with the first identity that matches, and checks the MAC.
    func fileKey(for header: AgeHeader) throws -> [UInt8] {
        var fileKey: [UInt8]?
        if header.stanzas.count > 1 && header.stanzas.contains(where: { $0.arguments.first == "scrypt" }) {
            throw AgeError.badHeader("an scrypt (passphrase) stanza must be the only stanza")
        }
        // Every stanza is checked against the spec's rules, even after a match.
        for (index, stanza) in header.stanzas.enumerated() {
            for identity in identities {
                if let key = try identity.unwrap(stanza, index: index), fileKey == nil {
                    guard key.count == 16 else {
                        throw AgeError.badStanza(index: index, reason: "file key is \(key.count) bytes, not 16")
                    }
                    fileKey = key
                }
            }
        }
        guard let fileKey else { throw AgeError.noMatchingIdentity(stanzaCount: header.stanzas.count) }
        guard try header.verifyMAC(fileKey: fileKey) else { throw AgeError.badHeaderMAC }
        return fileKey
    }

    /// Reads and checks the header and nonce: the input positioned at the first chunk, the payload key, and the
    /// offset of the first chunk.
    private func openHeader(_ reader: ChunkReader) throws -> (input: AgeInput, key: [UInt8], offset: UInt64) {
        var input = AgeInput(reader: reader)
        var buffered: [UInt8] = []
        var header: AgeHeader?
        while header == nil {
            let more = try input.read(upTo: 16 << 10)
            buffered += more
            header = try AgeHeader.parse(buffered)
            if header == nil {
                if more.isEmpty { throw AgeError.truncatedHeader(byteOffset: UInt64(buffered.count)) }
                if buffered.count > AgeHeader.maximumSize {
                    throw AgeError.badHeader("header longer than \(AgeHeader.maximumSize) bytes")
                }
            }
        }
        let parsed = header!
        input.unread(buffered[parsed.length...])
        let fileKey = try self.fileKey(for: parsed)
        let nonce = try input.read(upTo: AgePayloadFormat.nonceSize)
        guard nonce.count == AgePayloadFormat.nonceSize else {
            throw AgeError.truncatedHeader(byteOffset: UInt64(parsed.length + nonce.count))
        }
        let payloadKey = try AgeCrypto.hkdf(key: fileKey, salt: nonce, info: "payload")
        return (input, payloadKey, UInt64(parsed.length + nonce.count))
    }

    /// Decrypts what `reader` yields (read sequentially) into `sink`, called in order on this thread.
    @discardableResult
    public func decrypt(from reader: ChunkReader, to sink: (UnsafeRawBufferPointer) throws -> Void) throws
        -> AgeSummary {
        let (input, payloadKey, payloadOffset) = try openHeader(reader)
        return try withoutActuallyEscaping(sink) { escapable in
            let engine = AgePayloadEngine(mode: .open, key: payloadKey, chunksPerBatch: chunksPerBatch,
                                          maxInFlight: batchesInFlight, payloadOffset: payloadOffset,
                                          sink: escapable)
            try engine.run(input: input)
            return AgeSummary(plaintextSize: engine.outputBytes, fileSize: payloadOffset + engine.inputBytes,
                              chunkCount: engine.chunkCount)
        }
    }

    /// Decrypts what `reader` yields into `output` (the caller syncs and closes it). When the input is a file of
    /// known size and the output a regular file, workers read, open and write chunks at their final offsets in
    /// parallel; on failure the output is cut back to the plaintext the streaming path would have released.
    @discardableResult
    public func decrypt(from reader: ChunkReader, to output: FileDescriptor) throws -> AgeSummary {
        try encryptOrDecrypt(from: reader, to: output) { sink in
            try decrypt(from: reader, to: sink)
        } positionally: { size in
            try decryptPositionally(from: reader, size: size, to: output)
        }
    }

    /// Decrypts a file of `size` bytes that `reader` reads by position into the regular file `output`.
    private func decryptPositionally(from reader: ChunkReader, size: UInt64, to output: FileDescriptor) throws
        -> AgeSummary {
        let (_, payloadKey, payloadOffset) = try openHeader(reader)
        let start = try output.seek(to: 0, whence: SEEK_CUR)
        let length = size > payloadOffset ? size - payloadOffset : 0
        let totals = try AgePositionalRun.run(mode: .open, key: payloadKey, reader: reader, inputStart: payloadOffset,
                                              inputLength: length, output: output, outputStart: start)
        return AgeSummary(plaintextSize: totals.outputBytes, fileSize: size, chunkCount: totals.chunks)
    }

    /// Decrypts an age file held in memory (tests and small files).
    public func decrypt(_ file: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        try decrypt(from: MemoryChunkReader(file)) { out.append(contentsOf: $0) }
        return out
    }
}

/// Runs an encryption or decryption of `reader` into `output`: `positionally`, given the input size, when the
/// output is a regular file and the input is read by position; otherwise `streaming`, into `output` with plain
/// writes when it is not a regular file and through a `DirectWriter` when it is.
private func encryptOrDecrypt(from reader: ChunkReader, to output: FileDescriptor,
                              streaming: ((UnsafeRawBufferPointer) throws -> Void) throws -> AgeSummary,
                              positionally: (UInt64) throws -> AgeSummary) throws -> AgeSummary {
    guard AgePositionalRun.isRegularFile(output) else {
        return try streaming { try output.writeAll($0) }
    }
    guard reader.supportsPositionalReads, let size = reader.knownSize else {
        return try writingDirectly(to: output) { sink in try streaming(sink) }
    }
    return try positionally(size)
}

/// Runs a streaming encryption or decryption into a regular file from its current offset through a `DirectWriter`;
/// what the stream released before a failure is in the file all the same, as with plain writes.
private func writingDirectly(to output: FileDescriptor,
                             _ body: (@escaping (UnsafeRawBufferPointer) throws -> Void) throws -> AgeSummary)
    throws -> AgeSummary {
    let writer = DirectWriter(output, at: try output.seek(to: 0, whence: SEEK_CUR))
    do {
        let summary = try body { try writer.write($0) }
        try writer.finish()
        return summary
    } catch {
        try? writer.finish()
        throw error
    }
}
