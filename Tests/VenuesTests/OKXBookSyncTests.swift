import Feeds
import Foundation
import MarketCore
import Normalizer
import Testing
import Venues
import _TestSupport

// OKX books through the normalizer: full recorded streams (checksums), a corrupted quantity, and
// the documented seqId/prevSeqId rules (Tests/VenuesTests/OKXDocSamples/README.md quotes them).

private let okxFiles = ["okx/v5-books-trades-2022-05-13.jsonl.gz", "okx/v5-books-l2-tbt-2021-07-22.jsonl.gz"]
private let btcUSDT = Instrument(venue: .okx, base: "BTC", quote: "USDT", kind: .spot, nativeSymbol: "BTC-USDT")

/// Book messages in a capture, read with JSONSerialization: channel, instId, and the `checksum` value if any.
private struct BookMessage {
    var index: Int
    var instID: String
    var data: [String: Any]
    var checksum: Int?
}

private func bookMessages(_ records: [CaptureRecord]) throws -> [BookMessage] {
    var out: [BookMessage] = []
    for (i, r) in records.enumerated() where r.kind == .ws {
        guard let json = try JSONSerialization.jsonObject(with: Data(r.frame)) as? [String: Any],
            let arg = json["arg"] as? [String: Any], let channel = arg["channel"] as? String, channel.hasPrefix("books"),
            let data = json["data"] as? [[String: Any]]
        else { continue }
        for d in data {
            out.append(BookMessage(index: i, instID: arg["instId"] as! String, data: d, checksum: (d["checksum"] as? NSNumber)?.intValue))
        }
    }
    return out
}

/// Adapter + normalizer, fed one capture record or frame at a time.
private struct Pipeline {
    var adapter = OKXAdapter()
    var normalizer = MarketNormalizer(venue: .okx, tradeIDsAreContiguous: false)
    var venueEvents: [VenueEvent] = []

    mutating func feed(_ frame: [UInt8], kind: FrameKind = .ws, recv: UnixNanos) -> [MarketEvent] {
        venueEvents.removeAll()
        frame.withUnsafeBytes {
            adapter.handle(kind: kind, url: nil, connection: "1", frame: $0, receiveTime: recv, into: &venueEvents)
        }
        var out: [MarketEvent] = []
        for e in venueEvents { normalizer.handle(e, receiveTime: recv, into: &out) }
        return out
    }

    mutating func feed(_ text: String, recv: Int64 = 1) -> [MarketEvent] { feed(Array(text.utf8), recv: UnixNanos(recv)) }

    func isValid(_ i: Instrument) -> Bool { normalizer.synchronizer(for: i)?.isValid ?? false }
}

private func statuses(_ events: [MarketEvent], _ instrument: Instrument? = nil) -> [String] {
    events.compactMap {
        guard case .status(let s) = $0, instrument == nil || s.instrument == instrument else { return nil }
        return s.kind.name
    }
}

private func snapshots(_ events: [MarketEvent], _ instrument: Instrument) -> [BookSnapshot] {
    events.compactMap { if case .bookSnapshot(let s) = $0, s.instrument == instrument { s } else { nil } }
}

/// A `books` frame in the shape of the documentation's "Push Data Example: Incremental Data"
/// (books-update.json), with `"checksum": 0` as production sends since the deprecation.
private func seqFrame(
    _ action: String, seq: Int64, prev: Int64, asks: [(String, String)] = [], bids: [(String, String)] = [], ts: Int64
) -> String {
    func side(_ l: [(String, String)]) -> String { "[" + l.map { "[\"\($0.0)\", \"\($0.1)\", \"0\", \"1\"]" }.joined(separator: ",") + "]" }
    return """
        {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "\(action)", "data": [{"asks": \(side(asks)), \
        "bids": \(side(bids)), "ts": "\(ts)", "checksum": 0, "prevSeqId": \(prev), "seqId": \(seq)}]}
        """
}

private func levels(_ book: OrderBook, _ side: Side) -> [String] { book.levels(side).map { "\($0.price)/\($0.quantity)" } }

@Suite("OKX book sync")
struct OKXBookSyncTests {
    // MARK: Recorded streams

