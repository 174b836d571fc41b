import Foundation

/// The simulator's Bybit (venue id `bybit`), API v5 public websocket
/// (https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook , `…/trade`).
///
/// Frames:
/// - `{"topic":"orderbook.{depth}.{symbol}","type":"snapshot"|"delta","ts":…,"data":{"s":…,"b":[[price,size],…],"a":[…],"u":…,"seq":…},"cts":…}`:
///   "If you receive a new snapshot message, you will have to reset your local orderbook" (also when
///   `u` is 1 after a service restart); size `"0"` in a delta deletes the level. A delta whose `u` is
///   not above the book's is stale and ignored.
/// - `{"topic":"publicTrade.{symbol}","type":"snapshot","ts":…,"data":[{"T":…,"s":…,"S":"Buy","v":…,"p":…,"i":"…"}]}`:
///   trade ids `i` are UUIDs on derivatives (no numeric ids) and digit strings on spot (numeric ids).
/// - control responses, `tickers.` and other topics: other.
///
/// Snapshot frames are the venue's own snapshot shape with the top `depth` levels of the current book
/// and the last `u`, `seq`, `ts` and `cts` seen, so the next original delta (`u` + 1) follows it.
/// Bybit sends no checksums.
///
/// REST: `/v5/market/orderbook` from the current book and `/v5/market/recent-trade` from the trades
/// seen so far. Bybit's frames do not say their category (spot, linear, …); the model keys books by
/// topic and answers REST by symbol whatever the `category`.
public struct BybitModel: VenueModel {
    /// One `orderbook.{depth}.{symbol}` book.
    struct Book: Sendable {
        var topic: String
        var symbol: String
        var depth: Int
        var levels = SimBook()
        var u: Int64 = 0
        var seq: Int64?
        var ts: Int64?
        var cts: Int64?
    }

    /// One public trade, for the REST history.
    struct TradeRecord: Sendable {
        var execID: String
        var symbol: String
        var price: String
        var size: String
        var side: String
        var time: Int64
        var isBlockTrade: Bool
    }

    var books: [Book] = []
    var bookIndex: [String: Int] = [:]
    var trades: [String: [TradeRecord]] = [:]

    /// Trades remembered per symbol (Bybit's recent-trade endpoint serves at most 1000).
    static let tradeHistoryLimit = 1000

    public init() {}

    public mutating func observe(frame: String) -> FrameRole {
        guard let object = ModelJSON.parse(frame) as? [String: Any], let topic = object["topic"] as? String else { return .other }
        if topic.hasPrefix("orderbook.") { return observeBook(object, topic: topic) }
        if topic.hasPrefix("publicTrade.") {
            var ids: [Int64] = []
            var allNumeric = true
            var symbol = String(topic.dropFirst("publicTrade.".count))
            for case let element as [String: Any] in object["data"] as? [Any] ?? [] {
                if let s = element["s"] as? String { symbol = s }
                let execID = element["i"] as? String ?? ""
                if let id = ModelJSON.integer(execID), id >= 0 { ids.append(id) } else { allNumeric = false }
                record(
                    TradeRecord(
                        execID: execID, symbol: symbol, price: element["p"] as? String ?? "", size: element["v"] as? String ?? "",
                        side: element["S"] as? String ?? "", time: ModelJSON.int64(element["T"]) ?? 0,
                        isBlockTrade: element["BT"] as? Bool ?? false))
            }
            // UUIDs are not numeric ids: report none rather than some.
            return .trade(symbol: symbol, ids: allNumeric ? ids : [])
        }
        return .other
    }

    mutating func observeBook(_ object: [String: Any], topic: String) -> FrameRole {
        let parts = topic.split(separator: ".", maxSplits: 2)
        guard parts.count == 3, let depth = Int(parts[1]), depth > 0, let data = object["data"] as? [String: Any],
            let type = object["type"] as? String
        else { return .other }
        let symbol = data["s"] as? String ?? String(parts[2])
        let u = ModelJSON.int64(data["u"])
        switch type {
        case "snapshot":
            let k: Int
            if let existing = bookIndex[topic] {
                k = existing
            } else {
                k = books.count
                books.append(Book(topic: topic, symbol: symbol, depth: depth))
                bookIndex[topic] = k
            }
            books[k].levels.clear()
            apply(data, object, u: u, to: k)
            return .bookSnapshot(symbol: symbol)
        case "delta":
            if let k = bookIndex[topic], let u, u > books[k].u {
                apply(data, object, u: u, to: k)
            }
            return .bookDelta(symbol: symbol)
        default:
            return .other
        }
    }

