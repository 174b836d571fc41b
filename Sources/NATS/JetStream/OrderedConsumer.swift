public import Logging
public import NIOCore
import Synchronization

/// Where an ordered consumer starts in the stream.
public enum DeliverFrom: Sendable, Equatable {
    /// The first message still in the stream.
    case all
    /// Only messages stored after the consumer is created.
    case new
    /// The last message, then new ones.
    case last
    /// The message with this stream sequence (or the next one still there), then on.
    case sequence(UInt64)
    /// The first message stored at or after this time (Unix nanoseconds), then on.
    case time(unixNanoseconds: Int64)
}

/// A message delivered by an ordered consumer.
public struct JetStreamMessage: Sendable, Equatable {
    public var subject: String
    public var headers: NATSHeaders?
    public var payload: ByteBuffer
    /// Its sequence in the stream.
    public var streamSequence: UInt64
    /// When the stream stored it (Unix nanoseconds).
    public var timestamp: Int64
    /// Messages after this one in the stream (matching the filter) when it was delivered: 0 means
    /// this was the newest, so history is caught up.
    public var pending: UInt64
}

/// The `$JS.ACK.…` reply subject of a JetStream delivery, which carries its position.
struct AckMetadata: Equatable {
    var stream: String
    var consumer: String
    var delivered: UInt64
    var streamSequence: UInt64
    var consumerSequence: UInt64
    var timestamp: Int64
    var pending: UInt64

    /// `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ns>.<pending>`, or the newer form with
    /// `<domain>.<account hash>` after `ACK` and a trailing token.
    init?(replySubject: String) {
        let tokens = replySubject.split(separator: ".", omittingEmptySubsequences: false)
        guard tokens.count >= 9, tokens[0] == "$JS", tokens[1] == "ACK" else { return nil }
        let o = tokens.count == 9 ? 2 : 4
        guard tokens.count >= o + 7,
            let delivered = UInt64(tokens[o + 2]), let sseq = UInt64(tokens[o + 3]), let cseq = UInt64(tokens[o + 4]),
            let ts = Int64(tokens[o + 5]), let pending = UInt64(tokens[o + 6])
        else { return nil }
        stream = String(tokens[o])
        consumer = String(tokens[o + 1])
        self.delivered = delivered
        streamSequence = sseq
        consumerSequence = cseq
        timestamp = ts
        self.pending = pending
    }
}

/// Reads a stream in order from a chosen point, then follows new messages, with no gaps and no duplicates.
///
/// It is an ephemeral push consumer (no acks, flow control, idle heartbeats, in memory, one replica)
/// that the client re-creates from the last stream sequence it delivered whenever it sees a gap in
/// the consumer sequence, a heartbeat that disagrees, or no heartbeat for three intervals (its
/// server died). That is why it survives the loss of a server: the stream has replicas, the consumer
/// need not. Iterate it once; the iteration throws when the stream is gone or the client closed.
public final class OrderedConsumer: AsyncSequence, Sendable {
    public typealias Element = JetStreamMessage

    enum Event: Sendable {
        case message(generation: UInt64, NATSMessage)
        case stalled(generation: UInt64)
    }

    struct Shared: Sendable {
        var generation: UInt64 = 0
        var sid: UInt64?
        var consumerName: String?
        /// Whether the watchdog may declare a stall (not while re-creating).
        var watching = false
        var lastActivity = NIODeadline.now()
        var watchdog: RepeatedTask?
        var closed = false
        /// Matching messages the first consumer had to deliver when it was created.
        var initialPending: UInt64 = 0
        /// Deliveries dropped because their stream sequence was already delivered.
        var duplicatesSkipped: UInt64 = 0
        /// Server consumers created after the first (gap, disagreeing heartbeat, stall, 409).
        var restarts: UInt64 = 0
    }

