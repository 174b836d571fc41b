public import Bus
import Cluster
public import FanOut
public import Feeds
import Foundation
import NATS
import Hummingbird
public import Logging
public import MarketCore
import Normalizer
public import ServiceLifecycle
public import Services
import Storage
import UnixSignals

/// `gateway serve --config FILE`: live feeds → normalizer → (store writer, bus → fan-out and
/// in-process consumers), with the HTTP API, `/ws`, `/metrics` and `/api/v1/health`, as one
/// `ServiceGroup`. SIGINT/SIGTERM shut it down in reverse order: the feeds stop first (their last
/// records are processed), then the server (websocket clients get 1001), then the writer stores
/// what is queued.
public struct ServeRun: Sendable {
    public var configuration: GatewayConfiguration
    /// Receive clocks per venue (default: the wall clock); the demo runs each simulated venue on
    /// its capture's timeline.
    public var receiveClocks: [Venue: ReceiveClock] = [:]

    public init(configuration: GatewayConfiguration, receiveClocks: [Venue: ReceiveClock] = [:]) {
        self.configuration = configuration
        self.receiveClocks = receiveClocks
    }

    /// Feed settings of the enabled venues.
    public func feedSettings() -> [FeedSettings] {
        configuration.enabledVenues.map { v in
            var s = FeedSettings(venue: v.venue, symbols: v.symbols, wsURL: v.wsURL, restURL: v.restURL)
            var ch: FeedChannels = []
            if v.channels.contains(.trades) { ch.insert(.trades) }
            if v.channels.contains(.book) { ch.insert(.book) }
            if v.channels.contains(.ticker) { ch.insert(.ticker) }
            s.channels = ch
            s.staleAfter = v.staleAfter
            s.pingInterval = v.pingInterval
            s.reconnectInitial = v.reconnectInitial
            s.reconnectMax = v.reconnectMax
            s.rotateAfter = v.rotateAfter
            s.subscribeBatch = v.subscribeBatch
            s.bookDepth = v.bookDepth
            return s
        }
    }

    /// The normalizer and emit options the live pipeline runs with (all event types).
    public func replayOptions() -> PipelineOptions {
        var o = PipelineOptions()
        o.emit = [.trades, .candles, .candleUpdates, .books, .status, .tickers]
        let n = configuration.normalizer
        o.normalizer.intervals = n.intervals
        o.normalizer.grace = n.grace.nanosecondsValue
        o.normalizer.snapshotDepth = n.snapshotDepth
        o.normalizer.snapshotInterval = n.snapshotEvery.nanosecondsValue
        return o
    }

    /// The running gateway's parts, for services added by the caller (the demo's status line).
    public struct Parts: Sendable {
        public let bus: MarketBus
        public let hub: FanOutHub
        public let writer: StoreWriter
        public let feed: LiveFeed
        public let services: ServiceSuite
    }

    /// The services' settings from `services:`.
    public func serviceOptions() -> ServiceOptions {
        let c = configuration.services
        var o = ServiceOptions()
        o.execution.cashAsset = c.cashAsset
        o.execution.feeRate = c.takerFee
        o.execution.performanceFeeRate = c.performanceFee
        o.execution.royalties.share = c.royaltyShare
        o.execution.royalties.generations = c.royaltyGenerations
        o.execution.limits.maxSpreadBps = c.maxSpreadBps
        o.execution.limits.minNotionalUSD = c.minNotionalUSD
        o.execution.limits.maxTradesPerWindow = c.maxTradesPerHour
        o.execution.risk = RiskLimits(
            maxPositionPercent: c.riskMaxPositionPercent, maxOpenOrders: c.riskMaxOpenOrders, maxOrderNotionalUSD: c.riskMaxOrderNotionalUSD,
            maxDailyLossUSD: c.riskMaxDailyLossUSD)
        o.execution.withdrawalDailyLimitUSD = c.withdrawalDailyLimitUSD
        o.riskEvery = c.riskEvery
        o.moodEvery = c.moodEvery
        o.deposits.feeRate = c.depositFee
        o.deposits.secret = c.depositWebhookSecret
        o.deposits.window = c.depositWebhookWindow
        o.notifications.botToken = c.telegramBotToken
        o.notifications.apiBase = c.telegramAPIURL
        o.agents.spawnEvery = c.agentSpawnEvery
        o.agents.spawnFunding = c.agentSpawnFunding
        o.agents.maxGenerations = c.agentMaxGenerations
        o.signals = c.signals.compactMap { try? SignalSpec.parse($0).get() }
        return o
    }