    /// Applies levels and remembers the message's ids and times, in place.
    mutating func apply(_ data: [String: Any], _ object: [String: Any], u: Int64?, to k: Int) {
        for (key, side) in [("b", SimBook.Side.bid), ("a", .ask)] {
            for level in ModelJSON.levels(data[key]) ?? [] {
                books[k].levels.set(side, price: level[0], size: level[1])
            }
        }
        if let u { books[k].u = u }
        if let seq = ModelJSON.int64(data["seq"]) { books[k].seq = seq }
        if let ts = ModelJSON.int64(object["ts"]) { books[k].ts = ts }
        if let cts = ModelJSON.int64(object["cts"]) { books[k].cts = cts }
    }

    mutating func record(_ trade: TradeRecord) {
        var list = trades[trade.symbol, default: []]
        list.append(trade)
        if list.count > Self.tradeHistoryLimit { list.removeFirst(list.count - Self.tradeHistoryLimit) }
        trades[trade.symbol] = list
    }

    public mutating func observeREST(url: String, body: String) {}

    /// Per book, `{"topic":…,"type":"snapshot","ts":…,"data":{"s":…,"b":[…],"a":[…],"u":…,"seq":…},"cts":…}`
    /// with the best `depth` levels (bids descending, asks ascending).
    public func snapshotFrames() -> [String] { snapshots(books) }

    public func snapshotFrames(symbols: Set<String>) -> [String] { snapshots(books.filter { symbols.contains($0.symbol) }) }

    func snapshots(_ books: [Book]) -> [String] {
        books.map { book in
            var out = "{\"topic\":" + ModelJSON.quote(book.topic) + ",\"type\":\"snapshot\""
            if let ts = book.ts { out += ",\"ts\":\(ts)" }
            out += ",\"data\":{\"s\":" + ModelJSON.quote(book.symbol)
            out += ",\"b\":" + ModelJSON.levels(book.levels.levels(.bid, depth: book.depth))
            out += ",\"a\":" + ModelJSON.levels(book.levels.levels(.ask, depth: book.depth))
            out += ",\"u\":\(book.u)"
            if let seq = book.seq { out += ",\"seq\":\(seq)" }
            out += "}"
            if let cts = book.cts { out += ",\"cts\":\(cts)" }
            return out + "}"
        }
    }

    /// Bybit sends no book checksums.
    public func corruptingChecksum(_ frame: String) -> String? { nil }

    /// `{"op":"subscribe"|"unsubscribe","args":["orderbook.50.BTCUSDT","publicTrade.BTCUSDT",…]}`
    /// (`orderbook.` topics are books, `publicTrade.` trades); `{"op":"ping"}` gets
    /// `{"success":true,"ret_msg":"pong","conn_id":"sim",("req_id":…,)"op":"ping"}`
    /// (https://bybit-exchange.github.io/docs/v5/ws/connect).
    public func classify(clientText: String) -> ClientRequest {
        guard let object = ModelJSON.parse(clientText) as? [String: Any], let op = object["op"] as? String else { return .other }
        switch op {
        case "subscribe", "unsubscribe":
            var topics: [StreamTopic] = []
            for case let arg as String in object["args"] as? [Any] ?? [] {
                let symbol = String(arg.split(separator: ".").last ?? "")
                if arg.hasPrefix("orderbook.") { topics.append(StreamTopic(.book, symbol)) }
                if arg.hasPrefix("publicTrade.") { topics.append(StreamTopic(.trades, symbol)) }
            }
            return op == "subscribe" ? .subscribe(topics) : .unsubscribe(topics)
        case "ping": return .ping(reply: Self.response(success: true, message: "pong", requestID: object["req_id"] as? String, op: "ping"))
        default: return .other
        }
    }

