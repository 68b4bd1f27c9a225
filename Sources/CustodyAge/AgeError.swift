import CustodyBase
import CustodyCrypto
import CustodyIO

/// Why an age operation failed. Each case names where, in one line; the four failure classes the age test kit
/// distinguishes (header, header MAC, no matching identity, payload) map onto `failureClass`.
public enum AgeError: CustodyFailure, Equatable {
    /// No identity given could unwrap any recipient stanza.
    case noMatchingIdentity(stanzaCount: Int)
    /// The header is malformed (the reason names the line or stanza).
    case badHeader(String)
    /// The file ends inside the header or before the payload nonce is complete.
    case truncatedHeader(byteOffset: UInt64)
    /// The version line names a version other than v1.
    case unsupportedVersion(String)
    /// An X25519 stanza addressed to the identity type is malformed or unusable (wrong arguments, body size,
    /// low-order share).
    case badStanza(index: Int, reason: String)
    /// The header MAC does not match: the header was altered after encryption.
    case badHeaderMAC
    /// A payload chunk failed authentication: altered, or (for the final chunk) truncated inside the chunk.
    case payloadAuthenticationFailed(chunkIndex: UInt64, byteOffset: UInt64, isFinal: Bool)
    /// The payload ends without a final chunk (cut at a chunk boundary or inside the nonce/first tag).
    case truncated(byteOffset: UInt64)
    /// More data follows a valid final chunk.
    case trailingData(byteOffset: UInt64)
    /// The final chunk is empty although the payload is not.
    case emptyFinalChunk(chunkIndex: UInt64, byteOffset: UInt64)
    /// An identity or recipient string or file is malformed (the reason names where).
    case badKey(String)

    /// The test kit's failure classes.
    public enum FailureClass: String, Sendable {
        /// The header is malformed or truncated.
        case header = "header failure"
        /// The header MAC does not match.
        case headerMAC = "HMAC failure"
        /// No identity matches a stanza.
        case noMatch = "no match"
        /// A payload chunk is altered, truncated or misplaced.
        case payload = "payload failure"
        /// An identity or recipient is malformed.
        case key = "key failure"
    }

    /// The class of failure, as the age test kit names it.
    public var failureClass: FailureClass {
        switch self {
        case .noMatchingIdentity: return .noMatch
        case .badHeader, .truncatedHeader, .unsupportedVersion, .badStanza: return .header
        case .badHeaderMAC: return .headerMAC
        case .payloadAuthenticationFailed, .truncated, .trailingData, .emptyFinalChunk: return .payload
        case .badKey: return .key
        }
    }

    /// An operation that could not be done, whatever the class: callers that know the file was sent to them
    /// decide whether it is a failed check.
    public var kind: FailureKind { .operational }

    /// The message, prefixed with the part of the file it concerns (`age header:`, `age payload:`, `age key:`).
    public var description: String {
        switch self {
        case .noMatchingIdentity(let count):
            return "age: no identity matches any of the \(count) recipient stanza(s): not encrypted to this key"
        case .badHeader(let reason):
            return "age header: \(reason)"
        case .truncatedHeader(let offset):
            return "age header: file ends at byte \(offset), inside the header or the payload nonce (truncated)"
        case .unsupportedVersion(let line):
            return "age header: unsupported version line \"\(line)\" (only age-encryption.org/v1)"
        case .badStanza(let index, let reason):
            return "age header: recipient stanza \(index + 1): \(reason)"
        case .badHeaderMAC:
            return "age header: MAC mismatch: the header was altered"
        case .payloadAuthenticationFailed(let chunk, let offset, let isFinal):
            let suffix = isFinal ? " (altered, or the file is truncated inside it)" : " (altered)"
            return "age payload: chunk \(chunk) at byte \(offset) failed authentication\(suffix)"
        case .truncated(let offset):
            return "age payload: file ends at byte \(offset) without a final chunk (truncated)"
        case .trailingData(let offset):
            return "age payload: unexpected data at byte \(offset) after the final chunk"
        case .emptyFinalChunk(let chunk, let offset):
            return "age payload: final chunk \(chunk) at byte \(offset) is empty, which v1 forbids"
        case .badKey(let reason):
            return "age key: \(reason)"
        }
    }
}

/// Why an age operation could not be done for a reason outside the age format: the output file exists, the
/// input changed while it was read, or a worker could not process a chunk.
public enum AgeOperationError: CustodyFailure, Equatable {
    /// The file at `path` exists and is not replaced; `holdsKey` when it was to hold an identity.
    case outputExists(path: String, holdsKey: Bool)
    /// The input ended before the size it had when the operation started (at `byteOffset`).
    case inputShrank(byteOffset: UInt64)
    /// Chunk `chunkIndex` could not be processed (`reason` says why).
    case chunkFailed(chunkIndex: UInt64, reason: String)
    /// Chunk `chunkIndex` was never processed.
    case chunkNotProcessed(chunkIndex: UInt64)

    /// An operation that could not be done.
    public var kind: FailureKind { .operational }

    /// The message, naming the file, byte or chunk.
    public var description: String {
        switch self {
        case .outputExists(let path, let holdsKey):
            return "\(path): already exists; not overwriting" + (holdsKey ? " a key" : "")
        case .inputShrank(let offset): return "input shrank while being read (at byte \(offset))"
        case .chunkFailed(let chunk, let reason): return "age chunk \(chunk): \(reason)"
        case .chunkNotProcessed(let chunk): return "age chunk \(chunk): not processed"
        }
    }
}
