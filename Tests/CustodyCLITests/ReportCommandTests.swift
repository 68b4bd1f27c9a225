import CZlib
import Foundation
import XCTest
import CustodyKit

/// `custody export case|dfxml` and `custody report` on a bundle sealed through the CLI, checked with the peers
/// that read these formats (case_validate, xmllint, sha256sum, a headless chromium) when they are installed.
final class ReportCommandTests: XCTestCase {
    var dir: URL!
    var bundle: String { dir.appendingPathComponent("bundle").path }
    var inputs: [String] = []

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    override func setUpWithError() throws {
        dir = try makeTemporaryDirectory(self)
        let keygen = try CLI.run(["keygen", "--name", "fr-officer", "--agency", "Police <judiciaire> & co",
                                  "--jurisdiction", "FR", "--out", dir.path, "--no-passphrase"])
        XCTAssertEqual(keygen.status, 0, keygen.err)
        let ledger = path("fr.ledger")
        let initialized = try CLI.run(["ledger", "init", ledger, "--origin", "police.fr.example/custody",
                                       "--key", path("fr-officer.key")])
        XCTAssertEqual(initialized.status, 0, initialized.err)
        var bytes = [UInt8](repeating: 0, count: 300_000)
        for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: index &* 2_654_435_761 >> 13) }
        inputs = [path("disk image.bin"), path("report & notes <draft>.txt")]
        try Data(bytes).write(to: URL(fileURLWithPath: inputs[0]))
        try Data("seized notes\n".utf8).write(to: URL(fileURLWithPath: inputs[1]))
        let sealed = try CLI.run(["seal", "--ledger", ledger, "--key", path("fr-officer.key"), "--out", bundle,
                                  "--case", "FR-2026-0042", "--evidence-number", "E-1", "--quiet",
                                  "--legal-basis", "Art. 40 <script>alert(1)</script>", "-a", "md5,sha1"] + inputs)
        XCTAssertEqual(sealed.status, 0, sealed.err)
    }

    /// Runs `custody report` on the bundle into `html`, checks its exit status and that its line says `saying`, and
    /// returns the page.
    func report(_ html: String, expect status: Int32, saying: String, file: StaticString = #filePath,
                line: UInt = #line) throws -> String {
        let result = try CLI.run(["report", bundle, "--html", html, "--quiet"])
        XCTAssertEqual(result.status, status, result.err, file: file, line: line)
        XCTAssertTrue(result.out.contains(saying), result.out, file: file, line: line)
        return try String(contentsOfFile: html, encoding: .utf8)
    }

    func testExportCaseIsReproducibleAndConformsToCASE() throws {
        let out = path("case.jsonld")
        let exported = try CLI.run(["export", "case", bundle, "--out", out, "--quiet"])
        XCTAssertEqual(exported.status, 0, exported.err)
        XCTAssertEqual(exported.out, "")
        let text = try String(contentsOfFile: out, encoding: .utf8)
        let again = try CLI.run(["export", "case", bundle, "--quiet"])
        XCTAssertEqual(again.out, text, "the same bundle exports the same graph")
        let graph = try XCTUnwrap(try JSONValue.parse(text)["@graph"]?.arrayValue)
        XCTAssertEqual(graph.filter { $0["@type"]?.stringValue == "uco-observable:File" }.count, 2)
        let actions = graph.filter { $0["@type"]?.stringValue == "case-investigation:InvestigativeAction" }
        XCTAssertEqual(actions.compactMap { $0["uco-core:name"]?.stringValue }, ["acquire", "acquire", "seal"])
        XCTAssertTrue(text.contains("\"custody:verification\": \"passed\""))

        let validator = try CLI.requireTool("case_validate")
        let result = try CLI.runTool(validator, ["--built-version", "case-1.4.0", out])
        XCTAssertEqual(result.status, 0, result.out + result.err)
        XCTAssertTrue(result.out.contains("Conforms: True"), result.out)
    }

    func testExportDFXMLMatchesTheInputsAndTheSchema() throws {
        let exported = try CLI.run(["export", "dfxml", bundle, "--quiet"])
        XCTAssertEqual(exported.status, 0, exported.err)
        let text = exported.out
        XCTAssertEqual(text.components(separatedBy: "<fileobject>").count - 1, 2)
        XCTAssertTrue(text.contains("<!-- custody verification: passed -->"))
        XCTAssertTrue(text.contains("<filename>report &amp; notes &lt;draft&gt;.txt</filename>"), text)
        XCTAssertTrue(text.contains("<filesize>300000</filesize>"))
        // The digests are those of the original files, as coreutils computes them.
        let sha256sum = try CLI.requireTool("sha256sum")
        for input in inputs {
            let sum = try CLI.runTool(sha256sum, [input])
            let hex = String(sum.out.prefix(64))
            XCTAssertTrue(text.contains("<hashdigest type='SHA256'>\(hex)</hashdigest>"), input)
        }
        XCTAssertTrue(text.contains("<hashdigest type='MD5'>"))
        XCTAssertTrue(text.contains("<hashdigest type='SHA1'>"))
        XCTAssertTrue(text.contains("<hashdigest type='TREE-SHA256-1M'>"))
        let file = path("items.dfxml")
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        let xmllint = try CLI.requireTool("xmllint")
        let schema = CLI.packageRoot.appendingPathComponent("Tests/Fixtures/dfxml-subset.xsd").path
        let checked = try CLI.runTool(xmllint, ["--noout", "--schema", schema, file])
        XCTAssertEqual(checked.status, 0, checked.err)
    }

    func testReportOfAVerifiedBundleRendersInChromium() throws {
        let html = path("report.html")
        let page = try report(html, expect: 0, saying: "bundle verified")
        XCTAssertTrue(page.contains("VERIFIED, signers NOT checked"), "no --trust: the banner says so")
        XCTAssertFalse(page.contains("VERIFIED: every check passed"))
        XCTAssertTrue(page.contains("Art. 40 &lt;script&gt;alert(1)&lt;/script&gt;"))
        XCTAssertFalse(page.contains("<script"))
        XCTAssertTrue(page.contains("Police &lt;judiciaire&gt; &amp; co"))
        XCTAssertEqual(page.components(separatedBy: "<g class=\"entry\"").count - 1, 3)
        XCTAssertTrue(page.contains("report &amp; notes &lt;draft&gt;.txt"))

        let chromium = try ReportCommandTests.chromium()
        let screenshot = try CLI.testOutputFolder().appendingPathComponent("report-verified.png").path
        try? FileManager.default.removeItem(atPath: screenshot)
        var arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr",
                         "--v=0", "--user-data-dir=" + path("chromium-profile"), "--screenshot=" + screenshot,
                         "--window-size=1200,1600", URL(fileURLWithPath: html).absoluteString]
        var program = chromium
        if let timeout = CLI.which("timeout") {
            arguments = ["120", chromium] + arguments
            program = timeout
        }
        let run = try CLI.runTool(program, arguments)
        let consoleLines = run.err.split(separator: "\n").filter { $0.contains(":CONSOLE") }
        XCTAssertEqual(consoleLines, [], "the page logged to the console")
        let png = try [UInt8](Data(contentsOf: URL(fileURLWithPath: screenshot)))
        let image = try PNGImage.decode(png)
        XCTAssertEqual(image.width, 1200)
        XCTAssertEqual(image.height, 1600)
        let ink = image.fraction { $0.min()! < 200 }
        XCTAssertGreaterThan(ink, 0.02, "the screenshot is (almost) blank")
        let green = image.fraction { $0[1] > 100 && $0[0] < 80 && $0[2] < 100 }
        XCTAssertGreaterThan(green, 0.0005, "the VERIFIED banner and statuses are green")
    }

    func testTamperedBundleIsReportedAndExportedAsFailed() throws {
        let payload = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: bundle + "/data")
            .sorted().first)
        let victim = bundle + "/data/" + payload
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: victim)))
        bytes[bytes.count / 2] ^= 0x20
        try Data(bytes).write(to: URL(fileURLWithPath: victim))

        let page = try report(path("failed.html"), expect: 1, saying: "FAILED verification")
        XCTAssertTrue(page.contains("VERIFICATION FAILED"))
        XCTAssertTrue(page.contains("<td class=\"status failed\">FAILED</td><td>item 1 payload</td>"))
        XCTAssertTrue(page.contains("<td class=\"status failed\">failed</td>"), "item 1's status")
        XCTAssertTrue(page.contains("<td class=\"status verified\">verified</td>"), "item 2 still verifies")
        XCTAssertTrue(page.contains("<g class=\"verdict failed\">"))

        let out = path("case.jsonld")
        let export = try CLI.run(["export", "case", bundle, "--out", out, "--quiet"])
        XCTAssertEqual(export.status, 1)
        XCTAssertTrue(export.err.contains("FAILED verification"), export.err)
        XCTAssertEqual(export.err.split(separator: "\n").count, 1, export.err)
        let graph = try String(contentsOfFile: out, encoding: .utf8)
        XCTAssertTrue(graph.contains("\"custody:verification\": \"failed\""))
        let unverified = try CLI.run(["export", "dfxml", bundle, "--no-verify", "--quiet"])
        XCTAssertEqual(unverified.status, 0, unverified.err)
        XCTAssertTrue(unverified.out.contains("<fileobject>"))
        XCTAssertTrue(unverified.out.contains("<!-- custody verification: not performed -->"))
        let failedDFXML = try CLI.run(["export", "dfxml", bundle, "--quiet"])
        XCTAssertEqual(failedDFXML.status, 1)
        XCTAssertTrue(failedDFXML.out.contains("<!-- custody verification: failed -->"))
        let fast = try CLI.run(["export", "case", bundle, "--no-verify", "--quiet"])
        XCTAssertEqual(fast.status, 0, fast.err)
        XCTAssertTrue(fast.out.contains("\"custody:verification\": \"not performed\""))
    }

    func testUnreadableBundleOrOutputIsAnOperationalError() throws {
        let missing = path("no-such-bundle")
        for arguments in [["report", missing, "--html", path("x.html")], ["export", "case", missing],
                          ["export", "dfxml", missing, "--out", path("x.xml")],
                          ["report", bundle, "--html", path("no-such-dir/report.html"), "--quiet"],
                          ["report", bundle], ["export", "xml", bundle]] {
            let result = try CLI.run(arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.err)")
            XCTAssertFalse(result.err.isEmpty, "\(arguments)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("x.html")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("x.xml")))
        let notDirectory = try CLI.run(["export", "case", inputs[1]])
        XCTAssertEqual(notDirectory.status, 2)
        XCTAssertTrue(notDirectory.err.contains("not a bundle directory"), notDirectory.err)
        // Nothing is ever written into the bundle: an output there is refused, and the bundle still verifies.
        let items = bundle + "/custody/items.json"
        let before = try FileSystem.readFile(items)
        for arguments in [["report", bundle, "--html", items, "--quiet"], ["export", "dfxml", bundle, "--out", items],
                          ["export", "case", bundle, "--out", bundle + "/data/../new.json"]] {
            let refused = try CLI.run(arguments)
            XCTAssertEqual(refused.status, 2, "\(arguments): \(refused.err)")
            XCTAssertTrue(refused.err.contains("inside the bundle"), refused.err)
        }
        XCTAssertEqual(try FileSystem.readFile(items), before)
        XCTAssertFalse(FileManager.default.fileExists(atPath: bundle + "/new.json"))
        XCTAssertEqual(try CLI.run(["verify", bundle, "--fast"]).status, 0)
    }

    static func chromium() throws -> String {
        for name in ["chromium", "chromium-browser"] {
            if let found = CLI.which(name) { return found }
        }
        throw XCTSkip("chromium is not installed (Debian: apt-get install chromium); the browser rendering check "
            + "needs it")
    }
}

/// A minimal PNG decoder for screenshots: 8-bit RGB or RGBA, not interlaced.
struct PNGImage {
    var width: Int
    var height: Int
    var channels: Int
    var pixels: [UInt8]

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func decode(_ bytes: [UInt8]) throws -> PNGImage {
        guard bytes.count > 8, bytes.prefix(8).elementsEqual([137, 80, 78, 71, 13, 10, 26, 10]) else {
            throw Failure(description: "not a PNG")
        }
        func be32(_ offset: Int) -> Int {
            bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
        }
        var offset = 8
        var width = 0, height = 0, channels = 0
        var compressed: [UInt8] = []
        while offset + 12 <= bytes.count {
            let length = be32(offset)
            let type = String(decoding: bytes[offset + 4..<offset + 8], as: UTF8.self)
            let body = offset + 8
            guard body + length + 4 <= bytes.count else { throw Failure(description: "truncated chunk \(type)") }
            switch type {
            case "IHDR":
                width = be32(body)
                height = be32(body + 4)
                guard bytes[body + 8] == 8, bytes[body + 12] == 0 else {
                    throw Failure(description: "only 8-bit non-interlaced PNGs are decoded")
                }
                switch bytes[body + 9] {
                case 2: channels = 3
                case 6: channels = 4
                default: throw Failure(description: "colour type \(bytes[body + 9]) is not RGB or RGBA")
                }
            case "IDAT": compressed += bytes[body..<body + length]
            default: break
            }
            offset = body + length + 4
        }
        let stride = width * channels
        var raw = [UInt8](repeating: 0, count: height * (stride + 1))
        var rawLength = uLongf(raw.count)
        let status = raw.withUnsafeMutableBufferPointer { output in
            compressed.withUnsafeBufferPointer { input in
                uncompress(output.baseAddress, &rawLength, input.baseAddress, uLong(input.count))
            }
        }
        guard status == Z_OK, Int(rawLength) == raw.count else { throw Failure(description: "zlib status \(status)") }
        var pixels = [UInt8](repeating: 0, count: height * stride)
        for row in 0..<height {
            let filter = raw[row * (stride + 1)]
            let source = row * (stride + 1) + 1
            let target = row * stride
            for index in 0..<stride {
                let x = Int(raw[source + index])
                let left = index >= channels ? Int(pixels[target + index - channels]) : 0
                let up = row > 0 ? Int(pixels[target - stride + index]) : 0
                let upLeft = row > 0 && index >= channels ? Int(pixels[target - stride + index - channels]) : 0
                let predicted: Int
                switch filter {
                case 0: predicted = 0
                case 1: predicted = left
                case 2: predicted = up
                case 3: predicted = (left + up) / 2
                case 4:
                    let estimate = left + up - upLeft
                    let (a, b, c) = (abs(estimate - left), abs(estimate - up), abs(estimate - upLeft))
                    predicted = a <= b && a <= c ? left : b <= c ? up : upLeft
                default: throw Failure(description: "row \(row): unknown filter \(filter)")
                }
                pixels[target + index] = UInt8(truncatingIfNeeded: x + predicted)
            }
        }
        return PNGImage(width: width, height: height, channels: channels, pixels: pixels)
    }

    /// The fraction of pixels whose RGB values satisfy `test`.
    func fraction(_ test: ([UInt8]) -> Bool) -> Double {
        var count = 0
        for start in Swift.stride(from: 0, to: pixels.count, by: channels)
        where test(Array(pixels[start..<start + 3])) {
            count += 1
        }
        return Double(count) / Double(max(1, width * height))
    }
}
