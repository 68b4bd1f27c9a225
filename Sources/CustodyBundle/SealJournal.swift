import CustodyAge
import CustodyBase
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Everything that shapes a seal's output besides the content: a resumed seal must use the same.
public struct SealParameters: Sendable, Equatable {
    /// The tree digest's chunk size.
    public var chunkSize: Int
    /// The compression level (0 when items are stored raw).
    public var level: Int
    /// Whether items are packed (custody gzip) or stored raw.
    public var compress: Bool
    /// Linear digests of each item, sorted, sha256 included.
    public var linearDigests: [DigestAlgorithm]
    /// The case number.
    public var caseNumber: String?
    /// The evidence number.
    public var evidenceNumber: String?
    /// The examiner's name.
    public var examiner: String?
    /// The description of the evidence.
    public var itemDescription: String?
    /// The notes recorded with each item.
    public var notes: String?
    /// The conditions as canonical JSON.
    public var conditions: JSONValue
    /// The INPUT arguments as given.
    public var inputs: [String]

    /// The parameters `options` give for sealing `paths`.
    public init(options: SealOptions, paths: [String]) {
        chunkSize = options.chunkSize
        level = options.compress ? options.level : 0
        compress = options.compress
        linearDigests = SealParameters.normalized(options.linearDigests)
        caseNumber = options.caseNumber
        evidenceNumber = options.evidenceNumber
        examiner = options.examiner
        itemDescription = options.itemDescription
        notes = options.notes
        conditions = options.conditions.json
        inputs = paths
    }

    /// sha256 added, sorted, duplicates removed.
    static func normalized(_ digests: [DigestAlgorithm]) -> [DigestAlgorithm] {
        Array(Set(digests + [.sha256])).sorted()
    }

    /// The fields in the order differences are reported.
    private var fields: [(parameter: SealParameter, value: JSONValue)] {
        func text(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }
        return [
            (.inputs, .array(inputs.map { .string($0) })),
            (.chunkSize, .int(Int64(chunkSize))),
            (.compress, .bool(compress)),
            (.level, .int(Int64(level))),
            (.linearDigests, .array(linearDigests.map { .string($0.rawValue) })),
            (.caseNumber, text(caseNumber)),
            (.evidenceNumber, text(evidenceNumber)),
            (.examiner, text(examiner)),
            (.description, text(itemDescription)),
            (.notes, text(notes)),
            (.conditions, conditions),
        ]
    }

    /// The journal's JSON form, one member per `SealParameter`.
    public var json: JSONValue {
        .object(Dictionary(uniqueKeysWithValues: fields.map { ($0.parameter.rawValue, $0.value) }))
    }

    /// Reads parameters back from a journal, naming the first field that does not fit.
    public init(json: JSONValue, where location: String) throws {
        func fail(_ key: String) -> SealError {
            SealError.malformedParameter(location: location, key: key)
        }
        func optional(_ key: String) throws -> String? {
            switch json[key] {
            case .string(let value)?: return value
            case .null?, nil: return nil
            default: throw fail(key)
            }
        }
        guard let inputs = json["inputs"]?.arrayValue?.compactMap(\.stringValue) else { throw fail("inputs") }
        guard let chunk = json["chunkSize"]?.intValue, chunk > 0,
              let chunkSize = try? TreeChunkSize.validate(UInt64(chunk)) else {
            throw fail("chunkSize")
        }
        guard let level = json["level"]?.intValue, (0...9).contains(level) else { throw fail("level") }
        guard let compress = json["compress"]?.boolValue else { throw fail("compress") }
        guard let names = json["linearDigests"]?.arrayValue else { throw fail("linearDigests") }
        var digests: [DigestAlgorithm] = []
        for name in names {
            guard let algorithm = name.stringValue.flatMap(DigestAlgorithm.init(rawValue:)) else {
                throw fail("linearDigests")
            }
            digests.append(algorithm)
        }
        guard let conditions = json["conditions"], conditions.objectValue != nil else { throw fail("conditions") }
        self.inputs = inputs
        self.chunkSize = chunkSize
        self.level = Int(level)
        self.compress = compress
        linearDigests = SealParameters.normalized(digests)
        caseNumber = try optional("caseNumber")
        evidenceNumber = try optional("evidenceNumber")
        examiner = try optional("examiner")
        itemDescription = try optional("description")
        notes = try optional("notes")
        self.conditions = conditions
    }

    /// The first difference from `recorded` (the interrupted run's); nil when they agree.
    public func difference(from recorded: SealParameters) -> SealParameterDifference? {
        for (mine, theirs) in zip(fields, recorded.fields) where mine.value != theirs.value {
            return SealParameterDifference(parameter: mine.parameter, recorded: theirs.value.canonicalString,
                                           given: mine.value.canonicalString)
        }
        return nil
    }

