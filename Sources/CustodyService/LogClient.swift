import CustodyBase
import CustodyCrypto
import CustodyLedger

#if canImport(Glibc)
import Glibc
#endif

/// What talking to a log service failed at: the address, the connection, the answer, or the service's refusal.
public enum LogClientError: CustodyFailure, Equatable {
    /// The log URL is not `http://HOST[:PORT][/PREFIX]`.
    case badURL(String)
    /// The host could not be resolved or reached.
    case unreachable(url: String, reason: String)
    /// The answer is not the HTTP/1.1 the client reads, or passes a bound.
    case badAnswer(url: String, reason: String)
    /// The service answered with an error status and this message.
    case refused(url: String, status: Int, message: String)
    /// The answer does not check (a signature, a proof, the entry asked for).
    case unproven(url: String, reason: String)

    /// A refusal or a failed connection is an operation that could not be done; an answer that does not check is
    /// a failed check.
    public var kind: FailureKind {
        switch self {
        case .unproven: .verification
        default: .operational
        }
    }

    /// The one-line message.
    public var description: String {
        switch self {
        case .badURL(let url): "\(url): not a log address (expected http://HOST[:PORT])"
        case .unreachable(let url, let reason): "\(url): cannot reach the log service (\(reason))"
        case .badAnswer(let url, let reason): "\(url): the log service's answer is not usable (\(reason))"
        case .refused(let url, let status, let message): "\(url): the log service refused (HTTP \(status)): \(message)"
        case .unproven(let url, let reason): "\(url): \(reason)"
        }
    }
}

/// A small blocking HTTP/1.1 client for a custody log service: one connection per request (`Connection:
/// close`), bounded in every dimension: the status line and headers at most 64 KiB, the body at most the limit
/// the caller gives, and every connect, send and receive at most `timeout` seconds.
public struct LogClient: Sendable {
    /// The URL as given.
    public let url: String
    let host: String
    let port: UInt16
    let prefix: String
    /// Seconds any connect, send or receive may take.
    public var timeout: Int = 60

    /// Whether `text` names a log service rather than a file (`http://` or `https://`).
    public static func isServiceURL(_ text: String) -> Bool {
        text.hasPrefix("http://") || text.hasPrefix("https://")
    }

