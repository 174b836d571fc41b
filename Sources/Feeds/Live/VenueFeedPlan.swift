public import MarketCore
public import Venues

/// How the books of a venue are synchronized after a (re)connect.
public enum BookSyncMode: Sendable {
    /// Diffs are buffered and a REST depth snapshot bridges them (Binance).
    case restSnapshot
    /// The venue pushes a snapshot on subscribe (Coinbase, Kraken, OKX, Bybit): resync = resubscribe.
    case streamSnapshot
}

/// One venue's wire plan: native symbols, subscribe messages, heartbeat text, REST URLs.
/// Pure: no I/O. Built from ``FeedSettings``.
public struct VenueFeedPlan: Sendable {
    public let settings: FeedSettings
    /// Native symbol per canonical symbol, in configuration order.
    public let natives: [(canonical: String, native: String)]
    /// The venue's parser, asked only to classify control frames (parse-side state is not used).
    let adapter: (any VenueAdapter)?

    public init(_ settings: FeedSettings) throws(FeedPlanError) {
        self.settings = settings
        var natives: [(String, String)] = []
        for s in settings.symbols {
            guard let n = Self.native(canonical: s, venue: settings.venue) else {
                throw FeedPlanError(description: "\(settings.venue.id): cannot map symbol '\(s)' to the venue's own symbol")
            }
            natives.append((s, n))
        }
        self.natives = natives
        self.adapter = VenueAdapters.make(settings.venue)
    }

    public var venue: Venue { settings.venue }

    public var bookSync: BookSyncMode {
        switch venue {
        case .binance, .binanceUSDM, .binanceCOINM: .restSnapshot
        default: .streamSnapshot
        }
    }

    /// The canonical → native symbol rule of each venue (CONTRACTS.md, "Venues and symbols", in reverse).
    public static func native(canonical: String, venue: Venue) -> String? {
        let parts = canonical.uppercased().split(separator: "-").map(String.init)
        guard parts.count >= 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        let (base, quote) = (parts[0], parts[1])
        let perp = parts.count == 3 && parts[2] == "PERP"
        // Dated futures: BASE-QUOTE-YYYYMMDD; the venues write the date as YYMMDD.
        let expiry: String? =
            parts.count == 3 && parts[2].count == 8 && parts[2].allSatisfy(\.isNumber) ? String(parts[2].dropFirst(2)) : nil
        guard parts.count == 2 || perp || expiry != nil else { return nil }
        switch venue {
        case .binance: return perp || expiry != nil ? nil : base + quote
        case .binanceUSDM: return expiry.map { base + quote + "_" + $0 } ?? base + quote
        case .binanceCOINM: return base + quote + "_" + (expiry ?? "PERP")
        case .coinbase: return perp || expiry != nil ? nil : "\(base)-\(quote)"
        case .kraken:
            let k: (String) -> String = { $0 == "BTC" ? "XBT" : $0 == "DOGE" ? "XDG" : $0 }
            return perp || expiry != nil ? nil : "\(k(base))/\(k(quote))"
        case .okx:
            if let expiry { return "\(base)-\(quote)-\(expiry)" }
            return perp ? "\(base)-\(quote)-SWAP" : "\(base)-\(quote)"
        case .bybit: return expiry != nil ? nil : base + quote
        default: return nil
        }
    }

