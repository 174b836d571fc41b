/// A venue id as it appears in captures and output: `binance`, `binance-usdm`, `binance-coinm`,
/// `coinbase`, `kraken`, `okx`, `bybit`.
public struct Venue: Sendable, Hashable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let id: String

    public init(_ id: String) { self.id = id }
    public init(stringLiteral value: String) { self.id = value }

    public static let binance: Venue = "binance"
    public static let binanceUSDM: Venue = "binance-usdm"
    public static let binanceCOINM: Venue = "binance-coinm"
    public static let coinbase: Venue = "coinbase"
    public static let kraken: Venue = "kraken"
    public static let okx: Venue = "okx"
    public static let bybit: Venue = "bybit"

    public var description: String { id }
    public static func < (lhs: Venue, rhs: Venue) -> Bool { lhs.id < rhs.id }

    /// Fraction digits of the venue's own timestamps, used when printing its times (CONTRACTS.md, "Times").
    public var timeFractionDigits: Int {
        switch id {
        case "coinbase", "kraken": 6
        case "binance", "binance-usdm", "binance-coinm", "okx", "bybit": 3
        default: 9
        }
    }
}

/// What kind of contract a symbol names.
public enum InstrumentKind: Sendable, Hashable {
    case spot
    case perpetual
    /// A dated future; `expiry` is `YYYYMMDD`.
    case future(expiry: String)
    /// An option; `expiry` is `YYYYMMDD`, `strike` as the venue wrote it.
    case option(expiry: String, strike: String, isCall: Bool)
}

/// A tradable instrument: venue, canonical symbol (`BTC-USDT`, `BTC-USDT-PERP`) and the venue's own symbol.
///
/// Every trade, book update and candle carries one, so it is one shared immutable reference: a
/// copy costs one retain instead of one per string (six), which was ~10 % of parsing a trade frame.
public struct Instrument: Sendable, Hashable, CustomStringConvertible {
    @usableFromInline final class Storage: Sendable {
        let venue: Venue
        let symbol: String
        let nativeSymbol: String
        let base: String
        let quote: String
        let kind: InstrumentKind

        init(venue: Venue, symbol: String, nativeSymbol: String, base: String, quote: String, kind: InstrumentKind) {
            self.venue = venue
            self.symbol = symbol
            self.nativeSymbol = nativeSymbol
            self.base = base
            self.quote = quote
            self.kind = kind
        }
    }

    @usableFromInline let storage: Storage

    public var venue: Venue { storage.venue }
    /// Canonical symbol per CONTRACTS.md: upper case, dash-separated.
    public var symbol: String { storage.symbol }
    /// The symbol the venue uses on the wire (`BTCUSDT`, `XBT/USD`, `BTC-USDT-SWAP`).
    public var nativeSymbol: String { storage.nativeSymbol }
    public var base: String { storage.base }
    public var quote: String { storage.quote }
    public var kind: InstrumentKind { storage.kind }

    public init(venue: Venue, base: String, quote: String, kind: InstrumentKind = .spot, nativeSymbol: String) {
        let symbol: String
        switch kind {
        case .spot: symbol = "\(base)-\(quote)"
        case .perpetual: symbol = "\(base)-\(quote)-PERP"
        case .future(let expiry): symbol = "\(base)-\(quote)-\(expiry)"
        case .option(let expiry, let strike, let isCall): symbol = "\(base)-\(quote)-\(expiry)-\(strike)-\(isCall ? "C" : "P")"
        }
        storage = Storage(venue: venue, symbol: symbol, nativeSymbol: nativeSymbol, base: base, quote: quote, kind: kind)
    }

    public var description: String { "\(venue.id):\(symbol)" }

    /// The shared storage's identity: equal identities are equal instruments (not the converse).
    /// Reading it retains nothing, so a per-event "same as the last one?" check costs no refcounting
    /// (the caller keeps the instrument alive, so the identity cannot be reused meanwhile).
    @inlinable
    public var identity: ObjectIdentifier { ObjectIdentifier(storage) }

    // Identity is venue + symbols; base/quote/kind follow from them. Hashing two short strings
    // keeps per-event dictionary lookups cheap; the same storage (the usual case) is equal at once.
    public static func == (lhs: Instrument, rhs: Instrument) -> Bool {
        lhs.storage === rhs.storage
            || (lhs.venue == rhs.venue && lhs.symbol == rhs.symbol && lhs.nativeSymbol == rhs.nativeSymbol)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(venue.id)
        hasher.combine(symbol)
    }
}

/// Splits concatenated symbols (`BTCUSDT`) by the longest known quote suffix.
///
/// A built-in list covers the quotes the venues list today; configuration can extend it. A symbol
/// whose suffix is not known is not guessed at: callers report it as `unknown symbol`.
public struct QuoteSuffixTable: Sendable {
    public private(set) var quotes: [String]

    public static let builtIn = QuoteSuffixTable(quotes: [
        "USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USDP", "DAI", "UST", "PAX", "USD", "EUR", "GBP", "TRY", "BRL",
        "AUD", "RUB", "UAH", "NGN", "ZAR", "IDRT", "BIDR", "BVND", "JPY", "PLN", "RON", "ARS", "MXN", "COP",
        "CZK", "BTC", "ETH", "BNB", "XRP", "TRX", "DOGE", "DOT", "SOL", "EURI", "AEUR", "USDE",
    ])

    public init(quotes: [String]) {
        // Longest first, so FDUSD wins over USD and USDT over USD.
        self.quotes = quotes.map { $0.uppercased() }.sorted { $0.count != $1.count ? $0.count > $1.count : $0 < $1 }
    }

    /// Adds quotes from configuration.
    public mutating func add(_ more: [String]) { self = QuoteSuffixTable(quotes: quotes + more) }

    /// `(base, quote)` for a concatenated symbol, or `nil` when no known quote is a proper suffix.
    public func split(_ symbol: String) -> (base: String, quote: String)? {
        let upper = symbol.uppercased()
        for q in quotes where upper.count > q.count && upper.hasSuffix(q) {
            return (String(upper.dropLast(q.count)), q)
        }
        return nil
    }
}
