import ExchangeSimulator
import Feeds
import Foundation
import MarketCore
import Normalizer
import Testing
import Venues
import _TestSupport

// The simulator's OKX model against the two recorded v5 streams, cross-checked with the gateway's own
// adapter and normalizer and with plain substring counts.

/// The values of `"key":"…"` in a frame, by plain text search.
private func quotedValues(_ key: String, in frame: String) -> [String] {
    var out: [String] = []
    var rest = Substring(frame)
    while let r = rest.range(of: "\"\(key)\":\"") {
        let value = rest[r.upperBound...].prefix { $0 != "\"" }
        out.append(String(value))
        rest = rest[r.upperBound...]
    }
    return out
}

@Suite("OKX model")
struct OKXModelTests {
    static let fixtures = ["okx/v5-books-l2-tbt-2021-07-22.jsonl.gz", "okx/v5-books-trades-2022-05-13.jsonl.gz"]

    /// Roles match substring counts: `"action":"snapshot"` / `"action":"update"` frames are book
    /// snapshots / deltas of the arg's instId, `"channel":"trades"` pushes are trades whose ids are
    /// the `tradeId` texts, everything else (acks, tickers) is other.
    @Test(arguments: fixtures)
    func classificationMatchesSubstringCounts(fixture: String) throws {
        let frames = try Fixtures.records(fixture).filter { $0.kind == .ws }.map(text)
        var model = OKXModel()
        let roles = frames.map { model.observe(frame: $0) }

        let instID = { (f: String) in quotedValues("instId", in: f)[0] }
        let expectedSnapshots = frames.filter { $0.contains("\"action\":\"snapshot\"") }
        let expectedDeltas = frames.filter { $0.contains("\"action\":\"update\"") }
        let expectedTrades = frames.filter { $0.contains("{\"channel\":\"trades\"") && $0.contains("\"data\":") }
        let snapshots = roles.compactMap { if case .bookSnapshot(let s) = $0 { s } else { nil } }
        let deltas = roles.compactMap { if case .bookDelta(let s) = $0 { s } else { nil } }
        let trades = roles.compactMap { if case .trade(let s, let ids) = $0 { (s, ids) } else { nil } }

        #expect(!expectedSnapshots.isEmpty && expectedDeltas.count > 200 && !expectedTrades.isEmpty)
        #expect(snapshots == expectedSnapshots.map(instID))
        #expect(deltas == expectedDeltas.map(instID))
        #expect(trades.map(\.0) == expectedTrades.map(instID))
        #expect(trades.flatMap(\.1) == expectedTrades.flatMap { quotedValues("tradeId", in: $0).map { Int64($0)! } })
        #expect(roles.count { $0 == .other } == frames.count - snapshots.count - deltas.count - trades.count)
    }

    /// Right after the venue's own snapshot, the model writes that frame back byte for byte: its
    /// levels (with the deprecated "0" and the order counts) in order and a checksum computed here
    /// equal to OKX's.
    @Test(arguments: fixtures)
    func snapshotAfterVenueSnapshotReproducesItExactly(fixture: String) throws {
        let snapshots = try Fixtures.records(fixture).map(text).filter { $0.contains("\"action\":\"snapshot\"") }
        #expect(!snapshots.isEmpty)
        for frame in snapshots {
            var model = OKXModel()
            _ = model.observe(frame: frame)
            #expect(model.snapshotFrames() == [frame])
        }
    }