    /// Runs until SIGINT/SIGTERM (or until an extra service returns, when it is configured to
    /// shut the group down). `onListening` gets the bound port.
    public func run(
        logger: Logger, onListening: (@Sendable (Int) async -> Void)? = nil,
        extraServices: (Parts) -> [ServiceGroupConfiguration.ServiceConfiguration] = { _ in [] }
    ) async throws {
        // A busy or bad port is a start-up failure, before anything else starts.
        try checkCanListen(host: configuration.server.host, port: configuration.server.port)
        GatewayMetrics.bootstrap()
        let cluster = configuration.cluster
        // Without `cluster.nats` the process is one whole gateway: every role, the in-process bus.
        let ingests = !cluster.isEnabled || cluster.has(.ingest)
        let runsServices = !cluster.isEnabled || cluster.has(.services)
        var plans: [VenueFeedPlan] = []
        for s in feedSettings() { plans.append(try VenueFeedPlan(s)) }
        // The venues still name the instruments an edge accepts subscribes for; only ingest connects.
        let carried = Set(plans.flatMap { p in p.natives.map { InstrumentName(venue: p.venue.id, symbol: $0.canonical) } })
        let feedInstruments = plans.flatMap { p in p.natives.map { (p.venue, $0.canonical) } }
        // A services node decodes relayed events into the configured instruments (native symbols too).
        var nativeInstruments: [String: Instrument] = [:]
        for p in plans {
            for n in p.natives {
                guard let c = MarketEvent.canonicalInstrument(venue: p.venue.id, symbol: n.canonical) else { continue }
                nativeInstruments["\(p.venue.id) \(n.canonical)"] = Instrument(
                    venue: c.venue, base: c.base, quote: c.quote, kind: c.kind, nativeSymbol: n.native)
            }
        }
        if !ingests { plans = [] }
        let nats = try await connectCluster(logger: logger)
        let history = try await ensureHistory(nats)
        let location = try StoreLocation(parsing: configuration.storage.url)
        let store = try await location.open(logger: logger, timescale: configuration.storage.timescalePolicies)
        var writerOptions = StoreWriterOptions(spillDirectory: configuration.storage.spillDir)
        writerOptions.writeTimeout = configuration.storage.writeTimeout
        writerOptions.writeAhead = configuration.storage.writeAhead
        let writer = StoreWriter(store: store, options: writerOptions, logger: logger)
        let recorder: CaptureWriter? =
            configuration.record.isEnabled
            ? try CaptureWriter(
                path: configuration.record.path, rotateBytes: configuration.record.rotateBytes ?? Int.max,
                rotateNanoseconds: configuration.record.rotateEvery?.nanosecondsValue ?? 0)
            : nil
        let feed = LiveFeed(
            feeds: plans, options: replayOptions(), tick: configuration.normalizer.tickEvery, clocks: receiveClocks, logger: logger)
        var busOptions = MarketBus.Options()
        busOptions.intervals = configuration.normalizer.intervals.map(\.name)
        let bus = MarketBus(options: busOptions)
        // Cluster only: nothing is added to the in-process path when `cluster.nats` is empty.
        var edge: ClusterEdge?
        var publisher: ClusterPublisher?
        var publisherConnection: NATSClient?
        var leadership: ClusterLeadership?
        // `services` without `ingest`: the market comes from NATS into this bus (ClusterServicesFeed).
        let servicesFromNATS = nats != nil && runsServices && !ingests
        if let nats {
            if ingests, let ttl = cluster.ingestLeaseTTL {
                leadership = ClusterLeadership(
                    jetStream: JetStream(client: nats), holder: "\(nodeName)-\(UInt64.random(in: 0...UInt64.max))", ttl: ttl, logger: logger)
            }
            // Market kinds from ingest, private events and signals from services: each published once.
            let kinds = ClusterRole.publishedKinds(cluster.roles)
            if !kinds.isEmpty {
                // With the history streams the publishes are acked and resent (docs/nats.md "Acked
                // ingest publishes"), on a connection of their own that drops unwritten bytes on a
                // disconnect: the publisher resends them itself, in order.
                // With a lease, also without them: a node that loses the lease resets that
                // connection, so nothing buffered while it was cut off is sent (docs/nats.md "Ingest failover").
                let p: ClusterPublisher
                if history != nil || leadership != nil, let own = try await connectCluster(logger: logger, discardBufferOnDisconnect: true) {
                    publisherConnection = own
                    p =
                        history != nil
                        ? try await ClusterPublisher.acked(client: own, kinds: kinds, leadership: leadership, logger: logger)
                        : ClusterPublisher(client: own, kinds: kinds, leadership: leadership, logger: logger)
                } else {
                    p = ClusterPublisher(client: nats, kinds: kinds, leadership: leadership, logger: logger)
                }
                bus.addSink(p)
                publisher = p
            }
            // An edge beside ingest serves that bus; beside services, the services feed relays `md.>`
            // and the private events are this node's own.
            if cluster.has(.edge) && !ingests && !runsServices {
                if let history {
                    edge = try await ClusterEdge(jetStream: history, bus: bus, logger: logger)
                } else {
                    edge = try await ClusterEdge(client: nats, bus: bus, logger: logger)
                }
            }
        }
        let sc = configuration.services
        let authority: TokenAuthority? =
            sc.jwtSecret.isEmpty ? nil : try await TokenAuthority(secret: sc.jwtSecret, adminToken: sc.adminToken.isEmpty ? nil : sc.adminToken)
        var options = serviceOptions()
        if servicesFromNATS { options.marketFeeding = .relay }
        let services = ServiceSuite(options: options, bus: bus, store: store as? any AccountStore, authority: authority, logger: logger)
        // Token revocations reach every node through a KV bucket (docs/nats.md "Token revocations").
        var revocations: ClusterRevocations?
        if let nats, authority != nil {
            do {
                revocations = try await ClusterRevocations(jetStream: JetStream(client: nats), logger: logger)
            } catch {
                logger.error(
                    "cluster: token revocations stay on the node that makes them (the KV bucket needs JetStream: nats-server -js)",
                    metadata: ["bucket": "\(ClusterRevocations.bucket)", "error": "\(error)"])
            }
        }
        if let revocations, runsServices {
            services.addRevocationObserver { user, before in revocations.publish(user: user, before: before) }
        }
        var servicesFeed: ClusterServicesFeed?
        if let nats, servicesFromNATS {
            let market = services.market
            let known = nativeInstruments
            servicesFeed = try await ClusterServicesFeed(
                client: nats, bus: bus, logger: logger, resolve: { known["\($0) \($1)"] }, apply: { market.applyRelayed($0) },
                dropBooks: { market.dropBooks(venue: $0, symbol: $1) })
        }
        // Who may connect and how much: limits, the instruments carried, sessions, TLS (docs/protocol.md).
        // A node without `services` has no accounts loaded: a token signed with the cluster's
        // secret is taken as it is (user removals are seen by the services node only).
        var anySignedUser: (@Sendable (String) -> Bool)?
        if !runsServices { anySignedUser = { @Sendable (_: String) -> Bool in true } }
        let access = try AccessControl(configuration: configuration, authority: authority, services: services, userExists: anySignedUser)
        let hub = FanOutHub(
            bus: bus, options: access.fanOutOptions, venues: Set(GatewayConfiguration.VenueID.allCases.map(\.rawValue)),
            intervals: Set(configuration.normalizer.intervals.map(\.name)),
            instruments: access.instruments, sessions: access.sessions, tls: access.tls, presence: edge?.users, logger: logger)
        let router = Router()
        router.add(middleware: LogRequestsMiddleware(.debug))
        router.add(middleware: JSONErrorMiddleware())
        // Before any route: Hummingbird applies middleware to the routes added after it.
        access.install(on: router, hub: hub)
        addMarketRoutes(to: router, store: store, liveBooks: feed, instruments: carried)
        addServiceRoutes(to: router, services: services)
        addNotificationRoutes(to: router, services: services)
        let strategies = StrategyRegistry(history: storeHistory(store), store: store as? any StrategyStore)
        services.execution.setLineage { strategies.ancestorCreators(of: $0) }
        addStrategyRoutes(to: router, services: services, registry: strategies, store: store)
        let ledgerMonitor = (store as? any LedgerStore).map {
            // Reconciles the books the services post to, once they are loaded from the store.
            LedgerMonitor(
                store: $0, every: configuration.services.ledgerReconcileEvery, logger: logger,
                live: { services.loaded ? services.execution.books : nil })
        }
        var health = HealthSources(bus: bus, hub: hub, writer: writer, feed: feed, ledger: ledgerMonitor)
        health.cluster = nats.map {
            var h = ClusterHealth(node: nodeName, roles: cluster.roles, client: $0, publisher: publisher, edge: edge, leadership: leadership)
            h.servicesFeed = servicesFeed
            h.revocations = revocations
            return h
        }
        addOpsRoutes(to: router, health: health)
        let opsSampler = OpsSampler(feed: feed, writer: writer, configuration: configuration)
        addPageRoutes(to: router, ops: opsSampler)
        addOpenAPIRoutes(to: router, logger: logger)
        let api = FanOutServer.makeApplication(
            hub: hub, router: router, host: configuration.server.host, port: configuration.server.port, logger: logger,
            onListening: onListening)
        logger.info(
            "serving",
            metadata: [
                "venues": "\(plans.map(\.venue.id))", "store": "\(location)",
                "http": "\(configuration.server.host):\(configuration.server.port)",
                "cluster": "\(cluster.isEnabled ? ClusterRole.text(cluster.roles) : "off")",
            ])
        let parts = Parts(bus: bus, hub: hub, writer: writer, feed: feed, services: services)
        var ready: (@Sendable () async -> Void)?
        if let e = edge { ready = { await e.waitUntilCaughtUp() } }
        if let revocations {
            // `/ws` opens once the revocations made so far are known here.
            let before = ready
            ready = {
                await before?()
                await revocations.waitUntilLoaded()
            }
        }
        // The original order (shutdown runs it in reverse): writer, services, …, server, feeds.
        var head: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: WriterService(writer: writer))]
        if runsServices { head.append(.init(service: ServicesService(services: services, strategies: strategies, store: store, logger: logger))) }
        var roleServices: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if ingests {
            roleServices.append(
                .init(
                    service: FeedService(
                        feed: feed, writer: writer, bus: bus, recorder: RecorderBox(recorder), store: store,
                        instruments: feedInstruments, logger: logger)))
        }
        if let edge { roleServices.append(.init(service: ClusterEdgeService(edge: edge))) }
        if let servicesFeed { roleServices.append(.init(service: ClusterServicesFeedService(feed: servicesFeed))) }
        if let leadership { roleServices.append(.init(service: ClusterLeaseService(leadership: leadership))) }
        if let revocations, let authority {
            roleServices.append(.init(service: ClusterRevocationsService(revocations: revocations, authority: authority, hub: hub, logger: logger)))
        }
        var groupConfiguration = ServiceGroupConfiguration(
                services: head + [
                    .init(service: MetricsReporter(bus: bus, hub: hub)),
                    .init(service: opsSampler),
                    .init(service: FanOutService(app: api, hub: hub, ready: ready)),
                ] + roleServices + (ledgerMonitor.map { [.init(service: LedgerMonitorService(monitor: $0))] } ?? [])
                    + access.services(logger: logger) + extraServices(parts),
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger)
        // A stop never hangs: what has not shut down after this is cancelled (the store writer
        // spills what it holds, so cancelling loses nothing stored or spilled).
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(20)
        groupConfiguration.maximumCancellationDuration = .seconds(5)
        let group = ServiceGroup(configuration: groupConfiguration)
        do {
            try await group.run()
        } catch {
            publisher?.stop()
            await publisherConnection?.close()
            await nats?.close()
            await store.close()
            throw error
        }
        publisher?.stop()
        try? await publisherConnection?.flush(timeout: .seconds(2))
        await publisherConnection?.close()
        await nats?.close()
        try recorder?.close()
        await store.close()
    }

    /// The history streams (`cluster.history_max_age`: market and private), created or updated by every node that uses them.
    func ensureHistory(_ nats: NATSClient?) async throws -> JetStream? {
        let c = configuration.cluster
        guard let nats, let age = c.historyMaxAge else { return nil }
        let js = JetStream(client: nats)
        do {
            try await ClusterHistory.ensure(
                js, .init(maxAge: age, maxBytes: Int64(c.historyMaxBytes), replicas: c.historyReplicas),
                privateLimits: .init(
                    maxAge: c.privateHistoryMaxAge ?? age, maxBytes: Int64(c.privateHistoryMaxBytes ?? c.historyMaxBytes),
                    replicas: c.historyReplicas))
        } catch {
            throw ClusterStartError(
                "cannot create the JetStream history streams \(ClusterHistory.streamName) and \(ClusterHistory.privateStreamName) (is JetStream on: nats-server -js?): \(error)")
        }
        return js
    }

    /// `cluster.node`, or `gateway-<pid>`.
    var nodeName: String { configuration.cluster.node.isEmpty ? "gateway-\(ProcessInfo.processInfo.processIdentifier)" : configuration.cluster.node }

    /// The NATS connection of a cluster node, or nil without `cluster.nats`. An unreachable
    /// cluster is a start-up failure, said in words.
    func connectCluster(logger: Logger, discardBufferOnDisconnect: Bool = false) async throws -> NATSClient? {
        let cluster = configuration.cluster
        guard cluster.isEnabled else { return nil }
        var options = NATSOptions()
        options.name = discardBufferOnDisconnect ? "\(nodeName)-publisher" : nodeName
        options.discardBufferOnDisconnect = discardBufferOnDisconnect
        // Edges subscribe to every market subject: a larger read buffer rides out short stalls.
        options.subscriptionBufferSize = 262_144
        do {
            return try await NATSClient.connect(to: cluster.nats, options: options, logger: logger)
        } catch {
            throw ClusterStartError(
                "cannot reach the NATS cluster (\(cluster.nats.map { GatewayConfiguration.redactingPassword(in: $0) }.joined(separator: ", "))): \(error)")
        }
    }
}

