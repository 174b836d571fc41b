import Feeds
import Foundation
import MarketCore
import Normalizer
import Testing
import Venues
import _TestSupport

// Whole recorded streams through the FeedPipeline (as `gateway replay` runs them) and through
// adapter + normalizer, with the books checked against an independent rebuild from the raw frames.

/// An order book side rebuilt with Foundation only: `Decimal` price → quantity text.
private struct IndependentBook {
    var bids: [Decimal: String] = [:]
    var asks: [Decimal: String] = [:]
    var lastU: Int64 = 0

    /// Applies one frame's JSON the way Bybit's docs describe: a snapshot replaces the book; in a
    /// delta a size of 0 deletes the level, anything else inserts or updates it.
    mutating func apply(_ j: [String: Any]) {
        let data = j["data"] as! [String: Any]
        if j["type"] as? String == "snapshot" {
            bids = [:]
            asks = [:]
        }
        for (key, side) in [("b", 0), ("a", 1)] {
            for level in data[key] as! [[String]] {
                let price = Decimal(string: level[0])!
                let remove = Decimal(string: level[1])! == 0
                if side == 0 { bids[price] = remove ? nil : level[1] } else { asks[price] = remove ? nil : level[1] }
            }
        }
        lastU = (data["u"] as! NSNumber).int64Value
    }

    /// Best first, as `[price text, quantity text]` with the price in canonical decimal form.
    func levels(_ side: Side) -> [[Decimal]] {
        let book = side == .buy ? bids : asks
        let prices = side == .buy ? book.keys.sorted(by: >) : book.keys.sorted(by: <)
        return prices.map { [$0, Decimal(string: book[$0]!)!] }
    }
}

private func decimals(_ levels: [BookLevel]) -> [[Decimal]] {
    levels.map { [Decimal(string: $0.price.description)!, Decimal(string: $0.quantity.description)!] }
}

/// Writes records back out as a capture file (frames JSON-escaped by Foundation).
private func writeCapture(_ lines: [[String: Any]]) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bybit-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let path = dir.appendingPathComponent("capture.jsonl").path
    let text = try lines.map { String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]), as: UTF8.self) }
    try text.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

private func captureLine(_ r: CaptureRecord) -> [String: Any] {
    var d: [String: Any] = ["recv_ns": r.receiveTime.rawValue, "venue": r.venue.id, "kind": r.kind.rawValue,
                            "frame": String(decoding: r.frame, as: UTF8.self)]
    if let c = r.connection { d["conn"] = c }
    if let u = r.url { d["url"] = u }
    return d
}

private func replay(_ path: String, emit: EmitSet = .defaults) throws -> ([MarketEvent], PipelineStats) {
    var options = PipelineOptions()
    options.emit = emit
    var replayer = FeedPipeline(options: options)
    var events: [MarketEvent] = []
    try replayer.run(paths: [path]) { events.append($0) }
    return (events, replayer.stats)
}

private func statuses(_ events: [MarketEvent]) -> [FeedStatus] {
    events.compactMap { if case .status(let s) = $0 { s } else { nil } }
}

