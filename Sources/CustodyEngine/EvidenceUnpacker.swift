import CustodyBase
import CustodyCrypto
import CustodyIO
import Dispatch
import Synchronization

/// A chunk of a packed file that failed verification.
public struct DamagedChunk: Sendable, Equatable, CustomStringConvertible {
    /// The chunk's index.
    public var index: UInt64
    /// Where its member lies in the packed file.
    public var packedRange: Range<UInt64>
    /// Where its content belongs in the unpacked output.
    public var contentRange: Range<UInt64>
    /// What is wrong, in words.
    public var reason: String

    /// A damaged chunk of the given ranges and reason.
    public init(index: UInt64, packedRange: Range<UInt64>, contentRange: Range<UInt64>, reason: String) {
        self.index = index
        self.packedRange = packedRange
        self.contentRange = contentRange
        self.reason = reason
    }

    /// `chunk 3 (packed bytes 96-131, content bytes 196608-262143): CRC-32 mismatch ...`
    public var description: String {
        "chunk \(index) (packed bytes \(PackFormat.describeRange(packedRange)), content bytes "
            + "\(PackFormat.describeRange(contentRange))): \(reason)"
    }
}

extension PackFormat {
    /// `first-last` inclusive, or `at N` for an empty range.
    static func describeRange(_ range: Range<UInt64>) -> String {
        range.isEmpty ? "at \(range.lowerBound)" : "\(range.lowerBound)-\(range.upperBound - 1)"
    }
}

/// What the unpacked content should be; every field is optional.
public struct UnpackExpectation: Sendable {
    /// The tree digest the content must have.
    public var treeRoot: Hash32?
    /// Every chunk's leaf hash: each chunk is checked as it is inflated.
    public var leaves: [Hash32]?
    /// The content size it must have.
    public var size: UInt64?
    /// Linear digests of the whole content.
    public var digests: [DigestAlgorithm: [UInt8]]
    /// The chunk size every member must carry.
    public var chunkSize: Int?

    /// Expectations of the given values (nil: not checked). The declared size and the leaves bound the work:
    /// unpacking stops at the first member beyond the chunks they allow and at the first byte beyond `size`, and
    /// with `chunkSize` at a first member of another chunk size.
    public init(treeRoot: Hash32? = nil, leaves: [Hash32]? = nil, size: UInt64? = nil,
                digests: [DigestAlgorithm: [UInt8]] = [:], chunkSize: Int? = nil) {
        self.treeRoot = treeRoot
        self.leaves = leaves
        self.size = size
        self.digests = digests
        self.chunkSize = chunkSize
    }

    /// The chunks the declared size and leaves allow at `chunkSize` (the fewer of the two), and how the limit
    /// is stated in messages; nil when neither is declared.
    func chunkLimit(chunkSize: Int) -> (chunks: UInt64, stated: String)? {
        var limits: [(UInt64, String)] = []
        if let size {
            let chunks = size == 0 ? 0 : (size - 1) / UInt64(chunkSize) + 1
            limits.append((chunks, "\(size) bytes (\(chunks) chunk\(chunks == 1 ? "" : "s") of \(chunkSize) bytes)"))
        }
        if let leaves {
            limits.append((UInt64(leaves.count), "\(leaves.count) leaf hash\(leaves.count == 1 ? "" : "es")"))
        }
        return limits.min { $0.0 < $1.0 }.map { (chunks: $0.0, stated: $0.1) }
    }
}

/// What unpacking found.
@dynamicMemberLookup
public struct UnpackResult: Sendable {
    /// The content written (damaged chunks zero-filled in salvage mode) and the packed bytes read: sizes, tree
    /// digest and leaves of what was written, linear digests.
    public var content: PackedContent
    /// Damaged chunks, by index.
    public var damaged: [DamagedChunk]
    /// File-level problems (truncation, missing end-of-file member, trailing garbage, expectation mismatches).
    public var problems: [String]

    /// True when every member and every expectation checked out.
    public var verified: Bool { damaged.isEmpty && problems.isEmpty }

    /// A field of `content` (`result.size`, `result.treeRoot`, ...).
    public subscript<Value>(dynamicMember field: KeyPath<PackedContent, Value>) -> Value { content[keyPath: field] }
}

