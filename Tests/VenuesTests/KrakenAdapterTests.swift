import Feeds
import Foundation
import MarketCore
import Testing
import Venues
import _TestSupport

// Kraken websocket v1 on the real recording: every field of one frame of each type, the whole
// capture's classification, per-connection channel ids, control and error messages, malformed
// input. Expected values come from JSONSerialization of the frame text (KrakenTestSupport.swift).

/// The first `ws` record of the fixture matching `predicate` on its decoded JSON.
private func firstFrame(_ predicate: (Any) -> Bool) throws -> CaptureRecord {
    try #require(try KrakenTest.records().first { $0.kind == .ws && KrakenTest.json($0.frame).map(predicate) == true })
}

private func channelName(_ json: Any) -> String? {
    guard let a = json as? [Any], a.count >= 4 else { return nil }
    return a[a.count - 2] as? String
}

private func expectInstrument(_ i: Instrument, pair: String) {
    #expect(i.venue == .kraken && i.nativeSymbol == pair && i.symbol == KrakenTest.canonical(pair) && i.kind == .spot)
    let parts = KrakenTest.canonical(pair).split(separator: "-").map(String.init)
    #expect(i.base == parts[0] && i.quote == parts[1])
}

private func run(_ r: CaptureRecord) -> [VenueEvent] {
    var adapter = KrakenAdapter()
    return KrakenTest.run(&adapter, r.frame, connection: r.connection, recv: r.receiveTime.rawValue)
}

@Suite("Kraken v1 adapter on real frames")
struct KrakenAdapterTests {
    @Test func tradeFrameEveryField() throws {
        // A frame with two trades, so the per-entry loop is looked at.
        let r = try firstFrame { channelName($0) == "trade" && (($0 as! [Any])[1] as! [Any]).count == 2 }
        let j = KrakenTest.json(r.frame) as! [Any]
        let entries = j[1] as! [[String]]
        let pair = j[3] as! String
        let trades = KrakenTest.trades(run(r))
        try #require(trades.count == entries.count)
        for (t, e) in zip(trades, entries) {
            expectInstrument(t.instrument, pair: pair)
            #expect(t.id == .none)  // v1 trades carry no id
            #expect(t.price.description == e[0])
            #expect(t.quantity.description == e[1])
            #expect(t.eventTime == KrakenTest.nanos(decimalSeconds: e[2]))
            #expect(t.side == (e[3] == "b" ? Side.buy : .sell))  // taker side
            #expect(t.receiveTime == r.receiveTime)
            #expect(t.count == 1 && t.stream == .raw)
        }
    }

    @Test func tickerFrameEveryField() throws {
        let r = try firstFrame { channelName($0) == "ticker" }
        let j = KrakenTest.json(r.frame) as! [Any]
        let payload = j[1] as! [String: Any]
        let a = payload["a"] as! [Any]
        let b = payload["b"] as! [Any]
        let events = run(r)
        try #require(events.count == 1)
        let t = try #require(KrakenTest.tickers(events).first)
        expectInstrument(t.instrument, pair: j[3] as! String)
        // [price, wholeLotVolume, lotVolume]: the exact lot volume is the quantity.
        #expect(t.bestAsk.map { [$0.price.description, $0.quantity.description] } == [a[0] as! String, a[2] as! String])
        #expect(t.bestBid.map { [$0.price.description, $0.quantity.description] } == [b[0] as! String, b[2] as! String])
        #expect(t.updateID == nil)
        #expect(t.eventTime == r.receiveTime && t.receiveTime == r.receiveTime && t.timeSource == .receive)
    }

    @Test func bookSnapshotFrameEveryField() throws {
        // The smallest snapshot of the recording (GRT/ETH).
        let r = try firstFrame { ($0 as? [Any])?.last as? String == "GRT/ETH" && (($0 as! [Any])[1] as? [String: Any])?["as"] != nil }
        let j = KrakenTest.json(r.frame) as! [Any]
        let payload = j[1] as! [String: Any]
        let events = run(r)
        try #require(events.count == 1)
        let b = try #require(KrakenTest.books(events).first)
        expectInstrument(b.instrument, pair: "GRT/ETH")
        #expect(b.isSnapshot)
        #expect(KrakenTest.texts(b.asks) == KrakenTest.pairs(payload["as"]))
        #expect(KrakenTest.texts(b.bids) == KrakenTest.pairs(payload["bs"]))
        #expect(b.sequence == .unsequenced && b.rule == .unsequenced)
        #expect(b.eventTime == KrakenTest.latest([payload["as"], payload["bs"]]) && b.timeSource == .venue)
        #expect(b.receiveTime == r.receiveTime)
        #expect(b.checksum == nil)  // v1 snapshots carry no checksum
        #expect(b.depthLimit == Int((j[2] as! String).split(separator: "-")[1]))
    }