    let jetStream: JetStream
    /// The stream read.
    public let stream: String
    let filterSubject: String?
    let deliverFrom: DeliverFrom
    let heartbeat: Duration
    let logger: Logger
    let events: AsyncThrowingStream<Event, any Error>
    let continuation: AsyncThrowingStream<Event, any Error>.Continuation
    let shared = Mutex(Shared())

    init(
        jetStream: JetStream, stream: String, filterSubject: String?, deliverFrom: DeliverFrom, heartbeat: Duration, bufferSize: Int, logger: Logger
    ) async throws {
        self.jetStream = jetStream
        self.stream = stream
        self.filterSubject = filterSubject
        self.deliverFrom = deliverFrom
        self.heartbeat = heartbeat
        self.logger = logger
        (events, continuation) = AsyncThrowingStream<Event, any Error>.makeStream(bufferingPolicy: .bufferingOldest(bufferSize))
        let generation = try await start(from: deliverFrom)
        precondition(generation == 1)
        let interval = timeAmount(heartbeat)
        let watchdog = jetStream.client.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [weak self] _ in
            self?.checkStalled()
        }
        shared.withLock { $0.watchdog = watchdog }
        continuation.onTermination = { [weak self] _ in self?.stop() }
    }

    deinit { stop() }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(consumer: self, base: events.makeAsyncIterator(), generation: 1, lastStreamSequence: 0)
    }

    /// Stops the consumer: no more messages; the server removes it once its inbox has no interest.
    public func close() {
        stop()
        continuation.finish()
    }

    /// Messages matching the filter that the stream held for this consumer when it was created
    /// (`num_pending`): once that many are delivered, what the stream held then is read.
    public var initialPending: UInt64 { shared.withLock { $0.initialPending } }

    /// Deliveries the consumer dropped because it had already delivered their stream sequence (a
    /// server can deliver one again after a stream leader change).
    public var duplicatesSkipped: UInt64 { shared.withLock { $0.duplicatesSkipped } }

    /// How many times the consumer was re-created on the server (its server died, it lost messages).
    public var restarts: UInt64 { shared.withLock { $0.restarts } }

    /// How long a re-create waits for `CONSUMER.CREATE`. A live cluster answers in milliseconds; no
    /// answer most often means the server placed the one-replica consumer on a peer that died and
    /// that the cluster has not yet noticed (nats-server 2.9 chooses among the stream's peers: in a
    /// probe, about half the creates sent 5–18 s after a stream leader was killed got no answer,
    /// and the next one often did). So it gives up early and tries again at once, rather than
    /// waiting the API's full 5 s and a back-off each time.
    static let recreateTimeout: Duration = .seconds(2)

    /// Closes the consumer and deletes it on the server at once (rather than after the server
    /// notices that its inbox lost interest). A consumer already gone is not an error.
    public func delete() async {
        let name = shared.withLock { $0.consumerName }
        close()
        guard let name else { return }
        do {
            try await jetStream.deleteConsumer(stream: stream, name: name)
        } catch let error as JetStreamError where error.errorCode == JetStreamError.consumerNotFound {
        } catch {
            logger.debug("nats ordered consumer delete failed", metadata: ["nats.consumer": "\(name)", "nats.error": "\(error)"])
        }
    }

    private func stop() {
        let (sid, watchdog) = shared.withLock { s -> (UInt64?, RepeatedTask?) in
            s.closed = true
            defer {
                s.sid = nil
                s.watchdog = nil
            }
            return (s.sid, s.watchdog)
        }
        watchdog?.cancel()
        if let sid { jetStream.client.unsubscribe(sid: sid) }
    }

    /// Subscribes a fresh inbox and creates a consumer delivering to it; returns its generation.
    /// `timeout` bounds the create call (the JetStream's own timeout when nil).
    func start(from position: DeliverFrom, timeout: Duration? = nil) async throws -> UInt64 {
        let client = jetStream.client
        let inbox = client.newInbox()
        let (generation, oldSID) = shared.withLock { s -> (UInt64, UInt64?) in
            s.generation += 1
            s.watching = false
            defer { s.sid = nil }
            return (s.generation, s.sid)
        }
        if let oldSID { client.unsubscribe(sid: oldSID) }
        let sid = try client.subscribe(subject: inbox) { [weak self] message in
            guard let self else { return }
            shared.withLock { $0.lastActivity = .now() }
            continuation.yield(.message(generation: generation, message))
        }
        let request = ConsumerCreateRequest(
            streamName: stream,
            config: ConsumerCreateRequest.Config(
                deliverSubject: inbox, deliverFrom: position, filterSubject: filterSubject, idleHeartbeat: heartbeat))
        do {
            var api = jetStream
            if let timeout { api.timeout = timeout }
            let info: ConsumerCreated = try await api.call("CONSUMER.CREATE.\(stream)", body: request)
            let closed = shared.withLock { s -> Bool in
                s.sid = sid
                s.consumerName = info.name
                if generation == 1 { s.initialPending = info.pending ?? 0 }
                s.watching = true
                s.lastActivity = .now()
                return s.closed
            }
            if closed { client.unsubscribe(sid: sid) }
            logger.debug("nats ordered consumer created", metadata: ["nats.stream": "\(stream)", "nats.consumer": "\(info.name)"])
        } catch {
            client.unsubscribe(sid: sid)
            throw error
        }
        return generation
    }

    private func checkStalled() {
        let generation = shared.withLock { s -> UInt64? in
            guard s.watching, NIODeadline.now() - s.lastActivity > timeAmount(heartbeat * 3) else { return nil }
            s.watching = false
            return s.generation
        }
        if let generation { continuation.yield(.stalled(generation: generation)) }
    }

    /// Delivers the stream's messages in order; re-creates the consumer when needed.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let consumer: OrderedConsumer
        var base: AsyncThrowingStream<Event, any Error>.AsyncIterator
        var generation: UInt64
        var cursor: OrderedCursor

        init(consumer: OrderedConsumer, base: AsyncThrowingStream<Event, any Error>.AsyncIterator, generation: UInt64, lastStreamSequence: UInt64) {
            self.consumer = consumer
            self.base = base
            self.generation = generation
            cursor = OrderedCursor(lastStreamSequence: lastStreamSequence)
        }

        public typealias Failure = any Error

        public mutating func next() async throws -> JetStreamMessage? { try await next(isolation: nil) }

        /// Stays on the caller's actor while messages are buffered (re-creating a consumer may hop).
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(any Error) -> JetStreamMessage? {
            while true {
                guard let event = try await base.next(isolation: actor) else { return nil }
                switch event {
                case .stalled(let g):
                    guard g == generation else { continue }
                    try await recreate(reason: "no heartbeat for \(consumer.heartbeat * 3)", isolation: actor)
                case .message(let g, let message):
                    guard g == generation else { continue }  // from a replaced consumer
                    if let status = message.status {
                        try await handleStatus(status, message, isolation: actor)
                        continue
                    }
                    guard let reply = message.replyTo, let meta = AckMetadata(replySubject: reply) else { continue }
                    switch cursor.accept(consumerSequence: meta.consumerSequence, streamSequence: meta.streamSequence) {
                    case .restart(let reason):
                        try await recreate(reason: reason, isolation: actor)
                        continue
                    case .duplicate:
                        consumer.shared.withLock { $0.duplicatesSkipped += 1 }
                        consumer.logger.debug(
                            "nats ordered consumer skipped a message it had delivered",
                            metadata: ["nats.stream": "\(consumer.stream)", "nats.sequence": "\(meta.streamSequence)"])
                        continue
                    case .deliver:
                        break
                    }
                    return JetStreamMessage(
                        subject: message.subject, headers: message.headers, payload: message.payload, streamSequence: meta.streamSequence,
                        timestamp: meta.timestamp, pending: meta.pending)
                }
            }
        }

        private mutating func handleStatus(_ status: Int, _ message: NATSMessage, isolation actor: isolated (any Actor)?) async throws {
            let client = consumer.jetStream.client
            switch status {
            case 100:
                // Flow control: answering when the reader gets here is what paces the server to the reader.
                if let reply = message.replyTo, !reply.isEmpty {
                    try? client.publish(subject: reply, payload: ByteBuffer())
                } else if let stalled = message.headers?["Nats-Consumer-Stalled"] {
                    try? client.publish(subject: stalled, payload: ByteBuffer())
                }
                if let last = message.headers?["Nats-Last-Consumer"], let n = UInt64(last), let reason = cursor.checkHeartbeat(lastConsumerSequence: n) {
                    try await recreate(reason: reason, isolation: actor)
                }
            case 409:
                // Consumer deleted or leadership changed.
                try await recreate(reason: "status 409 \(message.headers?.statusDescription ?? "")", isolation: actor)
            default:
                break
            }
        }

        private mutating func recreate(reason: String, isolation actor: isolated (any Actor)?) async throws {
            consumer.logger.info(
                "nats ordered consumer restarting", metadata: ["nats.stream": "\(consumer.stream)", "nats.reason": "\(reason)", "nats.after_sequence": "\(cursor.lastStreamSequence)"])
            var delay: Duration = .milliseconds(100)
            while true {
                try Task.checkCancellation()
                let position = cursor.restartPosition(else: consumer.deliverFrom)
                do {
                    generation = try await consumer.start(from: position, timeout: Swift.min(OrderedConsumer.recreateTimeout, consumer.jetStream.timeout))
                    consumer.shared.withLock { $0.restarts += 1 }
                    cursor.restarted()
                    return
                } catch let error as NATSError where error.code == .connectionClosed {
                    throw error
                } catch let error as JetStreamError where error.errorCode == JetStreamError.streamNotFound {
                    throw error
                } catch let error as NATSError where error.code == .timeout {
                    // Placed on a server that died: another try may land on a live one. No wait
                    // beyond the timeout already spent.
                    consumer.logger.debug("nats ordered consumer re-create timed out", metadata: ["nats.error": "\(error)"])
                } catch {
                    // JetStream is electing leaders or reconnecting: try again shortly.
                    consumer.logger.debug("nats ordered consumer re-create failed", metadata: ["nats.error": "\(error)"])
                    try await Task.sleep(for: delay)
                    delay = Swift.min(delay * 2, .seconds(2))
                }
            }
        }
    }
}

