import CustodyBase

/// Why an archive could not be written, or an extraction started or continued, for a reason other than a
/// refused member (that is a `TarError`). Every case is an operation that could not be done.
public enum TarArchiveError: CustodyFailure, Equatable {
    /// A member name that is empty.
    case emptyMemberName
    /// A member name that starts with `/`.
    case absoluteMemberName(String)
    /// A member name holding a control character or a backslash.
    case controlCharacterInMemberName(String)
    /// A member name with an empty, `.` or `..` component.
    case badComponentInMemberName(String)
    /// The content of `member` ended at `byteOffset`, before its `expectedSize`.
    case inputShrank(member: String, byteOffset: UInt64, expectedSize: UInt64)
    /// The content of `member` grew beyond its `expectedSize` while it was archived.
    case inputGrew(member: String, expectedSize: UInt64)
    /// The file at `path` is neither a regular file nor a directory.
    case unsupportedFileType(path: String)
    /// The file or directory at `path` could not be read while it was archived (`reason` in the system's words).
    case unreadable(path: String, reason: String)
    /// The extraction destination exists and is not a directory.
    case destinationNotDirectory(String)
    /// The extraction destination exists and is not empty.
    case destinationNotEmpty(String)
    /// More bytes were given to an extraction that had already failed.
    case extractionAlreadyFailed

    /// An operation that could not be done.
    public var kind: FailureKind { .operational }

    /// The message, naming the member or the path.
    public var description: String {
        switch self {
        case .emptyMemberName: return "tar: empty member name"
        case .absoluteMemberName(let name): return "tar: \(name): absolute member name"
        case .controlCharacterInMemberName(let name):
            return "tar: \(name): control character or backslash in member name"
        case .badComponentInMemberName(let name): return "tar: \(name): empty, '.' or '..' component in member name"
        case .inputShrank(let member, let offset, let size):
            return "tar: \(member): ended at byte \(offset), expected \(size) bytes"
        case .inputGrew(let member, let size): return "tar: \(member): grew beyond \(size) bytes while archived"
        case .unsupportedFileType(let path): return "tar: \(path): not a regular file or directory; refused"
        case .unreadable(let path, let reason): return "tar: \(path): \(reason)"
        case .destinationNotDirectory(let path): return "\(path): exists and is not a directory; refusing to extract"
        case .destinationNotEmpty(let path): return "\(path): exists and is not empty; refusing to extract"
        case .extractionAlreadyFailed: return "tar: extraction already failed"
        }
    }
}
