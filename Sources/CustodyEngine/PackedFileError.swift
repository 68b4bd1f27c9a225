import CustodyBase

/// What reading a packed file at random (`PackedEvidenceFile`) throws: a broken member chain or a damaged chunk,
/// named by chunk index and packed byte offset.
public enum PackedFileError: CustodyFailure, Equatable {
    /// The file ends without its end-of-file member, after chunk `afterChunk` (-1: no chunk), at byte `offset`.
    case missingEndOfFileMember(path: String, afterChunk: Int64, offset: UInt64)
    /// A member header that cannot be parsed (chunk `chunk` at packed byte `offset`).
    case badMemberHeader(path: String, chunk: UInt64, offset: UInt64, problem: PackFormat.HeaderProblem)
    /// A member header giving another chunk size than the first.
    case chunkSizeDiffers(path: String, chunk: UInt64, offset: UInt64, found: Int, expected: Int)
    /// A member header carrying another index than its place in the file.
    case indexDiffers(path: String, chunk: UInt64, offset: UInt64, found: UInt64)
    /// The end-of-file member does not close the file (its count or the file's size differ).
    case endOfFileMemberMisplaced(path: String, offset: UInt64, counted: UInt64, chunks: UInt64, fileSize: UInt64)
    /// The end-of-file member is not the one custody writes.
    case malformedEndOfFileMember(path: String, offset: UInt64)
    /// A chunk asked for past the file's last.
    case noSuchChunk(index: Int, count: Int)
    /// A chunk that failed its checks (CRC-32, ISIZE, inflation, size).
    case damagedChunk(path: String, DamagedChunk)

    /// Whether the file failed a check, or was no packed file to begin with (a first header that is not
    /// custody's, a chunk that does not exist).
    public var kind: FailureKind {
        switch self {
        case .badMemberHeader(_, _, let offset, let problem) where offset == 0 && problem != .truncated:
            return .operational
        case .noSuchChunk:
            return .operational
        default:
            return .verification
        }
    }

    /// The one-line message for people.
    public var description: String {
        switch self {
        case .missingEndOfFileMember(let path, let afterChunk, let offset):
            return "\(path): missing end-of-file member after chunk \(afterChunk) (byte \(offset))"
        case .badMemberHeader(let path, let chunk, let offset, let problem):
            let place = offset == 0 ? "byte 0" : "chunk \(chunk) (packed byte \(offset))"
            return "\(path): \(place): \(problem.text)"
        case .chunkSizeDiffers(let path, let chunk, let offset, let found, let expected):
            return "\(path): chunk \(chunk) (packed byte \(offset)): member header gives chunk size \(found), not "
                + "\(expected)"
        case .indexDiffers(let path, let chunk, let offset, let found):
            return "\(path): chunk \(chunk) (packed byte \(offset)): member header carries index \(found)"
        case .endOfFileMemberMisplaced(let path, let offset, let counted, let chunks, let fileSize):
            return "\(path): end-of-file member at packed byte \(offset) does not close the file (counts \(counted) "
                + "chunks of \(chunks), file size \(fileSize))"
        case .malformedEndOfFileMember(let path, let offset):
            return "\(path): malformed end-of-file member at packed byte \(offset)"
        case .noSuchChunk(let index, let count):
            return "chunk \(index) does not exist: the file has \(count) chunks"
        case .damagedChunk(let path, let damage):
            return "\(path): \(damage)"
        }
    }
}
