public import Feeds
import Foundation
import MarketCore
import Normalizer
import Metrics
public import ServiceLifecycle
public import Storage
import Synchronization

/// The gateway's version, shown on the ops page and exported as `gateway_build_info{version}`.
public enum GatewayVersion {
    public static let current = "0.19.0"
}

/// Feeds the ops page (`GET /ops`, `GET /api/v1/ops`) and the metrics the hot paths do not
/// export themselves. Once a second it
/// - turns the pipeline's figures (events by type, gaps, resyncs, checksum failures, books by
///   validity, candle revisions) and the process's CPU and memory into metrics;
/// - reads back the whole `/metrics` exposition and keeps 5 minutes of rates (frames/s per venue,
///   events/s by type, delivered msgs and bytes/s, rows/s by table, CPU) for the sparklines.
/// Every 5 seconds it asks the store for one row (`store_up`).
///
/// The page's figures are the exposition's series under their `/metrics` names; rates are
/// `<what>_per_second` over the last 5 seconds (a 1 s window would alias with the other 1 Hz samplers).
public final class OpsSampler: Service, Sendable {
    let feed: LiveFeed
    let writer: StoreWriter
    let configuration: GatewayConfiguration
    let interval: Duration
    let started = Date()
    let startedMonotonic = ContinuousClock.now
    static let historyLength = 300
    static let rateWindow = 5

    /// A rate on the page: `name` with the counter it comes from, split by one label (or summed).
    struct RateDefinition: Sendable {
        var name: String
        var metric: String
        var by: String?
    }

    static let rates: [RateDefinition] = [
        RateDefinition(name: "frames_per_second", metric: "feed_frames_total", by: "venue"),
        RateDefinition(name: "records_per_second", metric: "pipeline_records_total"),
        RateDefinition(name: "events_per_second", metric: "normalizer_events_total", by: "type"),
        RateDefinition(name: "published_per_second", metric: "gateway_bus_events_published_total"),
        RateDefinition(name: "delivered_per_second", metric: "gateway_ws_frames_sent_total"),
        RateDefinition(name: "delivered_bytes_per_second", metric: "gateway_ws_bytes_sent_total"),
        RateDefinition(name: "conflated_per_second", metric: "gateway_ws_frames_conflated_total"),
        RateDefinition(name: "dropped_per_second", metric: "gateway_ws_frames_dropped_total"),
        RateDefinition(name: "rows_per_second", metric: "store_rows_written_total", by: "table"),
        RateDefinition(name: "cpu_seconds_per_second", metric: "process_cpu_seconds_total"),
        RateDefinition(name: "store_batches_per_second", metric: "store_batch_duration_seconds_count"),
    ]

    /// One reading: monotonic seconds since start, and each rate key's counter total.
    struct Sample: Sendable {
        var time: Double
        var totals: [RateKey: Double]
    }

    struct RateKey: Hashable, Sendable, Comparable {
        var name: String
        var label: String?
        var value: String?
        static func < (a: RateKey, b: RateKey) -> Bool {
            (a.name, a.label ?? "", a.value ?? "") < (b.name, b.label ?? "", b.value ?? "")
        }
    }

    struct State: Sendable {
        /// The last `rateWindow + 1` samples (rates are taken across them).
        var recent: [Sample] = []
        /// Up to `historyLength` seconds of rates, oldest first.
        var history: [(time: Double, rates: [RateKey: Double])] = []
        var rates: [RateKey: Double] = [:]
        /// Average store batch latency over the rate window, nil with no batch in it.
        var batchSeconds: Double?
        var storeUp: Bool?
        var pipeline = LiveFeed.PipelineStats()
        var cpuSeconds: Double = 0
        var process: ProcessStats?
    }

    let state = Mutex(State())

    public init(feed: LiveFeed, writer: StoreWriter, configuration: GatewayConfiguration, interval: Duration = .seconds(1)) {
        self.feed = feed
        self.writer = writer
        self.configuration = configuration
        self.interval = interval
    }

