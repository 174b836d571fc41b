public import Feeds
import Hummingbird
import HummingbirdWebSocket
public import Logging
public import MarketCore
import NIOCore
import ServiceLifecycle
import NIOWebSocket
import Synchronization

/// A local exchange: plays recorded captures to real websocket clients and answers REST on
/// 127.0.0.1, with fault injection. The "fake exchange" of the tests and of `gateway demo`.
///
/// Each venue has its own timeline (its captures' `ws` frames and `rest` lines merged by
/// `recv_ns`). It starts when the first client subscribes and then runs on its own clock, whether
/// or not anybody is connected: frame *i* is due at `start + (recv_ns_i − recv_ns_0) / speed`.
/// Every due frame goes to the venue's model first (the exchange's true state moves on) and then,
/// unless a fault says otherwise, to every subscribed connection of the venue as a text frame
/// with the original bytes. When the timeline ends, connections stay open and quiet — unless the
/// simulator loops (`loop: true`): then the timeline starts over, each later pass a continuation of
/// the one before (times, trade ids and sequence numbers moved on; see `LoopPlan`).
///
/// Routes: websocket `GET /<venue-id>/**` (any path after the venue id) and REST
/// `GET /<venue-id>/<path>?query`, answered by the venue model (200 + JSON, or 404).
public final class ExchangeSimulator: Sendable {
    /// Bind address (always a local one).
    public let host: String
    /// Frames per recorded second: 1 = real time, 20 = twenty times faster; `.infinity` = as fast
    /// as possible, yielding between frames.
    public let speed: Double
    /// Largest websocket frame sent or accepted (Binance snapshots and Kraken 1000-level books are large).
    public let maxFrameSize: Int
    /// Whether venues start their timeline over when it ends (per venue override in ``addVenue``).
    /// Pass 0 sends the captures' original bytes; pass k ≥ 1 the same frames with times, trade ids
    /// and sequence numbers moved on so that the stream continues without a gap or a duplicate.
    public let loop: Bool
    /// Most frames kept per venue in the ground-truth log (``emittedFrames(venue:)``); nil = all.
    /// A long looping run (the demo) needs a bound.
    public let frameLogLimit: Int?
    let requestedPort: Int
    let logger: Logger
    let venues = Mutex<[Venue: SimulatedVenue]>([:])
    let server = Mutex<ServerState>(ServerState())

    struct ServerState {
        var port: Int?
        var task: Task<Void, Never>?
        var group: ServiceGroup?
    }

    public init(
        speed: Double = 1, host: String = "127.0.0.1", port: Int = 0, maxFrameSize: Int = 16 << 20, loop: Bool = false,
        frameLogLimit: Int? = nil, logger: Logger? = nil
    ) {
        precondition(speed > 0, "speed must be positive")
        self.speed = speed
        self.frameLogLimit = frameLogLimit
        self.loop = loop
        self.host = host
        self.requestedPort = port
        self.maxFrameSize = maxFrameSize
        if let logger {
            self.logger = logger
        } else {
            var l = Logger(label: "exchange-simulator")
            l.logLevel = .warning
            self.logger = l
        }
    }

    // MARK: Setup

    /// Adds a venue playing `captures` (`.jsonl`/`.jsonl.gz`; only lines of `venue` are used).
    /// `model` defaults to the built-in one (``VenueModels/make(_:)``); `speed` and `loop` to the simulator's.
    /// `continuingAfter`: a looping venue starts with the first pass of its timeline that begins
    /// after this time, so its trade ids and times follow data stored from an earlier run (a
    /// restarted `gateway demo`); ignored when the venue does not loop. Returns the first pass.
    @discardableResult
    public func addVenue(
        _ venue: Venue, captures: [String], model: (any VenueModel)? = nil, speed: Double? = nil, loop: Bool? = nil,
        continuingAfter time: UnixNanos? = nil
    ) throws -> Int {
        guard let model = model ?? VenueModels.make(venue) else {
            throw SimulatorError("no venue model for \(venue.id): pass one to addVenue")
        }
        let timeline = try Timeline.load(venue: venue, paths: captures)
        let simulated = SimulatedVenue(
            venue: venue, timeline: timeline, model: model, speed: speed ?? self.speed, loop: loop ?? self.loop,
            logLimit: frameLogLimit, after: time?.rawValue)
        venues.withLock { $0[venue] = simulated }
        return simulated.firstPass
    }

    /// The venue's time on its capture's timeline, for a live feed's receive stamps: records then
    /// carry the times the recording has (plus delivery), so candles close as they do in replay.
    public func receiveClock(venue: Venue) -> ReceiveClock? {
        simulated(venue)?.timelineClock.receiveClock
    }

    /// The venues added so far.
    public var venueIDs: [Venue] { venues.withLock { $0.keys.sorted() } }

    func simulated(_ venue: Venue) -> SimulatedVenue? { venues.withLock { $0[venue] } }

    // MARK: Server

