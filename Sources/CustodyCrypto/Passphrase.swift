import CustodyBase
import CustodyIO
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a private key's passphrase comes from, in this order: a file whose first line it is, a passphrase the
/// caller already holds (the command line reads one from its environment), or a prompt on the controlling
/// terminal with echo off. The library reads no environment: what the caller supplies is all it knows.
public struct PassphraseSource: Sendable {
    /// A passphrase the caller already holds, and the origin messages name it by.
    public struct Supplied: Sendable {
        /// The passphrase bytes.
        public var bytes: [UInt8]
        /// Where it came from, as a message names it (for example an environment variable's name).
        public var origin: String

        /// A passphrase of `bytes` that came from `origin`.
        public init(bytes: [UInt8], origin: String) {
            self.bytes = bytes
            self.origin = origin
        }
    }

    /// A file whose first line is the passphrase.
    public var file: String?
    /// The passphrase used when no file is given.
    public var supplied: Supplied?
    /// Whether to prompt on /dev/tty when neither a file nor a supplied passphrase gives one.
    public var allowPrompt = true

    /// A source reading `file` if given, else `supplied`, else (when `allowPrompt`) the terminal.
    public init(file: String?, supplied: Supplied? = nil, allowPrompt: Bool = true) {
        self.file = file
        self.supplied = supplied
        self.allowPrompt = allowPrompt
    }

    /// The longest passphrase accepted.
    public static let maximumLength = 1024
    /// The shortest passphrase accepted for a new key (bytes); existing keys open with whatever they were made with.
    public static let minimumNewKeyLength = 8
    /// How many times the terminal asks before giving up.
    public static let terminalAttempts = 2

    /// Whether the passphrase will be asked for on the terminal (no file and none supplied).
    public var prompts: Bool { file == nil && supplied == nil && allowPrompt }

    /// The passphrase, or nil when none is available (no file, none supplied, no terminal).
    /// - Parameters:
    ///   - prompt: what the terminal prompt says.
    ///   - confirm: for a new key: at least `minimumNewKeyLength` bytes, and on a terminal asked twice, both
    ///     answers matching; a short or mismatched answer on the terminal is asked again (`terminalAttempts`).
    public func passphrase(prompt: String, confirm: Bool = false) throws -> [UInt8]? {
        let minimum = confirm ? PassphraseSource.minimumNewKeyLength : 1
        if let file {
            let bytes = try FileSystem.readFile(file, limit: PassphraseSource.maximumLength + 2)
            let line = Array(bytes.prefix { $0 != 0x0a })
            let value = line.last == 0x0d ? Array(line.dropLast()) : line
            return try PassphraseSource.checked(value, source: file, minimum: minimum)
        }
        if let supplied {
            return try PassphraseSource.checked(supplied.bytes, source: supplied.origin, minimum: minimum)
        }
        guard allowPrompt else { return nil }
        var attempt = 1
        while true {
            do {
                guard let first = try PassphraseSource.readFromTerminal(prompt) else { return nil }
                let value = try PassphraseSource.checked(first, source: "the terminal", minimum: minimum)
                if confirm {
                    guard let second = try PassphraseSource.readFromTerminal("Repeat the passphrase: "),
                          second == first else {
                        throw KeyError.passphrasesDiffer
                    }
                }
                return value
            } catch let error as KeyError where attempt < PassphraseSource.terminalAttempts {
                PassphraseSource.tellTerminal("\(error); try again\n")
                attempt += 1
            }
        }
    }

    /// Writes `text` to the controlling terminal (nothing when there is none).
    public static func tellTerminal(_ text: String) {
        let fd = open("/dev/tty", O_WRONLY | O_NOCTTY)
        guard fd >= 0 else { return }
        defer { close(fd) }
        _ = text.withCString { write(fd, $0, strlen($0)) }
    }

    private static func checked(_ value: [UInt8], source: String, minimum: Int = 1) throws -> [UInt8] {
        guard !value.isEmpty else { throw KeyError.emptyPassphrase(source: source) }
        guard value.count >= minimum else {
            throw KeyError.shortPassphrase(source: source, minimumLength: minimum)
        }
        guard value.count <= maximumLength, !value.contains(0) else {
            throw KeyError.oversizedPassphrase(source: source, maximumLength: maximumLength)
        }
        return value
    }

    /// Reads one line from /dev/tty with echo off; nil when there is no controlling terminal.
    private static func readFromTerminal(_ prompt: String) throws -> [UInt8]? {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var saved = termios()
        guard tcgetattr(fd, &saved) == 0 else { return nil }
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        _ = tcsetattr(fd, TCSAFLUSH, &quiet)
        defer {
            _ = tcsetattr(fd, TCSAFLUSH, &saved)
            _ = write(fd, "\n", 1)
        }
        _ = prompt.withCString { write(fd, $0, strlen($0)) }
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while read(fd, &byte, 1) == 1, byte != 0x0a {
            if line.count > maximumLength { break }
            line.append(byte)
        }
        return line.last == 0x0d ? Array(line.dropLast()) : line
    }
}
