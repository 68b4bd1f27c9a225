import CustodyBase
import CustodyIO

/// What the engine throws (hashing, packing, unpacking, benchmarks, hash lists), each case with the data a caller
/// needs. Damage found while unpacking is reported in the result, not thrown.
public enum EngineError: CustodyFailure, Equatable {
    /// What was being done to an input that changed size under the read.
    public enum Activity: String, Sendable {
        /// Hashing it.
        case hash
        /// Packing it.
        case pack
    }

    /// A name in a comma-separated list (`what`: "algorithm", "stage") is not one of `choices`.
    case unknownName(what: String, name: String, list: String, choices: [String])
    /// A chunk size that is not a power of two from 64 KiB to 64 MiB.
    case chunkSizeNotAllowed(UInt64)
    /// A compression level outside 0...9.
    case levelNotAllowed(Int)
    /// A regular file changed size while it was read.
    case changedSize(path: String, EvidenceSource.SizeChange, activity: Activity)
    /// A zlib call failed (`status` when zlib gave one).
    case zlib(call: String, status: Int32?)
    /// An ISA-L call failed (`detail` says why, e.g. the library is missing).
    case isal(call: String, detail: String)
    /// A resume point was asked for where the content does not end on a chunk boundary.
    case resumePointNotWholeChunks(size: UInt64, chunkSize: Int)
    /// A resume point was made with other linear digests than the pipeline computes.
    case resumePointDigestsDiffer(resumePoint: [String], pipeline: [String])
    /// A resume point's leaves do not match its chunk count.
    case resumePointLeavesDiffer(leaves: Int, chunks: UInt64)
    /// A resume point was made with other packed-file digests than the packer computes.
    case resumePointPackedDigestsDiffer
    /// The input to unpack is not a custody packed file at all (its first member header).
    case notPackedFile(PackFormat.HeaderProblem)
    /// Salvaging chunk `chunk` needed more memory than there was.
    case outOfMemorySalvaging(chunk: UInt64)
    /// The output to write is the input.
    case outputIsInput(path: String)
    /// The output to write is a directory.
    case outputIsDirectory(path: String)
    /// The output to write exists and overwriting was not asked for.
    case outputExists(path: String)
    /// A line of a hash list (`source`, 1-based `line`) that cannot be used; `problem` says why.
    case hashList(source: String, line: Int, problem: String)

    /// The system refused every thread a collection run needs.
    case noThreads

    /// Every case is an operation that could not be done.
    public var kind: FailureKind { .operational }

    /// The one-line message for people.
    public var description: String {
        switch self {
        case .unknownName(let what, let name, let list, let choices):
            return "unknown \(what) '\(name)' in '\(list)': choose from \(choices.joined(separator: ", "))"
        case .chunkSizeNotAllowed(let size):
            return "chunk size \(size) is not a power of two from 64K to 64M (for example 64K, 1M, 4M, 64M)"
        case .levelNotAllowed(let level):
            return "compression level \(level) is not in 0...9"
        case .changedSize(let path, let change, let activity):
            return "\(path): changed size while being read (\(change.atStart) bytes at start, \(change.atEnd) at "
                + "end, \(change.read) read); \(activity.rawValue) it again once it is stable"
        case .noThreads:
            return "the system refused to start the threads for hashing the collection; try again with fewer "
                + "processes running"
        case .zlib(let call, let status):
            return "zlib: \(call) failed" + (status.map { " (status \($0))" } ?? "")
        case .isal(let call, let detail):
            return "ISA-L: \(call): \(detail)"
        case .resumePointNotWholeChunks(let size, let chunkSize):
            return "a resume point needs whole chunks: \(size) bytes is not a multiple of the chunk size \(chunkSize)"
        case .resumePointDigestsDiffer(let resumePoint, let pipeline):
            return "resume point digests (\(resumePoint)) differ from the pipeline's (\(pipeline))"
        case .resumePointLeavesDiffer(let leaves, let chunks):
            return "resume point holds \(leaves) leaves for \(chunks) chunks"
        case .resumePointPackedDigestsDiffer:
            return "resume point packed digests differ from the packer's"
        case .notPackedFile(let problem):
            return "byte 0: \(problem.text)"
        case .outOfMemorySalvaging(let chunk):
            return "out of memory while salvaging chunk \(chunk)"
        case .outputIsInput(let path):
            return "\(path): is the input; write the output to another file"
        case .outputIsDirectory(let path):
            return "\(path): is a directory; name an output file"
        case .outputExists(let path):
            return "\(path): already exists; choose another name"
        case .hashList(let source, let line, let problem):
            return "\(source):\(line): \(problem)"
        }
    }
}
