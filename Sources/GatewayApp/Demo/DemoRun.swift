import Bus
import Cluster
import ExchangeSimulator
import FanOut
import Storage
import Feeds
import Foundation
public import Logging
import MarketCore
import ServiceLifecycle
import Services
import Venues

/// `gateway demo`: the whole gateway on an embedded default, with no server to install.
///
/// A local exchange simulator serves the captures in `feeds/` over real websockets and REST on
/// 127.0.0.1, each venue in its own wire format, looping as a valid continuation; the gateway's
/// live feed layer connects to it as to the exchange; events are stored in SQLite under the data
/// directory and served on `ws://127.0.0.1:PORT/ws`; a status line is printed every second.
public struct DemoRun: Sendable {
    public var duration: Duration?
    public var port: Int
    public var dataDir: String
    public var feedsDir: String
    public var speed: Double
    /// `--nats`/`--roles`: run one part of the demo as a cluster node. An edge-only node starts no
    /// simulator and connects to no venue: it serves what the ingest node publishes.
    public var cluster = GatewayConfiguration.ClusterSettings()
    /// Secrets shared by the processes of a split demo (`GATEWAY_SERVICES_JWT_SECRET`,
    /// `GATEWAY_SERVICES_ADMIN_TOKEN`), so a token printed by the services node signs in on an
    /// edge. nil: drawn at random per run (one process needs nothing else).
    public var jwtSecret: String?
    public var adminToken: String?

    public init(duration: Duration?, port: Int, dataDir: String, feedsDir: String = "feeds", speed: Double = 1) {
        self.duration = duration
        self.port = port
        self.dataDir = dataDir
        self.feedsDir = feedsDir
        self.speed = speed
    }

    /// The venue a shipped capture is for, from its file name (`binance-usdm-…`, `coinbase-…`):
    /// the longest registered venue id it starts with.
    static func venue(ofCapture name: String) -> Venue? {
        VenueRegistry.supported.sorted { $0.id.count > $1.id.count }.first { name.hasPrefix($0.id + "-") }
    }

    /// The canonical symbols a capture carries (its first records, normalized), so the feed
    /// subscribes to what the simulator will send.
    static func symbols(in path: String, records limit: Int = 5000) throws -> [String] {
        var options = PipelineOptions()
        options.emit = [.trades, .books, .tickers]
        var replayer = FeedPipeline(options: options)
        let reader = try CaptureReader(path: path)
        var symbols = Set<String>()
        var n = 0
        while n < limit, let r = try reader.next() {
            n += 1
            replayer.process(r) { e in
                switch e {
                case .trade(let t): symbols.insert(t.instrument.symbol)
                case .bookSnapshot(let b): symbols.insert(b.instrument.symbol)
                case .ticker(let t): symbols.insert(t.instrument.symbol)
                default: break
                }
            }
        }
        return symbols.sorted()
    }

