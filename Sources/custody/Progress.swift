import CustodyKit
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The one progress display of the command line: on stderr, only when stderr is a terminal and `--quiet` is not
/// given, redrawn at most five times a second on one line that is cleared at the end.
///
/// Fed counts of files and bytes, from any thread: with a known total it shows
/// `LABEL: 34% 1.2 GiB of 3.5 GiB, 2 of 7 files, 180.0 MiB/s, ETA 0:13, ITEM`; without one, the bytes and the rate.
/// Commands that read one item after another feed it `item(_:bytesDone:)` (the bytes done within that item, as the
/// library's progress callbacks report them); others call `add(bytes:)` and `finishFile()` themselves.
final class ProgressReporter: Sendable {
    /// What the display counts so far.
    private struct State {
        var label: String
        var phaseStart: Double
        var totalBytes: UInt64?
        var totalFiles: Int?
        var bytesBefore: UInt64 = 0
        var bytesInItem: UInt64 = 0
        var filesDone = 0
        var currentItem: String?
        var lastDraw = 0.0
        var drew = false
    }

    private let enabled: Bool
    private let state: Mutex<State>
    /// Extra text after the rate, such as bad sectors met so far; nil or empty shows nothing.
    private let detail: (@Sendable () -> String?)?

    /// A display labelled `label` (`sealing`, `verifying`...), with the totals when known beforehand; shows
    /// nothing when `quiet` or when stderr is not a terminal.
    init(label: String, totalBytes: UInt64? = nil, totalFiles: Int? = nil, quiet: Bool,
         detail: (@Sendable () -> String?)? = nil) {
        self.enabled = !quiet && Terminal.stderrIsTerminal
        self.detail = detail
        state = Mutex(State(label: label, phaseStart: MonotonicClock.seconds(), totalBytes: totalBytes,
                            totalFiles: totalFiles))
    }

    /// Starts counting again from zero under a new label (`decrypting`, then `verifying`...), with its totals.
    func startPhase(_ label: String, totalBytes: UInt64? = nil, totalFiles: Int? = nil) {
        state.withLock {
            $0 = State(label: label, phaseStart: MonotonicClock.seconds(), totalBytes: totalBytes,
                       totalFiles: totalFiles, lastDraw: $0.lastDraw, drew: $0.drew)
        }
    }

    /// The label of the phase shown now.
    var label: String { state.withLock { $0.label } }

    /// Sets (or corrects) the totals once they are known.
    func setTotals(bytes: UInt64?, files: Int?) {
        state.withLock {
            $0.totalBytes = bytes
            $0.totalFiles = files
        }
    }

    /// Reports `bytesDone` within the item `name`; a new name counts the previous item as done.
    func item(_ name: String, bytesDone: UInt64) {
        let draw = state.withLock { state -> Bool in
            if state.currentItem != name {
                if state.currentItem != nil {
                    state.bytesBefore += state.bytesInItem
                    state.filesDone += 1
                }
                state.currentItem = name
                state.bytesInItem = 0
            }
            state.bytesInItem = bytesDone
            return dueForDrawing(&state)
        }
        if draw { redraw() }
    }

    /// Reports the bytes done so far in a single stream (pack, unpack, hashing one input).
    func update(_ bytesDone: UInt64) {
        let draw = state.withLock { state -> Bool in
            state.bytesInItem = bytesDone
            return dueForDrawing(&state)
        }
        if draw { redraw() }
    }

    /// Adds `bytes` done to the count, for callers that count themselves.
    func add(bytes: UInt64) {
        let draw = state.withLock { state -> Bool in
            state.bytesBefore += bytes
            return dueForDrawing(&state)
        }
        if draw { redraw() }
    }

    /// Sets the files and bytes done and the current item at once (an engine that counts for itself).
    func set(filesDone: Int, bytesDone: UInt64, current: String) {
        let draw = state.withLock { state -> Bool in
            state.filesDone = filesDone
            state.bytesBefore = bytesDone
            state.bytesInItem = 0
            state.currentItem = current
            return dueForDrawing(&state)
        }
        if draw { redraw() }
    }

    /// Counts one more file as done.
    func finishFile() {
        state.withLock { $0.filesDone += 1 }
    }

