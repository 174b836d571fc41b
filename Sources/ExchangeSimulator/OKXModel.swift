import Foundation

/// The simulator's OKX (venue id `okx`), API v5 public websocket (https://www.okx.com/docs-v5/en/).
///
/// Frames:
/// - order books `books`, `books-l2-tbt`, `books50-l2-tbt`:
///   `{"arg":{"channel":…,"instId":…},"action":"snapshot"|"update","data":[{"asks":[[px,sz,"0",orders],…],"bids":[…],"ts":"…","checksum":N(,"prevSeqId":…,"seqId":…)}]}`;
///   size `"0"` removes a level;
/// - `books5`, `bbo-tbt`: a full book on every push (no `action`), so each one is a snapshot;
/// - `trades`, `trades-all`: `{"arg":…,"data":[{"instId":…,"tradeId":"7849","px":…,"sz":…,"side":…,"ts":…}]}`;
/// - `event` responses, `tickers`, other channels and the text `pong`: other.
///
/// Snapshot frames carry the full current book with a checksum computed here: "Use the first 25 bids
/// and asks in the full load to form a string (where a colon connects the price and size in an ask or
/// a bid), and then calculate the CRC32 value (32-bit signed integer)", levels interleaved
/// `bid1:ask1:bid2:ask2…`, the longer side continuing alone. Where the stream carries `seqId`, the
/// snapshot carries the last one with `prevSeqId` -1 ("except in snapshot messages where the
/// prevSeqId is always -1"), so the next original update (`prevSeqId` = that `seqId`) follows it.
///
/// REST: `/api/v5/market/history-trades` and `/api/v5/market/trades` from the trades seen so far,
/// `/api/v5/market/books` from the current book.
public struct OKXModel: VenueModel {
    /// What the venue wrote in `checksum`: nothing, the deprecated `0`, or real checksums.
    enum ChecksumField: Sendable { case absent, zero, present }

    /// One (channel, instId) book.
    struct Book: Sendable {
        var channel: String
        var instID: String
        var levels = SimBook()
        var ts = ""
        var seqID: Int64?
        var checksum = ChecksumField.absent
        /// `books5` / `bbo-tbt`: the last push, which is the whole book.
        var lastPush: String?
    }

    /// One trade as pushed, for the REST history.
    struct TradeRecord: Sendable {
        var instID: String
        var tradeID: String
        var id: Int64?
        var px: String
        var sz: String
        var side: String
        var ts: String
        var time: Int64?
    }

    var books: [Book] = []
    var bookIndex: [String: Int] = [:]
    /// Trades per instId in arrival order (ids ascending), at most ``tradeHistoryLimit`` each.
    var trades: [String: [TradeRecord]] = [:]

    /// Trades remembered per instrument for the REST history.
    static let tradeHistoryLimit = 50_000
    static let incrementalChannels: Set<String> = ["books", "books-l2-tbt", "books50-l2-tbt"]
    static let snapshotChannels: Set<String> = ["books5", "bbo-tbt"]

    public init() {}

    public mutating func observe(frame: String) -> FrameRole {
        guard let object = ModelJSON.parse(frame) as? [String: Any], object["event"] == nil,
            let arg = object["arg"] as? [String: Any], let channel = arg["channel"] as? String,
            let data = object["data"] as? [Any]
        else { return .other }
        let elements = data.compactMap { $0 as? [String: Any] }
        let argInstID = arg["instId"] as? String
        if Self.incrementalChannels.contains(channel) {
            guard let instID = argInstID, let action = object["action"] as? String else { return .other }
            switch action {
            case "snapshot":
                let k = book(channel: channel, instID: instID)
                for element in elements { apply(element, to: k, reset: true) }
                return .bookSnapshot(symbol: instID)
            case "update":
                // Updates before the first snapshot mean nothing (OKX always starts with one).
                if let k = bookIndex[Self.key(channel, instID)] {
                    for element in elements { apply(element, to: k, reset: false) }
                }
                return .bookDelta(symbol: instID)
            default:
                return .other
            }
        }
        if Self.snapshotChannels.contains(channel) {
            guard let instID = argInstID ?? elements.first?["instId"] as? String else { return .other }
            let k = book(channel: channel, instID: instID)
            for element in elements { apply(element, to: k, reset: true) }
            books[k].lastPush = frame
            return .bookSnapshot(symbol: instID)
        }
        if channel == "trades" || channel == "trades-all" {
            var ids: [Int64] = []
            var symbol = argInstID
            for element in elements {
                let instID = element["instId"] as? String ?? argInstID ?? ""
                if symbol == nil { symbol = instID }
                guard let tradeID = element["tradeId"] as? String else { continue }
                let id = ModelJSON.integer(tradeID)
                if let id { ids.append(id) }
                record(
                    TradeRecord(
                        instID: instID, tradeID: tradeID, id: id, px: element["px"] as? String ?? "",
                        sz: element["sz"] as? String ?? "", side: element["side"] as? String ?? "",
                        ts: element["ts"] as? String ?? "", time: (element["ts"] as? String).flatMap(ModelJSON.integer)))
            }
            return .trade(symbol: symbol ?? "", ids: ids)
        }
        return .other
    }