struct ClusterStartError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// The ingest lease: contends and renews until shutdown, then gives the lease up.
struct ClusterLeaseService: Service {
    let leadership: ClusterLeadership
    func run() async throws {
        try await cancelWhenGracefulShutdown { try await leadership.run() }
    }
}

/// Every cluster node: applies the revocations other nodes put into NATS, until shutdown. A
/// revocation later than the one known here also signs the user's sockets out (`revoked`).
struct ClusterRevocationsService: Service {
    let revocations: ClusterRevocations
    let authority: TokenAuthority
    let hub: FanOutHub
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            do {
                try await revocations.run { user, before in
                    if authority.revokeIfLater(user: user, at: before) { _ = await hub.revokeSessions(of: user) }
                }
            } catch {
                if !Task.isCancelled { logger.error("cluster: token revocations from other nodes no longer read", metadata: ["error": "\(error)"]) }
            }
        }
    }
}

/// The edge role: relays the cluster's frames into the local bus until shutdown.
struct ClusterEdgeService: Service {
    let edge: ClusterEdge
    func run() async throws {
        try await cancelWhenGracefulShutdown { try await edge.run() }
    }
}

/// The services role without ingest: relays the market from NATS into the local bus until shutdown.
struct ClusterServicesFeedService: Service {
    let feed: ClusterServicesFeed
    func run() async throws {
        try await cancelWhenGracefulShutdown { try await feed.run() }
    }
}