/// Decompresses and verifies custody packed files in parallel: a sequential reader parses member headers
/// (using the size in the `CU` subfield) and hands whole members to Dispatch workers, which inflate them and
/// check the CRC-32, ISIZE, size limits and (when expected leaves are given) each chunk's leaf hash; an
/// ordered stage writes the content. Memory is a window of members.
///
/// Damage to the packed file is reported in the result, not thrown: without `salvage`, unpacking stops at
/// the first damaged chunk and writes nothing from it on; with `salvage`, every readable chunk is written,
/// damaged ones zero-filled, and listed. Operational failures (I/O errors, a gzip file not made by custody)
/// are thrown.
public struct EvidenceUnpacker: Sendable {
    /// What the content must be.
    public var expected: UnpackExpectation
    /// Go on past damage, zero-filling damaged chunks, instead of stopping at the first.
    public var salvage: Bool
    /// Linear digests of the content to compute.
    public var linearDigests: [DigestAlgorithm]
    /// Members in flight; nil for a default from the core count.
    public var slotCount: Int?
    /// Called with the running count of packed bytes read.
    public var progress: (@Sendable (UInt64) -> Void)?

    /// An unpacker checking `expected`, salvaging or not, computing `linearDigests`.
    public init(expected: UnpackExpectation = UnpackExpectation(), salvage: Bool = false,
                linearDigests: [DigestAlgorithm] = [.sha256]) {
        self.expected = expected
        self.salvage = salvage
        self.linearDigests = linearDigests
    }

    /// Unpacks `source` into `sink` (nil to verify only).
    public func unpack(_ source: ByteSource, to sink: ByteSink?) throws -> UnpackResult {
        var digests = linearDigests
        for algorithm in expected.digests.keys where !digests.contains(algorithm) { digests.append(algorithm) }
        let run = UnpackRun(configuration: self, digests: digests, source: source, sink: sink)
        return try run.execute()
    }
}

/// One member moving through the unpack stages.
private final class MemberSlot: @unchecked Sendable {
    let input: ByteBuffer
    let output: ByteBuffer
    var header = PackFormat.MemberHeader(flags: [], chunkShift: 16, memberSize: 0, index: 0)
    var packedOffset: UInt64 = 0
    var damage: String?
    var leaf: Hash32?
    /// A chunk whose member could not be located (skipped while resynchronizing): zero-filled, never inflated;
    /// `lostPackedEnd` ends the packed bytes skipped (from `packedOffset`).
    var lost = false
    var lostPackedEnd: UInt64 = 0

    init(inputCapacity: Int, outputCapacity: Int) {
        input = ByteBuffer(capacity: inputCapacity)
        output = ByteBuffer(capacity: outputCapacity)
    }
}

/// The state of one unpack execution.
private final class UnpackRun: @unchecked Sendable {
    let configuration: EvidenceUnpacker
    let source: ByteSource
    let sink: ByteSink?
    let digesters: [Digester]
    let digestQueues: [DispatchQueue]
    let workers = DispatchQueue.global(qos: .userInitiated)
    let orderedQueue = DispatchQueue(label: "custody.unpack.ordered", qos: .userInitiated)
    let inFlight = DispatchGroup()
    let inflaters = ObjectPool { try CompressionEngine.makeInflater() }

    private struct Shared {
        var stop = false
        var damaged: [DamagedChunk] = []
        var problems: [String] = []
        var error: Error?
    }
    private let shared = Mutex(Shared())

    // Set by the reader before the first dispatch.
    private var chunkSize = 0
    private var slots: ObjectPool<MemberSlot>?
    private var slotAvailable: DispatchSemaphore?

    // Touched only on the ordered queue.
    private var accumulator = MerkleAccumulator()
    private var leaves: [Hash32] = []
    private var written: UInt64 = 0
    private var shortChunk: (index: UInt64, size: Int)?
    private var passedSize = false
    private var zeroFill: ByteBuffer?

    // Touched only by the reader: bytes read past a damaged header while looking for the next member.
    private var lookahead: ArraySlice<UInt8> = []

    init(configuration: EvidenceUnpacker, digests: [DigestAlgorithm], source: ByteSource, sink: ByteSink?) {
        self.configuration = configuration
        self.source = source
        self.sink = sink
        digesters = digests.map { Digester($0) }
        digestQueues = digests.map { DispatchQueue(label: "custody.unpack.\($0.rawValue)", qos: .userInitiated) }
    }

    private var stopped: Bool { shared.withLock { $0.stop } }

