import Foundation

/// The simulator's Kraken (venue id `kraken`), spot websocket API v1 (`wss://ws.kraken.com`).
///
/// Frames (https://docs.kraken.com/api/docs/websocket-v1/book , `…/trade`):
/// - book snapshot `[channelID, {"as":[[price, volume, timestamp],…],"bs":[…]}, "book-1000", "XBT/USD"]`;
/// - book update `[channelID, {"a":[[price, volume, timestamp(, "r")],…]}, ({"b":[…],"c":"<crc32>"},) "book-1000", pair]`,
///   one or two objects, the checksum `c` in the last; volume zero removes the level;
/// - trades `[channelID, [[price, volume, time, side, orderType, misc],…], "trade", pair]` (no trade ids);
/// - objects (`heartbeat`, `systemStatus`, `subscriptionStatus`, `pong`) and `ticker`/`spread`/`ohlc` arrays: other.
///
/// Books are kept at the subscribed depth (`book-1000` → 1000 levels a side): "after each update,
/// truncate your book to the subscribed depth — you will not receive qty 0 for levels that fall out
/// of scope" (https://docs.kraken.com/exchange/guides/websockets/book-checksum-v1). Each level keeps
/// its original price, volume and timestamp text, so a snapshot written from it is one Kraken could
/// have sent and its checksum (top 10, over the strings) is the venue's.
///
/// No REST: Kraken v1 books come in-stream and its trades carry no ids to backfill by.
public struct KrakenModel: VenueModel {
    /// One pair's book and the channel it was last seen on.
    struct Book: Sendable {
        var pair: String
        var channelID: Int64
        var channelName: String
        var depth: Int
        var levels = SimBook()
    }

    /// Books in first-seen order (snapshot frames come out in that order).
    var books: [Book] = []
    var bookIndex: [String: Int] = [:]

    /// Kraken's default book depth when the channel name carries none (`book`).
    static let defaultDepth = 10

    public init() {}

    public mutating func observe(frame: String) -> FrameRole {
        guard let array = ModelJSON.parse(frame) as? [Any] else { return .other }
        // Data messages: [channelID, payload…, channelName, pair].
        let n = array.count
        guard n >= 4, let channelID = ModelJSON.int64(array[0]), let name = array[n - 2] as? String,
            let pair = array[n - 1] as? String
        else { return .other }
        let payloads = array[1..<(n - 2)]
        if name == "trade" { return .trade(symbol: pair, ids: []) }
        guard name.hasPrefix("book"), let depth = Self.depth(channelName: name) else { return .other }
        var objects: [[String: Any]] = []
        for payload in payloads {
            guard let object = payload as? [String: Any] else { return .other }
            objects.append(object)
        }
        if objects.contains(where: { $0["as"] != nil || $0["bs"] != nil }) {
            applySnapshot(objects, pair: pair, channelID: channelID, name: name, depth: depth)
            return .bookSnapshot(symbol: pair)
        }
        guard objects.contains(where: { $0["a"] != nil || $0["b"] != nil }) else { return .other }
        if let k = bookIndex[pair] {
            // Updates mutate the stored book in place (no copy of a 1000-level dictionary per message).
            books[k].channelID = channelID
            books[k].channelName = name
            books[k].depth = depth
            for object in objects {
                Self.apply(object["a"], .ask, to: &books[k].levels)
                Self.apply(object["b"], .bid, to: &books[k].levels)
            }
            Self.truncate(&books[k].levels, depth: depth)
        }
        return .bookDelta(symbol: pair)
    }

    mutating func applySnapshot(_ objects: [[String: Any]], pair: String, channelID: Int64, name: String, depth: Int) {
        let k: Int
        if let existing = bookIndex[pair] {
            k = existing
        } else {
            k = books.count
            books.append(Book(pair: pair, channelID: channelID, channelName: name, depth: depth))
            bookIndex[pair] = k
        }
        books[k].channelID = channelID
        books[k].channelName = name
        books[k].depth = depth
        books[k].levels.clear()
        for object in objects {
            Self.apply(object["as"], .ask, to: &books[k].levels)
            Self.apply(object["bs"], .bid, to: &books[k].levels)
        }
        Self.truncate(&books[k].levels, depth: depth)
    }

    /// Sets `[price, volume, timestamp(, "r")]` levels in the order sent ("the last entries in the
    /// array are the most recent"); the timestamp is kept for snapshots, the republish flag is not.
    static func apply(_ value: Any?, _ side: SimBook.Side, to book: inout SimBook) {
        guard let levels = ModelJSON.levels(value) else { return }
        for level in levels {
            book.set(side, price: level[0], size: level[1], extra: level.count > 2 ? [level[2]] : [])
        }
    }