@Suite("Bybit replay")
struct BybitReplayTests {
    /// Default options: no gaps, no parse errors, no resyncs; every instrument synchronizes once and
    /// then only sees snapshots (`synced`/`resynced`); every book is valid at the end and equals the
    /// independent rebuild, level by level.
    @Test(arguments: [(bybitOrderbook1, 359, 347, 10), (bybitOrderbook500, 50, 50, 1)])
    func fullRecordedStreams(_ file: String, _ lines: Int, _ frames: Int, _ instruments: Int) throws {
        let (events, stats) = try replay(Fixtures.path(file))
        #expect(stats.lines == lines && stats.frames == frames)
        #expect(stats.parseErrors == 0 && stats.gaps == 0 && stats.bookGaps == 0 && stats.resyncs == 0)
        #expect(stats.checksumChecks == 0 && stats.checksumFailures == 0)
        let all = statuses(events)
        #expect(all.allSatisfy { $0.kind.name == "synced" || $0.kind.name == "resynced" }, "\(all.filter { $0.kind.name != "resynced" }.prefix(3))")
        let synced = all.filter { $0.kind.name == "synced" }.compactMap(\.instrument?.symbol)
        #expect(Set(synced).count == instruments && synced.count == instruments)

        // The same stream through adapter + normalizer, for the final book state.
        var adapter = BybitAdapter()
        var normalizer = MarketNormalizer(venue: .bybit, tradeIDsAreContiguous: adapter.tradeIDsAreContiguous)
        var rebuilt: [String: IndependentBook] = [:]
        var seen: [String: Instrument] = [:]
        var out: [MarketEvent] = []
        for r in try Fixtures.records(file) {
            for e in bybitFeed(&adapter, r) {
                normalizer.handle(e, receiveTime: r.receiveTime, into: &out)
                if case .book(let u) = e { seen["\(r.connection ?? "-")/\(u.instrument.nativeSymbol)"] = u.instrument }
            }
            let j = bybitJSON(r.frame)
            if r.kind == .ws, let data = j["data"] as? [String: Any], let s = data["s"] as? String {
                rebuilt["\(r.connection ?? "-")/\(s)", default: IndependentBook()].apply(j)
            }
        }
        #expect(rebuilt.count == instruments && Set(seen.keys) == Set(rebuilt.keys))
        for (key, expected) in rebuilt {
            let instrument = try #require(seen[key])
            #expect(instrument.symbol == bybitRecordedSymbols[key])
            let sync = try #require(normalizer.synchronizer(for: instrument))
            #expect(sync.isValid, "\(key)")
            #expect(decimals(sync.book.levels(.buy)) == expected.levels(.buy), "\(key) bids")
            #expect(decimals(sync.book.levels(.sell)) == expected.levels(.sell), "\(key) asks")
        }
        if file == bybitOrderbook500 {
            let book = try #require(rebuilt["-/XRPUSDT"])
            #expect(book.bids.count == 500 && book.asks.count == 500 && book.lastU == 20_254_918)
        }
    }

