import Foundation
import XCTest
import CustodyKit
import CustodyTestSupport

/// Helpers shared by the library tests: peers, the public test vectors, temporary directories, child processes.
enum TestSupport {
    /// The package root (two levels above this file's folder).
    static let packageRoot = URL(fileURLWithPath: TestEnvironment.packageRoot(ofTestFile: #filePath),
                                 isDirectory: true)

    /// The peer tool's path (see `TestEnvironment.which`), or an XCTSkip naming it.
    static func requireTool(_ tool: String) throws -> String {
        guard let path = TestEnvironment.which(tool) else {
            throw XCTSkip("\(tool) is not installed; this interop check needs it")
        }
        return path
    }

    /// The public test vectors' folder `Tests/Vectors/FOLDER` in the package; it is part of the repository,
    /// so a missing folder is an error that fails the test, never a skip.
    static func vectors(_ folder: String) throws -> URL {
        let url = packageRoot.appendingPathComponent("Tests/Vectors/\(folder)", isDirectory: true)
        guard TestEnvironment.isDirectory(url.path) else {
            throw MissingVectors(path: url.path)
        }
        return url
    }

    /// Thrown when a folder of `Tests/Vectors` is missing from the checkout.
    struct MissingVectors: Error, CustomStringConvertible {
        var path: String
        var description: String { "\(path) is missing; the public test vectors are part of the repository" }
    }

    /// A fresh temporary directory removed when the test ends.
    static func temporaryDirectory(_ test: XCTestCase) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("custody-kit-test-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// Runs a program; returns status, stdout, stderr.
    @discardableResult
    static func run(_ path: String, _ arguments: [String], in directory: URL? = nil, stdin: Data? = nil) throws
        -> (status: Int32, out: Data, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        let outPipe = Pipe(), errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        let inPipe = Pipe()
        process.standardInput = stdin == nil ? FileHandle.nullDevice : inPipe
        try process.run()
        if let stdin {
            inPipe.fileHandleForWriting.write(stdin)
            try? inPipe.fileHandleForWriting.close()
        }
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        DispatchQueue.global().async(group: group) { outData = outPipe.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData = errPipe.fileHandleForReading.readDataToEndOfFile() }
        process.waitUntilExit()
        group.wait()
        return (process.terminationStatus, outData, String(decoding: errData, as: UTF8.self))
    }
}

/// Deterministic pseudo-random bytes (SplitMix64) for incompressible test content.
func pseudoRandomBytes(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
    var state = seed
    var out = [UInt8](repeating: 0, count: count)
    var index = 0
    while index < count {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        for shift in stride(from: 0, to: 64, by: 8) where index < count {
            out[index] = UInt8(truncatingIfNeeded: z >> UInt64(shift))
            index += 1
        }
    }
    return out
}

/// A failure of a test's own helper (an independent decoder, a peer), named in the test's output.
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A new signing key (a fresh Ed25519 key and its identity); tests make keys, they never read key files.
func makeSigningKey(name: String = "officer", agency: String = "Agency", jurisdiction: String = "NL") throws
    -> SigningKey {
    let privateKey = try Ed25519PrivateKey.generate()
    let identity = try Identity(name: name, agency: agency, jurisdiction: jurisdiction,
                                publicKey: privateKey.publicKey)
    return try SigningKey(identity: identity, privateKey: privateKey)
}

/// A new signing key and a ledger file at `path` it owns.
func makeKeyAndLedger(at path: String, name: String = "officer", agency: String = "Agency",
                      jurisdiction: String = "NL", origin: String = "agency.example/custody") throws
    -> (SigningKey, Ledger) {
    let key = try makeSigningKey(name: name, agency: agency, jurisdiction: jurisdiction)
    return (key, try Ledger.create(path: path, origin: origin, key: key))
}

/// A test case working in a fresh temporary folder (`directory`), made before each test and removed after it.
class TemporaryDirectoryTestCase: XCTestCase {
    /// The folder of the running test.
    var directory = ""

    override func setUpWithError() throws {
        try super.setUpWithError()
        let name = "\(String(describing: type(of: self)))-\(UUID().uuidString)"
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
        try FileSystem.createDirectory(directory)
    }

    override func tearDown() {
        FileSystem.removeTree(directory)
        super.tearDown()
    }
}
