import Feeds
import Foundation
import MarketCore
import Normalizer
import Testing
import Venues
import _TestSupport

// Kraken's book checksum: the documented worked example, the whole recorded stream through replay
// (every update carrying "c" verified, none failing), and a corrupted real update.

/// One frame through adapter and normalizer.
private struct Pipeline {
    var adapter = KrakenAdapter()
    var normalizer: MarketNormalizer
    var venueEvents: [VenueEvent] = []

    init() { normalizer = MarketNormalizer(venue: .kraken, tradeIDsAreContiguous: KrakenAdapter().tradeIDsAreContiguous) }

    mutating func feed(_ r: CaptureRecord, frame: [UInt8]? = nil) -> [MarketEvent] {
        venueEvents.removeAll()
        (frame ?? r.frame).withUnsafeBytes {
            adapter.handle(kind: r.kind, url: r.url, connection: r.connection, frame: $0, receiveTime: r.receiveTime, into: &venueEvents)
        }
        var out: [MarketEvent] = []
        for e in venueEvents { normalizer.handle(e, receiveTime: r.receiveTime, into: &out) }
        return out
    }
}

private func statusEvents(_ events: [MarketEvent]) -> [FeedStatus] {
    events.compactMap { if case .status(let s) = $0 { s } else { nil } }
}

private func snapshots(_ events: [MarketEvent], of instrument: Instrument) -> Int {
    events.count { if case .bookSnapshot(let s) = $0 { s.instrument == instrument } else { false } }
}

@Suite("Kraken book checksum")
struct KrakenBookChecksumTests {
    /// The concatenated string of the v1 guide's worked example, as documented.
    static let documentedV1Text =
        "50055005010500501550050205005025500503050050355005040500504550050505005000500499550049905004980500497550049705004965500496050049555004950500"

