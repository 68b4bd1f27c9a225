import CustodyAge
import CustodyBase
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger

/// The outcome of one check in a verification, with where it applies.
public struct VerificationCheck: Sendable, Equatable {
    public enum Status: String, Sendable {
        case passed, failed, warning, skipped
    }

    /// Short check name, e.g. `bagit.manifest-sha256`, `item 1 content`, `seal signature`.
    public var name: String
    public var status: Status
    /// One line: what was found, naming the file, entry, chunk or byte range.
    public var detail: String

    public init(_ name: String, _ status: Status, _ detail: String) {
        self.name = name
        self.status = status
        self.detail = detail
    }

    public var json: JSONValue {
        .object(["check": .string(name), "status": .string(status.rawValue), "detail": .string(detail)])
    }
}

/// Every check of a verification, in the order made.
public struct VerificationReport: Sendable {
    public var checks: [VerificationCheck] = []

    public init() {}

    public var passed: Bool { !checks.contains { $0.status == .failed } }
    public var failures: [VerificationCheck] { checks.filter { $0.status == .failed } }

    public mutating func pass(_ name: String, _ detail: String) { checks.append(.init(name, .passed, detail)) }
    public mutating func fail(_ name: String, _ detail: String) { checks.append(.init(name, .failed, detail)) }
    public mutating func warn(_ name: String, _ detail: String) { checks.append(.init(name, .warning, detail)) }
    public mutating func skip(_ name: String, _ detail: String) { checks.append(.init(name, .skipped, detail)) }
}
