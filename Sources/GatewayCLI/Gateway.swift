import ArgumentParser
import Feeds
import Foundation
import GatewayApp
import Logging
import Storage

@main
struct Gateway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "MarketGateway: real-time market-data gateway.",
        subcommands: [Replay.self, Migrate.self, API.self]
    )
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
            status = await run.run(storingTo: location, writerOptions: options, logger: makeLogger("gateway.replay"))
        } else {
            status = run.run()
        }
        if status != 0 { throw ExitCode(status) }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
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

    func run() async throws {
        let location = try storeLocation(store, required: false) ?? .sqlite(path: "data/gateway.sqlite")
        let logger = makeLogger("gateway.api")
        let opened = try await location.open(logger: logger)
        _ = try await opened.migrate()
        try await MarketAPIServer.run(store: opened, host: host, port: port, logger: logger)
        await opened.close()
    }
}
