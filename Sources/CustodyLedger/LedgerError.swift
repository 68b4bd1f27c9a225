import CustodyBase

/// What the ledger layer throws: a ledger that cannot be opened, created or extended, a store holding what custody
/// never writes, a request outside the tree, or an entry, subject, checkpoint or proof that is not well formed.
/// Every case carries what a caller needs to act on it; `description` is the one-line message for people.
public enum LedgerError: CustodyFailure, Equatable {
    /// No ledger at `path`.
    case noSuchLedger(path: String)
    /// `path` (the ledger or one of its companion files) exists; `create` never replaces anything.
    case alreadyExists(path: String)
    /// The file at `path` is a database but not a custody ledger (SQLite: its application_id is not custody's).
    case notALedger(path: String)
    /// The ledger at `path` has a schema version this custody does not read.
    case unsupportedSchema(path: String, version: Int64)
    /// The store at `location` holds something custody never writes (see `LedgerDamage`).
    case damaged(location: String, LedgerDamage)
    /// The store at `location` failed (`reason`, its own words); `damaged` when it found its file damaged.
    case storeFailed(location: String, reason: String, damaged: Bool)
    /// The ledger's write-ahead log (`-wal`) holds commits not yet in the file, and cannot be read where it lies
    /// (read-only media without the `-shm` index): `reason` is SQLite's.
    case unreadableLog(location: String, reason: String)
    /// A different checkpoint note is already stored for `size`: the stored one is never replaced.
    case differentCheckpointStored(location: String, size: UInt64)
    /// `key` (name+keyID) is not the key of the ledger at `location`, owned by `owner` (name+keyID).
    case ownerKeyMismatch(key: String, owner: String, location: String)
    /// The ledger at `location` has no entry `sequence`: it holds `size` entries.
    case noEntry(location: String, sequence: UInt64, size: UInt64)
    /// Entry `sequence` of the ledger at `location` does not parse (`problem` says why).
    case damagedEntry(location: String, sequence: UInt64, problem: LedgerRecordProblem)
    /// The entries `from..<end` asked for are not all among the ledger's `size`.
    case rangeOutsideLedger(from: UInt64, end: UInt64, size: UInt64)
    /// A tree of `size` entries was asked for; the ledger holds `current`.
    case sizeExceedsLedger(size: UInt64, current: UInt64)
    /// An inclusion proof of entry `index` was asked for in a tree of only `size` entries.
    case indexNotBelowSize(index: UInt64, size: UInt64)
    /// A consistency proof was asked for between sizes that do not satisfy 1 <= from <= to.
    case consistencySizes(from: UInt64, to: UInt64)
    /// A tree node the appended tree needs is missing (position, level), found before anything was written.
    case frontierNodeMissing(position: UInt64, level: Int)
    /// An entry, draft, subject, checkpoint or proof that is not one custody accepts.
    case invalid(LedgerRecordProblem)
    /// An inclusion proof that does not take entry `index` to the root of the checkpoint of `checkpointSize`.
    case inclusionNotProven(index: UInt64, checkpointSize: UInt64, mismatches: [InclusionMismatch])

    /// Every ledger error reports an operation that could not be done or input that is not accepted; what
    /// `Ledger.verify` finds wrong goes in its report, and proof checks report through their own results.
    public var kind: FailureKind {
        switch self {
        case .inclusionNotProven: .verification
        default: .operational
        }
    }

    /// The one-line message: what, where, and what to do next.
    public var description: String {
        switch self {
        case .noSuchLedger(let path): "\(path): no such ledger (create it with custody ledger init)"
        case .alreadyExists(let path): "\(path): already exists; not replaced"
        case .notALedger(let path): "\(path): not a custody ledger (wrong SQLite application_id)"
        case .unsupportedSchema(let path, let version):
            "\(path): ledger schema version \(version) is not supported (expected 1)"
        case .damaged(let location, let damage): "\(location): the ledger file is damaged: \(damage)"
        case .storeFailed(let location, let reason, let damaged):
            damaged
                ? "\(location): the ledger file is damaged (\(reason)); it was not modified"
                : "\(location): \(reason)"
        case .unreadableLog(let location, let reason):
            "\(location): its write-ahead log \(location)-wal holds commits not yet in the file and cannot be read "
                + "here (\(reason)); copy the ledger with its -wal file to writable storage and read it there"
        case .differentCheckpointStored(let location, let size):
            "\(location): a different checkpoint is already stored for size \(size)"
        case .ownerKeyMismatch(let key, let owner, let location):
            "key \(key) does not match the ledger's key \(owner) (\(location))"
        case .noEntry(let location, let sequence, let size):
            "\(location): no entry \(sequence) (the ledger has \(size))"
        case .damagedEntry(let location, let sequence, let problem):
            "\(location): entry \(sequence) is damaged: \(problem)"
        case .rangeOutsideLedger(let from, let end, let size):
            "range \(from)..<\(end) is outside the ledger's \(size) entries"
        case .sizeExceedsLedger(let size, let current): "size \(size) exceeds the ledger's \(current) entries"
        case .indexNotBelowSize(let index, let size): "index \(index) is not below the tree size \(size)"
        case .consistencySizes(let from, let to): "a consistency proof needs 1 <= from (\(from)) <= to (\(to))"
        case .frontierNodeMissing(let position, let level): "tree node \(position) (level \(level)) is missing"
        case .invalid(let problem): problem.description
        case .inclusionNotProven(let index, let size, _):
            "entry \(index): the inclusion proof does not lead to the checkpoint (size \(size))"
        }
    }
}

