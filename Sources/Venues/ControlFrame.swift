public import MarketCore

/// A frame that is about the connection, not the market: what the feed session acts on.
///
/// Adapters tell these apart with their own wire knowledge (``VenueAdapter/control(_:)``), so the
/// session never looks for substrings in frames.
public enum ControlFrame: Sendable, Hashable {
    /// The venue refused a subscribe request; `detail` is the start of its answer.
    case subscriptionRefused(detail: String)
    /// The venue will close this connection soon (Binance `serverShutdown`, OKX `notice` 64008).
    case shutdownNotice(detail: String)
    /// The answer to the client's application-level ping.
    case pong
}

/// Shared reading of control frames: they are short JSON objects (or a bare word), so only frames
/// up to ``maxBytes`` are looked at and only their top-level members are read.
enum ControlRead {
    /// Longer frames are data (every venue's control answers are far shorter).
    static let maxBytes = 1024

    /// Calls `visit(key, &scanner)` for each top-level member of the object `frame` holds; the
    /// visitor may read the value (else it is skipped) and returns `false` to stop.
    /// - Returns: `false` when `frame` is not a JSON object or is longer than ``maxBytes``.
    @discardableResult
    static func members(
        _ frame: UnsafeRawBufferPointer, _ visit: (UnsafeRawBufferPointer, inout JSONScanner) -> Bool
    ) -> Bool {
        guard frame.count <= maxBytes else { return false }
        var s = JSONScanner(frame)
        guard s.beginObject() else { return false }
        while let key = s.nextKey() {
            s.skipWhitespace()
            let at = s.index
            guard visit(key, &s) else { return true }
            if s.index == at, s.skipValue() == nil { return true }
        }
        return !s.failed
    }

    /// The start of a frame as text, for a refusal's detail.
    static func detail(_ frame: UnsafeRawBufferPointer) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: frame[0..<min(frame.count, 200)]), as: UTF8.self)
    }

    /// Whether the frame is the bare word `word`, surrounding whitespace allowed (OKX's `pong`).
    static func isBare(_ frame: UnsafeRawBufferPointer, _ word: StaticString) -> Bool {
        guard frame.count <= 16 else { return false }
        var lo = 0
        var hi = frame.count
        func space(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }
        while lo < hi, space(frame[lo]) { lo += 1 }
        while hi > lo, space(frame[hi - 1]) { hi -= 1 }
        return UnsafeRawBufferPointer(rebasing: frame[lo..<hi]).equals(word)
    }
}
