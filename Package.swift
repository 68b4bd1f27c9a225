// swift-tools-version:6.0
import PackageDescription

// The layers, each a module that sees only the ones below it (ARCHITECTURE.md):
//
//   custody (command line)
//   CustodyService       the agency log service (custody serve) and its client, on Hummingbird
//   CustodyReport        reports, history, CASE and DFXML exports
//   CustodyTransfer      transfer, receive, receipts, consents, preservation orders
//   CustodyBundle        BagIt bundles: seal, verify, trust store
//   CustodyPostgres      the ledger's PostgreSQL store (beside Bundle, Transfer and Report; not in CustodyKit:
//                        the command line opens it, and programs that want it import it)
//   CustodyLedger        the signed Merkle ledger and its stores
//   CustodyEngine        chunk pipeline, tree and linear digests, packing and unpacking
//   CustodyAge, CustodyTar   file formats: age encryption, tar archives
//   CustodyCrypto        Ed25519, digests, signed notes, RFC 6962 hashing and proofs
//   CustodyIO            descriptors, direct and atomic writes, mapped regions, byte and chunk streams
//   CustodyBase          errors, canonical JSON, hex, base64, timestamps, raw names
let package = Package(
    name: "custody",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "CustodyKit", targets: ["CustodyKit"]),
        .library(name: "CustodyPostgres", targets: ["CustodyPostgres"]),
        .executable(name: "custody", targets: ["custody"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]
        ),
        .target(name: "CCustodySystem"),
        .target(name: "CCustodyISAL"),
        .target(name: "CustodyBase"),
        .target(name: "CustodyIO", dependencies: ["CustodyBase", "CCustodySystem"]),
        .target(name: "CustodyCrypto", dependencies: ["CustodyIO", "CustodyBase", "COpenSSL"]),
        .target(name: "CustodyAge", dependencies: ["CustodyCrypto", "CustodyIO", "CustodyBase", "COpenSSL"]),
        .target(name: "CustodyTar", dependencies: ["CustodyIO", "CustodyBase"]),
        .target(
            name: "CustodyEngine",
            dependencies: ["CustodyCrypto", "CustodyIO", "CustodyBase", "CZlib", "CCustodySystem", "CCustodyISAL"]
        ),
        .target(name: "CustodyLedger", dependencies: ["CustodyCrypto", "CustodyIO", "CustodyBase", "CSQLite"]),
        .target(
            name: "CustodyPostgres",
            dependencies: [
                "CustodyLedger", "CustodyCrypto", "CustodyBase",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "CustodyBundle",
            dependencies: ["CustodyLedger", "CustodyEngine", "CustodyAge", "CustodyCrypto", "CustodyIO", "CustodyBase"]
        ),
        .target(
            name: "CustodyTransfer",
            dependencies: [
                "CustodyBundle", "CustodyLedger", "CustodyEngine", "CustodyAge", "CustodyTar", "CustodyCrypto",
                "CustodyIO", "CustodyBase",
            ]
        ),
        .target(
            name: "CustodyReport",
            dependencies: [
                "CustodyTransfer", "CustodyBundle", "CustodyLedger", "CustodyEngine", "CustodyCrypto", "CustodyIO",
                "CustodyBase",
            ]
        ),
        .target(
            name: "CustodyService",
            dependencies: [
                "CustodyBundle", "CustodyLedger", "CustodyCrypto", "CustodyIO", "CustodyBase",
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .target(
            name: "CustodyKit",
            dependencies: [
                "CustodyReport", "CustodyTransfer", "CustodyBundle", "CustodyLedger", "CustodyEngine", "CustodyAge",
                "CustodyTar", "CustodyCrypto", "CustodyIO", "CustodyBase",
            ]
        ),
        .target(
            name: "CustodyTestSupport",
            dependencies: ["CustodyPostgres", "CustodyLedger", "CustodyCrypto", "CustodyIO", "CustodyBase"]
        ),
        .executableTarget(
            name: "custody",
            dependencies: [
                "CustodyKit", "CustodyPostgres", "CustodyService",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "CustodyKitTests",
            dependencies: ["CustodyKit", "CustodyPostgres", "CustodyService", "CustodyTestSupport"]
        ),
        .testTarget(
            name: "CustodyCLITests",
            dependencies: [
                "CustodyKit", "CustodyPostgres", "CustodyService", "CustodyTestSupport", "custody", "CZlib",
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
