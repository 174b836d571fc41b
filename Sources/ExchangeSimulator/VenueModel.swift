import Foundation

/// What the simulator's own reading of one original capture frame found.
///
/// The simulator never uses the gateway's parsers (Venues, Normalizer): its venue models read
/// frames with Foundation's JSON and keep books with Foundation's `Decimal`, so a test that
/// compares the gateway with the simulator compares two independent implementations.
public enum FrameRole: Sendable, Equatable {
    /// A book snapshot the venue pushes (Coinbase `snapshot`, Kraken v1 book snapshot, OKX/Bybit `snapshot`).
    case bookSnapshot(symbol: String)
    /// An incremental book update (Binance `depthUpdate`, Coinbase `l2update`, Kraken/OKX/Bybit deltas).
    case bookDelta(symbol: String)
    /// One or more trades; `ids` are the venue's numeric trade ids when it has them.
    case trade(symbol: String, ids: [Int64])
    /// Anything else: tickers, acks, heartbeats, klines.
    case other
}

/// One channel of one symbol a client subscribes to or unsubscribes from, as the model names it
/// (`symbol` as in its ``FrameRole``s: Binance `BTCUSDT`, Kraken `XBT/USD`, OKX `BTC-USDT`, …).
public struct StreamTopic: Sendable, Hashable {
    public enum Channel: Sendable, Hashable {
        /// Book snapshots and deltas (``FrameRole/bookSnapshot(symbol:)``, ``FrameRole/bookDelta(symbol:)``).
        case book
        /// Trades (``FrameRole/trade(symbol:ids:)``).
        case trades
    }
    public var channel: Channel
    public var symbol: String
    public init(_ channel: Channel, _ symbol: String) {
        self.channel = channel
        self.symbol = symbol
    }
}

/// What a client's text frame asked for.
public enum ClientRequest: Sendable, Equatable {
    /// A subscribe request. The first one of a connection starts (or resumes) streaming to it;
    /// a later one for topics it unsubscribed resumes them, books with a fresh snapshot. `topics`
    /// are the book and trade channels it names (tickers and others are not told apart).
    case subscribe([StreamTopic])
    /// An unsubscribe request: the connection no longer gets frames of these topics.
    case unsubscribe([StreamTopic])
    /// An application-level ping; `reply` is the venue's pong text, sent back at once.
    case ping(reply: String)
    /// Anything else: ignored.
    case other
}

/// One venue's knowledge inside the simulator: how to read its frames, answer its REST
/// endpoints, write a current book snapshot in its wire format, and corrupt a checksum.
///
/// A model is fed every original frame in timeline order (`observe`), whether or not a client
/// is connected, and so always holds the exchange's true state at the current position.
public protocol VenueModel: Sendable {
    /// Reads an original `ws` frame (exact capture bytes as text), updates books and trade
    /// history from it, and says what it was.
    mutating func observe(frame: String) -> FrameRole

    /// Reads an original `rest` capture line (a REST depth snapshot; `url` is the recorded URL).
    /// Binance uses it as the book's starting point; venues without REST snapshots ignore it.
    mutating func observeREST(url: String, body: String)

    /// Frames a client that subscribes mid-stream gets before the live stream resumes: the current
    /// book of every symbol whose book has been initialized, in the venue's snapshot format (with a
    /// valid checksum where the venue sends one). Empty for venues that sync books over REST (Binance).
    func snapshotFrames() -> [String]

    /// ``snapshotFrames()`` of the books of `symbols` alone: what a client that resubscribes those
    /// books gets (Binance: none, its books sync over REST).
    func snapshotFrames(symbols: Set<String>) -> [String]

    /// The REST response body for `path` (e.g. `/api/v3/depth`) and its query items, or nil for 404.
    /// Depth endpoints answer the current book; trade-history endpoints answer from the trades seen so far.
    func rest(path: String, query: [String: String]) -> String?

    /// A copy of `frame` with its checksum value altered, or nil when the frame carries no checksum.
    func corruptingChecksum(_ frame: String) -> String?

    /// Classifies a client's text frame.
    func classify(clientText: String) -> ClientRequest

    /// The venue's error reply to a refused subscription (the "refuse subscription" fault).
    func subscriptionError(for clientText: String) -> String
}
