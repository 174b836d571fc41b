import Feeds
import Foundation
import MarketCore
import Testing
import Venues
import _TestSupport

// Expected values come from the frame text through JSONSerialization, from Bybit's documentation
// (BybitDocSamples/README.md names each page) or are written out by hand — never from the adapter.

let bybitOrderbook1 = "bybit/v5-orderbook1-2025-06-13.jsonl.gz"
let bybitOrderbook500 = "bybit/v5-orderbook500-xrpusdt-2024-12-01.jsonl.gz"

/// The canonical symbols of the recorded instruments, written out by hand (CONTRACTS.md rules):
/// `conn` 1 is `/v5/public/linear` (USDT perpetuals), `conn` 2 is `/v5/public/spot`.
let bybitRecordedSymbols: [String: String] = [
    "1/BANDUSDT": "BAND-USDT-PERP", "1/RADUSDT": "RAD-USDT-PERP", "1/SNTUSDT": "SNT-USDT-PERP",
    "1/AIOZUSDT": "AIOZ-USDT-PERP", "2/OPUSDC": "OP-USDC", "2/TUSDUSDT": "TUSD-USDT", "2/KCSUSDT": "KCS-USDT",
    "2/CPOOLUSDT": "CPOOL-USDT", "2/ARBUSDC": "ARB-USDC", "2/MASAUSDT": "MASA-USDT", "-/XRPUSDT": "XRP-USDT-PERP",
]

/// Feeds one input to `adapter`.
func bybitFeed(
    _ adapter: inout BybitAdapter, _ frame: [UInt8], kind: FrameKind = .ws, url: String? = nil, conn: String? = nil,
    recv: Int64 = 42
) -> [VenueEvent] {
    var out: [VenueEvent] = []
    frame.withUnsafeBytes {
        adapter.handle(kind: kind, url: url, connection: conn, frame: $0, receiveTime: UnixNanos(recv), into: &out)
    }
    return out
}

func bybitFeed(
    _ adapter: inout BybitAdapter, _ text: String, kind: FrameKind = .ws, url: String? = nil, conn: String? = nil,
    recv: Int64 = 42
) -> [VenueEvent] {
    bybitFeed(&adapter, Array(text.utf8), kind: kind, url: url, conn: conn, recv: recv)
}

func bybitFeed(_ adapter: inout BybitAdapter, _ r: CaptureRecord) -> [VenueEvent] {
    bybitFeed(&adapter, r.frame, kind: r.kind, url: r.url, conn: r.connection, recv: r.receiveTime.rawValue)
}

func bybitJSON(_ bytes: [UInt8]) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] ?? [:]
}

private func docSample(_ name: String) throws -> String {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("BybitDocSamples/\(name)")
    return try String(contentsOf: url, encoding: .utf8)
}

private func texts(_ levels: [BookLevel]) -> [[String]] { levels.map { [$0.price.description, $0.quantity.description] } }

extension VenueEvent {
    fileprivate var bybitParseError: String? { if case .parseError(_, let d) = self { d } else { nil } }
    fileprivate var bybitStatus: FeedStatus? { if case .status(let s) = self { s } else { nil } }
}

/// Checks every field of the one ``BookUpdate`` a recorded order book frame must give against the frame's JSON.
/// - Returns: a description of the first mismatch, or `nil`.
func bybitCheckBookFrame(_ r: CaptureRecord, _ events: [VenueEvent]) -> String? {
    let j = bybitJSON(r.frame)
    guard let data = j["data"] as? [String: Any], let native = data["s"] as? String,
        let type = j["type"] as? String, let u = (data["u"] as? NSNumber)?.int64Value,
        let cts = (j["cts"] as? NSNumber)?.int64Value, let b = data["b"] as? [[String]], let a = data["a"] as? [[String]]
    else { return "line \(r.line): not an order book frame" }
    guard events.count == 1, case .book(let book) = events[0] else { return "line \(r.line): \(events)" }
    let expected = bybitRecordedSymbols["\(r.connection ?? "-")/\(native)"]
    let i = book.instrument
    guard i.venue == .bybit, i.symbol == expected, i.nativeSymbol == native else { return "line \(r.line): \(i)" }
    guard book.isSnapshot == (type == "snapshot"), book.sequence == .sequence(u), book.rule == .inStreamSequenced
    else { return "line \(r.line): sequence \(book.sequence) \(book.isSnapshot)" }
    // Event time is the matching-engine time `cts`, in milliseconds.
    guard book.eventTime == UnixNanos(cts * 1_000_000), book.receiveTime == r.receiveTime, book.timeSource == .venue
    else { return "line \(r.line): times" }
    guard book.checksum == nil, book.depthLimit == nil else { return "line \(r.line): checksum/depth" }
    guard texts(book.bids) == b, texts(book.asks) == a else { return "line \(r.line): levels" }
    return nil
}