    /// Sets the output-shaping fields of `options` (everything else, such as readers, stays).
    public func apply(to options: inout SealOptions) throws {
        options.chunkSize = chunkSize
        options.level = level
        options.compress = compress
        options.linearDigests = linearDigests
        options.caseNumber = caseNumber
        options.evidenceNumber = evidenceNumber
        options.examiner = examiner
        options.itemDescription = itemDescription
        options.notes = notes
        options.conditions = try Conditions(json: conditions, source: "seal journal")
    }
}

/// What identifies a source between an interrupted seal and its resumption: its size and, for regular files,
/// modification time (nanoseconds) and the file itself (device, inode, and the status-change time, which
/// `touch -r`, `cp -p` or `rsync -t` cannot set back). A source whose identity changed cannot be resumed.
struct SourceIdentity: Sendable, Equatable {
    var size: UInt64?
    var modified: String?
    /// `DEV:INODE:CTIME` of a regular file (absent in journals written before it was recorded).
    var file: String?

    init(size: UInt64?, modified: String?, file: String? = nil) {
        self.size = size
        self.modified = modified
        self.file = file
    }

    /// The identity of `source` as opened.
    init(_ source: EvidenceSource) throws {
        self.size = source.size
        if source.kind == .file {
            let info = try source.descriptor.status()
            modified = "\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
            file = "\(info.st_dev):\(info.st_ino):\(info.st_ctim.tv_sec).\(info.st_ctim.tv_nsec)"
        }
    }

    var json: JSONValue {
        var members: [String: JSONValue] = [:]
        if let size { members["size"] = .int(Int64(size)) }
        if let modified { members["modified"] = .string(modified) }
        if let file { members["file"] = .string(file) }
        return .object(members)
    }

    init(json: JSONValue?) {
        size = json?["size"]?.intValue.flatMap { UInt64(exactly: $0) }
        modified = json?["modified"]?.stringValue
        file = json?["file"]?.stringValue
    }

    /// Whether `now` is the same source as this recorded identity (`file` compared when both have it).
    func matches(_ now: SourceIdentity) -> Bool {
        size == now.size && modified == now.modified && (file == nil || now.file == nil || file == now.file)
    }

    var text: String {
        [size.map { "\($0) bytes" }, modified.map { "modified \($0)" }, file.map { "file \($0)" }]
            .compactMap { $0 }.joined(separator: ", ")
    }
}

/// The seal journal (`.NAME.partial.journal`, beside the work directory `.NAME.partial`, so that it is never part
/// of the bag): everything a resumed seal needs to produce
/// the same bundle as an uninterrupted run. Canonical JSON, rewritten atomically and durably (temporary file,
/// fsync, rename, directory fsync) before packing starts, when an item starts and ends, at every durable point
/// of the payload, whenever a bad range is found, and around the ledger append. See SPEC.md section 7.5.
final class SealJournal: @unchecked Sendable {
    /// The journal of the seal whose work directory is `workPath`.
    static func path(workPath: String) -> String { workPath + ".journal" }

    /// The leaf log of the item in progress (see `LeafLog`).
    static func leafLogPath(workPath: String) -> String { workPath + ".leaves" }

    static let format = "custody-seal-journal v1"

    /// An item sealed before the interruption.
    struct Completed {
        var record: ItemRecord
        var packedSize: UInt64
        var packedDigests: [DigestAlgorithm: [UInt8]]
    }

    /// The item being sealed when the journal was written.
    struct Current {
        var number: Int
        var id: String
        var started: String
        /// How many times the item was resumed.
        var resumed: Int
        /// Payload chunks written and synced (raw items resume from here).
        var durableChunks: UInt64
        /// Leaf hashes written and synced to the leaf log (`.NAME.partial.leaves`).
        var durableLeaves: UInt64 = 0
        /// Unreadable ranges met so far (zero-filled in the payload).
        var badRanges: [BadRange]
        var source: SourceIdentity
    }

    struct State {
        var bundleID: String
        var parameters: SealParameters
        /// The expanded item list: source path and item name.
        var items: [(path: String, name: String)]
        var completed: [Completed] = []
        var current: Current?
        /// The ledger size before the seal's entries were appended.
        var ledgerFrom: UInt64?
        /// The sequence numbers of the seal's entries, once appended.
        var ledgerEntries: [UInt64]?
    }

    let path: String
    private let state: Mutex<State>

    init(path: String, state: State) {
        self.path = path
        self.state = Mutex(state)
    }

    var snapshot: State { state.withLock { $0 } }

    /// Changes the state and writes the journal durably.
    func update(_ body: (inout State) -> Void) throws {
        try state.withLock { state in
            body(&state)
            try FileSystem.writeAtomically(path, SealJournal.encode(state).canonicalBytes + [10])
        }
    }

