import Foundation
import XCTest

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
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

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
    static func which(_ tool: String) -> String? {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

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
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw MissingFolder(path: url.path, what: what)
        }
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
