import ArgumentParser
import Feeds
import Foundation
import GatewayApp
import Logging
import MarketCore
import Storage

@main
struct Gateway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "MarketGateway: real-time market-data gateway.",
        subcommands: [Serve.self, Replay.self, Record.self, Migrate.self, API.self, Demo.self, Backtest.self, BenchFanout.self]
    )

    /// `gateway replay …` is parsed by `Replay` alone: building the whole command tree's argument
    /// sets (reflection over every subcommand's options) cost ~2 ms of a replay's start-up. Help,
    /// completion and arguments that do not parse take the full path, so every message is the same.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard arguments.first == "replay", !arguments.dropFirst().contains(where: Self.asksForHelp),
            let command = (try? await Replay.asyncParseAsRoot(Array(arguments.dropFirst()))) as? Replay
        else {
            await main(nil)
            return
        }
        do {
            try await command.run()
        } catch {
            exit(withError: error)
        }
    }

    static func asksForHelp(_ argument: String) -> Bool {
        argument == "-h" || argument == "--help" || argument == "help" || argument.hasPrefix("--generate-completion")
            || argument.hasPrefix("--experimental") || argument == "--version"
    }
}

/// Diagnostics go to stderr (stdout carries replay output); level from `LOG_LEVEL` (default info).
func makeLogger(_ label: String) -> Logger {
    LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
    var logger = Logger(label: label)
    if let level = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) {
        logger.logLevel = level
    }
    return logger
}

/// `--store`, falling back to `DATABASE_URL`.
func storeLocation(_ option: String?, required: Bool) throws -> StoreLocation? {
    guard let text = option ?? ProcessInfo.processInfo.environment["DATABASE_URL"], !text.isEmpty else {
        if required { throw ValidationError("no store: pass --store postgres://…|sqlite:PATH or set DATABASE_URL") }
        return nil
    }
    do {
        return try StoreLocation(parsing: text)
    } catch {
        throw ValidationError("--store: \(error)")
    }
}

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay capture files deterministically and print normalized events as JSON lines.",
        discussion: """
            Output shapes are specified in CONTRACTS.md. Several files are merged by recv_ns; `-` reads \
            an uncompressed capture from standard input. With --store, what is printed is also stored \
            (trades, closed candles, and book snapshots when `books` is emitted); exit status 3 means \
            rows are still waiting in the spill directory because the database was unreachable.
            """
    )

    @Argument(help: "Capture files (.jsonl or .jsonl.gz), or - for standard input.")
    var files: [String]

    @Option(help: "Event types to print: trades,candles,books,status (also tickers, candle-updates).")
    var emit: String?

    @Option(help: "Candle intervals, e.g. 1m,5m.")
    var intervals: String?

    @Option(help: "Book snapshot depth (levels per side).")
    var depth: Int?

    @Option(name: .customLong("snapshot-every"), help: "Book snapshot interval in book event time, e.g. 1s.")
    var snapshotEvery: String?

    @Option(help: "How long after a bucket's end the replay clock closes it, e.g. 2s.")
    var grace: String?

    @Flag(help: "Write a JSON summary line to stderr at the end.")
    var stats = false

    @Option(help: "Also store the output: postgres://user@host:port/db or sqlite:PATH.")
    var store: String?

    @Option(name: .customLong("spill-dir"), help: "Where rows wait while the database is unreachable.")
    var spillDir = "data/spill"

    @Option(name: .customLong("store-timeout"), help: "Seconds a database write may take before its rows go to the spill directory.")
    var storeTimeout: Double = 10

    @Option(name: .customLong("store-flush"), help: "Seconds rows may wait for a batch before they are written to the database.")
    var storeFlush: Double = 0.25

    @Flag(name: .customLong("no-write-ahead"), help: "Hold batches in memory only, not also in the spill directory's log (a killed run then loses them).")
    var noWriteAhead = false

    func run() async throws {
        var run = ReplayRun(paths: files)
        run.printStats = stats
        do {
            try run.configure(emit: emit, intervals: intervals, depth: depth, snapshotEvery: snapshotEvery, grace: grace)
        } catch {
            throw ValidationError(error.description)
        }
        let status: Int32
        if let store {
            let location = try storeLocation(store, required: true)!
            guard storeTimeout > 0 else { throw ValidationError("--store-timeout must be positive") }
            var options = StoreWriterOptions(spillDirectory: spillDir)
            options.writeTimeout = .milliseconds(Int64(storeTimeout * 1000))
            guard storeFlush > 0 else { throw ValidationError("--store-flush must be positive") }
            options.flushInterval = .milliseconds(Int64(storeFlush * 1000))
            options.writeAhead = !noWriteAhead
            status = await run.run(storingTo: location, writerOptions: options, logger: makeLogger("gateway.replay"))
        } else {
            status = run.run()
        }
        if status != 0 { throw ExitCode(status) }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the schema/ migrations to a store (also done at start-up).")

    @Option(help: "postgres://user@host:port/db or sqlite:PATH (default: DATABASE_URL).")
    var store: String?

    func run() async throws {
        let location = try storeLocation(store, required: true)!
        let logger = makeLogger("gateway.migrate")
        let opened = try await location.open(logger: logger)
        do {
            let report = try await opened.migrate()
            print(report)
        } catch {
            await opened.close()
            throw error
        }
        await opened.close()
    }
}