    public func run(logger: Logger, say: @escaping @Sendable (String) -> Void) async throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: feedsDir)
            .filter { $0.hasSuffix(".jsonl") || $0.hasSuffix(".jsonl.gz") }.sorted()
        var captures: [Venue: [String]] = [:]
        for f in files {
            guard let v = Self.venue(ofCapture: f) else { continue }
            captures[v, default: []].append("\(feedsDir)/\(f)")
        }
        guard !captures.isEmpty else { throw DemoError("no captures in \(feedsDir)/ (files named <venue>-….jsonl[.gz])") }
        try checkCanListen(host: "127.0.0.1", port: port)
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        let ingests = !cluster.isEnabled || cluster.has(.ingest)
        let runsServices = !cluster.isEnabled || cluster.has(.services)

        let sim = ExchangeSimulator(speed: speed, loop: true, frameLogLimit: 20_000, logger: logger)
        var symbols: [Venue: [String]] = [:]
        for (venue, paths) in captures { for p in paths { symbols[venue, default: []] += try Self.symbols(in: p) } }
        if ingests {
            let stored = await Self.storedUntil(path: "\(dataDir)/gateway.sqlite", symbols: symbols, logger: logger)
            for (venue, paths) in captures.sorted(by: { $0.key < $1.key }) {
                let pass = try sim.addVenue(venue, captures: paths, continuingAfter: stored[venue])
                if pass > 0 { say("demo: \(venue.id) continues after the data of earlier runs (pass \(pass) of its looping capture)") }
            }
        }
        // URLs carry the simulator's port: known once it listens.
        if ingests { try await sim.start() }
        var configuration = GatewayConfiguration()
        configuration.logLevel = logger.logLevel
        configuration.cluster = cluster
        for (venue, list) in symbols.sorted(by: { $0.key < $1.key }) {
            guard let id = GatewayConfiguration.VenueID(rawValue: venue.id) else { continue }
            var v = GatewayConfiguration.VenueSettings.defaults(for: id)
            v.symbols = Array(Set(list)).sorted()
            // An edge lists the venues only for the instruments it accepts subscribes for.
            if ingests {
                v.wsURL = sim.wsURL(venue: venue, path: Self.wsPath(venue))
                v.restURL = sim.restBaseURL(venue: venue)
            }
            configuration.venues.append(v)
        }
        // Each node its own SQLite file, off the ingest node's lock: a services node keeps its demo
        // accounts in `gateway-services.sqlite` (they persist across its runs); an edge stores nothing.
        if ingests {
            configuration.storage.url = "sqlite:\(dataDir)/gateway.sqlite"
            configuration.storage.spillDir = "\(dataDir)/spill"
        } else if runsServices {
            configuration.storage.url = "sqlite:\(dataDir)/gateway-services.sqlite"
            configuration.storage.spillDir = "\(dataDir)/spill-services"
        } else {
            configuration.storage.url = "sqlite:\(dataDir)/gateway-edge-\(port).sqlite"
            configuration.storage.spillDir = "\(dataDir)/spill-edge-\(port)"
        }
        configuration.server.host = "127.0.0.1"
        configuration.server.port = port
        // Paper trading: per-run secrets (printed), and signals on every venue's 1m candles.
        configuration.services.jwtSecret = jwtSecret ?? Self.randomToken(48)
        configuration.services.adminToken = adminToken ?? Self.randomToken(32)
        // The deposit webhook is on, with a secret nobody outside knows: unsigned calls get 401.
        configuration.services.depositWebhookSecret = Self.randomToken(48)
        configuration.services.signals = configuration.venues.flatMap { v in
            ["ema_cross:9:21 \(v.id.rawValue) * 1m", "rsi:14:30:70 \(v.id.rawValue) * 1m"]
        }
        let admin = configuration.services.adminToken

        // Each venue's market data runs on its capture's clock (the simulator's timeline), so
        // candles close by grace exactly as in replay; the wall clock would close a recorded
        // minute at once. Paper trading, mood and tickers of the services keep the wall clock.
        var clocks: [Venue: ReceiveClock] = [:]
        if ingests { for venue in captures.keys { clocks[venue] = sim.receiveClock(venue: venue) } }
        let serve = ServeRun(configuration: configuration, receiveClocks: clocks)
        let venues = configuration.venues.map { "\($0.id.rawValue) (\($0.symbols.count) symbols)" }.joined(separator: ", ")
        let role = cluster.isEnabled ? "cluster node '\(serve.nodeName)' roles \(ClusterRole.text(cluster.roles)) via NATS" : "one process"
        let duration = self.duration
        do {
            try await serve.run(
                logger: logger,
                onListening: { p in
                    say("demo: serving ws://127.0.0.1:\(p)/ws  (HTTP: http://127.0.0.1:\(p)/api/v1/health, /metrics)")
                    say("demo: \(role)")
                    if ingests {
                        say("demo: simulated venues: \(venues); storing into \(dataDir)/gateway.sqlite")
                    } else if runsServices {
                        say("demo: services for venues \(venues): market from the ingest node over NATS; accounts in \(dataDir)/gateway-services.sqlite")
                    } else {
                        say("demo: edge for venues \(venues): frames come from the ingest node over NATS")
                    }
                },
                extraServices: { parts in
                    var s: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: StatusLine(parts: parts, say: say))]
                    if runsServices { s.append(.init(service: DemoUser(services: parts.services, adminToken: admin, say: say))) }
                    if let duration {
                        s.append(.init(service: StopAfter(duration: duration), successTerminationBehavior: .gracefullyShutdownGroup))
                    }
                    return s
                })
        } catch {
            if ingests { await sim.stop() }
            throw error
        }
        if ingests { await sim.stop() }
        say("demo: stopped")
    }

    /// The latest trade or book snapshot time stored per venue by earlier runs in this data
    /// directory. The simulator starts each venue after it: replaying the capture from its start
    /// would send trade ids the feed resumes past, all dropped as duplicates until playback caught
    /// up with where the earlier runs stopped (a second run showed no trades for that long).
    static func storedUntil(path: String, symbols: [Venue: [String]], logger: Logger) async -> [Venue: UnixNanos] {
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        var out: [Venue: UnixNanos] = [:]
        do {
            let store = try await SQLiteStore(path: path, logger: logger)
            do {
                _ = try await store.migrate()
                for (venue, list) in symbols {
                    for symbol in Set(list) {
                        let trade = try await store.recentTrades(venue: venue.id, symbol: symbol, limit: 1).first?.time
                        let book = try await store.latestBookSnapshot(venue: venue.id, symbol: symbol)?.time
                        for t in [trade, book].compactMap({ $0 }) { out[venue] = max(out[venue] ?? t, t) }
                    }
                }
            } catch {
                await store.close()
                throw error
            }
            await store.close()
        } catch {
            logger.warning("demo: cannot read the earlier runs' data: the simulated venues start from their captures' beginning", metadata: ["error": "\(error)"])
            return [:]
        }
        return out
    }

    /// `n` random letters and digits.
    static func randomToken(_ n: Int) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        return String((0..<n).map { _ in alphabet.randomElement()! })
    }

    /// The path of the venue's production websocket URL (`ws`, `ws/v5/public`, `v5/public/spot`).
    static func wsPath(_ venue: Venue) -> String {
        guard let url = VenueRegistry.definition(venue)?.defaults.wsURL, let scheme = url.range(of: "://") else { return "" }
        let rest = url[scheme.upperBound...]
        guard let slash = rest.firstIndex(of: "/") else { return "" }
        return String(rest[rest.index(after: slash)...])
    }
}

