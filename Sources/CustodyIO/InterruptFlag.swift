import CustodyBase
internal import CCustodySystem

#if canImport(Glibc)
import Glibc
#endif

/// A clean stop on SIGINT and SIGTERM: the handler only sets an atomic flag, which long operations poll
/// (`ChunkPipeline.shouldStop`, `ResilientReader.shouldStop`) between chunks, so they unwind normally,
/// remove their temporary output and exit with a clear message.
///
/// The handler is one-shot: a second Ctrl-C takes the default action and ends the process at once.
public enum InterruptFlag {
    /// The signals a long-running command stops cleanly on.
    public static let stopSignals: [Int32] = [SIGINT, SIGTERM]

    /// Installs the flag-setting handler for `signals`. Throws when sigaction refuses.
    public static func install(_ signals: [Int32] = stopSignals) throws {
        for signal in signals {
            let code = custody_interrupt_install(signal)
            if code != 0 {
                throw IOError.cannotHandleSignal(signal: signal, code: code)
            }
        }
    }

    /// Restores the default action for `signals`.
    public static func uninstall(_ signals: [Int32] = stopSignals) {
        for signal in signals { _ = custody_interrupt_uninstall(signal) }
    }

    /// The first stop signal received since the last reset, or nil.
    public static var pendingSignal: Int32? {
        let signal = custody_interrupt_pending()
        return signal == 0 ? nil : signal
    }

    /// Whether a stop signal has arrived.
    public static var isSet: Bool { custody_interrupt_pending() != 0 }

    /// Clears the flag.
    public static func reset() { custody_interrupt_reset() }

    /// Sets the flag as a signal would (tests, and callers stopping a run for their own reasons).
    public static func set(signal: Int32 = SIGINT) { custody_interrupt_raise_flag(signal) }

    /// A closure for `ChunkPipeline.shouldStop` and `ResilientReader.shouldStop`.
    public static let shouldStop: @Sendable () -> Bool = { custody_interrupt_pending() != 0 }

    /// `SIGINT`, `SIGTERM`, or `signal N`.
    public static func name(of signal: Int32) -> String {
        switch signal {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case SIGHUP: return "SIGHUP"
        default: return "signal \(signal)"
        }
    }

    /// The error a command reports after stopping for a signal (exit status 2): names the signal and
    /// what was (not) left behind.
    public static func stoppedError(what: String) -> IOError {
        let signal = pendingSignal.map(name(of:)) ?? "request"
        return IOError.stopped(signal: signal, what: what)
    }
}
