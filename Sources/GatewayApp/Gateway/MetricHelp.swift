import CoreMetrics
import Prometheus

/// The `# HELP` text of every metric family the gateway exports: one place that names and
/// explains them (docs/operations.md lists the same). A family missing here is exported without
/// HELP, which the metrics test refuses.
enum MetricHelp {
    static let text: [String: String] = [
        // Feeds (per venue)
        "feed_frames_total": "Websocket frames received from the venue.",
        "feed_connected": "1 while a connection to the venue is open, else 0.",
        "feed_reconnects_total": "Reconnects to the venue after a connection ended.",
        "feed_disconnects_total": "Connections to the venue that ended (any reason).",
        "feed_stale_total": "Connections closed because the venue sent nothing for stale_after.",
        "feed_rotations_total": "Make-before-break connection rotations completed.",
        "feed_subscription_refused_total": "Subscriptions the venue refused (the feed reconnects).",
        "feed_rest_requests_total": "REST requests to the venue (book snapshots, trade backfill) by kind and result.",
        "pipeline_records_total": "Records (frames, REST answers, clock ticks) processed by the live pipeline.",
        // Store writer
        "store_rows_written_total": "Rows written to the store, by table.",
        "store_rows_spilled_total": "Rows written to the local spill file while the database was unreachable, by table.",
        "store_rows_dropped_total": "Rows the store writer could neither store nor spill (should stay 0).",
        "store_write_errors_total": "Failed store writes (each is retried or spilled).",
        "store_queue_depth": "Rows handed to the store writer and not yet stored or spilled.",
        "store_write_ahead_bytes": "Bytes in the write-ahead log not yet stored (the database is healthy; see store_spill_bytes for spills).",
        "store_spill_bytes": "Bytes waiting in spill files to be replayed into the database.",
        "store_batch_rows": "Rows per store batch.",
        "store_batch_duration_seconds": "Time to write one store batch.",
        // Bus and fan-out (sampled once a second)
        "gateway_bus_channels": "Channels on the market bus.",
        "gateway_bus_events_published_total": "Events published on the market bus, by type.",
        "gateway_ws_clients": "Connected websocket clients.",
        "gateway_ws_subscriptions": "Channel subscriptions of connected websocket clients.",
        "gateway_ws_queued_frames": "Frames queued for websocket clients and not yet written.",
        "gateway_ws_frames_sent_total": "Data frames written to websocket clients.",
        "gateway_ws_frames_conflated_total": "Book and candle frames replaced by a newer one for a slow client.",
        "gateway_ws_slow_disconnects_total": "Clients closed (4008) for falling too far behind.",
        "gateway_ws_connections_total": "Websocket connections accepted.",
        "gateway_ws_rejected_connections_total": "Websocket connections refused (limits).",
        "gateway_ws_client_errors_total": "Error answers sent to websocket clients, by code.",
        "gateway_ws_bytes_sent_total": "Bytes of the data frames written to websocket clients.",
        "gateway_ws_frames_dropped_total": "Queued frames discarded because their client closed or went away.",
        "gateway_ws_closes_total": "Websocket connections ended, by close code (1006: gone without a close handshake).",
        // Normalizer and feeds, sampled once a second by the ops sampler (OpsSampler)
        "normalizer_events_total": "Events the normalizers produced, by type.",
        "normalizer_candle_revisions_total": "Closed candles re-emitted as amendments (revision > 0).",
        "normalizer_parse_errors_total": "Frames the venue parsers could not read.",
        "normalizer_gaps_total": "Sequence gaps, by venue and kind (book: missed book updates; trade: missed trade ids).",
        "normalizer_resyncs_total": "Book resynchronizations started, by venue.",
        "normalizer_checksum_failures_total": "Book checksum mismatches, by venue.",
        "normalizer_books": "Order books by venue and state (valid: the normalizer vouches for it; invalid: resyncing or not yet synchronized).",
        "feed_last_frame_age_seconds": "Seconds since the venue's latest frame.",
        "store_up": "1 while the store answers a query, else 0 (checked every 5 seconds).",
        // Cluster (docs/nats.md "Gateway cluster"): present only on cluster nodes
        "cluster_frames_published_total": "Bus frames the ingest node published on NATS.",
        "cluster_publish_failures_total": "Bus frames the NATS client refused (its buffer full while NATS was away): edges see a gap.",
        "cluster_publish_resends_total": "Frames the acked ingest publisher sent again (an error, an ack timeout or a reconnect); the stream stores each once.",
        "cluster_publish_unacked": "Frames the acked ingest publisher holds until the history stream acknowledges them (bounded by the window).",
        "cluster_publish_lease_losses_total": "Times this ingest node stopped leading while it was publishing; its publisher connection was reset so nothing buffered is sent.",
        "cluster_publish_lease_loss_drops_total": "Unacked frames the acked publisher dropped when this node lost the ingest lease (the new leader's epoch follows; never resent).",
        "cluster_publish_window_full_total": "Frames the acked ingest publisher dropped because its window of unacked frames was full: edges see a gap.",
        "cluster_relay_duplicates_total": "Frames an edge dropped because it already had them (a publisher's resend after a reconnect); not a gap.",
        "cluster_frames_relayed_total": "Frames an edge took from NATS into its bus.",
        "cluster_relay_gaps_total": "Jumps in seq within an epoch on an edge (frames lost on the way); the channel's resume history restarts.",
        "cluster_relay_malformed_total": "Messages on md.> an edge dropped because they were not a gateway frame.",
        "cluster_services_relayed_total": "Frames a services node (without ingest) took from NATS into its bus.",
        "cluster_services_undecodable_total": "Frames a services node relayed as bytes only: their data did not decode into a market event.",
        "cluster_revocation_publish_failures_total": "Failed attempts to put a token revocation into the MG_REVOCATIONS bucket (retried; other nodes learn of it once one succeeds).",
        "cluster_services_book_drops_total": "Times a services node dropped books because continuity was lost (a seq jump, a new epoch, a NATS disconnect).",
        // Process
        "process_cpu_seconds_total": "User and system CPU time of the gateway process.",
        "process_resident_memory_bytes": "Resident memory of the gateway process.",
        "process_start_time_seconds": "Start time of the gateway process, seconds since the epoch.",
        "gateway_build_info": "Always 1; the labels name the gateway's version.",
        "gateway_limit_refusals_total": "Requests, connections and clients refused or closed at a limit, by limit (docs/protocol.md).",
        "gateway_tls_reloads_total": "TLS certificate and key pairs reloaded after their files changed.",
        "gateway_tls_reload_failures_total": "Changed TLS files that failed to load (the previous certificate stays).",
        // Services
        "services_fills_total": "Paper-trading fills, by venue.",
        "services_signals_total": "Strategy signals published, by strategy.",
        "services_revocation_store_failures_total": "Failed attempts to store a token revocation in token_revocations (3 tries; the revocation holds in memory until a restart).",
        "services_mood_updates_total": "Mood updates published.",
        "services_agent_orders_total": "Orders placed by users' agents.",
        "services_store_write_failures_total": "Failed writes of account changes (retried, or dead-lettered when refused).",
        "services_journal_pending": "Account changes queued for the store and not yet stored (docs/trading.md).",
        // Notifications (docs/notifications.md)
        "notifications_sent_total": "Notifications delivered to the Telegram Bot API, by kind.",
        "notifications_failed_total": "Notifications given up on (refused, or out of attempts) and kept in the outbox as failed, by kind.",
        "notifications_retried_total": "Delivery attempts retried after a 429, a 5xx or a connection failure, by kind.",
        "notifications_retried_by_ops_total": "Failed notifications queued again by ops (POST /api/v1/notifications/failed/{id}/retry), by kind.",
        "notifications_dropped_total": "Notifications dropped because the queue was full (kind=bus: bus events the consumer missed).",
        "notifications_queue_depth": "Notifications queued in memory and not yet delivered or given up on.",
        // Double-entry ledger (docs/trading.md "The double-entry ledger")
        "ledger_reconciliation_ok": "1 when the last ledger reconciliation found the books balanced, 0 when it found drift.",
        "ledger_reconciliation_drift": "Per asset: |sum of balances| + |funding drift| + sum of |materialized - postings| at the last reconciliation (0 = balanced).",
        "ledger_reconciliation_runs_total": "Ledger reconciliations run, by result (ok, drift, unavailable: the ledger could not be loaded).",
        "services_journal_dead_letters_total": "Account changes the database refused, kept in journal_dead_letters, by kind (alert on any increase).",
        "services_journal_spilled_total": "Account changes a stop could not store, written to the journal spill file.",
        "services_journal_unstored_total": "Account changes a stop could neither store nor spill (logged in full; should stay 0).",
        "services_ledger_refusals_total": "Orders, fills and loads the ledger refused (amount_overflow, ledger_invariant), by operation and code.",
        "services_orders_invalid_total": "Orders refused at the edge for a malformed or unknown venue or symbol, by field.",
        "deposit_webhooks_total": "Deposit webhook deliveries, by result (credited, duplicate, suspense, bad_signature, stale_timestamp, webhook_not_configured, store_unavailable).",
        "services_withdrawals_total": "Withdrawals, by result (requested, approved, rejected, daily_limit, unpriced).",
        "deposit_suspense_assignments_total": "Suspense deposits assigned to a user by ops, by result (assigned, already_assigned).",
    ]
}

/// The Prometheus factory, with each family's HELP text from ``MetricHelp``.
struct HelpfulMetricsFactory: MetricsFactory {
    let base: PrometheusMetricsFactory
    var registry: PrometheusCollectorRegistry { base.registry }

    func name(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: MetricHelp.text[label] ?? "")
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: name(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: name(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: name(label), labels: dimensions) }
        let buckets = base.valueHistogramBuckets[label] ?? base.defaultValueHistogramBuckets
        return registry.makeValueHistogram(descriptor: name(label), labels: dimensions, buckets: buckets)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: name(label), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let buckets = base.durationHistogramBuckets[label] ?? base.defaultDurationHistogramBuckets
        return registry.makeDurationHistogram(descriptor: name(label), labels: dimensions, buckets: buckets)
    }

    func destroyCounter(_ handler: any CounterHandler) { base.destroyCounter(handler) }
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) { base.destroyFloatingPointCounter(handler) }
    func destroyRecorder(_ handler: any RecorderHandler) { base.destroyRecorder(handler) }
    func destroyMeter(_ handler: any MeterHandler) { base.destroyMeter(handler) }
    func destroyTimer(_ handler: any TimerHandler) { base.destroyTimer(handler) }
}
