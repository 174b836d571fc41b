public import Bus
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import Logging
import Metrics
public import NATS
import NIOCore
import Synchronization

/// The `ingest` (and `services`) role's side of the cluster: a bus sink that publishes every frame
/// of the chosen channel kinds on NATS, numbered and encoded as this node's bus made it
/// (``ClusterEnvelope``). Frames reach NATS in bus order: `receive` runs under the bus lock and
/// `NATSClient.publish` only appends to the client's outgoing buffer.
///
/// Two modes. Core (``init(client:kinds:leadership:)``): fire and forget. Acked (``acked(client:kinds:leadership:window:logger:)``,
/// used when the history streams exist): each frame is a JetStream publish whose ack comes back to
/// an inbox; a bounded ``ClusterPublishWindow`` keeps the unacked frames and resends them, in order
/// and with the same `Nats-Msg-Id`, on an error, an ack timeout or a reconnect (docs/nats.md
/// "Acked ingest publishes"). `receive` never waits for an ack.
public final class ClusterPublisher: BusSink {
    public struct Stats: Sendable, Equatable {
        public var published = 0
        /// Publishes the client refused (its buffer full while NATS was away): edges see a gap.
        /// Acked mode: frames dropped because the window was full (edges see a gap).
        public var failed = 0
        /// Frames not published because this node was standing by (``ClusterLeadership``).
        public var standby = 0
        /// Acked mode: frames the stream acknowledged, frames sent again, frames waiting for an ack,
        /// answers that were not a store (out of order behind a lost frame, no leader, …).
        public var acked = 0
        public var refused = 0
        public var resent = 0
        public var unacked = 0
        /// Times this node stopped leading while it was publishing, and (acked mode) the unacked
        /// frames it dropped then instead of resending them behind the new leader's.
        public var leaseLosses = 0
        public var droppedOnLeaseLoss = 0
        public init(published: Int = 0, failed: Int = 0, standby: Int = 0, acked: Int = 0, resent: Int = 0, unacked: Int = 0) {
            self.published = published
            self.failed = failed
            self.standby = standby
            self.acked = acked
            self.resent = resent
            self.unacked = unacked
        }
    }

    public let kinds: Set<ChannelKind>
    let client: NATSClient
    private let subjects = Mutex<[Int: String]>([:])
    private let published = Atomic<Int>(0)
    private let failed = Atomic<Int>(0)
    private let standingBy = Atomic<Int>(0)
    private let failedAnswers = Atomic<Int>(0)
    /// The leadership (``ClusterLeadership/leadershipsTaken``) this node last published in, and the
    /// last one whose loss was handled: a loss is handled once per leadership that published.
    private let publishedIn = Atomic<Int>(0)
    private let lossHandled = Atomic<Int>(0)
    private let leaseLosses = Atomic<Int>(0)
    private let droppedOnLeaseLoss = Atomic<Int>(0)
    private let leaseLossMetric = Counter(label: "cluster_publish_lease_losses_total")
    private let leaseDropMetric = Counter(label: "cluster_publish_lease_loss_drops_total")
    private let leaseWatch = Mutex<Task<Void, Never>?>(nil)
    /// Nil: always publishes. Otherwise publishes only while it holds true (the ingest lease).
    let gate: ClusterLeadership?
    private let publishedMetric = Counter(label: "cluster_frames_published_total")
    private let failedMetric = Counter(label: "cluster_publish_failures_total")

    /// Acked mode only.
    private struct Acked: Sendable {
        var window: ClusterPublishWindow
        var wasLeading = true
        var reportedFull = false
    }
    private let ackState: Mutex<Acked>
    /// Whether this publisher is in acked mode (``ackState`` is unused otherwise).
    public let isAcked: Bool
    private let inbox: String
    private let logger: Logger?
    private let tasks = Mutex<[Task<Void, Never>]>([])
    private let resentMetric = Counter(label: "cluster_publish_resends_total")
    private let windowFullMetric = Counter(label: "cluster_publish_window_full_total")
    private let unackedMetric = Gauge(label: "cluster_publish_unacked")

    /// Core publishes (fire and forget).
    /// - Parameter leadership: with two ingest nodes for the same venues, only the lease holder publishes.
    public init(client: NATSClient, kinds: Set<ChannelKind> = ClusterEnvelope.ingestKinds, leadership: ClusterLeadership? = nil, logger: Logger? = nil) {
        self.client = client
        self.kinds = kinds
        self.gate = leadership
        self.ackState = Mutex(Acked(window: ClusterPublishWindow(capacity: 1)))
        self.isAcked = false
        self.inbox = ""
        self.logger = logger
        watchLease()
    }

    private init(client: NATSClient, kinds: Set<ChannelKind>, leadership: ClusterLeadership?, window: ClusterPublishWindow, logger: Logger) {
        self.client = client
        self.kinds = kinds
        self.gate = leadership
        self.ackState = Mutex(Acked(window: window))
        self.isAcked = true
        self.inbox = client.newInbox()
        self.logger = logger
        watchLease()
    }

