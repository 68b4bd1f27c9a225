import ArgumentParser
import CustodyKit
import CustodyService
import Dispatch

/// `custody serve`: the agency's transparency-log service over a ledger (SPEC 4.9).
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a ledger as the agency's log: officer-signed appends, C2SP tlog-tiles reads, a web page.",
        discussion: """
            POST /add takes an officer-signed submission (custody ledger append http://HOST:PORT --key ...); \
            GET /checkpoint, /tile/L/N[.p/W] and /tile/entries/N[.p/W] follow C2SP tlog-tiles; GET / is the \
            custody timeline. Several servers on one ledger store form one log.
            """
    )

    @Option(help: "The ledger (created beforehand with custody ledger init).") var ledger: String
    @Option(help: "Where to listen: HOST:PORT (port 0 picks a free port, printed at start).") var listen: String
    @OptionGroup var signing: KeyOptions<LedgerOwnerKey>
    @Option(help: "The trust store of the officers who may append (custody trust add).") var trust: String
    @Option(name: .customLong("officer-rate"), help: "Appends per second one officer key may make (default 50).")
    var officerRate: Double = 50
    @Option(name: .customLong("officer-burst"), help: "Appends one officer key may make at once (default 200).")
    var officerBurst: Double = 200
    @Option(name: .customLong("time-window"), help: "Seconds a submission's time may differ from the log's clock.")
    var timeWindow: Int = 300

    func validate() throws {
        guard listenAddress != nil else { throw ValidationError("--listen '\(listen)': expected HOST:PORT") }
        guard officerRate > 0, officerBurst >= 1 else {
            throw ValidationError("--officer-rate must be above 0 and --officer-burst at least 1")
        }
        guard (1...86_400).contains(timeWindow) else { throw ValidationError("--time-window must be 1 to 86400") }
    }

    private var listenAddress: (host: String, port: Int)? {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
              (0...65_535).contains(port), colon != listen.startIndex else { return nil }
        var host = String(listen[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }

    func run() throws {
        let (host, port) = listenAddress!
        let key = try signing.signingKey()
        let store = try TrustStore.load(trust)
        var limits = LogServiceLimits()
        limits.officerRate = officerRate
        limits.officerBurst = officerBurst
        limits.timeWindow = Int64(timeWindow)
        let path = ledger
        let service = try LogService(key: key, trust: store, limits: limits) { forWriting in
            try LedgerLocation.open(path, readOnly: !forWriting)
        }
        let server = LogServer(service: service)
        let done = DispatchSemaphore(value: 0)
        let failure = ServeFailure()
        Task {
            do {
                try await server.run(host: host, port: port) { bound in
                    // Written at once (not buffered): scripts wait for this line to learn the port.
                    try? FileDescriptor.standardOutput.writeAll(
                        Array("custody serve: \(service.origin) on http://\(host):\(bound)\n".utf8))
                }
            } catch {
                failure.set(error)
            }
            done.signal()
        }
        done.wait()
        if let error = failure.get() {
            throw CommandError.operational("--listen \(listen): \(error)")
        }
    }
}

/// The error that ended the server, handed from its task to the command.
private final class ServeFailure: @unchecked Sendable {
    private let lock = DispatchQueue(label: "custody.serve.failure")
    private var error: (any Error)?
    func set(_ error: any Error) { lock.sync { self.error = error } }
    func get() -> (any Error)? { lock.sync { error } }
}
