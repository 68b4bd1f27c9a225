import CustodyKit

/// An error the command line itself finds (a flag's value, an output that exists, a refusal it words for the
/// user): a one-line message and its kind, reported like every library failure by `Custody.report(_:)`.
struct CommandError: CustodyFailure, Equatable {
    /// The one-line message, naming flags as the user typed them.
    var message: String
    /// Whether it reports a failed check or an operation that could not be done.
    var kind: FailureKind

    /// A failure with `message` of `kind` (operational unless said otherwise).
    init(_ message: String, kind: FailureKind = .operational) {
        self.message = message
        self.kind = kind
    }

    /// An operation that could not be done (exit 2).
    static func operational(_ message: String) -> CommandError {
        CommandError(message, kind: .operational)
    }

    /// A check that failed (exit 1).
    static func verification(_ message: String) -> CommandError {
        CommandError(message, kind: .verification)
    }

    var description: String { message }
}
