// swift-tools-version:6.0
import PackageDescription

// A small benchmark driver for custody's age implementation, outside the root package (no executables there).
let package = Package(
    name: "age-bench",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "custody", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "age-bench",
            dependencies: [.product(name: "CustodyKit", package: "custody")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
