public import MarketCore

/// Bybit v5 public. Scaffold: replaced by the full adapter (issue 3).
public struct BybitAdapter: VenueAdapter {
    public let venue: Venue = .bybit
    public var tradeIDsAreContiguous: Bool { false }
    public init() {}
    public mutating func handle(
        kind: FrameKind, url: String?, connection: String?, frame: UnsafeRawBufferPointer, receiveTime: UnixNanos,
        into out: inout [VenueEvent]
    ) {
        if kind == .ws { out.append(parseError("bybit adapter not built yet", frame: frame)) }
    }
}