    /// Names the item being read now.
    func setCurrentItem(_ name: String?) {
        state.withLock { $0.currentItem = name }
    }

    /// Clears the progress line (nothing when nothing was drawn).
    func finish() {
        let drew = state.withLock { state -> Bool in
            defer { state.drew = false }
            return state.drew
        }
        guard enabled, drew else { return }
        Terminal.writeError("\r\u{1B}[K")
    }

    private func dueForDrawing(_ state: inout State) -> Bool {
        guard enabled else { return false }
        let now = MonotonicClock.seconds()
        guard now - state.lastDraw >= 0.2 else { return false }
        state.lastDraw = now
        state.drew = true
        return true
    }

    private func redraw() {
        let snapshot = state.withLock { $0 }
        let text = ProgressReporter.line(label: snapshot.label, state: (snapshot.totalBytes, snapshot.totalFiles,
                                                               snapshot.bytesBefore + snapshot.bytesInItem,
                                                               snapshot.filesDone, snapshot.currentItem),
                                         elapsed: MonotonicClock.seconds() - snapshot.phaseStart,
                                         extra: detail?())
        let width = Terminal.columns
        let shown = text.count < width ? text : String(text.prefix(max(width - 1, 10)))
        Terminal.writeError("\r\u{1B}[K" + shown)
    }

    /// The progress line for `state` (total bytes, total files, bytes done, files done, current item) after
    /// `elapsed` seconds: percentage, sizes, files, rate, ETA and current item, each when known.
    static func line(label: String, state: (UInt64?, Int?, UInt64, Int, String?), elapsed: Double,
                     extra: String? = nil) -> String {
        let (totalBytes, totalFiles, done, filesDone, current) = state
        let rate = Double(done) / max(elapsed, 1e-6)
        var parts: [String] = []
        if let totalBytes, totalBytes > 0 {
            let percent = min(Double(done) * 100 / Double(totalBytes), 100)
            parts.append("\(formatFixed(percent, decimals: 0))% \(ByteSize.describe(done)) of "
                + ByteSize.describe(totalBytes))
        } else {
            parts.append(ByteSize.describe(done))
        }
        if let totalFiles, totalFiles > 1 {
            parts.append("\(min(filesDone, totalFiles)) of \(totalFiles) files")
        }
        parts.append("\(ByteSize.describe(UInt64(rate)))/s")
        if let totalBytes, totalBytes > done, rate > 0, elapsed >= 1 {
            parts.append("ETA " + duration(Double(totalBytes - done) / rate))
        }
        if let extra, !extra.isEmpty { parts.append(extra) }
        if let current, !current.isEmpty { parts.append(BagIt.printable(current)) }
        return "\(label): " + parts.joined(separator: ", ")
    }

    /// `M:SS`, or `H:MM:SS` from an hour.
    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded(.up))
        let hours = total / 3600, minutes = total / 60 % 60, secs = total % 60
        let twoDigits = { (value: Int) in value < 10 ? "0\(value)" : "\(value)" }
        return hours > 0 ? "\(hours):\(twoDigits(minutes)):\(twoDigits(secs))" : "\(minutes):\(twoDigits(secs))"
    }
}

extension ProgressReporter {
    /// The size of the file or block device at `path` when it can be told without reading it (nil for standard
    /// input, a FIFO, an empty or unreadable file).
    static func size(of path: String) -> UInt64? {
        guard path != "-", let info = try? FileSystem.status(path) else { return nil }
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            return info.st_size > 0 ? UInt64(info.st_size) : nil
        case S_IFBLK:
            guard let source = try? EvidenceSource.open(path, describingDevice: false) else { return nil }
            defer { source.close() }
            return try? source.currentSize()
        default:
            return nil
        }
    }

    /// The total size of the regular files and block devices `paths` name, directories walked without following
    /// links (what `custody seal` reads), and their count; nil when a path cannot be listed.
    static func totals(of paths: [String]) -> (bytes: UInt64, files: Int)? {
        var skipped: [String] = []
        guard let items = try? BundleSealer.items(paths, skipped: &skipped) else { return nil }
        var bytes: UInt64 = 0
        for item in items { bytes += size(of: item.input.path) ?? 0 }
        return (bytes, items.count)
    }
}
