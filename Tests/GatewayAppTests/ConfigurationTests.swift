import Foundation
import GatewayApp
import Logging
import Cluster
import MarketCore
import Testing

private typealias Config = GatewayConfiguration

/// The problems parsing `yaml` reports, one per line (records an issue when it parses).
private func problems(_ yaml: String, env: [String: String] = [:]) -> [String] {
    do {
        let c = try Config.parse(yaml: yaml, environment: env)
        Issue.record("expected a configuration error, got \(c)")
        return []
    } catch {
        return error.description.split(separator: "\n").map(String.init)
    }
}

/// A binance section with one symbol plus `extra` lines (indented 4).
private func binance(_ extra: String...) -> String {
    (["venues:", "  binance:", "    symbols: [BTC-USDT]"] + extra.map { "    " + $0 }).joined(separator: "\n")
}

private func venue(_ id: String, _ lines: String...) -> String {
    (["venues:", "  \(id):"] + lines.map { "    " + $0 }).joined(separator: "\n")
}

/// The repository's gateway.example.yaml.
private let examplePath = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("gateway.example.yaml").path

@Suite("Configuration")
struct ConfigurationTests {
    // MARK: Defaults

    @Test func noFileAndNoEnvironmentGiveTheDefaults() throws {
        let c = try Config.load(path: nil, environment: [:])
        #expect(c == Config())
        #expect(try Config.parse(yaml: "", environment: [:]) == c)
        #expect(try Config.parse(yaml: "# nothing but a comment\n", environment: [:]) == c)
        #expect(c.logLevel == .info)
        #expect(c.venues.isEmpty && c.enabledVenues.isEmpty)
        #expect(c.normalizer.intervals == [.oneMinute, .fiveMinutes])
        #expect(c.normalizer.grace == .seconds(2))
        #expect(c.normalizer.snapshotDepth == 20)
        #expect(c.normalizer.snapshotEvery == .seconds(1))
        #expect(c.normalizer.tickEvery == .milliseconds(250))
        #expect(c.storage.url == "sqlite:data/gateway.sqlite")
        #expect(c.storage.spillDir == "data/spill")
        #expect(c.storage.writeTimeout == .seconds(10))
        #expect(c.server.host == "127.0.0.1" && c.server.port == 8080)
        #expect(c.server.maxConnections == 10_000 && c.server.maxSubscriptionsPerConnection == 200)
        #expect(c.server.maxFrameBytes == 65_536 && c.server.maxMessagesPerSecond == 50)
        #expect(c.record.path == "" && !c.record.isEnabled)
        #expect(c.record.rotateBytes == 1_073_741_824 && c.record.rotateEvery == .seconds(3600))
    }

    @Test func venueDefaultsFollowEachVenuesDocumentation() throws {
        let binance = Config.VenueSettings.defaults(for: .binance)
        #expect(binance.wsURL == "wss://stream.binance.com:9443/ws" && binance.restURL == "https://api.binance.com")
        #expect(binance.pingInterval == nil && binance.rotateAfter == .seconds(23 * 3600 + 1800))
        #expect(binance.subscribeBatch == 200 && binance.bookDepth == 1000 && binance.staleAfter == .seconds(30))
        #expect(binance.channels == [.trades, .book, .ticker] && binance.enabled && binance.symbols.isEmpty)
        #expect(Config.VenueSettings.defaults(for: .binanceUSDM).wsURL == "wss://fstream.binance.com/ws")
        #expect(Config.VenueSettings.defaults(for: .binanceCOINM).restURL == "https://dapi.binance.com")
        let coinbase = Config.VenueSettings.defaults(for: .coinbase)
        #expect(coinbase.wsURL == "wss://ws-feed.exchange.coinbase.com" && coinbase.pingInterval == nil && coinbase.rotateAfter == nil)
        #expect(Config.VenueSettings.defaults(for: .kraken).pingInterval == .seconds(30))
        let okx = Config.VenueSettings.defaults(for: .okx)
        #expect(okx.wsURL == "wss://ws.okx.com:8443/ws/v5/public" && okx.pingInterval == .seconds(25) && okx.bookDepth == 400)
        let bybit = Config.VenueSettings.defaults(for: .bybit)
        #expect(bybit.wsURL == "wss://stream.bybit.com/v5/public/spot" && bybit.pingInterval == .seconds(20))
        #expect(bybit.subscribeBatch == 10 && bybit.bookDepth == 200 && bybit.rotateAfter == nil)

        // A venue listed with only its symbols gets exactly its defaults.
        let c = try Config.parse(yaml: venue("okx", "symbols: [BTC-USDT]"), environment: [:])
        var expected = okx
        expected.symbols = ["BTC-USDT"]
        #expect(c.venues == [expected])
        #expect(c[venue: .okx] == expected && c[venue: .binance] == nil)
    }

    // MARK: A full file