    /// With a lease: notices its loss within 50 ms even when no frame comes (``stoodDown()``).
    private func watchLease() {
        guard let gate else { return }
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(50))
                guard let self else { return }
                if !gate.isLeading { self.stoodDown() }
            }
        }
        leaseWatch.withLock { $0 = task }
    }

    /// This node does not lead: the first time after it published, the lease was lost (or lapsed
    /// while NATS could not be reached). What it still holds is the old epoch's and must not reach
    /// NATS behind the new leader's frames (docs/nats.md "Ingest failover"): the acked window is
    /// dropped (nothing is resent), and the connection is reset, so the bytes buffered while it
    /// stalled (the client's buffer, NIO's pending writes, the kernel's send queue) are never sent.
    private func stoodDown() {
        let led = publishedIn.load(ordering: .relaxed)
        // A standby calls this for every frame: a plain load first, the exchange only on a new loss.
        guard lossHandled.load(ordering: .relaxed) < led, lossHandled.exchange(led, ordering: .relaxed) < led else { return }
        let dropped = isAcked ? ackState.withLock { s -> Int in
            s.wasLeading = false
            return s.window.dropAll()
        } : 0
        if isAcked { unackedMetric.record(0) }
        leaseLosses.add(1, ordering: .relaxed)
        droppedOnLeaseLoss.add(dropped, ordering: .relaxed)
        leaseLossMetric.increment()
        leaseDropMetric.increment(by: dropped)
        let client = client
        let logger = logger
        Task {
            let bytes = await client.resetConnection(reason: "this node lost the ingest lease")
            logger?.warning(
                "cluster: not leading any more; dropped the unacked publishes and reset the publisher's NATS connection so nothing buffered is sent",
                metadata: ["unacked_frames_dropped": "\(dropped)", "buffered_bytes_dropped": "\(bytes)"])
        }
    }

    /// Acked publishes into the history streams (``ClusterHistory``): subscribes to its ack inbox
    /// and starts the resend timer and the reconnect watch. Call ``stop()`` when done.
    public static func acked(
        client: NATSClient, kinds: Set<ChannelKind> = ClusterEnvelope.ingestKinds, leadership: ClusterLeadership? = nil,
        window: ClusterPublishWindow = ClusterPublishWindow(), logger: Logger
    ) async throws -> ClusterPublisher {
        let p = ClusterPublisher(client: client, kinds: kinds, leadership: leadership, window: window, logger: logger)
        let acks = try await client.subscribe(subject: p.inbox + ".>", bufferSize: 4 * window.capacity + 1024)
        let events = client.connectionEvents()
        let readAcks = Task { [weak p] in
            do {
                for try await m in acks {
                    guard let p else { return }
                    p.handleAck(m)
                }
            } catch {}
        }
        let watch = Task { [weak p] in
            for await e in events {
                guard let p else { return }
                if case .reconnected = e { p.resend { $0.reconnected(now: .now) } }
            }
        }
        let timer = Task { [weak p] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(50))
                guard let p else { return }
                p.resend { $0.tick(now: .now) }
            }
        }
        p.tasks.withLock { $0 = [readAcks, watch, timer] }
        return p
    }

    /// Stops the acked mode's tasks (nothing to do for core publishes).
    public func stop() {
        for t in tasks.withLock({ $0 }) { t.cancel() }
        leaseWatch.withLock { $0?.cancel() }
    }

    deinit { stop() }

    public func receive(_ frame: BusFrame) {
        guard kinds.contains(frame.channel.kind) else { return }
        let leading = gate?.isLeading ?? true
        if !leading {
            standingBy.add(1, ordering: .relaxed)
            stoodDown()
            return
        }
        if let gate {
            let n = gate.leadershipsTaken
            if publishedIn.load(ordering: .relaxed) != n { publishedIn.store(n, ordering: .relaxed) }
        }
        let subject = subjects.withLock { cache in
            if let s = cache[frame.channelID] { return s }
            let s = ClusterEnvelope.subject(for: frame.channel)
            cache[frame.channelID] = s
            return s
        }
        if isAcked {
            publishAcked(frame, subject: subject)
            return
        }
        do {
            try client.publish(subject: subject, payload: frame.json, headers: ClusterEnvelope.headers(for: frame))
            published.add(1, ordering: .relaxed)
            publishedMetric.increment()
        } catch {
            failed.add(1, ordering: .relaxed)
            failedMetric.increment()
        }
    }

    /// `Nats-Msg-Id` of a frame: the same for every resend, unique per frame.
    public static func messageID(for frame: BusFrame) -> String { "\(frame.channel)|\(frame.epoch)|\(frame.seq)" }

    private func publishAcked(_ frame: BusFrame, subject: String) {
        let stream = frame.channel.kind.isPrivate ? ClusterHistory.privateStreamName : ClusterHistory.streamName
        let connected = client.connectedServer != nil
        let (dropped, firstDrop, unacked) = ackState.withLock { s -> (Bool, Bool, Int) in
            // Checked again under the lock that ``stoodDown()`` drops the window under: a frame
            // that passed `receive`'s check as the lease lapsed is either dropped with the window
            // or not admitted.
            if let gate, !gate.isLeading { return (false, false, -1) }
            if !s.wasLeading {
                s.window.breakChain()
                s.wasLeading = true
            }
            guard
                let send = s.window.admit(
                    subject: subject, stream: stream, messageID: Self.messageID(for: frame), payload: frame.json,
                    headers: ClusterEnvelope.headers(for: frame), now: .now)
            else {
                let first = !s.reportedFull
                s.reportedFull = true
                return (true, first, s.window.held)
            }
            s.reportedFull = false
            // Disconnected: the frame waits in the window; the reconnect (or, in a race with it, the
            // ack timeout) resends it with the older ones, in order.
            if connected { publish(send, &s.window) }
            return (false, false, s.window.held)
        }
        if unacked < 0 {
            standingBy.add(1, ordering: .relaxed)
            return
        }
        unackedMetric.record(unacked)
        if dropped {
            failed.add(1, ordering: .relaxed)
            failedMetric.increment()
            windowFullMetric.increment()
            if firstDrop {
                logger?.error(
                    "cluster: acked publish window full (NATS or the stream not answering); frames are dropped and edges see a gap",
                    metadata: ["window": "\(unacked)", "channel": "\(frame.channel)"])
            }
        } else {
            published.add(1, ordering: .relaxed)
            publishedMetric.increment()
        }
    }

    /// Under the ack state's lock, so resends and new frames reach the client in window order.
    private func publish(_ send: ClusterPublishWindow.Send, _ window: inout ClusterPublishWindow) {
        var headers = send.headers
        headers[NATSHeaders.messageID] = send.messageID
        if let last = send.expectedLast { headers[NATSHeaders.expectedLastMessageID] = last }
        do {
            try client.publish(subject: send.subject, payload: send.payload, headers: headers, replyTo: "\(inbox).\(send.number).\(send.attempt)")
        } catch {
            window.sendFailed(now: .now)
        }
    }

    private func resend(_ take: (inout ClusterPublishWindow) -> [ClusterPublishWindow.Send]) {
        // Disconnected: nothing to send to; the reconnect resends everything unacked. Not leading:
        // nothing is resent (the window is dropped).
        guard isAcked, client.connectedServer != nil else { return }
        if let gate, !gate.isLeading {
            stoodDown()
            return
        }
        let (count, unacked) = ackState.withLock { s -> (Int, Int) in
            let sends = take(&s.window)
            for send in sends { publish(send, &s.window) }
            return (sends.count, s.window.held)
        }
        unackedMetric.record(unacked)
        if count > 0 {
            resentMetric.increment(by: count)
            logger?.debug("cluster: resending unacked publishes", metadata: ["frames": "\(count)"])
        }
    }

    private static let errorKey = Array(#""error""#.utf8)
    private static let seqKey = Array(#""seq""#.utf8)

    private static func contains(_ bytes: ByteBufferView, _ needle: [UInt8]) -> Bool {
        guard bytes.count >= needle.count else { return false }
        var i = bytes.startIndex
        let end = bytes.endIndex - needle.count
        while i <= end {
            if bytes[i] == needle[0], bytes[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }

    private func handleAck(_ m: NATSMessage) {
        let tail = m.subject.dropFirst(inbox.count + 1).split(separator: ".")
        guard tail.count == 2, let number = UInt64(tail[0]), let attempt = UInt32(tail[1]) else { return }
        var answer = ClusterPublishWindow.Answer.failed
        let bytes = m.payload.readableBytesView
        if m.headers?.status == nil, !bytes.isEmpty, !Self.contains(bytes, Self.errorKey), Self.contains(bytes, Self.seqKey) {
            // The common answer, `{"stream":"MG_MARKET","seq":N}` (maybe `"duplicate":true`): no JSON decoder per frame.
            answer = .stored
        } else if m.headers?.status == nil {
            do {
                _ = try PubAck(answer: m.payload)
                answer = .stored
            } catch let e as JetStreamError where e.errorCode == JetStreamError.wrongLastMessageID {
                answer = .outOfOrder
            } catch {}
        }
        if answer != .stored {
            failedAnswers.add(1, ordering: .relaxed)
        }
        let unacked = ackState.withLock { s in
            s.window.answered(number: number, attempt: attempt, answer, now: .now)
            return s.window.held
        }
        unackedMetric.record(unacked)
        // A refusal may make a resend due now (another node's publish in between).
        if answer != .stored { resend { $0.tick(now: .now) } }
    }

    public var stats: Stats {
        var s = Stats(
            published: published.load(ordering: .relaxed), failed: failed.load(ordering: .relaxed),
            standby: standingBy.load(ordering: .relaxed))
        if isAcked {
            ackState.withLock { a in
                s.acked = a.window.acked
                s.resent = a.window.resent
                s.unacked = a.window.unacked
            }
            s.refused = failedAnswers.load(ordering: .relaxed)
        }
        s.leaseLosses = leaseLosses.load(ordering: .relaxed)
        s.droppedOnLeaseLoss = droppedOnLeaseLoss.load(ordering: .relaxed)
        return s
    }
}
