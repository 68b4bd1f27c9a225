// swift-tools-version:6.1
import Foundation
import PackageDescription

/// The root package's identity is its folder's name (a path dependency), whatever the clone is called.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

// Performance benchmarks, kept out of the root package so `swift build` and `swift test` never build them.
// Run: `cd Benchmarks && swift package benchmark`; the peers comparison is `./compare.sh`.
let package = Package(
    name: "CustodyBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "HashingBenchmarks",
            dependencies: [
                .product(name: "CustodyKit", package: root),
                .product(name: "Benchmark", package: "package-benchmark"),
            ],
            path: "Benchmarks/HashingBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "package-benchmark"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