    /// Every book message with a checksum is verified, and all pass; nothing else goes wrong.
    @Test(arguments: okxFiles)
    func fullRecordedStreamVerifiesEveryChecksum(_ file: String) throws {
        let messages = try bookMessages(try Fixtures.records(file))
        let withChecksum = messages.filter { $0.checksum != nil }.count
        #expect(withChecksum == messages.count && !messages.contains { $0.checksum == 0 })  // pre-2026: all real
        #expect(withChecksum > 280)

        var replayer = FeedPipeline(options: PipelineOptions())  // defaults
        var bad: [String] = []
        try replayer.run(paths: [Fixtures.path(file)]) { e in
            if case .status(let s) = e, s.kind.name != "synced" { bad.append("\(s.kind.name) \(s.instrument?.symbol ?? "-"): \(s.detail)") }
        }
        let stats = replayer.stats
        #expect(stats.checksumChecks == withChecksum)
        #expect(stats.checksumFailures == 0 && stats.parseErrors == 0 && stats.gaps == 0 && stats.resyncs == 0)
        #expect(bad.isEmpty, "\(bad.prefix(5))")

        var options = PipelineOptions()
        options.emit = [.books]
        var withBooks = FeedPipeline(options: options)
        var valid = 0
        try withBooks.run(paths: [Fixtures.path(file)]) { e in
            if case .bookSnapshot(let s) = e, s.valid { valid += 1 }
        }
        #expect(valid > 0 && withBooks.stats.checksumChecks == withChecksum)
    }

    // MARK: Corruption

