/// The keys of the configuration file, one list per mapping. Reading and the environment table
/// both come from here, so an environment variable exists for exactly the keys the file has.
enum ConfigurationKeys {
    static let root = ["log_level", "venues", "normalizer", "storage", "server", "record", "services", "cluster"]
    static let venue = [
        "enabled", "symbols", "channels", "ws_url", "rest_url", "stale_after", "ping_interval", "reconnect_initial",
        "reconnect_max", "rotate_after", "subscribe_batch", "book_depth",
    ]
    static let normalizer = ["intervals", "grace", "snapshot_depth", "snapshot_every", "tick_every"]
    static let storage = [
        "url", "spill_dir", "write_timeout", "write_ahead", "timescaledb", "compress_after", "retention_trades", "retention_book_snapshots",
        "retention_candles_1m", "retention_candles_5m", "retention_mood", "aggregate_refresh_window",
    ]
    static let server = [
        "host", "port", "max_connections", "max_subscriptions_per_connection", "max_frame_bytes", "max_messages_per_second",
        "max_connections_per_ip", "max_handshakes_per_second", "handshake_timeout", "idle_timeout", "max_header_bytes",
        "max_body_bytes", "max_channels_per_subscribe", "max_outstanding_bytes", "max_auth_attempts_per_minute",
        "max_rest_requests_per_second", "session_warning", "tls_cert_path", "tls_key_path", "tls_reload_check",
    ]
    static let record = ["path", "rotate_bytes", "rotate_every"]
    static let services = [
        "jwt_secret", "admin_token", "cash_asset", "taker_fee", "max_spread_bps", "min_notional_usd", "max_trades_per_hour",
        "risk_max_position_percent", "risk_max_open_orders", "risk_max_order_notional_usd", "risk_max_daily_loss_usd", "risk_every",
        "mood_every", "ledger_reconcile_every", "deposit_fee", "deposit_webhook_secret", "deposit_webhook_window", "performance_fee",
        "withdrawal_daily_limit_usd",
        "royalty_share", "royalty_generations", "signals", "telegram_bot_token", "telegram_api_url",
        "agent_spawn_every", "agent_spawn_funding", "agent_max_generations",
    ]
    static let cluster = ["nats", "roles", "node", "history_max_age", "history_max_bytes", "history_replicas", "private_history_max_age", "private_history_max_bytes", "ingest_lease_ttl"]
    /// Keys whose value is a list (comma-separated in the environment).
    static let lists: Set<String> = ["symbols", "channels", "intervals", "signals", "nats", "roles"]

    /// Every leaf key path, as segments (`["venues", "binance-usdm", "ws_url"]`).
    static let leafPaths: [[String]] = {
        var paths: [[String]] = [["log_level"]]
        for id in GatewayConfiguration.VenueID.allCases {
            paths += venue.map { ["venues", id.rawValue, $0] }
        }
        paths += normalizer.map { ["normalizer", $0] }
        paths += storage.map { ["storage", $0] }
        paths += server.map { ["server", $0] }
        paths += record.map { ["record", $0] }
        paths += services.map { ["services", $0] }
        paths += cluster.map { ["cluster", $0] }
        return paths
    }()
}

/// Environment overrides: `DATABASE_URL`, `LOG_LEVEL`, and `GATEWAY_<KEY_PATH>` for every key.
enum EnvironmentOverrides {
    static let prefix = "GATEWAY_"
    /// `GATEWAY_*` names that are not keys but are not typos either: `GATEWAY_CONFIG` may name
    /// the file itself (the CLI's business, not the loader's).
    static let reserved: Set<String> = ["GATEWAY_CONFIG"]

    /// `GATEWAY_SERVER_PORT` → `["server", "port"]`: the key path upper-cased, `_` between
    /// segments, `-` in venue ids as `_`.
    static let table: [String: [String]] = Dictionary(
        uniqueKeysWithValues: ConfigurationKeys.leafPaths.map { (variableName($0), $0) })

    static func variableName(_ path: [String]) -> String {
        prefix + String(path.joined(separator: "_").uppercased().map { $0 == "-" ? "_" : $0 })
    }

    /// Merges the overrides into `root` (creating it when there is no file). Generic names
    /// (`DATABASE_URL`, `LOG_LEVEL`) go first, so the specific `GATEWAY_STORAGE_URL` /
    /// `GATEWAY_LOG_LEVEL` win when both are set; empty generic ones count as unset, as
    /// `gateway replay` treats an empty `DATABASE_URL`.
    static func apply(
        _ environment: [String: String], to root: inout ConfigurationNode?, problems: inout [ConfigurationError.Problem]
    ) {
        var overrides: [(name: String, path: [String])] = []
        for (name, path) in [("DATABASE_URL", ["storage", "url"]), ("LOG_LEVEL", ["log_level"])]
        where !(environment[name] ?? "").isEmpty {
            overrides.append((name, path))
        }
        for name in environment.keys.sorted() where name.hasPrefix(prefix) && !reserved.contains(name) {
            guard let path = table[name] else {
                problems.append(.init(location: name, message: "unknown configuration variable (\(suggestion(for: name)))"))
                continue
            }
            overrides.append((name, path))
        }
        guard !overrides.isEmpty else { return }
        var tree = root ?? ConfigurationNode(.map([]))
        // A file whose top level is not a mapping is reported when it is read; there is nothing
        // to merge into.
        if case .scalar = tree.value { return }
        if case .list = tree.value { return }
        for (name, path) in overrides {
            let text = environment[name]!
            let node: ConfigurationNode
            if ConfigurationKeys.lists.contains(path.last!) {
                let items = text.split(separator: ",").map(trimmed).filter { !$0.isEmpty }
                node = ConfigurationNode(.list(items.map { ConfigurationNode(.scalar($0)) }), variable: name)
            } else {
                node = ConfigurationNode(.scalar(text), variable: name)
            }
            tree.set(path[...], to: node)
        }
        root = tree
    }

    /// "did you mean GATEWAY_SERVER_PORT?" for a near miss, else how names are formed.
    static func suggestion(for name: String) -> String {
        let best = table.keys.map { (name: $0, distance: editDistance(name, $0)) }
            .min { ($0.distance, $0.name) < ($1.distance, $1.name) }
        if let best, best.distance <= 3 { return "did you mean \(best.name)?" }
        return "GATEWAY_ is followed by a key path, e.g. GATEWAY_SERVER_PORT, GATEWAY_VENUES_BINANCE_SYMBOLS; see gateway.example.yaml"
    }

    /// Levenshtein distance over bytes (names are ASCII).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    /// `text` without leading and trailing spaces and tabs.
    static func trimmed(_ text: Substring) -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        return String(text.drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
