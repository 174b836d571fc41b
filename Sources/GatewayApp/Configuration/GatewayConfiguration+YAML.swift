import Logging
import MarketCore
import Cluster

extension GatewayConfiguration {
    /// The configuration as YAML, every key written out; ``parse(yaml:environment:source:)``
    /// reads it back to an equal value (print ``redactedYAML``: `gateway serve --print-config`).
    ///
    /// - Important: every secret is written as it is (`storage.url`'s password, the services' secrets).
    public var yaml: String {
        var out: [String] = ["log_level: \(logLevel.rawValue)"]
        out.append(venues.isEmpty ? "venues: {}" : "venues:")
        for v in venues {
            let channels = Channel.allCases.filter(v.channels.contains).map(\.rawValue)
            out += [
                "  \(v.id.rawValue):",
                "    enabled: \(v.enabled)",
                "    symbols: [\(v.symbols.map(quoted).joined(separator: ", "))]",
                "    channels: [\(channels.joined(separator: ", "))]",
                "    ws_url: \(quoted(v.wsURL))",
                "    rest_url: \(quoted(v.restURL))",
                "    stale_after: \(DurationText.format(v.staleAfter))",
                "    ping_interval: \(Self.optional(v.pingInterval))",
                "    reconnect_initial: \(DurationText.format(v.reconnectInitial))",
                "    reconnect_max: \(DurationText.format(v.reconnectMax))",
                "    rotate_after: \(Self.optional(v.rotateAfter))",
                "    subscribe_batch: \(v.subscribeBatch)",
                "    book_depth: \(v.bookDepth)",
            ]
        }
        out += [
            "normalizer:",
            "  intervals: [\(normalizer.intervals.map(\.name).joined(separator: ", "))]",
            "  grace: \(DurationText.format(normalizer.grace))",
            "  snapshot_depth: \(normalizer.snapshotDepth)",
            "  snapshot_every: \(DurationText.format(normalizer.snapshotEvery))",
            "  tick_every: \(DurationText.format(normalizer.tickEvery))",
            "storage:",
            "  url: \(quoted(storage.url))",
            "  spill_dir: \(quoted(storage.spillDir))",
            "  write_timeout: \(DurationText.format(storage.writeTimeout))",
            "  write_ahead: \(storage.writeAhead)",
            "  timescaledb: \(storage.timescaleDB)",
            "  compress_after: \(DurationText.format(storage.compressAfter))",
            "  retention_trades: \(Self.optional(storage.retentionTrades))",
            "  retention_book_snapshots: \(Self.optional(storage.retentionBookSnapshots))",
            "  retention_candles_1m: \(Self.optional(storage.retentionCandles1m))",
            "  retention_candles_5m: \(Self.optional(storage.retentionCandles5m))",
            "  retention_mood: \(Self.optional(storage.retentionMood))",
            "  aggregate_refresh_window: \(DurationText.format(storage.aggregateRefreshWindow))",
            "server:",
            "  host: \(quoted(server.host))",
            "  port: \(server.port)",
            "  max_connections: \(server.maxConnections)",
            "  max_subscriptions_per_connection: \(server.maxSubscriptionsPerConnection)",
            "  max_frame_bytes: \(server.maxFrameBytes)",
            "  max_messages_per_second: \(server.maxMessagesPerSecond)",
            "  max_connections_per_ip: \(server.maxConnectionsPerIP)",
            "  max_handshakes_per_second: \(server.maxHandshakesPerSecond)",
            "  handshake_timeout: \(DurationText.format(server.handshakeTimeout))",
            "  idle_timeout: \(DurationText.format(server.idleTimeout))",
            "  max_header_bytes: \(server.maxHeaderBytes)",
            "  max_body_bytes: \(server.maxBodyBytes)",
            "  max_channels_per_subscribe: \(server.maxChannelsPerSubscribe)",
            "  max_outstanding_bytes: \(server.maxOutstandingBytes)",
            "  max_auth_attempts_per_minute: \(server.maxAuthAttemptsPerMinute)",
            "  max_rest_requests_per_second: \(server.maxRESTRequestsPerSecond)",
            "  session_warning: \(DurationText.format(server.sessionWarning))",
            "  tls_cert_path: \(quoted(server.tlsCertPath))",
            "  tls_key_path: \(quoted(server.tlsKeyPath))",
            "  tls_reload_check: \(DurationText.format(server.tlsReloadCheck))",
            "record:",
            "  path: \(quoted(record.path))",
            "  rotate_bytes: \(record.rotateBytes.map(String.init) ?? "off")",
            "  rotate_every: \(Self.optional(record.rotateEvery))",
            "services:",
            "  jwt_secret: \(quoted(services.jwtSecret))",
            "  admin_token: \(quoted(services.adminToken))",
            "  cash_asset: \(quoted(services.cashAsset))",
            "  taker_fee: \(services.takerFee)",
            "  max_spread_bps: \(services.maxSpreadBps)",
            "  min_notional_usd: \(services.minNotionalUSD)",
            "  max_trades_per_hour: \(services.maxTradesPerHour)",
            "  risk_max_position_percent: \(Self.optional(services.riskMaxPositionPercent))",
            "  risk_max_open_orders: \(services.riskMaxOpenOrders.map(String.init) ?? "off")",
            "  risk_max_order_notional_usd: \(Self.optional(services.riskMaxOrderNotionalUSD))",
            "  risk_max_daily_loss_usd: \(Self.optional(services.riskMaxDailyLossUSD))",
            "  risk_every: \(DurationText.format(services.riskEvery))",
            "  mood_every: \(DurationText.format(services.moodEvery))",
            "  deposit_fee: \(services.depositFee)",
            "  deposit_webhook_secret: \(quoted(services.depositWebhookSecret))",
            "  deposit_webhook_window: \(DurationText.format(services.depositWebhookWindow))",
            "  withdrawal_daily_limit_usd: \(Self.optional(services.withdrawalDailyLimitUSD))",
            "  performance_fee: \(services.performanceFee)",
            "  royalty_share: \(services.royaltyShare)",
            "  royalty_generations: \(services.royaltyGenerations)",
            "  telegram_bot_token: \(quoted(services.telegramBotToken))",
            "  telegram_api_url: \(quoted(services.telegramAPIURL))",
            "  agent_spawn_every: \(services.agentSpawnEvery)",
            "  agent_spawn_funding: \(services.agentSpawnFunding)",
            "  agent_max_generations: \(services.agentMaxGenerations)",
            "  ledger_reconcile_every: \(DurationText.format(services.ledgerReconcileEvery))",
            "  signals: [\(services.signals.map(quoted).joined(separator: ", "))]",
            "cluster:",
            "  nats: [\(cluster.nats.map(quoted).joined(separator: ", "))]",
            "  roles: [\(cluster.roles.sorted().map(\.rawValue).joined(separator: ", "))]",
            "  node: \(quoted(cluster.node))",
            "  history_max_age: \(Self.optional(cluster.historyMaxAge))",
            "  history_max_bytes: \(cluster.historyMaxBytes)",
            "  history_replicas: \(cluster.historyReplicas)",
            "  private_history_max_age: \(cluster.privateHistoryMaxAge.map(DurationText.format) ?? "same")",
            "  private_history_max_bytes: \(cluster.privateHistoryMaxBytes.map(String.init) ?? "same")",
            "  ingest_lease_ttl: \(Self.optional(cluster.ingestLeaseTTL))",
        ]
        return out.joined(separator: "\n") + "\n"
    }

    private static func optional(_ d: Duration?) -> String { d.map(DurationText.format) ?? "off" }
    private static func optional(_ d: WideDecimal?) -> String { d.map { "\($0)" } ?? "off" }
}