    static let fullFile = """
        log_level: debug
        venues:
          okx:
            enabled: true
            symbols: [BTC-USDT, ETH-USDT-PERP]
            channels: [trades, book]
            ws_url: ws://127.0.0.1:9001/okx/ws/v5/public
            rest_url: http://127.0.0.1:9001/okx
            stale_after: 45s
            ping_interval: 10s
            reconnect_initial: 500ms
            reconnect_max: 2m
            rotate_after: 12h
            subscribe_batch: 50
            book_depth: 200
          binance:
            symbols:
              - SOL-USDT
            rotate_after: off
          bybit:
            enabled: false
            symbols: [BTC-USDT-PERP]
            channels: [ticker]
            ws_url: wss://stream.bybit.com/v5/public/linear
            ping_interval: 0
            book_depth: 500
            subscribe_batch: 100
        normalizer:
          intervals: [1m, 15m, 60m]
          grace: 0
          snapshot_depth: 50
          snapshot_every: 500ms
          tick_every: 100ms
        storage:
          url: postgres://gateway:secret@db.internal:5432/market
          spill_dir: /var/lib/gateway/spill
          write_timeout: 30s
        server:
          host: 0.0.0.0
          port: 0
          max_connections: 500
          max_subscriptions_per_connection: 20
          max_frame_bytes: 4_096
          max_messages_per_second: 5
          max_connections_per_ip: 8
          max_handshakes_per_second: 30
          handshake_timeout: 3s
          idle_timeout: 20s
          max_header_bytes: 8192
          max_body_bytes: 65536
          max_channels_per_subscribe: 50
          max_outstanding_bytes: 1048576
          max_auth_attempts_per_minute: 3
          max_rest_requests_per_second: 7
          session_warning: 30s
          tls_cert_path: /etc/gateway/cert.pem
          tls_key_path: /etc/gateway/key.pem
          tls_reload_check: 1m
        record:
          path: captures/live.jsonl.gz
          rotate_bytes: 0
          rotate_every: 6h
        """

    private static var fullConfiguration: Config {
        var c = Config()
        c.logLevel = .debug
        var binance = Config.VenueSettings.defaults(for: .binance)
        binance.symbols = ["SOL-USDT"]
        binance.rotateAfter = nil
        var okx = Config.VenueSettings.defaults(for: .okx)
        okx.symbols = ["BTC-USDT", "ETH-USDT-PERP"]
        okx.channels = [.trades, .book]
        okx.wsURL = "ws://127.0.0.1:9001/okx/ws/v5/public"
        okx.restURL = "http://127.0.0.1:9001/okx"
        okx.staleAfter = .seconds(45)
        okx.pingInterval = .seconds(10)
        okx.reconnectInitial = .milliseconds(500)
        okx.reconnectMax = .seconds(120)
        okx.rotateAfter = .seconds(12 * 3600)
        okx.subscribeBatch = 50
        okx.bookDepth = 200
        var bybit = Config.VenueSettings.defaults(for: .bybit)
        bybit.enabled = false
        bybit.symbols = ["BTC-USDT-PERP"]
        bybit.channels = [.ticker]
        bybit.wsURL = "wss://stream.bybit.com/v5/public/linear"
        bybit.pingInterval = nil
        bybit.bookDepth = 500
        bybit.subscribeBatch = 100
        c.venues = [binance, okx, bybit]  // VenueID order, not file order
        c.normalizer.intervals = [.oneMinute, Interval("15m")!, Interval("1h")!]
        c.normalizer.grace = .zero
        c.normalizer.snapshotDepth = 50
        c.normalizer.snapshotEvery = .milliseconds(500)
        c.normalizer.tickEvery = .milliseconds(100)
        c.storage.url = "postgres://gateway:secret@db.internal:5432/market"
        c.storage.spillDir = "/var/lib/gateway/spill"
        c.storage.writeTimeout = .seconds(30)
        c.server.host = "0.0.0.0"
        c.server.port = 0
        c.server.maxConnections = 500
        c.server.maxSubscriptionsPerConnection = 20
        c.server.maxFrameBytes = 4096
        c.server.maxMessagesPerSecond = 5
        c.server.maxConnectionsPerIP = 8
        c.server.maxHandshakesPerSecond = 30
        c.server.handshakeTimeout = .seconds(3)
        c.server.idleTimeout = .seconds(20)
        c.server.maxHeaderBytes = 8192
        c.server.maxBodyBytes = 65536
        c.server.maxChannelsPerSubscribe = 50
        c.server.maxOutstandingBytes = 1_048_576
        c.server.maxAuthAttemptsPerMinute = 3
        c.server.maxRESTRequestsPerSecond = 7
        c.server.sessionWarning = .seconds(30)
        c.server.tlsCertPath = "/etc/gateway/cert.pem"
        c.server.tlsKeyPath = "/etc/gateway/key.pem"
        c.server.tlsReloadCheck = .seconds(60)
        c.record.path = "captures/live.jsonl.gz"
        c.record.rotateBytes = nil
        c.record.rotateEvery = .seconds(6 * 3600)
        return c
    }