struct DemoError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Creates (once per data directory) the paper-trading user `demo` with 10,000 USDC and prints a
/// token for it and the run's admin token, so the trading API and private channels can be tried.
struct DemoUser: Service {
    let services: ServiceSuite
    let adminToken: String
    let say: @Sendable (String) -> Void

    func run() async throws {
        // Wait for the stored accounts to load (a user 'demo' of an earlier run keeps its balance).
        for _ in 0..<100 where !services.loaded { try? await Task.sleep(for: .milliseconds(100)) }
        let cash = services.execution.options.cashAsset
        let funds: String
        if let existing = services.execution.account("demo") {
            funds = "balance carried over from an earlier run: \(existing.balances[cash] ?? .zero) \(cash)"
        } else {
            _ = try? await services.execution.createUser(id: "demo", name: "demo")
            _ = try? await services.execution.deposit(user: "demo", asset: cash, amount: WideDecimal(10_000))
            funds = "10,000 \(cash) to start"
        }
        guard let authority = services.authority, let token = try? await authority.issue(user: "demo") else { return }
        say("demo: paper-trading user 'demo' (\(funds)); its token (Authorization: Bearer …, ws {\"op\":\"auth\"}):")
        say("demo:   \(token)")
        say("demo: admin token for /api/v1/users: \(adminToken)")
        try? await gracefulShutdown()
    }
}

/// Returns after `duration`; configured to shut the group down gracefully.
struct StopAfter: Service {
    let duration: Duration
    func run() async throws {
        try? await Task.sleep(for: duration)
    }
}

/// One line per second: frames/s from the venues, events/s on the bus, websocket clients, rows stored.
struct StatusLine: Service {
    let parts: ServeRun.Parts
    let say: @Sendable (String) -> Void

    func run() async throws {
        let start = ContinuousClock.now
        var lastFrames = 0
        var lastEvents = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: .seconds(1))
            let frames = parts.feed.sessions.values.reduce(0) { $0 + $1.framesReceived }
            let events = parts.bus.stats.published.values.reduce(0, +)
            let hub = parts.hub.stats
            let w = parts.writer.stats
            let candles = (w.rowsWritten[.candles1m] ?? 0) + (w.rowsWritten[.candles5m] ?? 0)
            let elapsed = Int((ContinuousClock.now - start).components.seconds)
            say(
                "demo \(elapsed)s | frames/s \(frames - lastFrames) | events/s \(events - lastEvents) | clients \(hub.connections) "
                    + "| candles written \(candles) | trades stored \(w.rowsWritten[.trades] ?? 0) | book snapshots \(w.rowsWritten[.bookSnapshots] ?? 0)")
            lastFrames = frames
            lastEvents = events
        }
    }
}
