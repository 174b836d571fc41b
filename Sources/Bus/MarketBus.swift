public import MarketCore
public import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Receives every frame the bus publishes, in publish order.
///
/// `receive` is called while the bus holds its lock, so it must only enqueue and return: a sink that
/// blocks would slow the publisher and every other sink.
public protocol BusSink: AnyObject, Sendable {
    func receive(_ frame: BusFrame)
}

/// Where a subscriber starts on a channel: its position, whether it missed nothing, and the frames
/// to send first (the history after `since`, or the current snapshot / open candle).
public struct Attachment: Sendable {
    /// Nil while the channel has seen no event (it does not exist on the bus yet).
    public let channelID: Int?
    public let channel: ChannelName
    public let seq: UInt64
    public let epoch: String
    public let recovered: Bool
    /// The client asked to resume but the history no longer holds its position (or the epoch changed).
    public let historyUnavailable: Bool
    /// Complete websocket frames to send before live frames with `seq` greater than `seq`.
    public let frames: [ByteBuffer]
}

/// Topic routing for normalized events (DESIGN.md "Bus and in-process consumers").
///
/// Every channel has a `seq` that increases by one per event, an `epoch` that changes when
/// continuity breaks upstream (a book gap or resync, a trade-id gap, a restart of the gateway), a
/// bounded history for resume, and, for book and candle channels, the current state for
/// snapshot-first subscribes. Each event is encoded once, as a complete websocket frame.
public final class MarketBus: Sendable {
    public struct Options: Sendable {
        /// Frames kept per channel for `since` resume.
        public var historyPerChannel = 1024
        /// Candle intervals the normalizer builds (candle channels to mark suspect on a trade gap).
        public var intervals: [String] = ["1m", "5m"]
        public init() {}
    }

    public let options: Options
    /// Part of every epoch: a restart of the gateway changes every channel's epoch.
    public let bootID: String
    private let state: Mutex<State>

    public init(options: Options = Options(), bootID: String? = nil) {
        self.options = options
        self.bootID = bootID ?? Self.makeBootID()
        self.state = Mutex(State(history: options.historyPerChannel, bootID: self.bootID, intervals: options.intervals))
    }

    static func makeBootID() -> String {
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        let ms = UInt64(t.tv_sec) * 1000 + UInt64(t.tv_nsec) / 1_000_000
        return String(ms, radix: 36) + String(UInt16.random(in: 0...UInt16.max), radix: 36)
    }

    // MARK: publishing

    /// Publishes a normalized event on its channel (and a status on the channels whose continuity it breaks).
    public func publish(_ event: MarketEvent) {
        var w = JSONWriter()
        event.writeJSON(into: &w)
        let data = w.bytes
        let type = event.typeName
        state.withLock { s in
            switch event {
            case .trade(let t):
                s.emit(ChannelName(kind: .trades, scope: t.instrument.venue.id, symbol: t.instrument.symbol),
                       type: type, data: data, payload: .market(event), conflation: nil, snapshot: false)
            case .candle(let c):
                s.emit(
                    ChannelName(kind: .candles, interval: c.interval.name, scope: c.instrument.venue.id, symbol: c.instrument.symbol),
                    type: type, data: data, payload: .market(event), conflation: c.start.rawValue, snapshot: true)
            case .bookSnapshot(let b):
                s.emit(ChannelName(kind: .book, scope: b.instrument.venue.id, symbol: b.instrument.symbol),
                       type: type, data: data, payload: .market(event), conflation: 0, snapshot: b.valid)
            case .ticker(let t):
                s.emit(ChannelName(kind: .ticker, scope: t.instrument.venue.id, symbol: t.instrument.symbol),
                       type: type, data: data, payload: .market(event), conflation: 0, snapshot: false)
            case .status(let st):
                s.emit(ChannelName(kind: .status, scope: st.venue.id), type: type, data: data, payload: .market(event),
                       conflation: nil, snapshot: false)
                s.breakContinuity(for: st)
            }
        }
    }