    @Test(arguments: ["a", "b"])
    func bookUpdateFrameWithChecksumEveryField(side: String) throws {
        let r = try firstFrame { j in
            guard channelName(j)?.hasPrefix("book") == true, let a = j as? [Any], a.count == 4 else { return false }
            return (a[1] as? [String: Any])?[side] != nil && (a[1] as? [String: Any])?["c"] != nil
        }
        let j = KrakenTest.json(r.frame) as! [Any]
        let payload = j[1] as! [String: Any]
        let events = run(r)
        try #require(events.count == 1)
        let b = try #require(KrakenTest.books(events).first)
        expectInstrument(b.instrument, pair: j[3] as! String)
        #expect(!b.isSnapshot)
        #expect(KrakenTest.texts(b.asks) == KrakenTest.pairs(payload["a"]))
        #expect(KrakenTest.texts(b.bids) == KrakenTest.pairs(payload["b"]))
        #expect(b.checksum?.expected == UInt32(payload["c"] as! String))
        #expect(b.checksum?.algorithm.name == "kraken-v1" && b.checksum?.algorithm.depth == 10)
        #expect(b.sequence == .unsequenced && b.rule == .unsequenced)
        #expect(b.eventTime == KrakenTest.latest([payload["a"], payload["b"]]) && b.timeSource == .venue)
        #expect(b.receiveTime == r.receiveTime)
        #expect(b.depthLimit == 1000)
    }

    @Test func bookUpdateInTwoObjectsIsOneUpdateWithBothSides() throws {
        let r = try firstFrame { ($0 as? [Any])?.count == 5 }
        let j = KrakenTest.json(r.frame) as! [Any]
        let first = j[1] as! [String: Any]
        let second = j[2] as! [String: Any]
        let events = run(r)
        try #require(events.count == 1)
        let b = try #require(KrakenTest.books(events).first)
        expectInstrument(b.instrument, pair: j[4] as! String)
        #expect(KrakenTest.texts(b.asks) == KrakenTest.pairs(first["a"]) + KrakenTest.pairs(second["a"]))
        #expect(KrakenTest.texts(b.bids) == KrakenTest.pairs(first["b"]) + KrakenTest.pairs(second["b"]))
        #expect(b.checksum?.expected == UInt32((second["c"] ?? first["c"]) as! String))
        #expect(b.eventTime == KrakenTest.latest([first["a"], first["b"], second["a"], second["b"]]))
    }

    /// Every frame of the recording through one adapter: control messages yield nothing, data
    /// messages exactly their entries, and nothing is a parse error.
    @Test func wholeRecordingClassifiesEveryFrame() throws {
        var adapter = KrakenAdapter()
        var counts: [String: Int] = [:]
        for r in try KrakenTest.records() {
            let events = KrakenTest.run(&adapter, r.frame, kind: r.kind, connection: r.connection, recv: r.receiveTime.rawValue)
            #expect(KrakenTest.parseErrors(events).isEmpty, "\(String(decoding: r.frame.prefix(120), as: UTF8.self))")
            guard r.kind == .ws else {
                #expect(events.isEmpty)
                continue
            }
            let j = KrakenTest.json(r.frame)
            if let object = j as? [String: Any] {
                #expect(events.isEmpty, "control message \(object["event"] ?? "?") produced \(events)")
                counts[object["event"] as? String ?? "?", default: 0] += 1
            } else if let a = j as? [Any], let name = channelName(a) {
                switch name {
                case "trade": #expect(KrakenTest.trades(events).count == (a[1] as! [Any]).count && events.count == (a[1] as! [Any]).count)
                case "ticker": #expect(KrakenTest.tickers(events).count == 1 && events.count == 1)
                default: #expect(name.hasPrefix("book") && KrakenTest.books(events).count == 1 && events.count == 1)
                }
                counts[name, default: 0] += 1
            } else {
                Issue.record("unexpected frame \(String(decoding: r.frame.prefix(80), as: UTF8.self))")
            }
        }
        // Every kind the fixtures README lists was seen (so the checks above were not vacuous).
        for kind in ["trade", "ticker", "book-1000", "heartbeat", "subscriptionStatus", "systemStatus"] {
            #expect(counts[kind, default: 0] > 0, "\(kind)")
        }
    }