    /// One quantity inside the top 25 of a real update changed: `checksum_failed`, resync requested,
    /// no valid snapshot until a new snapshot message, then valid again and checksums pass.
    @Test func corruptedQuantityFailsChecksum() throws {
        let records = try Fixtures.records("okx/v5-books-trades-2022-05-13.jsonl.gz")
        let messages = try bookMessages(records)
        let btcMessages = messages.filter { $0.instID == "BTC-USDT" }

        // A clean pipeline finds the first BTC-USDT update with a non-zero level in its top 25 after applying.
        var clean = Pipeline()
        var target: (index: Int, px: String, sz: String)?
        for (i, r) in records.enumerated() {
            _ = clean.feed(r.frame, kind: r.kind, recv: r.receiveTime)
            guard target == nil, let m = btcMessages.first(where: { $0.index == i }), !(btcMessages.first?.index == i) else { continue }
            let top = try #require(clean.normalizer.synchronizer(for: btcUSDT)).book.top(25)
            let topPrices = Set((top.bids + top.asks).map(\.price))
            for level in (m.data["bids"] as! [[String]]) + (m.data["asks"] as! [[String]])
            where level[1] != "0" && topPrices.contains(FixedDecimal(level[0])!) {
                target = (i, level[0], level[1])
                break
            }
        }
        let t = try #require(target)
        var corrupted = records
        let original = String(decoding: records[t.index].frame, as: UTF8.self)
        let pattern = "[\"\(t.px)\",\"\(t.sz)\","
        #expect(original.components(separatedBy: pattern).count == 2)
        corrupted[t.index].frame = Array(original.replacingOccurrences(of: pattern, with: "[\"\(t.px)\",\"\(t.sz)1\",").utf8)

        // Through the replayer: one failure, a resync request, no BTC-USDT snapshot after it.
        var options = PipelineOptions()
        options.emit = [.books, .status]
        var replayer = FeedPipeline(options: options)
        var after: [MarketEvent] = []
        var at: [MarketEvent] = []
        for (i, r) in corrupted.enumerated() {
            replayer.process(r) { e in
                if i == t.index { at.append(e) } else if i > t.index { after.append(e) }
            }
        }
        replayer.finish { after.append($0) }
        #expect(statuses(at, btcUSDT).filter { $0 != "synced" } == ["checksum_failed", "resync"])
        #expect(statuses(after, btcUSDT).isEmpty && snapshots(after, btcUSDT).isEmpty)
        #expect(!snapshots(after, Instrument(venue: .okx, base: "UNI", quote: "USD", kind: .perpetual, nativeSymbol: "UNI-USD-SWAP")).isEmpty)
        let btcAfter = btcMessages.filter { $0.index > t.index }.count
        #expect(btcAfter > 10)
        #expect(replayer.stats.checksumFailures == 1 && replayer.stats.checksumChecks == messages.count - btcAfter)
        #expect(replayer.stats.resyncs == 1 && replayer.stats.parseErrors == 0)

        // Adapter + normalizer in lockstep with a clean pipeline; a fresh snapshot (the clean book) resyncs.
        var clean2 = Pipeline()
        var broken = Pipeline()
        var resyncAt: Int?
        var brokenAfterResync: [MarketEvent] = []
        let btcIndices = btcMessages.map(\.index)
        for (i, r) in records.enumerated() {
            _ = clean2.feed(r.frame, kind: r.kind, recv: r.receiveTime)
            let out = broken.feed(corrupted[i].frame, kind: r.kind, recv: r.receiveTime)
            if resyncAt != nil { brokenAfterResync += out }
            if i >= t.index && resyncAt == nil {
                #expect(!broken.isValid(btcUSDT))
                if i > t.index { #expect(snapshots(out, btcUSDT).isEmpty && statuses(out, btcUSDT).isEmpty) }
            }
            // Five BTC-USDT updates after the corruption, resubscribe: the venue's new snapshot is the clean book.
            if resyncAt == nil, let k = btcIndices.firstIndex(of: i), k >= (btcIndices.firstIndex(of: t.index) ?? 0) + 5 {
                let book = try #require(clean2.normalizer.synchronizer(for: btcUSDT)).book
                func side(_ s: Side) -> String { "[" + book.levels(s).map { "[\"\($0.price)\",\"\($0.quantity)\",\"0\",\"1\"]" }.joined(separator: ",") + "]" }
                let ts = try #require(btcMessages[k].data["ts"] as? String)
                let snap = #"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":"# + side(.sell) + #","bids":"# + side(.buy) + #","ts":""# + ts + #""}]}"#
                let out = broken.feed(Array(snap.utf8), recv: r.receiveTime)
                #expect(statuses(out, btcUSDT) == ["resynced"] && broken.isValid(btcUSDT))
                resyncAt = i
            }
        }
        #expect(resyncAt != nil)
        #expect(statuses(brokenAfterResync, btcUSDT).isEmpty && !snapshots(brokenAfterResync, btcUSDT).isEmpty)
        #expect(broken.normalizer.counters.checksumFailures == 1 && broken.isValid(btcUSDT))
        let b = try #require(broken.normalizer.synchronizer(for: btcUSDT)).book
        let c = try #require(clean2.normalizer.synchronizer(for: btcUSDT)).book
        #expect(levels(b, .buy) == levels(c, .buy) && levels(b, .sell) == levels(c, .sell))
    }

    // MARK: seqId / prevSeqId (documentation)

    /// The documentation's frames: snapshot `seqId` 123456, update 123456 → 123457. Dropping that
    /// update makes the next one (123457 → 123458) a gap: invalid book, resync, no snapshot.
    @Test func droppedUpdateIsAGap() throws {
        var p = Pipeline()
        let snap = try okxDocSample("books-snapshot.json").replacingOccurrences(of: "-855196043", with: "0")
        #expect(statuses(p.feed(snap)) == ["synced"] && p.isValid(btcUSDT))
        let dropped = try okxDocSample("books-update.json").replacingOccurrences(of: "-855196043", with: "0")
        let next = dropped.replacingOccurrences(of: "\"prevSeqId\": 123456", with: "\"prevSeqId\": 123457")
            .replacingOccurrences(of: "\"seqId\": 123457", with: "\"seqId\": 123458")
            .replacingOccurrences(of: "1597026383085", with: "1597026385085")
        let out = p.feed(next)
        #expect(statuses(out) == ["gap", "resync"] && !p.isValid(btcUSDT))
        #expect(p.normalizer.counters.bookGaps == 1 && p.normalizer.counters.resyncs == 1)
        // Further updates change nothing until a snapshot.
        let later = next.replacingOccurrences(of: "123458", with: "123459").replacingOccurrences(of: "\"prevSeqId\": 123457", with: "\"prevSeqId\": 123458")
            .replacingOccurrences(of: "1597026385085", with: "1597026387085")
        let out2 = p.feed(later)
        #expect(statuses(out2).isEmpty && snapshots(out2, btcUSDT).isEmpty && !p.isValid(btcUSDT))
        #expect(statuses(p.feed(snap)) == ["resynced"] && p.isValid(btcUSDT))
        // Without the drop, the same frames are continuous.
        var q = Pipeline()
        _ = q.feed(snap)
        #expect(statuses(q.feed(dropped)).isEmpty && statuses(q.feed(next)).isEmpty && q.isValid(btcUSDT))
    }

    /// A sequenced snapshot with a real checksum is verified too. The docs' sample value (−855196043)
    /// is illustrative and fails; zlib's CRC-32 of the sample book's check string (Python) is −2102840145.
    @Test func sequencedSnapshotChecksumIsVerified() throws {
        let sample = try okxDocSample("books-snapshot.json")
        var good = Pipeline()
        #expect(statuses(good.feed(sample.replacingOccurrences(of: "-855196043", with: "-2102840145"))) == ["synced"])
        #expect(good.normalizer.counters.checksumChecks == 1 && good.normalizer.counters.checksumFailures == 0 && good.isValid(btcUSDT))
        var bad = Pipeline()
        #expect(statuses(bad.feed(sample)) == ["synced", "checksum_failed", "resync"] && !bad.isValid(btcUSDT))
    }

    /// The documentation's example sequence: snapshot 10; 10 → 15; keep-alive 15 → 15 with empty sides;
    /// reset 15 → 3; 3 → 5. All continuous; the book reflects every change.
    @Test func documentedExceptionsAreContinuous() {
        var p = Pipeline()
        var all: [MarketEvent] = []
        all += p.feed(seqFrame("snapshot", seq: 10, prev: -1, asks: [("8476.98", "415"), ("8477", "7")], bids: [("8476.97", "256"), ("8475.55", "101")], ts: 1_597_026_383_085))
        all += p.feed(seqFrame("update", seq: 15, prev: 10, asks: [("8477", "9")], ts: 1_597_026_384_085))
        all += p.feed(seqFrame("update", seq: 15, prev: 15, ts: 1_597_026_444_085))  // no change for ~60 s
        #expect(p.isValid(btcUSDT))
        all += p.feed(seqFrame("update", seq: 3, prev: 15, bids: [("8476.97", "250")], ts: 1_597_026_445_085))  // maintenance reset
        all += p.feed(seqFrame("update", seq: 5, prev: 3, asks: [("8476.98", "0")], ts: 1_597_026_446_085))
        #expect(statuses(all) == ["synced"] && p.isValid(btcUSDT))
        let book = p.normalizer.synchronizer(for: btcUSDT)!.book
        #expect(levels(book, .sell) == ["8477/9"] && levels(book, .buy) == ["8476.97/250", "8475.55/101"])
        // Snapshots kept coming on the 1 s boundaries crossed (valid book throughout).
        #expect(snapshots(all, btcUSDT).count == 3 && snapshots(all, btcUSDT).allSatisfy(\.valid))
    }

    /// Dropping "Incremental message 1" (10 → 15): the keep-alive (15 → 15) no longer links to 10.
    @Test func keepAliveAfterALostUpdateIsAGap() {
        var p = Pipeline()
        _ = p.feed(seqFrame("snapshot", seq: 10, prev: -1, asks: [("8476.98", "415")], bids: [("8476.97", "256")], ts: 1_000))
        #expect(statuses(p.feed(seqFrame("update", seq: 15, prev: 15, ts: 2_000))) == ["gap", "resync"] && !p.isValid(btcUSDT))
        // A lost update just before a reset (10 → 15 lost, then 15 → 3): also a gap.
        var q = Pipeline()
        _ = q.feed(seqFrame("snapshot", seq: 10, prev: -1, asks: [("8476.98", "415")], bids: [("8476.97", "256")], ts: 1_000))
        #expect(statuses(q.feed(seqFrame("update", seq: 3, prev: 15, ts: 2_000))) == ["gap", "resync"] && !q.isValid(btcUSDT))
    }

    /// The same update delivered twice (two connections carry the same `seqId`s) is applied once.
    @Test func redeliveredUpdateIsIgnored() {
        var p = Pipeline()
        _ = p.feed(seqFrame("snapshot", seq: 10, prev: -1, asks: [("8476.98", "415")], bids: [("8476.97", "256")], ts: 1_000))
        let update = seqFrame("update", seq: 15, prev: 10, bids: [("8476.5", "1")], ts: 2_000)
        #expect(statuses(p.feed(update)).isEmpty && statuses(p.feed(update)).isEmpty && p.isValid(btcUSDT))
        #expect(statuses(p.feed(seqFrame("update", seq: 16, prev: 15, ts: 3_000))).isEmpty && p.isValid(btcUSDT))
    }

    /// Updates before the first snapshot mean nothing; the snapshot then syncs.
    @Test func updatesBeforeTheSnapshotAreIgnored() {
        var p = Pipeline()
        #expect(p.feed(seqFrame("update", seq: 9, prev: 8, asks: [("1", "1")], ts: 1_000)).isEmpty && !p.isValid(btcUSDT))
        #expect(statuses(p.feed(seqFrame("snapshot", seq: 10, prev: -1, asks: [("8476.98", "415")], bids: [("8476.97", "256")], ts: 1_000))) == ["synced"])
    }

    /// Losing the reset message itself (15 → 3) is a gap at the next message (3 → 5): only an exact
    /// re-delivery of the last applied message is ignored, so a frozen book can never stay valid.
    @Test func lostResetMessageShouldBeAGap() {
        var p = Pipeline()
        _ = p.feed(seqFrame("snapshot", seq: 10, prev: -1, asks: [("8476.98", "415")], bids: [("8476.97", "256")], ts: 1_000))
        _ = p.feed(seqFrame("update", seq: 15, prev: 10, ts: 2_000))
        // (lost: reset 15 → 3)
        let out = p.feed(seqFrame("update", seq: 5, prev: 3, asks: [("8476.98", "0")], ts: 3_000))
        #expect(statuses(out) == ["gap", "resync"])
        #expect(!p.isValid(btcUSDT))
    }
}
