import Foundation
public import MarketCore

/// Binance spot, USD-M and COIN-M as the simulator sees them.
///
/// Books sync over REST, as on the real exchange: a symbol's book starts from the capture's REST
/// depth line for it and then applies the `depthUpdate` diffs with `u` above its `lastUpdateId`,
/// including those received before the line (they are held until it arrives, as a client syncing
/// over REST holds them; older ones are dropped: the capture cannot say what that book was). Until the timeline reaches a symbol's REST line, the depth endpoint answers that
/// recorded body unchanged, so a client that syncs early gets exactly the snapshot the capture's
/// diffs bridge to. Trade history is every `trade`/`aggTrade` frame seen so far.
public struct BinanceModel: VenueModel, RESTPrescanning {
    public let venue: Venue

    struct Book {
        var levels = SimBook()
        var lastUpdateID: Int64
        /// Futures depth answers carry the last applied diff's event and transaction times.
        var eventTime: Int64?
        var transactTime: Int64?
    }

    struct Diff {
        var last: Int64
        var bids: [[String]]
        var asks: [[String]]
        var eventTime: Int64?
        var transactTime: Int64?
    }

    struct AggTrade {
        var id: Int64
        var price: String
        var qty: String
        var first: Int64
        var last: Int64
        var time: Int64
        var buyerIsMaker: Bool
    }

    struct RawTrade {
        var id: Int64
        var price: String
        var qty: String
        var time: Int64
        var buyerIsMaker: Bool
    }

    var books: [String: Book] = [:]
    /// Symbols whose recorded REST line the timeline has passed.
    var restReached: Set<String> = []
    /// The first recorded REST body per symbol (prescanned).
    var recordedREST: [String: String] = [:]
    /// Diffs of symbols whose REST line has not been reached yet.
    var heldDiffs: [String: [Diff]] = [:]
    var aggTrades: [String: [AggTrade]] = [:]
    var trades: [String: [RawTrade]] = [:]

    public init(venue: Venue = .binance) {
        self.venue = venue
    }

    var isSpot: Bool { venue == .binance }

    // MARK: Ground truth for tests

    /// The current book of `symbol` (native, e.g. `BTCUSDT`), once its REST line was reached.
    public func book(symbol: String) -> SimBook? { books[symbol.uppercased()]?.levels }

    /// The `u` of the last diff applied to `symbol`'s book (or the REST `lastUpdateId`).
    public func lastUpdateID(symbol: String) -> Int64? { books[symbol.uppercased()]?.lastUpdateID }

    // MARK: VenueModel

    public mutating func prescanREST(url: String, body: String) {
        guard let symbol = JSONRead.query(ofURL: url)["symbol"]?.uppercased(), recordedREST[symbol] == nil else { return }
        recordedREST[symbol] = body
    }

    public mutating func observeREST(url: String, body: String) {
        guard let symbol = JSONRead.query(ofURL: url)["symbol"]?.uppercased(), let obj = JSONRead.object(body),
            let id = JSONRead.int64(obj["lastUpdateId"])
        else { return }
        restReached.insert(symbol)
        // A later REST line older than what the diffs already built says nothing new.
        if let existing = books[symbol], existing.lastUpdateID >= id { return }
        var book = Book(levels: SimBook(), lastUpdateID: id)
        for l in JSONRead.levels(obj["bids"]) where l.count >= 2 { book.levels.set(.bid, price: l[0], size: l[1]) }
        for l in JSONRead.levels(obj["asks"]) where l.count >= 2 { book.levels.set(.ask, price: l[0], size: l[1]) }
        book.eventTime = JSONRead.int64(obj["E"])
        book.transactTime = JSONRead.int64(obj["T"])
        books[symbol] = book
        for d in heldDiffs.removeValue(forKey: symbol) ?? [] { apply(d, symbol: symbol) }
    }