    @Test func aFullFileLoadsAndRoundTripsThroughYAML() throws {
        let path = NSTemporaryDirectory() + "gateway-config-\(UUID().uuidString).yaml"
        try Self.fullFile.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let c = try Config.load(path: path, environment: [:])
        #expect(c == Self.fullConfiguration)
        #expect(c.enabledVenues.map(\.id) == [.binance, .okx])
        #expect(try Config.parse(yaml: c.yaml, environment: [:]) == c)
        #expect(try Config.parse(yaml: Config().yaml, environment: [:]) == Config())
    }

    /// Every services key off its default survives `yaml` → `parse` (the file form is complete).
    @Test func theServicesSectionRoundTripsThroughYAML() throws {
        var c = Config()
        c.services.jwtSecret = String(repeating: "j", count: 40)
        c.services.adminToken = "admin-token-0123456789"
        c.services.cashAsset = "USDT"
        c.services.takerFee = WideDecimal.parse("0.00075")!
        c.services.maxSpreadBps = WideDecimal.parse("12.5")!
        c.services.minNotionalUSD = WideDecimal(5)
        c.services.maxTradesPerHour = 9
        c.services.riskMaxPositionPercent = nil
        c.services.riskMaxOpenOrders = 17
        c.services.riskMaxOrderNotionalUSD = WideDecimal(1_000)
        c.services.riskMaxDailyLossUSD = nil
        c.services.riskEvery = .seconds(3)
        c.services.moodEvery = .seconds(90)
        c.services.depositFee = WideDecimal.parse("0.01")!
        c.services.depositWebhookSecret = String(repeating: "w", count: 33)
        c.services.depositWebhookWindow = .seconds(120)
        c.services.withdrawalDailyLimitUSD = WideDecimal.parse("2500.5")!
        c.services.performanceFee = WideDecimal.parse("0.1")!
        c.services.royaltyShare = WideDecimal.parse("0.02")!
        c.services.royaltyGenerations = 0
        c.services.telegramBotToken = "123:abc"
        c.services.telegramAPIURL = "http://127.0.0.1:9999"
        c.services.agentSpawnEvery = WideDecimal(80)
        c.services.agentSpawnFunding = WideDecimal(30)
        c.services.agentMaxGenerations = 2
        c.services.ledgerReconcileEvery = .seconds(30)
        c.services.signals = ["rsi:14:30:70 binance * 1m", "ema_cross:9:21 okx BTC-USDT 5m"]
        #expect(c.services != Config().services)
        #expect(try Config.parse(yaml: c.yaml, environment: [:]) == c)
        // Printed, none of the four services secrets shows.
        let printed = c.redactedYAML
        for secret in [c.services.jwtSecret, c.services.adminToken, c.services.depositWebhookSecret, c.services.telegramBotToken] {
            #expect(!printed.contains(secret), "\(secret) in \(printed)")
        }
        #expect(printed.contains("  deposit_webhook_secret: \"<redacted>\"") && printed.contains("  telegram_bot_token: \"<redacted>\""))
    }

    // MARK: Validation

