import CustodyBase
import CustodyIO

/// A field of `SealParameters`, by the name the journal gives it: what a resumed seal must keep.
public enum SealParameter: String, Sendable, CaseIterable {
    /// The inputs as given.
    case inputs
    /// The tree digest's chunk size.
    case chunkSize
    /// Whether items are packed (custody gzip) or stored raw.
    case compress
    /// The compression level.
    case level
    /// The linear digests of each item.
    case linearDigests
    /// The case number.
    case caseNumber
    /// The evidence number.
    case evidenceNumber
    /// The examiner's name.
    case examiner
    /// The description of the evidence.
    case description
    /// The notes recorded with each item.
    case notes
    /// The conditions (legal basis, case, limitations).
    case conditions
}

/// How a resumed seal's parameters differ from the interrupted run's: the first field that differs, both values.
public struct SealParameterDifference: Sendable, Equatable {
    /// The field that differs.
    public var parameter: SealParameter
    /// The interrupted seal's value (canonical JSON).
    public var recorded: String
    /// This run's value (canonical JSON).
    public var given: String
}

/// What sealing throws, each case with the data a caller needs. The command line words the cases that a flag
/// answers (`--out`, `--resume`); the descriptions here name no flag.
public enum SealError: CustodyFailure, Equatable {
    /// The signing key is not the ledger's owner.
    case keyDoesNotOwnLedger(key: String, owner: String)
    /// An input cannot be sealed (`problem` names it: missing, unreadable, a directory without files).
    case inputRefused(problem: String)
    /// An input is standard input, a FIFO or a character device.
    case notFileOrDevice(path: String)
    /// The inputs hold no file.
    case nothingToSeal(paths: [String])
    /// The inputs hold more items than a bundle can.
    case tooManyItems(count: Int, maximum: Int)
    /// The seal stopped on request; its partial work at `workPath` is kept for a resume.
    case interrupted(finalPath: String, workPath: String)
    /// A resume was asked for but there is no work directory.
    case noInterruptedSeal(finalPath: String, workPath: String)
    /// The bundle's path names no folder.
    case bundlePathUnnamed(out: String)
    /// The bundle exists already.
    case bundleExists(path: String)
    /// A new seal was asked for where an interrupted one is kept.
    case interruptedSealExists(finalPath: String, workPath: String)
    /// A folder of the work directory is a link or file.
    case notADirectory(path: String, workPath: String)
    /// Another seal holds the work directory's lock.
    case workDirectoryInUse(workPath: String)
    /// A file the interrupted seal wrote is missing or changed.
    case keptFileChanged(path: String, workPath: String)
    /// Something other than a file or folder is in the work directory.
    case unexpectedEntry(path: String, kind: String, workPath: String)
    /// A file the seal did not write is in the work directory.
    case strayFile(path: String, workPath: String)
    /// The work directory has no journal.
    case noJournal(workPath: String, journalPath: String)
    /// The journal cannot be read or parsed (`reason`: the underlying error).
    case unreadableJournal(journalPath: String, workPath: String, reason: String)
    /// The journal parses but does not hold what a seal journal holds (`problem` names the field).
    case malformedJournal(journalPath: String, workPath: String, problem: String)
    /// A journaled parameter is missing or malformed.
    case malformedParameter(location: String, key: String)
    /// A resume with other parameters than the interrupted run's.
    case parametersDiffer(workPath: String, SealParameterDifference)
    /// A resume whose item `number` is another input than the interrupted run's.
    case itemDiffers(number: Int, path: String, name: String, recordedPath: String, recordedName: String)
    /// A resume whose inputs hold another number of items.
    case itemCountDiffers(count: Int, recorded: Int)
    /// The source of the item in progress changed since the interruption (`recorded`, `now`: its identity).
    case sourceChanged(path: String, recorded: String, now: String, workPath: String)
    /// The journal lost the item in progress.
    case lostItemInProgress(journalPath: String)
    /// A regular file changed size while it was sealed.
    case changedSize(path: String, EvidenceSource.SizeChange)
    /// A source was written to while it was sealed, its size unchanged (status-change or modification time moved).
    case changedWhileRead(path: String, EvidenceSource.ReadChange)
    /// A raw payload holds fewer chunks than the journal says were durable.
    case payloadShorterThanJournal(path: String, chunks: UInt64, journaled: UInt64)
    /// The journaled ledger entries are not this seal's.
    case journaledEntriesNotOurs(journalPath: String, sequences: [UInt64], bundleID: String)
    /// The journal records a ledger larger than the ledger is.
    case ledgerShorterThanJournal(journalPath: String, journaled: UInt64, ledger: String, size: UInt64)
    /// The ledger holds some, not all, of this seal's entries.
    case ledgerEntriesIncomplete(ledger: String, found: Int, bundleID: String, from: UInt64, expected: Int)
    /// The seal statement (`custody/seal.txt`) does not parse: `problem` names the line.
    case malformedStatement(problem: String)

    /// A malformed statement fails a check; everything else is an operation that could not be done.
    public var kind: FailureKind {
        if case .malformedStatement = self { return .verification }
        return .operational
    }

