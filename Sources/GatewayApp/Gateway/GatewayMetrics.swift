import Bus
import FanOut
import Foundation
import Metrics
import Prometheus
import ServiceLifecycle
import Storage

/// The process's Prometheus registry: swift-metrics is bootstrapped into it once, so every
/// `Counter`/`Gauge` the feeds, storage and fan-out create is on `GET /metrics`.
public enum GatewayMetrics {
    public static let registry = PrometheusCollectorRegistry()
    private static let bootstrapped: Void = {
        MetricsSystem.bootstrap(HelpfulMetricsFactory(base: PrometheusMetricsFactory(registry: registry)))
    }()

    /// Idempotent; the first call wins (MetricsSystem can be bootstrapped once per process).
    public static func bootstrap() { _ = bootstrapped }

    /// The Prometheus text exposition.
    public static func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}

/// Samples the bus and fan-out once a second into gauges and counters. The hot paths keep plain
/// atomics; this turns them into metrics without a metric call per frame. (The store writer
/// exports its own `store_*` metrics as it writes.)
struct MetricsReporter: Service {
    let bus: MarketBus
    let hub: FanOutHub
    var interval: Duration = .seconds(1)

    func run() async throws {
        var last = Snapshot(bus: MarketBus.Stats(), hub: FanOutHub.Stats())
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let now = Snapshot(bus: bus.stats, hub: hub.stats)
            record(now, since: last)
            last = now
            try? await Task.sleep(for: interval)
        }
    }

    struct Snapshot {
        var bus: MarketBus.Stats
        var hub: FanOutHub.Stats
    }

    func record(_ s: Snapshot, since p: Snapshot) {
        Gauge(label: "gateway_ws_clients").record(s.hub.connections)
        Gauge(label: "gateway_ws_subscriptions").record(s.hub.subscriptions)
        Gauge(label: "gateway_ws_queued_frames").record(s.hub.queuedFrames)
        Gauge(label: "gateway_bus_channels").record(s.bus.channels)
        add("gateway_ws_frames_sent_total", s.hub.framesSent - p.hub.framesSent)
        add("gateway_ws_frames_conflated_total", s.hub.framesConflated - p.hub.framesConflated)
        add("gateway_ws_slow_disconnects_total", s.hub.slowDisconnects - p.hub.slowDisconnects)
        add("gateway_ws_connections_total", s.hub.connectionsTotal - p.hub.connectionsTotal)
        add("gateway_ws_rejected_connections_total", s.hub.rejectedConnections - p.hub.rejectedConnections)
        add("gateway_ws_bytes_sent_total", s.hub.bytesSent - p.hub.bytesSent)
        add("gateway_ws_frames_dropped_total", s.hub.framesDropped - p.hub.framesDropped)
        for (code, n) in s.hub.closes {
            add("gateway_ws_closes_total", n - (p.hub.closes[code] ?? 0), [("code", String(code))])
        }
        for (code, n) in s.hub.clientErrors {
            add("gateway_ws_client_errors_total", n - (p.hub.clientErrors[code] ?? 0), [("code", code)])
        }
        for (limit, n) in s.hub.limitRefusals {
            add("gateway_limit_refusals_total", n - (p.hub.limitRefusals[limit] ?? 0), [("limit", limit)])
        }
        for (type, n) in s.bus.published {
            add("gateway_bus_events_published_total", n - (p.bus.published[type] ?? 0), [("type", type)])
        }
    }

    func add(_ label: String, _ delta: Int, _ dimensions: [(String, String)] = []) {
        let c = Counter(label: label, dimensions: dimensions)
        if delta > 0 { c.increment(by: delta) } else { c.increment(by: 0) }
    }
}
