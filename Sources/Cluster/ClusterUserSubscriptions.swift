public import Bus
public import Logging
public import NATS
import Synchronization

/// An edge's private-event feeds, one per connected user (docs/nats.md "Private channels"):
/// `user.<id>.>` from the user's first authenticated socket on this edge until their last one stops
/// being them, so an edge receives only the private events of users it serves. The fan-out drives
/// it (``UserPresence``).
///
/// Live only (no history stream): a core subscription, in place before the auth ack. With the
/// private history stream (``ClusterHistory/privateStreamName``): an ordered consumer filtered to
/// the user's subjects, reading what the stream holds for them and then live events; the auth ack
/// waits (``catchUpLimit`` at most) until that history is relayed, so a `since` right after auth
/// finds its position even on an edge where the user never had a socket.
public final class ClusterUserSubscriptions: UserPresence {
    /// Where a user's events come from.
    enum Feed: Sendable {
        case core(NATSSubscription)
        case stream(OrderedConsumer)

        func end() async {
            switch self {
            case .core(let s): s.unsubscribe()
            case .stream(let c): await c.delete()
            }
        }
    }

    /// Set once the user's history (what the stream held when their feed opened) is relayed.
    final class CatchUp: Sendable {
        let done = Atomic<Bool>(false)
    }

    struct Entry {
        var sockets = 0
        let opening: Task<Feed?, Never>
        var feed: Feed?
        var relay: Task<Void, Never>?
        let catchUp: CatchUp
    }

    let client: NATSClient
    /// The private history stream, or nil for core subscriptions.
    let history: (jetStream: JetStream, stream: String)?
    /// How long an auth ack may wait for a user's history.
    let catchUpLimit: Duration
    let logger: Logger
    private let entries = Mutex<[String: Entry]>([:])
    private let handler = Mutex<(@Sendable (NATSMessage) -> Void)?>(nil)
    private let received = Atomic<Int>(0)
    private let foreign = Atomic<Int>(0)
    private let slowCatchUps = Atomic<Int>(0)

    /// Core subscriptions: live events from the auth on.
    public init(client: NATSClient, logger: Logger) {
        self.client = client
        self.history = nil
        self.catchUpLimit = .zero
        self.logger = logger
    }

    /// Ordered consumers on the private history stream `stream`: the user's stored events, then live.
    public init(jetStream: JetStream, stream: String = ClusterHistory.privateStreamName, catchUpLimit: Duration = .seconds(5), logger: Logger) {
        self.client = jetStream.client
        self.history = (jetStream, stream)
        self.catchUpLimit = catchUpLimit
        self.logger = logger
    }

    /// Where each received message goes (the edge's relay into its bus).
    func setHandler(_ h: @escaping @Sendable (NATSMessage) -> Void) { handler.withLock { $0 = h } }

