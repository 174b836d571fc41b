import Feeds
import Foundation
import MarketCore
import Testing
import Venues
import _TestSupport

// Malformed, truncated, unknown and hostile input: never a crash, never half a message, always one
// classified event (parse error with an excerpt, or nothing for known-but-unused messages).

private func detail(_ events: [VenueEvent]) -> String? {
    guard events.count == 1, case .parseError(_, let d) = events[0] else { return nil }
    return d
}

/// Foundation's `contains` is false for an empty needle; an empty frame has an empty excerpt.
private func includes(_ detail: String, _ excerpt: String) -> Bool { excerpt.isEmpty || detail.contains(excerpt) }

private func fresh(_ text: String, url: String? = nil) -> [VenueEvent] {
    var adapter = BybitAdapter()
    return bybitFeed(&adapter, text, url: url)
}

private func json(_ object: Any) -> String {
    String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
}

private func docSample(_ name: String) throws -> String {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("BybitDocSamples/\(name)")
    return try String(contentsOf: url, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
}

@Suite("BybitAdapter malformed input")
struct BybitMalformedInputTests {
    /// Every proper prefix of real frames and of documentation samples is exactly one parse error
    /// whose excerpt starts the frame.
    @Test func everyTruncationIsOneParseErrorWithExcerpt() throws {
        let book1 = try #require(try Fixtures.records(bybitOrderbook1).first { bybitJSON($0.frame)["topic"] != nil })
        let book500 = try Fixtures.records(bybitOrderbook500)
        var frames: [(bytes: [UInt8], stride: Int)] = [(book1.frame, 1), (book500[1].frame, 1), (book500[0].frame, 211)]
        for name in ["public-trade.json", "ticker-linear.json", "subscribe-response-option.json", "pong-option.json"] {
            frames.append((Array(try docSample(name).utf8), 1))
        }
        for (bytes, stride) in frames {
            for n in Swift.stride(from: 0, to: bytes.count, by: stride) {
                let text = String(decoding: bytes[..<n], as: UTF8.self)
                let d = detail(fresh(text))
                #expect(d?.hasPrefix("malformed JSON:") == true, "prefix \(n): \(String(describing: d))")
                #expect(d.map { includes($0, String(text.prefix(30))) } == true, "excerpt of prefix \(n)")
            }
        }
    }

    @Test func missingAndBadValuesAreParseErrors() throws {
        let records = try Fixtures.records(bybitOrderbook500)
        let book = bybitJSON(records[1].frame)
        let data = try #require(book["data"] as? [String: Any])
        func withData(_ change: [String: Any?]) -> String {
            var d = data
            for (k, v) in change { d[k] = v }
            return json(book.merging(["data": d]) { $1 })
        }
        let trade = bybitJSON(Array(try docSample("public-trade.json").utf8))
        let item = try #require((trade["data"] as? [[String: Any]])?.first)
        func withTrade(_ change: [String: Any?]) -> String {
            var d = item
            for (k, v) in change { d[k] = v }
            return json(trade.merging(["data": [item, d]]) { $1 })  // the good first trade must not escape
        }
        var cases: [(frame: String, reason: String)] = [
            (withData(["u": nil]), "orderbook missing u"), (withData(["u": "12a"]), "orderbook bad u"),
            (withData(["u": 1.5]), "orderbook bad u"), (withData(["s": nil]), "missing or bad symbol"),
            (withData(["s": "FOOBAR"]), "unknown symbol FOOBAR"), (withData(["b": nil]), "orderbook missing or bad levels"),
            (withData(["b": [["1.0", "abc"]]]), "orderbook missing or bad levels"),
            (withData(["a": [["1.0", "-2"]]]), "orderbook missing or bad levels"),
            (withData(["a": [["1.0"]]]), "orderbook missing or bad levels"),
            (withData(["a": [["1.0", "2", "3"]]]), "orderbook missing or bad levels"),
            (withData(["b": [["1e5", "2"]]]), "orderbook missing or bad levels"),
            (json(book.merging(["type": "partial"]) { $1 }), "unknown orderbook type"),
            (json(book.filter { $0.key != "type" }), "orderbook without type"),
            (json(book.filter { $0.key != "data" }), "orderbook without data"),
            (json(book.merging(["data": [1, 2]]) { $1 }), "orderbook data is not an object"),
            (json(book.merging(["cts": 99_999_999_999_999_999]) { $1 }), "bad ts/cts"),
            (json(book.merging(["cts": "soon"]) { $1 }), "bad ts/cts"),
            (json(book.merging(["topic": "orderbook.x.XRPUSDT"]) { $1 }), "bad orderbook topic"),
            (json(book.merging(["topic": 7]) { $1 }), "bad topic"),
            (withTrade(["S": "Up"]), "publicTrade missing or bad S"), (withTrade(["S": nil]), "publicTrade missing or bad S"),
            (withTrade(["T": "yesterday"]), "publicTrade missing or bad T"), (withTrade(["T": -5]), "publicTrade missing or bad T"),
            (withTrade(["p": "1,5"]), "publicTrade missing or bad p/v"), (withTrade(["v": nil]), "publicTrade missing or bad p/v"),
            (withTrade(["v": "-1"]), "publicTrade missing or bad p/v"), (withTrade(["i": ""]), "publicTrade missing or bad i"),
            (withTrade(["i": 5]), "publicTrade missing or bad i"), (withTrade(["s": "XYZ"]), "unknown symbol XYZ"),
            (json(trade.merging(["data": ["x"]]) { $1 }), "publicTrade element is not an object"),
            (json(trade.merging(["data": ["T": 1]]) { $1 }), "publicTrade data is not an array"),
            (json(trade.filter { $0.key != "data" }), "publicTrade without data"),
            (#"{"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT","bid1Price":"x"},"ts":1}"#, "tickers bad bid/ask"),
            (#"{"topic":"tickers.BTCUSDT","type":"full","data":{"symbol":"BTCUSDT"},"ts":1}"#, "unknown tickers type"),
            (#"{"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT","bid1Price":"1"},"cs":"z","ts":1}"#, "tickers bad cs"),
            (#"{"topic":"orderbook.1.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT","b":[],"a":[],"u":1},"cts":1} {"#, "trailing bytes after JSON object"),
            (#"{"topic":"funding.BTCUSDT","type":"snapshot","ts":1,"data":{}}"#, "unknown topic"),
            (#"{"op":"subscribe","ret_msg":""}"#, "subscribe response without success"),
            (#"{"op":"subscribe","success":"yes"}"#, "bad success flag"), (#"{"op":"login","success":true}"#, "unknown op"),
            (#"{"op":7,"success":true}"#, "bad op"), (#"{"hello":"world"}"#, "unknown message"),
            (#"{"type":"COMMAND_RESP","success":true,"data":{"failTopics":"x"}}"#, "bad failTopics"),
            ("", "malformed JSON"), ("[]", "malformed JSON"), ("null", "malformed JSON"), ("{\"a\":}", "malformed JSON"),
            ("{\"topic\":\"orderbook.1.BTCUSDT\" \"type\":1}", "malformed JSON"), ("\u{FF}\u{FE}", "malformed JSON"),
        ]
        cases.append((json(["topic": "orderbook.1.BTCUSDT", "type": "snapshot", "ts": 1, "data": ["s": "BTCUSDT"]]), "orderbook missing u"))
        for c in cases {
            let events = fresh(c.frame)
            let d = detail(events)
            #expect(d?.hasPrefix(c.reason + ":") == true, "\(c.reason) ← \(events)")
            #expect(d.map { includes($0, String(c.frame.prefix(30))) } == true, "excerpt missing: \(String(describing: d))")
        }
        // A REST response is not expected on Bybit.
        var adapter = BybitAdapter()
        #expect(detail(bybitFeed(&adapter, "{}", kind: .rest))?.hasPrefix("unexpected REST response") == true)
    }

    /// Known topics the gateway does not use, and `open`/`sent`/`tick` lines, produce nothing.
    @Test func knownUnusedInputIsQuiet() {
        for frame in [
            #"{"topic":"kline.5.BTCUSDT","data":[{"start":1672324800000,"end":1672325099999,"interval":"5","open":"16649.5","close":"16677","high":"16677","low":"16608","volume":"2.081","turnover":"34666.4005","confirm":false,"timestamp":1672324988882}],"ts":1672324988882,"type":"snapshot"}"#,
            #"{"topic":"allLiquidation.ROSEUSDT","type":"snapshot","ts":1739502303204,"data":[{"T":1739502302929,"s":"ROSEUSDT","S":"Sell","v":"20000","p":"0.04499"}]}"#,
            #"{"op":"pong","args":["1672916271846"]}"#, #"{"op":"unsubscribe","success":true,"ret_msg":""}"#,
        ] {
            #expect(fresh(frame).isEmpty, "\(frame)")
        }
        var adapter = BybitAdapter()
        #expect(bybitFeed(&adapter, "", kind: .tick).isEmpty)
        #expect(bybitFeed(&adapter, "not even json", kind: .sent, url: "wss://stream.bybit.com/v5/public/spot").isEmpty)
    }

    /// Random byte edits of real frames: no trap, and either the frame's events or exactly one parse error.
    @Test func mutatedFramesNeverTrapOrHalfParse() throws {
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((seed >> 33) % UInt64(bound))
        }
        var sources = try Fixtures.records(bybitOrderbook1).filter { $0.kind == .ws }.prefix(40).map(\.frame)
        sources += try Fixtures.records(bybitOrderbook500).prefix(5).map(\.frame)
        for name in ["public-trade.json", "public-trade-usdc-perpetual.json", "ticker-linear.json", "subscribe-response-option.json"] {
            sources.append(Array(try docSample(name).utf8))
        }
        let alphabet = Array(#"{}[]",:0123456789.-eE"\ ntrufalsTUSDb"#.utf8) + [0x00, 0xFF]
        var outcomes = 0
        for source in sources {
            for _ in 0..<60 {
                var bytes = source
                for _ in 0..<(1 + next(3)) {
                    let at = next(bytes.count)
                    switch next(3) {
                    case 0: bytes[at] = alphabet[next(alphabet.count)]
                    case 1: bytes.remove(at: at)
                    default: bytes.insert(alphabet[next(alphabet.count)], at: at)
                    }
                }
                let events = fresh(String(decoding: bytes, as: UTF8.self))
                let errors = events.filter { if case .parseError = $0 { true } else { false } }.count
                #expect(errors == 0 || events.count == 1, "\(events)")
                outcomes += 1
            }
        }
        #expect(outcomes == sources.count * 60)
    }
}
