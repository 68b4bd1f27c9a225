import CustodyBase

/// Where a PostgreSQL ledger lives, parsed from its URL:
///
/// - `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` (TCP; `HOST` a name, an IPv4 address or `[IPv6]`; port 5432 by
///   default),
/// - `postgres://USER@/DB?host=/run/postgresql` (the Unix socket `DIR/.s.PGSQL.PORT` in that directory; a host
///   that starts with `/`, percent-encoded, means the same),
///
/// with `postgresql://` as another spelling of the scheme. User, password and database are percent-decoded. The only
/// query parameters are `host` and `port`; anything else is refused, so a typo never changes what is opened. The
/// library reads no environment: a password from `PGPASSWORD` is passed by the command line (`password`).
public struct PostgresLedgerAddress: Sendable, Equatable {
    /// How the server is reached.
    public enum Endpoint: Sendable, Equatable {
        /// TCP to `host` (a name or an address, IPv6 without brackets) at `port`.
        case tcp(host: String, port: Int)
        /// The server's Unix socket in `directory` (the socket file is `directory/.s.PGSQL.port`).
        case unixSocket(directory: String, port: Int)
    }

    /// The role to connect as.
    public var user: String
    /// The password, if any (never part of `location` or of any message).
    public var password: String?
    /// How the server is reached.
    public var endpoint: Endpoint
    /// The database holding the ledger (one ledger per database, in its `custody` schema).
    public var database: String

    /// Whether `text` is meant as a PostgreSQL URL (starts with `postgres://` or `postgresql://`, any case).
    public static func isPostgresURL(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://")
    }

    /// An address made of its parts.
    public init(user: String, password: String? = nil, endpoint: Endpoint, database: String) {
        self.user = user
        self.password = password
        self.endpoint = endpoint
        self.database = database
    }

    /// Parses a `postgres://` or `postgresql://` URL.
    /// - Throws: `PostgresLedgerError.invalidURL` naming the part that is wrong (the message never shows a password).
    public init(url: String) throws {
        func invalid(_ part: String, _ problem: String) -> PostgresLedgerError {
            .invalidURL(url: PostgresLedgerAddress.redacted(url), part: part, problem: problem)
        }
        let lower = url.lowercased()
        let scheme = lower.hasPrefix("postgres://") ? "postgres://" : lower.hasPrefix("postgresql://")
            ? "postgresql://" : nil
        guard let scheme else { throw invalid("scheme", "expected postgres:// or postgresql://") }
        var rest = Substring(url.dropFirst(scheme.count))
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        var queryText: Substring = ""
        if let question = rest.firstIndex(of: "?") {
            queryText = rest[rest.index(after: question)...]
            rest = rest[..<question]
        }
        guard let slash = rest.firstIndex(of: "/") else {
            throw invalid("database", "missing (postgres://USER@HOST/DB)")
        }
        let authority = rest[..<slash]
        let databaseText = rest[rest.index(after: slash)...]
        guard let at = authority.lastIndex(of: "@") else {
            throw invalid("user", "missing (postgres://USER@HOST/DB)")
        }
        let userInfo = authority[..<at]
        let hostPort = authority[authority.index(after: at)...]
        var userText = userInfo
        var passwordText: Substring?
        if let colon = userInfo.firstIndex(of: ":") {
            userText = userInfo[..<colon]
            passwordText = userInfo[userInfo.index(after: colon)...]
        }
        guard let user = Self.percentDecoded(userText), !user.isEmpty else {
            throw invalid("user", userText.isEmpty ? "missing (postgres://USER@HOST/DB)" : "bad percent-encoding")
        }
        let password = try passwordText.map {
            guard let decoded = Self.percentDecoded($0) else { throw invalid("password", "bad percent-encoding") }
            return decoded
        }
        guard let database = Self.percentDecoded(databaseText), !database.isEmpty, !database.contains("/") else {
            throw invalid("database", databaseText.isEmpty ? "missing (postgres://USER@HOST/DB)"
                : "'\(databaseText.prefix(64))' is not one database name")
        }
        // The host and port of the authority.
        var hostText = hostPort
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw invalid("host", "unclosed '['") }
            hostText = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("port", "expected ':' after ']'") }
                portText = after.dropFirst()
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            hostText = hostPort[..<colon]
            portText = hostPort[hostPort.index(after: colon)...]
        }
        guard var host = Self.percentDecoded(hostText) else { throw invalid("host", "bad percent-encoding") }
        var port = 5432
        if let portText { port = try Self.port(portText, invalid) }
        for pair in queryText.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            guard let value = parts.count == 2 ? Self.percentDecoded(parts[1]) : nil else {
                throw invalid("parameter \(name.prefix(32))", "expected NAME=VALUE")
            }
            switch name {
            case "host":
                guard hostText.isEmpty else { throw invalid("host", "given both before the '/' and as ?host=") }
                host = value
            case "port": port = try Self.port(Substring(value), invalid)
            default: throw invalid("parameter \(name.prefix(32))", "not supported (only host and port)")
            }
        }
        guard !host.isEmpty else { throw invalid("host", "missing (postgres://USER@HOST/DB or ?host=/SOCKET/DIR)") }
        if host.hasPrefix("/") {
            endpoint = .unixSocket(directory: host, port: port)
        } else {
            guard host.allSatisfy({ $0.isLetter || $0.isNumber || "-._:%".contains($0) }) else {
                throw invalid("host", "'\(host.prefix(64))' is not a host name or address")
            }
            endpoint = .tcp(host: host, port: port)
        }
        self.user = user
        self.password = password
        self.database = database
    }

    private static func port(
        _ text: Substring, _ invalid: (String, String) -> PostgresLedgerError
    ) throws -> Int {
        guard let number = Int(text), (1...65535).contains(number), text.allSatisfy(\.isASCII) else {
            throw invalid("port", "'\(text.prefix(16))' is not a port number (1 to 65535)")
        }
        return number
    }

    /// The URL without the password, for messages: `postgres://USER@HOST:PORT/DB` or
    /// `postgres://USER@/DB?host=DIR` (plus `&port=PORT` when not 5432).
    public var location: String {
        switch endpoint {
        case .tcp(let host, let port):
            let shownHost = host.contains(":") ? "[\(host)]" : host
            return "postgres://\(Self.percentEncoded(user))@\(shownHost):\(port)/\(Self.percentEncoded(database))"
        case .unixSocket(let directory, let port):
            return "postgres://\(Self.percentEncoded(user))@/\(Self.percentEncoded(database))?host=\(directory)"
                + (port == 5432 ? "" : "&port=\(port)")
        }
    }

    /// `url` with any password replaced by `***`, for messages about a URL that does not parse.
    public static func redacted(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let afterScheme = url[schemeEnd.upperBound...]
        let authorityEnd = afterScheme.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        guard let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") else {
            return url
        }
        return String(url[..<authority.index(after: colon)]) + "***" + String(url[at...])
    }

    private static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next(), let low = iterator.next(),
                  let decoded = Hex.decode(String(decoding: [high, low], as: UTF8.self)) else { return nil }
            bytes.append(decoded[0])
        }
        guard !bytes.contains(0) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func percentEncoded(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                 UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                result += "%" + Hex.encode([byte]).uppercased()
            }
        }
        return result
    }
}