    /// Dropping one real delta: a `gap` status, a resync request, no book output while invalid; a later
    /// snapshot (built from the independent rebuild of the whole stream) makes it `resynced` and valid.
    @Test func droppedDeltaIsAGapUntilTheNextSnapshot() throws {
        let records = try Fixtures.records(bybitOrderbook500)
        let dropped = 20
        #expect(bybitJSON(records[dropped].frame)["type"] as? String == "delta")
        var full = IndependentBook()
        for r in records { full.apply(bybitJSON(r.frame)) }
        // Bybit re-sends a snapshot after a resubscribe: the book as of the last delta, one second later.
        let lastTime = records.last!.receiveTime.rawValue / 1_000_000 + 1_000
        func side(_ s: Side) -> [[String]] {
            let book = s == .buy ? full.bids : full.asks
            return (s == .buy ? book.keys.sorted(by: >) : book.keys.sorted(by: <)).map { ["\($0)", book[$0]!] }
        }
        let snapshot: [String: Any] = [
            "topic": "orderbook.500.XRPUSDT", "type": "snapshot", "ts": lastTime, "cts": lastTime,
            "data": ["s": "XRPUSDT", "b": side(.buy), "a": side(.sell), "u": full.lastU, "seq": 1] as [String: Any],
        ]
        let snapshotText = String(decoding: try JSONSerialization.data(withJSONObject: snapshot, options: [.sortedKeys]), as: UTF8.self)
        var lines = records.enumerated().filter { $0.offset != dropped }.map { captureLine($0.element) }
        lines.append(["recv_ns": lastTime * 1_000_000, "venue": "bybit", "kind": "ws", "frame": snapshotText])

        let (events, stats) = try replay(try writeCapture(lines), emit: [.books, .status])
        let book = statuses(events).filter { $0.instrument?.symbol == "XRP-USDT-PERP" }
        #expect(book.map(\.kind.name) == ["synced", "gap", "resync", "resynced"])
        // The last applied delta and the one after the hole.
        #expect(book.count > 1 && book[1].detail.contains("20254888") && book[1].detail.contains("20254890"), "\(book)")
        #expect(stats.gaps == 1 && stats.bookGaps == 1 && stats.resyncs == 1 && stats.parseErrors == 0)
        // No snapshot of the book is published between the gap and the resync.
        let gapAt = try #require(events.firstIndex { if case .status(let s) = $0 { s.kind.name == "gap" } else { false } })
        let resyncedAt = try #require(events.firstIndex { if case .status(let s) = $0 { s.kind.name == "resynced" } else { false } })
        #expect(!events[gapAt..<resyncedAt].contains { if case .bookSnapshot = $0 { true } else { false } })
        #expect(events[..<gapAt].contains { if case .bookSnapshot = $0 { true } else { false } })

        // Validity step by step, through adapter + normalizer.
        var adapter = BybitAdapter()
        var normalizer = MarketNormalizer(venue: .bybit, tradeIDsAreContiguous: false)
        var out: [MarketEvent] = []
        var validity: [Bool] = []
        var instrument: Instrument? = nil
        for (i, r) in records.enumerated() where i != dropped {
            for e in bybitFeed(&adapter, r) {
                if case .book(let u) = e { instrument = u.instrument }
                normalizer.handle(e, receiveTime: r.receiveTime, into: &out)
            }
            validity.append(normalizer.synchronizer(for: instrument!)!.isValid)
        }
        #expect(validity == Array(repeating: true, count: dropped) + Array(repeating: false, count: records.count - dropped - 1))
        for e in bybitFeed(&adapter, snapshotText, recv: lastTime * 1_000_000) {
            normalizer.handle(e, receiveTime: UnixNanos(lastTime * 1_000_000), into: &out)
        }
        let sync = try #require(normalizer.synchronizer(for: instrument!))
        #expect(sync.isValid)
        #expect(decimals(sync.book.levels(.buy)) == full.levels(.buy) && decimals(sync.book.levels(.sell)) == full.levels(.sell))
    }

    /// A service-restart snapshot (`u` = 1, "please overwrite the locally saved orderbook") replaces the
    /// book and restarts the sequence; the next delta is `u` = 2. A repeated level-1 snapshot with the
    /// same `u` (sent when nothing changed for 3 s) is not a gap.
    @Test func restartSnapshotAndRepeatedLevelOneSnapshots() throws {
        var adapter = BybitAdapter()
        var sync: BookSynchronizer? = nil
        var outcomes: [BookSyncOutcome] = []
        func feed(_ text: String) {
            for case .book(let u) in bybitFeed(&adapter, text) {
                if sync == nil { sync = BookSynchronizer(instrument: u.instrument) }
                sync!.handle(u, into: &outcomes)
            }
        }
        func frame(_ type: String, _ u: Int, _ bid: String) -> String {
            #"{"topic":"orderbook.50.BTCUSDT","type":"\#(type)","ts":1,"data":{"s":"BTCUSDT","b":[["\#(bid)","1"]],"a":[["200","1"]],"u":\#(u),"seq":9},"cts":1}"#
        }
        feed(frame("snapshot", 500, "100"))
        feed(frame("delta", 501, "101"))
        feed(frame("snapshot", 1, "150"))  // restart
        #expect(sync!.isValid && sync!.book.levels(.buy).map(\.price.description) == ["150"])
        feed(frame("delta", 2, "151"))
        #expect(sync!.isValid && sync!.book.levels(.buy).map(\.price.description) == ["151", "150"])
        feed(frame("snapshot", 2, "151"))  // level-1 style resend with the same u
        feed(frame("delta", 3, "152"))
        #expect(sync!.isValid && !outcomes.contains { if case .gap = $0 { true } else { false } })
        feed(frame("delta", 5, "153"))  // u 4 missing
        #expect(!sync!.isValid && outcomes.contains { if case .gap = $0 { true } else { false } })
    }
}
