import Foundation
import MarketCore
import Normalizer
import Testing
import Venues

// Kraken websocket v2, which the recordings do not cover: frames written exactly as the
// documentation shows them (KrakenDocSamples/README.md), expectations restated from the docs.

private func sync(_ updates: [BookUpdate]) -> (BookSynchronizer?, [BookSyncOutcome]) {
    guard let first = updates.first else { return (nil, []) }
    var s = BookSynchronizer(instrument: first.instrument)
    var outcomes: [BookSyncOutcome] = []
    for u in updates { s.handle(u, into: &outcomes) }
    return (s, outcomes)
}

/// A v2 `instrument` snapshot built to the documented shape (`data.pairs[]`), one pair.
private func instrumentFrame(_ symbol: String, price: Int, qty: Int) -> String {
    #"{"channel":"instrument","type":"snapshot","data":{"assets":[{"id":"USD","status":"enabled","precision":4,"precision_display":2,"borrowable":true,"collateral_value":1.0,"margin_rate":0.0}],"pairs":[{"symbol":"\#(symbol)","base":"MATIC","quote":"USD","status":"online","qty_precision":\#(qty),"qty_increment":1e-08,"price_precision":\#(price),"cost_precision":5,"marginable":false,"has_index":true,"cost_min":0.5,"tick_size":0.0001,"price_increment":0.0001,"qty_min":4.0}]}}"#
}

@Suite("Kraken v2 adapter on documentation frames")
struct KrakenV2Tests {
    /// The checksum guide's worked example: JSON numbers, checksum 3310070434.
    @Test func checksumGuideExampleAsNumbers() throws {
        var adapter = KrakenAdapter()
        let events = KrakenTest.run(&adapter, try KrakenTest.docSample("v2-book-checksum-example.json"))
        try #require(events.count == 1)
        let b = try #require(KrakenTest.books(events).first)
        #expect(b.isSnapshot && b.instrument.symbol == "BTC-USD" && b.instrument.nativeSymbol == "BTC/USD")
        // The number text as received, trailing zeros included.
        #expect(KrakenTest.texts(b.bids).prefix(4) == [["45283.5", "0.10000000"], ["45283.4", "1.54582015"], ["45282.1", "0.10000000"], ["45281.0", "0.10000000"]])
        #expect(KrakenTest.texts(b.asks).first == ["45285.2", "0.00100000"] && b.asks.count == 10 && b.bids.count == 10)
        #expect(b.checksum?.expected == 3_310_070_434 && b.checksum?.algorithm.name == "kraken-v2")
        #expect(b.sequence == .unsequenced && b.rule == .unsequenced && b.depthLimit == 10)
        #expect(b.eventTime == UnixNanos(7) && b.timeSource == .receive)  // no timestamp in this snapshot
        let (s, outcomes) = sync([b])
        #expect(outcomes.contains(.checksumPassed) && s?.isValid == true)
        // The guide's first ask, formatted: "45285.2" → "452852", "0.00100000" → "100000".
        let text = String(decoding: KrakenChecksum.v2(precision: nil).text(bids: b.bids, asks: b.asks), as: UTF8.self)
        #expect(text.hasPrefix("452852100000"))
    }