/// The orderbook endpoint reads the live pipeline's books first (`"source":"live"`).
extension LiveFeed: LiveBookSource {}

/// The HTTP server with `/ws`: on shutdown, websocket clients get a 1001 close first.
struct FanOutService<App: ApplicationProtocol>: Service {
    let app: App
    let hub: FanOutHub
    /// Awaited before listening: an edge with a history stream first relays what it holds, so a
    /// resume it accepts finds its position.
    var ready: (@Sendable () async -> Void)? = nil
    func run() async throws {
        await ready?()
        try await withGracefulShutdownHandler {
            try await app.run()
        } onGracefulShutdown: {
            Task { await hub.shutdown() }
        }
    }
}

/// The in-process services; on shutdown their journal stores what it holds.
struct ServicesService: Service {
    let services: ServiceSuite
    let strategies: StrategyRegistry
    let store: any MarketStore
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            // The accounts load once the schema is there; a database that is away is retried, as
            // the store writer does, rather than stopping the gateway.
            var backoff = Duration.seconds(1)
            while !Task.isCancelled {
                do {
                    _ = try await store.migrate()
                    if !services.loaded { try await services.load() }
                    try await strategies.load()
                    // Accepted strategies run live again, so agents that follow them keep acting.
                    services.signals.add(await strategies.all().flatMap(SignalConfig.configs(for:)))
                    break
                } catch {
                    if Task.isCancelled { break }
                    logger.error(
                        "loading paper-trading accounts and strategies failed; retrying",
                        metadata: ["error": "\(error)", "retry_in_s": "\(backoff.components.seconds)"])
                    try? await Task.sleep(for: backoff)
                    backoff = min(backoff * 2, .seconds(30))
                }
            }
            await services.run()
        }
    }
}

