import CustodyAge
import CustodyBase
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger

/// The outcome of one check in a verification, with where it applies.
public struct VerificationCheck: Sendable, Equatable {
    /// A check's outcome.
    public enum Status: String, Sendable {
        /// The check held.
        case passed
        /// The check did not hold: verification fails.
        case failed
        /// Something a reader should know; verification does not fail.
        case warning
        /// The check was not made.
        case skipped
    }

    /// Short check name, e.g. `bagit.manifest-sha256`, `item 1 content`, `seal signature`.
    public var name: String
    /// The check's outcome.
    public var status: Status
    /// One line: what was found, naming the file, entry, chunk or byte range.
    public var detail: String

    /// A check named `name` with its outcome and detail.
    public init(_ name: String, _ status: Status, _ detail: String) {
        self.name = name
        self.status = status
        self.detail = detail
    }

    /// `{"detail","name","status"}`.
    public var json: JSONValue {
        .object(["check": .string(name), "status": .string(status.rawValue), "detail": .string(detail)])
    }
}

/// Every check of a verification, in the order made.
public struct VerificationReport: Sendable {
    /// The checks, in the order made.
    public var checks: [VerificationCheck] = []

    /// A report with no checks yet.
    public init() {}

    /// Whether no check failed.
    public var passed: Bool { !checks.contains { $0.status == .failed } }
    /// The checks that failed.
    public var failures: [VerificationCheck] { checks.filter { $0.status == .failed } }

    /// Records a check that passed.
    public mutating func pass(_ name: String, _ detail: String) { checks.append(.init(name, .passed, detail)) }
    /// Records a check that failed.
    public mutating func fail(_ name: String, _ detail: String) { checks.append(.init(name, .failed, detail)) }
    /// Records a warning: something a reader should know that does not fail verification.
    public mutating func warn(_ name: String, _ detail: String) { checks.append(.init(name, .warning, detail)) }
    /// Records a check that was not made.
    public mutating func skip(_ name: String, _ detail: String) { checks.append(.init(name, .skipped, detail)) }
}
