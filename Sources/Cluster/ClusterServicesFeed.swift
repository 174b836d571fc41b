public import Bus
public import Logging
public import MarketCore
import Metrics
public import NATS
import Synchronization

/// The `services` role on a node without `ingest` (docs/nats.md "The services role"): subscribes to
/// `md.>` (live; old books from a history stream would be stale) and puts each frame on the local
/// bus with the publisher's `seq`, `epoch` and bytes, plus the decoded ``MarketEvent`` for the
/// in-process services. The services' market view is fed here, in arrival order, so a loss seen
/// here drops the books before any later frame is applied:
/// - a jump in `seq` on a venue's `status` channel (a gap or resync status may be among the lost
///   frames), or a new epoch there after the first (another ingest node took over): that venue's books;
/// - a jump on a `book` channel: that book;
/// - a NATS disconnect: every book, and no book from a frame received before it (frames still
///   queued when it happened) is taken afterwards; the next one received after the reconnect is.
/// A frame whose `data` does not decode is relayed as bytes only (clients still get it), counted
/// and logged once per subject; it never stops the relay.
public final class ClusterServicesFeed: Sendable {
    public struct Stats: Sendable, Equatable {
        public var relayed = 0
        /// Frames relayed as bytes only: their `data` did not decode into a market event.
        public var undecodable = 0
        /// Messages that were not a valid envelope (dropped).
        public var malformed = 0
        public var gaps = 0
        public var duplicates = 0
        /// Times books were dropped because continuity was lost (gap, new epoch, disconnect).
        public var bookDrops = 0
        /// Messages the subscription dropped because this node read too slowly.
        public var dropped = 0
    }

    let bus: MarketBus
    let logger: Logger
    let client: NATSClient
    let subscription: NATSSubscription
    let resolve: (@Sendable (String, String) -> Instrument?)?
    let apply: @Sendable (MarketEvent) -> Void
    let dropBooks: @Sendable (_ venue: String?, _ symbol: String?) -> Void
    private let counts = Mutex(Stats())
    /// Messages of the subscription received before the last disconnect: their books are not
    /// taken (they may be stale), only books read after it. Held while a book is applied, so a
    /// disconnect cannot drop the books between the check and the apply.
    private let staleUpTo = Mutex(0)
    private let undecodableMetric = Counter(label: "cluster_services_undecodable_total")
    private let relayedMetric = Counter(label: "cluster_services_relayed_total")
    private let dropMetric = Counter(label: "cluster_services_book_drops_total")

    /// Subscribes (returns once the server has the subscription); ``run()`` then relays.
    /// - Parameters:
    ///   - resolve: (venue, canonical symbol) → the configured instrument, for its native symbol.
    ///   - apply: feeds the services' market view (``MarketView/applyRelayed(_:)``).
    ///   - dropBooks: drops books of a venue / instrument, or all (nil, nil).
    public init(
        client: NATSClient, bus: MarketBus, logger: Logger, bufferSize: Int? = nil,
        resolve: (@Sendable (String, String) -> Instrument?)? = nil,
        apply: @escaping @Sendable (MarketEvent) -> Void,
        dropBooks: @escaping @Sendable (_ venue: String?, _ symbol: String?) -> Void
    ) async throws {
        self.bus = bus
        self.logger = logger
        self.client = client
        self.resolve = resolve
        self.apply = apply
        self.dropBooks = dropBooks
        subscription = try await client.subscribe(subject: ClusterEnvelope.marketWildcard, bufferSize: bufferSize)
    }

    public var stats: Stats {
        var s = counts.withLock { $0 }
        s.dropped = subscription.droppedMessages
        return s
    }

