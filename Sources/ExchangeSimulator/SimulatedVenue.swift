public import MarketCore

/// A frame the timeline emitted: the exchange's ground truth for tests.
public struct EmittedFrame: Sendable {
    /// What became of a frame.
    public enum Delivery: Sendable, Equatable {
        /// Sent (to every subscribed connection; possibly none).
        case sent
        /// Sent with its checksum altered (`corruptNextChecksum`); `text` is the corrupted copy.
        case corrupted(text: String)
        /// Not sent: `dropNextBookDelta` or `dropNextFrames`.
        case dropped
        /// Not sent: the venue was silent (`goSilent`).
        case silenced
    }

    /// Position among the venue's websocket frames in timeline order (0-based; a looping timeline
    /// keeps counting across passes).
    public var index: Int
    /// The capture's `recv_ns` (on a later pass of a looping timeline, moved by that pass's span).
    public var receiveTime: UnixNanos
    /// The frame text: the original on pass 0, the rewritten copy on later passes.
    public var text: String
    public var role: FrameRole
    public var delivery: Delivery
    /// How many subscribed connections it was written to.
    public var recipients: Int
    /// The timeline pass it belongs to (0 unless the venue loops).
    public var pass: Int = 0

    /// Whether a subscribed client would have received it (in original or corrupted form).
    public var wasSent: Bool {
        switch delivery {
        case .sent, .corrupted: true
        case .dropped, .silenced: false
        }
    }
}

/// What a websocket session writes next.
enum Outbound: Sendable {
    case text(String)
    /// Close the socket with this reason (an exchange-side disconnect).
    case close(String)
}