    /// Publishes a service's event on a concrete channel: encoded here, once; in-process subscribers
    /// get the value (``BusMessage/service``).
    public func publish(_ event: ServiceEvent, channel: ChannelName) {
        var w = JSONWriter()
        event.writeJSON(into: &w)
        let data = w.bytes
        state.withLock { s in
            s.emit(channel, type: event.typeName, data: data, payload: .service(event), conflation: nil, snapshot: false)
        }
    }

    /// Publishes an event with ready-made `data` JSON (an object) on a concrete channel: subscribers
    /// get only its bytes (``BusMessage/json``). For benchmarks and tests; services publish values.
    public func publish(channel: ChannelName, type: String, data: [UInt8], conflates: Bool = false) {
        state.withLock { s in
            s.emit(channel, type: type, data: data, payload: .raw, conflation: conflates ? 0 : nil, snapshot: false)
        }
    }

    // MARK: relaying (cluster edge)

    /// What ``relay(channel:seq:epoch:type:json:conflationBucket:snapshotData:)`` did with a frame.
    public enum RelayOutcome: Sendable, Equatable {
        /// The next frame of the channel's epoch.
        case delivered
        /// The channel's first frame here, or a new epoch: its history starts over.
        case newEpoch
        /// `seq` skipped `missed` frames within the epoch (lost between the publisher and this node):
        /// the history starts over, so a resume from before the gap is refused, never served with a hole.
        case gap(missed: UInt64)
        /// Not after the channel's position in the same epoch: ignored.
        case duplicate
    }

    /// Takes a frame numbered and encoded by another node's bus (the cluster's edge role) as it is:
    /// its `seq` and `epoch` become the channel's, its bytes go into the history and to the sinks.
    /// Nothing is renumbered or re-encoded, so every edge sends what the publisher encoded.
    /// - Parameters:
    ///   - json: the publisher's frame JSON (`{"ch":…,"seq":…,"epoch":…,"type":…,"data":…}`).
    ///   - conflationBucket: set for frames a slow client may skip (books, tickers: 0; candles: the bucket).
    ///   - snapshotData: the `data` JSON when the event becomes the subscribe-first state (books, candles).
    ///   - payload: the decoded value for in-process consumers (a `services` node), or `.raw` (an edge).
    @discardableResult
    public func relay(
        channel: ChannelName, seq: UInt64, epoch: String, type: String, json: ByteBuffer, conflationBucket: Int64?,
        snapshotData: [UInt8]?, payload: BusPayload = .raw
    ) -> RelayOutcome {
        let wire = WebSocketWire.frame(payload: json.readableBytesView)
        return state.withLock { s in
            var id = s.channelID(channel)
            if s.channels[id].relayedEpoch != epoch, seq <= s.channels[id].seq {
                // The publisher restarted its numbering (a new ingest node): a fresh channel id, so
                // the fan-out's per-client "already sent up to seq" cursors of the old one do not
                // swallow the new epoch's lower numbers.
                id = s.channels.count
                s.channels.append(ChannelState(name: channel, text: channel.description, history: FrameRing(capacity: s.history)))
                s.ids[channel] = id
            }
            let outcome: RelayOutcome
            if s.channels[id].relayedEpoch == epoch {
                let at = s.channels[id].seq
                if seq <= at { return .duplicate }
                outcome = seq == at + 1 ? .delivered : .gap(missed: seq - at - 1)
            } else {
                s.channels[id].relayedEpoch = epoch
                s.channels[id].snapshot = nil
                outcome = .newEpoch
            }
            if outcome != .delivered { s.channels[id].history.removeAll() }
            s.channels[id].seq = seq
            let frame = BusFrame(
                channelID: id, channel: channel, seq: seq, epoch: epoch, type: type, payload: payload, wire: wire,
                conflationKey: conflationBucket.map { ConflationKey(channelID: id, bucket: $0) }, setsSnapshot: snapshotData != nil)
            s.channels[id].history.append(frame)
            if let snapshotData { s.channels[id].snapshot = (type, snapshotData) }
            s.published[type, default: 0] += 1
            for sink in s.sinks.values { sink.receive(frame) }
            return outcome
        }
    }