@Suite("BybitAdapter")
struct BybitAdapterTests {
    // MARK: Real frames, every field

    /// The first linear and the first spot frame of the level-1 recording, and the first snapshot and
    /// delta of the level-500 recording, field by field.
    @Test func firstRealFramesEveryField() throws {
        var adapter = BybitAdapter()
        var checked: [String] = []
        for r in try Fixtures.records(bybitOrderbook1) {
            let events = bybitFeed(&adapter, r)
            guard r.kind == .ws, bybitJSON(r.frame)["topic"] != nil, !checked.contains(r.connection ?? "") else { continue }
            #expect(bybitCheckBookFrame(r, events) == nil)
            checked.append(r.connection ?? "")
        }
        #expect(checked == ["1", "2"])

        // Spelled out for the first linear frame (line 13 of the recording):
        // {"topic":"orderbook.1.BANDUSDT","type":"snapshot","ts":1749833474773,"data":{"s":"BANDUSDT",
        //  "b":[["0.6131","17.9"]],"a":[["0.6134","35.4"]],"u":24042997,"seq":209972815373},"cts":1749833474768}
        var linear = BybitAdapter()
        let frame = #"{"topic":"orderbook.1.BANDUSDT","type":"snapshot","ts":1749833474773,"data":{"s":"BANDUSDT","b":[["0.6131","17.9"]],"a":[["0.6134","35.4"]],"u":24042997,"seq":209972815373},"cts":1749833474768}"#
        let events = bybitFeed(&linear, frame, url: nil, conn: "1", recv: 1_749_833_474_285_131_500)
        let update = try #require(events.first.flatMap { if case .book(let u) = $0 { u } else { nil } })
        #expect(events.count == 1)
        #expect(update.instrument.symbol == "BAND-USDT-PERP" && update.instrument.base == "BAND")
        #expect(update.instrument.quote == "USDT" && update.instrument.kind == .perpetual)
        #expect(update.isSnapshot && update.sequence == .sequence(24_042_997))
        #expect(texts(update.bids) == [["0.6131", "17.9"]] && texts(update.asks) == [["0.6134", "35.4"]])
        #expect(update.eventTime == UnixNanos(1_749_833_474_768_000_000))
        #expect(update.receiveTime == UnixNanos(1_749_833_474_285_131_500))

        var deep = BybitAdapter()
        let records = try Fixtures.records(bybitOrderbook500)
        #expect(records.allSatisfy { $0.kind == .ws && $0.url == nil && $0.connection == nil })
        for r in records.prefix(2) { #expect(bybitCheckBookFrame(r, bybitFeed(&deep, r)) == nil) }
        #expect(bybitJSON(records[0].frame)["type"] as? String == "snapshot")
        #expect(bybitJSON(records[1].frame)["type"] as? String == "delta")
    }

    /// Every line of both recordings: book frames match their JSON, acks and `open`/`sent` lines give nothing.
    /// The category rule: conn 1 (linear URL) gives perpetuals, conn 2 (spot URL) spot pairs, and the
    /// level-500 file (no `open` line) is linear.
    @Test func everyRecordedLineAndTheCategoryRule() throws {
        for file in [bybitOrderbook1, bybitOrderbook500] {
            var adapter = BybitAdapter()
            var failures: [String] = []
            var kinds: [String: Set<InstrumentKind>] = [:]
            var books = 0
            for r in try Fixtures.records(file) {
                let events = bybitFeed(&adapter, r)
                if r.kind != .ws || bybitJSON(r.frame)["op"] != nil {
                    if !events.isEmpty { failures.append("line \(r.line): \(events)") }
                    continue
                }
                books += 1
                if let f = bybitCheckBookFrame(r, events) { failures.append(f) }
                for case .book(let u) in events { kinds[r.connection ?? "-", default: []].insert(u.instrument.kind) }
            }
            #expect(failures.isEmpty, "\(failures.prefix(3))")
            if file == bybitOrderbook1 {
                #expect(books == 337)
                #expect(kinds == ["1": [.perpetual], "2": [.spot]])
                #expect(adapter.category(forConnection: "1") == .linear && adapter.category(forConnection: "2") == .spot)
            } else {
                #expect(books == 50)
                #expect(kinds == ["-": [.perpetual]])
                #expect(adapter.category(forConnection: nil) == .linear)
            }
        }
    }

    // MARK: Documentation samples

    /// https://bybit-exchange.github.io/docs/v5/websocket/public/trade: one taker buy of 0.001 at 16578.50.
    @Test func publicTradeDocSamples() throws {
        for name in ["public-trade.json", "public-trade-zh-tw.json"] {
            for (url, symbol) in [(nil, "BTC-USDT-PERP"), ("wss://stream.bybit.com/v5/public/linear", "BTC-USDT-PERP"),
                                  ("wss://stream.bybit.com/v5/public/spot", "BTC-USDT")] as [(String?, String)] {
                var adapter = BybitAdapter()
                if let url { _ = bybitFeed(&adapter, "", kind: .open, url: url, conn: "7") }
                let events = bybitFeed(&adapter, try docSample(name), conn: "7", recv: 99)
                #expect(events.count == 1)
                let t = try #require(events.first.flatMap { if case .trade(let t) = $0 { t } else { nil } })
                #expect(t.instrument.symbol == symbol && t.instrument.nativeSymbol == "BTCUSDT" && t.instrument.venue == .bybit)
                #expect(t.id == .text("20f43950-d8dd-5b31-9112-a178eb6023af"))
                #expect(t.price.description == "16578.50" && t.quantity.description == "0.001")
                #expect(t.side == .buy)  // "S": "Buy" is the taker's side
                #expect(t.eventTime == UnixNanos(1_672_304_486_865_000_000))  // T, not ts
                #expect(t.receiveTime == UnixNanos(99) && t.count == 1 && t.stream == .raw)
            }
        }
        // Derivatives docs, USDC perpetual `BTCPERP` (settles in USDC).
        var adapter = BybitAdapter()
        let events = bybitFeed(&adapter, try docSample("public-trade-usdc-perpetual.json"))
        let t = try #require(events.first.flatMap { if case .trade(let t) = $0 { t } else { nil } })
        #expect(events.count == 1 && t.instrument.symbol == "BTC-USDC-PERP")
        #expect(t.id == .text("d9cd8295-40dc-5dce-8deb-42882580a7ab") && t.side == .buy)
        #expect(t.price.description == "17032.50" && t.quantity.description == "0.002")
        #expect(t.eventTime == UnixNanos(1_671_181_689_021_000_000))
        #expect(!adapter.tradeIDsAreContiguous)
    }

    /// Frames built to the documented field list: several trades per message (in order), a spot
    /// numeric-text id, and an option trade whose topic names the base coin only.
    @Test func publicTradeBuiltToTheDocs() throws {
        var adapter = BybitAdapter()
        _ = bybitFeed(&adapter, "", kind: .open, url: "wss://stream.bybit.com/v5/public/spot", conn: "s")
        let spot = #"{"topic":"publicTrade.ETHUSDC","type":"snapshot","ts":1700000000123,"data":[{"i":"2290000000061666327","T":1700000000100,"p":"2000.01","v":"0.5","S":"Sell","s":"ETHUSDC","BT":false,"RPI":false,"seq":1},{"i":"2290000000061666328","T":1700000000101,"p":"2000.02","v":"1.25","S":"Buy","s":"ETHUSDC","BT":true}]}"#
        let trades = bybitFeed(&adapter, spot, conn: "s").compactMap { if case .trade(let t) = $0 { t } else { nil } }
        #expect(trades.map(\.id) == [.text("2290000000061666327"), .text("2290000000061666328")])
        #expect(trades.map(\.side) == [.sell, .buy] && trades.map(\.instrument.symbol) == ["ETH-USDC", "ETH-USDC"])
        #expect(trades.map(\.price.description) == ["2000.01", "2000.02"] && trades.map(\.quantity.description) == ["0.5", "1.25"])
        #expect(trades.map(\.eventTime) == [UnixNanos(1_700_000_000_100_000_000), UnixNanos(1_700_000_000_101_000_000)])

        _ = bybitFeed(&adapter, "", kind: .open, url: "wss://stream.bybit.com/v5/public/option", conn: "o")
        let option = #"{"id":"publicTrade.BTC-1","topic":"publicTrade.BTC","type":"snapshot","ts":1672304486868,"data":[{"T":1672304486865,"s":"BTC-6JAN23-17500-C","S":"Sell","v":"0.1","p":"10","i":"a1b2","BT":false,"mP":"7.86","iP":"16823.73","mIv":"0.48","iv":"0.5"}]}"#
        let o = try #require(bybitFeed(&adapter, option, conn: "o").first.flatMap { if case .trade(let t) = $0 { t } else { nil } })
        #expect(o.instrument.symbol == "BTC-USDC-20230106-17500-C" && o.side == .sell && o.id == .text("a1b2"))
        #expect(o.instrument.kind == .option(expiry: "20230106", strike: "17500", isCall: true))
    }

    /// https://bybit-exchange.github.io/docs/v5/websocket/public/ticker, linear snapshot; then deltas
    /// that carry only changed fields ("If a response param is not found in the message, then its
    /// value has not changed").
    @Test func tickerDocSampleAndDeltas() throws {
        var adapter = BybitAdapter()
        let events = bybitFeed(&adapter, try docSample("ticker-linear.json"), conn: "1")
        let t = try #require(events.first.flatMap { if case .ticker(let t) = $0 { t } else { nil } })
        #expect(events.count == 1 && t.instrument.symbol == "BTC-USDT-PERP")
        #expect(t.bestBid == BookLevel(price: FixedDecimal("17215.50")!, quantity: FixedDecimal("84.489")!))
        #expect(t.bestAsk == BookLevel(price: FixedDecimal("17216.00")!, quantity: FixedDecimal("83.020")!))
        #expect(t.updateID == 24_987_956_059 && t.eventTime == UnixNanos(1_673_272_861_686_000_000) && t.timeSource == .venue)

        let delta = #"{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","bid1Price":"17215.00","bid1Size":"1.5"},"cs":24987956060,"ts":1673272861786}"#
        let d = try #require(bybitFeed(&adapter, delta, conn: "1").first.flatMap { if case .ticker(let t) = $0 { t } else { nil } })
        #expect(d.bestBid == BookLevel(price: FixedDecimal("17215.00")!, quantity: FixedDecimal("1.5")!))
        #expect(d.bestAsk == t.bestAsk && d.updateID == 24_987_956_060)
        // A delta that does not touch the top of book, and spot tickers (no bid/ask fields), give nothing.
        #expect(bybitFeed(&adapter, #"{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","lastPrice":"1"},"cs":1,"ts":1}"#, conn: "1").isEmpty)
        _ = bybitFeed(&adapter, "", kind: .open, url: "wss://stream.bybit.com/v5/public/spot", conn: "2")
        #expect(bybitFeed(&adapter, #"{"topic":"tickers.BTCUSDT","ts":1673853746003,"type":"snapshot","cs":2588407389,"data":{"symbol":"BTCUSDT","lastPrice":"21109.77","usdIndexPrice":"21120.2400136"}}"#, conn: "2").isEmpty)
    }

    /// https://bybit-exchange.github.io/docs/v5/ws/connect: subscription responses and pongs are quiet.
    @Test func controlDocSamplesAreQuiet() throws {
        for name in ["subscribe-response-linear.json", "subscribe-response-spot.json", "subscribe-response-option.json",
                     "pong-spot.json", "pong-linear.json", "pong-option.json"] {
            var adapter = BybitAdapter()
            #expect(bybitFeed(&adapter, try docSample(name)).isEmpty, "\(name)")
        }
    }

    @Test func subscribeFailuresAreVenueErrors() throws {
        let cases = [
            (#"{"success":false,"ret_msg":"error:handler not found,topic:orderbook.500.BTCUSDT","conn_id":"c","req_id":"","op":"subscribe"}"#,
             "subscribe failed: error:handler not found,topic:orderbook.500.BTCUSDT"),
            (#"{"success":false,"ret_msg":"args size >10","op":"subscribe"}"#, "subscribe failed: args size >10"),
            (#"{"success":false,"ret_msg":"Invalid request"}"#, "request failed: Invalid request"),
            (#"{"success":true,"conn_id":"x","data":{"failTopics":["orderbook.100.BTC-6JAN23-18000-X"],"successTopics":[]},"type":"COMMAND_RESP"}"#,
             "subscribe failed: topics orderbook.100.BTC-6JAN23-18000-X"),
        ]
        for (frame, detail) in cases {
            var adapter = BybitAdapter()
            let events = bybitFeed(&adapter, frame, recv: 5)
            let s = try #require(events.first?.bybitStatus)
            #expect(events.count == 1 && s.kind.name == "venue_error" && s.venue == .bybit && s.instrument == nil)
            #expect(s.detail == detail && s.time == UnixNanos(5))
        }
    }

    // MARK: Categories and symbols

    @Test(arguments: [
        ("spot", "BTCUSDT", "BTC-USDT"), ("spot", "TUSDUSDT", "TUSD-USDT"), ("spot", "ETHBTC", "ETH-BTC"),
        ("linear", "BTCUSDT", "BTC-USDT-PERP"), ("linear", "1000PEPEUSDT", "1000PEPE-USDT-PERP"),
        ("linear", "ETHPERP", "ETH-USDC-PERP"), ("linear", "BTCUSDT-26DEC25", "BTC-USDT-20251226"),
        ("linear", "BTC-26DEC25", "BTC-USDC-20251226"), ("linear", "ETH-7MAR25", "ETH-USDC-20250307"),
        ("inverse", "BTCUSD", "BTC-USD-PERP"), ("option", "BTC-6JAN23-17500-C", "BTC-USDC-20230106-17500-C"),
        ("option", "ETH-28MAR25-2000-P-USDT", "ETH-USDT-20250328-2000-P"),
        ("spot", "FOOBAR", ""), ("spot", "BTCUSDT-26DEC25", ""), ("linear", "BTCUSDT-26XYZ25", ""),
        ("linear", "BTC-32DEC25", ""), ("inverse", "BTCUSDH25", ""), ("option", "BTC-6JAN23-17500-X", ""),
        ("option", "BTCUSDT", ""), ("linear", "btc.usdt", ""), ("linear", "", ""),
    ])
    func symbolMapping(_ category: String, _ native: String, _ canonical: String) throws {
        let c = try #require(BybitCategory(rawValue: category))
        let i = BybitSymbols.instrument(native: native, category: c, quotes: .builtIn)
        #expect((i?.symbol ?? "") == canonical)
        if let i { #expect(i.venue == .bybit && i.nativeSymbol == native) }
    }

    @Test func categoryComesFromTheConnectionURL() throws {
        #expect(BybitCategory.meaning(ofURL: "wss://stream.bybit.com/v5/public/spot") == .category(.spot))
        #expect(BybitCategory.meaning(ofURL: "wss://stream-testnet.bybit.com/v5/public/inverse?x=1") == .category(.inverse))
        #expect(BybitCategory.meaning(ofURL: "wss://stream.bybit.com/v5/public/option/") == .category(.option))
        #expect(BybitCategory.meaning(ofURL: "wss://stream.bybit.com/v5/public/spread") == .unsupported("spread"))
        #expect(BybitCategory.meaning(ofURL: "ws://127.0.0.1:9000/feed") == .unknown)

        let frame = #"{"topic":"orderbook.1.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT","b":[],"a":[],"u":1,"seq":1},"cts":1}"#
        func symbol(_ events: [VenueEvent]) -> String? { if case .book(let u)? = events.first { u.instrument.symbol } else { nil } }
        var a = BybitAdapter()
        #expect(symbol(bybitFeed(&a, frame, conn: "9")) == "BTC-USDT-PERP")  // no URL known: linear
        _ = bybitFeed(&a, "", kind: .open, url: "wss://stream.bybit.com/v5/public/spot", conn: "9")
        #expect(symbol(bybitFeed(&a, frame, conn: "9")) == "BTC-USDT")
        #expect(symbol(bybitFeed(&a, frame, conn: "8")) == "BTC-USDT-PERP")  // another connection
        _ = bybitFeed(&a, #"{"op":"subscribe","args":["orderbook.1.BTCUSDT"]}"#, kind: .sent, url: "wss://stream.bybit.com/v5/public/linear", conn: "9")
        #expect(symbol(bybitFeed(&a, frame, conn: "9")) == "BTC-USDT-PERP")
        _ = bybitFeed(&a, "", kind: .open, url: "wss://stream.bybit.com/v5/public/spot", conn: "9")
        _ = bybitFeed(&a, "", kind: .open, url: nil, conn: "9")  // reopened without a URL: default again
        #expect(symbol(bybitFeed(&a, frame, conn: "9")) == "BTC-USDT-PERP")
        #expect(symbol(bybitFeed(&a, frame, url: "wss://stream.bybit.com/v5/public/spot", conn: "9")) == "BTC-USDT")
        _ = bybitFeed(&a, "", kind: .open, url: "wss://stream.bybit.com/v5/public/spread", conn: "9")
        #expect(bybitFeed(&a, frame, conn: "9").first?.bybitParseError?.hasPrefix("unsupported Bybit stream /v5/public/spread:") == true)
        #expect(a.category(forConnection: "9") == nil && a.category(forConnection: nil) == .linear)
    }

    /// Spot takes at most 10 args per subscribe request (https://bybit-exchange.github.io/docs/v5/ws/connect).
    @Test func subscribeMessagesAreChunkedAndValidJSON() throws {
        let topics = (0..<23).map { BybitSubscriptions.orderbookTopic(native: "C\($0)USDT", depth: 50) }
        let spot = BybitSubscriptions.subscribeMessages(topics: topics, category: .spot)
        let linear = BybitSubscriptions.subscribeMessages(topics: topics, category: .linear)
        #expect(spot.count == 3 && linear.count == 1)
        var seen: [String] = []
        for (n, m) in spot.enumerated() {
            let j = bybitJSON(Array(m.utf8))
            #expect(j["op"] as? String == "subscribe" && j["req_id"] as? String == String(n + 1))
            seen += j["args"] as? [String] ?? []
        }
        #expect(seen == topics && topics[0] == "orderbook.50.C0USDT")
        #expect(bybitJSON(Array(BybitSubscriptions.pingMessage(requestID: "7").utf8)) as NSDictionary == ["req_id": "7", "op": "ping"])
        #expect(BybitSubscriptions.url(category: .inverse) == "wss://stream.bybit.com/v5/public/inverse")
        #expect(BybitSubscriptions.tradeTopic(native: "BTCUSDT") == "publicTrade.BTCUSDT")
        #expect(BybitSubscriptions.tickerTopic(native: "BTCUSDT") == "tickers.BTCUSDT")
    }
}