/// One venue inside the simulator: its model, its timeline clock, its connections and the faults
/// armed against it. An actor, so a mid-stream subscribe (snapshot, then live frames) can never
/// interleave with a frame going out.
actor SimulatedVenue {
    let venue: Venue
    let timeline: Timeline
    let wsFrameCount: Int
    let speed: Double
    /// Set when the timeline loops: how later passes rewrite the frames.
    let loop: LoopPlan?
    var model: any VenueModel
    let clock = ContinuousClock()
    /// The venue's time on its capture's timeline (``ExchangeSimulator/receiveClock(venue:)``).
    nonisolated let timelineClock: TimelineClock

    // Timeline state.
    var position = 0
    /// The current pass over the timeline (0 = the capture as recorded).
    var pass = 0
    /// The pass the timeline starts with (0 unless it continues after earlier data, see `init`).
    nonisolated let firstPass: Int
    var passWaiters: [(pass: Int, continuation: CheckedContinuation<Void, Never>)] = []
    var start: ContinuousClock.Instant?
    var finished = false
    var emitted: [EmittedFrame] = []
    /// Frames emitted so far (the log may hold fewer, see `logLimit`).
    var emittedTotal = 0
    /// Most frames kept in `emitted` (nil = all): a looping demo runs for hours.
    var logLimit: Int?
    var timelineTask: Task<Void, Never>?
    var finishWaiters: [CheckedContinuation<Void, Never>] = []

    // Connections.
    struct Connection {
        var output: AsyncStream<Outbound>.Continuation
        var subscribed = false
        /// Subscribed while the venue was silent: streaming starts when the silence ends.
        var pendingSubscribe = false
        /// Topics the client unsubscribed: their frames are not sent to it until it subscribes again.
        var unsubscribed: Set<StreamTopic> = []
    }
    var connections: [Int: Connection] = [:]
    var nextConnectionID = 1
    var connectionsAccepted = 0
    var subscribeRequests = 0

    // Faults.
    var silentUntil: ContinuousClock.Instant?
    var dropDeltas: [String?] = []
    var dropFrames = 0
    var corruptions: [String?] = []
    var refusals = 0
    var restDelay: Duration = .zero

    /// `after`: a looping timeline starts with its first pass that begins after this time (a
    /// restarted demo continues past the data its earlier runs stored, ids and times included).
    init(
        venue: Venue, timeline: Timeline, model: any VenueModel, speed: Double, loop: Bool = false, logLimit: Int? = nil,
        after: Int64? = nil
    ) {
        self.logLimit = logLimit
        self.venue = venue
        self.timeline = timeline
        self.wsFrameCount = timeline.wsFrames.count
        self.speed = speed
        let plan = loop && !timeline.entries.isEmpty ? LoopPlan(venue: venue, entries: timeline.entries) : nil
        self.loop = plan
        let origin = timeline.entries.first?.receiveTime ?? 0
        var first = 0
        if let plan, let after, after >= origin { first = Int((after - origin) / plan.span) + 1 }
        firstPass = first
        pass = first
        self.timelineClock = TimelineClock(origin: origin + Int64(first) * (plan?.span ?? 0), speed: speed)
        var m = model
        if var p = m as? any RESTPrescanning {
            // The recorded snapshot answers REST until the timeline reaches it: as that pass has it.
            for (url, body) in timeline.restLines { p.prescanREST(url: url, body: plan?.rewrite(body, url: url, pass: first) ?? body) }
            m = p
        }
        self.model = m
    }

    // MARK: Connections

    func connect() -> (id: Int, output: AsyncStream<Outbound>) {
        let id = nextConnectionID
        nextConnectionID += 1
        connectionsAccepted += 1
        let (stream, continuation) = AsyncStream<Outbound>.makeStream()
        connections[id] = Connection(output: continuation)
        return (id, stream)
    }

    func disconnect(_ id: Int) {
        connections.removeValue(forKey: id)?.output.finish()
    }

    func send(_ id: Int, _ text: String) {
        connections[id]?.output.yield(.text(text))
    }

    /// A client's text frame.
    func received(_ id: Int, text: String) {
        guard connections[id] != nil else { return }
        switch model.classify(clientText: text) {
        case .subscribe(let topics): subscribe(id, text, topics)
        case .unsubscribe(let topics): connections[id]!.unsubscribed.formUnion(topics)
        case .ping(let reply): if !isSilent { send(id, reply) }
        case .other: break
        }
    }

    func subscribe(_ id: Int, _ text: String, _ topics: [StreamTopic]) {
        if refusals > 0 {
            refusals -= 1
            send(id, model.subscriptionError(for: text))
            return
        }
        subscribeRequests += 1
        guard let c = connections[id] else { return }
        // Topics unsubscribed earlier resume; their books start over from a snapshot, as on the venue.
        let resumed = c.unsubscribed.intersection(topics)
        connections[id]!.unsubscribed.subtract(resumed)
        if c.subscribed, !isSilent {
            let books = Set(resumed.filter { $0.channel == .book }.map(\.symbol))
            if !books.isEmpty, emittedTotal > 0 { for frame in model.snapshotFrames(symbols: books) { send(id, frame) } }
        }
        // Only the first subscribe of a connection starts its stream; later ones add nothing else
        // because every frame of the venue goes to every subscribed connection.
        guard !c.subscribed, !c.pendingSubscribe else { return }
        if isSilent {
            connections[id]!.pendingSubscribe = true
            return
        }
        activate(id)
    }

    /// Starts streaming to a connection: from position 0 when the timeline has not emitted a frame
    /// yet, else the model's current snapshots first, then live frames.
    func activate(_ id: Int) {
        guard connections[id] != nil else { return }
        if start == nil {
            startTimeline()
        } else if emittedTotal > 0 {
            for frame in model.snapshotFrames() { send(id, frame) }
        }
        connections[id]!.subscribed = true
        connections[id]!.pendingSubscribe = false
    }

    func activatePendingIfAwake() {
        guard !isSilent else { return }
        for (id, c) in connections where c.pendingSubscribe { activate(id) }
    }

    // MARK: Timeline

    /// Starts the clock (the first subscribe does this; also callable directly).
    func startTimeline() {
        guard start == nil else { return }
        start = clock.now
        timelineClock.start(at: start!)
        timelineTask = Task { await self.run() }
    }

    func run() async {
        let entries = timeline.entries
        let t0 = (entries.first?.receiveTime ?? 0) + Int64(firstPass) * (loop?.span ?? 0)
        var sinceYield = 0
        while !Task.isCancelled {
            if position == entries.count {
                // The end of a pass: a looping timeline starts over, moved on (see LoopPlan).
                guard loop != nil else { break }
                position = 0
                pass += 1
                resumePassWaiters()
            }
            if speed.isFinite {
                let time = entries[position].receiveTime + Int64(pass) * (loop?.span ?? 0)
                let offset = Double(time - t0) / speed
                let due = start! + .nanoseconds(Int64(offset))
                if due > clock.now {
                    sinceYield = 0
                    try? await Task.sleep(until: due, tolerance: .milliseconds(1), clock: clock)
                    continue
                }
            }
            // Rewritten only when due (a pass's copy is made frame by frame, never held whole).
            let played: TimelineEntry? = loop == nil ? entries[position] : loop!.entry(entries[position], index: position, pass: pass)
            guard let entry = played else {
                position += 1
                continue
            }
            timelineClock.passed(next: nextTime(after: position, entries))
            process(entry)
            position += 1
            sinceYield += 1
            // Between frames at full speed, and now and then in a due batch, let clients in.
            if !speed.isFinite || sinceYield >= 64 {
                sinceYield = 0
                await Task.yield()
            }
        }
        finished = true
        for w in finishWaiters { w.resume() }
        finishWaiters.removeAll()
        // No further pass will come (stopped, or not looping).
        for w in passWaiters { w.continuation.resume() }
        passWaiters.removeAll()
    }

    /// The time of the entry after `position` (the next pass's first when looping), nil at the end.
    func nextTime(after position: Int, _ entries: [TimelineEntry]) -> Int64? {
        if position + 1 < entries.count { return entries[position + 1].receiveTime + Int64(pass) * (loop?.span ?? 0) }
        guard let loop, let first = entries.first else { return nil }
        return first.receiveTime + Int64(pass + 1) * loop.span
    }

    func resumePassWaiters() {
        let due = passWaiters.filter { $0.pass <= pass }
        passWaiters.removeAll { $0.pass <= pass }
        for w in due { w.continuation.resume() }
    }

    /// Returns once the timeline has started pass `k` (at once if it has).
    func waitForPass(_ k: Int) async {
        if pass >= k || finished { return }
        await withCheckedContinuation { passWaiters.append((k, $0)) }
    }

    func process(_ entry: TimelineEntry) {
        switch entry.kind {
        case .rest(let url, let body):
            model.observeREST(url: url, body: body)
        case .ws(let text):
            let role = model.observe(frame: text)
            activatePendingIfAwake()
            var delivery = EmittedFrame.Delivery.sent
            var out = text
            if isSilent {
                delivery = .silenced
            } else if dropFrames > 0 {
                dropFrames -= 1
                delivery = .dropped
            } else if case .bookDelta(let symbol) = role, let i = dropDeltas.firstIndex(where: { $0 == nil || $0 == symbol }) {
                dropDeltas.remove(at: i)
                delivery = .dropped
            } else if let i = corruptions.firstIndex(where: { $0 == nil || $0 == Self.bookSymbol(of: role) }),
                let corrupted = model.corruptingChecksum(text)
            {
                corruptions.remove(at: i)
                out = corrupted
                delivery = .corrupted(text: corrupted)
            }
            var recipients = 0
            if delivery != .dropped && delivery != .silenced {
                if connections.values.contains(where: \.subscribed) { timelineClock.sending(out, time: entry.receiveTime) }
                let topic = Self.topic(of: role)
                for c in connections.values where c.subscribed {
                    if let topic, c.unsubscribed.contains(topic) { continue }
                    c.output.yield(.text(out))
                    recipients += 1
                }
            }
            emitted.append(
                EmittedFrame(
                    index: emittedTotal, receiveTime: UnixNanos(entry.receiveTime), text: text, role: role,
                    delivery: delivery, recipients: recipients, pass: pass))
            emittedTotal += 1
            if let logLimit, emitted.count > logLimit { emitted.removeFirst(emitted.count - logLimit / 2) }
        }
    }

    /// The symbol whose book a frame carries (nil for trades and other frames).
    static func bookSymbol(of role: FrameRole) -> String? {
        switch role {
        case .bookSnapshot(let symbol), .bookDelta(let symbol): symbol
        case .trade, .other: nil
        }
    }

    static func topic(of role: FrameRole) -> StreamTopic? {
        switch role {
        case .bookSnapshot(let symbol), .bookDelta(let symbol): StreamTopic(.book, symbol)
        case .trade(let symbol, _): StreamTopic(.trades, symbol)
        case .other: nil
        }
    }

    func waitUntilFinished() async {
        if finished { return }
        await withCheckedContinuation { finishWaiters.append($0) }
    }

    func stop() {
        timelineTask?.cancel()
        for (_, c) in connections { c.output.finish() }
        connections.removeAll()
    }

    // MARK: Faults

    var isSilent: Bool {
        guard let until = silentUntil else { return false }
        return clock.now < until
    }

    func closeAll(reason: String) {
        for (_, c) in connections {
            c.output.yield(.close(reason))
            c.output.finish()
        }
        connections.removeAll()
    }

    func goSilent(for duration: Duration) {
        let until = clock.now + duration
        silentUntil = until
        Task {
            try? await Task.sleep(until: until, clock: clock)
            self.activatePendingIfAwake()
        }
    }

    func dropNextBookDelta(symbol: String?) { dropDeltas.append(symbol) }
    func dropNextFrames(count: Int) { dropFrames += max(0, count) }
    func corruptNextChecksum(symbol: String?) { corruptions.append(symbol) }
    func refuseSubscriptions(count: Int) { refusals += max(0, count) }
    func setRESTDelay(_ d: Duration) { restDelay = d }

    func sendToAll(_ text: String) {
        for c in connections.values { c.output.yield(.text(text)) }
    }

    // MARK: REST and ground truth

    func rest(path: String, query: [String: String]) -> String? {
        model.rest(path: path, query: query)
    }

    var stats: VenueStats {
        VenueStats(
            connectionsAccepted: connectionsAccepted, openConnections: connections.count,
            subscribedConnections: connections.values.filter(\.subscribed).count, subscribeRequests: subscribeRequests,
            framesEmitted: emittedTotal, totalFrames: wsFrameCount, started: start != nil, finished: finished,
            pass: pass)
    }
}

/// Counters of one simulated venue.
public struct VenueStats: Sendable, Equatable {
    /// Websocket connections accepted since start (reconnects count).
    public var connectionsAccepted: Int
    public var openConnections: Int
    public var subscribedConnections: Int
    /// Subscribe requests accepted (refused ones are not counted).
    public var subscribeRequests: Int
    /// Websocket frames the timeline has passed so far.
    public var framesEmitted: Int
    /// Websocket frames in the timeline.
    public var totalFrames: Int
    public var started: Bool
    /// The timeline emitted its last frame (never, when it loops).
    public var finished: Bool
    /// The pass over the timeline now playing: 0 = the capture as recorded; a looping venue counts
    /// up each time it starts over.
    public var pass: Int = 0
}