    public mutating func observe(frame: String) -> FrameRole {
        guard let obj = JSONRead.object(frame) else { return .other }
        // Combined streams wrap the payload: {"stream":"btcusdt@trade","data":{...}}.
        let p = (obj["data"] as? [String: Any]) ?? obj
        guard let event = p["e"] as? String, let symbol = (p["s"] as? String)?.uppercased() else { return .other }
        switch event {
        case "depthUpdate":
            applyDiff(symbol: symbol, p)
            return .bookDelta(symbol: symbol)
        case "trade":
            guard let id = JSONRead.int64(p["t"]), let price = p["p"] as? String, let qty = p["q"] as? String else { return .other }
            let t = RawTrade(
                id: id, price: price, qty: qty, time: JSONRead.int64(p["T"]) ?? 0, buyerIsMaker: JSONRead.bool(p["m"]) ?? false)
            Self.insert(t, into: &trades[symbol, default: []], id: \.id)
            return .trade(symbol: symbol, ids: [id])
        case "aggTrade":
            guard let id = JSONRead.int64(p["a"]), let price = p["p"] as? String, let qty = p["q"] as? String else { return .other }
            let t = AggTrade(
                id: id, price: price, qty: qty, first: JSONRead.int64(p["f"]) ?? id, last: JSONRead.int64(p["l"]) ?? id,
                time: JSONRead.int64(p["T"]) ?? 0, buyerIsMaker: JSONRead.bool(p["m"]) ?? false)
            Self.insert(t, into: &aggTrades[symbol, default: []], id: \.id)
            return .trade(symbol: symbol, ids: [id])
        default:
            return .other
        }
    }

    mutating func applyDiff(symbol: String, _ p: [String: Any]) {
        guard let last = JSONRead.int64(p["u"]) else { return }
        let d = Diff(
            last: last, bids: JSONRead.levels(p["b"]), asks: JSONRead.levels(p["a"]), eventTime: JSONRead.int64(p["E"]),
            transactTime: JSONRead.int64(p["T"]))
        if books[symbol] == nil {
            if heldDiffs[symbol, default: []].count < 100_000 { heldDiffs[symbol, default: []].append(d) }
            return
        }
        apply(d, symbol: symbol)
    }

    mutating func apply(_ d: Diff, symbol: String) {
        guard var book = books[symbol], d.last > book.lastUpdateID else { return }
        for l in d.bids where l.count >= 2 { book.levels.set(.bid, price: l[0], size: l[1]) }
        for l in d.asks where l.count >= 2 { book.levels.set(.ask, price: l[0], size: l[1]) }
        book.lastUpdateID = d.last
        book.eventTime = d.eventTime ?? book.eventTime
        book.transactTime = d.transactTime ?? book.transactTime
        books[symbol] = book
    }

    /// Keeps a history sorted by id; a repeated id is ignored.
    static func insert<T>(_ t: T, into list: inout [T], id: KeyPath<T, Int64>) {
        let key = t[keyPath: id]
        if let last = list.last, last[keyPath: id] >= key {
            let i = lowerBound(list, key, id: id)
            if i < list.count, list[i][keyPath: id] == key { return }
            list.insert(t, at: i)
        } else {
            list.append(t)
        }
    }

