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
        .library(name: "Storage", targets: ["Storage"]),
        .library(name: "Bus", targets: ["Bus"]),
        .library(name: "FanOut", targets: ["FanOut"]),
        .library(name: "Services", targets: ["Services"]),
        .library(name: "GatewayApp", targets: ["GatewayApp"]),
        // For the load tools in load-tests/ (their own package).
        .library(name: "ExchangeSimulator", targets: ["ExchangeSimulator"]),
        .library(name: "NATS", targets: ["NATS"]),
        .library(name: "Cluster", targets: ["Cluster"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/vapor/sqlite-nio", from: "1.13.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.6.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.7.1"),
        // SHA-256 of strategy definitions and HMAC-SHA256 of deposit webhooks (already in the graph via jwt-kit).
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        // Test-only: property-based tests of the paper-trading ledger against an independent BigInt computation.
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/attaswift/BigInt", from: "6.0.1"),
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
        // Capture files (read, write, replay) and live feed connections (websocket + REST).
        .target(
            name: "Feeds",
            dependencies: [
                "MarketCore", "Venues", "Normalizer", "CZlib",
                .product(name: "WSClient", package: "swift-websocket"),
                .product(name: "WSCompression", package: "swift-websocket"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings),
        // A local exchange for tests and the demo: serves captures' original frames over real
        // websockets and REST on 127.0.0.1, with fault injection. Its venue models are its own
        // (Foundation JSON, Foundation Decimal), independent of Venues/Normalizer.
        .target(
            name: "ExchangeSimulator",
            dependencies: [
                "MarketCore", "Feeds", "CZlib",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings),
        // Storage: MarketStore over PostgreSQL/TimescaleDB (COPY batches) and SQLite, the
        // batching writer with its spill files, and the SQL migrations in Storage/schema
        // (the repository's schema/ folder links there).
        .target(
            name: "Storage",
            dependencies: [
                "MarketCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            resources: [.copy("schema")],
            swiftSettings: swiftSettings
        ),
        // MarketBus: channels, seq/epoch, history, encode-once frames, in-process subscriptions.
        .target(
            name: "Bus", dependencies: ["MarketCore", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings),
        // The fan-out websocket server (/ws): a NIO pipeline per client behind Hummingbird's HTTP server.
        .target(
            name: "FanOut",
            dependencies: [
                "Bus", "MarketCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings),
        // In-process services on the bus: paper execution, pre-trade checks, mood meter, signals,
        // per-user agents, outbound notifications, and the JWT/admin-token authority for user endpoints
        // and private channels.
        .target(
            name: "Services",
            dependencies: [
                "MarketCore", "Bus", "Storage",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                // Outbound notifications (Telegram Bot API sendMessage).
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        // A small NATS client on SwiftNIO (core protocol, reconnect, request-reply, headers) and the
        // JetStream calls the cluster roles need (streams, acked publish, ordered consumer, KV lease).
        .target(
            name: "NATS",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        // The cluster roles over NATS: ingest publishes bus frames as encoded, edges relay them into
        // their local bus with the publisher's seq/epoch (docs/nats.md "Cluster envelope").
        .target(
            name: "Cluster",
            dependencies: [
                "Bus", "NATS", "MarketCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings),
        // Composition root: the gateway (serve, demo, replay) and its HTTP/websocket surface.
        .target(
            name: "GatewayApp",
            dependencies: [
                "MarketCore", "Venues", "Normalizer", "Feeds", "Storage", "ExchangeSimulator", "Bus", "FanOut", "Services", "Cluster",
                "NATS",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            // The pages the gateway serves (/, /ops) and openapi.yaml, read from the bundle at start.
            resources: [.copy("Pages")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "GatewayCLI",
            dependencies: ["GatewayApp", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings
        ),
        // Test support: fixture locations and loaders shared by the test targets.
        .target(
            name: "_TestSupport",
            dependencies: [
                "Feeds", "MarketCore", "Bus", "Storage", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log"),
                // TestHTTPServer: test servers stop by graceful shutdown.
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ], swiftSettings: swiftSettings),
        .testTarget(name: "MarketCoreTests", dependencies: ["MarketCore"], swiftSettings: swiftSettings),
        .testTarget(
            name: "VenuesTests", dependencies: ["Venues", "Feeds", "Normalizer", "_TestSupport"],
            // Documentation samples are read from disk by path; they are not resources.
            exclude: ["CoinbaseDocSamples", "KrakenDocSamples", "OKXDocSamples", "BybitDocSamples"],
            swiftSettings: swiftSettings),
        .testTarget(name: "NormalizerTests", dependencies: ["Normalizer", "Venues", "Feeds", "_TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "BusTests", dependencies: ["Bus", "MarketCore", "_TestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "FanOutTests",
            dependencies: [
                "FanOut", "Bus", "MarketCore", "_TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "ServicesTests",
            dependencies: [
                "Services", "Storage", "Bus", "MarketCore", "Feeds", "_TestSupport", .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "BigInt", package: "BigInt"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "NATSTests",
            dependencies: ["NATS", "_TestSupport", .product(name: "NIOCore", package: "swift-nio"), .product(name: "Logging", package: "swift-log")],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "ClusterTests",
            dependencies: [
                "Cluster", "NATS", "Bus", "FanOut", "Feeds", "MarketCore", "Services", "_TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(name: "FeedsTests", dependencies: ["Feeds", "Venues", "ExchangeSimulator", "Bus", "_TestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ExchangeSimulatorTests",
            dependencies: [
                "ExchangeSimulator", "Venues", "Normalizer", "Feeds", "_TestSupport",
                .product(name: "WSClient", package: "swift-websocket"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "Feeds", "_TestSupport", .product(name: "MetricsTestKit", package: "swift-metrics")], swiftSettings: swiftSettings),
        .testTarget(
            name: "GatewayAppTests",
            dependencies: [
                "GatewayApp", "Storage", "ExchangeSimulator", "_TestSupport", "Services", "Bus", "FanOut", "Feeds", "MarketCore", "NATS",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings),
    ]
)
