import Foundation
import XCTest
import CustodyTestSupport

/// Runs the built `custody` executable and helps tests find peers, the public test vectors and fixtures.
enum CLI {
    /// The directory holding the built products (beside the test bundle).
    static let productsDirectory: URL = {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var directory = executable.deletingLastPathComponent()
        // On Linux the test runner is `<products>/custodyPackageTests.xctest`; on macOS a bundle inside it.
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("custody").path),
              directory.path != "/" {
            directory.deleteLastPathComponent()
        }
        return directory
    }()

    static var executable: String { productsDirectory.appendingPathComponent("custody").path }

    /// The package root (two levels above this file's folder).
    static let packageRoot = URL(fileURLWithPath: TestEnvironment.packageRoot(ofTestFile: #filePath),
                                 isDirectory: true)

    struct Result {
        var status: Int32
        var stdout: Data
        var stderr: Data
        var out: String { String(decoding: stdout, as: UTF8.self) }
        var err: String { String(decoding: stderr, as: UTF8.self) }
    }

    /// Runs `custody ARGS`, feeding `stdin`, in `directory`, with extra environment variables.
    @discardableResult
    static func run(_ arguments: [String], stdin: Data? = nil, in directory: URL? = nil,
                    environment: [String: String] = [:]) throws -> Result {
        try runTool(executable, arguments, stdin: stdin, in: directory, environment: environment)
    }

    /// Runs any program by path.
    static func runTool(_ path: String, _ arguments: [String], stdin: Data? = nil, in directory: URL? = nil,
                        environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let outPipe = Pipe(), errPipe = Pipe(), inPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = inPipe
        try process.run()
        // Drain both pipes concurrently so a chatty child never blocks.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        DispatchQueue.global().async(group: group) { outData = outPipe.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData = errPipe.fileHandleForReading.readDataToEndOfFile() }
        if let stdin { inPipe.fileHandleForWriting.write(stdin) }
        try? inPipe.fileHandleForWriting.close()
        process.waitUntilExit()
        group.wait()
        return Result(status: process.terminationStatus, stdout: outData, stderr: errData)
    }

    /// The full path of a peer tool on PATH, or nil.
    static func which(_ tool: String) -> String? { TestEnvironment.which(tool) }

    /// The peer tool's path, or an XCTSkip naming it.
    static func requireTool(_ tool: String) throws -> String {
        guard let path = which(tool) else { throw XCTSkip("\(tool) is not installed; this interop check needs it") }
        return path
    }

    /// The public test vectors' folder `Tests/Vectors` in the package; it is part of the repository,
    /// so a missing folder is an error that fails the test, never a skip.
    static func sharedVectors() throws -> URL {
        try packageFolder("Tests/Vectors", what: "the public test vectors")
    }

    /// The folder at `path` under the package root, or a `MissingFolder` error (which fails the test) naming it.
    static func packageFolder(_ path: String, what: String) throws -> URL {
        let url = packageRoot.appendingPathComponent(path, isDirectory: true)
        guard TestEnvironment.isDirectory(url.path) else {
            throw MissingFolder(path: url.path, what: what)
        }
        return url
    }

    /// The folder where tests leave what a person may want to look at afterwards (screenshots, printed reports):
    /// `$CUSTODY_TEST_OUTPUT`, else `.build/test-output` in the package; created when missing.
    static func testOutputFolder() throws -> URL {
        let environment = ProcessInfo.processInfo.environment["CUSTODY_TEST_OUTPUT"]
        let url = environment.map { URL(fileURLWithPath: $0, isDirectory: true) }
            ?? packageRoot.appendingPathComponent(".build/test-output", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Thrown when a folder that is part of the repository is missing from the checkout.
    struct MissingFolder: Error, CustomStringConvertible {
        var path: String
        var what: String
        var description: String { "\(path) is missing; \(what) are part of the repository" }
    }
}

/// A fresh temporary directory removed when the test ends.
func makeTemporaryDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("custody-test-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

extension CLI {
    /// Runs custody with `arguments` and checks its exit status, naming the command and its output when it differs.
    @discardableResult
    static func run(_ arguments: [String], expect status: Int32, environment: [String: String] = [:],
                    file: StaticString = #filePath, line: UInt = #line) throws -> Result {
        let result = try run(arguments, environment: environment)
        let command = "custody \(arguments.joined(separator: " "))"
        XCTAssertEqual(result.status, status, "\(command): \(result.err)\(result.out)", file: file, line: line)
        return result
    }
}

/// A test case that works in its own temporary directory `dir` (made fresh before each test, removed after) and
/// makes keys, ledgers and trust stores there through the built binary.
class CLITestCase: XCTestCase {
    /// The test's temporary directory.
    var dir: URL!

    override func setUpWithError() throws {
        try super.setUpWithError()
        dir = try makeTemporaryDirectory(self)
    }

    /// The path of `name` (a relative path) inside `dir`.
    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    /// The signing key of agency `name` made by `agency(_:_:_:passphrase:)`.
    func key(_ name: String) -> String { path("keys/\(name).key") }

    /// Runs custody with `arguments` and checks its exit status.
    @discardableResult
    func custody(_ arguments: [String], expect status: Int32 = 0, environment: [String: String] = [:],
                 file: StaticString = #filePath, line: UInt = #line) throws -> CLI.Result {
        try CLI.run(arguments, expect: status, environment: environment, file: file, line: line)
    }

    /// Makes `name`'s keys (`NAME.key`, `NAME.pub`, ...) in the folder `keys`, protected by the passphrase in
    /// `passphraseFile` or by none; checks that keygen succeeds.
    func makeKeys(_ name: String, agency: String, jurisdiction: String, in keys: String,
                  passphraseFile: String? = nil) throws {
        try custody(["keygen", "--name", name, "--agency", agency, "--jurisdiction", jurisdiction, "--out", keys]
                    + (passphraseFile.map { ["--passphrase-file", $0] } ?? ["--no-passphrase"]))
    }

    /// Makes a ledger at `ledger` with `origin`, signed with `key` (unlocked by `passphraseFile` if it has one);
    /// checks that `ledger init` succeeds.
    func makeLedger(_ ledger: String, origin: String, key: String, passphraseFile: String? = nil) throws {
        try custody(["ledger", "init", ledger, "--origin", origin, "--key", key]
                    + (passphraseFile.map { ["--passphrase-file", $0] } ?? []))
    }

    /// An agency: `name`'s keys in `keys/` (with the passphrase "correct horse" in `NAME.pass` if `passphrase`)
    /// and its ledger `NAME.ledger` with the origin `NAME.example/custody`.
    func agency(_ name: String, _ agencyName: String, _ country: String, passphrase: Bool = false) throws {
        var passphraseFile: String?
        if passphrase {
            passphraseFile = path("\(name).pass")
            try "correct horse\n".write(toFile: path("\(name).pass"), atomically: true, encoding: .utf8)
        }
        try makeKeys(name, agency: agencyName, jurisdiction: country, in: path("keys"), passphraseFile: passphraseFile)
        try makeLedger(path("\(name).ledger"), origin: "\(name).example/custody", key: key(name),
                       passphraseFile: passphraseFile)
    }

    /// Adds agency `name` (made by `agency(_:_:_:passphrase:)`) with its key and age recipient to the trust store
    /// `store`.
    func trust(_ store: String, _ name: String, _ agencyName: String, _ country: String) throws {
        let recipient = try String(contentsOfFile: path("keys/\(name).recipient"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try custody(["trust", "add", path(store), name, "--key", path("keys/\(name).pub"), "--jurisdiction", country,
                     "--agency", agencyName, "--recipient", recipient])
    }

    /// The two sides of a hand-off: agencies `fr` (Police judiciaire, FR) and `de` (Bundeskriminalamt, DE, its key
    /// protected by a passphrase if `dePassphrase`), each trusting the other in `fr-trust.json` and
    /// `de-trust.json`, and FR's evidence folder `evidence` holding `notes.txt`.
    func setUpHandOff(dePassphrase: Bool = false) throws {
        try agency("fr", "Police judiciaire", "FR")
        try agency("de", "Bundeskriminalamt", "DE", passphrase: dePassphrase)
        try trust("fr-trust.json", "de", "Bundeskriminalamt", "DE")
        try trust("de-trust.json", "fr", "Police judiciaire", "FR")
        try FileManager.default.createDirectory(atPath: path("evidence"), withIntermediateDirectories: false)
        try Data("report of the seizure\n".utf8).write(to: dir.appendingPathComponent("evidence/notes.txt"))
    }
}

/// A test case whose `dir` holds, made before each test, alice's keys (Police, FR, no passphrase) and her ledger
/// `custody.ledger` with the origin `police.example/custody`.
class AliceLedgerTestCase: CLITestCase {
    /// Alice's signing key.
    var keyPath: String { path("alice.key") }
    /// Alice's ledger.
    var ledgerPath: String { path("custody.ledger") }

    override func setUpWithError() throws {
        try super.setUpWithError()
        try makeKeys("alice", agency: "Police", jurisdiction: "FR", in: dir.path)
        try makeLedger(ledgerPath, origin: "police.example/custody", key: keyPath)
    }
}