    static func key(_ channel: String, _ instID: String) -> String { channel + " " + instID }

    /// The index of the (channel, instId) book, created on first sight.
    mutating func book(channel: String, instID: String) -> Int {
        let key = Self.key(channel, instID)
        if let k = bookIndex[key] { return k }
        books.append(Book(channel: channel, instID: instID))
        bookIndex[key] = books.count - 1
        return books.count - 1
    }

    /// Applies one data element in place: levels `[px, sz, "0", orders]` (extra fields kept), `ts`,
    /// `seqId`, and what kind of checksum the venue sends.
    mutating func apply(_ element: [String: Any], to k: Int, reset: Bool) {
        if reset { books[k].levels.clear() }
        for (key, side) in [("asks", SimBook.Side.ask), ("bids", .bid)] {
            for level in ModelJSON.levels(element[key]) ?? [] {
                books[k].levels.set(side, price: level[0], size: level[1], extra: Array(level.dropFirst(2)))
            }
        }
        if let ts = element["ts"] as? String { books[k].ts = ts }
        if let seq = ModelJSON.int64(element["seqId"]) { books[k].seqID = seq }
        if let c = ModelJSON.int64(element["checksum"]) {
            books[k].checksum = c == 0 ? .zero : .present
        } else if element["checksum"] == nil {
            books[k].checksum = .absent
        }
    }

    mutating func record(_ trade: TradeRecord) {
        var list = trades[trade.instID, default: []]
        // The same trade from `trades` and `trades-all`, or a re-delivery: ids only increase.
        if let id = trade.id, let last = list.last?.id, id <= last { return }
        list.append(trade)
        if list.count > Self.tradeHistoryLimit { list.removeFirst(list.count - Self.tradeHistoryLimit) }
        trades[trade.instID] = list
    }

    public mutating func observeREST(url: String, body: String) {}

    // MARK: Snapshots and checksums

    /// Per initialized book, a `snapshot` of the whole current book with a valid checksum (or the
    /// last push itself for `books5`/`bbo-tbt`, which always is the whole book).
    public func snapshotFrames() -> [String] { snapshots(books) }

    public func snapshotFrames(symbols: Set<String>) -> [String] { snapshots(books.filter { symbols.contains($0.instID) }) }

    func snapshots(_ books: [Book]) -> [String] {
        books.map { book in
            if let push = book.lastPush { return push }
            var out = "{\"arg\":{\"channel\":" + ModelJSON.quote(book.channel) + ",\"instId\":" + ModelJSON.quote(book.instID)
            out += "},\"action\":\"snapshot\",\"data\":[{\"asks\":" + ModelJSON.levels(book.levels.levels(.ask))
            out += ",\"bids\":" + ModelJSON.levels(book.levels.levels(.bid)) + ",\"ts\":" + ModelJSON.quote(book.ts)
            switch book.checksum {
            case .absent: break
            case .zero: out += ",\"checksum\":0"
            case .present: out += ",\"checksum\":\(Self.checksum(book.levels))"
            }
            if let seq = book.seqID { out += ",\"prevSeqId\":-1,\"seqId\":\(seq)" }
            return out + "}]}"
        }
    }

    /// OKX's checksum of a book: CRC-32 of `bid1px:bid1sz:ask1px:ask1sz:bid2px:…` over the best 25
    /// of each side (a shorter side just ends), as a signed 32-bit integer.
    static func checksum(_ book: SimBook) -> Int32 {
        Int32(bitPattern: ModelJSON.crc32(checkString(book)))
    }