    // MARK: subscribers

    public func addSink(_ sink: any BusSink) {
        state.withLock { $0.sinks[ObjectIdentifier(sink)] = sink }
    }

    public func removeSink(_ sink: any BusSink) {
        _ = state.withLock { $0.sinks.removeValue(forKey: ObjectIdentifier(sink)) }
    }

    /// An in-process consumer of the channels matching `patterns`.
    public func subscribe(_ patterns: [ChannelName], policy: OverflowPolicy = .dropOldest, capacity: Int = 4096) -> BusSubscription {
        let sub = BusSubscription(bus: self, patterns: patterns, policy: policy, capacity: capacity)
        addSink(sub)
        return sub
    }

    /// The existing channels a pattern matches, in name order.
    public func channels(matching pattern: ChannelName) -> [ChannelName] {
        state.withLock { s in s.ids.keys.filter { pattern.matches($0) } }
            .sorted { $0.description < $1.description }
    }

    /// Positions a new subscriber on a concrete channel. `since` is the last event the subscriber
    /// saw: history after it is replayed when the epoch matches and the history still holds it;
    /// otherwise book and candle channels send their current state.
    ///
    /// A channel that has seen no event is not created: the subscriber is placed at seq 0 of the
    /// boot epoch, which is where the channel starts when its first event comes. Only publishing
    /// creates channels, so names a client makes up cost the bus nothing.
    public func attach(_ channel: ChannelName, since: (seq: UInt64, epoch: String)? = nil) -> Attachment {
        return state.withLock { s in
            guard let id = s.ids[channel] else {
                let fresh = since.map { $0.seq == 0 && $0.epoch == s.bootID } ?? true
                return Attachment(
                    channelID: nil, channel: channel, seq: 0, epoch: s.bootID, recovered: fresh,
                    historyUnavailable: !fresh && !channel.kind.sendsSnapshotFirst, frames: [])
            }
            let c = s.channels[id]
            let epoch = c.epoch(s.bootID)
            var frames: [ByteBuffer] = []
            var recovered = true
            var unavailable = false
            if let since {
                if since.epoch == epoch, since.seq <= c.seq, let replay = c.history.frames(after: since.seq) {
                    frames = replay
                } else {
                    recovered = false
                    unavailable = true
                }
            }
            if (since == nil || !recovered), channel.kind.sendsSnapshotFirst, let snap = c.snapshot {
                frames = [FrameEncoder.encode(channel: c.text, seq: c.seq, epoch: epoch, type: snap.type, data: snap.data)]
            }
            return Attachment(
                channelID: id, channel: channel, seq: c.seq, epoch: epoch, recovered: recovered,
                historyUnavailable: unavailable && !channel.kind.sendsSnapshotFirst, frames: frames)
        }
    }

    public struct Stats: Sendable {
        public var channels = 0
        public var published: [String: Int] = [:]
        public var sinks = 0
        public init() {}
    }

    public var stats: Stats {
        state.withLock { st in
            var s = Stats()
            s.channels = st.ids.count
            s.published = st.published
            s.sinks = st.sinks.count
            return s
        }
    }
}

// MARK: state

extension MarketBus {
    struct ChannelState {
        let name: ChannelName
        let text: String
        var seq: UInt64 = 0
        var epochNumber = 0
        var history: FrameRing
        /// The current book snapshot or candle, sent first on subscribe.
        var snapshot: (type: String, data: [UInt8])?
        /// The publisher's epoch, on a channel relayed from another node (cluster edge).
        var relayedEpoch: String?

        func epoch(_ bootID: String) -> String {
            if let relayedEpoch { return relayedEpoch }
            return epochNumber == 0 ? bootID : "\(bootID).\(epochNumber)"
        }
    }

    struct State {
        /// Frames kept per channel, the boot id of every epoch, the candle intervals.
        let history: Int
        let bootID: String
        let intervals: [String]
        var ids: [ChannelName: Int] = [:]
        var channels: [ChannelState] = []
        var sinks: [ObjectIdentifier: any BusSink] = [:]
        var published: [String: Int] = [:]

