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