    /// The current guide shows the same example with quoted strings: same result.
    @Test func checksumGuideExampleAsStrings() throws {
        var text = String(decoding: try KrakenTest.docSample("v2-book-checksum-example.json"), as: UTF8.self)
        for key in ["price", "qty"] {
            text = text.replacingOccurrences(of: #""\#(key)": ([0-9.]+)"#, with: #""\#(key)": "$1""#, options: .regularExpression)
        }
        #expect(text.contains(#""price": "45283.5", "qty": "0.10000000""#))
        var adapter = KrakenAdapter()
        let b = try #require(KrakenTest.books(KrakenTest.run(&adapter, text)).first)
        #expect(b.checksum?.expected == 3_310_070_434)
        #expect(sync([b]).1.contains(.checksumPassed))
    }

    /// The `book` reference's MATIC/USD samples drop trailing zeros (`0.566`, `18097.1547`); their
    /// checksums hold only with the pair precision (price 4, qty 8) — known from `instrument`.
    @Test func referenceSamplesNeedThePairPrecision() throws {
        let snapshotFrame = try KrakenTest.docSample("v2-book-snapshot.json")
        let updateFrame = try KrakenTest.docSample("v2-book-update.json")

        // Without a precision: the text as received does not reproduce the documented checksum.
        var plain = KrakenAdapter()
        let (_, withoutPrecision) = sync(KrakenTest.books(KrakenTest.run(&plain, snapshotFrame)))
        #expect(withoutPrecision.contains { if case .checksumFailed = $0 { true } else { false } })

        // With the instrument channel's precision: snapshot and update both check out.
        var adapter = KrakenAdapter()
        #expect(KrakenTest.run(&adapter, instrumentFrame("MATIC/USD", price: 4, qty: 8)).isEmpty)
        let snapshot = try #require(KrakenTest.books(KrakenTest.run(&adapter, snapshotFrame)).first)
        let update = try #require(KrakenTest.books(KrakenTest.run(&adapter, updateFrame)).first)
        #expect(snapshot.checksum?.expected == 2_439_117_997 && update.checksum?.expected == 2_114_181_697)
        #expect(update.checksum?.algorithm.name == "kraken-v2-p4-q8")
        #expect(KrakenTest.texts(snapshot.bids)[6] == ["0.566", "18097.1547"])  // stored as received
        #expect(!update.isSnapshot && KrakenTest.texts(update.bids) == [["0.5657", "1098.3947558"]] && update.asks.isEmpty)
        #expect(update.eventTime == KrakenTest.nanos(iso: "2023-10-06T17:35:55.440295Z") && update.timeSource == .venue)
        let (s, outcomes) = sync([snapshot, update])
        #expect(outcomes.filter { $0 == .checksumPassed }.count == 2 && outcomes.count == 3)
        #expect(s?.isValid == true && s?.book.bestBid?.price == FixedDecimal("0.5666"))

        // Configured precision works the same way.
        var configured = KrakenAdapter(precisions: ["MATIC/USD": try #require(KrakenPrecision(price: 4, quantity: 8))])
        let again = KrakenTest.books(KrakenTest.run(&configured, snapshotFrame))
        #expect(sync(again).1.contains(.checksumPassed))
    }

    @Test func tradeSnapshotEveryField() throws {
        var adapter = KrakenAdapter()
        let events = KrakenTest.run(&adapter, try KrakenTest.docSample("v2-trade-snapshot.json"))
        let trades = KrakenTest.trades(events)
        try #require(trades.count == 2 && events.count == 2)
        #expect(trades.map(\.id) == [.number(4_665_846), .number(4_665_847)])
        #expect(trades.map(\.price.description) == ["0.5147", "0.5147"])
        #expect(trades.map(\.quantity.description) == ["6423.46326", "1136.19677815"])
        #expect(trades.map(\.side) == [.buy, .buy])
        #expect(trades.map(\.eventTime) == [KrakenTest.nanos(iso: "2023-09-25T07:48:36.925533Z"), KrakenTest.nanos(iso: "2023-09-25T07:49:36.925603Z")])
        for t in trades {
            #expect(t.instrument.symbol == "MATIC-USD" && t.instrument.nativeSymbol == "MATIC/USD" && t.instrument.venue == .kraken)
            #expect(t.receiveTime == UnixNanos(7) && t.count == 1 && t.stream == .raw)
        }
    }

    @Test func tradeUpdateSellAndExponentNumbers() throws {
        let frame = #"{"channel":"trade","type":"update","data":[{"symbol":"MATIC/USD","side":"sell","price":0.5117,"qty":40.0,"ord_type":"market","trade_id":4665906,"timestamp":"2023-09-25T07:49:37.708706Z"},{"symbol":"MATIC/USD","side":"sell","price":5.117e-1,"qty":1e-08,"ord_type":"market","trade_id":4665907,"timestamp":"2023-09-25T07:49:37.708706Z"}]}"#
        let trades = KrakenTest.trades(KrakenTest.fresh(frame))
        try #require(trades.count == 2)
        #expect(trades[0].side == .sell && trades[0].quantity.description == "40.0" && trades[0].id == .number(4_665_906))
        // JSON exponent form, read exactly (never through Double).
        #expect(trades[1].price.description == "0.5117" && trades[1].quantity.description == "0.00000001")
    }

    /// v2 trade ids are sequential per book, so the normalizer reports a jump as a gap; v1 trades
    /// (no id) never do.
    @Test func tradeIDGapIsDetectedForV2() throws {
        var adapter = KrakenAdapter()
        var normalizer = MarketNormalizer(venue: .kraken, tradeIDsAreContiguous: adapter.tradeIDsAreContiguous)
        var out: [MarketEvent] = []
        for id in [100, 101, 104] {
            let frame = #"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":45000.1,"qty":0.5,"ord_type":"limit","trade_id":\#(id),"timestamp":"2023-09-25T07:49:3\#(id % 10).000001Z"}]}"#
            for e in KrakenTest.run(&adapter, frame) { normalizer.handle(e, receiveTime: UnixNanos(7), into: &out) }
        }
        let gaps = out.compactMap { if case .status(let s) = $0, s.kind.name == "gap" { s } else { nil } }
        #expect(gaps.count == 1 && gaps.first?.detail.contains("102...103") == true)
        #expect(normalizer.counters.tradeGaps == 1)
    }

    @Test func tickerSnapshotEveryField() throws {
        var adapter = KrakenAdapter()
        let events = KrakenTest.run(&adapter, try KrakenTest.docSample("v2-ticker-snapshot.json"))
        try #require(events.count == 1)
        let t = try #require(KrakenTest.tickers(events).first)
        #expect(t.instrument.symbol == "ALGO-USD" && t.instrument.nativeSymbol == "ALGO/USD")
        #expect(t.bestBid.map { [$0.price.description, $0.quantity.description] } == ["0.10025", "740.0"])
        #expect(t.bestAsk.map { [$0.price.description, $0.quantity.description] } == ["0.10036", "1361.44813783"])
        #expect(t.updateID == nil && t.eventTime == UnixNanos(7) && t.timeSource == .receive)
        // The current documentation adds a timestamp.
        let stamped = #"{"channel":"ticker","type":"update","data":[{"symbol":"ALGO/USD","bid":0.10025,"bid_qty":740.0,"ask":0.10035,"ask_qty":740.0,"last":0.10035,"volume":997038.98383185,"vwap":0.10148,"low":0.09979,"high":0.10285,"change":-0.00017,"change_pct":-0.17,"timestamp":"2023-09-25T09:04:31.742648Z"}]}"#
        let t2 = try #require(KrakenTest.tickers(KrakenTest.fresh(stamped)).first)
        #expect(t2.eventTime == KrakenTest.nanos(iso: "2023-09-25T09:04:31.742648Z") && t2.timeSource == .venue)
    }

    /// Depth: the request the gateway sent, then the ack, per connection; a new connection resets it.
    @Test func bookDepthFollowsTheSubscription() throws {
        let update = #"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":45283.5,"qty":0.1}],"asks":[],"checksum":1,"timestamp":"2023-10-06T17:35:55.440295Z"}]}"#
        func depth(_ adapter: inout KrakenAdapter, _ conn: String) -> Int? {
            KrakenTest.books(KrakenTest.run(&adapter, update, connection: conn)).first?.depthLimit
        }
        var adapter = KrakenAdapter()
        #expect(depth(&adapter, "1") == KrakenAdapter.defaultBookDepth)
        let request = #"{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USD","ETH/USD"],"depth":25,"snapshot":true},"req_id":1}"#
        #expect(KrakenTest.run(&adapter, request, kind: .sent, connection: "1").isEmpty)
        #expect(depth(&adapter, "1") == 25 && depth(&adapter, "2") == 10)
        let ack = #"{"method":"subscribe","result":{"channel":"book","depth":100,"snapshot":true,"symbol":"BTC/USD"},"success":true,"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"}"#
        #expect(KrakenTest.run(&adapter, ack, connection: "1").isEmpty)
        #expect(depth(&adapter, "1") == 100)
        #expect(KrakenTest.run(&adapter, "", kind: .open, connection: "1").isEmpty)
        #expect(depth(&adapter, "1") == 10)
    }

    @Test(arguments: [
        "v2-subscribe-ack.json", "v2-instrument-subscribe-ack.json",
    ])
    func documentedAcksYieldNothing(name: String) throws {
        var adapter = KrakenAdapter()
        #expect(KrakenTest.run(&adapter, try KrakenTest.docSample(name)).isEmpty)
    }

    @Test(arguments: [
        #"{"channel":"heartbeat"}"#,
        #"{"channel":"status","data":[{"api_version":"v2","connection_id":12393906104898154338,"system":"online","version":"2.0.0"}],"type":"update"}"#,
        #"{"method":"pong","req_id":101,"time_in":"2023-09-24T14:10:23.799685Z","time_out":"2023-09-24T14:10:23.799703Z"}"#,
        #"{"method":"unsubscribe","result":{"channel":"book","depth":10,"symbol":"BTC/USD"},"success":true,"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"}"#,
        #"{"channel":"ohlc","type":"update","timestamp":"2023-10-04T16:26:30.524394914Z","data":[{"symbol":"MATIC/USD","open":0.5624,"high":0.5628,"low":0.5622,"close":0.5627,"trades":12,"volume":30927.68066226,"vwap":0.5626,"interval_begin":"2023-10-04T16:25:00.000000000Z","interval":5,"timestamp":"2023-10-04T16:30:00.000000Z"}]}"#,
    ])
    func controlMessagesYieldNothing(frame: String) {
        #expect(KrakenTest.fresh(frame).isEmpty)
    }

    @Test func statusOtherThanOnlineIsReported() throws {
        let events = KrakenTest.fresh(#"{"channel":"status","data":[{"api_version":"v2","connection_id":1,"system":"maintenance","version":"2.0.0"}],"type":"update"}"#)
        let s = try #require(KrakenTest.statuses(events).first)
        #expect(events.count == 1 && s.kind.name == "venue_status" && s.detail.contains("maintenance"))
    }

    @Test func errorResponseIsVenueError() throws {
        let frame = #"{"error":"Currency pair not supported ABC/XYZ","method":"subscribe","req_id":3,"success":false,"symbol":"ABC/XYZ","time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"}"#
        let events = KrakenTest.fresh(frame)
        let s = try #require(KrakenTest.statuses(events).first)
        #expect(events.count == 1 && s.kind.name == "venue_error" && s.instrument == nil)
        #expect(s.detail.contains("subscribe") && s.detail.contains("Currency pair not supported ABC/XYZ"))
    }

    @Test(arguments: [
        #"{"channel":"book","type":"snapshot"}"#, #"{"channel":"book","type":"delta","data":[]}"#,
        #"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":"x","qty":1}],"asks":[]}]}"#,
        #"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":1,"qty":-1}],"asks":[]}]}"#,
        #"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[],"asks":[],"checksum":-5}]}"#,
        #"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[],"asks":[],"timestamp":"yesterday"}]}"#,
        #"{"channel":"book","type":"update","data":[{"symbol":"BTCUSD","bids":[],"asks":[]}]}"#,
        #"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":1,"qty":1,"timestamp":"2023-09-25T07:49:37.708706Z"}]}"#,
        #"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"up","price":1,"qty":1,"trade_id":1,"timestamp":"2023-09-25T07:49:37.708706Z"}]}"#,
        #"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":1e999,"qty":1,"trade_id":1,"timestamp":"2023-09-25T07:49:37.708706Z"}]}"#,
        #"{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":"x"}]}"#,
        #"{"channel":"level3","type":"snapshot","data":[]}"#, #"{"channel":7}"#, #"{"method":7}"#,
        #"{"method":"subscribe","result":{"channel":"book","depth":"deep","symbol":"BTC/USD"},"success":true}"#,
    ])
    func malformedV2IsOneParseError(frame: String) throws {
        let events = KrakenTest.fresh(frame)
        try #require(events.count == 1, "\(frame) → \(events)")
        #expect(KrakenTest.parseErrors(events).count == 1)
    }

    /// A message with several symbols yields all of its books or, when one entry is bad, one error.
    @Test func multiSymbolMessageIsAllOrNothing() {
        let good = #"{"symbol":"BTC/USD","bids":[{"price":1.5,"qty":2}],"asks":[],"checksum":7}"#
        let bad = #"{"symbol":"ETH/USD","bids":[{"price":1.5}],"asks":[]}"#
        let both = KrakenTest.fresh(#"{"channel":"book","type":"update","data":[\#(good),\#(good.replacingOccurrences(of: "BTC", with: "ETH"))]}"#)
        #expect(KrakenTest.books(both).map(\.instrument.symbol) == ["BTC-USD", "ETH-USD"])
        let mixed = KrakenTest.fresh(#"{"channel":"book","type":"update","data":[\#(good),\#(bad)]}"#)
        #expect(mixed.count == 1 && KrakenTest.parseErrors(mixed).count == 1)
    }
}
