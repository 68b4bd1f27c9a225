#if canImport(Glibc)
import Glibc
#endif

/// Reads `\n`-terminated lines from a file descriptor through one reusable buffer, so a file of any number of
/// lines is read in bounded memory. A line longer than `maximumLength` is an error naming the file and the line.
public struct LineReader {
    /// Why a line could not be read.
    public enum Failure: Error, Equatable {
        /// Line `line` (from 1) is longer than the limit.
        case lineTooLong(line: Int, limit: Int)
        /// The file ends without a `\n` after its last line.
        case unterminated(line: Int)
    }

    private let descriptor: FileDescriptor
    private let maximumLength: Int
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false
    /// The number of lines returned so far.
    public private(set) var lineNumber = 0
    /// The byte offset, in the file, of the next line.
    public private(set) var offset: UInt64 = 0

    /// A reader of `descriptor` from its current position, refusing lines over `maximumLength` bytes.
    public init(_ descriptor: FileDescriptor, maximumLength: Int) {
        self.descriptor = descriptor
        self.maximumLength = maximumLength
    }

    /// The next line without its `\n`, or nil at the end of the file. A last line without `\n` is an error
    /// (`unterminated`), so a file cut short is never taken for a complete one.
    public mutating func next() throws -> [UInt8]? {
        while true {
            if let newline = buffer[start...].firstIndex(of: 10) {
                let line = Array(buffer[start..<newline])
                offset += UInt64(newline - start + 1)
                start = newline + 1
                lineNumber += 1
                return line
            }
            if buffer.count - start > maximumLength {
                throw Failure.lineTooLong(line: lineNumber + 1, limit: maximumLength)
            }
            if atEnd {
                if start < buffer.count { throw Failure.unterminated(line: lineNumber + 1) }
                return nil
            }
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            let chunk = 1 << 16
            let oldCount = buffer.count
            buffer += [UInt8](repeating: 0, count: chunk)
            let got = try buffer.withUnsafeMutableBytes { raw in
                try descriptor.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[oldCount...]))
            }
            buffer.removeLast(chunk - got)
            if got == 0 { atEnd = true }
        }
    }
}
