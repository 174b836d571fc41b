import MarketCore
import Normalizer
import Venues

#if canImport(Glibc)
import Glibc
#endif

/// One connection a fuzz input is read as: the venue id, the frame kind and the URL the adapter
/// is told (URLs pick Bybit's category, Kraken's API version, REST depth or trade history).
public struct FuzzConnection: Sendable {
    public var venue: Venue
    public var kind: FrameKind
    public var url: String

    public init(_ venue: Venue, _ kind: FrameKind, _ url: String) {
        self.venue = venue
        self.kind = kind
        self.url = url
    }
}

/// The venue harness: input byte 0 picks a connection, the rest is one frame.
///
/// The frame goes through a fresh adapter (after an `open` of the URL), then every event through a
/// fresh ``MarketNormalizer`` (books, candles), then the clock is advanced and the run finished.
/// A trap, an AddressSanitizer report or a libFuzzer timeout is a finding; so is a broken invariant:
/// a book or ticker level with a negative price or size, a parse error without a reason, a
/// published trade whose price or size is not positive, a candle with low above high.
public func fuzzVenueFrame(_ data: UnsafePointer<UInt8>, _ size: Int, connections: [FuzzConnection]) {
    guard size > 0, !connections.isEmpty else { return }
    let connection = connections[Int(data[0]) % connections.count]
    let frame = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    guard var adapter = VenueAdapters.make(connection.venue) else { fatalError("no adapter for \(connection.venue)") }
    let receiveTime = UnixNanos.seconds(1_700_000_000)
    var events: [VenueEvent] = []
    adapter.handle(kind: .open, url: connection.url, connection: "1", frame: UnsafeRawBufferPointer(start: nil, count: 0), receiveTime: receiveTime, into: &events)
    adapter.handle(kind: connection.kind, url: connection.url, connection: "1", frame: frame, receiveTime: receiveTime, into: &events)
    for event in events { check(event) }

    var normalizer = MarketNormalizer(venue: connection.venue, tradeIDsAreContiguous: adapter.tradeIDsAreContiguous)
    var out: [MarketEvent] = []
    for event in events { normalizer.handle(event, receiveTime: receiveTime, into: &out) }
    normalizer.advance(to: UnixNanos.seconds(1_700_000_000 + 3_600), into: &out)
    normalizer.finish(into: &out)
    for event in out { check(event) }
}

func check(_ event: MarketEvent) {
    switch event {
    case .trade(let t):
        invariant(!t.price.isNegative && !t.price.isZero && !t.quantity.isNegative && !t.quantity.isZero, "published trade not positive: \(t)")
    case .candle(let c):
        invariant(c.trades > 0 || c.volume.isZero, "empty candle with volume: \(c)")
        invariant(!c.low.isNegative && c.low <= c.high, "candle low/high wrong: \(c)")
    default:
        break
    }
}

func check(_ event: VenueEvent) {
    switch event {
    case .trade:
        break  // impossible trades are the normalizer's to refuse (invalid_trade); checked on its output
    case .book(let u):
        for level in u.bids + u.asks {
            invariant(!level.price.isNegative && !level.quantity.isNegative, "book level with a negative price or size: \(level)")
        }
    case .ticker(let t):
        for level in [t.bestBid, t.bestAsk].compactMap({ $0 }) {
            invariant(!level.price.isNegative && !level.quantity.isNegative, "ticker with a negative price or size: \(level)")
        }
    case .parseError(_, let detail):
        invariant(!detail.isEmpty, "parse error without a reason")
    case .status:
        break
    }
}

/// A broken invariant: print it and abort, so libFuzzer saves the input as a crash.
public func invariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() {
        let text = "fuzz invariant broken: \(message())\n"
        _ = text.withCString { write(2, $0, strlen($0)) }
        abort()
    }
}
