public import MarketCore

/// OKX v5 public. Scaffold: replaced by the full adapter (issue 3).
public struct OKXAdapter: VenueAdapter {
    public let venue: Venue = .okx
    public var tradeIDsAreContiguous: Bool { false }
    public init() {}
    public mutating func handle(
        kind: FrameKind, url: String?, connection: String?, frame: UnsafeRawBufferPointer, receiveTime: UnixNanos,
        into out: inout [VenueEvent]
    ) {
        if kind == .ws { out.append(parseError("okx adapter not built yet", frame: frame)) }
    }
}
