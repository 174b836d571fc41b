// swift-tools-version: 6.1
// libFuzzer targets for the gateway's untrusted-input parsers (docs/hardening.md).
// Linux only; built and run by scripts/fuzz.sh. The parsers' sources are the main package's own
// files, linked in by symlink (Sources/MarketCore, Sources/Venues, …), so only the pure modules
// are compiled with coverage and AddressSanitizer, not NIO, PostgresNIO or Hummingbird.
import PackageDescription

let features: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]
let instrumented: [SwiftSetting] = features + [.unsafeFlags(["-sanitize=fuzzer,address"])]
let fuzzerLink: [LinkerSetting] = [.unsafeFlags(["-sanitize=fuzzer,address", "-use-ld=lld"])]

func fuzzer(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(
        name: name, dependencies: dependencies, swiftSettings: instrumented,
        linkerSettings: fuzzerLink)
}

let package = Package(
    name: "MarketGatewayFuzz",
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "MarketCore", swiftSettings: instrumented),
        .target(name: "Venues", dependencies: ["MarketCore"], swiftSettings: instrumented),
        .target(name: "Normalizer", dependencies: ["MarketCore"], swiftSettings: instrumented),
        // What every venue target shares: the harness and the invariants.
        .target(name: "VenueFuzzing", dependencies: ["MarketCore", "Venues", "Normalizer"], swiftSettings: instrumented),
        fuzzer("FuzzBinance", ["VenueFuzzing"]),
        fuzzer("FuzzCoinbase", ["VenueFuzzing"]),
        fuzzer("FuzzKraken", ["VenueFuzzing"]),
        fuzzer("FuzzOKX", ["VenueFuzzing"]),
        fuzzer("FuzzBybit", ["VenueFuzzing"]),
        // Feeds/CaptureReader.swift (symlink) and its harness.
        fuzzer("FuzzCapture", ["MarketCore", "CZlib"]),
        // FanOut/ClientRequest.swift and ClientProtocolCodes.swift (symlinks) and the harness.
        fuzzer("FuzzClientProtocol", ["MarketCore"]),
        // GatewayApp/Configuration/*.swift (symlinks) and the harness; Storage here is a stand-in
        // for the types the loader uses from the real Storage module (which needs PostgresNIO); Services
        // likewise (SignalConfig; the real module needs JWTKit).
        .target(name: "Storage", swiftSettings: features),
        .target(name: "Services", dependencies: ["MarketCore"], swiftSettings: features),
        // The cluster settings' roles and the NATS URL parser (symlinks to the real files).
        .target(name: "Cluster", swiftSettings: features),
        .target(name: "NATS", swiftSettings: features),
        fuzzer("FuzzConfig", ["MarketCore", "Storage", "Services", "Cluster", "NATS", "Venues", .product(name: "Logging", package: "swift-log"), .product(name: "Yams", package: "Yams")]),
    ]
)
