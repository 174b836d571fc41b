// swift-tools-version: 6.1
// Load and soak tools (load-tests/README.md, FANOUT.md, docs/nats.md). They are not part of the
// gateway, so they live in their own package: their dependencies (hdrhistogram-swift) never reach
// the gateway's build, and `swift build` of the gateway does not compile them.
//
// Build from this directory:  swift build -c release
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "LoadTests",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "MarketGateway", path: "../"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // Starts a local nats-server for the NATS benches.
        .target(name: "NATSServerProcess", path: "nats-server-process", swiftSettings: swiftSettings),
        // The soak run (README.md): the live feed against the simulator with faults.
        .executableTarget(
            name: "soak",
            dependencies: [
                .product(name: "ExchangeSimulator", package: "MarketGateway"),
                .product(name: "Feeds", package: "MarketGateway"),
                .product(name: "Normalizer", package: "MarketGateway"),
                .product(name: "MarketCore", package: "MarketGateway"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "soak",
            swiftSettings: swiftSettings
        ),
        // The live path's throughput (README.md "Live path"): one Binance feed session against the simulator
        // in a child process at full speed, into the bus; frames/s and CPU per frame.
        .executableTarget(
            name: "live-bench",
            dependencies: [
                .product(name: "ExchangeSimulator", package: "MarketGateway"),
                .product(name: "Feeds", package: "MarketGateway"),
                .product(name: "Bus", package: "MarketGateway"),
                .product(name: "MarketCore", package: "MarketGateway"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "live-bench",
            swiftSettings: swiftSettings
        ),
        // The fan-out websocket load generator (FANOUT.md).
        .executableTarget(
            name: "loadgen",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "loadgen",
            swiftSettings: swiftSettings
        ),
        // Latency the cluster's NATS hop adds: ingest bus → ClusterPublisher → nats-server → ClusterEdge →
        // edge bus, against the in-process bus alone (docs/nats.md "Gateway cluster").
        .executableTarget(
            name: "cluster-bench",
            dependencies: [
                .product(name: "Cluster", package: "MarketGateway"), .product(name: "NATS", package: "MarketGateway"),
                .product(name: "Bus", package: "MarketGateway"), .product(name: "MarketCore", package: "MarketGateway"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"), "NATSServerProcess",
            ],
            path: "cluster-bench",
            swiftSettings: swiftSettings
        ),
        // Publish→receive throughput and latency of the NATS client through a local nats-server (docs/nats.md).
        .executableTarget(
            name: "nats-bench",
            dependencies: [
                .product(name: "NATS", package: "MarketGateway"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"), "NATSServerProcess",
            ],
            path: "nats-bench",
            swiftSettings: swiftSettings
        ),
    ]
)