/// The store writer as a service: on shutdown it stores (or spills) what is queued.
struct WriterService: Service {
    let writer: StoreWriter
    func run() async throws {
        try await withGracefulShutdownHandler {
            try await writer.run()
        } onGracefulShutdown: {
            writer.finish()
        }
    }
}

/// The live feeds as a service: records go to the recorder; each event goes to the store writer
/// (which never blocks and never drops: it spills) and then onto the bus for the fan-out and the
/// in-process consumers. Storing first means no subscriber can ever cost stored data.
struct FeedService: Service {
    let feed: LiveFeed
    let writer: StoreWriter
    let bus: MarketBus
    let recorder: RecorderBox
    let store: any MarketStore
    let instruments: [(Venue, String)]
    let logger: Logger

    func run() async throws {
        let box = recorder
        let resuming = await resumePoints()
        for r in resuming {
            logger.info(
                "resuming after the last stored trade",
                metadata: ["venue": "\(r.venue.id)", "symbol": "\(r.symbol)", "trade_id": "\(r.lastTradeID)"])
        }
        try await withGracefulShutdownHandler {
            try await feed.run(resuming: resuming, record: { try box.writer?.write($0) }) {
                writer.submit($0)
                bus.publish($0)
            }
        } onGracefulShutdown: {
            feed.stop()
        }
    }
}

