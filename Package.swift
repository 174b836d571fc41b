// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "MarketGateway",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "gateway", targets: ["GatewayCLI"]),
        .library(name: "MarketCore", targets: ["MarketCore"]),
        .library(name: "Venues", targets: ["Venues"]),
        .library(name: "Normalizer", targets: ["Normalizer"]),
        .library(name: "Feeds", targets: ["Feeds"]),
        .library(name: "GatewayApp", targets: ["GatewayApp"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // zlib for .jsonl.gz captures (Debian: zlib1g-dev).
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Pure value types: decimals, times, instruments, events, JSON scanning and writing.
        .target(name: "MarketCore", swiftSettings: swiftSettings),
        // Pure venue parsers and sequencing rules, one folder per exchange.
        .target(name: "Venues", dependencies: ["MarketCore"], swiftSettings: swiftSettings),
        // Pure state machines: order book, synchronizer, candles, snapshot scheduler.
        .target(name: "Normalizer", dependencies: ["MarketCore"], swiftSettings: swiftSettings),
        // Capture files (read, replay) and, later, live feed connections.
        .target(name: "Feeds", dependencies: ["MarketCore", "Venues", "Normalizer", "CZlib"], swiftSettings: swiftSettings),
        // Storage: PostgreSQL (and later SQLite) behind MarketStore.
        .target(
            name: "Storage",
            dependencies: [
                "MarketCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Composition root: the replay runner and (later) the serving gateway.
        .target(
            name: "GatewayApp",
            dependencies: ["MarketCore", "Venues", "Normalizer", "Feeds", "Storage"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "GatewayCLI",
            dependencies: ["GatewayApp", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings
        ),
        // Test support: fixture locations and loaders shared by the test targets.
        .target(name: "_TestSupport", dependencies: ["Feeds", "MarketCore"], swiftSettings: swiftSettings),
        .testTarget(name: "MarketCoreTests", dependencies: ["MarketCore"], swiftSettings: swiftSettings),
        .testTarget(
            name: "VenuesTests", dependencies: ["Venues", "Feeds", "Normalizer", "_TestSupport"],
            // Documentation samples are read from disk by path; they are not resources.
            exclude: ["CoinbaseDocSamples", "KrakenDocSamples", "OKXDocSamples", "BybitDocSamples"],
            swiftSettings: swiftSettings),
        .testTarget(name: "NormalizerTests", dependencies: ["Normalizer", "Venues", "Feeds", "_TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "FeedsTests", dependencies: ["Feeds", "_TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "StorageTests", dependencies: ["Storage"], swiftSettings: swiftSettings),
        .testTarget(name: "GatewayAppTests", dependencies: ["GatewayApp", "_TestSupport"], swiftSettings: swiftSettings),
    ]
)