    /// The text OKX's checksum covers.
    static func checkString(_ book: SimBook) -> String {
        let bids = book.levels(.bid, depth: 25)
        let asks = book.levels(.ask, depth: 25)
        var parts: [String] = []
        for i in 0..<max(bids.count, asks.count) {
            if i < bids.count { parts += [bids[i].price, bids[i].size] }
            if i < asks.count { parts += [asks[i].price, asks[i].size] }
        }
        return parts.joined(separator: ":")
    }

    /// A book frame with its first non-zero `checksum` changed in the last digit (same length; the
    /// magnitude moves by one so it stays a 32-bit value). Nil for frames without a checksum, and for
    /// `0`, which OKX sends in place of one since the field's deprecation.
    public func corruptingChecksum(_ frame: String) -> String? {
        guard let object = ModelJSON.parse(frame) as? [String: Any], let data = object["data"] as? [Any],
            data.contains(where: { ModelJSON.int64(($0 as? [String: Any])?["checksum"]).map { $0 != 0 } ?? false })
        else { return nil }
        // Find the number after each `"checksum":` in the text and change the first non-zero one.
        let bytes = Array(frame.utf8)
        let key = Array("\"checksum\"".utf8)
        var i = 0
        while i + key.count <= bytes.count {
            guard bytes[i..<(i + key.count)].elementsEqual(key) else {
                i += 1
                continue
            }
            var j = i + key.count
            while j < bytes.count, bytes[j] == 0x20 || bytes[j] == 0x0A || bytes[j] == 0x0D || bytes[j] == 0x09 || bytes[j] == 0x3A {
                j += 1
            }
            var end = j
            if end < bytes.count, bytes[end] == UInt8(ascii: "-") { end += 1 }
            while end < bytes.count, bytes[end] >= 0x30, bytes[end] <= 0x39 { end += 1 }
            let number = String(decoding: bytes[j..<end], as: UTF8.self)
            if let value = ModelJSON.integer(number), value != 0 {
                // ±1 would become 0, which means "no checksum": use 2 instead.
                let altered = (value == 1 || value == -1) ? "2" : ModelJSON.alteringLastDigit(number)!
                return String(decoding: Array(bytes[..<j]) + Array(altered.utf8) + Array(bytes[end...]), as: UTF8.self)
            }
            i = end
        }
        return nil
    }

    // MARK: Client requests

    /// The text `ping` is answered with `pong` ("send the string 'ping'… expect a 'pong' as a
    /// response", https://www.okx.com/docs-v5/en/#overview-websocket-connect); `{"op":"subscribe"}` subscribes.
    /// `{"op":"subscribe"|"unsubscribe","args":[{"channel":…,"instId":…},…]}`: book channels
    /// (`books…`, `bbo-tbt`) and `trades`/`trades-all` are topics; the text `ping` gets `pong`.
    public func classify(clientText: String) -> ClientRequest {
        if ModelJSON.trimmed(clientText) == "ping" { return .ping(reply: "pong") }
        guard let object = ModelJSON.parse(clientText) as? [String: Any], let op = object["op"] as? String else { return .other }
        var topics: [StreamTopic] = []
        for case let arg as [String: Any] in object["args"] as? [Any] ?? [] {
            guard let channel = arg["channel"] as? String, let instID = arg["instId"] as? String else { continue }
            if channel.hasPrefix("books") || channel == "bbo-tbt" { topics.append(StreamTopic(.book, instID)) }
            if channel == "trades" || channel == "trades-all" { topics.append(StreamTopic(.trades, instID)) }
        }
        switch op {
        case "subscribe": return .subscribe(topics)
        case "unsubscribe": return .unsubscribe(topics)
        default: return .other
        }
    }

    /// `{"event":"error","code":"60018","msg":"Wrong URL or channel:…,instId:… doesn't exist. …","connId":"sim"}`
    /// (`"id"` first when the request had one), naming the request's first channel.
    public func subscriptionError(for clientText: String) -> String {
        let request = ModelJSON.parse(clientText) as? [String: Any]
        let first = (request?["args"] as? [Any])?.first as? [String: Any]
        let channel = first?["channel"] as? String ?? ""
        let instID = first?["instId"] as? String ?? ""
        var out = "{"
        if let id = request?["id"] as? String { out += "\"id\":" + ModelJSON.quote(id) + "," }
        out += "\"event\":\"error\",\"code\":\"60018\",\"msg\":"
        out += ModelJSON.quote(
            "Wrong URL or channel:\(channel),instId:\(instID) doesn't exist. Please use the correct URL, channel and parameters referring to API document.")
        return out + ",\"connId\":\"sim\"}"
    }