    /// Writes the journal as it is.
    func save() throws { try update { _ in } }

    static func encode(_ state: State) -> JSONValue {
        var members: [String: JSONValue] = [
            "format": .string(format),
            "bundle": .string(state.bundleID),
            "parameters": state.parameters.json,
            "items": .array(state.items.map { .object(["path": .string($0.path), "name": .string($0.name)]) }),
            "completed": .array(state.completed.map { done in
                var digests: [String: JSONValue] = [:]
                for (algorithm, value) in done.packedDigests {
                    digests[algorithm.rawValue] = .string(Hex.encode(value))
                }
                return .object(["record": done.record.json, "packedSize": .int(Int64(done.packedSize)),
                                "packedDigests": .object(digests)])
            }),
        ]
        if let current = state.current {
            members["current"] = .object([
                "number": .int(Int64(current.number)), "id": .string(current.id), "started": .string(current.started),
                "resumed": .int(Int64(current.resumed)), "durableChunks": .int(Int64(current.durableChunks)),
                "durableLeaves": .int(Int64(current.durableLeaves)),
                "badRanges": .array(current.badRanges.map(\.json)), "source": current.source.json,
            ])
        }
        if let from = state.ledgerFrom { members["ledgerFrom"] = .int(Int64(from)) }
        if let entries = state.ledgerEntries { members["ledgerEntries"] = .array(entries.map { .int(Int64($0)) }) }
        return .object(members)
    }

    /// Loads the journal of the interrupted seal in `workPath`.
    static func load(workPath: String) throws -> SealJournal {
        let path = SealJournal.path(workPath: workPath)
        guard FileSystem.exists(path) else {
            throw SealError.noJournal(workPath: workPath, journalPath: path)
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(try BagTree.readRegular(path, limit: 256 << 20))
        } catch {
            throw SealError.unreadableJournal(journalPath: path, workPath: workPath, reason: "\(error)")
        }
        func fail(_ what: String) -> SealError {
            SealError.malformedJournal(journalPath: path, workPath: workPath, problem: what)
        }
        guard json["format"]?.stringValue == format else { throw fail("not a '\(format)' journal") }
        guard let bundleID = json["bundle"]?.stringValue, Identifier.isURN(bundleID) else {
            throw fail("no bundle identifier of the form urn:uuid:...")
        }
        guard let parametersJSON = json["parameters"] else { throw fail("no parameters") }
        let parameters = try SealParameters(json: parametersJSON, where: path)
        var items: [(path: String, name: String)] = []
        for item in json["items"]?.arrayValue ?? [] {
            guard let source = item["path"]?.stringValue, let name = item["name"]?.stringValue else {
                throw fail("malformed item list")
            }
            items.append((source, name))
        }
        var completed: [Completed] = []
        for (offset, done) in (json["completed"]?.arrayValue ?? []).enumerated() {
            guard let recordJSON = done["record"], let size = done["packedSize"]?.intValue, size >= 0,
                  let digestsJSON = done["packedDigests"]?.objectValue else {
                throw fail("completed item \(offset + 1) is malformed")
            }
            let record = try ItemRecord(json: recordJSON, where: "\(path): completed item \(offset + 1)")
            // The paths are the ones the seal chose: inside the bag's payload and leaves folders, nowhere else.
            for (kept, folder) in [(record.payloadPath, BundleLayout.payloadDirectory),
                                   (record.leavesPath, BundleLayout.leavesDirectory)] {
                guard (try? BagIt.safeComponents(kept)) != nil, kept.hasPrefix(folder + "/") else {
                    throw fail("completed item \(offset + 1): '\(BagIt.printable(kept))' is not a path in \(folder)/")
                }
            }
            var digests: [DigestAlgorithm: [UInt8]] = [:]
            for (name, value) in digestsJSON {
                guard let algorithm = DigestAlgorithm(rawValue: name),
                      let bytes = value.stringValue.flatMap({ Hex.decode($0) }) else {
                    throw fail("completed item \(offset + 1): malformed packed digest '\(name)'")
                }
                digests[algorithm] = bytes
            }
            guard record.number == offset + 1 else {
                throw fail("completed item \(offset + 1) is numbered \(record.number)")
            }
            completed.append(Completed(record: record, packedSize: UInt64(size), packedDigests: digests))
        }
        var state = State(bundleID: bundleID, parameters: parameters, items: items, completed: completed)
        if let current = json["current"] {
            guard let number = current["number"]?.intValue, let id = current["id"]?.stringValue,
                  let started = current["started"]?.stringValue, let resumed = current["resumed"]?.intValue,
                  let durable = current["durableChunks"]?.intValue, durable >= 0,
                  let ranges = current["badRanges"] else {
                throw fail("the item in progress is malformed")
            }
            state.current = Current(number: Int(number), id: id, started: started, resumed: Int(resumed),
                                    durableChunks: UInt64(durable), badRanges: try BadRange.parseList(ranges),
                                    source: SourceIdentity(json: current["source"]))
            state.current?.durableLeaves = UInt64(max(0, current["durableLeaves"]?.intValue ?? 0))
        }
        if let from = json["ledgerFrom"] {
            guard let value = from.intValue.flatMap({ UInt64(exactly: $0) }) else { throw fail("malformed ledgerFrom") }
            state.ledgerFrom = value
        }
        if let entries = json["ledgerEntries"] {
            let values = entries.arrayValue?.compactMap { $0.intValue.flatMap { UInt64(exactly: $0) } }
            guard let values, values.count == entries.arrayValue?.count else { throw fail("malformed ledgerEntries") }
            state.ledgerEntries = values
        }
        return SealJournal(path: path, state: state)
    }

