public import MarketCore

/// A venue's pure frame parser: bytes in, ``VenueEvent``s out. No I/O, no clocks.
///
/// One adapter value serves one venue id (several connections of that venue may share it);
/// it keeps only parse-side state such as its symbol cache and the category a connection URL implies.
public protocol VenueAdapter: Sendable {
    /// The venue id this adapter produces events for.
    var venue: Venue { get }

    /// True when the venue's numeric trade ids increase by exactly one per trade and instrument,
    /// so a jump is a gap (Binance `t`/`a`, Coinbase `trade_id`).
    var tradeIDsAreContiguous: Bool { get }

    /// Parses one input and appends what it means to `out`.
    /// - Parameters:
    ///   - kind: `ws` frames and `rest` responses carry data; `open`/`sent` carry the URL (e.g. a category).
    ///   - url: the connection or REST URL, when known.
    ///   - connection: the capture's `conn`, when known (tells connections of one venue apart).
    ///   - frame: the exact bytes received.
    ///   - receiveTime: local receive time.
    mutating func handle(
        kind: FrameKind, url: String?, connection: String?, frame: UnsafeRawBufferPointer, receiveTime: UnixNanos,
        into out: inout [VenueEvent])

    /// What a websocket frame means for the connection, when it is a control frame: a refused
    /// subscription, a shutdown notice or a pong; `nil` for data and for harmless acks. Cheap
    /// (short frames only, top-level members only) because the feed session asks for every frame.
    func control(_ frame: UnsafeRawBufferPointer) -> ControlFrame?

    /// Handles a `ws` frame still written as a JSON string's content (a capture line's `frame`,
    /// each quote as `\"`) when the adapter can read it without decoding: true when it did (as
    /// `handle` would have on the decoded frame), false with nothing appended otherwise, and the
    /// caller then decodes the frame and calls `handle`.
    mutating func handleEscapedFrame(
        _ escaped: UnsafeRawBufferPointer, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) -> Bool
}

extension VenueAdapter {
    public mutating func handleEscapedFrame(
        _ escaped: UnsafeRawBufferPointer, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) -> Bool { false }
}

/// Why a frame could not be read: the reason that starts the `parse_error` detail and, when known,
/// the instrument it concerns. Every reader in the venue folders throws this one type (typed throws),
/// and each entry point (`handle`/`handleFrame`, a REST reader) catches it once and appends the
/// event — see docs/venues.md, "How a venue reads a frame and fails".
public struct VenueParseFailure: Error, Sendable {
    public var reason: String
    public var instrument: Instrument?

    public init(reason: String, instrument: Instrument? = nil) {
        self.reason = reason
        self.instrument = instrument
    }
}

extension VenueAdapter {
    /// A `parse_error` event with a short excerpt of the frame.
    public func parseError(_ reason: String, frame: UnsafeRawBufferPointer, instrument: Instrument? = nil) -> VenueEvent {
        .parseError(instrument: instrument, detail: "\(reason): \(frame.excerpt(80))")
    }

    /// The `parse_error` event for a reader's failure: what an entry point's one `catch` appends.
    public func parseError(_ failure: VenueParseFailure, frame: UnsafeRawBufferPointer) -> VenueEvent {
        parseError(failure.reason, frame: frame, instrument: failure.instrument)
    }
}
