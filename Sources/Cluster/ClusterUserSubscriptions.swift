public import Bus
public import Logging
public import NATS
import Synchronization

/// An edge's private-event subscriptions, one per connected user (docs/nats.md "Private channels"):
/// `user.<id>.>` from the user's first authenticated socket on this edge until their last one stops
/// being them, so an edge receives only the private events of users it serves. The fan-out drives
/// it (``UserPresence``); the NATS client replays the subscriptions after a reconnect.
public final class ClusterUserSubscriptions: UserPresence {
    struct Entry {
        var sockets = 0
        let subscribing: Task<NATSSubscription?, Never>
        var subscription: NATSSubscription?
        var relay: Task<Void, Never>?
    }

    let client: NATSClient
    let logger: Logger
    private let entries = Mutex<[String: Entry]>([:])
    private let handler = Mutex<(@Sendable (NATSMessage) -> Void)?>(nil)
    private let received = Atomic<Int>(0)

    public init(client: NATSClient, logger: Logger) {
        self.client = client
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
        let started: Task<NATSSubscription?, Never>? = entries.withLock { s in
            if s[user] != nil {
                s[user]!.sockets += 1
                return nil
            }
            let client = self.client
            let logger = self.logger
            let t = Task<NATSSubscription?, Never> {
                do {
                    return try await client.subscribe(subject: subject)
                } catch {
                    logger.error("cluster: cannot subscribe a user's private events", metadata: ["subject": "\(subject)", "error": "\(error)"])
                    return nil
                }
            }
            s[user] = Entry(sockets: 1, subscribing: t)
            return t
        }
        if let started { Task { await install(user, started) } }
    }

    /// Starts relaying once subscribed; a subscription no socket wants any more is dropped.
    private func install(_ user: String, _ t: Task<NATSSubscription?, Never>) async {
        guard let sub = await t.value else { return }
        let h = handler.withLock { $0 }
        let wanted = entries.withLock { s -> Bool in
            guard var e = s[user], e.subscribing == t, e.relay == nil else { return false }
            e.subscription = sub
            e.relay = Task {
                do {
                    for try await m in sub {
                        self.received.add(1, ordering: .relaxed)
                        h?(m)
                    }
                } catch {}
            }
            s[user] = e
            return true
        }
        if !wanted { sub.unsubscribe() }
    }

    public func ready(_ user: String) async {
        guard let t = entries.withLock({ $0[user]?.subscribing }) else { return }
        _ = await t.value
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
        if let sub = gone.subscription {
            sub.unsubscribe()
        } else {
            let t = gone.subscribing
            Task { await t.value?.unsubscribe() }
        }
    }

    /// Users whose private events this node subscribes to now (a socket of theirs is here).
    public var subscribedUsers: Int { entries.withLock { $0.count } }
    /// The users with a socket here (tests, health).
    public var users: Set<String> { entries.withLock { Set($0.keys) } }
    /// Private messages received (every user's subscription).
    public var privateReceived: Int { received.load(ordering: .relaxed) }
    /// Messages the subscriptions dropped because this node read too slowly.
    public var dropped: Int { entries.withLock { $0.values.reduce(0) { $0 + ($1.subscription?.droppedMessages ?? 0) } } }

    /// Ends every subscription (the edge stops).
    func stopAll() {
        let all = entries.withLock { s -> [Entry] in
            let v = Array(s.values)
            s.removeAll()
            return v
        }
        for e in all {
            e.relay?.cancel()
            e.subscription?.unsubscribe()
        }
    }
}