    /// Refuses to resume with other parameters or another item list, naming the first difference.
    func check(parameters: SealParameters, items: [(path: String, name: String)]) throws {
        let recorded = snapshot
        if let difference = parameters.difference(from: recorded.parameters) {
            throw SealError.parametersDiffer(workPath: String(path.dropLast(".journal".count)), difference)
        }
        for (offset, pair) in zip(items, recorded.items).enumerated()
        where pair.0.path != pair.1.path || pair.0.name != pair.1.name {
            throw SealError.itemDiffers(number: offset + 1, path: pair.0.path, name: pair.0.name,
                                        recordedPath: pair.1.path, recordedName: pair.1.name)
        }
        if items.count != recorded.items.count {
            throw SealError.itemCountDiffers(count: items.count, recorded: recorded.items.count)
        }
    }
}

/// The leaf hashes of the item in progress, 32 bytes each in chunk order, kept beside the journal so that a
/// resumed seal does not hash the chunks it verifies again. Appended in memory as chunks are packed and written
/// and synced at the payload's durable points; only the synced count (`durableLeaves` in the journal) is trusted.
final class LeafLog: @unchecked Sendable {
    let descriptor: FileDescriptor
    /// Leaves appended but not yet written, the number durable in the file, and the next chunk index expected.
    private let state = Mutex<(pending: [UInt8], count: UInt64, next: UInt64)>(([], 0, 0))

    /// Opens (creating) the log and keeps its first `valid` leaves, or fewer if the file is shorter.
    init(path: String, valid: UInt64) throws {
        descriptor = try FileDescriptor.openOwnWorkFile(path)
        let size = UInt64(try descriptor.status().st_size)
        let count = min(valid, size / 32)
        try descriptor.truncate(to: count * 32)
        _ = try descriptor.seek(to: Int64(count * 32))
        state.withLock { state in
            state.count = count
            state.next = count
        }
    }

    deinit { descriptor.close() }

    /// The leaves kept.
    func kept() throws -> [Hash32] {
        let count = state.withLock { $0.count }
        var bytes = [UInt8](repeating: 0, count: Int(count) * 32)
        let got = try bytes.withUnsafeMutableBytes { try descriptor.readFully(into: $0, at: 0) }
        return stride(from: 0, to: got - got % 32, by: 32).compactMap { Hash32(bytes[$0..<($0 + 32)]) }
    }

    /// Makes the log hold exactly `leaves` (a prefix of it is already there): cuts it and appends the rest.
    func reset(to leaves: [Hash32]) throws {
        let kept = min(state.withLock { $0.count }, UInt64(leaves.count))
        try descriptor.truncate(to: kept * 32)
        _ = try descriptor.seek(to: Int64(kept * 32))
        state.withLock { state in
            state.count = kept
            state.next = UInt64(leaves.count)
            state.pending = []
            for leaf in leaves[Int(kept)...] { leaf.withBytes { state.pending.append(contentsOf: $0) } }
        }
    }

    /// Adds chunk `index`'s leaf (called in chunk order).
    func append(_ index: UInt64, _ leaf: Hash32) {
        state.withLock { state in
            guard index == state.next else { return }
            state.next += 1
            leaf.withBytes { state.pending.append(contentsOf: $0) }
        }
    }

    /// Writes and syncs what was appended; returns the number of leaves now durable. Appending goes on
    /// meanwhile; flushes must not overlap (the seal makes them one at a time).
    func flush() throws -> UInt64 {
        let (bytes, base) = state.withLock { state -> ([UInt8], UInt64) in
            defer { state.pending = [] }
            return (state.pending, state.count)
        }
        if !bytes.isEmpty { try descriptor.writeAll(bytes) }
        try descriptor.sync()
        let total = base + UInt64(bytes.count / 32)
        state.withLock { $0.count = total }
        return total
    }
}
