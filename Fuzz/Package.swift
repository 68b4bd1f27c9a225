// swift-tools-version:6.0
import Foundation
import PackageDescription

/// The root package's identity is its folder's name (a path dependency), whatever the clone is called.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

// libFuzzer targets for custody's parsers, kept out of the root package so `swift build` and `swift test` never
// build them. One binary holds every target (Sources/CustodyFuzz/Targets, listed in Registry.swift); `fuzz.sh`
// builds it with -sanitize=fuzzer,address and runs it once per target. See README.md and RESULTS.md here.
let package = Package(
    name: "CustodyFuzz",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(path: ".."),
    ],
    targets: [
        .target(name: "CFuzzerDriver"),
        .systemLibrary(name: "CZlibFuzz", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .executableTarget(
            name: "CustodyFuzz",
            dependencies: ["CFuzzerDriver", "CZlibFuzz", .product(name: "CustodyKit", package: root)]
        ),
    ],
    swiftLanguageModes: [.v6]
)
