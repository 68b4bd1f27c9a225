import CustodyBase
import CustodyCrypto
import CustodyIO

/// The durable point of an interrupted collection seal (`.NAME.partial.collection`, beside the work directory;
/// SPEC.md section 5.13): how many records were written and how long each appended file was at the last point
/// where everything before it was on disk. Written atomically after a `syncfs` of the work directory's file
/// system, every two seconds of sealing and when the seal is stopped; a resumed seal cuts each file back to its
/// journaled length, reads what is kept again, and carries on from the next entry of the walk.
struct CollectionJournal: Sendable, Equatable {
    static let format = "custody-collection-journal v1"

    /// Records written (the walk entries done).
    var records: UInt64 = 0
    /// Bytes of `custody/items.jsonl`, `custody/leaves.bin` and the payload manifests at that point.
    var recordsSize: UInt64 = 0
    var leavesSize: UInt64 = 0
    var manifestSizes: [DigestAlgorithm: UInt64] = [:]
    /// The path of the last record written (exact bytes): the resumed walk must meet it at the same place.
    var lastPath: [UInt8] = []
    /// Whether every entry was recorded (a resume goes straight to the ledger and the tag files).
    var walkComplete = false
    /// When the acquisition started (RFC 3339).
    var started: String?
    /// The order the walk reads each folder in (`name`, `inode` or `physical`).
    var order: WalkOptions.Order = .name

    static func orderName(_ order: WalkOptions.Order) -> String {
        switch order {
        case .name: return "name"
        case .inode: return "inode"
        case .physical: return "physical"
        }
    }

    static func order(named name: String) -> WalkOptions.Order? {
        ["name": .name, "inode": .inode, "physical": .physical][name]
    }

    /// The journal of the collection seal whose work directory is `workPath`.
    static func path(workPath: String) -> String { workPath + ".collection" }

    var json: JSONValue {
        var sizes: [String: JSONValue] = [:]
        for (algorithm, size) in manifestSizes { sizes[algorithm.rawValue] = .int(Int64(size)) }
        return .object([
            "format": .string(CollectionJournal.format), "records": .int(Int64(records)),
            "recordsSize": .int(Int64(recordsSize)), "leavesSize": .int(Int64(leavesSize)),
            "manifestSizes": .object(sizes), "lastPath": .string(Base64.encode(lastPath)),
            "walkComplete": .bool(walkComplete), "started": started.map { .string($0) } ?? .null,
            "order": .string(CollectionJournal.orderName(order)),
        ])
    }

    init() {}

    /// Reads the journal at `path`, refusing anything custody would not have written.
    init(path: String) throws {
        let bytes = try FileSystem.readFile(path, limit: 1 << 20)
        func malformed(_ what: String) -> SealError {
            .malformedJournal(journalPath: path, workPath: String(path.dropLast(".collection".count)), problem: what)
        }
        guard let json = try? JSONValue.parse(bytes), json["format"]?.stringValue == CollectionJournal.format else {
            throw malformed("not a \(CollectionJournal.format) journal")
        }
        func count(_ key: String) throws -> UInt64 {
            guard let value = json[key]?.intValue, value >= 0 else { throw malformed("'\(key)' is not a count") }
            return UInt64(value)
        }
        records = try count("records")
        recordsSize = try count("recordsSize")
        leavesSize = try count("leavesSize")
        for algorithm in BundleLayout.payloadManifests {
            guard let size = json["manifestSizes"]?[algorithm.rawValue]?.intValue, size >= 0 else {
                throw malformed("no size for \(BundleLayout.manifestName(algorithm))")
            }
            manifestSizes[algorithm] = UInt64(size)
        }
        guard let last = json["lastPath"]?.stringValue.flatMap({ Base64.decode($0) }) else {
            throw malformed("'lastPath' is not base64")
        }
        lastPath = last
        guard let complete = json["walkComplete"]?.boolValue else { throw malformed("no 'walkComplete'") }
        walkComplete = complete
        started = json["started"]?.stringValue
        guard let order = CollectionJournal.order(named: json["order"]?.stringValue ?? "name") else {
            throw malformed("unknown 'order'")
        }
        self.order = order
    }

    /// Writes the journal atomically and durably.
    func save(to path: String) throws {
        try FileSystem.writeAtomically(path, json.canonicalBytes + [10])
    }
}