extension FeedService {
    /// The last stored trade of each instrument (numeric ids only), so trades the venues sent
    /// while the gateway was down are backfilled. Bounded: a database that does not answer in a
    /// few seconds means no resume (the feed starts as on a first run), not a late start.
    func resumePoints() async -> [LiveFeed.ResumePoint] {
        let store = self.store
        let instruments = self.instruments
        do {
            return try await withStoreTimeout(.seconds(15)) {
                // The schema first: on a first start there is nothing to resume, not an error.
                _ = try await store.migrate()
                var points: [LiveFeed.ResumePoint] = []
                for (venue, symbol) in instruments {
                    let recent = try await store.recentTrades(venue: venue.id, symbol: symbol, limit: 50)
                    guard let last = recent.compactMap({ r in Int64(r.id).map { (id: $0, mark: r) } }).max(by: { $0.id < $1.id }),
                        let price = FixedDecimal(last.mark.price)
                    else { continue }
                    points.append(LiveFeed.ResumePoint(venue: venue, symbol: symbol, lastTradeID: last.id, time: last.mark.time, price: price))
                }
                return points
            }
        } catch {
            logger.warning("no resume from the store: trades missed while the gateway was down are not backfilled", metadata: ["error": "\(error)"])
            return []
        }
    }
}

/// Carries the recorder into the feed's run loop (used on that one task only).
final class RecorderBox: @unchecked Sendable {
    let writer: CaptureWriter?
    init(_ writer: CaptureWriter?) { self.writer = writer }
}

/// Reconciles the ledger at start-up and every `services.ledger_reconcile_every` (``LedgerMonitor``).
struct LedgerMonitorService: Service {
    let monitor: LedgerMonitor
    func run() async throws {
        await cancelWhenGracefulShutdown { await monitor.run() }
    }
}
