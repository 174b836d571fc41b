import Feeds
import Foundation
import MarketCore
import Normalizer
import Testing
import _TestSupport

/// A snapshot due at an update shows the book before that update; if that very update reveals a
/// gap, updates were missed before it and the snapshot must not go out as valid. (Found by the
/// soak run: a lost span whose next diff crossed a 1 s boundary published the stale book.)
@Suite("Snapshot withdrawal on a revealed gap")
struct SnapshotWithdrawalTests {
    static let capture = "binance/spot-btcusdt-2024-08-08.jsonl.gz"

    static func snapshots(_ records: [CaptureRecord]) -> (snaps: [Int64: BookSnapshot], events: [MarketEvent], withdrawn: Int) {
        var options = PipelineOptions()
        options.emit = [.books, .status]
        var replayer = FeedPipeline(options: options)
        var events: [MarketEvent] = []
        for r in records { replayer.process(r) { events.append($0) } }
        replayer.finish { events.append($0) }
        var snaps: [Int64: BookSnapshot] = [:]
        for case .bookSnapshot(let s) in events { snaps[s.time.rawValue] = s }
        return (snaps, events, replayer.stats.counters.snapshotsWithdrawn)
    }

    static func eventMillis(_ r: CaptureRecord) -> Int64? {
        guard r.kind == .ws, String(decoding: r.frame.prefix(48), as: UTF8.self).contains("@depth"),
            let outer = try? JSONSerialization.jsonObject(with: Data(r.frame)) as? [String: Any],
            let data = outer["data"] as? [String: Any], let e = data["E"] as? NSNumber
        else { return nil }
        return e.int64Value
    }

    @Test func aDiffLostJustBeforeASnapshotBoundaryWithdrawsThatSnapshot() throws {
        // The first 30 s or so of the capture are enough (the replay is debug-built in tests).
        let records = Array(try Fixtures.records(Self.capture).prefix(5000))
        let truth = Self.snapshots(records)
        // Depth diffs (record index, event ms), well after the book synced.
        let depth = records.indices.compactMap { i in Self.eventMillis(records[i]).map { (i, $0) } }
        // A diff whose predecessor is in the same second and whose successor is in a later one:
        // dropping it makes the successor both due for a snapshot and a gap.
        let pick = try #require(
            depth.indices.dropFirst(200).first { j in
                j + 1 < depth.count && depth[j - 1].1 / 1000 == depth[j].1 / 1000 && depth[j + 1].1 / 1000 > depth[j].1 / 1000
                    && truth.snaps[(depth[j + 1].1 / 1000) * 1_000_000_000] != nil
            })
        let dropped = depth[pick].0
        let boundary = (depth[pick + 1].1 / 1000) * 1_000_000_000
        var cut = records
        cut.remove(at: dropped)
        let got = Self.snapshots(cut)

        #expect(got.snaps[boundary] == nil, "the snapshot due at the gap went out")
        #expect(got.withdrawn >= 1)
        #expect(got.events.contains { if case .status(let s) = $0 { s.kind.name == "gap" } else { false } })
        // Every snapshot that did go out equals the uninterrupted replay's at the same time.
        var compared = 0
        for (time, s) in got.snaps where s.valid {
            let t = try #require(truth.snaps[time], "a snapshot at \(time) the uninterrupted replay does not have")
            #expect(s.bids == t.bids && s.asks == t.asks, "snapshot at \(time) differs from the uninterrupted replay")
            compared += 1
        }
        #expect(compared >= 10)
    }
}
