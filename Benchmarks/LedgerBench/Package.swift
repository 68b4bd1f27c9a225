// swift-tools-version:6.0
// A release-built measuring program for the ledger (issue 4): durable append rates, proof times and verify time
// at 1,000,000 entries, through the library in one process. Run it with ../ledger-bench.sh, which records the
// figures in ../RESULTS-ledger.md. It depends on the main package by path, like the other benchmark packages.
import PackageDescription

let package = Package(
    name: "LedgerBench",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "custody", path: "../..")],
    targets: [
        .executableTarget(name: "LedgerBench", dependencies: [.product(name: "CustodyKit", package: "custody")]),
    ],
    swiftLanguageModes: [.v6]
)
