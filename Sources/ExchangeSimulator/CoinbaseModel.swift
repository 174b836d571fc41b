import Foundation
public import MarketCore

/// The Coinbase Exchange feed as the simulator sees it: `level2` books from `snapshot` and
/// `l2update` (no sequence numbers, so a lost update only shows through a trade-id gap),
/// trades from `match`/`last_match`. A client that subscribes mid-stream gets one full-depth
/// `snapshot` per product, as Coinbase sends on subscribe. REST answers trade history.
public struct CoinbaseModel: VenueModel {
    struct Trade {
        var id: Int64
        var time: String
        var price: String
        var size: String
        var side: String
    }

    var books: [String: SimBook] = [:]
    /// Products with a book, in the order their first snapshot came (deterministic snapshots).
    var bookOrder: [String] = []
    /// Trades per product, ascending by `trade_id`.
    var trades: [String: [Trade]] = [:]
    /// Every product seen in any frame (REST answers `[]` rather than 404 for them).
    var products: Set<String> = []

    public init() {}

    /// The current book of `product` (e.g. `BTC-USD`), once its snapshot was seen.
    public func book(product: String) -> SimBook? { books[product] }

    // MARK: VenueModel

    public mutating func observe(frame: String) -> FrameRole {
        guard let obj = JSONRead.object(frame), let type = obj["type"] as? String, let product = obj["product_id"] as? String
        else { return .other }
        products.insert(product)
        switch type {
        case "snapshot":
            var book = SimBook()
            for l in JSONRead.levels(obj["bids"]) where l.count >= 2 { book.set(.bid, price: l[0], size: l[1]) }
            for l in JSONRead.levels(obj["asks"]) where l.count >= 2 { book.set(.ask, price: l[0], size: l[1]) }
            if books[product] == nil { bookOrder.append(product) }
            books[product] = book
            return .bookSnapshot(symbol: product)
        case "l2update":
            // Updates before the product's snapshot have no book to apply to.
            if var book = books[product] {
                for c in JSONRead.levels(obj["changes"]) where c.count >= 3 {
                    book.set(c[0] == "buy" ? .bid : .ask, price: c[1], size: c[2])
                }
                books[product] = book
            }
            return .bookDelta(symbol: product)
        case "match", "last_match":
            guard let id = JSONRead.int64(obj["trade_id"]), let price = obj["price"] as? String, let size = obj["size"] as? String
            else { return .other }
            let t = Trade(id: id, time: obj["time"] as? String ?? "", price: price, size: size, side: obj["side"] as? String ?? "")
            BinanceModel.insert(t, into: &trades[product, default: []], id: \.id)
            return .trade(symbol: product, ids: [id])
        default:
            return .other
        }
    }

    public mutating func observeREST(url: String, body: String) {}

    public func snapshotFrames() -> [String] { snapshots(bookOrder) }

    public func snapshotFrames(symbols: Set<String>) -> [String] { snapshots(bookOrder.filter { symbols.contains($0) }) }

    func snapshots(_ bookOrder: [String]) -> [String] {
        bookOrder.compactMap { product in
            guard let book = books[product] else { return nil }
            var w = JSONText()
            w.beginObject()
            w.key("type"); w.string("snapshot")
            w.key("product_id"); w.string(product)
            w.key("asks"); w.levels(book.levels(.ask))
            w.key("bids"); w.levels(book.levels(.bid))
            w.endObject()
            return w.text
        }
    }

    public func corruptingChecksum(_ frame: String) -> String? { nil }

    // MARK: REST

    /// `/products/<id>/trades?after=&before=&limit=`, with Coinbase's cursor semantics: newest
    /// first; `after` gives the trades older than that trade id, `before` the newer ones (the
    /// page right after it); `limit` defaults to 100, at most 1000.
    public func rest(path: String, query: [String: String]) -> String? {
        let parts = path.split(separator: "/").map(String.init)
        guard parts.count == 3, parts[0] == "products", parts[2] == "trades", products.contains(parts[1]) else { return nil }
        let all = trades[parts[1]] ?? []
        let limit = min(max(Int(query["limit"] ?? "") ?? 100, 1), 1000)
        let page: [Trade]
        if let after = query["after"].flatMap({ Int64($0) }) {
            let end = BinanceModel.lowerBound(all, after, id: \.id)  // ids < after
            page = Array(all[max(0, end - limit)..<end].reversed())
        } else if let before = query["before"].flatMap({ Int64($0) }) {
            let start = BinanceModel.lowerBound(all, before + 1, id: \.id)  // ids > before
            page = Array(all[start..<min(all.count, start + limit)].reversed())
        } else {
            page = Array(all.suffix(limit).reversed())
        }
        var w = JSONText()
        w.beginArray()
        for t in page {
            w.beginObject()
            w.key("time"); w.string(t.time)
            w.key("trade_id"); w.int(t.id)
            w.key("price"); w.string(t.price)
            w.key("size"); w.string(t.size)
            w.key("side"); w.string(t.side)
            w.endObject()
        }
        w.endArray()
        return w.text
    }

    // MARK: Client frames

    /// `{"type":"subscribe"|"unsubscribe","product_ids":[…],"channels":[…]}` (a channel may be an
    /// object with its own `product_ids`; Advanced Trade names one `channel`): `level2…` channels are
    /// book topics, `matches`/`full`/`market_trades` trade topics.
    public func classify(clientText: String) -> ClientRequest {
        guard let obj = JSONRead.object(clientText), let type = obj["type"] as? String else { return .other }
        let products = (obj["product_ids"] as? [String]) ?? []
        var topics: [StreamTopic] = []
        var channels: [Any] = (obj["channels"] as? [Any]) ?? []
        if let one = obj["channel"] as? String { channels.append(one) }
        for c in channels {
            let name = (c as? String) ?? ((c as? [String: Any])?["name"] as? String) ?? ""
            let ids = ((c as? [String: Any])?["product_ids"] as? [String]) ?? products
            let channel: StreamTopic.Channel? =
                name.hasPrefix("level2") || name == "l2_data" ? .book : ["matches", "full", "market_trades"].contains(name) ? .trades : nil
            if let channel { topics += ids.map { StreamTopic(channel, $0) } }
        }
        switch type {
        case "subscribe": return .subscribe(topics)
        case "unsubscribe": return .unsubscribe(topics)
        default: return .other
        }
    }

    public func subscriptionError(for clientText: String) -> String {
        let products = (JSONRead.object(clientText)?["product_ids"] as? [String]) ?? []
        let reason = products.isEmpty ? "subscription refused" : "\(products[0]) is not available"
        return #"{"type":"error","message":"Failed to subscribe","reason":\#(JSONText.quoted(reason))}"#
    }
}