/// What a ledger store holds that custody never writes, found when reading it.
public enum LedgerDamage: Sendable, Equatable, CustomStringConvertible {
    /// A table of the schema is missing.
    case tableMissing(String)
    /// A table's definition is not the one custody creates.
    case alteredTable(String)
    /// A schema object (of a type, with a name) custody does not create: refused, never run.
    case foreignObject(type: String, name: String)
    /// A stored number outside 0...`Ledger.largestSize` (a negative number shows as itself).
    case numberOutOfRange(StoredNumber, Int64)
    /// The origin or owner record is missing.
    case metadataMissing
    /// The origin or owner record is not one `Ledger.create` writes.
    case metadataInvalid
    /// The recorded head is missing or invalid.
    case headInvalid
    /// The stored tree node at a position is not a 32-byte hash.
    case nodeNotAHash(position: UInt64)
    /// The tree node at a position is missing.
    case nodeMissing(position: UInt64)
    /// An entry in the range read is missing.
    case entryMissing(sequence: UInt64)
    /// The head records `headSize` entries but the stored ones run from `first` to `end - 1`; nothing was appended.
    case tailMismatch(headSize: UInt64, first: UInt64, end: UInt64)
    /// The last entry does not match the recorded head; nothing was appended.
    case headEntryMismatch(sequence: UInt64)
    /// An entry does not match its tree leaf.
    case leafMismatch(sequence: UInt64)

    /// Which stored number was out of range.
    public enum StoredNumber: String, Sendable, Equatable {
        /// An entry's sequence number.
        case sequence = "sequence number"
        /// The size a checkpoint is stored under.
        case checkpointSize = "checkpoint size"
    }

    /// What is wrong, to follow "the ledger file is damaged: ".
    public var description: String {
        let appendAdvice = "; nothing was appended (run custody ledger verify)"
        switch self {
        case .tableMissing(let name): return "table \(name) missing"
        case .alteredTable(let name): return "\(name) is not custody's table"
        case .foreignObject(let type, let name):
            return "it holds a \(type) '\(name.prefix(64))' that custody does not create (refused, never run)"
        case .numberOutOfRange(let what, let value): return "\(what.rawValue) \(value) is out of range (0 to 2^48)"
        case .metadataMissing: return "metadata missing"
        case .metadataInvalid: return "its origin or owner record is not one custody writes"
        case .headInvalid: return "head record missing or invalid"
        case .nodeNotAHash(let position): return "tree node \(position) is not 32 bytes"
        case .nodeMissing(let position): return "tree node \(position) is missing; run custody ledger verify"
        case .entryMissing(let sequence): return "entry \(sequence) is missing"
        case .tailMismatch(let size, let first, let end):
            return "the head records \(size) entries but the stored ones run from \(first) to \(Int64(end) - 1)"
                + appendAdvice
        case .headEntryMismatch(let sequence):
            return "entry \(sequence) does not match the recorded head" + appendAdvice
        case .leafMismatch(let sequence):
            return "entry \(sequence) does not match its tree leaf; run custody ledger verify"
        }
    }
}

