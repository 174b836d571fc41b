public import MarketCore

/// Kraken websocket v1 and v2. Scaffold: replaced by the full adapter (issue 3).
public struct KrakenAdapter: VenueAdapter {
    public let venue: Venue = .kraken
    public var tradeIDsAreContiguous: Bool { false }
    public init() {}
    public mutating func handle(
        kind: FrameKind, url: String?, connection: String?, frame: UnsafeRawBufferPointer, receiveTime: UnixNanos,
        into out: inout [VenueEvent]
    ) {
        if kind == .ws { out.append(parseError("kraken adapter not built yet", frame: frame)) }
    }
}
