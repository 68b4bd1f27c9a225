import CustodyBase
import CustodyCrypto
import CustodyIO
internal import CZlib

/// A raw-deflate (windowBits -15) compressor over a `z_stream` at a fixed heap address.
/// Used by one thread at a time; reusable across chunks.
final class RawDeflater: ChunkDeflater, @unchecked Sendable {
    private let stream: UnsafeMutablePointer<z_stream>
    let level: Int32
    private var currentLevel: Int32

    init(level: Int) throws {
        self.level = Int32(level)
        currentLevel = Int32(level)
        stream = try ZStream.make(call: "deflateInit2") {
            custody_deflateInit2($0, Int32(level), Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY)
        }
    }

    deinit {
        ZStream.free(stream, end: deflateEnd)
    }

    /// Compresses `input` as one complete raw deflate stream into `output`. Returns the compressed length,
    /// or nil when the stream does not fit in `output` (the caller then stores the chunk instead).
    ///
    /// With `segment` set, the input is fed in segments of that many bytes and a segment that `incompressible`
    /// flags is written at level 0 (stored blocks) inside the same stream, so the random parts of a mixed
    /// chunk cost a copy instead of a futile search for matches.
    func compress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
                  segment: Int?, incompressible: (UnsafeRawBufferPointer) -> Bool) throws -> Int? {
        guard deflateReset(stream) == Z_OK else { throw EngineError.zlib(call: "deflateReset", status: nil) }
        guard try setLevel(level) else { return nil }
        applyProfile()
        stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
        stream.pointee.avail_out = UInt32(output.count)
        let step = segment ?? max(input.count, 1)
        var offset = 0
        repeat {
            let end = min(input.count, offset + step)
            let piece = UnsafeRawBufferPointer(rebasing: input[offset..<end])
            if segment != nil {
                guard try setLevel(incompressible(piece) ? 0 : level) else { return nil }
            }
            stream.pointee.next_in = UnsafeMutablePointer(
                mutating: piece.baseAddress?.assumingMemoryBound(to: UInt8.self))
            stream.pointee.avail_in = UInt32(piece.count)
            let last = end == input.count
            let status = deflate(stream, last ? Z_FINISH : Z_NO_FLUSH)
            switch status {
            case Z_STREAM_END: return output.count - Int(stream.pointee.avail_out)
            case Z_OK, Z_BUF_ERROR:
                if last || stream.pointee.avail_out == 0 || stream.pointee.avail_in != 0 { return nil }
            default: throw EngineError.zlib(call: "deflate", status: status)
            }
            offset = end
        } while offset < input.count
        return nil
    }

    /// custody's level 1 is zlib's level 1 with at most 2 hash-chain probes per position (zlib: 4) and matches of
    /// 6 bytes taken at once (zlib: 8): about 4% less CPU for 0.6% more output on the disk-like corpus. zlib resets
    /// these on `deflateReset` and on a level change, so they are set again after both. Other levels are zlib's.
    private func applyProfile() {
        if level == 1 { deflateTune(stream, 4, 4, 6, 2) }
    }

    /// Switches the compression level between segments; false when the flush this needs does not fit.
    private func setLevel(_ wanted: Int32) throws -> Bool {
        guard wanted != currentLevel else { return true }
        let status = deflateParams(stream, wanted, Z_DEFAULT_STRATEGY)
        switch status {
        case Z_OK:
            currentLevel = wanted
            if wanted == level { applyProfile() }
            return true
        case Z_BUF_ERROR:
            return false
        default:
            throw EngineError.zlib(call: "deflateParams", status: status)
        }
    }
}

/// What inflating one member's deflate data gave.
enum InflateOutcome: Equatable {
    /// The stream ended after consuming `consumed` input bytes and producing `produced` bytes.
    case complete(produced: Int, consumed: Int)
    /// The stream produced more than the output can hold (more than the chunk size).
    case overflow
    /// The input ended before the deflate stream did.
    case truncated
    /// zlib found invalid deflate data.
    case corrupt(String)
}

/// A raw-inflate (windowBits -15) decompressor over a `z_stream` at a fixed heap address.
final class RawInflater: ChunkInflater, @unchecked Sendable {
    private let stream: UnsafeMutablePointer<z_stream>

    init() throws {
        stream = try ZStream.make(call: "inflateInit2") { custody_inflateInit2($0, -15) }
    }

    deinit {
        ZStream.free(stream, end: inflateEnd)
    }

    /// Inflates `input` into `output` (whose size is the limit).
    func inflate(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> InflateOutcome {
        guard inflateReset(stream) == Z_OK else { return .corrupt("inflateReset failed") }
        stream.pointee.next_in = UnsafeMutablePointer(
            mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
        stream.pointee.avail_in = UInt32(input.count)
        stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
        stream.pointee.avail_out = UInt32(output.count)
        let status = CZlib.inflate(stream, Z_FINISH)
        let produced = output.count - Int(stream.pointee.avail_out)
        let consumed = input.count - Int(stream.pointee.avail_in)
        switch status {
        case Z_STREAM_END:
            return .complete(produced: produced, consumed: consumed)
        case Z_BUF_ERROR, Z_OK:
            return stream.pointee.avail_out == 0 ? .overflow : .truncated
        case Z_DATA_ERROR:
            let message = stream.pointee.msg.map { String(cString: $0) } ?? "invalid deflate data"
            return .corrupt(message)
        default:
            return .corrupt("zlib status \(status)")
        }
    }
}

/// The life of a `z_stream` at a fixed heap address, shared by the deflater and the inflater.
private enum ZStream {
    /// A stream set up by `initialize` (a zlib `*Init2` call named `call`); throws with zlib's status when it fails.
    static func make(call: String, _ initialize: (UnsafeMutablePointer<z_stream>) -> Int32) throws
        -> UnsafeMutablePointer<z_stream> {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = initialize(stream)
        guard status == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw EngineError.zlib(call: call, status: status)
        }
        return stream
    }

    /// Ends the stream (`deflateEnd` or `inflateEnd`) and frees it.
    static func free(_ stream: UnsafeMutablePointer<z_stream>, end: (UnsafeMutablePointer<z_stream>) -> Int32) {
        _ = end(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }
}