    @Test(arguments: [
        ("XBT/USD", "BTC-USD", "BTC", "USD"), ("XBT/CHF", "BTC-CHF", "BTC", "CHF"), ("XDG/USD", "DOGE-USD", "DOGE", "USD"),
        ("ETH/XBT", "ETH-BTC", "ETH", "BTC"), ("BTC/USD", "BTC-USD", "BTC", "USD"), ("1INCH/EUR", "1INCH-EUR", "1INCH", "EUR"),
    ])
    func symbols(pair: String, symbol: String, base: String, quote: String) throws {
        let i = try #require(KrakenAdapter.instrument(pair: pair))
        #expect(i.symbol == symbol && i.base == base && i.quote == quote && i.nativeSymbol == pair && i.venue == .kraken)
    }

    @Test(arguments: ["XBTUSD", "XBT/", "/USD", "XBT/USD/EUR", "XBT-USD", "", "XB T/USD"])
    func unmappableSymbols(pair: String) {
        #expect(KrakenAdapter.instrument(pair: pair) == nil)
    }

    @Test func docTradeExampleMapsXBT() throws {
        var adapter = KrakenAdapter()
        let events = KrakenTest.run(&adapter, try KrakenTest.docSample("v1-trade-example.json"))
        let trades = KrakenTest.trades(events)
        try #require(trades.count == 2 && events.count == 2)
        #expect(trades.map(\.instrument.symbol) == ["BTC-USD", "BTC-USD"] && trades[0].instrument.nativeSymbol == "XBT/USD")
        #expect(trades.map(\.price.description) == ["5541.20000", "6060.00000"])
        #expect(trades.map(\.quantity.description) == ["0.15850568", "0.02455000"])
        #expect(trades.map(\.side) == [.sell, .buy])
        #expect(trades.map(\.eventTime) == [UnixNanos(1_534_614_057_321_597_000), UnixNanos(1_534_614_057_324_998_000)])
    }
}

// MARK: - Channel ids per connection, control and error messages

@Suite("Kraken v1 control messages")
struct KrakenControlTests {
    static func subscribed(_ id: Int, _ pair: String, _ name: String = "trade") -> String {
        #"{"channelID":\#(id),"channelName":"\#(name)","event":"subscriptionStatus","pair":"\#(pair)","status":"subscribed","subscription":{"name":"\#(name)"}}"#
    }
    static let legacyTrade = #"[7,[["100.5","2.25","1618678142.557535","b","m",""]]]"#

    @Test func channelIDsArePerConnection() {
        var adapter = KrakenAdapter()
        #expect(KrakenTest.run(&adapter, Self.subscribed(7, "XBT/USD"), connection: "A").isEmpty)
        #expect(KrakenTest.run(&adapter, Self.subscribed(7, "ETH/EUR"), connection: "B").isEmpty)
        // A message without its channel/pair tail is resolved through its own connection's map.
        let onA = KrakenTest.trades(KrakenTest.run(&adapter, Self.legacyTrade, connection: "A"))
        let onB = KrakenTest.trades(KrakenTest.run(&adapter, Self.legacyTrade, connection: "B"))
        #expect(onA.map(\.instrument.symbol) == ["BTC-USD"] && onB.map(\.instrument.symbol) == ["ETH-EUR"])
        #expect(onA.first?.price.description == "100.5" && onA.first?.side == .buy)
        #expect(KrakenTest.parseErrors(KrakenTest.run(&adapter, Self.legacyTrade, connection: "C")).count == 1)
        // A tail that contradicts the connection's map is an error, not a guess.
        let mismatch = #"[7,[["100.5","2.25","1618678142.557535","b","m",""]],"trade","ETH/EUR"]"#
        #expect(KrakenTest.parseErrors(KrakenTest.run(&adapter, mismatch, connection: "A")).count == 1)
        #expect(KrakenTest.trades(KrakenTest.run(&adapter, mismatch, connection: "B")).count == 1)
        // A new connection forgets its channel ids; unsubscribing forgets one.
        #expect(KrakenTest.run(&adapter, "", kind: .open, connection: "A").isEmpty)
        #expect(KrakenTest.parseErrors(KrakenTest.run(&adapter, Self.legacyTrade, connection: "A")).count == 1)
        let unsubscribed = #"{"channelID":7,"event":"subscriptionStatus","pair":"ETH/EUR","status":"unsubscribed","subscription":{"name":"trade"}}"#
        #expect(KrakenTest.run(&adapter, unsubscribed, connection: "B").isEmpty)
        #expect(KrakenTest.parseErrors(KrakenTest.run(&adapter, Self.legacyTrade, connection: "B")).count == 1)
    }