    /// Binds and starts serving; returns once the port is known (see ``port``).
    public func start() async throws {
        let (ports, portSink) = AsyncThrowingStream<Int, any Error>.makeStream()
        let app = makeApplication { port in portSink.yield(port) }
        // In a service group of its own, so stop() can shut the server down gracefully (a
        // cancelled Hummingbird server logs an error for the connections it was waiting on).
        let group = ServiceGroup(services: [app], gracefulShutdownSignals: [], logger: logger)
        let task = Task {
            do {
                try await group.run()
                portSink.finish()
            } catch {
                portSink.finish(throwing: error)
            }
        }
        server.withLock {
            $0.task = task
            $0.group = group
        }
        for try await port in ports {
            server.withLock { $0.port = port }
            return
        }
        throw SimulatorError("the simulator's server stopped before it was listening")
    }

    /// Closes every connection, stops the timelines and the server.
    public func stop() async {
        for v in venues.withLock({ Array($0.values) }) {
            await v.closeAll(reason: "simulator stopped")
            await v.stop()
        }
        let (task, group) = server.withLock { s -> (Task<Void, Never>?, ServiceGroup?) in
            defer {
                s.task = nil
                s.group = nil
            }
            return (s.task, s.group)
        }
        await group?.triggerGracefulShutdown()
        guard let task else { return }
        // Bounded: the server was seen (rarely) to keep waiting on a cancelled child channel; a
        // stop must not hang the caller. The task ends with the process at worst.
        // (Unstructured racers: a task group would wait for the stuck one.)
        let (outcome, report) = AsyncStream<Bool>.makeStream()
        Task { await task.value; report.yield(true) }
        let timer = Task { try? await Task.sleep(for: .seconds(5)); report.yield(false) }
        var done = false
        for await d in outcome { done = d; break }
        timer.cancel()
        if !done {
            logger.warning("simulator server did not stop within 5 s; cancelling it")
            task.cancel()
        }
    }

    /// The bound port (after ``start()``; 0 before).
    public var port: Int { server.withLock { $0.port ?? 0 } }

    /// `ws://127.0.0.1:PORT/<venue>/<path>`.
    public func wsURL(venue: Venue, path: String = "") -> String {
        "ws://\(host):\(port)/\(venue.id)/" + (path.hasPrefix("/") ? String(path.dropFirst()) : path)
    }

    /// `http://127.0.0.1:PORT/<venue>`: REST paths hang off it (`/api/v3/depth?...`).
    public func restBaseURL(venue: Venue) -> String {
        "http://\(host):\(port)/\(venue.id)"
    }