    /// A client for `url` (`http://HOST[:PORT][/PREFIX]`).
    /// - Throws: `LogClientError.badURL`; `https://` is refused, naming what to do.
    public init(url: String) throws {
        self.url = url
        if url.hasPrefix("https://") {
            throw LogClientError.unreachable(
                url: url, reason: "https is not built in: put the service behind a local TLS proxy and use http://")
        }
        guard url.hasPrefix("http://") else { throw LogClientError.badURL(url) }
        var rest = url.dropFirst(7)
        var path = ""
        if let slash = rest.firstIndex(of: "/") {
            path = String(rest[slash...])
            rest = rest[..<slash]
        }
        while path.hasSuffix("/") { path.removeLast() }
        var hostPart = rest
        var port: UInt16 = 80
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            guard let parsed = UInt16(rest[rest.index(after: colon)...]), parsed > 0 else {
                throw LogClientError.badURL(url)
            }
            port = parsed
            hostPart = rest[..<colon]
        }
        if hostPart.hasPrefix("["), hostPart.hasSuffix("]") { hostPart = hostPart.dropFirst().dropLast() }
        guard !hostPart.isEmpty, hostPart.allSatisfy({ $0.isASCII && !$0.isWhitespace }),
              path.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "?" && $0 != "#" })
        else { throw LogClientError.badURL(url) }
        host = String(hostPart)
        self.port = port
        prefix = path
    }

    /// An HTTP answer: status and body.
    public struct Answer: Sendable {
        /// The status code.
        public var status: Int
        /// The body.
        public var body: [UInt8]
        /// The `Content-Type` header, lower-cased.
        public var contentType: String
    }

    /// `GET path` (under the prefix); the body is read up to `limit` bytes.
    public func get(_ path: String, limit: Int = 1 << 20) throws -> Answer {
        try request("GET", path, body: nil, limit: limit)
    }

    /// `POST path` with a JSON body.
    public func post(_ path: String, body: [UInt8], limit: Int = 1 << 20) throws -> Answer {
        try request("POST", path, body: body, limit: limit)
    }

    /// The body of `GET path` when the status is 200; otherwise the service's error as `refused`.
    public func fetch(_ path: String, limit: Int = 1 << 20) throws -> [UInt8] {
        let answer = try get(path, limit: limit)
        try check(answer)
        return answer.body
    }

    /// Throws `refused` with the service's `{"error"}` message for a status other than 200.
    public func check(_ answer: Answer) throws {
        guard answer.status != 200 else { return }
        var message = String(decoding: answer.body.prefix(1000), as: UTF8.self)
        if let json = try? JSONValue.parse(answer.body), let text = json["error"]?.stringValue { message = text }
        throw LogClientError.refused(url: url, status: answer.status, message: message)
    }

    func request(_ method: String, _ path: String, body: [UInt8]?, limit: Int) throws -> Answer {
        let socket = try connect()
        defer { close(socket) }
        var head = "\(method) \(prefix)\(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\n"
            + "User-Agent: custody/\(CustodyVersion.string)\r\nAccept: */*\r\n"
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        head += "\r\n"
        try send(socket, Array(head.utf8) + (body ?? []))
        return try receive(socket, limit: limit)
    }

    private func connect() throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            let reason = String(cString: gai_strerror(status))
            throw LogClientError.unreachable(url: url, reason: "cannot resolve \(host): \(reason)")
        }
        defer { freeaddrinfo(list) }
        var reason = "no address"
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            cursor = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 { continue }
            var limit = timeval(tv_sec: timeout, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return fd }
            reason = String(cString: strerror(errno))
            close(fd)
        }
        throw LogClientError.unreachable(url: url, reason: reason)
    }

    private func send(_ socket: Int32, _ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes {
                Glibc.send(socket, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw LogClientError.unreachable(url: url, reason: "sending: \(String(cString: strerror(errno)))")
            }
            sent += count
        }
    }

    /// Reads the whole answer (the server closes after it): at most 64 KiB of head and `limit` of body.
    private func receive(_ socket: Int32, limit: Int) throws -> Answer {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var headEnd: Int?
        var bodyLimit = (64 << 10) + limit
        while data.count <= bodyLimit {
            let count = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress!, $0.count, 0) }
            if count < 0 {
                if errno == EINTR { continue }
                let reason = errno == EAGAIN ? "no answer within \(timeout) s" : String(cString: strerror(errno))
                throw LogClientError.badAnswer(url: url, reason: reason)
            }
            if count == 0 { break }
            data.append(contentsOf: buffer[0..<count])
            if headEnd == nil {
                let end = Self.find([13, 10, 13, 10], in: data)
                guard (end ?? data.count) <= 64 << 10 else {
                    throw LogClientError.badAnswer(url: url, reason: "headers longer than 64 KiB")
                }
                if let end {
                    headEnd = end
                    bodyLimit = end + 4 + limit
                }
            }
        }
        guard data.count <= bodyLimit else {
            throw LogClientError.badAnswer(url: url, reason: "larger than \(limit) bytes")
        }
        guard let end = headEnd else { throw LogClientError.badAnswer(url: url, reason: "incomplete HTTP answer") }
        let lines = String(decoding: data[..<end], as: UTF8.self)
            .split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = lines.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            throw LogClientError.badAnswer(url: url, reason: "not an HTTP/1.1 status line")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...]
                .trimmingCharacters(in: " \t")
        }
        var body = Array(data[(end + 4)...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" {
            body = try dechunk(body)
        } else if let length = headers["content-length"].flatMap({ Int($0) }) {
            guard body.count >= length else {
                throw LogClientError.badAnswer(url: url, reason: "the connection closed before the whole body came")
            }
            body = Array(body.prefix(length))
        }
        return Answer(status: status, body: body, contentType: headers["content-type"]?.lowercased() ?? "")
    }

    private func dechunk(_ bytes: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        var position = 0
        while true {
            guard let lineEnd = Self.find([13, 10], in: bytes, from: position),
                  let size = Int(String(decoding: bytes[position..<lineEnd], as: UTF8.self)
                    .split(separator: ";").first ?? "", radix: 16), size >= 0
            else { throw LogClientError.badAnswer(url: url, reason: "bad chunked encoding") }
            position = lineEnd + 2
            if size == 0 { return out }
            guard bytes.count >= position + size + 2 else {
                throw LogClientError.badAnswer(url: url, reason: "truncated chunk")
            }
            out.append(contentsOf: bytes[position..<(position + size)])
            position += size + 2
        }
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int = 0) -> Int? {
        guard haystack.count >= needle.count + start else { return nil }
        var index = start
        while index <= haystack.count - needle.count {
            if haystack[index] == needle[0], Array(haystack[index..<(index + needle.count)]) == needle { return index }
            index += 1
        }
        return nil
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var text = self
        while let first = text.first, set.contains(first) { text.removeFirst() }
        while let last = text.last, set.contains(last) { text.removeLast() }
        return String(text)
    }
}