struct Backtest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backtest",
        abstract: "Backtest a strategy file (docs/strategies.md) on a store's closed candles; prints one JSON document.")

    @Option(help: "Strategy definition (JSON: name, kind, parameters, instruments, intervals).")
    var strategy: String

    @Option(help: "Start, inclusive: ISO-8601 UTC (2024-08-08T23:00:00Z) or epoch milliseconds.")
    var from: String

    @Option(help: "End, exclusive: ISO-8601 UTC or epoch milliseconds.")
    var to: String

    @Option(help: "postgres://user@host:port/db or sqlite:PATH (default: DATABASE_URL).")
    var store: String?

    @Option(help: "Quote cash at the start (default 10000).")
    var cash: String?

    func run() async throws {
        let location = try storeLocation(store, required: true)!
        let logger = makeLogger("gateway.backtest")
        do {
            let opened = try await location.open(logger: logger)
            do {
                let json = try await BacktestCommand.run(strategyFile: strategy, store: opened, from: from, to: to, cash: cash)
                await opened.close()
                FileHandle.standardOutput.write(Data(json))
            } catch {
                await opened.close()
                throw error
            }
        } catch {
            throw failure("backtest", "\(error)")
        }
    }
}

struct API: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api",
        abstract: "Serve the history endpoints (/api/v1/market/ohlcv, /orderbook, /health/db) from a store.")

    @Option(help: "postgres://user@host:port/db or sqlite:PATH (default: DATABASE_URL, else sqlite:data/gateway.sqlite).")
    var store: String?

    @Option(help: "Address to bind.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port = 8080

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be from 0 to 65535 (got \(port))") }
    }

    func run() async throws {
        let location = try storeLocation(store, required: false) ?? .sqlite(path: "data/gateway.sqlite")
        let logger = makeLogger("gateway.api")
        do {
            try checkCanListen(host: host, port: port)
            let opened = try await location.open(logger: logger)
            do {
                _ = try await opened.migrate()
                try await MarketAPIServer.run(store: opened, host: host, port: port, logger: logger)
            } catch {
                await opened.close()
                throw error
            }
            await opened.close()
        } catch {
            throw failure("api", "\(error)")
        }
    }
}