        mutating func channelID(_ name: ChannelName) -> Int {
            if let id = ids[name] { return id }
            let id = channels.count
            channels.append(ChannelState(name: name, text: name.description, history: FrameRing(capacity: history)))
            ids[name] = id
            return id
        }

        mutating func emit(
            _ name: ChannelName, type: String, data: [UInt8], payload: BusPayload, conflation: Int64?, snapshot: Bool
        ) {
            let id = channelID(name)
            channels[id].seq += 1
            let c = channels[id]
            let epoch = c.epoch(bootID)
            let frame = BusFrame(
                channelID: id, channel: name, seq: c.seq, epoch: epoch, type: type, payload: payload,
                wire: FrameEncoder.encode(channel: c.text, seq: c.seq, epoch: epoch, type: type, data: data),
                conflationKey: conflation.map { ConflationKey(channelID: id, bucket: $0) }, setsSnapshot: snapshot)
            channels[id].history.append(frame)
            if snapshot { channels[id].snapshot = (type, data) }
            published[type, default: 0] += 1
            for sink in sinks.values { sink.receive(frame) }
        }

        /// A new epoch on `name`, announced on the channel itself with a status frame.
        mutating func reset(_ name: ChannelName, kind: FeedStatus.Kind, cause: FeedStatus) {
            let id = channelID(name)
            channels[id].epochNumber += 1
            channels[id].snapshot = nil
            let status = FeedStatus(
                kind: kind, venue: cause.venue, instrument: cause.instrument, detail: "\(cause.kind.name): \(cause.detail)",
                time: cause.time)
            var w = JSONWriter()
            MarketEvent.status(status).writeJSON(into: &w)
            emit(name, type: "status", data: w.bytes, payload: .market(.status(status)), conflation: nil, snapshot: false)
        }

        /// Statuses that mean a channel's stream is no longer continuous.
        mutating func breakContinuity(for st: FeedStatus) {
            guard let i = st.instrument else {
                // A lost connection: every book of the venue is rebuilt from a new snapshot.
                guard st.kind.endsConnection else { return }
                let books = channels.map(\.name).filter { $0.kind == .book && $0.scope == st.venue.id }
                for b in books { reset(b, kind: .bookReset, cause: st) }
                return
            }
            switch st.kind {
            case .gap(.tradeIDs), .lateTradeDropped:
                reset(ChannelName(kind: .trades, scope: i.venue.id, symbol: i.symbol), kind: .tradeGap, cause: st)
                for iv in intervals {
                    reset(ChannelName(kind: .candles, interval: iv, scope: i.venue.id, symbol: i.symbol), kind: .candleSuspect,
                          cause: st)
                }
                // Coinbase's unsequenced book is invalidated by a trade-id gap too (its own status follows).
            case let k where k.invalidatesBook:
                reset(ChannelName(kind: .book, scope: i.venue.id, symbol: i.symbol), kind: .bookReset, cause: st)
            default:
                break
            }
        }
    }
}

/// The last `capacity` frames of a channel.
struct FrameRing {
    let capacity: Int
    private var items: [BusFrame] = []
    private var head = 0

    init(capacity: Int) { self.capacity = max(0, capacity) }

    mutating func removeAll() {
        items.removeAll(keepingCapacity: true)
        head = 0
    }

    mutating func append(_ f: BusFrame) {
        guard capacity > 0 else { return }
        if items.count < capacity {
            items.append(f)
        } else {
            items[head] = f
            head = (head + 1) % capacity
        }
    }

    /// The frames after `seq`, or nil when some of them are no longer held.
    func frames(after seq: UInt64) -> [ByteBuffer]? {
        let ordered = items.count < capacity ? items : Array(items[head...] + items[..<head])
        guard let last = ordered.last else { return seq == 0 ? [] : nil }
        if seq >= last.seq { return [] }
        guard let first = ordered.first, seq + 1 >= first.seq else { return nil }
        return ordered.filter { $0.seq > seq }.map(\.wire)
    }
}