    @Test(arguments: [
        #"{"event":"heartbeat"}"#,
        #"{"event":"pong","reqid":42}"#,
        #"{"connectionID":17843232920108168701,"event":"systemStatus","status":"online","version":"1.8.3"}"#,
        #"{"channelID":1664,"channelName":"book-1000","event":"subscriptionStatus","pair":"WAVES/EUR","status":"subscribed","subscription":{"depth":1000,"name":"book"}}"#,
        #"{"channelName":"ticker","event":"subscriptionStatus","pair":"XBT/USD","status":"subscribed","subscription":{"name":"ticker"}}"#,
        #"[1,["5698.40000","5700.00000","1542057299.545897","1.01234567","0.98765432"],"spread","XBT/USD"]"#,
        #"[42,["1542057314.748456","1542057360.435743","3586.70000","3586.70000","3586.60000","3586.60000","3586.68894","0.03373000",2],"ohlc-5","XBT/USD"]"#,
    ])
    func knownControlAndUnusedChannelsYieldNothing(frame: String) {
        #expect(KrakenTest.fresh(frame).isEmpty)
    }

    @Test func subscriptionErrorIsVenueError() throws {
        let frame = #"{"errorMessage":"Currency pair not in ISO 4217-A3 format XBTUSD","event":"subscriptionStatus","pair":"XBTUSD","status":"error","subscription":{"name":"ticker"}}"#
        let events = KrakenTest.fresh(frame)
        let s = try #require(KrakenTest.statuses(events).first)
        #expect(events.count == 1 && s.kind.name == "venue_error" && s.venue == .kraken && s.instrument == nil)
        #expect(s.detail.contains("Currency pair not in ISO 4217-A3 format XBTUSD") && s.detail.contains("XBTUSD"))
        #expect(s.time == UnixNanos(7))
    }

