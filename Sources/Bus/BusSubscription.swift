public import MarketCore
public import NIOCore
import Synchronization

/// What an in-process subscriber does when it falls behind its buffer.
public enum OverflowPolicy: Sendable, Hashable {
    /// Drop the oldest queued event; the next delivered message counts what was dropped (`missedBefore`).
    case dropOldest
    /// Keep only the latest event per channel (and per candle bucket): for books and tickers.
    case latestOnly
    /// End the subscription with ``BusOverflowError``.
    case disconnect
}

/// The subscription fell behind with the `disconnect` policy.
public struct BusOverflowError: Error, Sendable, CustomStringConvertible {
    public let capacity: Int
    public var description: String { "subscriber fell behind its buffer of \(capacity) events" }
}

/// One event as an in-process consumer sees it: no serialization, the same `seq`/`epoch` as the
/// websocket frame of the same event.
public struct BusMessage: Sendable {
    public let channel: ChannelName
    public let seq: UInt64
    public let epoch: String
    public let type: String
    public let payload: BusPayload
    /// Events of this subscription dropped just before this one (`dropOldest`, `latestOnly`).
    public var missedBefore: Int
    /// The frame's JSON (`{"ch",…,"data":{…}}`) for frames that are only bytes (`.raw`: relayed
    /// from another node, or published with ready-made data); nil for typed events.
    public var json: ByteBuffer? = nil

    /// The market event, when the payload is one.
    public var event: MarketEvent? {
        if case .market(let e) = payload { return e }
        return nil
    }

    /// The service event (execution, circuit breaker, mood update, signal), when the payload is one.
    public var service: ServiceEvent? {
        if case .service(let e) = payload { return e }
        return nil
    }
}

/// An in-process consumer: an `AsyncSequence` of the events on the channels matching its patterns,
/// with a bounded buffer. It never slows the publisher: overflow is handled by its policy.
public final class BusSubscription: BusSink, AsyncSequence, Sendable {
    public typealias Element = BusMessage

    public let patterns: [ChannelName]
    public let policy: OverflowPolicy
    public let capacity: Int
    private weak let bus: MarketBus?
    private let state: Mutex<State>

    struct State {
        var queue: [(message: BusMessage, key: ConflationKey?)] = []
        var head = 0
        var missed = 0
        var matches: [Int: Bool] = [:]
        var waiter: CheckedContinuation<BusMessage?, any Error>?
        var failure: BusOverflowError?
        var finished = false
        var dropped = 0

        var count: Int { queue.count - head }

        /// Removes the queued message with `key`, counting it as missed.
        mutating func removeQueued(_ key: ConflationKey?) -> Bool {
            guard let key, let i = queue[head...].firstIndex(where: { $0.key == key }) else { return false }
            queue.remove(at: i)
            missed += 1
            dropped += 1
            return true
        }

        /// Drops the oldest queued message (its count goes to the next one delivered).
        mutating func dropFirst() {
            guard head < queue.count else { return }
            head += 1
            missed += 1
            dropped += 1
        }

        mutating func popFirst() -> BusMessage? {
            guard head < queue.count else { return nil }
            var m = queue[head].message
            head += 1
            if head > 64 && head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            if missed > 0 {
                m.missedBefore += missed
                missed = 0
            }
            return m
        }
    }

    init(bus: MarketBus, patterns: [ChannelName], policy: OverflowPolicy, capacity: Int) {
        self.bus = bus
        self.patterns = patterns
        self.policy = policy
        self.capacity = Swift.max(1, capacity)
        self.state = Mutex(State())
    }

    /// Events dropped by the overflow policy so far.
    public var droppedCount: Int { state.withLock { $0.dropped } }

    public func receive(_ frame: BusFrame) {
        let handOff = state.withLock { s -> (CheckedContinuation<BusMessage?, any Error>, BusMessage)? in
            guard !s.finished else { return nil }
            let wanted: Bool
            if let m = s.matches[frame.channelID] {
                wanted = m
            } else {
                wanted = patterns.contains { $0.matches(frame.channel) }
                s.matches[frame.channelID] = wanted
            }
            guard wanted else { return nil }
            let message = BusMessage(
                channel: frame.channel, seq: frame.seq, epoch: frame.epoch, type: frame.type, payload: frame.payload, missedBefore: 0,
                json: frame.payload == .raw ? frame.json : nil)
            if let w = s.waiter {
                s.waiter = nil
                return (w, message)
            }
            // latestOnly: a newer event replaces the queued one of its key, full buffer or not.
            let replaced = policy == .latestOnly && s.removeQueued(frame.conflationKey)
            if !replaced && s.count >= capacity {
                switch policy {
                case .dropOldest, .latestOnly:
                    s.dropFirst()
                case .disconnect:
                    // Leaving the bus happens in next(): this runs under the bus's lock.
                    s.failure = BusOverflowError(capacity: capacity)
                    s.finished = true
                    s.queue.removeAll()
                    s.head = 0
                    return nil
                }
            }
            s.queue.append((message, frame.conflationKey))
            return nil
        }
        if let (waiter, message) = handOff {
            waiter.resume(returning: message)
        }
    }

    /// Stops the subscription: it leaves the bus and the sequence ends after what is queued.
    public func cancel() {
        bus?.removeSink(self)
        let w = state.withLock { s -> CheckedContinuation<BusMessage?, any Error>? in
            s.finished = true
            defer { s.waiter = nil }
            return s.waiter
        }
        w?.resume(returning: nil)
    }

    func next() async throws -> BusMessage? {
        if state.withLock({ $0.failure != nil && $0.count == 0 }) { bus?.removeSink(self) }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<BusMessage?, any Error>) in
                let ready: Result<BusMessage?, any Error>? = state.withLock { s in
                    if let m = s.popFirst() { return .success(m) }
                    if let f = s.failure { return .failure(f) }
                    if s.finished || Task.isCancelled { return .success(nil) }
                    s.waiter = c
                    return nil
                }
                if let ready { c.resume(with: ready) }
            }
        } onCancel: {
            cancel()
        }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let subscription: BusSubscription
        public mutating func next() async throws -> BusMessage? { try await subscription.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(subscription: self) }
}
