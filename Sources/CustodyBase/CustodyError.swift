/// Exit status categories shared by every command (see CONTRACT.md).
public enum ExitStatus: Int32, Sendable {
    /// Success, everything verified.
    case success = 0
    /// A verification failure or a difference was found.
    case verificationFailed = 1
    /// Usage error or operational error (unreadable input, bad key, corrupt file...).
    case operationalError = 2
}

/// An error that carries a one-line, user-facing message and the exit status it maps to.
public struct CustodyError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public var status: ExitStatus

    public init(_ message: String, status: ExitStatus = .operationalError) {
        self.message = message
        self.status = status
    }

    /// An operational error (exit 2).
    public static func operational(_ message: String) -> CustodyError {
        CustodyError(message, status: .operationalError)
    }

    /// A verification failure (exit 1).
    public static func verification(_ message: String) -> CustodyError {
        CustodyError(message, status: .verificationFailed)
    }

    public var description: String { message }
}
