import CustodyBase

/// What the I/O layer throws besides a failed system call (`SystemError`): files that are not what custody
/// expects, evidence that changed under a read, malformed records of sources and bad ranges, and a stop.
public enum IOError: CustodyFailure, Equatable {
    /// A work file custody keeps for itself is a link or special file (something planted there).
    case notOwnWorkFile(path: String)
    /// A file read whole is larger than `limit` bytes.
    case tooLarge(path: String, limit: Int)
    /// Evidence to acquire is a directory.
    case isDirectory(path: String)
    /// A mapped range of a file vanished (the file shrank) or the medium failed under it while it was read.
    case changedUnderMapping(path: String, offset: UInt64, count: Int)
    /// A device refused a geometry request (`ioctl`), `notBlockDevice` when the request does not apply to it.
    case deviceRequestFailed(path: String, request: String, code: Int32, notBlockDevice: Bool)
    /// A device reports a logical sector size that is not a power of two.
    case oddSectorSize(path: String, logicalSectorSize: UInt32)
    /// A signal handler could not be installed.
    case cannotHandleSignal(signal: Int32, code: Int32)
    /// A read stopped because the caller asked it to (`shouldStop`).
    case interrupted
    /// A long operation stopped on `signal` (its name, or "request"); `what` says what was kept or left.
    case stopped(signal: String, what: String)
    /// A JSON source description that does not fit SPEC.md section 7: `problem` names the member.
    case malformedSourceDescription(problem: String)
    /// A JSON list of bad ranges that is not what the log writes: `problem` names the entry.
    case malformedBadRanges(problem: String)

    /// Every case is an operation that could not be done.
    public var kind: FailureKind { .operational }

    /// The one-line message for people.
    public var description: String {
        switch self {
        case .notOwnWorkFile(let path):
            return "\(path): not a regular file of custody's own (a link or special file was put there); nothing "
                + "was written to it"
        case .tooLarge(let path, let limit):
            return "\(path): larger than \(ByteSize.describe(UInt64(limit))), refused"
        case .isDirectory(let path):
            return "\(path): is a directory, not a file or device to acquire"
        case .changedUnderMapping(let path, let offset, let count):
            return "\(path): changed size while being read (bytes in \(offset)-\(offset + UInt64(count) - 1) "
                + "vanished, or the medium failed under them); read it again once it is stable"
        case .deviceRequestFailed(let path, let request, let code, let notBlockDevice):
            if notBlockDevice { return "\(path): not a block device (\(request): \(systemErrorDescription(code)))" }
            return "\(path): \(request) failed: \(systemErrorDescription(code))"
        case .oddSectorSize(let path, let logical):
            return "\(path): the device reports a logical sector size of \(logical) bytes, not a power of two"
        case .cannotHandleSignal(let signal, let code):
            return "cannot handle signal \(signal): \(systemErrorDescription(code))"
        case .interrupted:
            return "interrupted"
        case .stopped(let signal, let what):
            return "interrupted by \(signal): \(what)"
        case .malformedSourceDescription(let problem):
            return "source description: \(problem)"
        case .malformedBadRanges(let problem):
            return "bad ranges: \(problem)"
        }
    }
}

extension SystemError: CustodyFailure {
    /// A failed system call is an operation that could not be done.
    public var kind: FailureKind { .operational }
}