struct Record: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Record a venue's live feed (raw frames, REST snapshots, clock ticks) to a capture file.",
        discussion: "Replaying the file with `gateway replay` and the same --emit prints what --emit printed live.")

    @Option(help: "Venue id: binance, binance-usdm, binance-coinm, coinbase, kraken, okx, bybit.")
    var venue: String

    @Option(help: "Canonical symbols, e.g. BTC-USDT,ETH-USDT (perpetuals BTC-USDT-PERP).")
    var symbols: String

    @Option(help: "Capture file (.jsonl, or .jsonl.gz for gzip). Rotations insert .1, .2, … before .jsonl.")
    var out: String

    @Option(help: "Channels: trades,book,ticker.")
    var channels = "trades,book,ticker"

    @Option(name: .customLong("ws-url"), help: "Websocket endpoint (default: the venue's production URL).")
    var wsURL: String?

    @Option(name: .customLong("rest-url"), help: "REST base URL (default: the venue's production URL).")
    var restURL: String?

    @Option(help: "Stop after this many seconds (default: until Ctrl-C).")
    var duration: Double?

    @Option(name: .customLong("rotate-bytes"), help: "Start a new file after this many uncompressed bytes.")
    var rotateBytes = 1 << 30

    @Option(name: .customLong("rotate-every"), help: "Start a new file after this many seconds.")
    var rotateEvery: Double = 3600

    @Option(name: .customLong("stale-after"), help: "Seconds without data before reconnecting.")
    var staleAfter: Double?

    @Option(help: "Also print these normalized events on stdout, as gateway replay does (e.g. trades,candles,books,status).")
    var emit: String?

    func run() async throws {
        let v = Venue(venue)
        guard FeedSettings.knownVenues.contains(v) else {
            throw ValidationError("--venue: unknown venue '\(venue)' (known: \(FeedSettings.knownVenues.map(\.id).joined(separator: ", ")))")
        }
        let list = symbols.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !list.isEmpty else { throw ValidationError("--symbols is empty") }
        var settings = FeedSettings.defaults(for: v, symbols: list)
        if let wsURL { settings.wsURL = wsURL }
        if let restURL { settings.restURL = restURL }
        if let staleAfter { settings.staleAfter = .milliseconds(Int64(staleAfter * 1000)) }
        var ch: FeedChannels = []
        for c in channels.split(separator: ",") {
            switch c {
            case "trades": ch.insert(.trades)
            case "book", "books": ch.insert(.book)
            case "ticker", "tickers": ch.insert(.ticker)
            default: throw ValidationError("--channels: unknown channel '\(c)' (expected trades, book, ticker)")
            }
        }
        settings.channels = ch
        do { _ = try VenueFeedPlan(settings) } catch { throw ValidationError("--symbols: \(error)") }
        var run = RecordRun(settings: settings, out: out)
        run.rotateBytes = rotateBytes
        run.rotateEvery = .milliseconds(Int64(rotateEvery * 1000))
        run.duration = duration.map { .milliseconds(Int64($0 * 1000)) }
        if let emit {
            do { run.options.emit = try EmitSet(parsing: emit) } catch { throw ValidationError("--emit: \(error)") }
            run.printEvents = true
        }
        let status = await run.run(logger: makeLogger("gateway.record"))
        if status != 0 { throw ExitCode(status) }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        // Named here, not derived from the type's name: deriving it reflects on the type
        // (dynamic casts that scan every conformance of this large binary, ~2 ms of each start).
        commandName: "serve",
        abstract: "Run the gateway on live exchange feeds: normalize, store, serve the HTTP API.",
        discussion: "Configuration: a YAML file (see gateway.example.yaml) and GATEWAY_* / DATABASE_URL / LOG_LEVEL environment variables, which win over the file.")

    @Option(help: "Configuration file (YAML). Without it: defaults plus environment.")
    var config: String?
    @OptionGroup var cluster: ClusterOptions
    @Flag(name: .customLong("print-config"), help: "Print the effective configuration (file, environment, flags; secrets redacted) as YAML and exit.")
    var printConfig = false

    func run() async throws {
        var loaded: GatewayConfiguration
        do {
            loaded = try GatewayConfiguration.load(path: config, environment: ProcessInfo.processInfo.environment)
        } catch {
            FileHandleStderr.write("gateway serve: invalid configuration:\n\(error.description)\n")
            throw ExitCode(2)
        }
        let flagProblems = cluster.apply(to: &loaded)
        guard flagProblems.isEmpty else {
            FileHandleStderr.write("gateway serve: invalid configuration:\n\(flagProblems.joined(separator: "\n"))\n")
            throw ExitCode(2)
        }
        let configuration = loaded
        if printConfig {
            FileHandle.standardOutput.write(Data(configuration.redactedYAML.utf8))
            return
        }
        guard !configuration.enabledVenues.isEmpty else {
            FileHandleStderr.write("gateway serve: invalid configuration:\nvenues: no venue is enabled\n")
            throw ExitCode(2)
        }
        var logger = makeLogger("gateway.serve")
        logger.logLevel = configuration.logLevel
        do {
            try await ServeRun(configuration: configuration).run(logger: logger) { port in
                FileHandleStderr.write("gateway serve: API listening on http://\(configuration.server.host):\(port)\n")
            }
        } catch {
            throw failure("serve", "\(error)")
        }
    }
}