/// An ordered consumer's place in the stream and its rule for each delivery: consumer sequences
/// must follow one another (a gap means the server consumer is gone or lost messages, so start a new
/// one after the last stream sequence delivered), and stream sequences only rise (one already
/// delivered is dropped, whatever consumer delivers it).
struct OrderedCursor: Equatable {
    enum Verdict: Equatable {
        case deliver
        case duplicate
        case restart(reason: String)
    }

    var expectedConsumerSequence: UInt64 = 1
    /// The last stream sequence delivered (0: none yet).
    var lastStreamSequence: UInt64

    mutating func accept(consumerSequence: UInt64, streamSequence: UInt64) -> Verdict {
        guard consumerSequence == expectedConsumerSequence else {
            return .restart(reason: "consumer sequence \(consumerSequence), expected \(expectedConsumerSequence)")
        }
        expectedConsumerSequence += 1
        guard streamSequence > lastStreamSequence else { return .duplicate }
        lastStreamSequence = streamSequence
        return .deliver
    }

    /// A heartbeat's `Nats-Last-Consumer`: the reason to restart when it disagrees with what arrived.
    func checkHeartbeat(lastConsumerSequence n: UInt64) -> String? {
        n == expectedConsumerSequence - 1 ? nil : "heartbeat says consumer sequence \(n), delivered \(expectedConsumerSequence - 1)"
    }

