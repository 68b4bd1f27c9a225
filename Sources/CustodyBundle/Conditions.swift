import CustodyAge
import CustodyBase
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger

/// The conditions that travel with evidence (the Convention's safeguards): legal basis, case, use limitations,
/// onward-transfer rule and personal-data notes. Read from `--conditions FILE` (JSON) and command-line options.
public struct Conditions: Sendable, Equatable {
    /// Whether the evidence may be passed to a third jurisdiction.
    public enum OnwardTransfer: String, Sendable, Equatable {
        /// Only with the original sender's signed consent recorded (the default).
        case requiresConsent = "requires-consent"
        /// May be passed on without asking.
        case allowed = "allowed"
        /// May not be passed on.
        case forbidden = "forbidden"
    }

    /// The legal basis of the transfer or use.
    public var legalBasis: String?
    /// The case identifier.
    public var caseID: String?
    /// The mutual legal assistance request reference.
    public var mlaReference: String?
    /// Purposes the evidence may serve.
    public var purposes: [String] = []
    /// Proceedings the evidence may be used in.
    public var proceedings: [String] = []
    /// Whether the bundle may be passed on to a third jurisdiction.
    public var onwardTransfer: OnwardTransfer = .requiresConsent
    /// Categories of personal data present (e.g. "communications content", "location data").
    public var personalDataCategories: [String] = []
    /// Date until which personal data may be retained (YYYY-MM-DD).
    public var retentionUntil: String?
    /// Safeguards for the personal data.
    public var safeguards: [String] = []
    /// Fields the file had that custody does not interpret; kept and carried as they are.
    public var other: [String: JSONValue] = [:]

    /// Conditions with nothing stated (onward transfer requires consent).
    public init() {}

    static let knownKeys: Set<String> = ["legalBasis", "case", "mlaReference", "useLimitations", "personalData"]

    /// Parses conditions JSON, naming the file and the offending field on error.
    public init(json: JSONValue, source: String) throws {
        guard case .object(let members) = json else {
            throw BundleError.conditionsNotObject(source: source)
        }
        func string(_ value: JSONValue?, _ field: String) throws -> String? {
            guard let value else { return nil }
            guard let text = value.stringValue else {
                throw BundleError.conditionsFieldType(source: source, field: field, expected: "a string")
            }
            return text
        }
        func strings(_ value: JSONValue?, _ field: String) throws -> [String] {
            guard let value else { return [] }
            guard let array = value.arrayValue else {
                throw BundleError.conditionsFieldType(source: source, field: field, expected: "an array of strings")
            }
            return try array.map {
                guard let text = $0.stringValue else {
                    throw BundleError.conditionsFieldType(source: source, field: field,
                                                          expected: "an array of strings")
                }
                return text
            }
        }
        legalBasis = try string(members["legalBasis"], "legalBasis")
        caseID = try string(members["case"], "case")
        mlaReference = try string(members["mlaReference"], "mlaReference")
        if let limits = members["useLimitations"] {
            guard limits.objectValue != nil else {
                throw BundleError.conditionsFieldType(source: source, field: "useLimitations", expected: "an object")
            }
            purposes = try strings(limits["purposes"], "useLimitations.purposes")
            proceedings = try strings(limits["proceedings"], "useLimitations.proceedings")
            if let rule = try string(limits["onwardTransfer"], "useLimitations.onwardTransfer") {
                guard let parsed = OnwardTransfer(rawValue: rule) else {
                    throw BundleError.onwardTransferUnknown(source: source, rule: rule)
                }
                onwardTransfer = parsed
            }
        }
        if let personal = members["personalData"] {
            guard personal.objectValue != nil else {
                throw BundleError.conditionsFieldType(source: source, field: "personalData", expected: "an object")
            }
            personalDataCategories = try strings(personal["categories"], "personalData.categories")
            retentionUntil = try string(personal["retentionUntil"], "personalData.retentionUntil")
            if let date = retentionUntil, Timestamp(parsing: date) == nil {
                throw BundleError.retentionDateMalformed(source: source, date: date)
            }
            safeguards = try strings(personal["safeguards"], "personalData.safeguards")
        }
        other = members.filter { !Conditions.knownKeys.contains($0.key) }
    }

    /// The conditions as canonical JSON members (unknown fields kept).
    public var json: JSONValue {
        var members = other
        if let legalBasis { members["legalBasis"] = .string(legalBasis) }
        if let caseID { members["case"] = .string(caseID) }
        if let mlaReference { members["mlaReference"] = .string(mlaReference) }
        members["useLimitations"] = .object([
            "purposes": .array(purposes.map { .string($0) }),
            "proceedings": .array(proceedings.map { .string($0) }),
            "onwardTransfer": .string(onwardTransfer.rawValue),
        ])
        var personal: [String: JSONValue] = [
            "categories": .array(personalDataCategories.map { .string($0) }),
            "safeguards": .array(safeguards.map { .string($0) }),
        ]
        if let retentionUntil { personal["retentionUntil"] = .string(retentionUntil) }
        members["personalData"] = .object(personal)
        return .object(members)
    }

    /// Human-readable lines for reports and `verify`.
    public var summaryLines: [String] {
        var lines: [String] = []
        lines.append("legal basis: \(legalBasis ?? "(none given)")")
        if let caseID { lines.append("case: \(caseID)") }
        if let mlaReference { lines.append("MLA reference: \(mlaReference)") }
        if !purposes.isEmpty { lines.append("use limited to purposes: \(purposes.joined(separator: "; "))") }
        if !proceedings.isEmpty { lines.append("use limited to proceedings: \(proceedings.joined(separator: "; "))") }
        lines.append("onward transfer: \(onwardTransfer.rawValue)")
        if !personalDataCategories.isEmpty {
            lines.append("personal data: \(personalDataCategories.joined(separator: ", "))")
        }
        if let retentionUntil { lines.append("retain personal data until: \(retentionUntil)") }
        if !safeguards.isEmpty { lines.append("safeguards: \(safeguards.joined(separator: "; "))") }
        return lines
    }

    /// Reads a conditions file (at most 1 MiB).
    public static func load(_ path: String) throws -> Conditions {
        let bytes = try FileSystem.readFile(path, limit: 1 << 20)
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes)
        } catch {
            throw BundleError.conditionsNotJSON(source: path, reason: "\(error)")
        }
        return try Conditions(json: json, source: path)
    }
}