    /// Mid-stream: the gateway reading the model's snapshots (checksum verified on the snapshot
    /// itself) holds the book it built from the original frames, and every later original update
    /// passes its checksum against it.
    @Test(arguments: fixtures)
    func midStreamSnapshotEqualsGatewayBookAndLaterChecksumsPass(fixture: String) throws {
        let records = try Fixtures.records(fixture)
        let k = records.count / 2
        var model = OKXModel()
        var reference = GatewayPipeline(.okx)
        for r in records[..<k] {
            if r.kind == .ws { _ = model.observe(frame: text(r)) }
            reference.feed(r)
        }
        let frames = model.snapshotFrames()
        let expectedBooks = Set(records[..<k].map(text).filter { $0.contains("\"action\":\"snapshot\"") }.map { quotedValues("instId", in: $0)[0] })
        #expect(frames.count == expectedBooks.count)

        var synthesized = GatewayPipeline(.okx)
        var instruments: [Instrument] = []
        for f in frames {
            let events = synthesized.feed(connection: "1", frame: Array(f.utf8), receiveTime: records[k - 1].receiveTime)
            guard events.count == 1, case .book(let u) = events[0], u.isSnapshot, u.checksum != nil else {
                Issue.record("not one checksummed snapshot: \(events) for \(f.prefix(120))")
                continue
            }
            instruments.append(u.instrument)
        }
        #expect(Set(instruments.map(\.nativeSymbol)) == expectedBooks)
        // One checksum per snapshot, all passed.
        #expect(synthesized.normalizer.counters.checksumChecks == frames.count)
        #expect(synthesized.normalizer.counters.checksumFailures == 0)
        for instrument in instruments {
            let ref = try #require(reference.book(instrument))
            let syn = try #require(synthesized.book(instrument))
            #expect(synthesized.normalizer.synchronizer(for: instrument)?.isValid == true)
            #expect(!syn.bids.isEmpty || !syn.asks.isEmpty)
            #expect(syn.bids == ref.bids, "\(instrument)")
            #expect(syn.asks == ref.asks, "\(instrument)")
        }

        let checksBefore = synthesized.normalizer.counters.checksumChecks
        let remainingUpdates = records[k...].count { $0.kind == .ws && text($0).contains("\"action\":\"update\"") }
        #expect(remainingUpdates > 100)
        for r in records[k...] {
            synthesized.feed(r)
            reference.feed(r)
        }
        let counters = synthesized.normalizer.counters
        #expect(counters.checksumChecks - checksBefore == remainingUpdates)
        #expect(counters.checksumFailures == 0 && counters.bookGaps == 0 && counters.resyncs == 0)
        #expect(!synthesized.statuses.contains { $0.kind.name == "checksum_failed" || $0.kind.name == "parse_error" || $0.kind.name == "gap" })
        for instrument in instruments {
            let ref = try #require(reference.book(instrument))
            let syn = try #require(synthesized.book(instrument))
            #expect(syn.bids == ref.bids && syn.asks == ref.asks, "\(instrument)")
        }
    }

