import Synchronization

/// The messages of one subscription, in arrival order. Iterate it once.
///
/// The sequence ends when the subscription is unsubscribed, reaches its auto-unsubscribe count,
/// or the client drains or closes (with the close error, if the client gave up). Dropping the
/// sequence unsubscribes.
public struct NATSSubscription: AsyncSequence, Sendable {
    public typealias Element = NATSMessage

    let stream: AsyncThrowingStream<NATSMessage, any Error>
    let counters: SubscriptionCounters
    let sid: UInt64
    /// The subscribed subject.
    public let subject: String
    let client: NATSClient

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: stream.makeAsyncIterator()) }

    /// Iterates the messages.
    public struct AsyncIterator: AsyncIteratorProtocol {
        public typealias Failure = any Error
        var base: AsyncThrowingStream<NATSMessage, any Error>.AsyncIterator

        public mutating func next() async throws -> NATSMessage? { try await base.next(isolation: nil) }

        /// Stays on the caller's actor: a reader on an actor does not hop executors per message.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(any Error) -> NATSMessage? {
            try await base.next(isolation: actor)
        }
    }

    /// Stops the subscription now, or once it has received `afterMessages` messages in all.
    public func unsubscribe(afterMessages: Int? = nil) {
        client.unsubscribe(sid: sid, afterMessages: afterMessages.map { UInt64(Swift.max($0, 0)) })
    }

    /// Messages dropped because this subscription's reader fell behind its buffer.
    public var droppedMessages: Int { counters.dropped.load(ordering: .relaxed) }

    /// Messages put in this subscription's buffer so far (the reader may not have read them yet).
    /// Counted on the connection's event loop before a disconnect is reported, so a reader can
    /// tell the messages received before a disconnect from later ones.
    public var enqueuedMessages: Int { counters.enqueued.load(ordering: .relaxed) }
}
