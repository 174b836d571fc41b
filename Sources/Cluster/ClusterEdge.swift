public import Bus
public import Logging
import Metrics
public import NATS
import Synchronization

/// The `edge` role's side of the cluster: subscribes to `md.>` and hands each frame to the local
/// bus with the publisher's `seq`, `epoch` and bytes (``MarketBus/relay(channel:seq:epoch:type:json:conflationBucket:snapshotData:)``),
/// so the local fan-out sends what every other edge sends and `since` works on any edge.
public final class ClusterEdge: Sendable {
    public struct Stats: Sendable, Equatable {
        public var relayed = 0
        /// Channels that started over here (first frame, or a new epoch from the publisher).
        public var newEpochs = 0
        /// Jumps in `seq` within an epoch, and the frames they skipped (lost on the way here).
        public var gaps = 0
        public var missed: UInt64 = 0
        /// Frames at or before the channel's position in the same epoch: an acked publisher's resend
        /// after a reconnect reaches a core subscription twice. Dropped, not a gap.
        public var duplicates = 0
        /// Messages that were not a valid envelope (counted, logged once per subject, dropped).
        public var malformed = 0
        /// Messages the subscription dropped because this node read too slowly.
        public var dropped = 0
        /// Users whose `user.<id>.>` this edge is subscribed to (they have a socket here).
        public var userSubscriptions = 0
        /// Private messages received on those subscriptions.
        public var privateReceived = 0
        /// Private messages whose subject was not the user's whose feed brought them (dropped; never expected).
        public var privateForeign = 0
        /// Auth acks sent before the user's private history was read (the bound passed).
        public var slowPrivateHistory = 0
        /// Times the history stream's reader was re-created (its server died, it missed messages).
        public var streamRestarts: UInt64 = 0
    }

    /// Where the frames come from: core NATS (live only), or the history stream (what it holds, then live).
    enum Source: Sendable {
        case live(NATSSubscription)
        case history(OrderedConsumer)
    }

    let bus: MarketBus
    let logger: Logger
    let source: Source
    /// `user.<id>.>` for each user with a socket here (core NATS, or with the history streams an
    /// ordered consumer on ``ClusterHistory/privateStreamName``); the fan-out drives it (pass it as
    /// the hub's `presence`) and gives a private channel only to a socket authenticated as its user.
    public let users: ClusterUserSubscriptions
    private let reportedPrivate = Mutex(Set<String>())
    private let counts = Mutex(Stats())
    private let caughtUpFlag = Atomic<Bool>(false)
    private let relayedMetric = Counter(label: "cluster_frames_relayed_total")
    private let gapMetric = Counter(label: "cluster_relay_gaps_total")
    private let malformedMetric = Counter(label: "cluster_relay_malformed_total")
    private let duplicateMetric = Counter(label: "cluster_relay_duplicates_total")

    /// Live frames only (core NATS): subscribes (returns once the server has the subscription);
    /// ``run()`` then relays. A just-started edge has no history to resume from.
    public init(client: NATSClient, bus: MarketBus, logger: Logger, bufferSize: Int? = nil) async throws {
        self.bus = bus
        self.logger = logger
        self.source = .live(try await client.subscribe(subject: ClusterEnvelope.marketWildcard, bufferSize: bufferSize))
        self.users = ClusterUserSubscriptions(client: client, logger: logger)
        caughtUpFlag.store(true, ordering: .relaxed)
        users.setHandler { [weak self] m in self?.handlePrivate(m) }
    }

    /// Frames from the history stream (``ClusterHistory``): everything it still holds, then live,
    /// with no gap (an ordered consumer re-creates itself from its last position when one shows).
    /// A just-started edge can so serve `since` from before its start. Each user's private events
    /// come from `privateStream` the same way (their stored events, then live), read before their
    /// auth ack (`privateCatchUpLimit` at most), so they resume here even if they never had a socket here.
    public init(
        jetStream: JetStream, stream: String = ClusterHistory.streamName, privateStream: String = ClusterHistory.privateStreamName,
        privateCatchUpLimit: Duration = .seconds(5), bus: MarketBus, logger: Logger
    ) async throws {
        self.bus = bus
        self.logger = logger
        let empty = try await jetStream.streamInfo(stream).state.messages == 0
        self.users = ClusterUserSubscriptions(jetStream: jetStream, stream: privateStream, catchUpLimit: privateCatchUpLimit, logger: logger)
        // A 1 s heartbeat: when the server holding this consumer dies, the edge notices the dead
        // consumer 3–4 s later (15–20 s with 5 s) and its market data resumes once the consumer is
        // re-created, 4.5–7.6 s after the kill (docs/nats.md). One consumer per edge: no idle cost.
        self.source = .history(
            try await jetStream.orderedConsumer(
                stream: stream, filterSubject: ClusterEnvelope.marketWildcard, deliverFrom: .all, heartbeat: .seconds(1), logger: logger))
        if empty { caughtUpFlag.store(true, ordering: .relaxed) }
        users.setHandler { [weak self] m in self?.handlePrivate(m) }
    }