    @Test func errorEventIsVenueError() throws {
        let events = KrakenTest.fresh(#"{"errorMessage":"Malformed request","event":"error"}"#)
        let s = try #require(KrakenTest.statuses(events).first)
        #expect(events.count == 1 && s.kind.name == "venue_error" && s.detail.contains("Malformed request"))
    }

    @Test func systemStatusOtherThanOnlineIsReported() throws {
        let events = KrakenTest.fresh(#"{"connectionID":1,"event":"systemStatus","status":"maintenance","version":"1.8.3"}"#)
        let s = try #require(KrakenTest.statuses(events).first)
        #expect(events.count == 1 && s.kind.name == "venue_status" && s.detail.contains("maintenance"))
    }

    @Test(arguments: [
        "", "42", #""text""#, "null", "[]", "{}", #"{"foo":1}"#, #"{"event":"somethingNew"}"#, #"{"event":7}"#,
        #"{"event":"heartbeat"} x"#, #"[1,{},"weird","XBT/USD"]"#, #"["x",{},"trade","XBT/USD"]"#,
        #"[1,{"a":[["1.0","2.0","1618678133.1"]]},"book-10","XBTUSD"]"#,
        #"[1,{"a":[["1.0","-2.0","1618678133.1"]]},"book-10","XBT/USD"]"#,
        #"[1,{"a":[["1.0","2.0"]]},"book-10","XBT/USD"]"#,
        #"[1,{"a":[["1.0","2.0","1618678133.1"]],"c":"99999999999"},"book-10","XBT/USD"]"#,
        #"[1,{"a":[["1.0","2.0","1618678133.1"]],"c":"12x"},"book-10","XBT/USD"]"#,
        #"[1,{"as":[],"a":[]},"book-10","XBT/USD"]"#, #"[1,{"x":1},"book-10","XBT/USD"]"#,
        #"[1,{"a":[]},"book-x","XBT/USD"]"#, #"[1,[["1","2","3","q","l",""]],"trade","XBT/USD"]"#,
        #"[1,[["1","2","3.5e9","b","l",""]],"trade","XBT/USD"]"#, #"[1,{"a":["1"]},"ticker","XBT/USD"]"#,
        #"[1,2,3,4,5,6,"trade","XBT/USD"]"#, #"{"channelID":"x","event":"subscriptionStatus","status":"subscribed"}"#,
        #"{"event":"subscriptionStatus","status":"weird"}"#, #"{"event":"systemStatus"}"#,
    ])
    func malformedOrUnknownIsOneParseError(frame: String) throws {
        let events = KrakenTest.fresh(frame)
        try #require(events.count == 1, "\(frame) → \(events)")
        let detail = try #require(KrakenTest.parseErrors(events).first)
        #expect(!detail.isEmpty)
    }

    /// A republished level carries a 4th element `"r"`; it is applied like any update.
    @Test func republishEntryIsAnOrdinaryLevel() throws {
        let frame = #"[1,{"a":[["5541.30000","2.50700000","1534614248.456738","r"],["5542.50000","0.40100000","1534614248.456738"]],"c":"974942666"},"book-10","XBT/USD"]"#
        let events = KrakenTest.fresh(frame)
        let b = try #require(KrakenTest.books(events).first)
        #expect(events.count == 1 && !b.isSnapshot && b.instrument.symbol == "BTC-USD" && b.depthLimit == 10)
        #expect(KrakenTest.texts(b.asks) == [["5541.30000", "2.50700000"], ["5542.50000", "0.40100000"]] && b.bids.isEmpty)
        #expect(b.checksum?.expected == 974_942_666 && b.eventTime == UnixNanos(1_534_614_248_456_738_000))
    }

    @Test func nonWebsocketKinds() {
        var adapter = KrakenAdapter()
        #expect(KrakenTest.parseErrors(KrakenTest.run(&adapter, "{}", kind: .rest)).count == 1)
        #expect(KrakenTest.run(&adapter, "", kind: .open).isEmpty)
        #expect(KrakenTest.run(&adapter, "", kind: .tick).isEmpty)
        #expect(KrakenTest.run(&adapter, #"{"event":"subscribe","pair":["XBT/USD"],"subscription":{"name":"book"}}"#, kind: .sent).isEmpty)
        #expect(KrakenTest.run(&adapter, "garbage", kind: .sent).isEmpty)
    }

    /// Every truncation of real frames (and documentation frames) is exactly one parse error, never a crash.
    @Test func truncatedFramesAreParseErrors() throws {
        let records = try KrakenTest.records()
        var frames: [[UInt8]] = []
        // One small real frame of each shape.
        for predicate: (Any) -> Bool in [
            { channelName($0) == "trade" }, { channelName($0) == "ticker" }, { ($0 as? [Any])?.count == 5 },
            { channelName($0)?.hasPrefix("book") == true && ((($0 as! [Any])[1] as? [String: Any])?["c"] != nil) },
            { ($0 as? [String: Any])?["event"] as? String == "subscriptionStatus" },
            { ($0 as? [String: Any])?["event"] as? String == "systemStatus" },
        ] {
            frames.append(try #require(records.first { $0.kind == .ws && KrakenTest.json($0.frame).map(predicate) == true }).frame)
        }
        for name in ["v1-book-update-example.json", "v2-trade-snapshot.json", "v2-book-update.json", "v2-ticker-snapshot.json"] {
            frames.append(try KrakenTest.docSample(name))
        }
        for frame in frames {
            for n in 0..<frame.count {
                var adapter = KrakenAdapter()
                let events = KrakenTest.run(&adapter, Array(frame[..<n]))
                #expect(events.count == 1 && KrakenTest.parseErrors(events).count == 1, "prefix \(n) of \(String(decoding: frame, as: UTF8.self))")
            }
        }
    }
}
