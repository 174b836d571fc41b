import Feeds
import Foundation
import MarketCore
import Normalizer
import Testing
import Venues
import _TestSupport

// Expected values are read from the frame text with JSONSerialization (or restated from Coinbase's
// documentation), never from the adapter's output. Times are computed independently of
// `UnixNanos.parseISO8601`: whole seconds by Foundation, fraction digits by hand.

/// One capture line with its frame decoded by Foundation.
private struct Line {
    var recv: Int64
    var kind: String
    var frame: [UInt8]
    var json: [String: Any]
    var type: String { json["type"] as? String ?? "" }
}

private func line(recv: Int64, kind: String, frame: [UInt8]) -> Line {
    let json = frame.isEmpty ? [:] : (try? JSONSerialization.jsonObject(with: Data(frame))) as? [String: Any] ?? [:]
    return Line(recv: recv, kind: kind, frame: frame, json: json)
}

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/coinbase")
private let docSamples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("CoinbaseDocSamples")

/// The plain excerpt (first 2000 lines of the recording), read with Foundation only.
private func excerpt() throws -> [Line] {
    let text = try String(contentsOf: fixtures.appendingPathComponent("exchange-level2-excerpt.jsonl"), encoding: .utf8)
    return try text.split(separator: "\n").map { raw in
        let d = try #require(try JSONSerialization.jsonObject(with: Data(raw.utf8)) as? [String: Any])
        let recv = try #require(d["recv_ns"] as? NSNumber).int64Value
        return line(recv: recv, kind: try #require(d["kind"] as? String), frame: Array((d["frame"] as? String ?? "").utf8))
    }
}

private func docSample(_ name: String) throws -> String {
    try String(contentsOf: docSamples.appendingPathComponent(name), encoding: .utf8)
}

/// Exact nanoseconds of an ISO-8601 `Z` time.
private func nanos(_ iso: String) -> UnixNanos {
    let dot = iso.firstIndex(of: ".")
    let whole = (dot.map { String(iso[..<$0]) } ?? String(iso.dropLast())) + "Z"
    let seconds = Int64(ISO8601DateFormatter().date(from: whole)!.timeIntervalSince1970)
    var fraction = dot.map { String(iso[iso.index(after: $0)..<iso.index(before: iso.endIndex)]) } ?? ""
    while fraction.count < 9 { fraction += "0" }
    return UnixNanos(seconds * 1_000_000_000 + Int64(fraction)!)
}

private func run(
    _ frame: [UInt8], _ adapter: inout CoinbaseAdapter, kind: FrameKind = .ws, connection: String? = "1", recv: Int64 = 7
) -> [VenueEvent] {
    var out: [VenueEvent] = []
    frame.withUnsafeBytes {
        adapter.handle(kind: kind, url: nil, connection: connection, frame: $0, receiveTime: UnixNanos(recv), into: &out)
    }
    return out
}

private func run(_ text: String, _ adapter: inout CoinbaseAdapter, connection: String? = "1") -> [VenueEvent] {
    run(Array(text.utf8), &adapter, connection: connection)
}

private func runFresh(_ text: String) -> [VenueEvent] {
    var adapter = CoinbaseAdapter()
    return run(text, &adapter)
}

private func json(_ object: Any) -> String {
    String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
}

extension VenueEvent {
    fileprivate var trade: Trade? { if case .trade(let t) = self { t } else { nil } }
    fileprivate var book: BookUpdate? { if case .book(let b) = self { b } else { nil } }
    fileprivate var ticker: Ticker? { if case .ticker(let t) = self { t } else { nil } }
    fileprivate var parseErrorDetail: String? { if case .parseError(_, let d) = self { d } else { nil } }
}

/// `detail` carries `excerpt` (an empty excerpt is trivially carried; `"".contains("")` is false).
private func includes(_ detail: String, _ excerpt: String) -> Bool { excerpt.isEmpty || detail.contains(excerpt) }

private func texts(_ levels: [BookLevel]) -> [[String]] { levels.map { [$0.price.description, $0.quantity.description] } }

private func expectInstrument(_ i: Instrument, _ product: String) {
    let parts = product.split(separator: "-").map(String.init)
    #expect(i.venue == .coinbase && i.symbol == product && i.nativeSymbol == product)
    #expect(i.base == parts[0] && i.quote == parts[1] && i.kind == .spot)
}

/// Checks one real frame's events against its JSON, field by field; returns a failure or `nil`.
private func checkRealFrame(_ l: Line, _ events: [VenueEvent]) -> String? {
    let j = l.json
    switch l.type {
    case "match", "last_match":
        guard events.count == 1, let t = events[0].trade else { return "trade expected: \(events)" }
        let maker = j["side"] as? String
        guard t.price.description == j["price"] as? String, t.quantity.description == j["size"] as? String,
            t.side == (maker == "buy" ? .sell : .buy), t.id == .number((j["trade_id"] as! NSNumber).int64Value),
            t.eventTime == nanos(j["time"] as! String), t.instrument.symbol == j["product_id"] as? String
        else { return "trade mismatch \(t)" }
    case "snapshot":
        guard events.count == 1, let b = events[0].book, b.isSnapshot,
            texts(b.bids) == j["bids"] as? [[String]], texts(b.asks) == j["asks"] as? [[String]]
        else { return "snapshot mismatch" }
    case "l2update":
        let changes = j["changes"] as! [[String]]
        let buys = changes.filter { $0[0] == "buy" }.map { [$0[1], $0[2]] }
        let sells = changes.filter { $0[0] == "sell" }.map { [$0[1], $0[2]] }
        guard events.count == 1, let b = events[0].book, !b.isSnapshot, texts(b.bids) == buys, texts(b.asks) == sells,
            b.eventTime == nanos(j["time"] as! String)
        else { return "l2update mismatch" }
    case "ticker":
        guard events.count == 1, let t = events[0].ticker, t.bestBid?.price.description == j["best_bid"] as? String,
            t.bestAsk?.price.description == j["best_ask"] as? String,
            t.updateID == (j["sequence"] as? NSNumber)?.int64Value
        else { return "ticker mismatch" }
    case "subscriptions", "heartbeat":
        guard events.isEmpty else { return "control message produced \(events)" }
    default:
        return "unexpected type \(l.type)"
    }
    return nil
}

// MARK: - Exchange feed, real frames

@Suite struct CoinbaseAdapterTests {
    @Test(arguments: ["match", "last_match"])
    func tradeFrameEveryField(type: String) throws {
        let l = try #require(try excerpt().first { $0.type == type })
        var adapter = CoinbaseAdapter()
        let events = run(l.frame, &adapter, recv: l.recv)
        try #require(events.count == 1)
        let t = try #require(events[0].trade)
        let j = l.json
        expectInstrument(t.instrument, j["product_id"] as! String)
        #expect(t.id == .number((j["trade_id"] as! NSNumber).int64Value))
        #expect(t.price.description == j["price"] as? String)
        #expect(t.quantity.description == j["size"] as? String)
        // Coinbase `side` is the maker's: the taker did the opposite.
        #expect(t.side == ((j["side"] as! String) == "buy" ? Side.sell : .buy))
        #expect(t.eventTime == nanos(j["time"] as! String))
        #expect(t.receiveTime == UnixNanos(l.recv))
        #expect(t.count == 1 && t.stream == .raw)
    }

    @Test func snapshotFrameEveryField() throws {
        let l = try #require(try excerpt().first { $0.type == "snapshot" })
        var adapter = CoinbaseAdapter()
        let events = run(l.frame, &adapter, recv: l.recv)
        try #require(events.count == 1)
        let b = try #require(events[0].book)
        expectInstrument(b.instrument, l.json["product_id"] as! String)
        #expect(b.isSnapshot)
        #expect(texts(b.bids) == l.json["bids"] as? [[String]])
        #expect(texts(b.asks) == l.json["asks"] as? [[String]])
        #expect(b.sequence == .unsequenced && b.rule == .unsequenced)
        #expect(b.eventTime == UnixNanos(l.recv) && b.receiveTime == UnixNanos(l.recv) && b.timeSource == .receive)
    }

    @Test func l2updateFrameEveryField() throws {
        let lines = try excerpt().filter { $0.type == "l2update" }
        // Prefer a frame with both sides and a removal ("0"), so every branch is looked at.
        let l = try #require(
            lines.first { l in
                let c = l.json["changes"] as! [[String]]
                return Set(c.map { $0[0] }).count == 2 && c.contains { Double($0[2]) == 0 }
            } ?? lines.first)
        var adapter = CoinbaseAdapter()
        let events = run(l.frame, &adapter, recv: l.recv)
        try #require(events.count == 1)
        let b = try #require(events[0].book)
        let changes = l.json["changes"] as! [[String]]
        expectInstrument(b.instrument, l.json["product_id"] as! String)
        #expect(!b.isSnapshot)
        #expect(texts(b.bids) == changes.filter { $0[0] == "buy" }.map { [$0[1], $0[2]] })
        #expect(texts(b.asks) == changes.filter { $0[0] == "sell" }.map { [$0[1], $0[2]] })
        #expect(b.sequence == .unsequenced && b.rule == .unsequenced)
        #expect(b.eventTime == nanos(l.json["time"] as! String) && b.timeSource == .venue)
        #expect(b.receiveTime == UnixNanos(l.recv))
    }

    @Test func tickerFrameEveryField() throws {
        let l = try #require(try excerpt().first { $0.type == "ticker" })
        var adapter = CoinbaseAdapter()
        let t = try #require(run(l.frame, &adapter, recv: l.recv).first?.ticker)
        let j = l.json
        expectInstrument(t.instrument, j["product_id"] as! String)
        // The 2021 feed sends no sizes: quantity zero means "unknown".
        #expect(t.bestBid == BookLevel(price: FixedDecimal(j["best_bid"] as! String)!, quantity: .zero))
        #expect(t.bestAsk == BookLevel(price: FixedDecimal(j["best_ask"] as! String)!, quantity: .zero))
        #expect(t.updateID == (j["sequence"] as! NSNumber).int64Value)
        #expect(t.eventTime == nanos(j["time"] as! String) && t.timeSource == .venue)
        #expect(t.receiveTime == UnixNanos(l.recv))

        // Today's feed adds best_bid_size / best_ask_size: they become the quantities.
        var sized = j
        sized["best_bid_size"] = "0.50000000"
        sized["best_ask_size"] = "12"
        let t2 = try #require(runFresh(json(sized)).first?.ticker)
        #expect(t2.bestBid?.quantity.description == "0.50000000" && t2.bestAsk?.quantity.description == "12")
    }

    @Test func everyExcerptFrameRoundTrips() throws {
        var adapter = CoinbaseAdapter()
        var failures: [String] = []
        var seen = Set<String>()
        for l in try excerpt() where l.kind == "ws" {
            seen.insert(l.type)
            if let f = checkRealFrame(l, run(l.frame, &adapter, recv: l.recv)) { failures.append(f) }
        }
        #expect(failures.isEmpty, "\(failures.prefix(5))")
        #expect(seen == ["subscriptions", "snapshot", "l2update", "ticker", "match", "last_match"])
    }

    /// The whole recording, read through the project's capture reader (gzip).
    @Test func wholeRecordingParsesWithoutErrors() throws {
        var adapter = CoinbaseAdapter()
        var failures: [String] = []
        var frames = 0
        var lastTradeID: [String: Int64] = [:]
        for r in try Fixtures.records("coinbase/exchange-level2-2021-04-17.jsonl.gz") {
            let events = run(r.frame, &adapter, kind: r.kind, connection: r.connection, recv: r.receiveTime.rawValue)
            guard r.kind == .ws else {
                if !events.isEmpty { failures.append("\(r.kind) line produced events") }
                continue
            }
            frames += 1
            if let f = checkRealFrame(line(recv: r.receiveTime.rawValue, kind: "ws", frame: r.frame), events) {
                failures.append("line \(r.line): \(f)")
            }
            // The contiguity the adapter declares holds in the recording.
            for case .trade(let t) in events {
                guard case .number(let id) = t.id else { continue }
                if let last = lastTradeID[t.instrument.symbol], id != last + 1 { failures.append("trade id jump") }
                lastTradeID[t.instrument.symbol] = id
            }
        }
        #expect(failures.isEmpty, "\(failures.prefix(5))")
        #expect(frames == 9946)
        #expect(adapter.tradeIDsAreContiguous)
    }

    // MARK: - Malformed input

    @Test func everyTruncationIsOneParseErrorWithExcerpt() throws {
        let lines = try excerpt()
        for type in ["match", "l2update", "ticker", "snapshot"] {
            let frame = try #require(lines.first { $0.type == type }).frame
            let stride = type == "snapshot" ? 97 : 1  // snapshots are 40 kB: sample their prefixes
            for n in Swift.stride(from: 0, to: frame.count, by: stride) {
                let events = runFresh(String(decoding: frame[..<n], as: UTF8.self))
                let detail = events.count == 1 ? events[0].parseErrorDetail : nil
                #expect(detail.map { includes($0, String(decoding: frame[..<min(n, 40)], as: UTF8.self)) } == true, "prefix \(n)")
            }
        }
    }

    @Test func missingAndBadValuesAreParseErrors() throws {
        let lines = try excerpt()
        let match = try #require(lines.first { $0.type == "match" }).json
        let update = try #require(lines.first { $0.type == "l2update" }).json
        let snapshot = try #require(lines.first { $0.type == "snapshot" }).json
        let ticker = try #require(lines.first { $0.type == "ticker" }).json
        var cases: [(frame: String, reason: String)] = []
        for key in ["trade_id", "price", "size", "side", "time", "product_id"] {
            cases.append((json(match.filter { $0.key != key }), "missing key \(key)"))
        }
        for key in ["product_id", "changes"] { cases.append((json(update.filter { $0.key != key }), "missing key \(key)")) }
        for key in ["product_id", "bids", "asks"] { cases.append((json(snapshot.filter { $0.key != key }), "missing key \(key)")) }
        cases.append((json(ticker.filter { $0.key != "product_id" }), "missing key product_id"))
        for (key, value) in [("price", "abc"), ("price", "1e5"), ("price", "-1"), ("price", ""), ("size", "x"),
                             ("side", "up"), ("time", "yesterday"), ("trade_id", "12a")] as [(String, Any)] {
            cases.append((json(match.merging([key: value]) { $1 }), "bad \(key)"))
        }
        cases.append((json(match.merging(["product_id": "BTCUSD"]) { $1 }), "unknown symbol"))
        cases.append((json(update.merging(["changes": [["hold", "1", "2"]]]) { $1 }), "bad changes"))
        cases.append((json(update.merging(["changes": [["buy", "1.x", "2"]]]) { $1 }), "bad changes"))
        cases.append((json(snapshot.merging(["bids": [["1", "abc"]]]) { $1 }), "bad bids"))
        cases.append((json(ticker.merging(["best_bid": "n/a"]) { $1 }), "bad best_bid"))
        cases.append((#"{"type":"full_snapshot","product_id":"BTC-USD"}"#, "unknown message type"))
        cases.append((#"{"product_id":"BTC-USD"}"#, "missing key type"))
        cases += [("", "malformed JSON"), ("[]", "malformed JSON"), ("null", "malformed JSON")]
        cases.append((#"{"type":"heartbeat"} {"#, "trailing bytes after JSON object"))
        for c in cases {
            let events = runFresh(c.frame)
            #expect(events.count == 1, "\(c.reason)")
            let detail = events.first?.parseErrorDetail ?? ""
            #expect(detail.hasPrefix(c.reason + ":"), "\(detail)")
            #expect(includes(detail, String(c.frame.prefix(30))), "excerpt missing: \(detail)")
        }
    }

    @Test func controlAndErrorMessages() throws {
        // Exchange heartbeat sample (docs.cdp.coinbase.com/exchange/websocket-feed/channels#heartbeat-channel).
        #expect(runFresh(#"{"type":"heartbeat","sequence":90,"last_trade_id":20,"product_id":"BTC-USD","time":"2014-11-07T08:19:28.464459Z"}"#).isEmpty)
        let subscriptions = try #require(try excerpt().first { $0.type == "subscriptions" })
        var adapter = CoinbaseAdapter()
        #expect(run(subscriptions.frame, &adapter).isEmpty)
        let events = runFresh(#"{"type":"error","message":"Failed to subscribe","reason":"FOO-BAR is not a valid product"}"#)
        #expect(events == [.status(FeedStatus(kind: .venueError, venue: .coinbase, instrument: nil,
                                              detail: "Failed to subscribe: FOO-BAR is not a valid product", time: UnixNanos(7)))])
        // `sent`/`open` lines carry no market data.
        let sent = try #require(try excerpt().first { $0.kind == "sent" })
        #expect(run(sent.frame, &adapter, kind: .sent).isEmpty)
    }

    /// Seeded mutations (replace, insert, delete bytes) of real frames and doc samples: never a trap,
    /// and a frame yields either its events or exactly one parse error, never a mixture.
    @Test func mutatedFramesNeverTrapOrHalfParse() throws {
        let lines = try excerpt()
        var seeds = ["match", "l2update", "ticker", "heartbeat"].compactMap { t in lines.first { $0.type == t }?.frame }
        for file in ["at-level2-snapshot.json", "at-market-trades.json", "at-heartbeats.json"] {
            seeds.append(Array(try docSample(file).utf8))
        }
        seeds.append(Array(at(3, "update", "BTC-USD", [("bid", "1.5", "0"), ("offer", "2", "3")]).utf8))
        var rng: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((rng >> 33) % UInt64(max(bound, 1)))
        }
        let alphabet = Array(#"{}[]",:"0123456789.-eE \nulltrueBUYbidofferx"#.utf8)
        var adapter = CoinbaseAdapter()
        for seed in seeds {
            for _ in 0..<1500 {
                var f = seed
                for _ in 0...next(3) {
                    let i = next(f.count)
                    switch next(3) {
                    case 0 where !f.isEmpty: f[i] = alphabet[next(alphabet.count)]
                    case 1: f.insert(alphabet[next(alphabet.count)], at: i)
                    default: if !f.isEmpty { f.remove(at: i) }
                    }
                }
                let events = run(f, &adapter, connection: "fuzz")
                let errors = events.filter { $0.parseErrorDetail != nil }.count
                #expect(errors == 0 || events.count == 1, "\(String(decoding: f, as: UTF8.self))")
            }
        }
    }

    // MARK: - Advanced Trade, documentation samples

    @Test func advancedTradeLevel2DocSample() throws {
        let events = runFresh(try docSample("at-level2-snapshot.json"))
        try #require(events.count == 1)
        let b = try #require(events[0].book)
        // Doc: BTC-USD snapshot, two bids 21921.73 × 0.06317902 and 21921.3 × 0.02, sequence_num 0.
        expectInstrument(b.instrument, "BTC-USD")
        #expect(b.isSnapshot)
        #expect(texts(b.bids) == [["21921.73", "0.06317902"], ["21921.3", "0.02"]])
        #expect(b.asks.isEmpty)
        #expect(b.sequence == .linked(first: 0, last: 0, previous: CoinbaseAdapter.unprovenLink))
        #expect(b.rule == .inStreamSequenced)
        // Snapshot levels carry the epoch; the envelope timestamp is the venue time.
        #expect(b.eventTime == nanos("2023-02-09T20:32:50.714964855Z") && b.timeSource == .venue)
        #expect(b.receiveTime == UnixNanos(7))
    }

    @Test func advancedTradeMarketTradesDocSample() throws {
        let events = runFresh(try docSample("at-market-trades.json"))
        try #require(events.count == 1)
        let t = try #require(events[0].trade)
        // Doc: ETH-USD, trade_id "000000000", 0.3 at 1260.01, side BUY = the maker's side.
        expectInstrument(t.instrument, "ETH-USD")
        #expect(t.id == .number(0))
        #expect(t.price.description == "1260.01" && t.quantity.description == "0.3")
        #expect(t.side == .sell)
        #expect(t.eventTime == nanos("2019-08-14T20:42:27.265Z") && t.receiveTime == UnixNanos(7))
        #expect(t.count == 1 && t.stream == .raw)
        #expect(runFresh(try docSample("at-heartbeats.json")).isEmpty)
    }

    @Test func advancedTradeMalformed() throws {
        let sample = Array(try docSample("at-level2-snapshot.json").utf8)
        for n in 0..<sample.count where !sample[n...].allSatisfy({ $0 == 0x0A || $0 == 0x20 }) {
            let events = runFresh(String(decoding: sample[..<n], as: UTF8.self))
            #expect(events.count == 1 && events[0].parseErrorDetail != nil, "prefix \(n)")
        }
        let cases: [(String, String)] = [
            (#"{"channel":"l2_data","events":[]}"#, "missing key sequence_num"),
            (#"{"channel":"l2_data","sequence_num":1}"#, "missing key events"),
            (at(1, "update", "BTC-USD", [("middle", "1", "1")]), "bad updates"),
            (at(1, "update", "BTC-USD", [("bid", "one", "1")]), "bad updates"),
            (at(1, "delta", "BTC-USD", []), "bad event type"),
            (at(1, "update", "BTC-PERP-INTX", []), "unknown symbol"),
            (#"{"channel":"ticker","sequence_num":1,"events":[]}"#, "unsupported channel"),
            (#"{"channel":"market_trades","sequence_num":1,"events":[{"type":"update","trades":[{"trade_id":"1","product_id":"BTC-USD","price":"1","size":"1","side":"UP","time":"2024-01-01T00:00:00Z"}]}]}"#, "bad side"),
        ]
        for (frame, reason) in cases {
            let detail = runFresh(frame).first?.parseErrorDetail ?? ""
            #expect(detail.hasPrefix(reason + ":"), "\(detail)")
        }
    }

    // MARK: - Advanced Trade sequencing, frames built to the documented shape

    @Test func sharedConnectionStaysInSyncAcrossChannels() throws {
        var adapter = CoinbaseAdapter()
        var books = Books()
        books.feed(at(1, "snapshot", "BTC-USD", [("bid", "100", "1"), ("offer", "101", "1")]), &adapter)
        books.feed(heartbeat(2), &adapter)
        books.feed(at(3, "snapshot", "ETH-USD", [("bid", "10", "1"), ("offer", "11", "1")]), &adapter)
        let u = books.feed(at(4, "update", "BTC-USD", [("bid", "100", "0"), ("bid", "99", "2")]), &adapter)
        #expect(u.first?.book?.sequence == .linked(first: 4, last: 4, previous: 1))
        books.feed(trades(5, [(7, "2024-01-01T00:00:00Z")]), &adapter)
        books.feed(#"{"channel":"ticker","sequence_num":6,"events":[]}"#, &adapter)  // unsupported, still counted
        books.feed(at(7, "update", "ETH-USD", [("offer", "11", "3")]), &adapter)
        books.feed(at(8, "update", "BTC-USD", [("offer", "102", "4")]), &adapter)
        #expect(books.gaps.isEmpty)
        #expect(books.valid("BTC-USD") && books.valid("ETH-USD"))
        #expect(books.sync["BTC-USD"].map { texts($0.book.top(5).bids) } == [["99", "2"]])
        #expect(books.sync["BTC-USD"].map { texts($0.book.top(5).asks) } == [["101", "1"], ["102", "4"]])
    }

    @Test func lostOrUnreadableMessagesBreakEveryBook() throws {
        var adapter = CoinbaseAdapter()
        var books = Books()
        books.feed(at(1, "snapshot", "BTC-USD", [("bid", "100", "1"), ("offer", "101", "1")]), &adapter)
        books.feed(at(2, "snapshot", "ETH-USD", [("bid", "10", "1"), ("offer", "11", "1")]), &adapter)
        books.feed(heartbeat(4), &adapter)  // 3 was lost: it may have been a book message for anyone
        let u = books.feed(at(5, "update", "BTC-USD", [("bid", "99", "1")]), &adapter)
        #expect(u.first?.book?.sequence == .linked(first: 5, last: 5, previous: CoinbaseAdapter.unprovenLink))
        books.feed(at(6, "update", "ETH-USD", [("bid", "9", "1")]), &adapter)
        #expect(books.gaps == ["BTC-USD", "ETH-USD"])

        // Resynced by fresh snapshots; then an l2_data frame that cannot be applied breaks continuity again.
        books.feed(at(7, "snapshot", "BTC-USD", [("bid", "100", "1"), ("offer", "101", "1")]), &adapter)
        #expect(books.valid("BTC-USD"))
        let unreadable = books.feed(at(8, "update", "ETH-USD", [("bid", "x", "1")]), &adapter)
        #expect(unreadable.first?.parseErrorDetail != nil)
        books.feed(at(9, "update", "BTC-USD", [("bid", "98", "1")]), &adapter)
        #expect(!books.valid("BTC-USD") && books.gaps.last == "BTC-USD")

        // A new connection restarts sequence_num: nothing links across it.
        var out: [VenueEvent] = []
        [UInt8]().withUnsafeBytes { adapter.handle(kind: .open, url: nil, connection: "1", frame: $0, receiveTime: UnixNanos(0), into: &out) }
        let s = books.feed(at(0, "snapshot", "BTC-USD", [("bid", "100", "1"), ("offer", "101", "1")]), &adapter)
        #expect(s.first?.book?.sequence == .linked(first: 0, last: 0, previous: CoinbaseAdapter.unprovenLink))
        let next = books.feed(at(1, "update", "BTC-USD", [("bid", "97", "1")]), &adapter)
        #expect(next.first?.book?.sequence == .linked(first: 1, last: 1, previous: 0))
        #expect(books.valid("BTC-USD"))
    }

    @Test func marketTradesAreOrderedAndUpdatesUseLatestEventTime() throws {
        var adapter = CoinbaseAdapter()
        let ts = run(trades(1, [(12, "2024-01-01T00:00:02Z"), (11, "2024-01-01T00:00:01Z"), (10, "2024-01-01T00:00:01Z")]), &adapter)
        #expect(ts.compactMap(\.trade).map(\.id) == [.number(10), .number(11), .number(12)])
        let frame = #"{"channel":"l2_data","timestamp":"2024-01-01T00:00:09Z","sequence_num":2,"events":[{"type":"update","product_id":"BTC-USD","updates":[{"side":"bid","event_time":"2024-01-01T00:00:03.5Z","price_level":"1","new_quantity":"0"},{"side":"offer","event_time":"2024-01-01T00:00:03.25Z","price_level":"2","new_quantity":"1"}]}]}"#
        let b = try #require(run(frame, &adapter).first?.book)
        #expect(b.eventTime == nanos("2024-01-01T00:00:03.5Z") && b.timeSource == .venue)
        #expect(texts(b.bids) == [["1", "0"]] && texts(b.asks) == [["2", "1"]])
    }

    // MARK: - Subscribe messages

    @Test func subscribeMessages() throws {
        /// Parses (so the text must be valid JSON) and re-serializes with sorted keys, for comparison.
        func canonical(_ text: String) throws -> String {
            let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
            return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        }
        func canonical(_ object: [String: Any]) throws -> String { try canonical(json(object)) }
        let exchange = CoinbaseAdapter.exchangeSubscribeMessage(productIDs: ["BTC-USD", "ETH-USD"])
        #expect(try canonical(exchange) == canonical(["type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"],
                                                      "channels": ["level2", "matches", "ticker", "heartbeat"]]))
        // The subscribe the 2021 recorder sent, rebuilt.
        let sent = try #require(try excerpt().first { $0.kind == "sent" })
        let ids = sent.json["product_ids"] as! [String]
        let rebuilt = CoinbaseAdapter.exchangeSubscribeMessage(productIDs: ids, channels: ["level2"])
        #expect(try canonical(rebuilt) == canonical(sent.json))
        // Advanced Trade: one message per channel, equal to the documentation's requests.
        let messages = CoinbaseAdapter.advancedTradeSubscribeMessages(
            productIDs: ["ETH-USD", "BTC-USD"], channels: ["level2", "market_trades", "heartbeats"], jwt: "XYZ")
        #expect(messages.count == 3)
        for (message, file) in zip(messages, ["at-subscribe-level2.json", "at-subscribe-market-trades.json", "at-subscribe-heartbeats.json"]) {
            #expect(try canonical(message) == canonical(try docSample(file)), "\(file)")
        }
        // Text is escaped, so odd input still gives valid JSON.
        let odd = CoinbaseAdapter.exchangeSubscribeMessage(productIDs: ["A\"B\\C"])
        #expect(try canonical(odd) == canonical(["type": "subscribe", "product_ids": ["A\"B\\C"],
                                                 "channels": ["level2", "matches", "ticker", "heartbeat"]]))
    }
}

// MARK: - Advanced Trade frame builders and a book harness

/// An `l2_data` frame with one event; updates are (side, price_level, new_quantity).
private func at(_ seq: Int, _ type: String, _ product: String, _ updates: [(String, String, String)]) -> String {
    let u = updates.map { ["side": $0.0, "event_time": "2024-01-01T00:00:00.000001Z", "price_level": $0.1, "new_quantity": $0.2] }
    return json(["channel": "l2_data", "client_id": "", "timestamp": "2024-01-01T00:00:00.5Z", "sequence_num": seq,
                 "events": [["type": type, "product_id": product, "updates": u]]] as [String: Any])
}

private func heartbeat(_ seq: Int) -> String {
    json(["channel": "heartbeats", "timestamp": "2024-01-01T00:00:00Z", "sequence_num": seq,
          "events": [["current_time": "2024-01-01 00:00:00 +0000 UTC", "heartbeat_counter": "\(seq)"]]] as [String: Any])
}

/// A `market_trades` update for BTC-USD; trades are (trade id, time), all with maker side BUY.
private func trades(_ seq: Int, _ list: [(Int, String)]) -> String {
    let t = list.map { ["trade_id": "\($0.0)", "product_id": "BTC-USD", "price": "100", "size": "1", "side": "BUY", "time": $0.1] }
    return json(["channel": "market_trades", "sequence_num": seq, "events": [["type": "update", "trades": t]]] as [String: Any])
}

/// The adapter's book messages fed to the project's ``BookSynchronizer``, one per symbol.
private struct Books {
    var sync: [String: BookSynchronizer] = [:]
    var gaps: [String] = []

    @discardableResult
    mutating func feed(_ text: String, _ adapter: inout CoinbaseAdapter) -> [VenueEvent] {
        let events = run(text, &adapter)
        for case .book(let b) in events {
            var s = sync[b.instrument.symbol] ?? BookSynchronizer(instrument: b.instrument)
            var outcomes: [BookSyncOutcome] = []
            s.handle(b, into: &outcomes)
            for case .gap in outcomes { gaps.append(b.instrument.symbol) }
            sync[b.instrument.symbol] = s
        }
        return events
    }

    func valid(_ symbol: String) -> Bool { sync[symbol]?.isValid ?? false }
}
