import CustodyBase
import CustodyIO
internal import COpenSSL

/// An error raised by OpenSSL, captured from its thread-local error queue.
public struct OpenSSLError: CustodyFailure {
    /// What custody was doing when OpenSSL failed.
    public var operation: String
    /// The reasons OpenSSL queued, oldest first.
    public var reasons: [String]

    /// OpenSSL could not do what was asked: an operation that could not be done.
    public var kind: FailureKind { .operational }

    /// `OPERATION failed`, then OpenSSL's reasons.
    public var description: String {
        reasons.isEmpty ? "\(operation) failed" : "\(operation) failed: \(reasons.joined(separator: "; "))"
    }

    /// Drains the calling thread's OpenSSL error queue into an error.
    public static func capture(_ operation: String) -> OpenSSLError {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return OpenSSLError(operation: operation, reasons: reasons)
    }

    /// Discards anything left on the queue (call before an operation whose failure is expected).
    public static func clearQueue() {
        ERR_clear_error()
    }
}