    func makeApplication(onRunning: @escaping @Sendable (Int) -> Void) -> some ApplicationProtocol {
        let router = Router()
        router.get("{venue}/**") { request, _ in await self.restResponse(request) }

        let wsRouter = Router(context: BasicWebSocketRequestContext.self)
        for path in ["{venue}", "{venue}/**"] {
            wsRouter.ws(
                RouterPath(path),
                shouldUpgrade: { request, _ in
                    self.venue(inPath: request.uri.path) == nil ? .dontUpgrade : .upgrade([:])
                },
                onUpgrade: { inbound, outbound, context in
                    guard let v = self.venue(inPath: context.request.uri.path) else { return }
                    await self.session(v, inbound: inbound, outbound: outbound)
                })
        }
        var wsConfiguration = WebSocketServerConfiguration(maxFrameSize: maxFrameSize)
        wsConfiguration.validateUTF8 = false
        return Application(
            router: router,
            server: .http1WebSocketUpgrade(webSocketRouter: wsRouter, configuration: .init(ws: wsConfiguration)),
            configuration: ApplicationConfiguration(address: .hostname(host, port: requestedPort), serverName: nil),
            onServerRunning: { channel in onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// The venue named by a path's first component.
    func venue(inPath path: String) -> SimulatedVenue? {
        guard let first = path.split(separator: "/").first else { return nil }
        return simulated(Venue(String(first)))
    }

    /// One websocket connection: a writer draining the venue's output for it, and a reader
    /// handing client text frames to the venue. Either side ending ends the session.
    func session(_ venue: SimulatedVenue, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        let (id, output) = await venue.connect()
        let maxSize = maxFrameSize
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await item in output {
                    switch item {
                    case .text(let text):
                        do { try await outbound.writeTextMessage(text) } catch { return }
                    case .close(let reason):
                        try? await outbound.close(.goingAway, reason: reason)
                        return
                    }
                }
            }
            group.addTask {
                do {
                    for try await message in inbound.messages(maxSize: maxSize) {
                        if case .text(let text) = message { await venue.received(id, text: text) }
                    }
                } catch {}
            }
            await group.next()
            group.cancelAll()
        }
        await venue.disconnect(id)
    }

    func restResponse(_ request: Request) async -> Response {
        let parts = request.uri.path.split(separator: "/")
        guard let first = parts.first, let v = simulated(Venue(String(first))) else {
            return Self.json(.notFound, #"{"error":"unknown venue"}"#)
        }
        let path = "/" + parts.dropFirst().joined(separator: "/")
        var query: [String: String] = [:]
        for (k, value) in request.uri.queryParameters { query[String(k)] = String(value) }
        let delay = await v.restDelay
        if delay > .zero { try? await Task.sleep(for: delay) }
        guard let body = await v.rest(path: path, query: query) else {
            return Self.json(.notFound, #"{"error":"not found","path":\#(JSONText.quoted(path))}"#)
        }
        return Self.json(.ok, body)
    }

    static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    // MARK: Faults

    /// Closes every websocket of the venue (close code 1001 "going away"), as an exchange
    /// disconnect does. Clients may reconnect; the timeline keeps running meanwhile.
    public func closeConnections(venue: Venue) async {
        await simulated(venue)?.closeAll(reason: "simulated disconnect")
    }

    /// For `duration` the venue's sockets stay open but nothing is sent: frames due meanwhile
    /// are missed (the model still takes them in), application-level pings go unanswered, and a
    /// subscribe made meanwhile starts streaming only when the silence ends. Websocket-level
    /// pings are still answered by the websocket layer.
    public func goSilent(venue: Venue, for duration: Duration) async {
        await simulated(venue)?.goSilent(for: duration)
    }

    /// The next `bookDelta` frame (of `symbol` when given, in the model's symbol spelling) is sent
    /// to nobody. The model still takes it in: the exchange's book moved on without the client.
    public func dropNextBookDelta(venue: Venue, symbol: String? = nil) async {
        await simulated(venue)?.dropNextBookDelta(symbol: symbol)
    }

    /// The next `count` frames, whatever they are, are sent to nobody (a lost span). On
    /// Coinbase `level2`, which has no sequence numbers, a lost span with a `match` in it is how
    /// the gap shows (trade ids jump).
    public func dropNextFrames(venue: Venue, count: Int) async {
        await simulated(venue)?.dropNextFrames(count: count)
    }

    /// The next frame that carries a checksum (``VenueModel/corruptingChecksum(_:)`` non-nil; of
    /// `symbol`'s book when given, in the model's symbol spelling) is sent with its checksum altered;
    /// its book content is unchanged.
    public func corruptNextChecksum(venue: Venue, symbol: String? = nil) async {
        await simulated(venue)?.corruptNextChecksum(symbol: symbol)
    }

    /// The next `count` subscribe requests are answered with the venue's subscription error
    /// (``VenueModel/subscriptionError(for:)``) and get no data; a later subscribe on the same
    /// connection is served normally.
    public func refuseSubscriptions(venue: Venue, count: Int = 1) async {
        await simulated(venue)?.refuseSubscriptions(count: count)
    }

    /// Every REST answer of the venue waits `delay` first (`.zero` turns it off).
    public func setRESTDelay(venue: Venue, _ delay: Duration) async {
        await simulated(venue)?.setRESTDelay(delay)
    }

    /// Sends `text` to every open connection of the venue, subscribed or not (e.g. Binance's
    /// `{"e":"serverShutdown",...}` notice).
    public func sendToAll(venue: Venue, text: String) async {
        await simulated(venue)?.sendToAll(text)
    }

    // MARK: Timeline and ground truth

    /// Starts the venue's timeline without waiting for a subscriber.
    public func startTimeline(venue: Venue) async {
        await simulated(venue)?.startTimeline()
    }

    /// Returns when the venue's timeline has emitted its last frame (waits for it to start). A
    /// looping timeline has no last frame: this returns only once the simulator stops.
    public func waitUntilFinished(venue: Venue) async {
        await simulated(venue)?.waitUntilFinished()
    }

    /// Returns once the venue's timeline has started pass `pass` (0 = the capture as recorded), or
    /// has finished (a venue that does not loop never reaches pass 1).
    public func waitForPass(venue: Venue, _ pass: Int) async {
        await simulated(venue)?.waitForPass(pass)
    }

    /// Every frame the timeline emitted so far, in order, with its role and fate.
    public func emittedFrames(venue: Venue) async -> [EmittedFrame] {
        await simulated(venue)?.emitted ?? []
    }

    /// The websocket frames of the venue's captures in timeline order (what a client subscribed
    /// from the start would receive with no faults).
    public func timelineFrames(venue: Venue) -> [String] {
        simulated(venue)?.timeline.wsFrames ?? []
    }

    /// A copy of the venue model's current state (the exchange's true books and trades).
    public func model(venue: Venue) async -> (any VenueModel)? {
        await simulated(venue)?.model
    }

    /// Connection, subscription and timeline counters of the venue.
    public func stats(venue: Venue) async -> VenueStats? {
        await simulated(venue)?.stats
    }

    /// Websocket connections the venue accepted since start (reconnects count).
    public func connectionCount(venue: Venue) async -> Int {
        await simulated(venue)?.connectionsAccepted ?? 0
    }
}

/// A simulator setup error.
public struct SimulatorError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
