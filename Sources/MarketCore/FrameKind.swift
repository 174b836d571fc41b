/// The kind of a capture line / live input (DESIGN.md, "Capture file format").
public enum FrameKind: String, Sendable, Hashable {
    /// A websocket frame received from the venue.
    case ws
    /// A REST response used for book sync (`url` set).
    case rest
    /// A frame the gateway sent (e.g. a subscribe; `url` set).
    case sent
    /// A connection was opened (`url` set, empty frame).
    case open
    /// The live pipeline's clock advanced with no frame (candle closes, snapshot timers).
    case tick
    /// A connection ended (closed by either side, failed, or went stale); `frame` says why.
    /// An extension of DESIGN.md's kinds: replay needs it to know the feed was not observed whole.
    case close
}