    /// `{"success":false,"ret_msg":"error:handler not found","conn_id":"sim",("req_id":…,)"op":"subscribe"}`.
    public func subscriptionError(for clientText: String) -> String {
        let request = ModelJSON.parse(clientText) as? [String: Any]
        return Self.response(success: false, message: "error:handler not found", requestID: request?["req_id"] as? String, op: "subscribe")
    }

    static func response(success: Bool, message: String, requestID: String?, op: String) -> String {
        var out = "{\"success\":\(success),\"ret_msg\":" + ModelJSON.quote(message) + ",\"conn_id\":\"sim\""
        if let requestID { out += ",\"req_id\":" + ModelJSON.quote(requestID) }
        return out + ",\"op\":" + ModelJSON.quote(op) + "}"
    }

    // MARK: REST

    /// - `/v5/market/orderbook?category=&symbol=&limit=`: the current book, `limit` 1…500 levels a
    ///   side (default 25; 1 for `category=spot`): `{"retCode":0,"retMsg":"OK","result":{"s","a","b","ts","u","seq","cts"},…}`;
    /// - `/v5/market/recent-trade?category=&symbol=&limit=`: the latest trades, newest first, `limit`
    ///   1…1000 (default 500; 60 for spot).
    ///
    /// A missing or unknown symbol or a bad limit gets `retCode` 10001. Nil (404) for other paths.
    public func rest(path: String, query: [String: String]) -> String? {
        let spot = query["category"] == "spot"
        switch path {
        case "/v5/market/orderbook":
            guard let symbol = query["symbol"], !symbol.isEmpty else { return Self.restError("params error: symbol invalid") }
            guard let limit = ModelJSON.queryInt(query, "limit", default: spot ? 1 : 25, range: 1...500) else {
                return Self.restError("params error: limit invalid")
            }
            // The deepest book of the symbol answers (`orderbook.500` over `orderbook.1`).
            guard let book = books.filter({ $0.symbol == symbol }).max(by: { $0.depth < $1.depth }) else {
                return Self.restError("params error: symbol invalid")
            }
            var result = "{\"s\":" + ModelJSON.quote(symbol)
            result += ",\"a\":" + ModelJSON.levels(book.levels.levels(.ask, depth: limit))
            result += ",\"b\":" + ModelJSON.levels(book.levels.levels(.bid, depth: limit))
            result += ",\"ts\":\(book.ts ?? 0),\"u\":\(book.u)"
            if let seq = book.seq { result += ",\"seq\":\(seq)" }
            if let cts = book.cts { result += ",\"cts\":\(cts)" }
            return Self.restOK(result + "}", time: book.ts ?? 0)
        case "/v5/market/recent-trade":
            guard let symbol = query["symbol"], !symbol.isEmpty else { return Self.restError("params error: symbol invalid") }
            guard let limit = ModelJSON.queryInt(query, "limit", default: spot ? 60 : 500, range: 1...1000) else {
                return Self.restError("params error: limit invalid")
            }
            let list = (trades[symbol] ?? []).suffix(limit).reversed()
            let items = list.map { t in
                "{\"execId\":" + ModelJSON.quote(t.execID) + ",\"symbol\":" + ModelJSON.quote(t.symbol) + ",\"price\":"
                    + ModelJSON.quote(t.price) + ",\"size\":" + ModelJSON.quote(t.size) + ",\"side\":" + ModelJSON.quote(t.side)
                    + ",\"time\":\"\(t.time)\",\"isBlockTrade\":\(t.isBlockTrade)}"
            }
            let category = ModelJSON.quote(query["category"] ?? "linear")
            return Self.restOK(
                "{\"category\":" + category + ",\"list\":[" + items.joined(separator: ",") + "]}", time: list.first?.time ?? 0)
        default:
            return nil
        }
    }

    static func restOK(_ result: String, time: Int64) -> String {
        "{\"retCode\":0,\"retMsg\":\"OK\",\"result\":" + result + ",\"retExtInfo\":{},\"time\":\(time)}"
    }

    static func restError(_ message: String) -> String {
        "{\"retCode\":10001,\"retMsg\":" + ModelJSON.quote(message) + ",\"result\":{},\"retExtInfo\":{},\"time\":0}"
    }
}
