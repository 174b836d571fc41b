import Feeds
import Foundation
import MarketCore
import Normalizer
import Testing
import _TestSupport

/// The normalizer's half of backfill, on the real BTCUSDT capture: cut 30 s of frames out (the
/// connection was down), mark the outage with `close`/`open` records, and hand the missed trades
/// back as the REST `historicalTrades` answer a live feed would fetch. The candles must end up
/// equal to an uninterrupted replay's, `complete` included.
@Suite("Backfill through the normalizer")
struct BackfillReplayTests {
    static let capture = "binance/spot-btcusdt-2024-08-08.jsonl.gz"

    struct Bucket: Hashable, CustomStringConvertible {
        var key: String
        var open, high, low, close: FixedDecimal
        var volume, quoteVolume, takerBuy: WideDecimal
        var trades: Int64
        var complete: Bool
        var description: String { "\(key) o=\(open) h=\(high) l=\(low) c=\(close) v=\(volume) n=\(trades) complete=\(complete)" }
    }

    /// Per (interval, symbol, start) the last revision's fields, revision itself left out.
    static func finalCandles(_ records: [CaptureRecord], collect: Bool = false) -> (buckets: [String: Bucket], requests: [FeedRequest], revised: Int) {
        var options = PipelineOptions()
        options.emit = [.candles]
        options.normalizer.collectRequests = collect
        var replayer = FeedPipeline(options: options)
        var out: [String: Bucket] = [:]
        var requests: [FeedRequest] = []
        var revised = 0
        let sink: (MarketEvent) -> Void = { e in
            guard case .candle(let c) = e, c.closed else { return }
            if c.revision > 0 { revised += 1 }
            let key = "\(c.interval.name) \(c.instrument.symbol) \(c.start.rawValue)"
            out[key] = Bucket(
                key: key, open: c.open, high: c.high, low: c.low, close: c.close, volume: c.volume,
                quoteVolume: c.quoteVolume, takerBuy: c.takerBuyVolume, trades: c.trades, complete: c.complete)
        }
        for r in records {
            replayer.process(r, sink: sink)
            requests += replayer.takeRequests().map(\.1)
        }
        replayer.finish(sink: sink)
        return (out, requests, revised)
    }

    /// A `historicalTrades` body for trade frames, written with JSONSerialization from the frames'
    /// own fields (the adapter's parser is not involved in making it).
    static func historicalTradesBody(_ frames: [[UInt8]]) throws -> [UInt8] {
        var rows: [[String: Any]] = []
        for f in frames {
            let outer = try JSONSerialization.jsonObject(with: Data(f)) as! [String: Any]
            let d = outer["data"] as! [String: Any]
            rows.append([
                "id": d["t"]!, "price": d["p"]!, "qty": d["q"]!, "quoteQty": "0", "time": d["T"]!,
                "isBuyerMaker": d["m"]!, "isBestMatch": true,
            ])
        }
        return Array(try JSONSerialization.data(withJSONObject: rows))
    }

    static func isTrade(_ r: CaptureRecord) -> Bool {
        r.kind == .ws && String(decoding: r.frame.prefix(40), as: UTF8.self).contains("@trade")
    }

    @Test func backfilledOutageGivesTheUninterruptedCandles() throws {
        let records = try Fixtures.records(Self.capture)
        let t0 = records.first!.receiveTime.rawValue
        // 30 s across the first minute boundary after 3 min in, so closed buckets get amended.
        let minute: Int64 = 60_000_000_000
        let outageStart = ((t0 + 180_000_000_000) / minute + 1) * minute - 10_000_000_000
        let outageEnd = outageStart + 30_000_000_000
        var cut: [CaptureRecord] = []
        var missed: [[UInt8]] = []
        var inserted = false
        for r in records {
            let t = r.receiveTime.rawValue
            if t >= outageStart && t < outageEnd {
                if cut.last?.kind != .close {
                    cut.append(CaptureRecord(receiveTime: UnixNanos(outageStart), venue: .binance, kind: .close, connection: "1", url: nil, frame: Array("test outage".utf8), line: 0))
                }
                if Self.isTrade(r) { missed.append(r.frame) }
                continue
            }
            if t >= outageEnd, cut.last?.kind == .close {
                cut.append(CaptureRecord(receiveTime: UnixNanos(outageEnd), venue: .binance, kind: .open, connection: "2", url: "wss://stream.binance.com:9443/ws", frame: [], line: 0))
            }
            cut.append(r)
            if !inserted, t >= outageEnd, Self.isTrade(r) {
                // The live feed's answer to the trade-id gap this trade reveals.
                inserted = true
                var at = 0
                while at < missed.count {
                    let page = Array(missed[at..<min(at + 1000, missed.count)])
                    let firstID = try (JSONSerialization.jsonObject(with: Data(page[0])) as! [String: Any])["data"].map { ($0 as! [String: Any])["t"] as! Int64 }!
                    cut.append(CaptureRecord(
                        receiveTime: UnixNanos(t + 1), venue: .binance, kind: .rest, connection: nil,
                        url: "https://api.binance.com/api/v3/historicalTrades?symbol=BTCUSDT&fromId=\(firstID)&limit=1000",
                        frame: try Self.historicalTradesBody(page), line: 0))
                    at += 1000
                }
            }
        }
        #expect(missed.count > 100, "the outage must miss real trades (\(missed.count))")

        let whole = Self.finalCandles(records)
        let repaired = Self.finalCandles(cut, collect: true)
        // The feed asked for exactly the missed ids.
        let firstMissed = try (JSONSerialization.jsonObject(with: Data(missed.first!)) as! [String: Any])["data"].map { ($0 as! [String: Any])["t"] as! Int64 }!
        let lastMissed = try (JSONSerialization.jsonObject(with: Data(missed.last!)) as! [String: Any])["data"].map { ($0 as! [String: Any])["t"] as! Int64 }!
        let backfills = repaired.requests.compactMap { r -> (Int64, Int64)? in
            if case .tradeBackfill(_, let a, let b, _) = r { (a, b) } else { nil }
        }
        #expect(backfills.count == 1)
        #expect(backfills.first.map { $0 == (firstMissed, lastMissed) } == true)
        #expect(repaired.revised > 0, "backfilled buckets are re-emitted as revisions")
        #expect(whole.buckets.count == repaired.buckets.count)
        for (key, bucket) in whole.buckets {
            #expect(repaired.buckets[key] == bucket, "\(key)")
        }
    }

    @Test func withoutBackfillTheOutageBucketsStayIncomplete() throws {
        let records = try Fixtures.records(Self.capture)
        let t0 = records.first!.receiveTime.rawValue
        let outageStart = t0 + 190_000_000_000
        let outageEnd = outageStart + 30_000_000_000
        var cut: [CaptureRecord] = []
        for r in records {
            let t = r.receiveTime.rawValue
            if t >= outageStart && t < outageEnd {
                if cut.last?.kind != .close {
                    cut.append(CaptureRecord(receiveTime: UnixNanos(outageStart), venue: .binance, kind: .close, connection: "1", url: nil, frame: [], line: 0))
                }
                continue
            }
            cut.append(r)
        }
        let whole = Self.finalCandles(records).buckets
        let broken = Self.finalCandles(cut).buckets
        let differing = whole.keys.filter { whole[$0] != broken[$0] }
        #expect(!differing.isEmpty)
        // Every bucket that differs from the truth says so.
        for key in differing { #expect(broken[key]?.complete == false, "\(key) differs but claims to be complete") }
    }
}
