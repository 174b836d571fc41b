public import NATS
public import NIOCore

/// The acked publisher's outstanding publishes (docs/nats.md "Acked ingest publishes"), as a value
/// type so the resend rules are tested without NATS, tasks or sleeps; the caller passes the time.
///
/// Entries stay in bus order until the stream acks them. Each names the previous entry of the same
/// stream (`Nats-Expected-Last-Msg-Id`), so the stream stores a frame only right after its
/// predecessor: a frame lost on the way (server killed, leader election) makes the ones behind it
/// fail, and the resend of everything unacked, in order, with the same ids, stores each once, in order.
public struct ClusterPublishWindow: Sendable {
    /// One publish to make: reply to `<inbox>.<number>.<attempt>`.
    public struct Send: Sendable, Equatable {
        public let number: UInt64
        public let attempt: UInt32
        public let subject: String
        public let messageID: String
        /// `Nats-Expected-Last-Msg-Id`; nil for the first frame of a stream here and for the oldest
        /// unacked frame of a stream on a resend (its predecessor is already stored).
        public let expectedLast: String?
        public let payload: ByteBuffer
        public let headers: NATSHeaders
    }

    struct Entry: Sendable {
        let number: UInt64
        let subject: String
        let stream: String
        let messageID: String
        let expectedLast: String?
        let payload: ByteBuffer
        let headers: NATSHeaders
        var attempt: UInt32 = 0
        var sentAt: ContinuousClock.Instant
        var acked = false
    }

    public let capacity: Int
    public let ackTimeout: Duration
    public let retryDelay: Duration
    private var entries: [Entry] = []
    /// Index of the first live entry in `entries` (acked ones before it are gone; compacted now and then).
    private var head = 0
    private var nextNumber: UInt64 = 1
    private var lastID: [String: String] = [:]
    private var resendAt: ContinuousClock.Instant?

    /// Frames refused because the window was full (the caller drops them: edges see a gap).
    public private(set) var overflowed = 0
    public private(set) var resent = 0
    public private(set) var acked = 0
    /// Unacked frames forgotten by ``dropAll()``.
    public private(set) var dropped = 0

    public init(capacity: Int = 8192, ackTimeout: Duration = .seconds(2), retryDelay: Duration = .milliseconds(100)) {
        precondition(capacity > 0)
        self.capacity = capacity
        self.ackTimeout = ackTimeout
        self.retryDelay = retryDelay
    }

    /// Entries not yet acked.
    public var unacked: Int { entries[head...].reduce(0) { $0 + ($1.acked ? 0 : 1) } }
    /// Entries held (unacked, and acked ones behind an unacked one).
    public var held: Int { entries.count - head }

    /// Takes a frame. Nil when the window is full (counted in ``overflowed``); otherwise what to publish now.
    public mutating func admit(
        subject: String, stream: String, messageID: String, payload: ByteBuffer, headers: NATSHeaders, now: ContinuousClock.Instant
    ) -> Send? {
        guard held < capacity else {
            overflowed += 1
            return nil
        }
        let e = Entry(
            number: nextNumber, subject: subject, stream: stream, messageID: messageID, expectedLast: lastID[stream], payload: payload,
            headers: headers, sentAt: now)
        nextNumber += 1
        lastID[stream] = messageID
        entries.append(e)
        return send(e, dropExpected: false)
    }

    /// The next frame of every stream is sent without a predecessor (another node may have published
    /// in between: a lease takeover).
    public mutating func breakChain() { lastID.removeAll() }

    /// Forgets every held frame, unsent and unresent: this node lost the ingest lease, so its frames
    /// must not reach the stream behind the new leader's (docs/nats.md "Ingest failover"). Answers
    /// still on their way find nothing; the next frame starts a new chain. Returns the unacked frames
    /// dropped (counted in ``dropped``).
    @discardableResult
    public mutating func dropAll() -> Int {
        let n = unacked
        entries.removeAll()
        head = 0
        lastID.removeAll()
        resendAt = nil
        dropped += n
        return n
    }

    /// What the stream said to one publish.
    public enum Answer: Sendable, Equatable {
        /// Stored, or a duplicate of a stored one.
        case stored
        /// Refused because the stream's last message was not its predecessor (`Nats-Expected-Last-Msg-Id`).
        case outOfOrder
        /// Any other error (no stream leader, no responders, …).
        case failed
    }

    /// The stream's answer to `number`'s `attempt`. Stored: done, whatever the attempt. A refusal
    /// of the latest attempt: everything unacked goes again after ``retryDelay`` (an answer to an
    /// older attempt is about a send already superseded); at once when the refused frame is its
    /// stream's oldest unacked one and was refused as out of order: its predecessor is stored, so
    /// another node's publish came in between (the services node's signals share `MG_MARKET`),
    /// nothing was lost.
    public mutating func answered(number: UInt64, attempt: UInt32, _ answer: Answer, now: ContinuousClock.Instant) {
        guard let i = index(of: number), !entries[i].acked else { return }
        switch answer {
        case .stored:
            entries[i].acked = true
            acked += 1
            while head < entries.count, entries[head].acked { head += 1 }
            if head > 1024, head * 2 > entries.count {
                entries.removeFirst(head)
                head = 0
            }
        case .outOfOrder, .failed:
            guard attempt == entries[i].attempt else { return }
            let stream = entries[i].stream
            let oldest = !entries[head..<i].contains { !$0.acked && $0.stream == stream }
            scheduleResend(answer == .outOfOrder && oldest ? now : now + retryDelay)
        }
    }

    /// A publish could not be handed to the client (its buffer full, or disconnected): try again soon.
    public mutating func sendFailed(now: ContinuousClock.Instant) { scheduleResend(now + retryDelay) }

    /// The connection came back: what was in flight may be lost, so everything unacked goes again now.
    public mutating func reconnected(now: ContinuousClock.Instant) -> [Send] { resendAll(now: now) }

    /// Called now and then: resends everything unacked when a resend is due (an error) or the oldest
    /// unacked frame waited longer than ``ackTimeout``.
    public mutating func tick(now: ContinuousClock.Instant) -> [Send] {
        if let at = resendAt, at <= now { return resendAll(now: now) }
        if let oldest = entries[head...].first(where: { !$0.acked }), oldest.sentAt + ackTimeout <= now { return resendAll(now: now) }
        return []
    }

    private mutating func scheduleResend(_ at: ContinuousClock.Instant) {
        if resendAt.map({ at < $0 }) ?? true { resendAt = at }
    }

    private mutating func resendAll(now: ContinuousClock.Instant) -> [Send] {
        resendAt = nil
        var firstOfStream = Set<String>()
        var out: [Send] = []
        for i in head..<entries.count where !entries[i].acked {
            entries[i].attempt += 1
            entries[i].sentAt = now
            out.append(send(entries[i], dropExpected: firstOfStream.insert(entries[i].stream).inserted))
        }
        resent += out.count
        return out
    }

    private func send(_ e: Entry, dropExpected: Bool) -> Send {
        Send(
            number: e.number, attempt: e.attempt, subject: e.subject, messageID: e.messageID, expectedLast: dropExpected ? nil : e.expectedLast,
            payload: e.payload, headers: e.headers)
    }

    private func index(of number: UInt64) -> Int? {
        guard head < entries.count else { return nil }
        let first = entries[head].number
        guard number >= first else { return nil }
        let i = head + Int(number - first)
        return i < entries.count ? i : nil
    }
}