struct BenchFanout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-fanout",
        abstract: "Publisher side of a fan-out load test: waits for N subscribed clients, publishes M trades, sends {\"type\":\"end\"}.")

    @Option(help: "Port to serve ws://127.0.0.1:PORT/ws on (0 = any free port).") var port = 8080
    @Option(help: "Clients to wait for before publishing.") var clients: Int
    @Option(help: "Events to publish.") var count: Int
    @Option(help: "Events per second (0 = as fast as possible).") var rate = 0
    @Option(help: "The channel to publish on.") var channel = "trades.bench.BTC-USDT"
    @Option(name: .customLong("event-loops"), help: "Server event loop threads (0 = one per core).") var eventLoops = 0
    @Option(help: "NATS server URL: run one part of the test split over NATS (with --part).") var nats: String?
    @Option(help: "publisher:N (publish once N edges are ready; no /ws) or edge (relay from NATS, serve /ws).") var part: String?
    @Flag(help: "With --part publisher:N: publish acked into the JetStream history stream MG_MARKET (needs nats-server -js).") var acked = false

    func validate() throws {
        if (nats == nil) != (part == nil) { throw ValidationError("--nats and --part go together") }
        if let part, part != "edge", !(part.hasPrefix("publisher:") && Int(part.dropFirst(10)).map { $0 > 0 } == true) {
            throw ValidationError("--part must be publisher:N (N > 0 edges) or edge (got '\(part)')")
        }
        if acked && part?.hasPrefix("publisher:") != true { throw ValidationError("--acked goes with --part publisher:N") }
    }

    func run() async throws {
        var logger = Logger(label: "bench-fanout")
        logger.logLevel = .warning
        var run = BenchFanOutRun(
            port: port, clients: clients, count: count, rate: rate, channel: channel, eventLoops: eventLoops)
        if let nats, let part {
            run.cluster = ([nats], part == "edge" ? .edge : .publisher(edges: Int(part.dropFirst(10)) ?? 1))
        }
        run.acked = acked
        let report = try await run.run(logger: logger) { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        print(report.json)
    }
}

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "The gateway on an embedded default: a local exchange simulator replaying feeds/, SQLite, ws://127.0.0.1:PORT/ws.",
        discussion: """
            The token secret and admin token are drawn at random per run unless GATEWAY_SERVICES_JWT_SECRET (>= 32 bytes) \
            and GATEWAY_SERVICES_ADMIN_TOKEN (>= 16 bytes) are set: give every process of a split demo (--nats, --roles) \
            the same ones so a token signs in on any edge.
            """)

    @Option(help: "Stop after this many seconds (default: run until Ctrl-C).") var duration: Int?
    @Option(help: "HTTP and websocket port (0 = any free port, printed).") var port = 8080
    @Option(name: .customLong("data-dir"), help: "Where the SQLite store and spill files go.") var dataDir = "./data"
    @Option(name: .customLong("feeds"), help: "Directory of capture files to serve (default: feeds/ of the repository).") var feedsDir: String?
    @Option(help: "Replay speed factor of the simulator.") var speed = 1.0
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.") var logLevel = "warning"
    @OptionGroup var cluster: ClusterOptions

    func validate() throws {
        var probe = GatewayConfiguration()
        let problems = cluster.apply(to: &probe)
        if let first = problems.first { throw ValidationError(first) }
        if let duration, duration <= 0 { throw ValidationError("--duration must be a positive number of seconds (got \(duration))") }
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be from 0 to 65535 (got \(port))") }
        guard speed > 0, speed.isFinite else { throw ValidationError("--speed must be a positive number (got \(speed))") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical (got '\(logLevel)')")
        }
        if let feedsDir, !isDirectory(feedsDir) { throw ValidationError("--feeds: no directory at '\(feedsDir)'") }
        _ = try Self.sharedSecrets(ProcessInfo.processInfo.environment)
    }

    /// The split demo's shared secrets from the environment (the names `gateway serve` reads), with
    /// serve's length rules; unset or empty: drawn at random.
    static func sharedSecrets(_ env: [String: String]) throws -> (jwt: String?, admin: String?) {
        func read(_ name: String, minimum: Int) throws -> String? {
            guard let v = env[name], !v.isEmpty else { return nil }
            guard v.utf8.count >= minimum else { throw ValidationError("\(name) must be at least \(minimum) bytes (got \(v.utf8.count))") }
            return v
        }
        return (try read("GATEWAY_SERVICES_JWT_SECRET", minimum: 32), try read("GATEWAY_SERVICES_ADMIN_TOKEN", minimum: 16))
    }

    func run() async throws {
        var logger = Logger(label: "gateway-demo")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
        guard let feeds = feedsDir ?? Self.defaultFeeds() else {
            throw failure(
                "demo", "no feeds/ directory here; run from the repository root or pass --feeds PATH (the captures shipped in the repository's feeds/)")
        }
        var demo = DemoRun(duration: duration.map { .seconds($0) }, port: port, dataDir: dataDir, feedsDir: feeds, speed: speed)
        var flags = GatewayConfiguration()
        _ = cluster.apply(to: &flags)
        demo.cluster = flags.cluster
        (demo.jwtSecret, demo.adminToken) = try Self.sharedSecrets(ProcessInfo.processInfo.environment)
        do {
            try await demo.run(logger: logger) { line in
                FileHandle.standardOutput.write(Data((line + "\n").utf8))
            }
        } catch {
            throw failure("demo", "\(error)")
        }
    }

    /// `./feeds`, else the repository's `feeds/` beside the built binary (`.build/<config>/gateway`).
    static func defaultFeeds() -> String? {
        if isDirectory("feeds") { return "feeds" }
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = binary.deletingLastPathComponent()
        for _ in 0..<4 {
            dir = dir.deletingLastPathComponent()
            let candidate = dir.appendingPathComponent("feeds").path
            if isDirectory(candidate), FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
                return candidate
            }
        }
        return nil
    }
}

