import CustodyBase
import CustodyIO
internal import CCustodyISAL
import Synchronization

/// The library that deflates and inflates the members of custody's gzip format (SPEC 3.4). The file format is the
/// same whichever writes it: every member either engine writes inflates with the other and with `gzip`.
///
/// ISA-L (Intel's Intelligent Storage Acceleration Library, `libisal2`) serves levels 1 to 3 and every inflate
/// when the build machine had its header (`libisal-dev`) and the running machine has the library; zlib serves
/// levels 4 to 9, and everything when ISA-L is missing or turned off. Level 0 stores chunks without an engine.
public enum CompressionEngine: String, Sendable, CaseIterable {
    /// ISA-L's igzip: custody levels 1, 2, 3 are igzip levels 1, 2, 3 (igzip's level 0, faster and larger than
    /// `pigz -1`, is not used).
    case isal = "ISA-L"
    /// zlib's deflate and inflate (windowBits -15); custody's level 1 is zlib's level 1 with a lighter search.
    case zlib

    /// Whether ISA-L may be used when it is loaded: true unless the program turns it off for the whole process
    /// (the command line does when `CUSTODY_ZLIB_ONLY` is set; tests do to compare the engines).
    public static var allowsISAL: Bool {
        get { isalAllowed.load(ordering: .relaxed) }
        set { isalAllowed.store(newValue, ordering: .relaxed) }
    }
    private static let isalAllowed = Atomic<Bool>(true)

    /// Whether ISA-L was found: its header at build time and `libisal.so.2` at run time.
    public static var isalLoaded: Bool { custody_isal_available() == 1 }

    /// The library loaded, or why ISA-L is not available (for `--version`, `bench` and verbose output).
    public static var isalStatus: String { String(cString: custody_isal_status()) }

    /// The highest custody level ISA-L serves.
    public static let isalMaximumLevel = 3

    /// The engine that deflates chunks at `level` (1-9) in this process.
    public static func deflating(level: Int) -> CompressionEngine {
        level <= isalMaximumLevel && allowsISAL && isalLoaded ? .isal : .zlib
    }

    /// The engine that inflates members in this process.
    public static var inflating: CompressionEngine { allowsISAL && isalLoaded ? .isal : .zlib }

    /// One line for people: which engine serves which levels here.
    public static var summary: String {
        guard allowsISAL else { return "zlib for every level (ISA-L turned off)" }
        guard isalLoaded else { return "zlib for every level (ISA-L: \(isalStatus))" }
        return "ISA-L (\(isalStatus)) for levels 1-3 and inflating, zlib for levels 4-9"
    }

    /// A deflater for one worker at `level` (1-9), from `engine` (by default the one serving that level). ISA-L
    /// asked for a level above 3, or when it is not loaded, is refused.
    static func makeDeflater(level: Int, engine: CompressionEngine? = nil) throws -> any ChunkDeflater {
        switch engine ?? deflating(level: level) {
        case .isal: return try ISALDeflater(level: level)
        case .zlib: return try RawDeflater(level: level)
        }
    }

    /// An inflater for one worker, from the engine that inflates here.
    static func makeInflater() throws -> any ChunkInflater {
        switch inflating {
        case .isal: return try ISALInflater()
        case .zlib: return try RawInflater()
        }
    }
}

/// Compresses one chunk into one complete raw deflate stream; used by one thread at a time, reused across chunks.
protocol ChunkDeflater: AnyObject, Sendable {
    /// Compresses `input` into `output`; the compressed length, or nil when the stream does not fit (the caller
    /// then stores the chunk). `segment` and `incompressible` let an engine store the random parts of a chunk.
    func compress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, segment: Int?,
                  incompressible: (UnsafeRawBufferPointer) -> Bool) throws -> Int?
}

/// Inflates one member's raw deflate data; used by one thread at a time.
protocol ChunkInflater: AnyObject, Sendable {
    /// Inflates `input` into `output`, whose size is the limit.
    func inflate(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> InflateOutcome
}

/// ISA-L's stateless deflate at igzip level = custody level (1-3), with its level buffer.
final class ISALDeflater: ChunkDeflater, @unchecked Sendable {
    private let context: UnsafeMutableRawPointer

    init(level: Int) throws {
        guard level <= CompressionEngine.isalMaximumLevel, let context = custody_isal_deflater_new(Int32(level)) else {
            throw EngineError.isal(call: "deflate context (level \(level))", detail: CompressionEngine.isalStatus)
        }
        self.context = context
    }

    deinit { custody_isal_deflater_free(context) }

    func compress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, segment: Int?,
                  incompressible: (UnsafeRawBufferPointer) -> Bool) throws -> Int? {
        let inputBase = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        let result = custody_isal_deflate(context, inputBase, input.count,
                                          output.baseAddress!.assumingMemoryBound(to: UInt8.self), output.count)
        switch result {
        case -1: return nil
        case ..<0: throw EngineError.isal(call: "isal_deflate_stateless", detail: "failed")
        default: return result
        }
    }
}

/// ISA-L's stateless inflate of raw deflate data.
final class ISALInflater: ChunkInflater, @unchecked Sendable {
    private let context: UnsafeMutableRawPointer

    init() throws {
        guard let context = custody_isal_inflater_new() else {
            throw EngineError.isal(call: "inflate context", detail: CompressionEngine.isalStatus)
        }
        self.context = context
    }

    deinit { custody_isal_inflater_free(context) }

    func inflate(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> InflateOutcome {
        var produced = 0
        var consumed = 0
        let status = custody_isal_inflate(context, input.baseAddress?.assumingMemoryBound(to: UInt8.self),
                                          input.count, output.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                          output.count, &produced, &consumed)
        switch Int(status) {
        case Int(CUSTODY_ISAL_INFLATE_COMPLETE): return .complete(produced: produced, consumed: consumed)
        case Int(CUSTODY_ISAL_INFLATE_OVERFLOW): return .overflow
        case Int(CUSTODY_ISAL_INFLATE_TRUNCATED): return .truncated
        default: return .corrupt("invalid deflate data")
        }
    }
}