/// Why an entry, draft, subject, checkpoint or proof is not one custody accepts.
public enum LedgerRecordProblem: Sendable, Equatable, CustomStringConvertible {
    /// An action name that is not a `LedgerAction`.
    case unknownAction(String)
    /// A subject ID outside 1 to 1024 bytes.
    case subjectIDLength
    /// A subject attribute name outside 1 to 32 of a-z 0-9 -, or `id`.
    case subjectAttributeName(String)
    /// A subject attribute string longer than 4096 bytes.
    case subjectAttributeTooLong(String)
    /// A digest attribute (`md5`, `sha1`, `sha256`, `sha512`) that is not `length` lower-case hex digits.
    case subjectDigest(name: String, length: Int)
    /// A digest attribute given as a number.
    case subjectDigestNotString(String)
    /// A subject attribute that is neither a string nor an integer.
    case subjectAttributeType(String)
    /// A subject that is not an object with a string `id`.
    case subjectNotObject
    /// The compact subject form (`ID=NAME:VALUE,...`) `text` does not parse: see `SubjectSyntaxProblem`.
    case subjectSyntax(text: String, SubjectSyntaxProblem)
    /// A legal basis longer than 4096 bytes.
    case legalBasisTooLong
    /// A detail name outside 1 to 128 bytes.
    case detailNameLength
    /// A detail holding a fraction or a number beyond 64-bit integers, under the named detail.
    case detailNotInteger(String)
    /// A draft line that is not a JSON object.
    case draftNotObject
    /// A draft line with a member other than action, subjects, legalBasis, details.
    case draftUnknownMember(String)
    /// A draft line without a string `action`.
    case draftMissingAction
    /// A draft member of the wrong type (its name and what it must be).
    case draftMemberType(member: String, expected: String)
    /// Text that is not JSON (the parser's message).
    case json(String)
    /// An entry larger than `LedgerEntry.maximumSize`.
    case entryTooLarge
    /// An entry that is not an object with exactly the 11 entry members.
    case entryMemberCount
    /// An entry version custody does not know.
    case entryVersion
    /// An entry member missing or of the wrong type.
    case entryMember
    /// Entry bytes that are not canonical JSON.
    case entryNotCanonical
    /// Checkpoint extension lines that are empty or span lines.
    case checkpointExtensions
    /// An origin custody does not accept.
    case origin(String)
    /// A checkpoint note body that does not parse (why).
    case malformedCheckpoint(String)
    /// A proof's JSON (from `source`) that does not parse (the parser's message).
    case proofJSON(source: String, String)
    /// A proof (from `source`) that lacks a member (the expected members listed).
    case proofShape(source: String, members: String)
    /// A proof element (from `source`) that is not 64 hex digits.
    case proofElement(source: String)

    /// The message naming the record and what is wrong with it.
    public var description: String {
        switch self {
        case .unknownAction(let text):
            "unknown action '\(text)': choose from " + LedgerAction.allCases.map(\.rawValue).joined(separator: ", ")
        case .subjectIDLength: "subject ID must be 1 to 1024 bytes"
        case .subjectAttributeName(let name): "subject attribute '\(name)' must be 1 to 32 of a-z 0-9 - (and not 'id')"
        case .subjectAttributeTooLong(let name): "subject attribute '\(name)' is too long"
        case .subjectDigest(let name, let length): "subject attribute \(name) must be \(length) lower-case hex digits"
        case .subjectDigestNotString(let name): "subject attribute \(name) must be a hex string"
        case .subjectAttributeType(let name): "subject attribute '\(name)' must be a string or an integer"
        case .subjectNotObject: "a subject must be an object with a string 'id'"
        case .subjectSyntax(let text, let problem): "subject '\(text)': \(problem)"
        case .legalBasisTooLong: "legal basis longer than 4096 bytes"
        case .detailNameLength: "detail names must be 1 to 128 bytes"
        case .detailNotInteger(let path):
            "detail '\(path)': only integers from -2^63 to 2^63-1 are allowed, not fractions or larger numbers"
        case .draftNotObject: "an entry must be a JSON object"
        case .draftUnknownMember(let name): "unknown member '\(name)' (allowed: action, subjects, legalBasis, details)"
        case .draftMissingAction: "missing string member 'action'"
        case .draftMemberType(let member, let expected): "'\(member)' must be \(expected)"
        case .json(let message): message
        case .entryTooLarge: "entry larger than \(LedgerEntry.maximumSize) bytes"
        case .entryMemberCount: "not an entry object with exactly the 11 entry members"
        case .entryVersion: "unknown entry version"
        case .entryMember: "an entry member is missing or has the wrong type"
        case .entryNotCanonical: "entry is not canonical JSON"
        case .checkpointExtensions: "checkpoint extension lines must be non-empty single lines"
        case .origin(let origin):
            "origin '\(origin)' must be 1 to 255 bytes without spaces, '+' or control characters "
                + "(for example police.example/custody)"
        case .malformedCheckpoint(let why): "malformed checkpoint: \(why)"
        case .proofJSON(let source, let message): "\(source): \(message)"
        case .proofShape(let source, let members): "\(source): not \(members)"
        case .proofElement(let source): "\(source): proof element is not 64 hex digits"
        }
    }
}

/// Why the compact subject form `ID=NAME:VALUE[,NAME:VALUE]...` does not parse.
public enum SubjectSyntaxProblem: Sendable, Equatable, CustomStringConvertible {
    /// A pair without `:`.
    case expectedPairs
    /// An attribute named twice.
    case repeatedAttribute(String)
    /// A `size` that is not a non-negative integer.
    case size

    /// What is wrong with the compact form.
    public var description: String {
        switch self {
        case .expectedPairs: "expected ID=NAME:VALUE[,NAME:VALUE]..."
        case .repeatedAttribute(let name): "attribute '\(name)' given twice"
        case .size: "size must be a non-negative integer"
        }
    }
}
