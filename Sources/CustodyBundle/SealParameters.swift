import CustodyBase
import CustodyCrypto
import CustodyEngine

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