    // MARK: REST

    /// - `/api/v5/market/history-trades?instId=&type=1|2&after=&before=&limit=`: trades older than
    ///   `after` / newer than `before` (trade id for `type=1`, the default; ms time for `type=2`),
    ///   newest first, `limit` 1…100 (default 100);
    /// - `/api/v5/market/trades?instId=&limit=`: the latest trades, newest first, `limit` 1…500 (default 100);
    /// - `/api/v5/market/books?instId=&sz=`: the current book, `sz` 1…400 levels a side (default 1).
    ///
    /// Answers `{"code":"0","msg":"","data":[…]}`; a bad parameter gets OKX's error code (`50014`
    /// missing instId, `51000` bad parameter) with empty data. Nil (404) for other paths.
    public func rest(path: String, query: [String: String]) -> String? {
        switch path {
        case "/api/v5/market/history-trades", "/api/v5/market/trades":
            guard let instID = query["instId"], !instID.isEmpty else { return Self.restError("50014", "Parameter instId can not be empty.") }
            let history = path.hasSuffix("history-trades")
            guard let limit = ModelJSON.queryInt(query, "limit", default: 100, range: 1...(history ? 100 : 500)) else {
                return Self.restError("51000", "Parameter limit error")
            }
            let list = trades[instID] ?? []
            guard history else { return Self.restTrades(list.suffix(limit).reversed()) }
            let byTime = query["type"] == "2"
            guard query["type"] == nil || query["type"] == "1" || byTime else { return Self.restError("51000", "Parameter type error") }
            func bound(_ key: String) -> Int64?? {
                guard let text = query[key], !text.isEmpty else { return .some(nil) }
                guard let value = ModelJSON.integer(text) else { return nil }
                return .some(value)
            }
            guard let after = bound("after") else { return Self.restError("51000", "Parameter after error") }
            guard let before = bound("before") else { return Self.restError("51000", "Parameter before error") }
            let selected = list.filter { t in
                guard let v = byTime ? t.time : t.id else { return false }
                return (after.map { v < $0 } ?? true) && (before.map { v > $0 } ?? true)
            }
            // With only `before`, the page is the one right after it; otherwise the newest.
            let page = (before != nil && after == nil) ? Array(selected.prefix(limit)) : Array(selected.suffix(limit))
            return Self.restTrades(page.reversed())
        case "/api/v5/market/books":
            guard let instID = query["instId"], !instID.isEmpty else { return Self.restError("50014", "Parameter instId can not be empty.") }
            guard let size = ModelJSON.queryInt(query, "sz", default: 1, range: 1...400) else {
                return Self.restError("51000", "Parameter sz error")
            }
            let candidates = books.filter { $0.instID == instID }
            guard let book = candidates.first(where: { Self.incrementalChannels.contains($0.channel) }) ?? candidates.first else {
                return Self.restError("51001", "Instrument ID does not exist.")
            }
            return "{\"code\":\"0\",\"msg\":\"\",\"data\":[{\"asks\":" + ModelJSON.levels(book.levels.levels(.ask, depth: size))
                + ",\"bids\":" + ModelJSON.levels(book.levels.levels(.bid, depth: size)) + ",\"ts\":" + ModelJSON.quote(book.ts) + "}]}"
        default:
            return nil
        }
    }

    static func restError(_ code: String, _ message: String) -> String {
        "{\"code\":" + ModelJSON.quote(code) + ",\"msg\":" + ModelJSON.quote(message) + ",\"data\":[]}"
    }

    static func restTrades<S: Sequence>(_ list: S) -> String where S.Element == TradeRecord {
        let items = list.map { t in
            "{\"instId\":" + ModelJSON.quote(t.instID) + ",\"side\":" + ModelJSON.quote(t.side) + ",\"sz\":" + ModelJSON.quote(t.sz)
                + ",\"px\":" + ModelJSON.quote(t.px) + ",\"tradeId\":" + ModelJSON.quote(t.tradeID) + ",\"ts\":" + ModelJSON.quote(t.ts) + "}"
        }
        return "{\"code\":\"0\",\"msg\":\"\",\"data\":[" + items.joined(separator: ",") + "]}"
    }
}
