// swift-tools-version:6.0
// A release-built measuring program for the PostgreSQL ledger store (issue 18): durable appends per second from 1
// and 16 concurrent writers against PostgreSQL and SQLite in the same run, and proof times on a large PostgreSQL
// log. Run it with ../postgres-ledger-bench.sh, which starts a throw-away cluster and records the figures in
// ../RESULTS-postgres.md. It depends on the main package by path, like the other benchmark packages.
import PackageDescription

let package = Package(
    name: "PostgresLedgerBench",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "custody", path: "../..")],
    targets: [
        .executableTarget(
            name: "PostgresLedgerBench",
            dependencies: [
                .product(name: "CustodyKit", package: "custody"),
                .product(name: "CustodyPostgres", package: "custody"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
