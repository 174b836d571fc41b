import Foundation
import Logging
import MarketCore
import Storage
import Cluster
import NATS

extension GatewayConfiguration {
    /// Loads the configuration file at `path` (nil: defaults only), then applies `environment`.
    ///
    /// The environment overrides the file: `DATABASE_URL` sets `storage.url`, `LOG_LEVEL` sets
    /// `log_level`, and `GATEWAY_<KEY_PATH>` sets any key (`GATEWAY_SERVER_PORT=9000`,
    /// `GATEWAY_VENUES_BINANCE_USDM_WS_URL=…`; lists comma-separated:
    /// `GATEWAY_VENUES_BINANCE_SYMBOLS=BTC-USDT,ETH-USDT`). An unknown `GATEWAY_*` variable is an
    /// error, as is an unknown key in the file.
    ///
    /// - Throws: every problem found, file, environment and validation together.
    public static func load(path: String?, environment: [String: String]) throws(ConfigurationError) -> GatewayConfiguration {
        guard let path else { return try parse(yaml: "", environment: environment) }
        guard let data = FileManager.default.contents(atPath: path) else {
            var isDirectory: ObjCBool = false
            let reason = !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
                ? "no such file" : isDirectory.boolValue ? "it is a directory" : "permission denied or unreadable"
            throw ConfigurationError(problems: [.init(location: path, message: "cannot read the configuration file (\(reason))")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(problems: [.init(location: path, message: "the configuration file is not UTF-8 text")])
        }
        return try parse(yaml: text, environment: environment, source: path)
    }

    /// Parses configuration YAML (empty text: all defaults), then applies `environment` as
    /// ``load(path:environment:)`` does.
    ///
    /// - Parameter source: names the text in syntax errors (`gateway.yaml:3:7: …`).
    public static func parse(
        yaml: String, environment: [String: String], source: String = "configuration"
    ) throws(ConfigurationError) -> GatewayConfiguration {
        var early: [ConfigurationError.Problem] = []
        var root = ConfigurationNode.parse(yaml: yaml, source: source, problems: &early)
        // Broken YAML: the tree is unusable, and reading it would only add noise.
        if !early.isEmpty { throw ConfigurationError(problems: early) }
        EnvironmentOverrides.apply(environment, to: &root, problems: &early)
        var reader = ConfigurationReader()
        let configuration = read(root ?? ConfigurationNode(.null), source: source, reader: &reader)
        let problems = early + reader.problems
        if !problems.isEmpty { throw ConfigurationError(problems: problems) }
        return configuration
    }

    // MARK: Reading

    static func read(_ root: ConfigurationNode, source: String, reader r: inout ConfigurationReader) -> GatewayConfiguration {
        var c = GatewayConfiguration()
        guard case .map = root.value else {
            if !root.value.isNull { r.report(source, "expected key: value pairs at the top level, found \(root.kindDescription)") }
            return c
        }
        guard var top = r.section(root, path: "") else { return c }
        r.read(&top, "log_level", into: &c.logLevel) { text in
            Logger.Level(rawValue: text.lowercased()).map { .success($0) }
                ?? .failure(.init("\(quoted(text)) is not a log level (use \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")))"))
        }
        if var venues = r.section(&top, "venues") {
            c.venues = readVenues(&venues, reader: &r)
        }
        if var m = r.section(&top, "normalizer") {
            readNormalizer(&m, into: &c.normalizer, reader: &r)
            r.finish(m, known: ConfigurationKeys.normalizer)
        }
        if var m = r.section(&top, "storage") {
            r.read(&m, "url", into: &c.storage.url) { text in
                // Not echoed: the text may hold a password (PostgresURLError never shows it).
                guard ["postgres://", "postgresql://", "sqlite:"].contains(where: text.hasPrefix) else {
                    return .failure(.init("must start with postgres://, postgresql:// or sqlite: (e.g. sqlite:data/gateway.sqlite)"))
                }
                // The store's own parser, so `serve` cannot fail on a URL that loaded.
                do {
                    _ = try StoreLocation(parsing: text)
                    return .success(text)
                } catch {
                    return .failure(.init("\(error)"))
                }
            }
            r.string(&m, "spill_dir", into: &c.storage.spillDir, nonEmpty: true)
            r.duration(&m, "write_timeout", into: &c.storage.writeTimeout, positive: true)
            r.bool(&m, "write_ahead", into: &c.storage.writeAhead)
            r.bool(&m, "timescaledb", into: &c.storage.timescaleDB)
            r.duration(&m, "compress_after", into: &c.storage.compressAfter, positive: true)
            r.optionalDuration(&m, "retention_trades", into: &c.storage.retentionTrades)
            r.optionalDuration(&m, "retention_book_snapshots", into: &c.storage.retentionBookSnapshots)
            r.optionalDuration(&m, "retention_candles_1m", into: &c.storage.retentionCandles1m)
            r.optionalDuration(&m, "retention_candles_5m", into: &c.storage.retentionCandles5m)
            r.optionalDuration(&m, "retention_mood", into: &c.storage.retentionMood)
            r.duration(&m, "aggregate_refresh_window", into: &c.storage.aggregateRefreshWindow, positive: true)
            if let keep = c.storage.retentionCandles1m, c.storage.aggregateRefreshWindow >= keep {
                // Refreshing a range whose 1m rows are gone would empty the 1h/1d aggregates there.
                r.report(
                    m.location("aggregate_refresh_window"),
                    "must be shorter than retention_candles_1m (\(DurationText.format(keep))): refreshing where the 1m rows are dropped would empty the 1h/1d aggregates")
            }
            r.finish(m, known: ConfigurationKeys.storage)
        }
        if var m = r.section(&top, "server") {
            r.string(&m, "host", into: &c.server.host, nonEmpty: true)
            r.int(&m, "port", into: &c.server.port, in: 0...65535)
            r.int(&m, "max_connections", into: &c.server.maxConnections, in: 1...Int.max)
            r.int(&m, "max_subscriptions_per_connection", into: &c.server.maxSubscriptionsPerConnection, in: 1...Int.max)
            r.int(&m, "max_frame_bytes", into: &c.server.maxFrameBytes, in: 1...Int.max)
            r.int(&m, "max_messages_per_second", into: &c.server.maxMessagesPerSecond, in: 1...Int.max)
            readServerLimits(&m, into: &c.server, reader: &r)
            r.finish(m, known: ConfigurationKeys.server)
        }
        if var m = r.section(&top, "record") {
            r.read(&m, "path", into: &c.record.path, nullAs: "") { text in
                text.isEmpty || text.hasSuffix(".jsonl") || text.hasSuffix(".jsonl.gz")
                    ? .success(text) : .failure(.init("\(quoted(text)) must end in .jsonl or .jsonl.gz (or be empty: not recording)"))
            }
            r.optionalInt(&m, "rotate_bytes", into: &c.record.rotateBytes, in: 1...Int.max)
            r.optionalDuration(&m, "rotate_every", into: &c.record.rotateEvery)
            r.finish(m, known: ConfigurationKeys.record)
        }
        if var m = r.section(&top, "services") {
            readServices(&m, into: &c.services, reader: &r)
            r.finish(m, known: ConfigurationKeys.services)
        }
        if var m = r.section(&top, "cluster") {
            readCluster(&m, into: &c.cluster, reader: &r)
            r.finish(m, known: ConfigurationKeys.cluster)
        }
        r.finish(top, known: ConfigurationKeys.root)
        return c
    }

    /// The abuse limits, timeouts, sessions and TLS of `server:` (docs/protocol.md "Limits").
    static func readServerLimits(_ m: inout ConfigurationSection, into v: inout ServerSettings, reader r: inout ConfigurationReader) {
        r.int(&m, "max_connections_per_ip", into: &v.maxConnectionsPerIP, in: 1...Int.max)
        r.int(&m, "max_handshakes_per_second", into: &v.maxHandshakesPerSecond, in: 1...Int.max)
        r.duration(&m, "handshake_timeout", into: &v.handshakeTimeout, positive: true)
        r.duration(&m, "idle_timeout", into: &v.idleTimeout, positive: true)
        r.int(&m, "max_header_bytes", into: &v.maxHeaderBytes, in: 1024...Int.max)
        r.int(&m, "max_body_bytes", into: &v.maxBodyBytes, in: 1...Int.max)
        r.int(&m, "max_channels_per_subscribe", into: &v.maxChannelsPerSubscribe, in: 1...Int.max)
        r.int(&m, "max_outstanding_bytes", into: &v.maxOutstandingBytes, in: 65_536...Int.max)
        r.int(&m, "max_auth_attempts_per_minute", into: &v.maxAuthAttemptsPerMinute, in: 1...Int.max)
        r.int(&m, "max_rest_requests_per_second", into: &v.maxRESTRequestsPerSecond, in: 1...Int.max)
        r.duration(&m, "session_warning", into: &v.sessionWarning, positive: false)
        let certLocation = m.location("tls_cert_path")
        r.string(&m, "tls_cert_path", into: &v.tlsCertPath)
        r.string(&m, "tls_key_path", into: &v.tlsKeyPath)
        r.duration(&m, "tls_reload_check", into: &v.tlsReloadCheck, positive: true)
        if v.tlsCertPath.isEmpty != v.tlsKeyPath.isEmpty {
            r.report(certLocation, "tls_cert_path and tls_key_path go together (both set: TLS; both empty: plain)")
        }
    }

    static func readCluster(_ m: inout ConfigurationSection, into v: inout ClusterSettings, reader r: inout ConfigurationReader) {
        if let items = r.list(&m, "nats") {
            var urls: [String] = []
            for (text, location) in items {
                do {
                    _ = try NATSServerAddress(parsing: text)
                    urls.append(text)
                } catch {
                    // Not echoed: the URL may hold a password.
                    r.report(location, "not a NATS server URL (nats://host:port, e.g. nats://127.0.0.1:4222)")
                }
            }
            if urls.count == items.count { v.nats = urls }
        }
        let rolesLocation = m.location("roles")
        if let items = r.list(&m, "roles") {
            switch ClusterRole.parse(items.map(\.text)) {
            case .success(let roles): v.roles = roles
            case .failure(let e): r.report(rolesLocation, e.message)
            }
        }
        r.string(&m, "node", into: &v.node)
        let ageLocation = m.location("history_max_age")
        r.optionalDuration(&m, "history_max_age", into: &v.historyMaxAge)
        r.int(&m, "history_max_bytes", into: &v.historyMaxBytes, in: 1024...Int.max)
        r.int(&m, "history_replicas", into: &v.historyReplicas, in: 1...5)
        let privateLocation = m.location(m.entries.contains { $0.key == "private_history_max_age" } ? "private_history_max_age" : "private_history_max_bytes")
        r.read(&m, "private_history_max_age", into: &v.privateHistoryMaxAge) { text in
            if text.lowercased() == "same" { return .success(nil) }
            guard let d = DurationText.parse(text), d > .zero else {
                return .failure(.init("\(quoted(text)) is not a duration (e.g. 24h) or same (as history_max_age)"))
            }
            return .success(d)
        }
        r.read(&m, "private_history_max_bytes", into: &v.privateHistoryMaxBytes) { text in
            if text.lowercased() == "same" { return .success(nil) }
            guard let n = Int(text), n >= 1024 else {
                return .failure(.init("\(quoted(text)) is not a whole number of bytes >= 1024 or same (as history_max_bytes)"))
            }
            return .success(n)
        }
        if v.historyMaxAge == nil && (v.privateHistoryMaxAge != nil || v.privateHistoryMaxBytes != nil) {
            r.report(privateLocation, "the private history stream exists only with cluster.history_max_age")
        }
        let leaseLocation = m.location("ingest_lease_ttl")
        r.optionalDuration(&m, "ingest_lease_ttl", into: &v.ingestLeaseTTL)
        if let ttl = v.ingestLeaseTTL, ttl < .seconds(1) {
            r.report(leaseLocation, "must be at least 1s (renewals run every third of it)")
        }
        if v.nats.isEmpty && v.ingestLeaseTTL != nil {
            r.report(leaseLocation, "an ingest lease needs cluster.nats (JetStream on the NATS servers)")
        }
        if v.nats.isEmpty && v.historyMaxAge != nil {
            r.report(ageLocation, "a history stream needs cluster.nats (JetStream on the NATS servers)")
        }
        if v.nats.isEmpty && v.roles != Set(ClusterRole.allCases) {
            r.report(rolesLocation, "roles other than all three need cluster.nats (without NATS one process does everything)")
        }
    }

    static func readServices(_ m: inout ConfigurationSection, into v: inout ServicesSettings, reader r: inout ConfigurationReader) {
        r.read(&m, "jwt_secret", into: &v.jwtSecret, nullAs: "") { text in
            text.isEmpty || text.utf8.count >= 32 ? .success(text) : .failure(.init("must be at least 32 bytes (or empty: auth off)"))
        }
        r.read(&m, "admin_token", into: &v.adminToken, nullAs: "") { text in
            text.isEmpty || text.utf8.count >= 16 ? .success(text) : .failure(.init("must be at least 16 bytes (or empty: user management off)"))
        }
        r.string(&m, "cash_asset", into: &v.cashAsset, nonEmpty: true)
        for (key, path) in [("taker_fee", \ServicesSettings.takerFee), ("max_spread_bps", \.maxSpreadBps), ("min_notional_usd", \.minNotionalUSD)] {
            r.read(&m, key, into: &v[keyPath: path]) { text in
                guard let d = WideDecimal.parse(text), !d.isNegative else { return .failure(.init("\(quoted(text)) is not a non-negative decimal")) }
                return .success(d)
            }
        }
        r.int(&m, "max_trades_per_hour", into: &v.maxTradesPerHour, in: 1...Int.max)
        for (key, path) in [
            ("risk_max_position_percent", \ServicesSettings.riskMaxPositionPercent), ("risk_max_order_notional_usd", \.riskMaxOrderNotionalUSD),
            ("risk_max_daily_loss_usd", \.riskMaxDailyLossUSD), ("withdrawal_daily_limit_usd", \.withdrawalDailyLimitUSD),
        ] {
            r.read(&m, key, into: &v[keyPath: path], nullAs: .some(nil)) { text in
                if text.lowercased() == "off" { return .success(nil) }
                guard let d = WideDecimal.parse(text), d.isPositive else { return .failure(.init("\(quoted(text)) is not a positive decimal (or off)")) }
                return .success(d)
            }
        }
        r.read(&m, "risk_max_open_orders", into: &v.riskMaxOpenOrders, nullAs: .some(nil)) { text in
            if text.lowercased() == "off" { return .success(nil) }
            return ConfigurationReader.int(text, in: 1...1_000_000).map { Optional($0) }
        }
        r.duration(&m, "risk_every", into: &v.riskEvery, positive: true)
        r.duration(&m, "mood_every", into: &v.moodEvery, positive: true)
        r.duration(&m, "ledger_reconcile_every", into: &v.ledgerReconcileEvery, positive: true)
        for (key, path) in [
            ("deposit_fee", \ServicesSettings.depositFee), ("performance_fee", \.performanceFee), ("royalty_share", \.royaltyShare),
        ] {
            r.read(&m, key, into: &v[keyPath: path]) { text in
                guard let d = WideDecimal.parse(text), !d.isNegative, d < WideDecimal(1) else {
                    return .failure(.init("\(quoted(text)) is not a decimal in [0, 1)"))
                }
                return .success(d)
            }
        }
        r.int(&m, "royalty_generations", into: &v.royaltyGenerations, in: 0...100)
        r.read(&m, "deposit_webhook_secret", into: &v.depositWebhookSecret, nullAs: "") { text in
            text.isEmpty || text.utf8.count >= 32 ? .success(text) : .failure(.init("must be at least 32 bytes (or empty: webhook off)"))
        }
        r.duration(&m, "deposit_webhook_window", into: &v.depositWebhookWindow, positive: true)
        r.read(&m, "telegram_bot_token", into: &v.telegramBotToken, nullAs: "") { text in
            text.isEmpty || (text.contains(":") && !text.contains("/") && !text.contains(where: \.isWhitespace))
                ? .success(text) : .failure(.init("must look like a bot token <id>:<secret> (or empty: notifications off)"))
        }
        r.read(&m, "telegram_api_url", into: &v.telegramAPIURL) { text in
            guard let u = URL(string: text), u.scheme == "http" || u.scheme == "https", u.host != nil, u.query == nil else {
                return .failure(.init("\(quoted(text)) is not an http(s) URL"))
            }
            return .success(text.hasSuffix("/") ? String(text.dropLast()) : text)
        }
        let spawnLocation = m.location("agent_spawn_funding")
        for (key, path) in [("agent_spawn_every", \ServicesSettings.agentSpawnEvery), ("agent_spawn_funding", \.agentSpawnFunding)] {
            r.read(&m, key, into: &v[keyPath: path]) { text in
                guard let d = WideDecimal.parse(text), d.isPositive else { return .failure(.init("\(quoted(text)) is not a positive decimal")) }
                return .success(d)
            }
        }
        if v.agentSpawnFunding > v.agentSpawnEvery {
            r.report(spawnLocation, "agent_spawn_funding (\(v.agentSpawnFunding)) must be at most agent_spawn_every (\(v.agentSpawnEvery)): children are funded from earnings")
        }
        r.int(&m, "agent_max_generations", into: &v.agentMaxGenerations, in: 1...1000)
        if let items = r.list(&m, "signals") {
            var specs: [String] = []
            for (text, location) in items {
                switch SignalSpec.parse(text) {
                case .failure(let e): r.report(location, e.message)
                case .success: specs.append(text)
                }
            }
            if specs.count == items.count { v.signals = specs }
        }
    }

    static func readNormalizer(_ m: inout ConfigurationSection, into n: inout NormalizerSettings, reader r: inout ConfigurationReader) {
        if let items = r.list(&m, "intervals") {
            var intervals: [Interval] = []
            for (text, location) in items {
                switch candleInterval(text) {
                case .success(let interval):
                    if intervals.contains(interval) {
                        r.report(location, "\(interval.name) is listed twice")
                    } else {
                        intervals.append(interval)
                    }
                case .failure(let problem):
                    r.report(location, problem.message)
                }
            }
            if items.isEmpty {
                r.report(m.location("intervals"), "must list at least one interval (e.g. [1m, 5m])")
            } else if intervals.count == items.count {
                n.intervals = intervals
            }
        }
        r.duration(&m, "grace", into: &n.grace, positive: false)
        r.int(&m, "snapshot_depth", into: &n.snapshotDepth, in: 1...Int.max)
        r.duration(&m, "snapshot_every", into: &n.snapshotEvery, positive: true)
        r.duration(&m, "tick_every", into: &n.tickEvery, positive: true)
    }

    /// A candle interval: a whole number of minutes, at least 1m, named in its largest whole
    /// unit (`60m` and `1h` are both `1h`).
    static func candleInterval(_ text: String) -> Result<Interval, ConfigurationReader.Problem> {
        guard let d = DurationText.parse(text) else {
            return .failure(.init("\(quoted(text)) is not an interval (use 1m, 5m, 15m, 1h)"))
        }
        let seconds = d.components.seconds
        guard d.components.attoseconds == 0, seconds % 60 == 0, seconds >= 60 else {
            return .failure(.init("\(quoted(text)) is not a whole number of minutes of at least 1m (use 1m, 5m, 15m, 1h)"))
        }
        let (nanoseconds, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return .failure(.init("\(quoted(text)) is too long for a candle interval")) }
        let minutes = seconds / 60
        let name = minutes % 1440 == 0 ? "\(minutes / 1440)d" : minutes % 60 == 0 ? "\(minutes / 60)h" : "\(minutes)m"
        return .success(Interval(nanoseconds: nanoseconds, name: name))
    }
}
