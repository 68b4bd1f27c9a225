import CustodyKit

#if canImport(Glibc)
import Glibc
#endif

/// Writing to stderr and stdout, and progress display on a terminal.
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
}

/// Prints bytes, rate and ETA on stderr while a long operation runs, only when stderr is a terminal.
final class ProgressDisplay: @unchecked Sendable {
    private let label: String
    private let total: UInt64?
    private let enabled: Bool
    private let start = MonotonicClock.seconds()
    private var lastDraw = 0.0
    private var drew = false
    /// Extra text after the rate, such as bad sectors met so far; nil or empty shows nothing.
    var detail: (@Sendable () -> String?)?

    init(label: String, total: UInt64?, quiet: Bool) {
        self.label = label
        self.total = total
        self.enabled = !quiet && Terminal.stderrIsTerminal
    }

    /// Reports bytes done so far; redraws at most five times a second.
    func update(_ done: UInt64) {
        guard enabled else { return }
        let now = MonotonicClock.seconds()
        guard now - lastDraw >= 0.2 else { return }
        lastDraw = now
        drew = true
        let elapsed = max(now - start, 1e-6)
        let rate = Double(done) / elapsed
        var text = "\r\(label): \(ByteSize.describe(done))"
        if let total, total > 0 {
            let percent = Double(done) * 100 / Double(total)
            text += " of \(ByteSize.describe(total)) (\(formatFixed(percent, decimals: 0))%)"
            if rate > 0 && done < total {
                let remaining = Int(Double(total - done) / rate)
                text += ", ETA \(remaining / 60):\(remaining % 60 < 10 ? "0" : "")\(remaining % 60)"
            }
        }
        text += ", \(ByteSize.describe(UInt64(rate)))/s"
        if let extra = detail?(), !extra.isEmpty { text += ", \(extra)" }
        text += "   "
        Terminal.writeError(text)
    }

    /// Clears the progress line.
    func finish() {
        guard enabled, drew else { return }
        Terminal.writeError("\r\u{1B}[K")
    }
}
