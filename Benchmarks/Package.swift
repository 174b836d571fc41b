// swift-tools-version: 6.1
// Benchmarks for MarketGateway (STYLE.md §11.8), kept in their own package so the benchmark
// dependency (package-benchmark and its malloc interposer) never reaches the gateway itself.
//
// Run from this directory:
//   swift package --allow-writing-to-package-directory benchmark
import PackageDescription

let package = Package(
    name: "GatewayBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Named, so the products resolve whatever the checkout folder is called.
        .package(name: "MarketGateway", path: "../"),
        // The MallocInterposer trait gives .mallocCountTotal on Swift 6.3 without any system
        // library. Naming the trait explicitly also turns off the default RuntimeInterposer trait
        // (its package is not needed for the metrics used here).
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        // StoreBench only: its row-at-a-time INSERT baseline talks to PostgreSQL directly.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // LedgerBench only: bulk-inserts a million postings into SQLite directly.
        .package(url: "https://github.com/vapor/sqlite-nio", from: "1.13.2"),
    ],
    targets: [
        // package-benchmark discovers executable targets whose folder sits in a folder named
        // `Benchmarks` (BenchmarkCommandPlugin: `directoryURL.deletingLastPathComponent()`), which
        // this package's own folder is.
        .executableTarget(
            name: "GatewayBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "MarketCore", package: "MarketGateway"),
                .product(name: "Venues", package: "MarketGateway"),
                .product(name: "Normalizer", package: "MarketGateway"),
                .product(name: "Feeds", package: "MarketGateway"),
                .product(name: "Services", package: "MarketGateway"),
            ],
            path: "GatewayBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // The CI regression gate (docs/performance.md, "CI benchmark threshold"): four pipelines of the target
        // above over MarketCore, Venues and Normalizer only (no Feeds: NIO, AsyncHTTPClient and
        // BoringSSL would make its release build too long for .ci/run), checked against Thresholds/.
        .executableTarget(
            name: "PipelineThresholds",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "MarketCore", package: "MarketGateway"),
                .product(name: "Venues", package: "MarketGateway"),
                .product(name: "Normalizer", package: "MarketGateway"),
            ],
            path: "PipelineThresholds",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Storage write throughput against a live PostgreSQL (BENCHMARKS.md "Storage writes"): the
        // COPY writer (`PostgresStore.write`) against one parameterized INSERT per row. A plain
        // executable, not a package-benchmark target; run it next to a throwaway server:
        //   bash ../scripts/with-postgres.sh swift run -c release -Xswiftc -Osize StoreBench
        // (-Osize because swift-frontend 6.3.1 crashes compiling the Storage module with -O:
        // SQLiteStore.candles, LLVM CoroSplit; see BENCHMARKS.md "Storage writes".)
        // The sources sit one level down (StoreBench/Sources) on purpose: the benchmark plugin
        // runs every executable target whose folder's parent is named `Benchmarks`, and this one
        // needs a database, so `swift package benchmark` must not pick it up.
        .executableTarget(
            name: "StoreBench",
            dependencies: [
                .product(name: "MarketCore", package: "MarketGateway"),
                .product(name: "Feeds", package: "MarketGateway"),
                .product(name: "Storage", package: "MarketGateway"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "StoreBench/Sources",
            swiftSettings: [
                .enableUpcomingFeature("ExistentialAny"),
                .enableUpcomingFeature("MemberImportVisibility"),
            ]
        ),
            // The double-entry ledger (docs/trading.md "The double-entry ledger", docs/performance.md
        // "Ledger"): transactions/s through the paper-trading path on SQLite and PostgreSQL, and
        // the reconciliation of a million bulk-inserted postings. A plain executable like
        // StoreBench (same -Osize reason), one level down for the same reason:
        //   bash ../scripts/with-postgres.sh swift run -c release -Xswiftc -Osize LedgerBench
        .executableTarget(
            name: "LedgerBench",
            dependencies: [
                .product(name: "MarketCore", package: "MarketGateway"),
                .product(name: "Storage", package: "MarketGateway"),
                .product(name: "Services", package: "MarketGateway"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "LedgerBench/Sources",
            swiftSettings: [
                .enableUpcomingFeature("ExistentialAny"),
                .enableUpcomingFeature("MemberImportVisibility"),
            ]
        ),
        // The gateway's handler alone over a capture's frames, the like-for-like peer of
        // cryptofeed's handler (cryptofeed-compare.sh; docs/performance.md "Against cryptofeed,
        // same run"). A plain executable, one level down like StoreBench:
        //   swift run -c release --package-path Benchmarks HandlerCPU CAPTURE.jsonl
        .executableTarget(
            name: "HandlerCPU",
            dependencies: [
                .product(name: "MarketCore", package: "MarketGateway"),
                .product(name: "Venues", package: "MarketGateway"),
                .product(name: "Normalizer", package: "MarketGateway"),
            ],
            path: "HandlerCPU/Sources",
            swiftSettings: [
                .enableUpcomingFeature("ExistentialAny"),
                .enableUpcomingFeature("MemberImportVisibility"),
            ]
        ),
    ]
)