    /// Where a new server consumer starts: after the last delivered message, or where the reader asked.
    func restartPosition(else initial: DeliverFrom) -> DeliverFrom {
        lastStreamSequence > 0 ? .sequence(lastStreamSequence + 1) : initial
    }

    /// A new server consumer numbers its deliveries from 1.
    mutating func restarted() { expectedConsumerSequence = 1 }
}

struct ConsumerCreateRequest: Encodable {
    struct Config: Encodable {
        var deliverSubject: String
        var deliverFrom: DeliverFrom
        var filterSubject: String?
        var idleHeartbeat: Duration

        enum CodingKeys: String, CodingKey {
            case deliverSubject = "deliver_subject", deliverPolicy = "deliver_policy", optStartSeq = "opt_start_seq"
            case optStartTime = "opt_start_time", ackPolicy = "ack_policy", maxDeliver = "max_deliver", filterSubject = "filter_subject"
            case replayPolicy = "replay_policy", flowControl = "flow_control", idleHeartbeat = "idle_heartbeat"
            case memoryStorage = "mem_storage", replicas = "num_replicas"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(deliverSubject, forKey: .deliverSubject)
            switch deliverFrom {
            case .all: try c.encode("all", forKey: .deliverPolicy)
            case .new: try c.encode("new", forKey: .deliverPolicy)
            case .last: try c.encode("last", forKey: .deliverPolicy)
            case .sequence(let seq):
                try c.encode("by_start_sequence", forKey: .deliverPolicy)
                try c.encode(max(seq, 1), forKey: .optStartSeq)
            case .time(let nanos):
                try c.encode("by_start_time", forKey: .deliverPolicy)
                try c.encode(rfc3339(unixNanoseconds: nanos), forKey: .optStartTime)
            }
            try c.encode("none", forKey: .ackPolicy)
            try c.encode(1, forKey: .maxDeliver)
            try c.encodeIfPresent(filterSubject, forKey: .filterSubject)
            try c.encode("instant", forKey: .replayPolicy)
            try c.encode(true, forKey: .flowControl)
            try c.encode(idleHeartbeat.nanoseconds, forKey: .idleHeartbeat)
            try c.encode(true, forKey: .memoryStorage)
            try c.encode(1, forKey: .replicas)
        }
    }