    public func run() async throws {
        Gauge(label: "gateway_build_info", dimensions: [("version", GatewayVersion.current)]).record(1)
        Gauge(label: "process_start_time_seconds").record(started.timeIntervalSince1970)
        // Counters the feeds and the writer create at their first event, created here at zero so
        // that dashboards and alerts see them (and `increase()` counts the first event).
        for session in feed.sessions.values {
            for label in ["feed_reconnects_total", "feed_stale_total"] {
                Counter(label: label, dimensions: [("venue", session.plan.venue.id)]).increment(by: 0)
            }
        }
        Counter(label: "store_write_errors_total", dimensions: [("store", writer.options.metricsName)]).increment(by: 0)
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.checkStoreLoop() }
                while !Task.isCancelled {
                    self.sample()
                    try? await Task.sleep(for: self.interval)
                }
                group.cancelAll()
            }
        }
    }

    var uptime: Double {
        let (s, atto) = (ContinuousClock.now - startedMonotonic).components
        return Double(s) + Double(atto) / 1e18
    }

    /// One step: export the sampled metrics, then read the exposition back for rates.
    func sample() {
        exportPipeline(feed.pipelineStats)
        exportFeeds()
        exportProcess(ProcessStats.read())
        let series = Exposition.parse(GatewayMetrics.exposition())
        record(series, at: uptime)
    }

    func exportPipeline(_ p: LiveFeed.PipelineStats) {
        let last = state.withLock { s in
            defer { s.pipeline = p }
            return s.pipeline
        }
        func add(_ label: String, _ dims: [(String, String)], _ now: Int, _ before: Int) {
            // Created at zero too, so every venue's series is on /metrics from the start.
            Counter(label: label, dimensions: dims).increment(by: max(0, now - before))
        }
        for (type, n) in p.events { add("normalizer_events_total", [("type", type)], n, last.events[type] ?? 0) }
        add("normalizer_candle_revisions_total", [], p.candleRevisions, last.candleRevisions)
        add("normalizer_parse_errors_total", [], p.parseErrors, last.parseErrors)
        for session in feed.sessions.values {
            let v = session.plan.venue
            let now = p.venues[v] ?? VenueNormalizerStats()
            let before = last.venues[v] ?? VenueNormalizerStats()
            let venue = ("venue", v.id)
            add("normalizer_gaps_total", [venue, ("kind", "book")], now.counters.bookGaps, before.counters.bookGaps)
            add("normalizer_gaps_total", [venue, ("kind", "trade")], now.counters.tradeGaps, before.counters.tradeGaps)
            add("normalizer_resyncs_total", [venue], now.counters.resyncs, before.counters.resyncs)
            add("normalizer_checksum_failures_total", [venue], now.counters.checksumFailures, before.counters.checksumFailures)
            Gauge(label: "normalizer_books", dimensions: [venue, ("state", "valid")]).record(now.validBooks)
            Gauge(label: "normalizer_books", dimensions: [venue, ("state", "invalid")]).record(now.invalidBooks)
        }
    }

    func exportFeeds() {
        let now = wallClockNow()
        for session in feed.sessions.values {
            // Before the first frame, the age counts from the gateway's start.
            let since = session.lastFrameTime ?? UnixNanos(Int64(started.timeIntervalSince1970 * 1e9))
            Gauge(label: "feed_last_frame_age_seconds", dimensions: [("venue", session.plan.venue.id)])
                .record(Double(max(0, now.rawValue - since.rawValue)) / 1e9)
        }
    }

    func exportProcess(_ p: ProcessStats?) {
        guard let p else { return }
        let before = state.withLock { s in
            defer {
                s.cpuSeconds = p.cpuSeconds
                s.process = p
            }
            return s.cpuSeconds
        }
        FloatingPointCounter(label: "process_cpu_seconds_total").increment(by: max(0, p.cpuSeconds - before))
        Gauge(label: "process_resident_memory_bytes").record(p.residentBytes)
    }

    /// Adds a sample and recomputes the rates across the window.
    func record(_ series: [MetricSeries], at time: Double) {
        var totals: [RateKey: Double] = [:]
        for d in Self.rates {
            if let by = d.by {
                for s in series where s.name == d.metric {
                    totals[RateKey(name: d.name, label: by, value: s.labels[by] ?? ""), default: 0] += s.value
                }
            } else {
                totals[RateKey(name: d.name), default: 0] += Exposition.sum(series, d.metric)
            }
        }
        let batchSum = Exposition.sum(series, "store_batch_duration_seconds_sum")
        totals[RateKey(name: "_batch_seconds_sum")] = batchSum
        state.withLock { s in
            s.recent.append(Sample(time: time, totals: totals))
            if s.recent.count > Self.rateWindow + 1 { s.recent.removeFirst(s.recent.count - Self.rateWindow - 1) }
            let first = s.recent[0]
            let elapsed = time - first.time
            var rates: [RateKey: Double] = [:]
            for (key, total) in totals where key.name.hasSuffix("_per_second") {
                rates[key] = elapsed > 0 ? max(0, total - (first.totals[key] ?? 0)) / elapsed : 0
            }
            let batches = (totals[RateKey(name: "store_batches_per_second")] ?? 0) - (first.totals[RateKey(name: "store_batches_per_second")] ?? 0)
            let seconds = batchSum - (first.totals[RateKey(name: "_batch_seconds_sum")] ?? 0)
            s.batchSeconds = batches > 0 ? seconds / batches : nil
            s.rates = rates
            s.history.append((time, rates))
            if s.history.count > Self.historyLength { s.history.removeFirst(s.history.count - Self.historyLength) }
        }
    }

    func checkStoreLoop() async {
        let store = writer.store
        while !Task.isCancelled {
            let up = await Self.answers(store, within: .seconds(3))
            state.withLock { $0.storeUp = up }
            Gauge(label: "store_up").record(up ? 1 : 0)
            try? await Task.sleep(for: .seconds(5))
        }
    }

    /// Whether the store answers a cheap indexed read in time (what `/api/v1/health/db` asks).
    static func answers(_ store: any MarketStore, within limit: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                (try? await store.candles(CandleQuery(venue: "", symbol: "", interval: .oneMinute, limit: 1))) != nil
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    // MARK: the report

    /// What `GET /api/v1/ops` answers: the current `/metrics` series, rates, venue states and the
    /// configuration summary; with `history`, the last `history` seconds of every rate.
    func report(history: Int) -> OpsReport {
        let series = Exposition.parse(GatewayMetrics.exposition())
        let s = state.withLock { $0 }
        let now = wallClockNow()
        var venues: [OpsReport.VenueReport] = []
        for session in feed.sessions.values.sorted(by: { $0.plan.venue.id < $1.plan.venue.id }) {
            let v = session.plan.venue
            let books = s.pipeline.venues[v] ?? VenueNormalizerStats()
            let age = session.lastFrameTime.map { Double(max(0, now.rawValue - $0.rawValue)) / 1e9 }
            let staleAfter = Double(session.plan.settings.staleAfter.components.seconds)
            let state: String
            if !session.isConnected {
                state = session.connectionsOpened == 0 ? "connecting" : "backing_off"
            } else if let age, age > staleAfter / 2 {
                state = "stale"
            } else if books.invalidBooks > 0 {
                state = "resyncing"
            } else {
                state = "connected"
            }
            venues.append(
                OpsReport.VenueReport(
                    venue: v.id, state: state, connected: session.isConnected, connectionsOpened: session.connectionsOpened,
                    lastFrameAgeSeconds: age, symbols: session.plan.natives.map { $0.canonical }.sorted(),
                    validBooks: books.validBooks, invalidBooks: books.invalidBooks))
        }
        let rates = s.rates.sorted { $0.key < $1.key }.map { key, value in
            MetricSeries(name: key.name, labels: key.label.map { [$0: key.value ?? ""] } ?? [:], value: value)
        }
        var historyReport: OpsReport.History?
        if history > 0 {
            let points = s.history.suffix(history)
            let keys = Set(points.flatMap { $0.rates.keys }).sorted()
            historyReport = OpsReport.History(
                stepSeconds: Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18,
                ageSeconds: points.map { ((s.history.last?.time ?? 0) - $0.time).rounded() },
                series: keys.map { key in
                    OpsReport.HistorySeries(
                        name: key.name, labels: key.label.map { [$0: key.value ?? ""] } ?? [:],
                        values: points.map { $0.rates[key] ?? 0 })
                })
        }
        let c = configuration
        let location = (try? StoreLocation(parsing: c.storage.url)).map { "\($0)" } ?? "(unparsable)"
        return OpsReport(
            time: Self.iso(now), version: GatewayVersion.current, started: Self.iso(UnixNanos(Int64(started.timeIntervalSince1970 * 1e9))),
            uptimeSeconds: uptime.rounded(),
            config: OpsReport.ConfigSummary(
                venues: c.enabledVenues.map { "\($0.id.rawValue) (\($0.symbols.count) symbols)" },
                store: location, storeBackend: writer.store.backend.rawValue,
                listen: "\(c.server.host):\(c.server.port)", intervals: c.normalizer.intervals.map(\.name),
                snapshotDepth: c.normalizer.snapshotDepth, snapshotEverySeconds: Self.seconds(c.normalizer.snapshotEvery),
                maxConnections: c.server.maxConnections, authConfigured: !c.services.jwtSecret.isEmpty,
                signals: c.services.signals.count),
            venues: venues,
            store: OpsReport.StoreReport(
                backend: writer.store.backend.rawValue, up: s.storeUp, batchSecondsAverage: s.batchSeconds),
            process: s.process.map { OpsReport.ProcessReport(cpuSeconds: $0.cpuSeconds, residentBytes: $0.residentBytes) },
            metrics: series, rates: rates, history: historyReport)
    }

    static func iso(_ t: UnixNanos) -> String { t.iso8601(fractionDigits: 3) }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

/// The `GET /api/v1/ops` body (openapi.json `OpsReport`).
struct OpsReport: Codable, Sendable {
    var time: String
    var version: String
    var started: String
    var uptimeSeconds: Double
    var config: ConfigSummary
    var venues: [VenueReport]
    var store: StoreReport
    var process: ProcessReport?
    /// Every `/metrics` sample (histogram buckets left out).
    var metrics: [MetricSeries]
    /// `<what>_per_second` over the last 5 seconds.
    var rates: [MetricSeries]
    var history: History?

    enum CodingKeys: String, CodingKey {
        case time, version, started, config, venues, store, process, metrics, rates, history
        case uptimeSeconds = "uptime_seconds"
    }

    struct ConfigSummary: Codable, Sendable {
        var venues: [String]
        var store: String
        var storeBackend: String
        var listen: String
        var intervals: [String]
        var snapshotDepth: Int
        var snapshotEverySeconds: Double
        var maxConnections: Int
        var authConfigured: Bool
        var signals: Int

        enum CodingKeys: String, CodingKey {
            case venues, store, listen, intervals, signals
            case storeBackend = "store_backend"
            case snapshotDepth = "snapshot_depth"
            case snapshotEverySeconds = "snapshot_every_seconds"
            case maxConnections = "max_connections"
            case authConfigured = "auth_configured"
        }
    }

    struct VenueReport: Codable, Sendable {
        var venue: String
        /// `connecting`, `connected`, `resyncing` (a book is invalid), `stale` (no frame for half of
        /// stale_after) or `backing_off` (disconnected, waiting to reconnect).
        var state: String
        var connected: Bool
        var connectionsOpened: Int
        var lastFrameAgeSeconds: Double?
        var symbols: [String]
        var validBooks: Int
        var invalidBooks: Int

        enum CodingKeys: String, CodingKey {
            case venue, state, connected, symbols
            case connectionsOpened = "connections_opened"
            case lastFrameAgeSeconds = "last_frame_age_seconds"
            case validBooks = "valid_books"
            case invalidBooks = "invalid_books"
        }
    }

    struct StoreReport: Codable, Sendable {
        var backend: String
        /// nil until the first check.
        var up: Bool?
        var batchSecondsAverage: Double?

        enum CodingKeys: String, CodingKey {
            case backend, up
            case batchSecondsAverage = "batch_seconds_average"
        }
    }

    struct ProcessReport: Codable, Sendable {
        var cpuSeconds: Double
        var residentBytes: Int

        enum CodingKeys: String, CodingKey {
            case cpuSeconds = "cpu_seconds"
            case residentBytes = "resident_bytes"
        }
    }

    struct History: Codable, Sendable {
        var stepSeconds: Double
        /// Age of each point in seconds (oldest first; the last is 0).
        var ageSeconds: [Double]
        var series: [HistorySeries]

        enum CodingKeys: String, CodingKey {
            case series
            case stepSeconds = "step_seconds"
            case ageSeconds = "age_seconds"
        }
    }

    struct HistorySeries: Codable, Sendable {
        var name: String
        var labels: [String: String]
        var values: [Double]
    }
}