    /// `user.<id>.>`, or nil for an id that cannot be one subject token.
    public static func subject(for user: String) -> String? {
        guard !user.isEmpty, !user.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: ">") || $0 <= 0x20 || $0 == 0x7F })
        else { return nil }
        return "\(ClusterEnvelope.userPrefix)\(user).>"
    }

    public func acquire(_ user: String) {
        guard let subject = Self.subject(for: user) else {
            logger.error("cluster: a user id that cannot be a NATS subject token gets no private events here", metadata: ["user": "\(user)"])
            return
        }
        let started: Task<Feed?, Never>? = entries.withLock { s in
            if s[user] != nil {
                s[user]!.sockets += 1
                return nil
            }
            let t = Task<Feed?, Never> { await self.open(subject) }
            s[user] = Entry(sockets: 1, opening: t, catchUp: CatchUp())
            return t
        }
        if let started { Task { await install(user, started) } }
    }

    /// The user's feed: an ordered consumer on the history stream, or (without one, or when it
    /// cannot be created) a core subscription, so live events still arrive.
    private func open(_ subject: String) async -> Feed? {
        if let history {
            let stream = history.stream
            do {
                return .stream(try await history.jetStream.orderedConsumer(stream: stream, filterSubject: subject, deliverFrom: .all, logger: logger))
            } catch {
                logger.error(
                    "cluster: cannot read a user's private history; live events only", metadata: ["subject": "\(subject)", "stream": "\(stream)", "error": "\(error)"])
            }
        }
        do {
            return .core(try await client.subscribe(subject: subject))
        } catch {
            logger.error("cluster: cannot subscribe a user's private events", metadata: ["subject": "\(subject)", "error": "\(error)"])
            return nil
        }
    }

    /// Starts relaying once the feed is open; a feed no socket wants any more is ended.
    private func install(_ user: String, _ t: Task<Feed?, Never>) async {
        guard let feed = await t.value else { return }
        let h = handler.withLock { $0 }
        // Only this user's subjects pass: the filter guarantees it, this makes sure.
        let prefix = "\(ClusterEnvelope.userPrefix)\(user)."
        let wanted = entries.withLock { s -> Bool in
            guard var e = s[user], e.opening == t, e.relay == nil else { return false }
            e.feed = feed
            let catchUp = e.catchUp
            e.relay = Task {
                do {
                    switch feed {
                    case .core(let sub):
                        catchUp.done.store(true, ordering: .releasing)
                        for try await m in sub { self.pass(m, prefix, h) }
                    case .stream(let consumer):
                        let held = consumer.initialPending
                        if held == 0 { catchUp.done.store(true, ordering: .releasing) }
                        var delivered: UInt64 = 0
                        for try await m in consumer {
                            self.pass(NATSMessage(subject: m.subject, headers: m.headers, payload: m.payload), prefix, h)
                            delivered += 1
                            if delivered >= held || m.pending == 0 { catchUp.done.store(true, ordering: .releasing) }
                        }
                    }
                } catch {
                    // The stream is gone or the client closed: this user gets no more events here.
                    if !Task.isCancelled {
                        self.logger.error("cluster: a user's private feed ended", metadata: ["user": "\(user)", "error": "\(error)"])
                    }
                }
            }
            s[user] = e
            return true
        }
        if !wanted { await feed.end() }
    }

    private func pass(_ m: NATSMessage, _ prefix: String, _ h: (@Sendable (NATSMessage) -> Void)?) {
        guard m.subject.hasPrefix(prefix) else {
            if foreign.add(1, ordering: .relaxed).oldValue == 0 {
                logger.error("cluster: dropped a private message for another user", metadata: ["subject": "\(m.subject)", "expected": "\(prefix)>"])
            }
            return
        }
        received.add(1, ordering: .relaxed)
        h?(m)
    }

    /// Returns once the user's events are subscribed and, with the history stream, what it held
    /// for them is relayed (``catchUpLimit`` at most; then it logs a warning and returns).
    public func ready(_ user: String) async {
        guard case let (t, catchUp)? = entries.withLock({ s -> (Task<Feed?, Never>, CatchUp)? in s[user].map { ($0.opening, $0.catchUp) } }) else { return }
        // A core subscription is in place once opened: nothing to read first.
        guard case .stream = await t.value else { return }
        let deadline = ContinuousClock.now + catchUpLimit
        while !catchUp.done.load(ordering: .acquiring) {
            guard ContinuousClock.now < deadline, !Task.isCancelled, entries.withLock({ $0[user]?.opening == t }) else {
                if !catchUp.done.load(ordering: .acquiring), entries.withLock({ $0[user]?.opening == t }) {
                    slowCatchUps.add(1, ordering: .relaxed)
                    logger.warning(
                        "cluster: a user's private history was not read in time; acking the auth anyway",
                        metadata: ["user": "\(user)", "limit": "\(catchUpLimit)"])
                }
                return
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    public func release(_ user: String) {
        let gone: Entry? = entries.withLock { s in
            guard var e = s[user] else { return nil }
            e.sockets -= 1
            if e.sockets > 0 {
                s[user] = e
                return nil
            }
            s[user] = nil
            return e
        }
        guard let gone else { return }
        gone.relay?.cancel()
        if let feed = gone.feed {
            Task { await feed.end() }
        } else {
            let t = gone.opening
            Task { await t.value?.end() }
        }
    }

    /// Whether users' events come from the private history stream (else core subscriptions).
    public var readsHistory: Bool { history != nil }
    /// Users whose private events this node subscribes to now (a socket of theirs is here).
    public var subscribedUsers: Int { entries.withLock { $0.count } }
    /// The users with a socket here (tests, health).
    public var users: Set<String> { entries.withLock { Set($0.keys) } }
    /// Private messages received (every user's feed).
    public var privateReceived: Int { received.load(ordering: .relaxed) }
    /// Messages on a user's feed whose subject was another user's: dropped (never expected).
    public var foreignDropped: Int { foreign.load(ordering: .relaxed) }
    /// Auth acks sent before the user's history was read (``catchUpLimit`` passed).
    public var slowHistoryReads: Int { slowCatchUps.load(ordering: .relaxed) }
    /// Messages the core subscriptions dropped because this node read too slowly.
    public var dropped: Int {
        entries.withLock {
            $0.values.reduce(0) { n, e in
                if case .core(let s) = e.feed { return n + s.droppedMessages }
                return n
            }
        }
    }

    /// Ends every feed (the edge stops).
    func stopAll() {
        let all = entries.withLock { s -> [Entry] in
            let v = Array(s.values)
            s.removeAll()
            return v
        }
        for e in all {
            e.relay?.cancel()
            if let feed = e.feed { Task { await feed.end() } }
        }
    }
}