    /// Drops the worst levels beyond `depth` on each side.
    static func truncate(_ book: inout SimBook, depth: Int) {
        while book.bids.count > depth, let worst = book.bids.keys.min(), let level = book.bids[worst] {
            book.set(.bid, price: level.price, size: "0")
        }
        while book.asks.count > depth, let worst = book.asks.keys.max(), let level = book.asks[worst] {
            book.set(.ask, price: level.price, size: "0")
        }
    }

    /// `book-1000` → 1000; `book` → Kraken's default 10; nil for anything else.
    static func depth(channelName name: String) -> Int? {
        if name == "book" { return defaultDepth }
        guard name.hasPrefix("book-"), let d = Int(name.dropFirst(5)), d > 0 else { return nil }
        return d
    }

    public mutating func observeREST(url: String, body: String) {}

    /// One v1 snapshot per pair, `[channelID,{"as":[…],"bs":[…]},"book-N","PAIR"]`, asks ascending
    /// and bids descending, each level `[price, volume, timestamp]` as the venue wrote them.
    public func snapshotFrames() -> [String] { snapshots(books) }

    public func snapshotFrames(symbols: Set<String>) -> [String] { snapshots(books.filter { symbols.contains($0.pair) }) }

    func snapshots(_ books: [Book]) -> [String] {
        books.map { book in
            "[\(book.channelID),{\"as\":" + ModelJSON.levels(book.levels.levels(.ask, depth: book.depth)) + ",\"bs\":"
                + ModelJSON.levels(book.levels.levels(.bid, depth: book.depth)) + "}," + ModelJSON.quote(book.channelName) + ","
                + ModelJSON.quote(book.pair) + "]"
        }
    }

    public func rest(path: String, query: [String: String]) -> String? { nil }

    /// A book update with `"c":"<digits>"`, its checksum's last digit changed (same length, still a
    /// valid unsigned 32-bit value: the digit goes down by one, or `0` becomes `1`).
    public func corruptingChecksum(_ frame: String) -> String? {
        guard let array = ModelJSON.parse(frame) as? [Any], array.count >= 4,
            let name = array[array.count - 2] as? String, name.hasPrefix("book")
        else { return nil }
        var checksum: String?
        for payload in array[1..<(array.count - 2)] {
            if let c = (payload as? [String: Any])?["c"] as? String { checksum = c }
        }
        guard let checksum, !checksum.isEmpty, checksum.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let altered = ModelJSON.alteringLastDigit(checksum),
            let range = frame.range(of: "\"c\":\"\(checksum)\"", options: .backwards)
        else { return nil }
        return frame.replacingCharacters(in: range, with: "\"c\":\"\(altered)\"")
    }

    /// `{"event":"subscribe",…}` subscribes; `{"event":"ping","reqid":N}` is answered with
    /// `{"event":"pong","reqid":N}` (https://docs.kraken.com/api/docs/websocket-v1/ping).
    public func classify(clientText: String) -> ClientRequest {
        guard let object = ModelJSON.parse(clientText) as? [String: Any], let event = object["event"] as? String else {
            return .other
        }
        switch event {
        case "subscribe", "unsubscribe":
            // {"event":…,"pair":["XBT/USD",…],"subscription":{"name":"book"|"trade"|…}}
            let name = (object["subscription"] as? [String: Any])?["name"] as? String
            let channel: StreamTopic.Channel? = name == "book" ? .book : name == "trade" ? .trades : nil
            let topics = channel.map { c in (ModelJSON.strings(object["pair"]) ?? []).map { StreamTopic(c, $0) } } ?? []
            return event == "subscribe" ? .subscribe(topics) : .unsubscribe(topics)
        case "ping":
            if let reqid = ModelJSON.int64(object["reqid"]) { return .ping(reply: "{\"event\":\"pong\",\"reqid\":\(reqid)}") }
            return .ping(reply: "{\"event\":\"pong\"}")
        default:
            return .other
        }
    }

    /// Kraken's refusal, keys in its (alphabetical) order:
    /// `{"errorMessage":"Currency pair not supported","event":"subscriptionStatus","pair":"XBT/USD","reqid":N,"status":"error","subscription":{"depth":1000,"name":"book"}}`
    /// (Kraken sends one per pair; this is the one for the first pair requested).
    public func subscriptionError(for clientText: String) -> String {
        let request = ModelJSON.parse(clientText) as? [String: Any]
        var out = "{\"errorMessage\":\"Currency pair not supported\",\"event\":\"subscriptionStatus\""
        if let pair = ModelJSON.strings(request?["pair"])?.first { out += ",\"pair\":" + ModelJSON.quote(pair) }
        if let reqid = ModelJSON.int64(request?["reqid"]) { out += ",\"reqid\":\(reqid)" }
        out += ",\"status\":\"error\""
        if let subscription = request?["subscription"] as? [String: Any], let name = subscription["name"] as? String {
            out += ",\"subscription\":{"
            if let depth = ModelJSON.int64(subscription["depth"]) { out += "\"depth\":\(depth)," }
            out += "\"name\":" + ModelJSON.quote(name) + "}"
        }
        return out + "}"
    }
}
