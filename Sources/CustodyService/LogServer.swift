import CustodyBase
import CustodyLedger
import Hummingbird

/// The HTTP face of a `LogService` (SPEC 4.9): `POST /add`, the C2SP tlog-tiles reads (`/checkpoint`,
/// `/tile/...`), `/identity`, `/proof/inclusion`, `/proof/consistency` and the web page at `/`.
public struct LogServer: Sendable {
    /// The service answering.
    public let service: LogService

    /// A server for `service`.
    public init(service: LogService) { self.service = service }

    /// Serves on `host:port` until SIGINT or SIGTERM; `onListening` receives the port bound (useful with port 0).
    public func run(host: String, port: Int, onListening: @escaping @Sendable (Int) -> Void) async throws {
        let responder = CallbackResponder<BasicRequestContext> { request, _ in
            await self.respond(to: request)
        }
        let app = Application(
            responder: responder,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "custody"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? port) }
        )
        try await app.runService()
    }

    static let immutable = "public, max-age=31536000, immutable"

    /// Answers one request; every failure becomes an error status with a JSON body `{"error": "..."}`.
    func respond(to request: Request) async -> Response {
        do {
            return try await route(request)
        } catch let error as LogServiceError {
            return Self.json(error.status, .object(["error": .string(error.message)]))
        } catch let error as LedgerError {
            switch error {
            case .sizeExceedsLedger, .indexNotBelowSize, .consistencySizes:
                return Self.json(400, .object(["error": .string(error.description)]))
            default:
                return Self.json(500, .object(["error": .string(error.description)]))
            }
        } catch let error as any CustodyFailure {
            return Self.json(500, .object(["error": .string(error.description)]))
        } catch {
            return Self.json(500, .object(["error": .string("\(error)")]))
        }
    }

    private func route(_ request: Request) async throws -> Response {
        let path = request.uri.path
        let method = request.method
        if path == "/add" {
            guard method == .post else { throw LogServiceError(status: 405, "use POST for /add") }
            var body: [UInt8] = []
            for try await chunk in request.body {
                guard body.count + chunk.readableBytes <= service.limits.requestBytes else {
                    let limit = service.limits.requestBytes
                    throw LogServiceError(status: 413, "the request is larger than \(limit) bytes")
                }
                body.append(contentsOf: chunk.readableBytesView)
            }
            let result = try await service.add(body)
            return Self.bytes(result.canonicalBytes + [10], type: "application/json", cache: "no-store")
        }
        guard method == .get || method == .head else {
            throw LogServiceError(status: 405, "only GET and HEAD are served here (POST /add appends)")
        }
        switch path {
        case "/checkpoint":
            return Self.bytes(
                try await service.checkpoint(), type: "text/plain; charset=utf-8", cache: "no-cache, max-age=0")
        case "/identity":
            return Self.bytes(service.ownerDocument + [10], type: "application/json", cache: "no-cache")
        case "/proof/inclusion":
            let query = request.uri.queryParameters
            let index = try Self.number(query["index"], name: "index")
            let size = try query["size"].map { try Self.number($0, name: "size") }
            let proof = try await service.read { try $0.inclusionProof(index: index, size: size) }
            return Self.json(200, proof.json)
        case "/proof/consistency":
            let query = request.uri.queryParameters
            let from = try Self.number(query["from"], name: "from")
            let to = try query["to"].map { try Self.number($0, name: "to") }
            let proof = try await service.read { try $0.consistencyProof(from: from, to: to) }
            return Self.json(200, proof.json)
        case "/", "/index.html":
            let query = request.uri.queryParameters
            let page = WebPage.Request(
                search: query["q"].map(String.init) ?? "",
                before: try query["before"].map { try Self.number($0, name: "before") })
            let html = try await service.read { try WebPage.render(page, ledger: $0) }
            return Self.bytes(Array(html.utf8), type: "text/html; charset=utf-8", cache: "no-cache")
        default:
            guard path.hasPrefix("/tile/") else { throw LogServiceError(status: 404, "no such resource: \(path)") }
            guard let tile = TilePath(parsing: path.dropFirst()) else {
                throw LogServiceError(status: 404, "not a tlog-tiles path: \(path)")
            }
            let bytes = try await service.tile(tile)
            return Self.bytes(
                bytes, type: "application/octet-stream",
                cache: tile.partialWidth == nil ? Self.immutable : "no-cache")
        }
    }

    private static func number(_ text: Substring?, name: String) throws -> UInt64 {
        guard let text else { throw LogServiceError(status: 400, "the query needs \(name)=N") }
        guard let value = UInt64(text), value <= Ledger.largestSize else {
            throw LogServiceError(status: 400, "\(name) must be a whole number from 0 to 2^48")
        }
        return value
    }

    static func json(_ status: Int, _ value: JSONValue) -> Response {
        var response = bytes(value.canonicalBytes + [10], type: "application/json", cache: "no-store")
        response.status = HTTPResponse.Status(code: status)
        return response
    }

    static func bytes(_ bytes: [UInt8], type: String, cache: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.cacheControl] = cache
        headers[.contentLength] = String(bytes.count)
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
