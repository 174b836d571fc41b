import ExchangeSimulator
import Feeds
import Foundation
import MarketCore
import Testing
import _TestSupport

/// A looping simulator: pass 0 is the capture byte for byte, pass 1 continues it. Every expected
/// number here is computed from the capture itself, not taken from the simulator.
@Suite struct SimulatorLoopTests {
    static let spot = "binance/spot-btcusdt-2024-08-08.jsonl.gz"
    static let usdm = "binance/usdm-multi-2021-07-22.jsonl.gz"
    static let coinbase = "coinbase/exchange-level2-2021-04-17.jsonl.gz"
    static let kraken = "kraken/v1-trade-ticker-book-2021-04-17.jsonl.gz"
    static let okx = "okx/v5-books-trades-2022-05-13.jsonl.gz"
    static let bybit = "bybit/v5-orderbook500-xrpusdt-2024-12-01.jsonl.gz"

    // MARK: Binance

    @Test func binanceSpotPassOneContinuesDiffChainTradeIdsAndTimes() async throws {
        let capture = try LoopCapture(Self.spot, seconds: 3)
        defer { capture.remove() }
        let (pass0, pass1) = try await loopedPasses(.binance, capture.path)
        try checkPassZeroAndShape(capture, pass0, pass1)

        let original = capture.ws.map { binanceData(text($0)) }
        let looped = pass1.map { binanceData($0.text) }
        // The diff chain: pass 1's first diff starts right after pass 0's last.
        let diffs = original.indices.filter { original[$0]["e"] as? String == "depthUpdate" }
        try #require(diffs.count > 5)
        let firstU = int(original[diffs[0]]["U"])
        let lastU = diffs.map { int(original[$0]["u"]) }.max()!
        let shift = lastU + 1 - firstU
        #expect(int(looped[diffs[0]]["U"]) == lastU + 1)
        for i in diffs {
            #expect(int(looped[i]["U"]) == int(original[i]["U"]) + shift)
            #expect(int(looped[i]["u"]) == int(original[i]["u"]) + shift)
        }
        // bookTicker `u` is the same id space: same shift.
        for i in original.indices where original[i]["e"] == nil {
            #expect(int(looped[i]["u"]) == int(original[i]["u"]) + shift)
        }
        // Trade ids continue: pass 1 = pass 0 + (max − min + 1); contiguous ids run on without a gap.
        let trades = original.indices.filter { original[$0]["e"] as? String == "trade" }
        let ids = trades.map { int(original[$0]["t"]) }
        try #require(ids.count > 5)
        let idShift = ids.max()! - ids.min()! + 1
        for i in trades { #expect(int(looped[i]["t"]) == int(original[i]["t"]) + idShift) }
        if ids == Array(ids.min()!...ids.max()!) { #expect(int(looped[trades[0]]["t"]) == ids.max()! + 1) }
        // Times: one constant move for event times, trade times and receive times.
        let moveMs = int(looped[0]["E"]) - int(original[0]["E"])
        for i in original.indices {
            for key in ["E", "T"] where original[i][key] != nil {
                #expect(int(looped[i][key]) == int(original[i][key]) + moveMs)
            }
            #expect(pass1[i].receiveTime.rawValue - pass0[i].receiveTime.rawValue == moveMs * 1_000_000)
        }
        // Everything else is the original text.
        for i in original.indices {
            #expect(masked(pass1[i].text, keys: ["E", "T", "U", "u", "t"]) == masked(text(capture.ws[i]), keys: ["E", "T", "U", "u", "t"]))
        }
        // The gateway's own pipeline, fed pass 0 (with the REST snapshot) then pass 1: no gap.
        let statuses = gatewayStatuses(.binance, capture, pass1)
        #expect(statuses.pass0.contains("synced"))
        #expect(!statuses.pass1.contains("gap"), "\(statuses.pass1)")
        #expect(!statuses.pass1.contains("resync"), "\(statuses.pass1)")
    }

    @Test func binanceLoopOverSocketsAndRESTAnswersThePassNumbers() async throws {
        let capture = try LoopCapture(Self.spot, seconds: 3)
        defer { capture.remove() }
        let original = capture.ws.map { text($0) }
        let diffs = original.map { binanceData($0) }.filter { $0["e"] as? String == "depthUpdate" }
        let capturedU = Set(diffs.map { int($0["u"]) })
        let shift = capturedU.max()! + 1 - int(diffs[0]["U"])
        let tradeIDs = original.map { binanceData($0) }.filter { $0["e"] as? String == "trade" }.map { int($0["t"]) }
        let tradeShift = tradeIDs.max()! - tradeIDs.min()! + 1

        try await withSimulator(speed: 4, [(.binance, capture.path)], loop: true) { sim in
            #expect(sim.loop)
            let probe = Probe(url: sim.wsURL(venue: .binance, path: "stream"))
            probe.send(binanceSubscribe)
            await sim.waitForPass(venue: .binance, 1)
            #expect(await sim.stats(venue: .binance)?.pass == 1)
            // Once pass 1 has applied a diff and a trade, REST answers carry its moved numbers.
            await until(.seconds(10)) {
                let later = await sim.emittedFrames(venue: .binance).filter { $0.pass >= 1 }
                let trade = later.contains { if case .trade = $0.role { true } else { false } }
                return trade && later.contains { $0.role == .bookDelta(symbol: "BTCUSDT") }
            }
            let depth = try await httpGet(sim.restBaseURL(venue: .binance) + "/api/v3/depth?symbol=BTCUSDT&limit=5")
            let lastUpdateID = int(try #require(jsonObject(depth.body))["lastUpdateId"])
            let pass = (lastUpdateID - capturedU.min()!) / shift
            #expect(pass >= 1)
            #expect(capturedU.contains(lastUpdateID - pass * shift), "\(lastUpdateID) is a captured u moved by \(pass) passes")
            // Trade history: the newest trades are pass 1's, ids moved on.
            let history = try await httpGet(sim.restBaseURL(venue: .binance) + "/api/v3/historicalTrades?symbol=BTCUSDT&limit=5")
            let newest = int(try #require(jsonArray(history.body)?.last)["id"])
            #expect(newest > tradeIDs.max()!)
            #expect(Set(tradeIDs).contains(newest - (newest - tradeIDs.min()!) / tradeShift * tradeShift))

            // The client got pass 0 byte for byte, then pass 1 right after it.
            let got = await probe.waitFor(count: original.count + 20)
            try #require(got.count >= original.count + 20)
            #expect(Array(got.prefix(original.count)) == original)
            let pass1 = await sim.emittedFrames(venue: .binance).filter { $0.pass == 1 }.map(\.text)
            #expect(Array(got[original.count..<(original.count + 20)]) == Array(pass1.prefix(20)))
        }
    }

    @Test func binanceFuturesPassOneLinksPuToLastUAndMovesAggTradeIds() async throws {
        let capture = try LoopCapture(Self.usdm, seconds: 12)
        defer { capture.remove() }
        let (pass0, pass1) = try await loopedPasses(.binanceUSDM, capture.path)
        try checkPassZeroAndShape(capture, pass0, pass1)

        let original = capture.ws.map { binanceData(text($0)) }
        let looped = pass1.map { binanceData($0.text) }
        let symbols = Set(original.compactMap { $0["s"] as? String })
        try #require(symbols.count == 4)
        for symbol in symbols {
            let mine = original.indices.filter { original[$0]["s"] as? String == symbol }
            let diffs = mine.filter { original[$0]["e"] as? String == "depthUpdate" }
            let lastU = diffs.map { int(original[$0]["u"]) }.max()!
            // Futures continuity: pass 1's first diff has pu == pass 0's last u.
            #expect(int(looped[diffs[0]]["pu"]) == lastU, "\(symbol)")
            let shift = lastU - int(original[diffs[0]]["pu"])
            for i in diffs {
                for key in ["U", "u", "pu"] { #expect(int(looped[i][key]) == int(original[i][key]) + shift) }
            }
            // aggTrade: `a` is its own id space, `f`/`l` the trade ids (klines' f/L follow them).
            let aggs = mine.filter { original[$0]["e"] as? String == "aggTrade" }
            guard !aggs.isEmpty else { continue }
            let a = aggs.map { int(original[$0]["a"]) }
            let fl = aggs.flatMap { [int(original[$0]["f"]), int(original[$0]["l"])] }
            let aShift = a.max()! - a.min()! + 1
            let tradeShift = fl.max()! - fl.min()! + 1
            for i in aggs {
                #expect(int(looped[i]["a"]) == int(original[i]["a"]) + aShift)
                #expect(int(looped[i]["f"]) == int(original[i]["f"]) + tradeShift)
                #expect(int(looped[i]["l"]) == int(original[i]["l"]) + tradeShift)
            }
            for i in mine where original[i]["e"] as? String == "kline" {
                let k0 = original[i]["k"] as! [String: Any]
                let k1 = looped[i]["k"] as! [String: Any]
                #expect(int(k1["f"]) == int(k0["f"]) + tradeShift)
                #expect(int(k1["L"]) == int(k0["L"]) + tradeShift)
            }
        }
        let keys = ["E", "T", "U", "u", "pu", "a", "f", "l", "t", "L"]
        for i in original.indices { #expect(masked(pass1[i].text, keys: keys) == masked(text(capture.ws[i]), keys: keys)) }
        let statuses = gatewayStatuses(.binanceUSDM, capture, pass1)
        #expect(!statuses.pass1.contains("gap"), "\(statuses.pass1)")
    }

    // MARK: Coinbase

    @Test func coinbasePassOneContinuesTradeIdsAndSequencesAndMovesTimes() async throws {
        let capture = try LoopCapture(Self.coinbase, seconds: 5)
        defer { capture.remove() }
        let (pass0, pass1) = try await loopedPasses(.coinbase, capture.path)
        let original = capture.ws.map { jsonObject(text($0))! }
        // A client that stays subscribed never gets the subscribe answers again: pass 1 has every
        // frame but `subscriptions`, and each product's `last_match` and first `ticker`s (before
        // its first `match`), which describe the trade from before the capture began.
        var traded: Set<String> = []
        let kept = original.indices.filter { i in
            let product = original[i]["product_id"] as? String ?? ""
            switch original[i]["type"] as? String {
            case "subscriptions", "last_match": return false
            case "ticker": return traded.contains(product)
            case "match":
                traded.insert(product)
                return true
            default: return true
            }
        }
        #expect(kept.count < original.count, "the capture has subscribe answers")
        #expect(pass0.map(\.text) == capture.ws.map { text($0) })
        try #require(pass1.count == kept.count)
        #expect(pass0.last!.receiveTime.rawValue < pass1.first!.receiveTime.rawValue)
        let looped = pass1.map { jsonObject($0.text)! }
        let move = pass1[0].receiveTime.rawValue - pass0[kept[0]].receiveTime.rawValue
        #expect(zip(kept, pass1).allSatisfy { pass0[$0].receiveTime.rawValue + move == $1.receiveTime.rawValue })
        var checkedProducts = 0
        for product in Set(original.compactMap { $0["product_id"] as? String }) {
            let mine = kept.indices.filter { original[kept[$0]]["product_id"] as? String == product }
            let withID = mine.filter { original[kept[$0]]["trade_id"] != nil }
            if !withID.isEmpty {
                let ids = withID.map { int(original[kept[$0]]["trade_id"]) }
                let shift = ids.max()! - ids.min()! + 1
                for i in withID { #expect(int(looped[i]["trade_id"]) == int(original[kept[i]]["trade_id"]) + shift) }
                // Pass 1's trades follow pass 0's: ids from its last + 1 (last_match included in pass 0),
                // times after its last trade's.
                let pass0IDs = original.compactMap { $0["product_id"] as? String == product ? $0["trade_id"] : nil }.map { int($0) }
                #expect(withID.map { int(looped[$0]["trade_id"]) }.min() == pass0IDs.max()! + 1, "\(product)")
                let lastTime = original.compactMap { $0["product_id"] as? String == product && $0["trade_id"] != nil ? $0["time"] as? String : nil }
                    .map { nanos(iso: $0) }.max()!
                let firstLooped = withID.compactMap { looped[$0]["time"] as? String }.map { nanos(iso: $0) }.min()!
                #expect(firstLooped > lastTime, "\(product): pass 1's first trade is older than pass 0's last")
                checkedProducts += 1
            }
            let withSequence = mine.filter { original[kept[$0]]["sequence"] != nil }
            if !withSequence.isEmpty {
                let seqs = withSequence.map { int(original[kept[$0]]["sequence"]) }
                let shift = seqs.max()! - seqs.min()! + 1
                for i in withSequence { #expect(int(looped[i]["sequence"]) == int(original[kept[i]]["sequence"]) + shift) }
            }
        }
        #expect(checkedProducts >= 3)
        // ISO times: one constant move, equal to the receive-time move.
        var times = 0
        for (i, k) in kept.enumerated() {
            guard let t0 = original[k]["time"] as? String, let t1 = looped[i]["time"] as? String else { continue }
            #expect(nanos(iso: t1) - nanos(iso: t0) == move, "\(t0) → \(t1)")
            times += 1
        }
        #expect(times > 100)
        let keys = ["time", "trade_id", "sequence"]
        for (i, k) in kept.enumerated() { #expect(masked(pass1[i].text, keys: keys) == masked(text(capture.ws[k]), keys: keys)) }
        // Snapshots carry nothing to move: the captured ones start each pass (a book reset).
        for (i, k) in kept.enumerated() where original[k]["type"] as? String == "snapshot" { #expect(pass1[i].text == text(capture.ws[k])) }
        // The gateway sees neither a gap nor a late trade across the boundary.
        var pipeline = GatewayPipeline(.coinbase)
        for r in capture.records where r.kind == .ws || r.kind == .rest { pipeline.feed(r) }
        let before = pipeline.statuses.count
        for (i, k) in kept.enumerated() {
            pipeline.feed(connection: capture.ws[k].connection, frame: Array(pass1[i].text.utf8), receiveTime: pass1[i].receiveTime)
        }
        let statuses = pipeline.statuses.dropFirst(before).map(\.kind.name)
        #expect(!statuses.contains("gap") && !statuses.contains("late_trade_dropped"), "\(statuses)")
    }

    // MARK: Kraken

    @Test func krakenPassOneMovesTradeAndLevelTimesAndKeepsChecksums() async throws {
        let capture = try LoopCapture(Self.kraken, seconds: 12)
        defer { capture.remove() }
        let (pass0, pass1) = try await loopedPasses(.kraken, capture.path)
        try checkPassZeroAndShape(capture, pass0, pass1)
        let move = pass1[0].receiveTime.rawValue - pass0[0].receiveTime.rawValue
        #expect(move % 1_000_000 == 0)
        var trades = 0
        var levels = 0
        for (i, r) in capture.ws.enumerated() {
            guard let a = json(text(r)) as? [Any], let b = json(pass1[i].text) as? [Any], a.count >= 4, let name = a[a.count - 2] as? String
            else {
                #expect(pass1[i].text == text(r))
                continue
            }
            if name == "trade" {
                for (x, y) in zip(a[1] as! [[Any]], b[1] as! [[Any]]) {
                    #expect(micros(y[2] as! String) - micros(x[2] as! String) == move / 1000)
                    trades += 1
                }
            } else if name.hasPrefix("book") {
                for (p, q) in zip(a[1..<(a.count - 2)], b[1..<(b.count - 2)]) {
                    let p = p as! [String: Any]
                    let q = q as! [String: Any]
                    #expect(p["c"] as? String == q["c"] as? String, "checksums are untouched")
                    for key in ["as", "bs", "a", "b"] {
                        for (x, y) in zip(levelPairs(p[key]), levelPairs(q[key])) {
                            #expect(Array(x.prefix(2)) == Array(y.prefix(2)))
                            #expect(micros(y[2]) - micros(x[2]) == move / 1000)
                            levels += 1
                        }
                    }
                }
            }
            // Apart from the times, the text is the original.
            #expect(maskedKrakenTimes(pass1[i].text) == maskedKrakenTimes(text(r)))
        }
        #expect(trades > 0 && levels > 1000)
        // Each pass starts with the captured snapshots: the gateway's checksums hold across the loop.
        let statuses = gatewayStatuses(.kraken, capture, pass1)
        #expect(statuses.pass0.contains("synced"))
        #expect(!statuses.pass1.contains("checksum_failed"), "\(statuses.pass1)")
        #expect(!statuses.pass1.contains("gap"), "\(statuses.pass1)")
    }

    // MARK: OKX

    @Test func okxPassOneMovesTradeIdsAndTimesAndKeepsChecksums() async throws {
        let capture = try LoopCapture(Self.okx, seconds: 60)
        defer { capture.remove() }
        let (pass0, pass1) = try await loopedPasses(.okx, capture.path)
        try checkPassZeroAndShape(capture, pass0, pass1)
        let move = pass1[0].receiveTime.rawValue - pass0[0].receiveTime.rawValue
        var tradeIDs: [String: [Int64]] = [:]
        for r in capture.ws {
            guard let o = jsonObject(text(r)), (o["arg"] as? [String: Any])?["channel"] as? String == "trades",
                let data = o["data"] as? [[String: Any]]
            else { continue }
            for d in data { tradeIDs[d["instId"] as! String, default: []].append(int(d["tradeId"])) }
        }
        try #require(!tradeIDs.isEmpty)
        for (i, r) in capture.ws.enumerated() {
            guard let a = jsonObject(text(r)), let b = jsonObject(pass1[i].text), let da = a["data"] as? [[String: Any]],
                let db = b["data"] as? [[String: Any]]
            else {
                #expect(pass1[i].text == text(r))
                continue
            }
            for (x, y) in zip(da, db) {
                #expect(int(y["ts"]) - int(x["ts"]) == move / 1_000_000)
                #expect(ModelJSONText.same(x["checksum"], y["checksum"]), "checksums are untouched")
                if let id = x["tradeId"] {
                    let ids = tradeIDs[x["instId"] as! String]!
                    #expect(int(y["tradeId"]) == int(id) + ids.max()! - ids.min()! + 1)
                }
            }
            #expect(masked(pass1[i].text, keys: ["ts", "tradeId"]) == masked(text(r), keys: ["ts", "tradeId"]))
        }
        let statuses = gatewayStatuses(.okx, capture, pass1)
        #expect(statuses.pass0.contains("synced"))
        #expect(!statuses.pass1.contains("checksum_failed"), "\(statuses.pass1)")
        #expect(!statuses.pass1.contains("gap"), "\(statuses.pass1)")
    }

    /// No recording carries `seqId`: frames built to OKX's documentation (`books` with
    /// `prevSeqId`/`seqId`, a snapshot's `prevSeqId` -1).
    @Test func okxPassOneSnapshotContinuesSeqIds() async throws {
        let frames = [
            #"{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"a4d3ae55"}"#,
            #"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":[["8476.98","415","0","13"]],"bids":[["8476.97","256","0","12"]],"ts":"1597026383085","prevSeqId":-1,"seqId":123}]}"#,
            #"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["8476.99","3","0","1"]],"bids":[],"ts":"1597026383185","prevSeqId":123,"seqId":130}]}"#,
            #"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[],"bids":[],"ts":"1597026383285","prevSeqId":130,"seqId":130}]}"#,
            #"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["8476.99","0","0","0"]],"bids":[["8476.96","7","0","2"]],"ts":"1597026383385","prevSeqId":130,"seqId":141}]}"#,
        ]
        let capture = try LoopCapture(venue: .okx, frames: frames, start: 1_597_026_383_100_000_000, step: 100_000_000)
        defer { capture.remove() }
        let (_, pass1) = try await loopedPasses(.okx, capture.path)
        let seq = pass1.map { (jsonObject($0.text)?["data"] as? [[String: Any]])?.first }
        // Pass 0 ended at seqId 141; the snapshot that opens pass 1 continues from there.
        let shift: Int64 = 141 - (123 - 1)
        #expect(int(seq[1]?["seqId"]) == 123 + shift)
        #expect(int(seq[1]?["seqId"]) > 141)
        #expect(int(seq[1]?["prevSeqId"]) == -1, "a snapshot's prevSeqId stays -1")
        for (i, (prev, id)) in [(123, 130), (130, 130), (130, 141)].enumerated() {
            #expect(int(seq[i + 2]?["prevSeqId"]) == Int64(prev) + shift)
            #expect(int(seq[i + 2]?["seqId"]) == Int64(id) + shift)
        }
        #expect(pass1[0].text == frames[0])
        let statuses = gatewayStatuses(.okx, capture, pass1)
        #expect(statuses.pass0.contains("synced"))
        #expect(!statuses.pass1.contains("gap"), "\(statuses.pass1)")
    }

    // MARK: Bybit

    @Test func bybitPassOneSnapshotContinuesUpdateIds() async throws {
        let capture = try LoopCapture(Self.bybit, seconds: 60)
        defer { capture.remove() }
        let (pass0, pass1) = try await loopedPasses(.bybit, capture.path)
        try checkPassZeroAndShape(capture, pass0, pass1)
        let original = capture.ws.map { jsonObject(text($0))! }
        let looped = pass1.map { jsonObject($0.text)! }
        let u = original.map { int(($0["data"] as! [String: Any])["u"]) }
        let seq = original.map { int(($0["data"] as! [String: Any])["seq"]) }
        #expect(original[0]["type"] as? String == "snapshot")
        // The snapshot opening pass 1 has u == pass 0's last u + 1; deltas stay consecutive.
        let lastU = u.max()!
        #expect(int((looped[0]["data"] as! [String: Any])["u"]) == lastU + 1)
        let seqShift = seq.max()! - seq.min()! + 1
        let move = int(looped[0]["ts"]) - int(original[0]["ts"])
        for i in original.indices {
            let d = looped[i]["data"] as! [String: Any]
            #expect(int(d["u"]) == u[i] + lastU + 1 - u[0])
            #expect(int(d["seq"]) == seq[i] + seqShift)
            #expect(int(looped[i]["ts"]) == int(original[i]["ts"]) + move)
            #expect(int(looped[i]["cts"]) == int(original[i]["cts"]) + move)
            #expect(masked(pass1[i].text, keys: ["ts", "cts", "u", "seq"]) == masked(text(capture.ws[i]), keys: ["ts", "cts", "u", "seq"]))
        }
        #expect(move * 1_000_000 == pass1[0].receiveTime.rawValue - pass0[0].receiveTime.rawValue)
        let statuses = gatewayStatuses(.bybit, capture, pass1)
        #expect(statuses.pass0.contains("synced"))
        #expect(!statuses.pass1.contains("gap"), "\(statuses.pass1)")
    }

    /// No recording carries `publicTrade`: frames built to Bybit's documentation, one linear
    /// (UUID ids) and one spot (numeric ids).
    @Test func bybitPassOneRenamesUUIDTradeIdsAndMovesNumericOnes() async throws {
        let frames = [
            #"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,"data":[{"T":1672304486865,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50","L":"PlusTick","i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false}]}"#,
            #"{"topic":"publicTrade.ETHUSDT","type":"snapshot","ts":1672304486900,"data":[{"i":"2290000000061666327","T":1672304486899,"p":"1190.50","v":"0.02","S":"Sell","s":"ETHUSDT","BT":false},{"i":"2290000000061666328","T":1672304486899,"p":"1190.49","v":"0.10","S":"Sell","s":"ETHUSDT","BT":false}]}"#,
            #"{"topic":"publicTrade.ETHUSDT","type":"snapshot","ts":1672304487000,"data":[{"i":"2290000000061666329","T":1672304486999,"p":"1190.51","v":"0.01","S":"Buy","s":"ETHUSDT","BT":false}]}"#,
        ]
        let capture = try LoopCapture(venue: .bybit, frames: frames, start: 1_672_304_486_870_000_000, step: 60_000_000)
        defer { capture.remove() }
        let (_, pass1) = try await loopedPasses(.bybit, capture.path)
        let trades = pass1.map { (jsonObject($0.text)!["data"] as! [[String: Any]]) }
        #expect(trades[0][0]["i"] as? String == "20f43950-d8dd-5b31-9112-a178eb6023af-1")
        #expect(trades[1].map { $0["i"] as? String } == ["2290000000061666330", "2290000000061666331"])
        #expect(trades[2][0]["i"] as? String == "2290000000061666332")
        let move = int(trades[0][0]["T"]) - 1_672_304_486_865
        #expect(move > 0)
        #expect(int(trades[2][0]["T"]) == 1_672_304_486_999 + move)
        #expect(masked(pass1[1].text, keys: ["i", "T", "ts"]) == masked(frames[1], keys: ["i", "T", "ts"]))
    }

    /// A restarted demo: the venue starts with the first pass that begins after the stored data,
    /// and plays it exactly as an uninterrupted loop plays that pass; its REST snapshot, before
    /// the timeline reaches it, carries that pass's update id.
    @Test(.timeLimit(.minutes(1)))
    func continuingAfterStartsWithTheFirstPassThatBeginsLater() async throws {
        let capture = try LoopCapture(Self.spot, seconds: 3)
        defer { capture.remove() }
        let origin = try #require(capture.records.first).receiveTime.rawValue
        // The uninterrupted loop's passes 0–2 (pass 1 is checked against the capture above).
        let uninterrupted = try await withSimulator(speed: .infinity, [(.binance, capture.path)], loop: true) { sim in
            await sim.startTimeline(venue: .binance)
            await sim.waitForPass(venue: .binance, 3)
            return await sim.emittedFrames(venue: .binance)
        }
        let pass2 = uninterrupted.filter { $0.pass == 2 }
        try #require(!pass2.isEmpty)
        let span = (pass2[0].receiveTime.rawValue - capture.ws[0].receiveTime.rawValue) / 2
        #expect(span > capture.ws.last!.receiveTime.rawValue - origin)

        // Where each later time falls: before the capture, pass 0 itself; from its first frame on, the next pass.
        let sim = ExchangeSimulator(speed: .infinity, loop: true)
        #expect(try sim.addVenue(.binance, captures: [capture.path], continuingAfter: UnixNanos(origin - 1)) == 0)
        #expect(try sim.addVenue(.binance, captures: [capture.path], continuingAfter: UnixNanos(origin)) == 1)
        #expect(try sim.addVenue(.binance, captures: [capture.path], continuingAfter: UnixNanos(origin + span - 1)) == 1)
        #expect(try sim.addVenue(.binance, captures: [capture.path], continuingAfter: UnixNanos(origin + span + 1)) == 2)
        #expect(try ExchangeSimulator(loop: false).addVenue(.binance, captures: [capture.path], continuingAfter: UnixNanos(origin + span + 1)) == 0)

        let recordedREST = try #require(capture.records.first { $0.kind == .rest })
        let recordedID = int(try #require(jsonObject(text(recordedREST)))["lastUpdateId"])
        let diffs = capture.ws.map { binanceData(text($0)) }.filter { $0["e"] as? String == "depthUpdate" }
        let chainShift = diffs.map { int($0["u"]) }.max()! + 1 - int(diffs[0]["U"])

        try await withSimulator(
            speed: .infinity, [(.binance, capture.path)], loop: true, continuingAfter: [.binance: UnixNanos(origin + span + 1)]
        ) { sim in
            let depth = try await httpGet(sim.restBaseURL(venue: .binance) + "/api/v3/depth?symbol=BTCUSDT&limit=5")
            #expect(int(try #require(jsonObject(depth.body))["lastUpdateId"]) == recordedID + 2 * chainShift)
            await sim.startTimeline(venue: .binance)
            await sim.waitForPass(venue: .binance, 3)
            let played = await sim.emittedFrames(venue: .binance)
            #expect(played.first?.pass == 2)
            let first = played.filter { $0.pass == 2 }
            #expect(first.map(\.text) == pass2.map(\.text))
            #expect(first.map(\.receiveTime) == pass2.map(\.receiveTime))
        }
    }

    @Test func loopIsOffByDefault() async throws {
        #expect(!ExchangeSimulator().loop)
        let capture = try LoopCapture(Self.bybit, seconds: 60)
        defer { capture.remove() }
        try await withSimulator(speed: .infinity, [(.bybit, capture.path)]) { sim in
            await sim.startTimeline(venue: .bybit)
            await sim.waitUntilFinished(venue: .bybit)
            await sim.waitForPass(venue: .bybit, 1)  // returns: the timeline finished
            let stats = try #require(await sim.stats(venue: .bybit))
            #expect(stats.finished && stats.pass == 0)
            #expect(await sim.emittedFrames(venue: .bybit).count == capture.ws.count)
        }
    }
}

// MARK: Helpers

/// A capture file written for one test (an excerpt of a fixture, or frames built in the test).
struct LoopCapture {
    let path: String
    let records: [CaptureRecord]
    var ws: [CaptureRecord] { records.filter { $0.kind == .ws } }

    init(_ relative: String, seconds: Int64) throws {
        path = NSTemporaryDirectory() + "sim-loop-\(UUID().uuidString).jsonl"
        records = try Fixtures.excerpt(relative, seconds: seconds, to: path)
    }

    init(venue: Venue, frames: [String], start: Int64, step: Int64) throws {
        path = NSTemporaryDirectory() + "sim-loop-\(UUID().uuidString).jsonl"
        records = frames.enumerated().map { i, f in
            CaptureRecord(receiveTime: UnixNanos(start + Int64(i) * step), venue: venue, kind: .ws, connection: "1", frame: Array(f.utf8))
        }
        let writer = try CaptureWriter(path: path)
        for r in records { try writer.write(r) }
        try writer.close()
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Passes 0 and 1 of a looping simulator playing `path` at full speed with nobody connected.
func loopedPasses(_ venue: Venue, _ path: String) async throws -> (pass0: [EmittedFrame], pass1: [EmittedFrame]) {
    try await withSimulator(speed: .infinity, [(venue, path)], loop: true) { sim in
        await sim.startTimeline(venue: venue)
        await sim.waitForPass(venue: venue, 2)
        let emitted = await sim.emittedFrames(venue: venue)
        return (emitted.filter { $0.pass == 0 }, emitted.filter { $0.pass == 1 })
    }
}

/// Pass 0 is the capture byte for byte; pass 1 has as many frames, each later than all of pass 0.
func checkPassZeroAndShape(_ capture: LoopCapture, _ pass0: [EmittedFrame], _ pass1: [EmittedFrame]) throws {
    let original = capture.ws.map { text($0) }
    #expect(pass0.map(\.text) == original)
    #expect(pass0.map(\.receiveTime) == capture.ws.map(\.receiveTime))
    try #require(pass1.count == original.count)
    #expect(pass1.last!.index == 2 * original.count - 1)
    // Receive times strictly increase across the boundary, and by one constant move.
    #expect(pass0.last!.receiveTime.rawValue < pass1.first!.receiveTime.rawValue)
    let move = pass1[0].receiveTime.rawValue - pass0[0].receiveTime.rawValue
    #expect(zip(pass0, pass1).allSatisfy { $1.receiveTime.rawValue - $0.receiveTime.rawValue == move })
    #expect(move > pass0.last!.receiveTime.rawValue - pass0[0].receiveTime.rawValue)
}

/// The gateway's statuses for the capture (pass 0, REST lines included) and then for pass 1's
/// frames (each on the connection its original came on).
func gatewayStatuses(_ venue: Venue, _ capture: LoopCapture, _ pass1: [EmittedFrame]) -> (pass0: [String], pass1: [String]) {
    var pipeline = GatewayPipeline(venue)
    for r in capture.records where r.kind == .ws || r.kind == .rest { pipeline.feed(r) }
    let before = pipeline.statuses.count
    for (r, f) in zip(capture.ws, pass1) {
        pipeline.feed(connection: r.connection, frame: Array(f.text.utf8), receiveTime: f.receiveTime)
    }
    return (pipeline.statuses.prefix(before).map(\.kind.name), pipeline.statuses.dropFirst(before).map(\.kind.name))
}

/// The event of a Binance frame (combined streams wrap it in `data`).
func binanceData(_ text: String) -> [String: Any] {
    let o = jsonObject(text) ?? [:]
    return (o["data"] as? [String: Any]) ?? o
}

/// An integer JSON number or digit string.
func int(_ v: Any?) -> Int64 {
    switch v {
    case let n as NSNumber: n.int64Value
    case let s as String: Int64(s) ?? .min
    default: .min
    }
}

/// `text` with the values of `keys` (numbers or strings) replaced by `#`.
func masked(_ text: String, keys: [String]) -> String {
    let alternatives = keys.map { NSRegularExpression.escapedPattern(for: $0) }.joined(separator: "|")
    let regex = try! NSRegularExpression(pattern: #""(\#(alternatives))":("[^"]*"|-?[0-9]+)"#)
    return regex.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text), withTemplate: "\"$1\":#")
}

/// Kraken's decimal-second times (`"1618678142.592855"`) replaced by `#`.
func maskedKrakenTimes(_ text: String) -> String {
    let regex = try! NSRegularExpression(pattern: #""1[0-9]{9}\.[0-9]+""#)
    return regex.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text), withTemplate: "#")
}

/// `"1618678142.592855"` in microseconds.
func micros(_ s: String) -> Int64 {
    let parts = s.split(separator: ".")
    let fraction = String((parts.count > 1 ? String(parts[1]) : "").padding(toLength: 6, withPad: "0", startingAt: 0))
    return Int64(parts[0])! * 1_000_000 + Int64(fraction)!
}

/// An ISO 8601 UTC time with up to 9 fraction digits, in nanoseconds since the epoch (via Foundation
/// for the date, exact digits for the fraction).
func nanos(iso: String) -> Int64 {
    let parts = iso.dropLast().split(separator: ".")
    let formatter = ISO8601DateFormatter()
    let seconds = Int64(formatter.date(from: String(parts[0]) + "Z")!.timeIntervalSince1970)
    let fraction = parts.count > 1 ? String(parts[1]).padding(toLength: 9, withPad: "0", startingAt: 0) : "0"
    return seconds * 1_000_000_000 + Int64(fraction)!
}

enum ModelJSONText {
    /// Whether two decoded JSON scalars are the same (both absent counts).
    static func same(_ a: Any?, _ b: Any?) -> Bool {
        switch (a, b) {
        case (nil, nil): true
        case (let x as NSNumber, let y as NSNumber): x == y
        case (let x as String, let y as String): x == y
        default: false
        }
    }
}
