public import Bus
public import Cluster
public import FanOut
public import Feeds
import Foundation
public import Hummingbird
import MarketCore
public import NATS
public import Services
public import Storage

/// What `GET /api/v1/health` reports on.
public struct HealthSources: Sendable {
    public var bus: MarketBus
    public var hub: FanOutHub
    public var writer: StoreWriter?
    public var feed: LiveFeed?
    /// The ledger's reconciliation (`ledger` line of the health answer); nil when not running.
    public var ledger: LedgerMonitor?
    /// A cluster node's NATS connection and its roles' parts (`cluster` line); nil without a cluster.
    public var cluster: ClusterHealth?
    public var startedAt: Date

    public init(bus: MarketBus, hub: FanOutHub, writer: StoreWriter?, feed: LiveFeed?, ledger: LedgerMonitor? = nil, startedAt: Date = Date()) {
        self.ledger = ledger
        self.bus = bus
        self.hub = hub
        self.writer = writer
        self.feed = feed
        self.startedAt = startedAt
    }
}

/// What a cluster node reports in its health answer.
public struct ClusterHealth: Sendable {
    public var node: String
    public var roles: Set<ClusterRole>
    public var client: NATSClient
    public var publisher: ClusterPublisher?
    public var edge: ClusterEdge?
    public var leadership: ClusterLeadership?
    /// The `services` role without `ingest`: its relay from NATS.
    public var servicesFeed: ClusterServicesFeed?
    /// The shared token revocations (nil: no JetStream, they stay on the node that makes them).
    public var revocations: ClusterRevocations?

    public init(
        node: String, roles: Set<ClusterRole>, client: NATSClient, publisher: ClusterPublisher?, edge: ClusterEdge?,
        leadership: ClusterLeadership? = nil
    ) {
        self.leadership = leadership
        self.node = node
        self.roles = roles
        self.client = client
        self.publisher = publisher
        self.edge = edge
    }

    /// The `cluster` object and the problems it adds.
    func report() -> ([String: Any], [String]) {
        var problems: [String] = []
        let server = client.connectedServer
        if server == nil { problems.append("NATS disconnected") }
        var out: [String: Any] = [
            "node": node, "roles": roles.sorted().map(\.rawValue), "nats": server.map { "\($0)" } ?? NSNull(),
            "reconnects": client.statistics.reconnects,
        ]
        if let p = publisher?.stats {
            out["published"] = p.published
            out["publish_failures"] = p.failed
            if publisher?.isAcked == true {
                out["publish_acked"] = p.acked
                out["publish_resends"] = p.resent
                out["publish_unacked"] = p.unacked
            }
        }
        if let l = leadership {
            out["leading"] = l.isLeading
            out["standby_frames"] = publisher?.stats.standby ?? 0
            out["lease_losses"] = publisher?.stats.leaseLosses ?? 0
            out["lease_loss_dropped"] = publisher?.stats.droppedOnLeaseLoss ?? 0
        }
        if let e = edge {
            let s = e.stats
            out["relayed"] = s.relayed
            out["gaps"] = s.gaps
            out["duplicates"] = s.duplicates
            out["malformed"] = s.malformed
            out["caught_up"] = e.caughtUp
            out["stream_restarts"] = s.streamRestarts
            out["user_subscriptions"] = s.userSubscriptions
            out["private_received"] = s.privateReceived
            out["private_history"] = e.users.readsHistory
            out["private_foreign"] = s.privateForeign
            out["slow_private_history"] = s.slowPrivateHistory
            if !e.caughtUp { problems.append("edge still reading the history stream") }
        }
        if let r = revocations {
            let s = r.stats
            out["revocations"] = [
                "loaded": r.loaded, "published": s.published, "publish_failures": s.publishFailures, "abandoned": s.abandoned,
                "received": s.received, "malformed": s.malformed,
            ]
            if !r.loaded { problems.append("token revocations not read yet") }
        } else {
            out["revocations"] = NSNull()
        }
        if let f = servicesFeed {
            let s = f.stats
            out["services_relayed"] = s.relayed
            out["services_gaps"] = s.gaps
            out["undecodable"] = s.undecodable
            out["services_malformed"] = s.malformed
            out["book_drops"] = s.bookDrops
        }
        return (out, problems)
    }
}

/// `GET /metrics` (Prometheus text format) and `GET /api/v1/health`.
///
/// Health is `ok` when every venue feed is connected and the store writer is not failing;
/// `degraded` (still HTTP 200: the gateway serves) otherwise, with the reasons listed. A ledger
/// reconciliation that found drift is a problem (`ledger DRIFT: …`); one not yet run or whose
/// ledger could not be loaded is shown in `ledger.reconciliation` but is not.
public func addOpsRoutes<Context: RequestContext>(to router: Router<Context>, health: HealthSources) {
    router.get("/metrics") { _, _ in
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: GatewayMetrics.exposition())))
    }
    router.get("/api/v1/health") { _, _ in
        var problems: [String] = []
        var venues: [String: Any] = [:]
        if let feed = health.feed {
            for (venue, session) in feed.sessions.sorted(by: { $0.key < $1.key }) {
                let connected = session.isConnected
                venues[venue.id] = ["connected": connected]
                if !connected { problems.append("\(venue.id) feed disconnected") }
            }
        }
        var store: [String: Any] = [:]
        if let w = health.writer?.stats {
            store = [
                "queue_depth": w.queueDepth, "spill_bytes": w.spillBytes, "write_errors": w.writeErrors,
                "rows_written": w.rowsWritten.values.reduce(0, +),
            ]
            if w.spillBytes > 0 { problems.append("store writes are spilling to disk") }
        }
        var ledger: [String: Any] = [:]
        if let m = health.ledger {
            let ok = m.isOK
            ledger = ["reconciliation": m.healthLine, "ok": ok.map { $0 as Any } ?? NSNull()]
            if ok == false { problems.append("ledger " + m.healthLine) }
        }
        var cluster: [String: Any] = [:]
        if let c = health.cluster {
            let (report, more) = c.report()
            cluster = report
            problems += more
        }
        let hub = health.hub.stats
        let bus = health.bus.stats
        var body: [String: Any] = [
            "status": problems.isEmpty ? "ok" : "degraded",
            "problems": problems,
            "uptime_s": Int(Date().timeIntervalSince(health.startedAt)),
            "venues": venues,
            "clients": hub.connections,
            "subscriptions": hub.subscriptions,
            "bus": ["channels": bus.channels, "events_published": bus.published.values.reduce(0, +)],
            "store": store,
            "ledger": ledger,
        ]
        if health.cluster != nil { body["cluster"] = cluster }
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