    var streamName: String
    var config: Config

    enum CodingKeys: String, CodingKey { case streamName = "stream_name", config }
}

struct ConsumerCreated: Decodable {
    var name: String
    /// Messages matching the filter still to deliver.
    var pending: UInt64?

    enum CodingKeys: String, CodingKey { case name, pending = "num_pending" }
}

extension JetStream {
    /// Deletes a consumer of `stream`.
    public func deleteConsumer(stream: String, name: String) async throws {
        struct Deleted: Decodable { var success: Bool }
        _ = try await call("CONSUMER.DELETE.\(stream).\(name)", as: Deleted.self)
    }

    /// An ordered consumer on `stream` from `deliverFrom`, optionally only `filterSubject` (wildcards allowed).
    /// - Parameters:
    ///   - heartbeat: the server's idle heartbeat; three missed ones re-create the consumer. So a
    ///     consumer whose server died resumes after 3–4 heartbeats: a shorter one costs an idle
    ///     message per heartbeat and re-creates sooner under a stalled reader or event loop.
    ///   - bufferSize: deliveries held for a slow reader; overflowing it costs a re-create, not a message.
    /// - Throws: `JetStreamError` (`streamNotFound`), `NATSError` when the first consumer cannot be created.
    public func orderedConsumer(
        stream: String, filterSubject: String? = nil, deliverFrom: DeliverFrom = .all, heartbeat: Duration = .seconds(2), bufferSize: Int = 65_536,
        logger: Logger
    ) async throws -> OrderedConsumer {
        try await OrderedConsumer(
            jetStream: self, stream: stream, filterSubject: filterSubject, deliverFrom: deliverFrom, heartbeat: heartbeat, bufferSize: bufferSize,
            logger: logger)
    }
}
