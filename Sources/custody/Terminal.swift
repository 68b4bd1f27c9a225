import CustodyKit

#if canImport(Glibc)
import Glibc
#endif

/// Writing to stderr and stdout (progress: `ProgressReporter`).
enum Terminal {
    static func writeError(_ text: String) {
        fflush(nil)
        try? FileDescriptor(rawValue: 2, path: "stderr").writeAll(RawName.encode(text))
    }

    /// One line on stderr: `custody: MESSAGE`.
    static func error(_ message: String) {
        writeError("custody: \(message)\n")
    }

    /// Writes one line to stdout; file names that are not UTF-8 come out as the bytes they are (`RawName`).
    static func line(_ text: String) {
        guard RawName.hasEscapes(text) else { return print(text) }
        fflush(nil)
        try? FileDescriptor.standardOutput.writeAll(RawName.encode(text) + [10])
    }

    static var stderrIsTerminal: Bool { isatty(2) == 1 }

    /// The width of the terminal on stderr in columns (80 when it cannot be told).
    static var columns: Int {
        var size = winsize()
        guard ioctl(2, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 20 else { return 80 }
        return Int(size.ws_col)
    }
}
