public import Cluster
public import Logging
public import MarketCore
public import Storage

/// Everything `gateway serve` is configured with: a YAML file (every key optional) plus
/// environment overrides, validated as a whole at load time.
///
/// Every property has a default, so `GatewayConfiguration()` is a working (if venue-less)
/// configuration; `gateway.example.yaml` lists every key with that default. Load with
/// ``load(path:environment:)`` or ``parse(yaml:environment:source:)``; both report every problem
/// at once in a ``ConfigurationError``.
public struct GatewayConfiguration: Sendable, Equatable {
    /// `log_level`: the lowest level logged (`trace` … `critical`, default `info`).
    public var logLevel: Logger.Level = .info
    /// `venues`: the venues listed in the file (or the environment), in ``VenueID`` order.
    /// Venues not listed are not connected; a listed venue is enabled unless it says otherwise.
    public var venues: [VenueSettings] = []
    /// `normalizer`: candles, book snapshots and the pipeline clock.
    public var normalizer = NormalizerSettings()
    /// `storage`: where events are stored.
    public var storage = StorageSettings()
    /// `server`: the HTTP / websocket listener and its per-connection limits.
    public var server = ServerSettings()
    /// `record`: optional capture of every raw frame.
    public var record = RecordSettings()
    public var services = ServicesSettings()
    /// `cluster`: NATS servers and this process's roles; no servers = the in-process bus only.
    public var cluster = ClusterSettings()

    /// The defaults: no venues, info logging, SQLite storage, 127.0.0.1:8080.
    public init() {}

    /// The venues that should be connected, in ``VenueID`` order.
    public var enabledVenues: [VenueSettings] { venues.filter(\.enabled) }

    /// The settings of `id`, when it is listed.
    public subscript(venue id: VenueID) -> VenueSettings? {
        venues.first { $0.id == id }
    }
}

extension GatewayConfiguration {
    /// The venue ids the gateway has adapters for (CONTRACTS.md, "Venues and symbols").
    public enum VenueID: String, CaseIterable, Sendable, Hashable, Comparable, CustomStringConvertible {
        case binance
        case binanceUSDM = "binance-usdm"
        case binanceCOINM = "binance-coinm"
        case coinbase
        case kraken
        case okx
        case bybit

        /// The MarketCore venue (`Venue("binance-usdm")`).
        public var venue: Venue { Venue(rawValue) }
        public var description: String { rawValue }

        /// Configuration order: the order of `allCases`.
        public static func < (lhs: VenueID, rhs: VenueID) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }

    /// What a venue feed subscribes to per symbol (`channels`).
    public enum Channel: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
        case trades, book, ticker
        public var description: String { rawValue }
    }

    /// One venue's feed: `venues.<id>`. Defaults differ per venue: see ``defaults(for:)``.
    public struct VenueSettings: Sendable, Equatable {
        public var id: VenueID
        /// `enabled` (default true): a listed venue can be switched off without deleting it.
        public var enabled = true
        /// `symbols`: canonical symbols (`BTC-USDT`, perpetuals `BTC-USDT-PERP`), in file order.
        /// Must not be empty when the venue is enabled.
        public var symbols: [String] = []
        /// `channels` (default all three).
        public var channels: Set<Channel> = Set(Channel.allCases)
        /// `ws_url`: the websocket endpoint, `ws://` or `wss://`.
        public var wsURL: String
        /// `rest_url`: the REST base for depth snapshots and trade history, `http://` or `https://`.
        public var restURL: String
        /// `stale_after`: no frame for this long means the stream is dead: reconnect.
        public var staleAfter: Duration = .seconds(30)
        /// `ping_interval`: application-level ping period; nil (`off`) where the venue pings us.
        public var pingInterval: Duration?
        /// `reconnect_initial`: the first reconnect backoff (it doubles, with jitter).
        public var reconnectInitial: Duration = .seconds(1)
        /// `reconnect_max`: the backoff cap.
        public var reconnectMax: Duration = .seconds(60)
        /// `rotate_after`: make-before-break rotation age; nil (`off`) = never.
        public var rotateAfter: Duration?
        /// `subscribe_batch`: streams / args per subscribe message (the venue's documented limit).
        public var subscribeBatch: Int
        /// `book_depth`: REST snapshot limit / subscribed book depth.
        public var bookDepth: Int

        /// Settings with every key at `id`'s default and no symbols.
        public init(id: VenueID, wsURL: String, restURL: String, subscribeBatch: Int, bookDepth: Int) {
            self.id = id
            self.wsURL = wsURL
            self.restURL = restURL
            self.subscribeBatch = subscribeBatch
            self.bookDepth = bookDepth
        }

        /// The MarketCore venue.
        public var venue: Venue { id.venue }
    }

    /// `normalizer`: candle intervals and book snapshots.
    public struct NormalizerSettings: Sendable, Equatable {
        /// `intervals`: candle intervals, whole minutes (`1m`, `5m`, `15m`, `1h`), in file order.
        /// Names are normalized (`60m` is `1h`).
        public var intervals: [Interval] = [.oneMinute, .fiveMinutes]
        /// `grace`: how long after a bucket's end the clock closes it.
        public var grace: Duration = .seconds(2)
        /// `snapshot_depth`: levels per side in book snapshots.
        public var snapshotDepth = 20
        /// `snapshot_every`: book snapshot period (book event time).
        public var snapshotEvery: Duration = .seconds(1)
        /// `tick_every`: the live pipeline's clock tick (candle closes, snapshot timers).
        public var tickEvery: Duration = .milliseconds(250)

        public init() {}
    }

    /// `storage`: the store and its write path.
    public struct StorageSettings: Sendable, Equatable {
        /// `url`: `postgres://…`, `postgresql://…` or `sqlite:PATH`; `DATABASE_URL` overrides it.
        /// Validated with `StoreLocation(parsing:)`, so that call cannot fail on a loaded value.
        public var url = "sqlite:data/gateway.sqlite"
        /// `spill_dir`: where rows wait while the database is unreachable.
        public var spillDir = "data/spill"
        /// `write_timeout`: how long a database write may take before its rows spill.
        public var writeTimeout: Duration = .seconds(10)
        /// `write_ahead`: every row goes to the spill directory's log before the database, so a
        /// killed gateway loses milliseconds of rows, not the batches it held (docs/storage.md).
        public var writeAhead = true
        /// `timescaledb`: use TimescaleDB when `CREATE EXTENSION timescaledb` works (PostgreSQL only).
        public var timescaleDB = true
        /// `compress_after`: TimescaleDB compresses chunks older than this.
        public var compressAfter: Duration = .seconds(3 * 86_400)
        /// `retention_trades`, `retention_book_snapshots`, `retention_candles_1m`, `retention_candles_5m`,
        /// `retention_mood`: TimescaleDB drops chunks older than this; nil (`off`) keeps everything.
        public var retentionTrades: Duration? = .seconds(7 * 86_400)
        public var retentionBookSnapshots: Duration? = .seconds(7 * 86_400)
        public var retentionCandles1m: Duration? = .seconds(30 * 86_400)
        public var retentionCandles5m: Duration? = nil
        public var retentionMood: Duration? = .seconds(90 * 86_400)
        /// `aggregate_refresh_window`: how far back the 1h/1d aggregates are refreshed (late
        /// revisions older than this do not reach them); shorter than `retention_candles_1m`.
        public var aggregateRefreshWindow: Duration = .seconds(7 * 86_400)

        public init() {}

        /// The TimescaleDB policies these settings describe.
        public var timescalePolicies: TimescalePolicies {
            func interval(_ d: Duration) -> String { "\(d.components.seconds) seconds" }
            var p = TimescalePolicies()
            p.enabled = timescaleDB
            p.compressAfter = interval(compressAfter)
            p.aggregateRefreshWindow = interval(aggregateRefreshWindow)
            p.retention = [:]
            for (table, d) in [
                ("trades", retentionTrades), ("order_book_snapshots", retentionBookSnapshots),
                ("market_data_1m", retentionCandles1m), ("market_data_5m", retentionCandles5m), ("agent_status_log", retentionMood),
            ] {
                if let d { p.retention[table] = interval(d) }
            }
            return p
        }
    }

    /// `server`: the listener and per-connection limits.
    public struct ServerSettings: Sendable, Equatable {
        /// `host`: the address to bind.
        public var host = "127.0.0.1"
        /// `port`: 0...65535, 0 = any free port.
        public var port = 8080
        /// `max_connections`: concurrent websocket clients.
        public var maxConnections = 10_000
        /// `max_subscriptions_per_connection`: channels one client may hold.
        public var maxSubscriptionsPerConnection = 200
        /// `max_frame_bytes`: the largest inbound websocket frame.
        public var maxFrameBytes = 65_536
        /// `max_messages_per_second`: inbound messages per connection.
        public var maxMessagesPerSecond = 50
        /// `max_connections_per_ip`: TCP connections (HTTP and websocket) from one address.
        public var maxConnectionsPerIP = 256
        /// `max_handshakes_per_second`: websocket upgrades per second, all clients together.
        public var maxHandshakesPerSecond = 200
        /// `handshake_timeout`: time to send the first request head (slowloris cut).
        public var handshakeTimeout: Duration = .seconds(10)
        /// `idle_timeout`: an HTTP keep-alive connection with no request for this long is closed.
        public var idleTimeout: Duration = .seconds(60)
        /// `max_header_bytes`: request line and headers; larger gets 431.
        public var maxHeaderBytes = 16_384
        /// `max_body_bytes`: request body; larger gets 413.
        public var maxBodyBytes = 1_048_576
        /// `max_channels_per_subscribe`: channels one subscribe may match (its ack's entries).
        public var maxChannelsPerSubscribe = 1000
        /// `max_outstanding_bytes`: bytes queued for one websocket client before it is closed (4008).
        public var maxOutstandingBytes = 8_388_608
        /// `max_auth_attempts_per_minute`: `auth` messages per websocket per minute (then 4029).
        public var maxAuthAttemptsPerMinute = 10
        /// `max_rest_requests_per_second`: REST requests per bearer token (then 429).
        public var maxRESTRequestsPerSecond = 20
        /// `session_warning`: how long before its token's `exp` a websocket is told.
        public var sessionWarning: Duration = .seconds(60)
        /// `tls_cert_path` / `tls_key_path`: PEM certificate chain and key; both empty = plain.
        public var tlsCertPath = ""
        public var tlsKeyPath = ""
        /// `tls_reload_check`: how often the two files are checked for a change (then reloaded).
        public var tlsReloadCheck: Duration = .seconds(10)

        public init() {}

        /// Whether the listener speaks TLS.
        public var tlsEnabled: Bool { !tlsCertPath.isEmpty }
    }

    /// `record`: a capture file of every raw frame (DESIGN.md, "Capture file format").
    public struct RecordSettings: Sendable, Equatable {
        /// `path`: the capture file (`.jsonl` or `.jsonl.gz`); empty = not recording.
        public var path = ""
        /// `rotate_bytes`: start a new file after this many bytes; nil (`0` / `off`) = never.
        public var rotateBytes: Int? = 1 << 30
        /// `rotate_every`: start a new file after this long; nil (`0` / `off`) = never.
        public var rotateEvery: Duration? = .seconds(3600)

        public init() {}

        /// Whether frames are recorded.
        public var isEnabled: Bool { !path.isEmpty }
    }

    /// The in-process services (DESIGN.md "Services"): paper execution, checks, mood, signals, auth.
    public struct ServicesSettings: Sendable, Equatable {
        /// HS256 key of user tokens (≥ 32 bytes). Empty: user endpoints and private channels are
        /// refused (`gateway demo` makes a random one).
        public var jwtSecret = ""
        /// Bearer token of the user-management endpoints (≥ 16 bytes). Empty: they are refused.
        public var adminToken = ""
        public var cashAsset = "USDC"
        public var takerFee = WideDecimal.parse("0.001")!
        public var maxSpreadBps = WideDecimal(50)
        public var minNotionalUSD = WideDecimal(10)
        public var maxTradesPerHour = 5
        /// Every user's risk limits unless an admin sets their own (docs/trading.md "Risk limits and
        /// the circuit breaker"); each is the first value refused; nil (`off`): no such limit.
        public var riskMaxPositionPercent: WideDecimal? = WideDecimal(100)
        public var riskMaxOpenOrders: Int? = 200
        public var riskMaxOrderNotionalUSD: WideDecimal? = WideDecimal(250_000)
        public var riskMaxDailyLossUSD: WideDecimal? = WideDecimal(5_000)
        /// Per user: the most a UTC day's withdrawal requests may add up to, in USD; nil = no cap.
        public var withdrawalDailyLimitUSD: WideDecimal?
        /// How often every user's day loss is looked at (besides after each fill and with each order).
        public var riskEvery: Duration = .seconds(10)
        public var moodEvery: Duration = .seconds(60)
        /// How often the running gateway reconciles the double-entry ledger (it also does at start-up).
        public var ledgerReconcileEvery: Duration = .seconds(60)
        /// Share of each webhook deposit that goes to the house fee account (0.05 = 5 %).
        public var depositFee = WideDecimal.parse("0.05")!
        /// Share of realized profit above a user's high-water mark paid to the house (0.2 = 20 %).
        public var performanceFee = WideDecimal.parse("0.2")!
        /// Each ancestor strategy creator's share of a performance fee, and how many generations earn it.
        public var royaltyShare = WideDecimal.parse("0.05")!
        public var royaltyGenerations = 3
        /// HMAC-SHA256 key of `POST /api/v1/webhooks/deposit` (≥ 32 bytes). Empty: the webhook is refused.
        public var depositWebhookSecret = ""
        /// How far a webhook's `X-Deposit-Timestamp` may be from now.
        public var depositWebhookWindow: Duration = .seconds(300)
        /// Agent hierarchy (docs/strategies.md): an agent with an allocation spawns a child each time
        /// its realized earnings reach another multiple of this, funded with `agentSpawnFunding`
        /// from its own sub-account, up to generation `agentMaxGenerations`.
        public var agentSpawnEvery = WideDecimal(50)
        public var agentSpawnFunding = WideDecimal(25)
        public var agentMaxGenerations = 3
        /// `"<strategy>[:params] <venue> <SYMBOL|*> <interval>"`: `"ema_cross:9:21 binance BTC-USDT 1m"`,
        /// `"rsi:14:30:70 binance * 1m"`.
        public var signals: [String] = []
        /// Bot token of the Telegram Bot API for user notifications (docs/notifications.md). Empty:
        /// notifications are off (settings are still kept).
        public var telegramBotToken = ""
        /// The Bot API's base URL (`sendMessage` is POSTed to `{base}/bot{token}/sendMessage`).
        public var telegramAPIURL = "https://api.telegram.org"

        public init() {}
    }

    /// `cluster`: several gateway processes sharing one stream of events over NATS
    /// (docs/nats.md "Gateway cluster"). Empty `nats`: one process, the in-process bus, no NATS.
    public struct ClusterSettings: Sendable, Equatable {
        /// `nats`: server URLs (`nats://host:4222`); more are learned from the cluster.
        public var nats: [String] = []
        /// `roles`: `ingest`, `services`, `edge`, any subset (`services` without `ingest` is fed from NATS).
        public var roles: Set<ClusterRole> = Set(ClusterRole.allCases)
        /// `node`: this process's name (NATS connection name, logs); empty = `gateway-<pid>`.
        public var node = ""
        /// `history_max_age`: keep frames this long in the JetStream streams edges read their resume
        /// history from (`MG_MARKET` for `md.>`, `MG_PRIVATE` for each user's `user.<id>.>`); nil
        /// (`off`) = no streams, edges start with empty history and follow users' events live only.
        public var historyMaxAge: Duration?
        /// `history_max_bytes`: each stream's size bound (oldest frames go first).
        public var historyMaxBytes = 1 << 30
        /// `history_replicas`: each stream's replicas (1…5; 3 on a 3-server NATS cluster).
        public var historyReplicas = 1
        /// `private_history_max_age`: how long `MG_PRIVATE` keeps users' executions and mood (a user
        /// who comes back later re-reads them); nil (`same`) = `history_max_age`.
        public var privateHistoryMaxAge: Duration?
        /// `private_history_max_bytes`: `MG_PRIVATE`'s size bound; nil (`same`) = `history_max_bytes`.
        public var privateHistoryMaxBytes: Int?
        /// `ingest_lease_ttl`: two ingest nodes for the same venues contend for a JetStream KV
        /// lease with this TTL and only the holder publishes; nil (`off`) = every ingest node publishes.
        public var ingestLeaseTTL: Duration?

        public init() {}

        /// Whether the process joins a cluster (at least one NATS URL).
        public var isEnabled: Bool { !nats.isEmpty }
        public func has(_ role: ClusterRole) -> Bool { roles.contains(role) }
    }
}

