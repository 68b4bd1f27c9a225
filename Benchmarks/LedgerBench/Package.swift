// swift-tools-version:6.0
// A release-built measuring program for the ledger (issue 4): durable append rates, proof times and verify time
// at 1,000,000 entries, through the library in one process. Run it with ../ledger-bench.sh, which records the
// figures in ../RESULTS-ledger.md. The library sources are the main package's, through symbolic links, so this
// package builds offline without naming the main package.
import PackageDescription

let package = Package(
    name: "LedgerBench",
    platforms: [.macOS(.v13)],
    targets: [
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl"),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib"),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3"),
        .target(name: "CustodyKit", dependencies: ["COpenSSL", "CZlib", "CSQLite"]),
        .executableTarget(name: "LedgerBench", dependencies: ["CustodyKit"]),
    ],
    swiftLanguageModes: [.v6]
)