    private func record(_ damage: DamagedChunk) {
        shared.withLock { state in
            state.damaged.append(damage)
            if !configuration.salvage { state.stop = true }
        }
    }

    private func problem(_ text: String) {
        shared.withLock { $0.problems.append(text) }
    }

    private func fail(_ error: Error) {
        shared.withLock { state in
            if state.error == nil { state.error = error }
            state.stop = true
        }
    }

    func execute() throws -> UnpackResult {
        let (chunkCount, packedSize) = try readMembers()
        inFlight.wait()
        let state = shared.withLock { $0 }
        if let error = state.error { throw error }
        var digests: [DigestAlgorithm: [UInt8]] = [:]
        for digester in digesters { digests[digester.algorithm] = digester.finalize() }
        var problems = state.problems
        let root = accumulator.root
        if state.damaged.isEmpty && state.problems.isEmpty {
            problems += checkExpectations(root: root, digests: digests, chunkCount: chunkCount)
        }
        let content = PackedContent(size: written, packedSize: packedSize, chunkSize: chunkSize,
                                    chunkCount: chunkCount, treeRoot: root, leaves: leaves, digests: digests)
        return UnpackResult(content: content, damaged: state.damaged.sorted { $0.index < $1.index },
                            problems: problems)
    }

    private func checkExpectations(root: Hash32, digests: [DigestAlgorithm: [UInt8]], chunkCount: UInt64)
        -> [String] {
        let expected = configuration.expected
        var problems: [String] = []
        if let size = expected.size, size != written {
            problems.append("content size mismatch: expected \(size) bytes, unpacked \(written)")
        }
        if let leaves = expected.leaves, UInt64(leaves.count) != chunkCount {
            problems.append("chunk count mismatch: expected \(leaves.count) leaves, the packed file has \(chunkCount)")
        }
        if let tree = expected.treeRoot, tree != root {
            problems.append("tree digest mismatch (\(TreeChunkSize.digestName(chunkSize))): expected \(tree.hex), "
                                + "computed \(root.hex)")
        }
        for (algorithm, value) in expected.digests.sorted(by: { $0.key < $1.key }) {
            guard let actual = digests[algorithm] else { continue }
            if !constantTimeEqual(actual, value) {
                problems.append("\(algorithm.rawValue) mismatch: expected \(Hex.encode(value)), "
                                    + "computed \(Hex.encode(actual))")
            }
        }
        return problems
    }