    @Test(arguments: [
        ("server:\n  port: 70000", "server.port: 70000 is out of range 0...65535"),
        (
            "venues:\n  binanse:\n    symbols: [BTC-USDT]",
            "venues.binanse: unknown venue (known: binance, binance-usdm, binance-coinm, coinbase, kraken, okx, bybit)"
        ),
        (binance("stale_after: 30 seconds"), #"venues.binance.stale_after: "30 seconds" is not a duration (use 500ms, 30s, 5m, 1h30m)"#),
        (
            "normalizer:\n  intervals: [1m, 90s]",
            #"normalizer.intervals[1]: "90s" is not a whole number of minutes of at least 1m (use 1m, 5m, 15m, 1h)"#
        ),
        ("storage:\n  urll: sqlite:x", "storage.urll: unknown key (known: url, spill_dir, write_timeout, write_ahead, timescaledb, compress_after, retention_trades, retention_book_snapshots, retention_candles_1m, retention_candles_5m, retention_mood, aggregate_refresh_window)"),
        ("venues:\n  binance: {}", "venues.binance.symbols: must list at least one symbol when the venue is enabled (e.g. [BTC-USDT])"),
        ("log_level: verbose", #"log_level: "verbose" is not a log level (use trace, debug, info, notice, warning, error, critical)"#),
        (binance("reconnect_initial: 10s", "reconnect_max: 5s"), "venues.binance.reconnect_max: 5s is shorter than reconnect_initial (10s)"),
        (venue("kraken", "symbols: [BTC-USD]", "book_depth: 50"), "venues.kraken.book_depth: 50 is not a Kraken book depth (use one of 10, 25, 100, 500, 1000)"),
        (
            venue("binance", "symbols: [BTC-USDT-PERP]"),
            "venues.binance.symbols[0]: BTC-USDT-PERP is a perpetual but binance carries spot symbols only (perpetuals are on binance-usdm and binance-coinm)"
        ),
        (binance("ws_url: https://stream.binance.com"), #"venues.binance.ws_url: "https://stream.binance.com" must start with ws:// or wss://"#),
        ("storage:\n  url: mysql://root:hunter2@db/x", "storage.url: must start with postgres://, postgresql:// or sqlite: (e.g. sqlite:data/gateway.sqlite)"),
        ("server:\n  tls_key_path: key.pem", "server.tls_cert_path: tls_cert_path and tls_key_path go together (both set: TLS; both empty: plain)"),
        ("server:\n  max_header_bytes: 100", "server.max_header_bytes: 100 is out of range (at least 1024)"),
    ])
    func problemsAreReportedInWords(_ yaml: String, _ expected: String) {
        #expect(problems(yaml) == [expected])
    }

    /// Every kind of problem names where it is; each input has exactly one.
    @Test(arguments: [
        ("log_levl: info", "log_levl"),
        ("server: 8080", "server"),
        ("server:\n  port: abc", "server.port"),
        ("server:\n  port:", "server.port"),
        ("server:\n  host: [a, b]", "server.host"),
        ("server:\n  max_connections: 0", "server.max_connections"),
        ("server:\n  max_frame_bytes: 1.5", "server.max_frame_bytes"),
        ("venues: [binance]", "venues"),
        ("venues:\n  binance: yes", "venues.binance"),
        (venue("binance", "symbols: BTC-USDT"), "venues.binance.symbols"),
        (venue("binance", "symbols: [btc-usdt]"), "venues.binance.symbols[0]"),
        (venue("binance", "symbols: [BTC-USDT, BTC/USD]"), "venues.binance.symbols[1]"),
        (venue("binance", "symbols: [BTC-USDT, BTC-USDT]"), "venues.binance.symbols[1]"),
        (venue("binance", "symbols: [BTC-USDT-20250328]"), "venues.binance.symbols[0]"),
        (venue("binance-usdm", "symbols: [BTC-USDT]"), "venues.binance-usdm.symbols[0]"),
        (venue("bybit", "symbols: [BTC-USDT-PERP]"), "venues.bybit.symbols[0]"),
        (venue("bybit", "symbols: [BTC-USDT]", "ws_url: wss://stream.bybit.com/v5/public/linear"), "venues.bybit.symbols[0]"),
        (venue("binance", "enabled: true", "symbols: []"), "venues.binance.symbols"),
        (binance("symbol: [ETH-USDT]"), "venues.binance.symbol"),
        (binance("enabled: yes"), "venues.binance.enabled"),
        (binance("channels: [trades, candles]"), "venues.binance.channels[1]"),
        (binance("channels: []"), "venues.binance.channels"),
        (binance("ws_url: stream.binance.com/ws"), "venues.binance.ws_url"),
        (binance("ws_url: wss://:9443/ws"), "venues.binance.ws_url"),
        (binance("ws_url: wss://stream.binance.com:99999/ws"), "venues.binance.ws_url"),
        (binance("rest_url: wss://api.binance.com"), "venues.binance.rest_url"),
        (binance("stale_after: 0"), "venues.binance.stale_after"),
        (binance("stale_after: 10s", "ping_interval: 20s"), "venues.binance.stale_after"),
        (binance("ping_interval: fast"), "venues.binance.ping_interval"),
        (binance("reconnect_initial: 1.5s"), "venues.binance.reconnect_initial"),
        (binance("rotate_after: 25h"), "venues.binance.rotate_after"),
        (binance("subscribe_batch: 0"), "venues.binance.subscribe_batch"),
        (binance("subscribe_batch: 2000"), "venues.binance.subscribe_batch"),
        (binance("book_depth: 0"), "venues.binance.book_depth"),
        (binance("book_depth: 6000"), "venues.binance.book_depth"),
        (venue("binance-coinm", "symbols: [BTC-USD-PERP]", "book_depth: 200"), "venues.binance-coinm.book_depth"),
        (venue("okx", "symbols: [BTC-USDT]", "ping_interval: off"), "venues.okx.ping_interval"),
        (venue("okx", "symbols: [BTC-USDT]", "book_depth: 1000"), "venues.okx.book_depth"),
        (venue("bybit", "symbols: [BTC-USDT]", "subscribe_batch: 20"), "venues.bybit.subscribe_batch"),
        (venue("bybit", "symbols: [BTC-USDT]", "book_depth: 500"), "venues.bybit.book_depth"),
        ("normalizer:\n  intervals: []", "normalizer.intervals"),
        ("normalizer:\n  intervals: 1m", "normalizer.intervals"),
        ("normalizer:\n  intervals: [1m, 1m]", "normalizer.intervals[1]"),
        ("normalizer:\n  intervals: [5m, 1x]", "normalizer.intervals[1]"),
        ("normalizer:\n  intervals: [30s]", "normalizer.intervals[0]"),
        ("normalizer:\n  grace: -1s", "normalizer.grace"),
        ("normalizer:\n  snapshot_depth: 0", "normalizer.snapshot_depth"),
        ("normalizer:\n  snapshot_every: 0s", "normalizer.snapshot_every"),
        ("normalizer:\n  tick_every: soon", "normalizer.tick_every"),
        ("storage:\n  url: \"sqlite:\"", "storage.url"),
        ("storage:\n  url: postgres://db:5432/x?sslmode=maybe", "storage.url"),
        ("storage:\n  spill_dir: \"\"", "storage.spill_dir"),
        ("storage:\n  write_timeout: 10", "storage.write_timeout"),
        ("record:\n  path: capture.txt", "record.path"),
        ("record:\n  rotate_bytes: -5", "record.rotate_bytes"),
        ("record:\n  rotate_every: hourly", "record.rotate_every"),
    ])
    func everyProblemNamesItsKey(_ yaml: String, _ location: String) {
        let lines = problems(yaml)
        #expect(lines.count == 1, "\(lines)")
        #expect(lines.first?.hasPrefix(location + ": ") == true, "\(lines)")
    }

    @Test func allProblemsAreReportedTogetherInFileOrder() {
        let yaml = """
            venues:
              binanse:
                symbols: [BTC-USDT]
              binance:
                symbols: [BTC-USDT]
                stale_after: 30 seconds
            normalizer:
              intervals: [1m, 90s]
            server:
              port: 70000
              hots: 0.0.0.0
            """
        #expect(problems(yaml) == [
            "venues.binanse: unknown venue (known: binance, binance-usdm, binance-coinm, coinbase, kraken, okx, bybit)",
            #"venues.binance.stale_after: "30 seconds" is not a duration (use 500ms, 30s, 5m, 1h30m)"#,
            #"normalizer.intervals[1]: "90s" is not a whole number of minutes of at least 1m (use 1m, 5m, 15m, 1h)"#,
            "server.port: 70000 is out of range 0...65535",
            "server.hots: unknown key (known: host, port, max_connections, max_subscriptions_per_connection, max_frame_bytes, max_messages_per_second, "
                + "max_connections_per_ip, max_handshakes_per_second, handshake_timeout, idle_timeout, max_header_bytes, max_body_bytes, "
                + "max_channels_per_subscribe, max_outstanding_bytes, max_auth_attempts_per_minute, max_rest_requests_per_second, "
                + "session_warning, tls_cert_path, tls_key_path, tls_reload_check)",
        ])
        // A bad key does not hide problems with the others in the same venue.
        #expect(problems(binance("ws_url: wss://:9443", "book_depth: 6000")) == [
            #"venues.binance.ws_url: "wss://:9443" has no host"#,
            "venues.binance.book_depth: 6000 is out of range 1...5000 (the binance depth limit)",
        ])
    }

    @Test func brokenYAMLAndUnreadableFilesAreReportedWithTheirLocation() throws {
        let syntax = problems("server:\n  port: [8080\n")
        #expect(syntax.count == 1 && syntax[0].hasPrefix("configuration:") && syntax[0].contains("YAML syntax"), "\(syntax)")
        #expect(problems("server:\n  port: 1\n  port: 2\n") == ["configuration:2:3: duplicate key port"])
        #expect(problems("- a\n- b\n") == [#"configuration: expected key: value pairs at the top level, found a list"#])
        #expect(throws: ConfigurationError(problems: [.init(location: "/nonexistent/gateway.yaml", message: "cannot read the configuration file (no such file)")])) {
            try Config.load(path: "/nonexistent/gateway.yaml", environment: [:])
        }
    }

    // MARK: Environment

    @Test func environmentOverridesTheFile() throws {
        let yaml = binance("ws_url: wss://stream.binance.com:9443/ws") + "\nserver:\n  port: 8081\nstorage:\n  url: sqlite:file.sqlite"
        let c = try Config.parse(yaml: yaml, environment: [
            "GATEWAY_SERVER_PORT": "9000",
            "GATEWAY_VENUES_BINANCE_WS_URL": "ws://127.0.0.1:9001/binance/ws",
            "GATEWAY_VENUES_BINANCE_USDM_SYMBOLS": "BTC-USDT-PERP",
            "GATEWAY_VENUES_BINANCE_USDM_WS_URL": "ws://127.0.0.1:9001/binance-usdm/ws",
            "DATABASE_URL": "postgres://gateway@127.0.0.1:5432/market",
            "LOG_LEVEL": "DEBUG",
            "PATH": "/usr/bin", "GATEWAY_CONFIG": "gateway.yaml",  // not configuration keys
        ])
        #expect(c.server.port == 9000)
        #expect(c[venue: .binance]?.wsURL == "ws://127.0.0.1:9001/binance/ws")
        #expect(c[venue: .binance]?.symbols == ["BTC-USDT"])  // from the file
        // A venue only the environment mentions is listed (and so enabled).
        #expect(c[venue: .binanceUSDM]?.symbols == ["BTC-USDT-PERP"])
        #expect(c[venue: .binanceUSDM]?.wsURL == "ws://127.0.0.1:9001/binance-usdm/ws")
        #expect(c.storage.url == "postgres://gateway@127.0.0.1:5432/market")
        #expect(c.logLevel == .debug)
    }

    @Test func environmentListsAreCommaSeparated() throws {
        let c = try Config.load(path: nil, environment: [
            "GATEWAY_VENUES_BINANCE_SYMBOLS": "BTC-USDT, ETH-USDT,SOL-USDT",
            "GATEWAY_VENUES_BINANCE_CHANNELS": "trades,book",
            "GATEWAY_NORMALIZER_INTERVALS": "1m,15m,1h",
        ])
        #expect(c[venue: .binance]?.symbols == ["BTC-USDT", "ETH-USDT", "SOL-USDT"])
        #expect(c[venue: .binance]?.channels == [.trades, .book])
        #expect(c.normalizer.intervals.map(\.name) == ["1m", "15m", "1h"])
    }

    @Test func specificVariablesWinOverGenericOnesAndEmptyGenericOnesAreUnset() throws {
        let both = try Config.load(path: nil, environment: [
            "DATABASE_URL": "sqlite:generic.sqlite", "GATEWAY_STORAGE_URL": "sqlite:specific.sqlite",
            "LOG_LEVEL": "error", "GATEWAY_LOG_LEVEL": "trace",
        ])
        #expect(both.storage.url == "sqlite:specific.sqlite" && both.logLevel == .trace)
        let empty = try Config.load(path: nil, environment: ["DATABASE_URL": "", "LOG_LEVEL": ""])
        #expect(empty == Config())
        let off = try Config.parse(yaml: "record:\n  path: live.jsonl", environment: ["GATEWAY_RECORD_PATH": ""])
        #expect(!off.record.isEnabled)
    }

    @Test func unknownAndBadEnvironmentVariablesAreErrorsUnderTheirOwnName() {
        #expect(problems("", env: ["GATEWAY_SERVER_PROT": "9000"])
            == ["GATEWAY_SERVER_PROT: unknown configuration variable (did you mean GATEWAY_SERVER_PORT?)"])
        let unrelated = problems("", env: ["GATEWAY_NONSENSE": "1"])
        #expect(unrelated.count == 1 && unrelated[0].hasPrefix("GATEWAY_NONSENSE: unknown configuration variable"))
        #expect(problems("", env: ["GATEWAY_SERVER_PORT": "abc"]) == [#"GATEWAY_SERVER_PORT: "abc" is not an integer"#])
        #expect(problems("", env: ["GATEWAY_VENUES_BINANCE_SYMBOLS": "BTC-USDT,eth-usdt"])
            == [#"GATEWAY_VENUES_BINANCE_SYMBOLS[1]: "eth-usdt" is not a canonical symbol (use upper case BASE-QUOTE or BASE-QUOTE-PERP, e.g. BTC-USDT)"#])
        #expect(problems("", env: ["DATABASE_URL": "sqlite:"]).first?.hasPrefix("DATABASE_URL: ") == true)
        #expect(problems("", env: ["LOG_LEVEL": "loud"]).first?.hasPrefix("LOG_LEVEL: ") == true)
        // File and environment problems come together.
        #expect(problems("server:\n  port: 70000", env: ["GATEWAY_X": "1", "GATEWAY_RECORD_ROTATE_EVERY": "daily"]).count == 3)
    }

    // MARK: The example file

    @Test func theExampleFileListsTheDefaults() throws {
        let example = try Config.load(path: examplePath, environment: [:])
        var withoutVenues = example
        withoutVenues.venues = []
        #expect(withoutVenues == Config())
        #expect(example.venues.map(\.id) == Config.VenueID.allCases)
        #expect(example.enabledVenues.map(\.id) == [.binance])
        for v in example.venues {
            var expected = Config.VenueSettings.defaults(for: v.id)
            expected.enabled = v.enabled
            expected.symbols = v.symbols
            #expect(v == expected, "venues.\(v.id) in gateway.example.yaml differs from the code's defaults")
        }
    }

    /// Every key of the example has a `GATEWAY_` variable, and the variables alone rebuild it.
    @Test func theEnvironmentCanSayEverythingTheExampleFileSays() throws {
        let text = try String(contentsOfFile: examplePath, encoding: .utf8)
        var env: [String: String] = [:]
        var stack: [String] = []
        for raw in text.split(separator: "\n") {
            let line = raw.range(of: " #").map { String(raw[..<$0.lowerBound]) } ?? String(raw)
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty, !line.hasPrefix("#") else { continue }
            let depth = line.prefix { $0 == " " }.count / 2
            stack.removeLast(stack.count - depth)
            let body = line.trimmingCharacters(in: .whitespaces)
            if body.hasSuffix(":") {
                stack.append(String(body.dropLast()))
                continue
            }
            let colon = try #require(body.range(of: ": "))
            let path = stack + [String(body[..<colon.lowerBound])]
            var value = String(body[colon.upperBound...]).trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("[") { value = value.dropFirst().dropLast().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ",") }
            if value == "\"\"" { value = "" }
            env["GATEWAY_" + path.joined(separator: "_").uppercased().replacingOccurrences(of: "-", with: "_")] = value
        }
        #expect(env.count == 1 + 7 * 12 + 5 + 12 + 20 + 3 + 27 + 9)
        #expect(try Config.parse(yaml: "", environment: env) == Config.load(path: examplePath, environment: [:]))
    }

    // MARK: Durations and intervals

    @Test(arguments: [
        ("500ms", Duration.milliseconds(500)), ("30s", .seconds(30)), ("5m", .seconds(300)), ("24h", .seconds(86_400)),
        ("23h30m", .seconds(84_600)), ("1d", .seconds(86_400)), ("0", .zero), ("1h30m15s250ms", .milliseconds(5_415_250)),
    ])
    func durationsParse(_ text: String, _ expected: Duration) {
        #expect(DurationText.parse(text) == expected)
    }

    @Test(arguments: ["", "30", "1.5s", "30m1h", "1h1h", "-1s", "30 s", "30sec", "ms", "5M", "off"])
    func nonDurationsAreRejected(_ text: String) {
        #expect(DurationText.parse(text) == nil)
    }

    @Test func durationsFormatTheWayTheyParse() {
        #expect(DurationText.format(.seconds(84_600)) == "23h30m")
        #expect(DurationText.format(.milliseconds(250)) == "250ms")
        #expect(DurationText.format(.zero) == "0s")
        #expect(DurationText.format(.seconds(86_400)) == "1d")
        #expect(DurationText.format(.seconds(129_600)) == "36h")
        for d: Duration in [.milliseconds(1), .seconds(61), .seconds(90_061), .milliseconds(3_600_001)] {
            #expect(DurationText.parse(DurationText.format(d)) == d)
        }
    }

    @Test func intervalsAreNamedInTheirLargestWholeUnit() throws {
        let c = try Config.parse(yaml: "normalizer:\n  intervals: [60m, 1440m, 90m, 2h]", environment: [:])
        #expect(c.normalizer.intervals.map(\.name) == ["1h", "1d", "90m", "2h"])
        #expect(c.normalizer.intervals[0] == Interval("1h"))
        #expect(problems("normalizer:\n  intervals: [1h, 60m]") == ["normalizer.intervals[1]: 1h is listed twice"])
    }
}