    /// The one-line message for people.
    public var description: String {
        switch self {
        case .keyDoesNotOwnLedger(let key, let owner):
            return "the key '\(key)' does not own the ledger (owner: \(owner)); seal with the ledger owner's key"
        case .inputRefused(let problem):
            return problem
        case .notFileOrDevice(let path):
            return "\(path): seal reads files, directories and block devices, not standard input, FIFOs or "
                + "character devices"
        case .nothingToSeal(let paths):
            return "no files to seal in \(paths.joined(separator: ", "))"
        case .tooManyItems(let count, let maximum):
            return "the inputs name \(count) files; an image bundle holds at most \(maximum) (its seal entry lists "
                + "every item within the ledger's 1 MiB entry limit): seal the folder holding them instead (a "
                + "collection bundle has no item limit)"
        case .interrupted(let finalPath, let workPath):
            return "interrupted: the partial seal of \(finalPath) is kept in \(workPath); resume it to continue"
        case .noInterruptedSeal(let finalPath, let workPath):
            return "no interrupted seal of \(finalPath) to resume: \(workPath) does not exist (seal it anew)"
        case .bundlePathUnnamed(let out):
            return "'\(out)': name the new bundle folder (for example case-42)"
        case .bundleExists(let path):
            return "\(path): already exists; choose a new bundle path"
        case .interruptedSealExists(let finalPath, let workPath):
            return "an interrupted seal of \(finalPath) exists at \(workPath): resume it, or remove it"
        case .notADirectory(let path, let workPath):
            return "\(path): not a directory (a link or file was put there); the seal cannot go on in \(workPath)"
        case .workDirectoryInUse(let workPath):
            return "\(workPath) is in use by another custody seal; wait for it to end"
        case .keptFileChanged(let path, let workPath):
            return "\(path): missing or changed since the interrupted seal wrote it; remove \(workPath) and seal again"
        case .unexpectedEntry(let path, let kind, let workPath):
            return "\(path): a \(kind) in the interrupted seal; remove \(workPath) and seal again"
        case .strayFile(let path, let workPath):
            return "\(path): not written by the seal; remove it (or \(workPath)) and resume again"
        case .noJournal(let workPath, let journalPath):
            return "\(workPath) has no seal journal (\(journalPath)): it cannot be resumed; remove it and seal again"
        case .unreadableJournal(let journalPath, let workPath, let reason):
            return "\(journalPath): unreadable seal journal (\(reason)); remove \(workPath) and seal again"
        case .malformedJournal(let journalPath, let workPath, let problem):
            return "\(journalPath): \(problem); remove \(workPath) and seal again"
        case .malformedParameter(let location, let key):
            return "\(location): parameter '\(key)' missing or malformed"
        case .parametersDiffer(let workPath, let difference):
            return "cannot resume the seal in \(workPath): \(difference.parameter.rawValue) differs: the interrupted "
                + "seal used \(difference.recorded), this command gives \(difference.given) (resume with the same "
                + "parameters, or with those the journal records)"
        case .itemDiffers(let number, let path, let name, let recordedPath, let recordedName):
            return "cannot resume: item \(number) is now \(path) (\(name)); the interrupted seal had \(recordedPath) "
                + "(\(recordedName))"
        case .itemCountDiffers(let count, let recorded):
            return "cannot resume: the inputs now hold \(count) item(s); the interrupted seal had \(recorded)"
        case .sourceChanged(let path, let recorded, let now, let workPath):
            return "\(path): changed since the interrupted seal (then \(recorded), now \(now)); resume with the "
                + "original source, or remove \(workPath) and seal again"
        case .lostItemInProgress(let journalPath):
            return "\(journalPath): lost the item in progress"
        case .changedWhileRead(let path, let change):
            return "\(path): changed while being sealed (\(change.summary)): it was written to during the read, so "
                + "its digests match no version of it; seal it again once it is stable"
        case .changedSize(let path, let change):
            return "\(path): changed size while being sealed (\(change.atStart) bytes at start, \(change.atEnd) at "
                + "end, \(change.read) read); seal it again once it is stable"
        case .payloadShorterThanJournal(let path, let chunks, let journaled):
            return "\(path): holds \(chunks) chunks, the journal \(journaled); remove the partial seal and seal again"
        case .journaledEntriesNotOurs(let journalPath, let sequences, let bundleID):
            return "\(journalPath): the journaled ledger entries \(sequences) are not this seal's (bundle \(bundleID))"
        case .ledgerShorterThanJournal(let journalPath, let journaled, let ledger, let size):
            return "\(journalPath): records the ledger at \(journaled) entries but \(ledger) holds \(size) (the "
                + "journal or the ledger was altered); nothing was appended"
        case .ledgerEntriesIncomplete(let ledger, let found, let bundleID, let from, let expected):
            return "\(ledger): \(found) entries for bundle \(bundleID) from entry \(from) on, expected \(expected) or "
                + "none; the interrupted seal cannot be finished"
        case .malformedStatement(let problem):
            return "seal: \(problem)"
        }
    }
}