func isDirectory(_ path: String) -> Bool {
    var isDir: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
}

/// A start-up or run failure: one line on stderr naming the cause, exit status 1.
func failure(_ command: String, _ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("gateway \(command): \(message)\n".utf8))
    return ExitCode(1)
}

/// The cluster flags of `gateway serve` and `gateway demo`, over the `cluster:` section.
struct ClusterOptions: ParsableArguments {
    @Option(help: "NATS server URL(s), comma-separated (over cluster.nats). Without any: one process, no NATS.")
    var nats: [String] = []
    @Option(help: "This process's cluster roles, any of ingest,services,edge (services without ingest is fed from NATS).")
    var roles: String?
    @Option(help: "This process's name in the cluster (default: gateway-<pid>).")
    var node: String?
    @Option(name: .customLong("history-max-age"), help: "Keep the cluster's resume history this long in JetStream (e.g. 10m; off: none; over cluster.history_max_age).")
    var historyMaxAge: String?
    @Option(name: .customLong("history-max-bytes"), help: "Size bound of each history stream in bytes (default 1073741824; a small JetStream store needs less).")
    var historyMaxBytes: Int?
    @Option(name: .customLong("history-replicas"), help: "Replicas of the history streams (1-5; 3 on a 3-server NATS cluster).")
    var historyReplicas: Int?
    @Option(name: .customLong("ingest-lease-ttl"), help: "Two ingest nodes for the same venues: only the holder of this JetStream lease publishes (e.g. 2s; off).")
    var ingestLeaseTTL: String?

    /// Applies the flags; returns the problems in words (empty: applied).
    func apply(to configuration: inout GatewayConfiguration) -> [String] {
        configuration.applyClusterFlags(
            nats: nats, roles: roles, node: node, historyMaxAge: historyMaxAge, historyMaxBytes: historyMaxBytes, historyReplicas: historyReplicas,
            ingestLeaseTTL: ingestLeaseTTL)
    }
}