    /// Whether the edge has relayed everything the history stream held when it started (always
    /// true for live-only edges).
    public var caughtUp: Bool { caughtUpFlag.load(ordering: .relaxed) }

    /// Returns once ``caughtUp``, after `limit` at most (a stream that cannot be read must not keep
    /// the node from serving live frames), or when the task is cancelled.
    public func waitUntilCaughtUp(limit: Duration = .seconds(60)) async {
        let deadline = ContinuousClock.now + limit
        while !caughtUp, ContinuousClock.now < deadline, !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if !caughtUp { logger.warning("cluster: serving before the history stream was read to its end") }
    }

    /// Relays until the task is cancelled or the source ends.
    public func run() async throws {
        defer { users.stopAll() }
        try await relayMarket()
    }

    /// One user's private message (from their own subscription's task).
    private func handlePrivate(_ message: NATSMessage) {
        var names: [String: ChannelName] = [:]
        var reported = reportedPrivate.withLock { $0 }
        let before = reported.count
        handle(message, &names, &reported)
        if reported.count != before, reported.count < 1000 { reportedPrivate.withLock { $0 = reported } }
    }

    private func relayMarket() async throws {
        var names: [String: ChannelName] = [:]
        var reported = Set<String>()
        switch source {
        case .live(let subscription):
            for try await message in subscription { handle(message, &names, &reported) }
        case .history(let consumer):
            for try await m in consumer {
                handle(NATSMessage(subject: m.subject, headers: m.headers, payload: m.payload), &names, &reported)
                if m.pending == 0, !caughtUpFlag.load(ordering: .relaxed) {
                    caughtUpFlag.store(true, ordering: .relaxed)
                    logger.info("cluster: edge history caught up", metadata: ["stream_sequence": "\(m.streamSequence)"])
                }
            }
        }
    }

    private func handle(_ message: NATSMessage, _ names: inout [String: ChannelName], _ reported: inout Set<String>) {
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
        let outcome = bus.relay(
            channel: channel, seq: d.seq, epoch: d.epoch, type: d.type, json: d.json, conflationBucket: d.conflationBucket,
            snapshotData: d.snapshotData)
        relayedMetric.increment()
        counts.withLock { s in
            switch outcome {
            case .delivered: s.relayed += 1
            case .newEpoch:
                s.relayed += 1
                s.newEpochs += 1
            case .gap(let missed):
                s.relayed += 1
                s.gaps += 1
                s.missed += missed
            case .duplicate: s.duplicates += 1
            }
        }
        if outcome == .duplicate { duplicateMetric.increment() }
        if case .gap(let missed) = outcome {
            gapMetric.increment()
            logger.warning("cluster: frames lost on the way to this edge; resume history restarts", metadata: [
                "channel": "\(channel)", "missed": "\(missed)",
            ])
        }
    }

    private func malformed(_ subject: String, _ why: String, _ reported: inout Set<String>) {
        counts.withLock { $0.malformed += 1 }
        malformedMetric.increment()
        if reported.count < 1000, reported.insert(subject).inserted {
            logger.error("cluster: dropped a message that is not a gateway frame", metadata: ["subject": "\(subject)", "error": "\(why)"])
        }
    }

    public var stats: Stats {
        var s = counts.withLock { $0 }
        switch source {
        case .live(let subscription): s.dropped = subscription.droppedMessages
        case .history(let consumer): s.streamRestarts = consumer.restarts
        }
        s.dropped += users.dropped
        s.userSubscriptions = users.subscribedUsers
        s.privateReceived = users.privateReceived
        s.privateForeign = users.foreignDropped
        s.slowPrivateHistory = users.slowHistoryReads
        return s
    }
}
