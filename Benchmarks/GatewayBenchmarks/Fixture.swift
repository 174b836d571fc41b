import Feeds
import MarketCore
import Normalizer
import Venues

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One websocket frame of the capture, as the live feed would hand it to the adapter.
struct Frame: Sendable {
    let bytes: [UInt8]
    let receiveTime: UnixNanos
}

/// The real BTCUSDT capture (`Tests/Fixtures/binance/spot-btcusdt-2024-08-08.jsonl.gz`), decoded once
/// into memory before any measurement, split by stream and pre-parsed for the benchmarks that
/// isolate one stage.
///
/// Every benchmark walks these arrays in capture order, so the measured loop sees the real mix of
/// frame sizes, prices and book positions and the real memory footprint (tens of MB), never one
/// cache-hot frame.
struct BinanceCapture: Sendable {
    /// Every `btcusdt@trade` frame, in capture order.
    var tradeFrames: [Frame] = []
    /// Every `btcusdt@depth@100ms` frame that follows the REST snapshot (`u > lastUpdateId`), in order.
    var depthFrames: [Frame] = []
    /// The REST `GET /api/v3/depth?limit=1000` response and its URL.
    var snapshotFrame: Frame
    var snapshotURL: String
    /// The snapshot, parsed.
    var snapshot: BookUpdate
    /// `depthFrames`, parsed (same order, same count).
    var diffs: [BookUpdate] = []
    /// `tradeFrames`, parsed.
    var trades: [Trade] = []
    /// Every price and quantity string of `depthFrames` (without quotes), packed back to back.
    var decimalText: [UInt8] = []
    /// `(start, count)` of each string in `decimalText`, in frame order.
    var decimalSpans: [DecimalSpan] = []
    /// Depth frames before the snapshot (already contained in it), left out of `depthFrames`.
    var staleDiffCount = 0
    /// Levels over all of `diffs`.
    var diffLevelCount = 0
    /// Bytes over all of `depthFrames` / `tradeFrames`.
    var depthBytes = 0
    var tradeBytes = 0

    struct DecimalSpan: Sendable {
        var start: Int32
        var count: Int32
    }

    var instrument: Instrument { snapshot.instrument }

    /// Loaded on first use (a `static let` is initialised once, thread-safely).
    static let shared: BinanceCapture = {
        let path = capturePath()
        do {
            return try load(path: path)
        } catch {
            fatalError("GatewayBenchmarks: cannot load capture \(path): \(error)")
        }
    }()

    /// `$GATEWAY_BENCH_CAPTURE`, else the fixture in this repository (found from this file's path:
    /// `<repo>/Benchmarks/GatewayBenchmarks/Fixture.swift`).
    static func capturePath(file: StaticString = #filePath) -> String {
        if let p = getenv("GATEWAY_BENCH_CAPTURE") { return String(cString: p) }
        var parts = "\(file)".split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        parts.removeLast(3)
        return parts.joined(separator: "/") + "/Tests/Fixtures/binance/spot-btcusdt-2024-08-08.jsonl.gz"
    }

    struct LoadError: Error, CustomStringConvertible {
        var description: String
    }

    static func load(path: String) throws -> BinanceCapture {
        let reader = try CaptureReader(path: path)
        var adapter = BinanceAdapter(venue: .binance)
        var events: [VenueEvent] = []
        var wsRecords: [CaptureRecord] = []
        var snapshotRecord: CaptureRecord? = nil
        var snapshot: BookUpdate? = nil
        while let r = try reader.next() {
            switch r.kind {
            case .ws: wsRecords.append(r)
            case .rest:
                guard snapshot == nil else { continue }
                events.removeAll()
                r.frame.withUnsafeBytes {
                    adapter.handle(kind: .rest, url: r.url, connection: r.connection, frame: $0, receiveTime: r.receiveTime, into: &events)
                }
                if case .book(let u)? = events.first, u.isSnapshot {
                    snapshot = u
                    snapshotRecord = r
                }
            case .open, .sent, .tick, .close: continue
            }
        }
        guard let snapshot, let snapshotRecord, case .snapshot(let lastUpdateID) = snapshot.sequence else {
            throw LoadError(description: "no REST depth snapshot in the capture")
        }
        var capture = BinanceCapture(
            snapshotFrame: Frame(bytes: snapshotRecord.frame, receiveTime: snapshotRecord.receiveTime),
            snapshotURL: snapshotRecord.url ?? "", snapshot: snapshot)
        for r in wsRecords {
            events.removeAll()
            r.frame.withUnsafeBytes {
                adapter.handle(kind: .ws, url: nil, connection: nil, frame: $0, receiveTime: r.receiveTime, into: &events)
            }
            guard events.count == 1 else { continue }
            switch events[0] {
            case .trade(let t):
                capture.tradeFrames.append(Frame(bytes: r.frame, receiveTime: r.receiveTime))
                capture.trades.append(t)
                capture.tradeBytes += r.frame.count
            case .book(let u) where !u.isSnapshot:
                guard case .range(_, let last) = u.sequence else { continue }
                if last <= lastUpdateID {
                    capture.staleDiffCount += 1
                    continue
                }
                capture.depthFrames.append(Frame(bytes: r.frame, receiveTime: r.receiveTime))
                capture.diffs.append(u)
                capture.diffLevelCount += u.bids.count + u.asks.count
                capture.depthBytes += r.frame.count
                r.frame.withUnsafeBytes { collectDecimals($0, into: &capture.decimalText, spans: &capture.decimalSpans) }
            default: continue
            }
        }
        try capture.checkContinuity()
        return capture
    }