    static func lowerBound<T>(_ list: [T], _ key: Int64, id: KeyPath<T, Int64>) -> Int {
        var lo = 0
        var hi = list.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if list[mid][keyPath: id] < key { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    public func snapshotFrames() -> [String] { [] }

    public func snapshotFrames(symbols: Set<String>) -> [String] { [] }

    public func corruptingChecksum(_ frame: String) -> String? { nil }

    // MARK: REST

    public func rest(path: String, query: [String: String]) -> String? {
        let endpoint = path.split(separator: "/").last.map(String.init) ?? ""
        let prefixes = ["/api/v3/", "/fapi/v1/", "/dapi/v1/"]
        guard prefixes.contains(where: { path.hasPrefix($0) }) else { return nil }
        if endpoint == "ping" { return "{}" }
        guard let symbol = query["symbol"]?.uppercased(), !symbol.isEmpty else { return nil }
        switch endpoint {
        case "depth": return depth(symbol: symbol, limit: Int(query["limit"] ?? "") ?? 1000)
        case "aggTrades": return aggTradesAnswer(symbol: symbol, query)
        case "historicalTrades": return historicalTradesAnswer(symbol: symbol, query)
        default: return nil
        }
    }

    /// `{"lastUpdateId":N,"bids":[["p","q"],...],"asks":[...]}` from the current book, or the
    /// recorded REST body while the timeline has not reached it.
    func depth(symbol: String, limit: Int) -> String? {
        if !restReached.contains(symbol), let recorded = recordedREST[symbol] { return recorded }
        guard let book = books[symbol] else { return nil }
        let n = min(max(limit, 1), 5000)
        var w = JSONText()
        w.beginObject()
        w.key("lastUpdateId")
        w.int(book.lastUpdateID)
        if !isSpot {
            if let e = book.eventTime { w.key("E"); w.int(e) }
            if let t = book.transactTime { w.key("T"); w.int(t) }
        }
        w.key("bids")
        w.levels(book.levels.levels(.bid, depth: n))
        w.key("asks")
        w.levels(book.levels.levels(.ask, depth: n))
        w.endObject()
        return w.text
    }

    /// The selected slice of an id-sorted history: ids ≥ `fromId` ascending, else the most recent.
    static func window<T>(_ list: [T], id: KeyPath<T, Int64>, fromID: Int64?, limit: Int) -> ArraySlice<T> {
        if let fromID {
            let start = lowerBound(list, fromID, id: id)
            return list[start..<min(list.count, start + limit)]
        }
        return list.suffix(limit)
    }

    static func limit(_ query: [String: String]) -> Int {
        min(max(Int(query["limit"] ?? "") ?? 500, 1), 1000)
    }

    func aggTradesAnswer(symbol: String, _ query: [String: String]) -> String {
        let all = aggTrades[symbol] ?? []
        let limit = Self.limit(query)
        let selected: [AggTrade]
        if query["fromId"] == nil, query["startTime"] != nil || query["endTime"] != nil {
            let from = Int64(query["startTime"] ?? "") ?? .min
            let to = Int64(query["endTime"] ?? "") ?? .max
            selected = Array(all.lazy.filter { $0.time >= from && $0.time <= to }.prefix(limit))
        } else {
            selected = Array(Self.window(all, id: \.id, fromID: query["fromId"].flatMap { Int64($0) }, limit: limit))
        }
        var w = JSONText()
        w.beginArray()
        for t in selected {
            w.beginObject()
            w.key("a"); w.int(t.id)
            w.key("p"); w.string(t.price)
            w.key("q"); w.string(t.qty)
            w.key("f"); w.int(t.first)
            w.key("l"); w.int(t.last)
            w.key("T"); w.int(t.time)
            w.key("m"); w.bool(t.buyerIsMaker)
            if isSpot { w.key("M"); w.bool(true) }
            w.endObject()
        }
        w.endArray()
        return w.text
    }

    func historicalTradesAnswer(symbol: String, _ query: [String: String]) -> String {
        let selected = Self.window(
            trades[symbol] ?? [], id: \.id, fromID: query["fromId"].flatMap { Int64($0) }, limit: Self.limit(query))
        var w = JSONText()
        w.beginArray()
        for t in selected {
            w.beginObject()
            w.key("id"); w.int(t.id)
            w.key("price"); w.string(t.price)
            w.key("qty"); w.string(t.qty)
            w.key("quoteQty"); w.string(Self.product(t.price, t.qty))
            w.key("time"); w.int(t.time)
            w.key("isBuyerMaker"); w.bool(t.buyerIsMaker)
            if isSpot { w.key("isBestMatch"); w.bool(true) }
            w.endObject()
        }
        w.endArray()
        return w.text
    }

    /// price × qty as plain decimal text (Binance prints `quoteQty` without trailing zeros).
    static func product(_ price: String, _ qty: String) -> String {
        guard let p = Decimal(string: price, locale: SimBook.posix), let q = Decimal(string: qty, locale: SimBook.posix) else { return "0" }
        return (p * q).description
    }

    // MARK: Client frames

    /// `{"method":"SUBSCRIBE"|"UNSUBSCRIBE","params":["btcusdt@depth@100ms","btcusdt@aggTrade",…],"id":…}`:
    /// `@depth` streams are book topics, `@trade`/`@aggTrade` trade topics (symbols upper-cased, as frames name them).
    public func classify(clientText: String) -> ClientRequest {
        guard let obj = JSONRead.object(clientText), let method = obj["method"] as? String else { return .other }
        var topics: [StreamTopic] = []
        for case let stream as String in obj["params"] as? [Any] ?? [] {
            let parts = stream.split(separator: "@")
            guard parts.count >= 2 else { continue }
            let symbol = parts[0].uppercased()
            if parts[1].hasPrefix("depth") { topics.append(StreamTopic(.book, symbol)) }
            if parts[1] == "trade" || parts[1] == "aggTrade" { topics.append(StreamTopic(.trades, symbol)) }
        }
        switch method.uppercased() {
        case "SUBSCRIBE": return .subscribe(topics)
        case "UNSUBSCRIBE": return .unsubscribe(topics)
        default: return .other
        }
    }

    public func subscriptionError(for clientText: String) -> String {
        let id = JSONRead.object(clientText)?["id"]
        return #"{"error":{"code":-1121,"msg":"Invalid symbol."},"id":\#(JSONRead.idText(id))}"#
    }
}