/// Configuration inputs the FuzzConfig target found (docs/hardening.md).
@Suite("Configuration fuzz findings")
struct ConfigurationFuzzFindingsTests {
    /// An empty key (`"": 1`) was refused with an empty location, so the message said nowhere
    /// where the bad key was.
    @Test(.timeLimit(.minutes(1)))
    func anEmptyKeyIsRefusedAndNamed() throws {
        let top = problems(#""": 1"#)
        #expect(top.count == 1)
        #expect(top.first?.hasPrefix(#""": unknown key"#) == true, "\(top)")
        let nested = problems("server:\n  \"\": 1\n")
        #expect(nested.first?.hasPrefix(#"server."": unknown key"#) == true, "\(nested)")
        let venue = problems("venues:\n  \"\": {}\n")
        #expect(venue.first?.hasPrefix(#"venues."": unknown venue"#) == true, "\(venue)")
    }

    /// FuzzConfig crash-2eea9dfb34e6a40f86d9c675ad8f39867dd212e8 (Tests/Fixtures/fuzz/): YAML, a NUL,
    /// then environment lines; `DATABASE_URL` holds control characters. The configuration loaded,
    /// but its `yaml` wrote them raw and did not load back. Now they are written `\uXXXX`.
    @Test(.timeLimit(.minutes(1)))
    func controlCharactersInAValueRoundTripThroughYAML() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/fuzz/FuzzConfig-crash-2eea9dfb34e6a40f86d9c675ad8f39867dd212e8")
        let bytes = [UInt8](try Data(contentsOf: path))
        let split = try #require(bytes.firstIndex(of: 0))
        let yaml = String(decoding: bytes[..<split], as: UTF8.self)
        var environment: [String: String] = [:]
        for line in String(decoding: bytes[(split + 1)...], as: UTF8.self).split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            environment[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        #expect(environment["DATABASE_URL"]?.unicodeScalars.contains("\u{0}") == true)
        let c = try Config.parse(yaml: yaml, environment: environment)
        #expect(c.storage.url == environment["DATABASE_URL"])
        #expect(try Config.parse(yaml: c.yaml, environment: [:]) == c)
        // Other control characters an environment variable can hold.
        let d = try Config.parse(yaml: "", environment: ["GATEWAY_SERVER_HOST": "a\u{1}b\u{7F}c\u{85}d\r"])
        #expect(d.server.host == "a\u{1}b\u{7F}c\u{85}d\r")
        #expect(try Config.parse(yaml: d.yaml, environment: [:]) == d)
    }

    // MARK: Cluster

    @Test func theClusterSectionIsOffByDefaultAndReadsRolesAndServers() throws {
        #expect(!Config().cluster.isEnabled)
        #expect(Config().cluster.roles == [.ingest, .services, .edge])
        let c = try Config.parse(yaml: "cluster:\n  nats: [nats://127.0.0.1:4222, \"nats://10.0.0.2:4222\"]\n  roles: [edge]\n  node: edge-1\n", environment: [:])
        #expect(c.cluster.isEnabled)
        #expect(c.cluster.nats == ["nats://127.0.0.1:4222", "nats://10.0.0.2:4222"])
        #expect(c.cluster.roles == [.edge])
        #expect(c.cluster.node == "edge-1")
        #expect(try Config.parse(yaml: c.yaml, environment: [:]) == c)
        let e = try Config.parse(yaml: "", environment: ["GATEWAY_CLUSTER_NATS": "nats://127.0.0.1:4222", "GATEWAY_CLUSTER_ROLES": "ingest,services"])
        #expect(e.cluster.nats == ["nats://127.0.0.1:4222"] && e.cluster.roles == [.ingest, .services])
    }

    @Test func thePrivateStreamTakesItsOwnLimitsOrTheMarketStreams() throws {
        let base = "cluster:\n  nats: [nats://127.0.0.1:4222]\n  history_max_age: 10m\n"
        let same = try Config.parse(yaml: base, environment: [:])
        #expect(same.cluster.privateHistoryMaxAge == nil && same.cluster.privateHistoryMaxBytes == nil)
        #expect(same.yaml.contains("  private_history_max_age: same\n  private_history_max_bytes: same\n"))
        let own = try Config.parse(yaml: base + "  private_history_max_age: 24h\n  private_history_max_bytes: 2048\n", environment: [:])
        #expect(own.cluster.privateHistoryMaxAge == .seconds(86_400) && own.cluster.privateHistoryMaxBytes == 2048)
        #expect(try Config.parse(yaml: own.yaml, environment: [:]) == own)
        #expect(try Config.parse(yaml: same.yaml, environment: [:]) == same)
        let env = try Config.parse(yaml: base, environment: ["GATEWAY_CLUSTER_PRIVATE_HISTORY_MAX_AGE": "1h"])
        #expect(env.cluster.privateHistoryMaxAge == .seconds(3600))
    }

    @Test(arguments: [
        ("cluster:\n  roles: [ingest, egde]", "cluster.roles: unknown role 'egde' (roles: ingest, services, edge)"),
        ("cluster:\n  roles: []", "cluster.roles: no roles given (any of ingest, services, edge)"),
        ("cluster:\n  nodes: a", "cluster.nodes: unknown key (known: nats, roles, node, history_max_age, history_max_bytes, history_replicas, private_history_max_age, private_history_max_bytes, ingest_lease_ttl)"),
        ("cluster:\n  ingest_lease_ttl: 6s", "cluster.ingest_lease_ttl: an ingest lease needs cluster.nats (JetStream on the NATS servers)"),
        ("cluster:\n  history_max_age: 10m", "cluster.history_max_age: a history stream needs cluster.nats (JetStream on the NATS servers)"),
        ("cluster:\n  nats: [nats://127.0.0.1:4222]\n  history_replicas: 7", "cluster.history_replicas: 7 is out of range 1...5"),
        ("cluster:\n  nats: [nats://127.0.0.1:4222]\n  private_history_max_age: 24h",
         "cluster.private_history_max_age: the private history stream exists only with cluster.history_max_age"),
        ("cluster:\n  nats: [nats://127.0.0.1:4222]\n  history_max_age: 10m\n  private_history_max_age: forever",
         "cluster.private_history_max_age: \"forever\" is not a duration (e.g. 24h) or same (as history_max_age)"),
        ("cluster:\n  nats: [nats://127.0.0.1:4222]\n  history_max_age: 10m\n  private_history_max_bytes: 10",
         "cluster.private_history_max_bytes: \"10\" is not a whole number of bytes >= 1024 or same (as history_max_bytes)"),
    ])
    func badClusterSettingsAreRefusedInWords(_ yaml: String, _ expected: String) {
        #expect(problems(yaml) == [expected])
    }

    @Test func agentSpawnSettingsAreReadAndFundingAboveTheStepIsRefused() throws {
        let c = try Config.parse(yaml: "services:\n  agent_spawn_every: 40\n  agent_spawn_funding: 10.5\n  agent_max_generations: 5\n", environment: [:])
        #expect(c.services.agentSpawnEvery == WideDecimal(40) && c.services.agentSpawnFunding == WideDecimal.parse("10.5")!)
        #expect(c.services.agentMaxGenerations == 5)
        #expect(
            problems("services:\n  agent_spawn_every: 20\n  agent_spawn_funding: 25\n") == [
                "services.agent_spawn_funding: agent_spawn_funding (25) must be at most agent_spawn_every (20): children are funded from earnings"
            ])
        #expect(problems("services:\n  agent_spawn_every: 0\n") == ["services.agent_spawn_every: \"0\" is not a positive decimal"])
    }

    @Test func aBadNATSURLIsRefusedWithoutEchoingIt() {
        let p = problems("cluster:\n  nats: [\"http://user:hunter2@x:4222\"]")
        #expect(p.count == 1 && p[0].hasPrefix("cluster.nats[0]: not a NATS server URL"), "\(p)")
        #expect(!p.joined().contains("hunter2"))
    }
}