    /// The benchmarks assume the diffs bridge the snapshot and follow each other with no gap
    /// (`U == previous u + 1`), so every diff is applied; check it once, with the library's own synchronizer.
    func checkContinuity() throws {
        var sync = BookSynchronizer(instrument: instrument)
        var outcomes: [BookSyncOutcome] = []
        sync.handle(snapshot, into: &outcomes)
        for d in diffs { sync.handle(d, into: &outcomes) }
        let gaps = outcomes.filter { if case .gap = $0 { return true } else { return false } }
        guard gaps.isEmpty, sync.isSynchronized else {
            throw LoadError(description: "depth diffs do not replay cleanly: \(gaps.prefix(3))")
        }
    }

    /// Copies the price and quantity strings of a depth frame's `b` and `a` arrays into `text`.
    static func collectDecimals(_ frame: UnsafeRawBufferPointer, into text: inout [UInt8], spans: inout [DecimalSpan]) {
        var s = JSONScanner(frame)
        guard s.beginObject() else { return }
        while let key = s.nextKey() {
            guard key.equals("data") else {
                s.skipValue()
                continue
            }
            guard let range = s.skipValue() else { return }
            var d = s.scanner(for: range)
            guard d.beginObject() else { return }
            while let k = d.nextKey() {
                guard k.equals("b") || k.equals("a"), d.beginArray() else {
                    d.skipValue()
                    continue
                }
                while d.nextElement() {
                    guard d.beginArray() else { return }
                    while d.nextElement() {
                        guard let raw = d.readStringRaw() else { return }
                        spans.append(DecimalSpan(start: Int32(text.count), count: Int32(raw.count)))
                        text.append(contentsOf: raw)
                    }
                }
            }
        }
    }

    /// Where the diffs land in the book: how many levels lie between each insert/remove and the
    /// best level (what a best-last sorted array memmoves), and how large the book grows.
    var depthProfile: String {
        var inserts: [Int] = []
        var removes: [Int] = []
        var updates = 0
        var missingRemoves = 0
        var maxSizes = (0, 0)
        func side(_ input: [BookLevel], ascending: Bool) -> ContiguousArray<FixedDecimal> {
            ContiguousArray(input.filter { !$0.quantity.isZero }.map(\.price).sorted { ascending ? $0 < $1 : $1 < $0 })
        }
        // Best last, like OrderBook.
        var bids = side(snapshot.bids, ascending: true)
        var asks = side(snapshot.asks, ascending: false)
        func apply(_ l: BookLevel, _ prices: inout ContiguousArray<FixedDecimal>, ascending: Bool) {
            var lo = 0
            var hi = prices.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if ascending ? prices[mid] < l.price : l.price < prices[mid] { lo = mid + 1 } else { hi = mid }
            }
            let found = lo < prices.count && prices[lo] == l.price
            if found && l.quantity.isZero {
                removes.append(prices.count - lo - 1)
                prices.remove(at: lo)
            } else if found {
                updates += 1
            } else if !l.quantity.isZero {
                inserts.append(prices.count - lo)
                prices.insert(l.price, at: lo)
            } else {
                missingRemoves += 1
            }
        }
        for d in diffs {
            for l in d.bids { apply(l, &bids, ascending: true) }
            for l in d.asks { apply(l, &asks, ascending: false) }
            maxSizes = (max(maxSizes.0, bids.count), max(maxSizes.1, asks.count))
        }
        func median(_ a: [Int]) -> Int { a.isEmpty ? 0 : a.sorted()[a.count / 2] }
        func mean(_ a: [Int]) -> Int { a.isEmpty ? 0 : a.reduce(0, +) / a.count }
        let moved = (inserts.reduce(0, +) + removes.reduce(0, +)) / max(diffs.count, 1)
        return "depth profile: \(inserts.count) inserts (levels behind the insert point: median \(median(inserts)), "
            + "mean \(mean(inserts))), \(removes.count) removes (median \(median(removes)), mean \(mean(removes))), "
            + "\(updates) quantity updates, \(missingRemoves) removes of absent levels; book grows to "
            + "\(maxSizes.0) bids / \(maxSizes.1) asks; \(moved) levels moved per diff in a best-last array"
    }

    /// A one-line description of what was loaded, printed once per benchmark process.
    var summary: String {
        "capture: \(tradeFrames.count) trade frames (\(tradeBytes / max(tradeFrames.count, 1)) B avg), "
            + "\(depthFrames.count) depth diffs after the snapshot (\(staleDiffCount) stale dropped, "
            + "\(diffLevelCount / max(diffs.count, 1)) levels and \(depthBytes / max(depthFrames.count, 1)) B avg), "
            + "snapshot \(snapshot.bids.count)/\(snapshot.asks.count) levels, \(decimalSpans.count) decimal strings"
            + "\n" + depthProfile
    }
}
