/// What an error says, for a caller that must act on it: that something checked did not hold, or that the
/// operation could not be done. The command line turns it into its exit status (CONTRACT.md), in one place.
public enum FailureKind: Sendable, Equatable {
    /// A check failed: a digest, signature, proof, chain or format that evidence or a record must satisfy
    /// (tampered, forged, truncated or inconsistent input).
    case verification
    /// The operation could not be done: missing or unreadable input, a bad argument or key, a full disk.
    case operational
}

/// Every error custody's library throws: a one-line message for people (what, where, and what to do next, as
/// `description`) and its `kind`. Each layer throws its own enum of cases carrying the data a caller needs.
public protocol CustodyFailure: Error, CustomStringConvertible, Sendable {
    /// Whether the error reports a failed check or an operation that could not be done.
    var kind: FailureKind { get }
}
