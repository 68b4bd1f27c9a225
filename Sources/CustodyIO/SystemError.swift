import CustodyBase
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The system's description of an errno value.
public func systemErrorDescription(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "error \(code)" }
    return String(cString: text)
}

/// A system call failure carrying errno.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    /// The call that failed, in words (`open`, `read`).
    public var operation: String
    /// The path it failed on, if any.
    public var path: String?
    /// The errno value.
    public var code: Int32

    /// A failure of `operation` on `path` (if any) with errno `code`.
    public init(operation: String, path: String? = nil, code: Int32) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    /// `PATH: OPERATION: REASON` (no path: `OPERATION: REASON`).
    public var description: String {
        let reason = systemErrorDescription(code)
        if let path { return "\(path): \(operation): \(reason)" }
        return "\(operation): \(reason)"
    }
}
