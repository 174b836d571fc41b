import Bus
import NIOCore
import Synchronization

/// The clients of one event loop and the routing of bus frames to them.
///
/// The bus calls ``receive(_:)`` on its publishing thread: the frame is appended to an inbox and one
/// drain is scheduled on the loop per batch. The drain writes each frame's shared bytes to every
/// subscribed client and flushes each client once per batch. Everything but the inbox is touched
/// on `loop` only.
final class FanOutShard: BusSink, @unchecked Sendable {
    unowned let hub: FanOutHub
    let loop: any EventLoop
    /// The hub's clock, held here: the heartbeat may still fire once after the hub is gone, and
    /// must not read it through the unowned reference.
    private let clock: FanOutClock
    private let inbox = Mutex<Inbox>(Inbox())

    struct Inbox {
        var frames: [BusFrame] = []
        var scheduled = false
    }

    // Loop-bound state.
    private var clients: [ObjectIdentifier: FanOutClient] = [:]
    /// Channel id → clients subscribed to it, built on the channel's first frame and kept up to
    /// date on subscribe, unsubscribe and close.
    private var routes: [Int: [FanOutClient]] = [:]
    private var routeNames: [Int: ChannelName] = [:]
    private var dirty: [FanOutClient] = []
    private var spare: [BusFrame] = []
    private var heartbeat: RepeatedTask?

    init(hub: FanOutHub, loop: any EventLoop) {
        self.hub = hub
        self.loop = loop
        clock = hub.clock
    }

    func receive(_ frame: BusFrame) {
        let schedule = inbox.withLock { s -> Bool in
            s.frames.append(frame)
            if s.scheduled { return false }
            s.scheduled = true
            return true
        }
        if schedule { loop.execute { self.drain() } }
    }

    private func drain() {
        var frames = spare
        inbox.withLock { s in
            swap(&frames, &s.frames)
            s.scheduled = false
        }
        for f in frames {
            let list = routes[f.channelID] ?? buildRoute(f)
            for c in list { c.deliver(f) }
        }
        frames.removeAll(keepingCapacity: true)
        spare = frames
        flushDirty()
    }

    private func buildRoute(_ f: BusFrame) -> [FanOutClient] {
        let list = clients.values.filter { $0.wants(f.channel) }
        routes[f.channelID] = list
        routeNames[f.channelID] = f.channel
        return list
    }

    func markDirty(_ c: FanOutClient) {
        if !c.needsFlush {
            c.needsFlush = true
            dirty.append(c)
        }
    }

    func flushDirty() {
        var sent = 0
        for c in dirty { sent += c.flush() }
        dirty.removeAll(keepingCapacity: true)
        if sent > 0 { hub.counters.framesSent.add(sent, ordering: .relaxed) }
    }

    // MARK: clients

    func add(_ c: FanOutClient) {
        clients[ObjectIdentifier(c)] = c
    }

    func remove(_ c: FanOutClient) {
        guard clients.removeValue(forKey: ObjectIdentifier(c)) != nil else { return }
        for (id, list) in routes where list.contains(where: { $0 === c }) {
            routes[id] = list.filter { $0 !== c }
        }
    }

    /// After `c` changed its patterns: add it to, or drop it from, the routes already built.
    func patternsChanged(_ c: FanOutClient) {
        for (id, name) in routeNames {
            let wants = c.wants(name)
            let list = routes[id] ?? []
            let present = list.contains { $0 === c }
            if wants && !present {
                routes[id] = list + [c]
            } else if !wants && present {
                routes[id] = list.filter { $0 !== c }
            }
        }
    }

    func broadcast(_ frame: ByteBuffer) {
        // Frames already in the inbox go first.
        drain()
        for c in clients.values { c.send(frame) }
        flushDirty()
    }

    func subscriberCount(_ channel: ChannelName) -> Int {
        clients.values.reduce(0) { $0 + ($1.wants(channel) ? 1 : 0) }
    }

    /// Signs `user` out on this loop's sockets; returns how many.
    func revokeSessions(of user: String) -> Int {
        var n = 0
        for c in clients.values where c.user == user {
            c.signOut(reason: .revoked)
            n += 1
        }
        flushDirty()
        return n
    }

    func closeAll() {
        heartbeat?.cancel()
        for c in clients.values { c.close(code: CloseCode.goingAway, reason: "server shutting down") }
    }

    func startHeartbeat() {
        let interval = TimeAmount(hub.options.pingInterval)
        loop.execute {
            self.heartbeat = self.loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                let now = self.clock.monotonic()
                for c in self.clients.values { c.heartbeat(now: now, interval: interval) }
                self.flushDirty()
            }
        }
    }
}

extension TimeAmount {
    init(_ d: Duration) {
        let (s, a) = d.components
        self = .nanoseconds(s * 1_000_000_000 + a / 1_000_000_000)
    }
}
