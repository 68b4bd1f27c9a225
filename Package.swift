// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "custody",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "CustodyKit", targets: ["CustodyKit"]),
        .executable(name: "custody", targets: ["custody"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
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
        .target(
            name: "CCustodySystem"
        ),
        .target(
            name: "CustodyKit",
            dependencies: ["COpenSSL", "CZlib", "CSQLite", "CCustodySystem"]
        ),
        .executableTarget(
            name: "custody",
            dependencies: [
                "CustodyKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "CustodyKitTests",
            dependencies: ["CustodyKit"]
        ),
        .testTarget(
            name: "CustodyCLITests",
            dependencies: ["CustodyKit", "custody", "CZlib"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