    /// Relays until the task is cancelled or the subscription ends.
    public func run() async throws {
        let events = client.connectionEvents()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await e in events {
                    switch e {
                    case .disconnected:
                        let received = self.subscription.enqueuedMessages
                        self.staleUpTo.withLock { n in
                            n = max(n, received)
                            self.lost(nil, nil, "NATS disconnected")
                        }
                    default: break
                    }
                }
            }
            group.addTask {
                var names: [String: ChannelName] = [:]
                var reported = Set<String>()
                var statusEpochs: [String: String] = [:]
                var read = 0
                for try await message in self.subscription {
                    read += 1
                    self.handle(message, number: read, &names, &reported, &statusEpochs)
                }
            }
            _ = try await group.next()
            group.cancelAll()
        }
    }

    private func lost(_ venue: String?, _ symbol: String?, _ why: String) {
        dropBooks(venue, symbol)
        counts.withLock { $0.bookDrops += 1 }
        dropMetric.increment()
        logger.warning(
            "cluster: books dropped until the next valid snapshot", metadata: ["venue": "\(venue ?? "*")", "symbol": "\(symbol ?? "*")", "why": "\(why)"])
    }

    private func handle(
        _ message: NATSMessage, number: Int, _ names: inout [String: ChannelName], _ reported: inout Set<String>, _ statusEpochs: inout [String: String]
    ) {
        let channel: ChannelName
        if let known = names[message.subject] {
            channel = known
        } else {
            guard let parsed = ClusterEnvelope.channel(ofSubject: message.subject) else {
                malformed(message.subject, "not a channel subject", &reported)
                return
            }
            if names.count < 100_000 { names[message.subject] = parsed }
            channel = parsed
        }
        let d: ClusterEnvelope.Decoded
        do {
            d = try ClusterEnvelope.decode(message, channel: channel)
        } catch {
            malformed(message.subject, error.description, &reported)
            return
        }
        var event: MarketEvent?
        if let data = ClusterEnvelope.dataField(of: d.json) {
            event = try? MarketEvent(type: d.type, data: data, instrument: resolve)
        }
        if event == nil {
            counts.withLock { $0.undecodable += 1 }
            undecodableMetric.increment()
            if reported.count < 1000, reported.insert("data:" + message.subject).inserted {
                logger.error("cluster: a frame's data did not decode; relayed as bytes only", metadata: ["subject": "\(message.subject)", "type": "\(d.type)"])
            }
        }
        let outcome = bus.relay(
            channel: channel, seq: d.seq, epoch: d.epoch, type: d.type, json: d.json, conflationBucket: d.conflationBucket,
            snapshotData: d.snapshotData, payload: event.map { BusPayload.market($0) } ?? BusPayload.raw)
        relayedMetric.increment()
        counts.withLock { s in
            switch outcome {
            case .delivered, .newEpoch: s.relayed += 1
            case .gap:
                s.relayed += 1
                s.gaps += 1
            case .duplicate: s.duplicates += 1
            }
        }
        if case .duplicate = outcome { return }
        // Continuity first, then the event (a status after a gap still applies after the drop).
        switch (channel.kind, outcome) {
        case (.status, .gap(let missed)):
            lost(channel.scope, nil, "\(missed) status frames lost")
        case (.status, .newEpoch):
            if let before = statusEpochs[channel.scope], before != d.epoch { lost(channel.scope, nil, "new epoch on the status channel") }
        case (.book, .gap(let missed)):
            lost(channel.scope, channel.symbol, "\(missed) book frames lost")
        default:
            break
        }
        if channel.kind == .status { statusEpochs[channel.scope] = d.epoch }
        guard let event else { return }
        if case .bookSnapshot = event {
            staleUpTo.withLock { n in if number > n { apply(event) } }
        } else {
            apply(event)
        }
    }

    private func malformed(_ subject: String, _ why: String, _ reported: inout Set<String>) {
        counts.withLock { $0.malformed += 1 }
        if reported.count < 1000, reported.insert(subject).inserted {
            logger.error("cluster: dropped a message that is not a gateway frame", metadata: ["subject": "\(subject)", "error": "\(why)"])
        }
    }
}