    /// A corrupted update differs from the original only in the checksum number (same length) and
    /// makes the gateway report `checksum_failed` for that instrument.
    @Test(arguments: fixtures)
    func corruptedChecksumFailsInTheGateway(fixture: String) throws {
        let records = try Fixtures.records(fixture)
        let model = OKXModel()
        let j = try #require(records.indices.first { $0 > records.count / 3 && text(records[$0]).contains("\"action\":\"update\"") })
        let original = text(records[j])
        let corrupted = try #require(model.corruptingChecksum(original))
        #expect(corrupted.utf8.count == original.utf8.count && corrupted != original)

        // Decoded by Foundation, the two frames are equal once the checksum is taken out, and the
        // checksums differ.
        func split(_ frame: String) throws -> (NSDictionary, Int) {
            var object = try #require(json(frame) as? [String: Any])
            var data = try #require(object["data"] as? [[String: Any]])
            let checksum = try #require(data[0]["checksum"] as? Int)
            data[0]["checksum"] = nil
            object["data"] = data
            return (NSDictionary(dictionary: object), checksum)
        }
        let (a, ca) = try split(original)
        let (b, cb) = try split(corrupted)
        #expect(a.isEqual(b) && ca != cb && cb != 0 && Int32(exactly: cb) != nil)

        var pipeline = GatewayPipeline(.okx)
        for r in records[..<j] { pipeline.feed(r) }
        #expect(!pipeline.statuses.contains { $0.kind.name == "checksum_failed" })
        pipeline.feed(connection: records[j].connection, frame: Array(corrupted.utf8), receiveTime: records[j].receiveTime)
        let failed = pipeline.statuses.filter { $0.kind.name == "checksum_failed" }
        #expect(failed.count == 1)
        #expect(failed.first?.instrument?.nativeSymbol == quotedValues("instId", in: original)[0])

        // Nothing to corrupt in trades, tickers, acks, or a deprecated zero checksum.
        for f in records.map(text) where !f.contains("\"checksum\"") { #expect(model.corruptingChecksum(f) == nil) }
        let zero = original.replacingOccurrences(of: "\"checksum\":\(ca)", with: "\"checksum\":0")
        #expect(zero != original && model.corruptingChecksum(zero) == nil)
    }

    /// `seqId`/`prevSeqId` (frames built to the documented example ids, OKX's "Sequence ID" section):
    /// the snapshot carries the last `seqId` with `prevSeqId` -1, so the gateway takes the next
    /// original update (`prevSeqId` = that `seqId`) without a gap. Checksum `0` (deprecated) stays `0`.
    @Test func sequenceIDsCarryIntoTheSnapshot() throws {
        func frame(_ action: String, asks: String, bids: String, prev: Int, seq: Int) -> String {
            #"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"\#(action)","data":[{"asks":\#(asks),"bids":\#(bids),"ts":"1597026383085","checksum":0,"prevSeqId":\#(prev),"seqId":\#(seq)}]}"#
        }
        var model = OKXModel()
        let snapshot = frame("snapshot", asks: #"[["8476.98","415","0","13"],["8477","7","0","2"]]"#, bids: #"[["8476.97","256","0","12"]]"#, prev: -1, seq: 10)
        let update1 = frame("update", asks: #"[["8477","0","0","0"]]"#, bids: #"[["8476.5","3","0","1"]]"#, prev: 10, seq: 15)
        let keepAlive = frame("update", asks: "[]", bids: "[]", prev: 15, seq: 15)
        let update2 = frame("update", asks: "[]", bids: #"[["8476.97","0","0","0"]]"#, prev: 15, seq: 16)
        #expect(model.observe(frame: snapshot) == .bookSnapshot(symbol: "BTC-USDT"))
        #expect(model.observe(frame: update1) == .bookDelta(symbol: "BTC-USDT"))
        #expect(model.observe(frame: keepAlive) == .bookDelta(symbol: "BTC-USDT"))
        let written = try #require(model.snapshotFrames().first)
        #expect(
            written
                == #"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":[["8476.98","415","0","13"]],"bids":[["8476.97","256","0","12"],["8476.5","3","0","1"]],"ts":"1597026383085","checksum":0,"prevSeqId":-1,"seqId":15}]}"#)
        #expect(model.corruptingChecksum(written) == nil)

        var pipeline = GatewayPipeline(.okx)
        _ = pipeline.feed(written)
        _ = pipeline.feed(update2)
        #expect(pipeline.statuses.map(\.kind.name) == ["synced"])
        let instrument = try #require(OKXSymbols.instrument(native: "BTC-USDT"))
        let book = try #require(pipeline.book(instrument))
        #expect(book.bids == [["8476.5", "3"]] && book.asks == [["8476.98", "415"]])
    }

    /// The checksum algorithm on OKX's two documented check strings (zlib CRC-32 as signed 32-bit).
    @Test func documentedChecksumExamples() throws {
        var model = OKXModel()
        let first = #"{"arg":{"channel":"books","instId":"X-Y"},"action":"snapshot","data":[{"asks":[["3366.8","9","10","3"],["3368","8","3","4"]],"bids":[["3366.1","7","0","3"],["3366","6","3","4"]],"ts":"1","checksum":1}]}"#
        _ = model.observe(frame: first)
        #expect(try checksum(of: model.snapshotFrames()[0]) == -1_881_014_294)
        var model2 = OKXModel()
        let second = #"{"arg":{"channel":"books","instId":"X-Y"},"action":"snapshot","data":[{"asks":[["3366.8","9","10","3"],["3368","8","3","4"],["3372","8","3","4"]],"bids":[["3366.1","7","0","3"]],"ts":"1","checksum":1}]}"#
        _ = model2.observe(frame: second)
        #expect(try checksum(of: model2.snapshotFrames()[0]) == 831_078_360)
    }

    private func checksum(of frame: String) throws -> Int {
        let object = try #require(json(frame) as? [String: Any])
        let data = try #require(object["data"] as? [[String: Any]])
        return try #require(data[0]["checksum"] as? Int)
    }

    /// `books5` pushes are whole books: the snapshot frame is the last push itself.
    @Test func books5SnapshotIsTheLastPush() {
        var model = OKXModel()
        let push = #"{"arg":{"channel":"books5","instId":"BCH-USDT-SWAP"},"data":[{"asks":[["111.06","55154","0","2"]],"bids":[["111.05","57745","0","2"]],"instId":"BCH-USDT-SWAP","ts":"1670324386802","seqId":363996337}]}"#
        #expect(model.observe(frame: push) == .bookSnapshot(symbol: "BCH-USDT-SWAP"))
        #expect(model.snapshotFrames() == [push])
        #expect(model.corruptingChecksum(push) == nil)
    }

    /// `history-trades` pages backwards from `after` (newest first), `trades` gives the latest; both
    /// from the trades observed, checked against the `tradeId`s found by text search.
    @Test func restTradeHistory() throws {
        let frames = try Fixtures.records(Self.fixtures[1]).filter { $0.kind == .ws }.map(text)
        var model = OKXModel()
        for f in frames { _ = model.observe(frame: f) }
        let tradeFrames = frames.filter { $0.contains("{\"channel\":\"trades\"") && $0.contains("\"data\":") }
        var ids: [String: [Int64]] = [:]
        for f in tradeFrames {
            let inst = quotedValues("instId", in: f)[0]
            ids[inst, default: []] += quotedValues("tradeId", in: f).map { Int64($0)! }
        }
        let (inst, all) = try #require(ids.max { $0.value.count < $1.value.count })
        #expect(all.count > 10)
        func page(_ query: [String: String], path: String = "/api/v5/market/history-trades") throws -> [Int64] {
            let body = try #require(model.rest(path: path, query: query))
            let object = try #require(json(body) as? [String: Any])
            #expect(object["code"] as? String == "0")
            let data = try #require(object["data"] as? [[String: Any]])
            #expect(data.allSatisfy { $0["instId"] as? String == inst && $0["px"] is String && $0["sz"] is String })
            return data.map { Int64($0["tradeId"] as! String)! }
        }
        let after = all[all.count / 2]
        #expect(try page(["instId": inst, "type": "1", "after": "\(after)", "limit": "5"]) == Array(all.filter { $0 < after }.suffix(5).reversed()))
        #expect(try page(["instId": inst, "after": "\(after)"]) == Array(all.filter { $0 < after }.reversed()))
        #expect(try page(["instId": inst, "before": "\(after)", "limit": "3"]) == Array(all.filter { $0 > after }.prefix(3).reversed()))
        #expect(try page(["instId": inst, "limit": "4"], path: "/api/v5/market/trades") == Array(all.suffix(4).reversed()))
        #expect(try page(["instId": "NOPE-USDT"]).isEmpty)

        let missing = try #require(json(model.rest(path: "/api/v5/market/history-trades", query: [:])) as? [String: Any])
        #expect(missing["code"] as? String == "50014")
        let badLimit = try #require(json(model.rest(path: "/api/v5/market/history-trades", query: ["instId": inst, "limit": "101"])) as? [String: Any])
        #expect(badLimit["code"] as? String == "51000")
        #expect(model.rest(path: "/api/v5/market/nothing", query: [:]) == nil)

        // The current book over REST: the best `sz` levels of the books channel.
        let bookInst = try #require(frames.first { $0.contains("\"action\":\"snapshot\"") }.map { quotedValues("instId", in: $0)[0] })
        let body = try #require(model.rest(path: "/api/v5/market/books", query: ["instId": bookInst, "sz": "3"]))
        let data = try #require((json(body) as? [String: Any])?["data"] as? [[String: Any]])
        let asks = try #require(data.first?["asks"] as? [[String]])
        let bids = try #require(data.first?["bids"] as? [[String]])
        #expect(asks.count == 3 && bids.count == 3)
        #expect(Decimal(string: asks[0][0])! < Decimal(string: asks[1][0])! && Decimal(string: bids[0][0])! > Decimal(string: bids[1][0])!)
        #expect(Decimal(string: bids[0][0])! < Decimal(string: asks[0][0])!)
    }

    @Test func clientRequests() throws {
        let model = OKXModel()
        let subscribe = #"{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"},{"channel":"trades","instId":"BTC-USDT"}]}"#
        #expect(model.classify(clientText: subscribe) == .subscribe([StreamTopic(.book, "BTC-USDT"), StreamTopic(.trades, "BTC-USDT")]))
        #expect(model.classify(clientText: "ping") == .ping(reply: "pong"))
        #expect(model.classify(clientText: "ping\n") == .ping(reply: "pong"))
        #expect(
            model.classify(clientText: #"{"op":"unsubscribe","args":[{"channel":"books-l2-tbt","instId":"FUN-BTC"},{"channel":"tickers","instId":"FUN-BTC"}]}"#)
                == .unsubscribe([StreamTopic(.book, "FUN-BTC")]))
        #expect(model.classify(clientText: #"{"op":"login","args":[]}"#) == .other)
        #expect(model.classify(clientText: "pong") == .other)

        let refusal = model.subscriptionError(for: subscribe)
        let object = try #require(json(refusal) as? [String: Any])
        #expect(object["event"] as? String == "error" && object["code"] as? String == "60018")
        #expect((object["msg"] as? String)?.contains("channel:books,instId:BTC-USDT") == true)
        #expect(json(model.subscriptionError(for: "ping")) is [String: Any])
        let withID = try #require(json(model.subscriptionError(for: #"{"id":"1512","op":"subscribe","args":[]}"#)) as? [String: Any])
        #expect(withID["id"] as? String == "1512")

        // The gateway reads the refusal as a venue error.
        var pipeline = GatewayPipeline(.okx)
        _ = pipeline.feed(refusal)
        #expect(pipeline.statuses.map(\.kind.name) == ["venue_error"])
    }
}
