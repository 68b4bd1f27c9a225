import CustodyBase
import CustodyCrypto

/// What is wrong with a bag, a bundle's records, a conditions file or a trust store: each case carries the path,
/// line, field or entry a caller needs, and `description` says it in one line.
public indirect enum BundleError: CustodyFailure, Equatable {
    /// A bag path that is empty.
    case emptyPath
    /// A bag path that starts with `/` (bag paths are relative).
    case absolutePath(String)
    /// A bag path holding a NUL or a backslash.
    case pathWithNULOrBackslash(String)
    /// A bag path with an empty, `.` or `..` component.
    case pathNotNormalized(String)
    /// A tag file (manifest, `bag-info.txt`, `bagit.txt`) that is not UTF-8.
    case tagFileNotUTF8(file: String)
    /// A manifest line without a checksum and a path.
    case manifestLineMalformed(file: String, line: Int)
    /// A manifest line whose checksum (`text`, its start) is not a digest of `algorithm`.
    case manifestDigestMalformed(file: String, line: Int, text: String, algorithm: DigestAlgorithm)
    /// A manifest line whose path is unsafe (`problem` says how).
    case manifestPathUnsafe(file: String, line: Int, problem: BundleError)
    /// A manifest listing `path` a second time.
    case manifestPathListedTwice(file: String, line: Int, path: String)
    /// A `bag-info.txt` continuation line before any label.
    case continuationBeforeLabel(file: String, line: Int)
    /// A `bag-info.txt` line that is not `Label: value`.
    case bagInfoLineMalformed(file: String, line: Int)
    /// A file inside a bag that is not a regular file (not read).
    case notRegularFile(path: String)
    /// A file inside a bag larger than `limit` bytes (refused).
    case fileTooLarge(path: String, limit: Int)
    /// An `items.json` field that is missing or not a string.
    case itemFieldNotString(location: String, field: String)
    /// An `items.json` field that is missing or not a non-negative integer.
    case itemFieldNotCount(location: String, field: String)
    /// An item whose payload encoding custody does not know.
    case itemEncodingUnknown(location: String, encoding: String)
    /// An item without its `digests` object.
    case itemDigestsMissing(location: String)
    /// An item digest that is not a string.
    case itemDigestNotString(location: String, algorithm: String)
    /// An item whose payload or leaves path is unsafe (`problem` says how).
    case itemPathUnsafe(location: String, problem: BundleError)
    /// A conditions file that is not JSON (`reason` from the parser).
    case conditionsNotJSON(source: String, reason: String)
    /// Conditions that are not a JSON object.
    case conditionsNotObject(source: String)
    /// A conditions field of the wrong type; `expected` names the type (`a string`, `an object`...).
    case conditionsFieldType(source: String, field: String, expected: String)
    /// An onward-transfer rule that is not one custody knows.
    case onwardTransferUnknown(source: String, rule: String)
    /// A retention date that is not `YYYY-MM-DD`.
    case retentionDateMalformed(source: String, date: String)
    /// A trust store file that is not JSON (`reason` from the parser).
    case trustStoreNotJSON(path: String, reason: String)
    /// A JSON file that is not a custody trust store.
    case trustStoreWrongType(path: String)
    /// A trust store entry (1-based `entry`) that is incomplete or whose key is not Ed25519.
    case trustEntryIncomplete(path: String, entry: Int)
    /// A trust store entry whose stated key ID does not match its key.
    case trustEntryKeyIDMismatch(path: String, entry: Int, name: String)
    /// An age recipient that does not parse (`reason` from the parser).
    case recipientInvalid(reason: String)
    /// An agency name already in the trust store.
    case trustEntryExists(name: String)
    /// No entry named `name` in the trust store (to update or remove).
    case trustEntryMissing(name: String)
    /// What the user gave for `field` (name, jurisdiction, agency) differs from the signed identity at `path`.
    case trustIdentityDiffers(path: String, field: String, given: String, signed: String)
    /// A key file holding more than one PEM block.
    case severalPEMBlocks(path: String)
    /// A key file whose key cannot be used (`reason` from the parser).
    case publicKeyUnusable(path: String, reason: String)
    /// An identity file the identity parser refused; `reason`, its message, names the file.
    case identityFileRefused(path: String, reason: String)
    /// A file that is no PEM public key, verifier key or identity file.
    case publicKeyUnknownFormat(path: String)
    /// An item record (a line of `custody/items.jsonl`) that is not one custody writes (`problem` says why).
    case recordMalformed(location: String, problem: String)

    /// Verification for what a bag or its records hold; operational for conditions, trust stores and keys given
    /// by the user.
    public var kind: FailureKind {
        switch self {
        case .conditionsNotJSON, .conditionsNotObject, .conditionsFieldType, .onwardTransferUnknown,
             .retentionDateMalformed, .trustStoreNotJSON, .trustStoreWrongType, .trustEntryIncomplete,
             .trustEntryKeyIDMismatch, .recipientInvalid, .trustEntryExists, .severalPEMBlocks, .publicKeyUnusable,
             .identityFileRefused, .publicKeyUnknownFormat, .trustEntryMissing, .trustIdentityDiffers:
            return .operational
        default:
            return .verification
        }
    }

    /// The one-line message.
    public var description: String {
        switch self {
        case .emptyPath: return "empty path"
        case .absolutePath(let path): return "absolute path '\(BagIt.printable(path))' (bag paths are relative)"
        case .pathWithNULOrBackslash(let path): return "path '\(BagIt.printable(path))' holds a NUL or backslash"
        case .pathNotNormalized(let path):
            return "path '\(BagIt.printable(path))' escapes or is not normalized (empty, '.' or '..' component)"
        case .tagFileNotUTF8(let file): return "\(file): not valid UTF-8"
        case .manifestLineMalformed(let file, let line): return "\(file):\(line): expected 'CHECKSUM PATH'"
        case .manifestDigestMalformed(let file, let line, let text, let algorithm):
            return "\(file):\(line): '\(text)' is not a \(algorithm.rawValue)"
        case .manifestPathUnsafe(let file, let line, let problem): return "\(file):\(line): \(problem)"
        case .manifestPathListedTwice(let file, let line, let path):
            return "\(file):\(line): '\(BagIt.printable(path))' listed twice"
        case .continuationBeforeLabel(let file, let line): return "\(file):\(line): continuation line before any label"
        case .bagInfoLineMalformed(let file, let line): return "\(file):\(line): expected 'Label: value'"
        case .notRegularFile(let path): return "\(BagIt.printable(path)): not a regular file, not read"
        case .fileTooLarge(let path, let limit):
            return "\(BagIt.printable(path)): larger than \(ByteSize.describe(UInt64(limit))), refused"
        case .itemFieldNotString(let location, let field):
            return "\(location): field '\(field)' missing or not a string"
        case .itemFieldNotCount(let location, let field):
            return "\(location): field '\(field)' missing or not a non-negative integer"
        case .itemEncodingUnknown(let location, let encoding): return "\(location): unknown encoding '\(encoding)'"
        case .itemDigestsMissing(let location): return "\(location): field 'digests' missing"
        case .itemDigestNotString(let location, let algorithm):
            return "\(location): digest '\(algorithm)' is not a string"
        case .itemPathUnsafe(let location, let problem): return "\(location): \(problem)"
        case .conditionsNotJSON(let source, let reason): return "\(source): \(reason)"
        case .conditionsNotObject(let source): return "\(source): conditions must be a JSON object"
        case .conditionsFieldType(let source, let field, let expected):
            return "\(source): '\(field)' must be \(expected)"
        case .onwardTransferUnknown(let source, let rule):
            return "\(source): 'useLimitations.onwardTransfer' must be requires-consent, allowed or forbidden, not "
                + "'\(rule)'"
        case .retentionDateMalformed(let source, let date):
            return "\(source): 'personalData.retentionUntil' '\(date)' is not a date (YYYY-MM-DD)"
        case .trustStoreNotJSON(let path, let reason): return "\(path): not a trust store: \(reason)"
        case .trustStoreWrongType(let path):
            return "\(path): not a custody trust store (type \(TrustStore.type) expected)"
        case .trustEntryIncomplete(let path, let entry):
            return "\(path): entry \(entry) is incomplete or its key is not Ed25519"
        case .trustEntryKeyIDMismatch(let path, let entry, let name):
            return "\(path): entry \(entry) ('\(name)') has a key ID that does not match its key"
        case .recipientInvalid(let reason): return "age recipient: \(reason)"
        case .trustEntryExists(let name):
            return "'\(name)' is already in the trust store (change it with custody trust update, or remove it)"
        case .trustEntryMissing(let name): return "'\(name)' is not in the trust store (see custody trust list)"
        case .trustIdentityDiffers(let path, let field, let given, let signed):
            return "\(field) '\(given)' differs from \(path), which says '\(signed)' (signed by the key holder); "
                + "nothing was changed"
        case .severalPEMBlocks(let path): return "\(path): holds more than one PEM block; give a file with one key"
        case .publicKeyUnusable(let path, let reason): return "\(path): not a usable public key: \(reason)"
        case .identityFileRefused(_, let reason): return reason
        case .publicKeyUnknownFormat(let path):
            return "\(path): not a PEM public key, verifier key or identity file"
        case .recordMalformed(let location, let problem): return "\(location): \(problem)"
        }
    }
}