    /// The subscribe messages for one connection, batched within the venue's limits.
    public func subscribeMessages() -> [String] {
        let ch = settings.channels
        let ns = natives.map(\.native)
        let batch = max(1, settings.subscribeBatch)
        switch venue {
        case .binance, .binanceUSDM, .binanceCOINM:
            var streams: [String] = []
            for n in ns {
                streams += BinanceSubscriptions.streams(
                    native: n, trades: ch.contains(.trades), depth: ch.contains(.book), bookTicker: ch.contains(.ticker))
            }
            return BinanceSubscriptions.subscribeMessages(streams: streams, maxPerMessage: batch)
        case .coinbase:
            var channels: [String] = []
            if ch.contains(.book) { channels.append("level2_batch") }
            if ch.contains(.trades) { channels.append("matches") }
            if ch.contains(.ticker) { channels.append("ticker") }
            channels.append("heartbeat")
            return stride(from: 0, to: ns.count, by: batch).map {
                CoinbaseAdapter.exchangeSubscribeMessage(productIDs: Array(ns[$0..<min($0 + batch, ns.count)]), channels: channels)
            }
        case .kraken:
            var subs: [String] = []
            if ch.contains(.book) { subs.append(#"{"name":"book","depth":\#(Self.krakenDepth(settings.bookDepth))}"#) }
            if ch.contains(.trades) { subs.append(#"{"name":"trade"}"#) }
            if ch.contains(.ticker) { subs.append(#"{"name":"ticker"}"#) }
            var out: [String] = []
            for sub in subs {
                for i in stride(from: 0, to: ns.count, by: batch) {
                    var w = JSONWriter()
                    w.beginArray()
                    for n in ns[i..<min(i + batch, ns.count)] { w.string(n) }
                    w.endArray()
                    out.append(#"{"event":"subscribe","pair":\#(String(decoding: w.bytes, as: UTF8.self)),"subscription":\#(sub)}"#)
                }
            }
            return out
        case .okx:
            var channels: [String] = []
            if ch.contains(.trades) { channels.append("trades") }
            if ch.contains(.book) { channels.append("books") }
            if ch.contains(.ticker) { channels.append("tickers") }
            return OKXSubscriptions.subscribeMessages(OKXSubscriptions.args(instIDs: ns, channels: channels), maxPerMessage: batch)
        case .bybit:
            var topics: [String] = []
            for n in ns {
                if ch.contains(.book) { topics.append(BybitSubscriptions.orderbookTopic(native: n, depth: settings.bookDepth)) }
                if ch.contains(.trades) { topics.append(BybitSubscriptions.tradeTopic(native: n)) }
                if ch.contains(.ticker) { topics.append(BybitSubscriptions.tickerTopic(native: n)) }
            }
            let category: BybitCategory = settings.wsURL.hasSuffix("/spot") ? .spot : .linear
            return BybitSubscriptions.subscribeMessages(topics: topics, category: category, maxPerMessage: batch)
        default:
            return []
        }
    }

    /// Kraken v1 book depths: 10, 25, 100, 500, 1000.
    static func krakenDepth(_ d: Int) -> Int { [10, 25, 100, 500, 1000].first { $0 >= d } ?? 1000 }

    /// The application-level ping text, when the venue wants one.
    public func pingText(_ n: Int) -> String? {
        switch venue {
        case .okx: OKXSubscriptions.ping
        case .bybit: BybitSubscriptions.pingMessage(requestID: "hb\(n)")
        case .kraken: #"{"event":"ping","reqid":\#(n)}"#
        default: nil
        }
    }

    /// REST depth snapshot URL (REST-synced venues).
    public func depthSnapshotURL(native: String) -> String {
        let path: String
        switch venue {
        case .binanceUSDM: path = "/fapi/v1/depth"
        case .binanceCOINM: path = "/dapi/v1/depth"
        default: path = "/api/v3/depth"
        }
        return BinanceSubscriptions.depthSnapshotURL(
            venue: venue, native: native, limit: min(max(settings.bookDepth, 5), 5000), base: trimmed(settings.restURL) + path)
    }

    /// REST trade history from `fromID` (at most 1000), where the venue has one with id ranges.
    public func tradeHistoryURL(native: String, fromID: Int64, stream: TradeStream) -> String? {
        let base = trimmed(settings.restURL)
        switch venue {
        case .binance:
            return stream == .aggregated
                ? "\(base)/api/v3/aggTrades?symbol=\(native)&fromId=\(fromID)&limit=1000"
                : "\(base)/api/v3/historicalTrades?symbol=\(native)&fromId=\(fromID)&limit=1000"
        case .binanceUSDM:
            return "\(base)/fapi/v1/\(stream == .aggregated ? "aggTrades" : "historicalTrades")?symbol=\(native)&fromId=\(fromID)&limit=1000"
        case .binanceCOINM:
            return "\(base)/dapi/v1/\(stream == .aggregated ? "aggTrades" : "historicalTrades")?symbol=\(native)&fromId=\(fromID)&limit=1000"
        case .coinbase:
            // The page of trades right after `fromID - 1`, oldest 1000 of them (newest first).
            return "\(base)/products/\(native)/trades?before=\(fromID - 1)&limit=1000"
        default:
            return nil
        }
    }

    /// What `frame` means for the connection (refusal, shutdown notice, pong), as the venue's
    /// adapter reads it; `nil` for data.
    public func control(_ frame: [UInt8]) -> ControlFrame? {
        guard let adapter else { return nil }
        return frame.withUnsafeBytes { adapter.control($0) }
    }

    func trimmed(_ url: String) -> String { url.hasSuffix("/") ? String(url.dropLast()) : url }
}

/// A feed configuration that cannot be turned into a connection plan.
public struct FeedPlanError: Error, CustomStringConvertible, Sendable {
    public var description: String
}
