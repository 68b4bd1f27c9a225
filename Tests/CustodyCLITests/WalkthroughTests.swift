import Foundation
import XCTest
import CustodyKit

/// The README's walkthrough, run as written: its shell blocks (between `<!-- walkthrough:start -->` and
/// `<!-- walkthrough:end -->`) in one bash script with `set -euo pipefail`, in a scratch folder holding a copy of
/// `Samples/`, with the built `custody` first on the PATH and CUSTODY_PASSPHRASE set (keygen would otherwise ask
/// on the terminal). `age` asks for the passphrase of a protected identity on the terminal only, so the script runs
/// it on a pseudo-terminal (`script`) with the passphrase typed there: the command line itself is the README's.
/// The report it writes is then printed and screenshot by a headless Chromium into the tests' output folder.
final class WalkthroughTests: XCTestCase {
    static let passphrase = "correct horse battery"

    /// The shell blocks of the README's walkthrough, in order, joined.
    static func walkthroughScript() throws -> String {
        let readme = try String(contentsOf: CLI.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        guard let start = readme.range(of: "<!-- walkthrough:start -->"),
              let end = readme.range(of: "<!-- walkthrough:end -->", range: start.upperBound..<readme.endIndex) else {
            throw CLI.MissingFolder(path: "README.md", what: "the walkthrough markers")
        }
        var blocks: [String] = []
        var current: [Substring]?
        let section = readme[start.upperBound..<end.lowerBound]
        for line in section.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line.hasPrefix("```sh") {
                current = []
            } else if current != nil, line.hasPrefix("```") {
                blocks.append(current!.joined(separator: "\n"))
                current = nil
            } else if current != nil {
                current!.append(line)
            }
        }
        return blocks.joined(separator: "\n")
    }

    func testReadmeWalkthroughRunsAsWritten() throws {
        let bash = try CLI.requireTool("bash")
        let script = try CLI.requireTool("script")
        for tool in ["age", "bagit.py", "tar", "sed"] { _ = try CLI.requireTool(tool) }
        let dir = try makeTemporaryDirectory(self)
        try FileManager.default.copyItem(at: try CLI.packageFolder("Samples", what: "the sample evidence"),
                                         to: dir.appendingPathComponent("Samples"))
        let walkthrough = try WalkthroughTests.walkthroughScript()
        XCTAssertTrue(walkthrough.contains("custody keygen --name fr"), walkthrough)
        XCTAssertGreaterThan(walkthrough.split(separator: "\n").count, 20)
        let prelude = """
            set -euo pipefail
            age() { printf '%s\\n' "$CUSTODY_PASSPHRASE" | \(script) -qec "$(printf '%q ' "$(command -v age)" "$@")" \
            /dev/null > /dev/null; }

            """
        try (prelude + walkthrough + "\n").write(to: dir.appendingPathComponent("walkthrough.sh"), atomically: true,
                                                  encoding: .utf8)
        let path = CLI.productsDirectory.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin")
        let run = try CLI.runTool(bash, ["walkthrough.sh"], in: dir,
                                  environment: ["PATH": path, "CUSTODY_PASSPHRASE": WalkthroughTests.passphrase])
        XCTAssertEqual(run.status, 0, "the README walkthrough failed:\n\(run.out)\n\(run.err)")
        XCTAssertTrue(run.out.contains("verified: every check passed"), run.out)
        XCTAssertTrue(run.out.contains("transfer.txt"), "tar lists what age decrypted:\n\(run.out)")
        XCTAssertTrue(run.out.contains("may go to NL; written to consent-nl.txt; ledger entry"), run.out)
        XCTAssertTrue(run.out.contains("report written to report-42.html: bundle verified, every check passed"),
                      run.out)

        // The multi-agency report: both ledgers told apart, the imported consent as the grant, no raw JSON.
        let page = try String(contentsOf: dir.appendingPathComponent("report-42.html"), encoding: .utf8)
        for expected in ["FR #0", "FR #4", "DE #0", "CONSENT TO NL, granted by fr (FR)", "(recorded the grant)",
                         "<dt>Original name</dt><dd>usb-stick.img</dd>"] {
            XCTAssertTrue(page.contains(expected), "the report lacks \(expected)")
        }
        XCTAssertFalse(page.contains("<code>{"), "ledger details are shown as raw JSON")
        XCTAssertFalse(page.contains("&quot;bundlePath&quot;"), "ledger details are shown as raw JSON")

        let chromium = try ReportCommandTests.chromium()
        let output = try CLI.testOutputFolder()
        let multi = try WalkthroughTests.render(dir.appendingPathComponent("report-42.html"), chromium: chromium,
                                                 into: output, name: "walkthrough-report", profile: dir)
        // The sealed bundle alone (three items, no other ledger): a few pages, not 11.
        let single = dir.appendingPathComponent("bundle-42.html")
        XCTAssertEqual(try CLI.run(["report", dir.appendingPathComponent("bundle-42").path, "--html", single.path,
                                    "--trust", dir.appendingPathComponent("de-trust.json").path, "--quiet"]).status, 0)
        let alone = try WalkthroughTests.render(single, chromium: chromium, into: output, name: "walkthrough-bundle",
                                                profile: dir)
        XCTAssertLessThanOrEqual(alone, 3, "the 3-item bundle's report prints in \(alone) A4 pages")
        XCTAssertLessThanOrEqual(multi, 6, "the multi-agency report prints in \(multi) A4 pages")
        XCTAssertGreaterThanOrEqual(alone, 1)
    }

    /// Prints `html` to PDF and screenshots it with Chromium into `folder` (NAME.pdf, NAME.png); returns the
    /// PDF's page count.
    static func render(_ html: URL, chromium: String, into folder: URL, name: String, profile: URL) throws -> Int {
        let pdf = folder.appendingPathComponent(name + ".pdf").path
        let png = folder.appendingPathComponent(name + ".png").path
        try? FileManager.default.removeItem(atPath: pdf)
        try? FileManager.default.removeItem(atPath: png)
        let common = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--v=0",
                      "--user-data-dir=" + profile.appendingPathComponent("chromium-profile").path]
        for extra in [["--print-to-pdf=" + pdf, "--no-pdf-header-footer"],
                      ["--screenshot=" + png, "--window-size=1200,2000"]] {
            var arguments = common + extra + [html.absoluteString]
            var program = chromium
            if let timeout = CLI.which("timeout") {
                arguments = ["120", chromium] + arguments
                program = timeout
            }
            _ = try CLI.runTool(program, arguments)
        }
        let screenshot = try [UInt8](Data(contentsOf: URL(fileURLWithPath: png)))
        let image = try PNGImage.decode(screenshot)
        XCTAssertGreaterThan(image.fraction { $0.min()! < 200 }, 0.02, "\(png) is (almost) blank")
        let document = try Data(contentsOf: URL(fileURLWithPath: pdf))
        let text = String(decoding: document, as: UTF8.self)
        let pages = text.components(separatedBy: "/Type /Page").count - 1
            - (text.components(separatedBy: "/Type /Pages").count - 1)
        let compact = text.components(separatedBy: "/Type/Page").count - 1
            - (text.components(separatedBy: "/Type/Pages").count - 1)
        return pages + compact
    }
}