    /// The reader: parses headers in order and dispatches members. Returns (chunks seen, packed bytes read).
    private func readMembers() throws -> (UInt64, UInt64) {
        var offset: UInt64 = 0
        var index: UInt64 = 0
        var chunkShift: UInt8?
        let headerBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: PackFormat.headerSize, alignment: 8)
        defer { headerBuffer.deallocate() }
        while !stopped {
            let got = try readInput(into: headerBuffer)
            if got == 0 {
                if offset == 0 {
                    problem("the packed file is empty: no end-of-file member")
                } else {
                    problem("missing end-of-file member: the packed file ends at byte \(offset) after chunk "
                                + "\(Int64(index) - 1) (truncated?)")
                }
                return (index, offset)
            }
            let header: PackFormat.MemberHeader
            switch try checkHeader(UnsafeRawBufferPointer(rebasing: headerBuffer[0..<got]), index: index,
                                   offset: offset, chunkShift: &chunkShift) {
            case .success(let checked):
                header = checked
            case .failure(let damage):
                if let shift = chunkShift, got == PackFormat.headerSize,
                   let next = try resynchronize(index: index, offset: offset, damaged: headerBuffer, shift: shift,
                                                reason: damage.reason) {
                    (index, offset) = next
                    continue
                }
                headerDamage(index: index, offset: offset, length: got, reason: damage.reason)
                return (index, offset + UInt64(got))
            }
            if !header.flags.contains(.endOfFile), let reason = beyondDeclared(header, index: index) {
                // Nothing past what the item declares is inflated: the work stays tied to the declared size.
                problem("chunk \(index) (packed byte \(offset)): \(reason); stopped there, nothing after it was "
                            + "inflated")
                return (index, offset + UInt64(got))
            }
            if header.flags.contains(.endOfFile) {
                try readEndOfFile(header, raw: Array(headerBuffer[0..<PackFormat.headerSize]), index: index,
                                  offset: offset)
                return (index, offset + UInt64(header.memberSize))
            }
            slotAvailable!.wait()
            let slot = try slots!.take()
            let dataLength = Int(header.memberSize) - PackFormat.headerSize
            let read = try readInput(
                into: UnsafeMutableRawBufferPointer(rebasing: slot.input.storage[0..<dataLength]))
            let range = offset..<(offset + UInt64(header.memberSize))
            if read < dataLength {
                let contentStart = index * UInt64(chunkSize)
                record(DamagedChunk(index: index, packedRange: range, contentRange: contentStart..<contentStart,
                                    reason: "truncated: the packed file ends at byte \(offset + 32 + UInt64(read)) "
                                        + "inside this member"))
                problem("missing end-of-file member: the packed file is truncated inside chunk \(index)")
                release(slot)
                return (index, offset + 32 + UInt64(read))
            }
            slot.input.count = dataLength
            slot.lost = false
            slot.header = header
            slot.packedOffset = offset
            dispatch(slot)
            offset += UInt64(header.memberSize)
            index += 1
            configuration.progress?(offset)
        }
        return (index, offset)
    }

    /// Why the member of chunk `index` lies outside what the expectation declares: another chunk size, or a chunk
    /// past the declared size and leaves; nil when it lies inside.
    private func beyondDeclared(_ header: PackFormat.MemberHeader, index: UInt64) -> String? {
        let expected = configuration.expected
        if let declared = expected.chunkSize, header.chunkSize != declared {
            return "the member gives chunk size \(header.chunkSize), the item declares \(declared)"
        }
        guard let limit = expected.chunkLimit(chunkSize: header.chunkSize), index >= limit.chunks else { return nil }
        return "a member beyond the declared \(limit.stated)"
    }

    /// Why a member header cannot be used where it stands.
    private struct HeaderDamage: Error {
        let reason: String
    }

    /// Parses the member header for chunk `index` at `offset` and checks it against the walk: the same chunk size
    /// as the first member (whose header sets `chunkShift` and sizes the pool), and the expected index unless it is
    /// the end-of-file member. A file that is not a custody packed file at all is thrown.
    private func checkHeader(_ raw: UnsafeRawBufferPointer, index: UInt64, offset: UInt64, chunkShift: inout UInt8?)
        throws -> Result<PackFormat.MemberHeader, HeaderDamage> {
        let header: PackFormat.MemberHeader
        switch PackFormat.MemberHeader.parse(raw) {
        case .success(let parsed):
            header = parsed
        case .failure(let problem):
            if offset == 0 && (problem == .notGzip || problem == .notCustody) {
                throw EngineError.notPackedFile(problem)
            }
            return .failure(HeaderDamage(reason: problem.text))
        }
        if chunkShift == nil {
            chunkShift = header.chunkShift
            start(chunkSize: header.chunkSize)
        }
        guard header.chunkShift == chunkShift else {
            return .failure(HeaderDamage(reason: "member header gives chunk size \(header.chunkSize), earlier members "
                                            + "\(chunkSize)"))
        }
        guard header.flags.contains(.endOfFile) || header.index == index else {
            return .failure(HeaderDamage(reason: "member header carries index \(header.index) (members missing or "
                                            + "out of order)"))
        }
        return .success(header)
    }

    private func start(chunkSize: Int) {
        self.chunkSize = chunkSize
        let count = configuration.slotCount ?? ChunkPipeline.defaultSlotCount(chunkSize: chunkSize)
        let inputCapacity = PackFormat.maximumMemberSize(chunkSize: chunkSize)
        slots = ObjectPool { MemberSlot(inputCapacity: inputCapacity, outputCapacity: chunkSize + 1) }
        slotAvailable = DispatchSemaphore.permits(max(2, count))
    }

    private func release(_ slot: MemberSlot) {
        slots!.give(slot)
        slotAvailable!.signal()
    }

    /// Reads through the bytes a resynchronization read ahead, then from the source.
    private func readInput(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        if !lookahead.isEmpty {
            filled = min(buffer.count, lookahead.count)
            lookahead.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: filled) }
            lookahead = lookahead.dropFirst(filled)
        }
        guard filled < buffer.count else { return filled }
        return filled + (try source.readFully(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...])))
    }

    /// With `--salvage`, after the damaged member header at `offset` (chunk `index`): scans the following bytes for
    /// the next sound member header of the same chunk size whose index is at least `index` and no larger than the
    /// skipped bytes could hold (a member holds at most 1032 content bytes per deflate byte), puts it back to be
    /// read, and dispatches the chunks in between as lost (zero-filled, listed). Returns the chunk index and packed
    /// offset to go on from, or nil outside salvage or when no member follows.
    private func resynchronize(index: UInt64, offset: UInt64, damaged: UnsafeMutableRawBufferPointer, shift: UInt8,
                               reason: String) throws -> (UInt64, UInt64)? {
        guard configuration.salvage, !stopped else { return nil }
        let size = PackFormat.headerSize
        let smallestMember = UInt64(max(PackFormat.minimumMemberSize, (1 << Int(shift)) / 1032))
        var window = Array(damaged[1..<size])
        var windowStart = offset + 1
        var block = [UInt8](repeating: 0, count: 64 << 10)
        var atEnd = false
        var searchFrom = 0
        while true {
            var position = searchFrom
            while position + size <= window.count {
                guard window[position] == 0x1f, window[position + 1] == 0x8b else {
                    position += 1
                    continue
                }
                let candidate = window.withUnsafeBytes {
                    PackFormat.MemberHeader.parse(UnsafeRawBufferPointer(rebasing: $0[position..<(position + size)]))
                }
                let at = windowStart + UInt64(position)
                if case .success(let header) = candidate, header.chunkShift == shift, header.index >= index,
                   header.index - index <= (at - offset) / smallestMember + 1 {
                    lookahead = ArraySlice(window[position...] + lookahead)
                    loseChunks(index..<header.index, packedRange: offset..<at, shift: shift, reason: reason)
                    problem("chunk \(index) (packed byte \(offset)): damaged member header; resynchronized at the "
                                + "member of chunk \(header.index) (packed byte \(at))")
                    return (header.index, at)
                }
                position += 1
            }
            if atEnd { return nil }
            // Keep the bytes that could still begin a header; read on.
            let keep = max(0, window.count - (size - 1))
            window.removeFirst(keep)
            windowStart += UInt64(keep)
            searchFrom = 0
            let got = try block.withUnsafeMutableBytes { try readInput(into: $0) }
            if got < block.count { atEnd = true }
            window += block[0..<got]
            if got == 0 && window.count < size { return nil }
        }
    }

    /// Dispatches zero-filled chunks for members that could not be located.
    private func loseChunks(_ chunks: Range<UInt64>, packedRange: Range<UInt64>, shift: UInt8, reason: String) {
        for chunk in chunks {
            slotAvailable!.wait()
            guard let slot = try? slots!.take() else {
                slotAvailable!.signal()
                fail(EngineError.outOfMemorySalvaging(chunk: chunk))
                return
            }
            slot.lost = true
            slot.header = PackFormat.MemberHeader(flags: [], chunkShift: shift, memberSize: 0, index: chunk)
            slot.packedOffset = packedRange.lowerBound
            slot.lostPackedEnd = packedRange.upperBound
            slot.damage = "member not found: \(reason); skipped to the next sound member header"
            dispatch(slot)
        }
    }

    private func headerDamage(index: UInt64, offset: UInt64, length: Int, reason: String) {
        let contentStart = index * UInt64(max(chunkSize, 0))
        record(DamagedChunk(index: index, packedRange: offset..<(offset + UInt64(length)),
                            contentRange: contentStart..<contentStart, reason: reason))
        problem("unpacking stopped at chunk \(index) (packed byte \(offset)): later members cannot be located")
    }

    /// Checks the end-of-file member (its `raw` header included: every byte is fixed) and that nothing follows it.
    private func readEndOfFile(_ header: PackFormat.MemberHeader, raw: [UInt8], index: UInt64,
                               offset: UInt64) throws {
        var rest = [UInt8](repeating: 0, count: PackFormat.minimumMemberSize - PackFormat.headerSize)
        let got = try rest.withUnsafeMutableBytes { try readInput(into: $0) }
        let expected = PackFormat.endOfFileMember(chunkCount: header.index, chunkSize: header.chunkSize)
        let end = offset + UInt64(PackFormat.headerSize + got)
        if got < rest.count || raw + rest != expected {
            problem("malformed end-of-file member at packed bytes \(offset)-\(end - 1)")
        }
        if header.index != index {
            problem("the end-of-file member at packed byte \(offset) counts \(header.index) chunks, the file holds "
                        + "\(index) (members missing?)")
        }
        var probe = [UInt8](repeating: 0, count: 1)
        if got == rest.count, try probe.withUnsafeMutableBytes({ try readInput(into: $0) }) > 0 {
            problem("garbage after the end-of-file member, from packed byte \(end)")
        }
    }

    /// Inflates and checks a member on a worker, then digests and writes it in order.
    private func dispatch(_ slot: MemberSlot) {
        inFlight.enter()
        let chunkDone = DispatchGroup()
        let parallelDone = DispatchGroup()
        parallelDone.enter()
        workers.async(group: chunkDone) {
            defer { parallelDone.leave() }
            if slot.lost {
                self.fillLost(slot)
            } else {
                do { try self.inflateAndCheck(slot) } catch { self.fail(error) }
            }
        }
        for (queue, digester) in zip(digestQueues, digesters) {
            queue.async(group: chunkDone) {
                parallelDone.wait()
                if self.skipWrite(slot) { return }
                digester.update(slot.output.bytes)
            }
        }
        orderedQueue.async(group: chunkDone) {
            parallelDone.wait()
            self.emit(slot)
        }
        chunkDone.notify(queue: workers) {
            self.release(slot)
            self.inFlight.leave()
        }
    }

    /// Whether a chunk's content must not reach the output (a damaged chunk outside salvage, or a stop).
    private func skipWrite(_ slot: MemberSlot) -> Bool {
        if slot.damage != nil && !configuration.salvage { return true }
        return shared.withLock { state in
            guard state.stop else { return false }
            // Chunks before the first damaged one are still good and written.
            guard state.error == nil, let first = state.damaged.map(\.index).min() else { return true }
            return slot.header.index >= first
        }
    }

    /// The deflate data and trailer of the first all-zero member that verified, with its content's length and
    /// leaf hash: a later member with identical bytes has identical content, so it is not inflated again.
    private struct ZeroMember {
        var bytes: [UInt8]
        var length: Int
        var leaf: Hash32
    }
    private let zeroMember = Mutex<ZeroMember?>(nil)

    /// Fills the slot from the cached all-zero member when its bytes match; false otherwise.
    private func reuseZeroMember(_ slot: MemberSlot) -> Bool {
        guard slot.header.flags.contains(.zero) else { return false }
        let cached = zeroMember.withLock { $0 }
        guard let cached, cached.bytes.count == slot.input.count,
              cached.bytes.withUnsafeBytes({ $0.elementsEqual(slot.input.bytes) }) else { return false }
        slot.output.storage.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0, count: cached.length)
        slot.output.count = cached.length
        slot.leaf = cached.leaf
        slot.damage = nil
        return true
    }

    /// A lost chunk: a whole chunk of zeros, listed as damaged.
    private func fillLost(_ slot: MemberSlot) {
        slot.output.storage.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0, count: chunkSize)
        slot.output.count = chunkSize
        slot.leaf = Merkle.zeroLeafHash(chunkSize: chunkSize)
        let contentStart = slot.header.index * UInt64(chunkSize)
        record(DamagedChunk(index: slot.header.index, packedRange: slot.packedOffset..<slot.lostPackedEnd,
                            contentRange: contentStart..<(contentStart + UInt64(chunkSize)),
                            reason: slot.damage ?? "member not found"))
    }

    private func inflateAndCheck(_ slot: MemberSlot) throws {
        if reuseZeroMember(slot) { return checkExpectedLeaf(slot) }
        let header = slot.header
        let member = slot.input.bytes
        let dataLength = member.count - PackFormat.trailerSize
        let storedCRC: UInt32 = loadLittleEndian(member.baseAddress! + dataLength)
        let storedSize: UInt32 = loadLittleEndian(member.baseAddress! + dataLength + 4)
        let inflater = try inflaters.take()
        defer { inflaters.give(inflater) }
        let outcome = inflater.inflate(UnsafeRawBufferPointer(rebasing: member[0..<dataLength]),
                                      into: slot.output.storage)
        var damage: String?
        var produced = 0
        switch outcome {
        case .complete(let count, let consumed):
            produced = count
            if count > chunkSize {
                damage = "decompression bomb: inflates past the chunk size (\(chunkSize) bytes)"
            } else if consumed != dataLength {
                damage = "wrong member size: the deflate data ends \(dataLength - consumed) bytes before the "
                    + "trailer the member size field (\(header.memberSize)) places"
            } else if storedSize != UInt32(truncatingIfNeeded: count) {
                damage = "ISIZE says \(storedSize) bytes, the member inflates to \(count)"
            } else if !leafIsExpected(header.index) {
                // With the chunk's expected leaf hash at hand (a sealed bundle's leaf list, itself checked against
                // the signed tree digest), SHA-256 decides and the CRC-32 adds nothing: skip computing it.
                let crc = PackFormat.crc32(UnsafeRawBufferPointer(rebasing: slot.output.storage[0..<count]))
                if crc != storedCRC {
                    damage = "CRC-32 mismatch: stored \(hex32(storedCRC)), computed \(hex32(crc))"
                }
            }
        case .overflow:
            damage = "decompression bomb: inflates past the chunk size (\(chunkSize) bytes)"
        case .truncated:
            damage = "wrong member size or damaged data: the deflate data is cut short by the member size field "
                + "(\(header.memberSize))"
        case .corrupt(let message):
            damage = "corrupt deflate data (zlib: \(message))"
        }
        if damage == nil && produced == 0 {
            damage = "empty chunk member (only the end-of-file member may be empty)"
        }
        let contentStart = header.index * UInt64(chunkSize)
        if damage != nil {
            // Zero-fill: ISIZE when plausible, else a whole chunk.
            produced = storedSize > 0 && storedSize <= UInt32(chunkSize) ? Int(storedSize) : chunkSize
            slot.output.storage.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0, count: produced)
        }
        slot.output.count = produced
        let leaf = Merkle.leafHash(slot.output.bytes)
        slot.leaf = leaf
        slot.damage = damage
        if let damage {
            let range = slot.packedOffset..<(slot.packedOffset + UInt64(header.memberSize))
            record(DamagedChunk(index: header.index, packedRange: range,
                                contentRange: contentStart..<(contentStart + UInt64(produced)), reason: damage))
            return
        }
        if header.flags.contains(.zero) && zeroMember.withLock({ $0 == nil }) {
            let cached = ZeroMember(bytes: Array(member), length: produced, leaf: leaf)
            zeroMember.withLock { $0 = cached }
        }
        checkExpectedLeaf(slot)
    }

    /// Whether the expected leaves include chunk `index`.
    private func leafIsExpected(_ index: UInt64) -> Bool {
        guard let expected = configuration.expected.leaves else { return false }
        return index < UInt64(expected.count)
    }

    /// Compares a verified chunk's leaf hash with the expected leaves, when given.
    private func checkExpectedLeaf(_ slot: MemberSlot) {
        let header = slot.header
        guard let expected = configuration.expected.leaves, header.index < UInt64(expected.count),
              let leaf = slot.leaf, expected[Int(header.index)] != leaf else { return }
        let reason = "leaf hash mismatch: expected \(expected[Int(header.index)].hex), computed \(leaf.hex)"
        slot.damage = reason
        // Like any damaged chunk, zero-filled when salvaging.
        slot.output.storage.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0, count: slot.output.count)
        slot.leaf = Merkle.leafHash(slot.output.bytes)
        let contentStart = header.index * UInt64(chunkSize)
        let range = slot.packedOffset..<(slot.packedOffset + UInt64(header.memberSize))
        record(DamagedChunk(index: header.index, packedRange: range,
                            contentRange: contentStart..<(contentStart + UInt64(slot.output.count)), reason: reason))
    }

    /// The ordered stage: tree accumulation and writing.
    private func emit(_ slot: MemberSlot) {
        if skipWrite(slot) { return }
        let bytes = slot.output.bytes
        if let short = shortChunk {
            problem("chunk \(short.index) holds \(short.size) bytes, fewer than the chunk size, but is not the "
                        + "last chunk")
            shortChunk = nil
        }
        if bytes.count < chunkSize { shortChunk = (slot.header.index, bytes.count) }
        if let size = configuration.expected.size, !passedSize, written + UInt64(bytes.count) > size {
            passedSize = true
            problem("chunk \(slot.header.index) (packed byte \(slot.packedOffset)) inflates to content bytes "
                        + "\(written)-\(written + UInt64(bytes.count) - 1), beyond the declared \(size) bytes")
        }
        accumulator.append(slot.leaf!)
        leaves.append(slot.leaf!)
        do {
            try sink?.write(bytes)
            written += UInt64(bytes.count)
        } catch {
            fail(error)
        }
    }
}

private func hex32(_ value: UInt32) -> String {
    Hex.encode(withUnsafeBytes(of: value.bigEndian) { Array($0) })
}