    @Test func v1DocumentationExample() throws {
        let j = try #require(KrakenTest.json(try KrakenTest.docSample("v1-book-checksum-example.json")) as? [String: [[String]]])
        let asks = KrakenTest.levels(try #require(j["as"]).map { [$0[0], $0[1]] })
        let bids = KrakenTest.levels(try #require(j["bs"]).map { [$0[0], $0[1]] })
        // The documented string, and its CRC32 computed on its own, independently of level formatting.
        #expect(CRC32.checksum(Array(Self.documentedV1Text.utf8)) == 974_947_235)
        #expect(String(decoding: KrakenChecksum.v1.text(bids: bids, asks: asks), as: UTF8.self) == Self.documentedV1Text)
        #expect(KrakenChecksum.v1.checksum(bids: bids, asks: asks) == 974_947_235)
        // Only the top 10 of each side count.
        let deeper = asks + KrakenTest.levels([["0.06000", "1.00000000"]])
        #expect(KrakenChecksum.v1.checksum(bids: bids, asks: deeper) == 974_947_235)
    }

    /// The guide's example book as a v1 snapshot, then the guide's example update (two objects,
    /// `"c": "974947235"`): its levels fall outside the top 10, so the checksum still holds.
    @Test func v1DocumentationFramesThroughAdapterAndSynchronizer() throws {
        let book = String(decoding: try KrakenTest.docSample("v1-book-checksum-example.json"), as: UTF8.self)
        var adapter = KrakenAdapter()
        let snapshot = try #require(KrakenTest.books(KrakenTest.run(&adapter, #"[0,\#(book),"book-1000","BTC/USD"]"#)).first)
        let update = try #require(KrakenTest.books(KrakenTest.run(&adapter, try KrakenTest.docSample("v1-book-update-example.json"))).first)
        #expect(snapshot.isSnapshot && snapshot.checksum == nil && snapshot.instrument.symbol == "BTC-USD")
        #expect(!update.isSnapshot && update.checksum?.expected == 974_947_235)
        #expect(KrakenTest.texts(update.asks) == [["0.05120", "0.00000500"], ["0.05275", "0.00000500"]])
        #expect(KrakenTest.texts(update.bids) == [["0.04765", "0.00000500"], ["0.04940", "0.00000500"]])
        #expect(update.eventTime == UnixNanos(1_582_905_486_493_034_000))
        var sync = BookSynchronizer(instrument: snapshot.instrument)
        var outcomes: [BookSyncOutcome] = []
        sync.handle(snapshot, into: &outcomes)
        sync.handle(update, into: &outcomes)
        #expect(outcomes.count == 2)
        #expect(outcomes.last == .checksumPassed)
        #expect(sync.isValid && sync.book.askCount == 12 && sync.book.bidCount == 12)
    }

    /// `book-10`: a better bid pushes the 10th bid out of the subscribed window, and it is dropped
    /// ("you will not receive qty 0 for levels that fall out of scope").
    @Test func depthLimitDropsLevelsOutOfTheWindow() throws {
        let book = String(decoding: try KrakenTest.docSample("v1-book-checksum-example.json"), as: UTF8.self)
        var adapter = KrakenAdapter()
        let snapshot = try #require(KrakenTest.books(KrakenTest.run(&adapter, #"[0,\#(book),"book-10","BTC/USD"]"#)).first)
        let update = try #require(
            KrakenTest.books(KrakenTest.run(&adapter, #"[0,{"b":[["0.05001","0.00000700","1582905490.000001"]]},"book-10","BTC/USD"]"#)).first)
        #expect(snapshot.depthLimit == 10 && update.depthLimit == 10)
        var sync = BookSynchronizer(instrument: snapshot.instrument)
        var outcomes: [BookSyncOutcome] = []
        sync.handle(snapshot, into: &outcomes)
        sync.handle(update, into: &outcomes)
        let bids = KrakenTest.texts(sync.book.levels(.buy))
        #expect(bids.count == 10 && bids.first == ["0.05001", "0.00000700"] && bids.last == ["0.04955", "0.00000500"])
    }

    /// The guide's formatting rules, level by level (v1 guide and v2 guide examples).
    @Test(arguments: [
        ("0.05000", "0.00000304", "5000304"), ("0.05005", "0.00000500", "5005500"), ("45285.2", "0.00100000", "452852100000"),
    ])
    func formattingRules(price: String, qty: String, text: String) {
        let level = KrakenTest.levels([[price, qty]])
        #expect(String(decoding: KrakenChecksum.v1.text(bids: [], asks: level), as: UTF8.self) == text)
        #expect(String(decoding: KrakenChecksum.v2(precision: nil).text(bids: level, asks: []), as: UTF8.self) == text)
    }

    @Test func precisionPadsButNeverRounds() throws {
        let p = try #require(KrakenPrecision(price: 4, quantity: 8))
        let v2 = KrakenChecksum.v2(precision: p)
        #expect(v2.name == "kraken-v2-p4-q8" && KrakenChecksum.v1.name == "kraken-v1" && v2.depth == 10)
        #expect(String(decoding: v2.text(bids: KrakenTest.levels([["0.566", "18097.1547"]]), asks: []), as: UTF8.self) == "5660" + "1809715470000")
        // A value with more digits than the precision keeps them (no rounding).
        #expect(String(decoding: v2.text(bids: KrakenTest.levels([["0.56601", "1.123456789"]]), asks: []), as: UTF8.self) == "56601" + "1123456789")
        #expect(KrakenPrecision(price: -1, quantity: 8) == nil && KrakenPrecision(price: 2, quantity: 37) == nil)
    }

    /// The whole recording through `FeedPipeline` with default options: every book message carrying a
    /// checksum is checked, none fails, nothing is a parse error.
    @Test func fullRecordingThroughReplayVerifiesEveryChecksum() throws {
        let records = try KrakenTest.records()
        let withChecksum = records.count { $0.kind == .ws && KrakenTest.isBookWithChecksum($0.frame) }
        let tradeEntries = records.reduce(0) { n, r in
            guard r.kind == .ws, let a = KrakenTest.json(r.frame) as? [Any], a.count == 4, a[2] as? String == "trade" else { return n }
            return n + (a[1] as! [Any]).count
        }
        let bookPairs = Set(records.compactMap { r -> String? in
            guard r.kind == .ws, let a = KrakenTest.json(r.frame) as? [Any], (a[a.count - 2] as? String)?.hasPrefix("book") == true else { return nil }
            return a.last as? String
        })
        #expect(withChecksum > 0 && tradeEntries > 0 && !bookPairs.isEmpty)

        var replayer = FeedPipeline(options: PipelineOptions())
        var events: [MarketEvent] = []
        try replayer.run(paths: [Fixtures.path(KrakenTest.fixture)]) { events.append($0) }
        let stats = replayer.stats
        #expect(stats.checksumChecks == withChecksum)
        #expect(stats.checksumFailures == 0)
        #expect(stats.parseErrors == 0 && stats.gaps == 0 && stats.resyncs == 0)
        #expect(stats.frames == records.count { $0.kind == .ws })
        #expect(stats.events["trade"] == tradeEntries)
        // The only statuses: each book synchronized once, from its snapshot.
        let statuses = statusEvents(events)
        #expect(statuses.allSatisfy { $0.kind.name == "synced" })
        #expect(Set(statuses.compactMap { $0.instrument?.nativeSymbol }) == bookPairs && statuses.count == bookPairs.count)
    }

    /// Adapter + normalizer over the recording: every book is valid at the end and the checksum
    /// counters equal the frames carrying `"c"`.
    @Test func fullRecordingThroughAdapterAndNormalizer() throws {
        let records = try KrakenTest.records()
        var pipeline = Pipeline()
        var snapshotsPrinted = 0
        for r in records {
            for e in pipeline.feed(r) { if case .bookSnapshot(let s) = e { snapshotsPrinted += 1; #expect(s.valid) } }
        }
        let c = pipeline.normalizer.counters
        #expect(c.checksumChecks == records.count { $0.kind == .ws && KrakenTest.isBookWithChecksum($0.frame) })
        #expect(c.checksumFailures == 0 && c.bookGaps == 0 && c.resyncs == 0)
        #expect(snapshotsPrinted > 0)
        for pair in ["WAVES/EUR", "XMR/USD", "KSM/XBT", "GRT/ETH", "SC/EUR", "ETH/CHF", "OCEAN/XBT", "OMG/USD", "XBT/CHF", "ADA/XBT"] {
            let instrument = try #require(KrakenAdapter.instrument(pair: pair))
            let sync = pipeline.normalizer.synchronizer(for: instrument)
            let valid = sync?.isValid == true
            #expect(valid, "\(pair)")
            // depthLimit (book-1000) is respected.
            let (bids, asks) = (sync?.book.bidCount ?? 0, sync?.book.askCount ?? 0)
            #expect(bids > 0 && asks > 0 && bids <= 1000 && asks <= 1000, "\(pair)")
        }
    }

    /// One quantity inside the top 10 of a real update is changed: the checksum fails, the status
    /// says so, a resync is requested, the book stays invalid (no snapshot printed for it) until a
    /// new snapshot, while other books go on; the re-sent snapshot makes it valid again.
    @Test func corruptedUpdateFailsChecksumAndInvalidatesOnlyThatBook() throws {
        let records = try KrakenTest.records()
        // Choose, independently of the adapter, an update with a single non-zero level whose
        // checksum differs from the pair's previous one: that level changed the top 10, so it is in it.
        var previousC: [String: String] = [:]
        var snapshotIndex: [String: Int] = [:]
        var target: (index: Int, pair: String, price: String, volume: String)?
        for (i, r) in records.enumerated() where r.kind == .ws {
            guard let a = KrakenTest.json(r.frame) as? [Any], a.count == 4, let o = a[1] as? [String: Any],
                let pair = a[3] as? String
            else { continue }
            if o["as"] != nil { snapshotIndex[pair] = i }
            guard let c = o["c"] as? String else { continue }
            let levels = ((o["a"] ?? o["b"]) as? [[String]]) ?? []
            if target == nil, levels.count == 1, levels[0][1].contains(where: { "123456789".contains($0) }),
                let p = previousC[pair], p != c, let s = snapshotIndex[pair],
                r.receiveTime.rawValue - records[s].receiveTime.rawValue > 5_000_000_000
            {
                target = (i, pair, levels[0][0], levels[0][1])
            }
            previousC[pair] = c
        }
        let t = try #require(target)
        let instrument = try #require(KrakenAdapter.instrument(pair: t.pair))
        var changed = Array(t.volume)
        changed[changed.count - 1] = changed.last == "9" ? "8" : Character(UnicodeScalar(changed.last!.asciiValue! + 1))
        let original = String(decoding: records[t.index].frame, as: UTF8.self)
        let needle = #""\#(t.price)","\#(t.volume)""#
        #expect(original.contains(needle))
        let corrupted = Array(original.replacingOccurrences(of: needle, with: #""\#(t.price)","\#(String(changed))""#).utf8)

        var pipeline = Pipeline()
        var before: [MarketEvent] = []
        var at: [MarketEvent] = []
        var after: [MarketEvent] = []
        for (i, r) in records.enumerated() {
            if i < t.index {
                before += pipeline.feed(r)
            } else if i == t.index {
                at = pipeline.feed(r, frame: corrupted)
            } else {
                after += pipeline.feed(r)
            }
        }
        #expect(snapshots(before, of: instrument) > 0)  // the book was published before
        let failed = statusEvents(at).filter { $0.kind.name == "checksum_failed" }
        #expect(failed.count == 1 && failed.first?.instrument == instrument && failed.first?.venue == .kraken)
        #expect(statusEvents(at).contains { $0.kind.name == "resync" && $0.instrument == instrument })
        #expect(pipeline.normalizer.counters.checksumFailures == 1 && pipeline.normalizer.counters.resyncs == 1)
        // Invalid until the next snapshot: nothing published for it, later updates not applied or checked.
        #expect(snapshots(after, of: instrument) == 0)
        #expect(pipeline.normalizer.synchronizer(for: instrument)?.isValid == false)
        #expect(statusEvents(after).isEmpty)
        let laterChecks = records[(t.index + 1)...].count { r in
            guard r.kind == .ws, KrakenTest.isBookWithChecksum(r.frame), let a = KrakenTest.json(r.frame) as? [Any] else { return false }
            return a.last as? String != t.pair
        }
        let earlierChecks = records[...t.index].count { $0.kind == .ws && KrakenTest.isBookWithChecksum($0.frame) }
        #expect(pipeline.normalizer.counters.checksumChecks == earlierChecks + laterChecks)
        // Other books carried on.
        #expect(after.contains { if case .bookSnapshot(let s) = $0 { s.instrument != instrument } else { false } })
        // A fresh snapshot (the pair's, as a resubscribe would bring) makes it valid again.
        let snapshotRecord = records[try #require(snapshotIndex[t.pair])]
        let resynced = pipeline.feed(snapshotRecord)
        #expect(statusEvents(resynced).contains { $0.kind.name == "resynced" && $0.instrument == instrument })
        #expect(pipeline.normalizer.synchronizer(for: instrument)?.isValid == true)
    }
}
