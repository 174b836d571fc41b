import Benchmark
import Feeds
import MarketCore
import Normalizer
import Venues

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Benchmarks over the real Binance BTCUSDT capture (STYLE.md §11.8). See BENCHMARKS.md at the
// repository root for the command, the machine and the figures.
//
// Every benchmark uses a scaling factor so that the reported metrics are per item (frame, update,
// trade, string): one iteration handles `scalingFactor` consecutive items of the capture, and
// consecutive iterations walk the whole sequence (see `Pass`).

/// `.instructions` is not listed: this VM exposes no hardware PMU (no `cpu` device under
/// /sys/bus/event_source/devices), so perf_event_open(PERF_COUNT_HW_INSTRUCTIONS) fails and the
/// metric reads 0. Set GATEWAY_BENCH_INSTRUCTIONS=1 on a machine with counters to add it.
let metrics: [BenchmarkMetric] = {
    var m: [BenchmarkMetric] = [.wallClock, .throughput, .mallocCountTotal]
    if getenv("GATEWAY_BENCH_INSTRUCTIONS") != nil { m.append(.instructions) }
    return m
}()

func configuration(
    _ scaling: BenchmarkScalingFactor = .kilo, seconds: Int64 = 2, mean: (any PassReport)? = nil
) -> Benchmark.Configuration {
    .init(
        metrics: metrics, timeUnits: .nanoseconds, warmupIterations: 10, scalingFactor: scaling,
        maxDuration: .seconds(seconds), maxIterations: 1_000_000,
        setup: {
            let capture = BinanceCapture.shared
            if getenv("GATEWAY_BENCH_SUMMARY") != nil {
                var line = "GatewayBenchmarks \(capture.summary)\n"
                line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
            }
        },
        teardown: {
            if let mean, getenv("GATEWAY_BENCH_MEAN") != nil {
                var line = mean.meanLine() + "\n"
                line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
            }
        })
}

/// The book every correct replay of the depth diffs ends with, best first, computed independently of
/// any book structure under test (a price → quantity map, sorted at the end).
let referenceFinalBook: (bids: [BookLevel], asks: [BookLevel]) = {
    let c = BinanceCapture.shared
    var bids: [FixedDecimal: FixedDecimal] = [:]
    var asks: [FixedDecimal: FixedDecimal] = [:]
    func apply(_ levels: [BookLevel], _ side: inout [FixedDecimal: FixedDecimal]) {
        for l in levels { side[l.price] = l.quantity.isZero ? nil : l.quantity }
    }
    apply(c.snapshot.bids, &bids)
    apply(c.snapshot.asks, &asks)
    for d in c.diffs {
        apply(d.bids, &bids)
        apply(d.asks, &asks)
    }
    return (
        bids.map { BookLevel(price: $0.key, quantity: $0.value) }.sorted { $1.price < $0.price },
        asks.map { BookLevel(price: $0.key, quantity: $0.value) }.sorted { $0.price < $1.price }
    )
}()

func checkFinalBook<B: BookStructure>(_ book: B, _ what: String) -> String? {
    let bids = book.levels(.buy)
    let asks = book.levels(.sell)
    if bids == referenceFinalBook.bids && asks == referenceFinalBook.asks { return nil }
    return "\(what): book after a full replay differs from the reference (\(bids.count)/\(asks.count) levels, "
        + "expected \(referenceFinalBook.bids.count)/\(referenceFinalBook.asks.count))"
}

/// An adapter whose symbol cache already knows BTCUSDT, as it would after the first frame.
func warmAdapter() -> BinanceAdapter {
    let c = BinanceCapture.shared
    var adapter = BinanceAdapter(venue: .binance)
    var events: [VenueEvent] = []
    c.snapshotFrame.bytes.withUnsafeBytes {
        adapter.handle(
            kind: .rest, url: c.snapshotURL, connection: nil, frame: $0, receiveTime: c.snapshotFrame.receiveTime,
            into: &events)
    }
    return adapter
}

func eventBuffer<T>(_ type: T.Type = T.self) -> [T] {
    var b: [T] = []
    b.reserveCapacity(16)
    return b
}

let benchmarks: @Sendable () -> Void = {
    registerPipelineBenchmarks()
    registerBookBenchmarks()
    registerCandleBenchmarks()
    registerDecimalBenchmarks()
    registerVenueBenchmarks()
    registerBacktestBenchmarks()
}

// MARK: - pipeline/binance/*

struct ParseState {
    var adapter = warmAdapter()
    var events: [VenueEvent] = eventBuffer()
    var produced = 0
    var levels = 0
}

struct DepthApplyState {
    var adapter = warmAdapter()
    var events: [VenueEvent] = eventBuffer()
    var book = OrderBook(snapshot: BinanceCapture.shared.snapshot)
}

struct DepthSyncState {
    var adapter = warmAdapter()
    var events: [VenueEvent] = eventBuffer()
    var outcomes: [BookSyncOutcome] = eventBuffer()
    var sync: BookSynchronizer

    init() {
        let c = BinanceCapture.shared
        sync = BookSynchronizer(instrument: c.instrument)
        sync.handle(c.snapshot, into: &outcomes)
        outcomes.removeAll(keepingCapacity: true)
    }
}

struct NormalizerState {
    var adapter = warmAdapter()
    var events: [VenueEvent] = eventBuffer()
    var out: [MarketEvent] = eventBuffer()
    var normalizer: MarketNormalizer

    init(withSnapshot: Bool) {
        let c = BinanceCapture.shared
        normalizer = MarketNormalizer(venue: .binance, tradeIDsAreContiguous: true)
        if withSnapshot {
            normalizer.handle(.book(c.snapshot), receiveTime: c.snapshot.receiveTime, into: &out)
            out.removeAll(keepingCapacity: true)
        }
    }
}

struct OnePassState {
    var parser = OnePassBinanceParser(instrument: BinanceCapture.shared.instrument)
    var events: [VenueEvent] = eventBuffer()
    var produced = 0
}

/// `nil` when the one-pass parsers give exactly the adapter's events for every frame (checked once).
let onePassMismatch: String? = {
    let c = BinanceCapture.shared
    let parser = OnePassBinanceParser(instrument: c.instrument)
    var events: [VenueEvent] = []
    for (f, t) in zip(c.tradeFrames, c.trades) {
        events.removeAll()
        _ = f.bytes.withUnsafeBytes { parser.parseTrade($0, receiveTime: f.receiveTime, into: &events) }
        if events != [.trade(t)] { return "one-pass trade differs from the adapter at \(t.id)" }
    }
    for (f, d) in zip(c.depthFrames, c.diffs) {
        events.removeAll()
        _ = f.bytes.withUnsafeBytes { parser.parseDepth($0, receiveTime: f.receiveTime, into: &events) }
        if events != [.book(d)] { return "one-pass depth differs from the adapter at \(d.sequence)" }
    }
    return nil
}()

func registerPipelineBenchmarks() {
    // 1. bytes → Trade, every `trade` frame.
    let trade = Pass(
        "pipeline/binance/trade", make: { ParseState() },
        validate: { s in
            s.produced == BinanceCapture.shared.tradeFrames.count ? nil : "trade: \(s.produced) events for one pass"
        })
    Benchmark(trade.name, configuration: configuration(mean: trade)) { benchmark in
        let frames = BinanceCapture.shared.tradeFrames
        trade.resize(frames.count)
        trade.iterate(benchmark) { s, i in
            s.events.removeAll(keepingCapacity: true)
            frames[i].bytes.withUnsafeBytes { raw in
                s.adapter.handle(
                    kind: .ws, url: nil, connection: nil, frame: raw, receiveTime: frames[i].receiveTime, into: &s.events)
            }
            s.produced &+= s.events.count
        }
    }

    // 1b. bytes → Trade → MarketNormalizer (trade continuity, 1m + 5m candles), as the gateway runs it.
    let tradeNormalizer = Pass(
        "pipeline/binance/trade/normalizer", make: { NormalizerState(withSnapshot: false) },
        validate: { s in
            s.normalizer.counters.duplicateTrades == 0 && s.normalizer.counters.lateTradesDropped == 0
                ? nil : "trade/normalizer: duplicates or late trades in one clean pass"
        })
    Benchmark(tradeNormalizer.name, configuration: configuration(mean: tradeNormalizer)) { benchmark in
        let frames = BinanceCapture.shared.tradeFrames
        tradeNormalizer.resize(frames.count)
        tradeNormalizer.iterate(benchmark) { s, i in
            s.events.removeAll(keepingCapacity: true)
            s.out.removeAll(keepingCapacity: true)
            let t = frames[i].receiveTime
            frames[i].bytes.withUnsafeBytes { raw in
                s.adapter.handle(kind: .ws, url: nil, connection: nil, frame: raw, receiveTime: t, into: &s.events)
            }
            for e in s.events { s.normalizer.handle(e, receiveTime: t, into: &s.out) }
        }
    }

    // 2a. bytes → BookUpdate only (isolates parsing from the book).
    let depthParse = Pass(
        "pipeline/binance/depth/parse", make: { ParseState() },
        validate: { s in
            s.levels == BinanceCapture.shared.diffLevelCount ? nil : "depth/parse: \(s.levels) levels for one pass"
        })
    Benchmark(depthParse.name, configuration: configuration(mean: depthParse)) { benchmark in
        let frames = BinanceCapture.shared.depthFrames
        depthParse.resize(frames.count)
        depthParse.iterate(benchmark) { s, i in
            s.events.removeAll(keepingCapacity: true)
            frames[i].bytes.withUnsafeBytes { raw in
                s.adapter.handle(
                    kind: .ws, url: nil, connection: nil, frame: raw, receiveTime: frames[i].receiveTime, into: &s.events)
            }
            for e in s.events { if case .book(let u) = e { s.levels &+= u.bids.count &+ u.asks.count } }
        }
    }

    // 1c / 2a'. The same frames through one-pass reference parsers (OnePassParsers.swift): what
    // the adapter could reach with the same JSONScanner primitives.
    let tradeOnePass = Pass(
        "pipeline/binance/trade/alt/one-pass", make: { OnePassState() },
        validate: { s in
            s.produced == BinanceCapture.shared.tradeFrames.count ? onePassMismatch : "trade/alt/one-pass: \(s.produced) events"
        })
    Benchmark(tradeOnePass.name, configuration: configuration(mean: tradeOnePass)) { benchmark in
        let frames = BinanceCapture.shared.tradeFrames
        tradeOnePass.resize(frames.count)
        tradeOnePass.iterate(benchmark) { s, i in
            s.events.removeAll(keepingCapacity: true)
            let ok = frames[i].bytes.withUnsafeBytes { raw in
                s.parser.parseTrade(raw, receiveTime: frames[i].receiveTime, into: &s.events)
            }
            s.produced &+= ok ? s.events.count : 0
        }
    }
    let depthOnePass = Pass(
        "pipeline/binance/depth/parse/alt/one-pass", make: { OnePassState() },
        validate: { s in
            s.produced == BinanceCapture.shared.depthFrames.count ? onePassMismatch : "depth/parse/alt/one-pass: \(s.produced) events"
        })
    Benchmark(depthOnePass.name, configuration: configuration(mean: depthOnePass)) { benchmark in
        let frames = BinanceCapture.shared.depthFrames
        depthOnePass.resize(frames.count)
        depthOnePass.iterate(benchmark) { s, i in
            s.events.removeAll(keepingCapacity: true)
            let ok = frames[i].bytes.withUnsafeBytes { raw in
                s.parser.parseDepth(raw, receiveTime: frames[i].receiveTime, into: &s.events)
            }
            s.produced &+= ok ? s.events.count : 0
        }
    }

    // 2. bytes → BookUpdate → OrderBook.apply(bids:asks:), from the REST snapshot book.
    let depth = Pass(
        "pipeline/binance/depth", make: { DepthApplyState() }, validate: { checkFinalBook($0.book, "depth") })
    Benchmark(depth.name, configuration: configuration(mean: depth)) { benchmark in
        let frames = BinanceCapture.shared.depthFrames
        depth.resize(frames.count)
        depth.iterate(benchmark) { s, i in
            s.events.removeAll(keepingCapacity: true)
            frames[i].bytes.withUnsafeBytes { raw in
                s.adapter.handle(
                    kind: .ws, url: nil, connection: nil, frame: raw, receiveTime: frames[i].receiveTime, into: &s.events)
            }
            for e in s.events { if case .book(let u) = e { s.book.apply(bids: u.bids, asks: u.asks) } }
        }
    }

    // 2b. bytes → BookUpdate → BookSynchronizer.handle (sequence checks, crossed check).
    let depthSync = Pass(
        "pipeline/binance/depth/sync", make: { DepthSyncState() },
        validate: { s in s.sync.isValid ? checkFinalBook(s.sync.book, "depth/sync") : "depth/sync: book not valid" })
    Benchmark(depthSync.name, configuration: configuration(mean: depthSync)) { benchmark in
        let frames = BinanceCapture.shared.depthFrames
        depthSync.resize(frames.count)
        depthSync.iterate(benchmark) { s, i in
            s.events.removeAll(keepingCapacity: true)
            s.outcomes.removeAll(keepingCapacity: true)
            frames[i].bytes.withUnsafeBytes { raw in
                s.adapter.handle(
                    kind: .ws, url: nil, connection: nil, frame: raw, receiveTime: frames[i].receiveTime, into: &s.events)
            }
            for e in s.events { if case .book(let u) = e { s.sync.handle(u, into: &s.outcomes) } }
        }
    }

    // 2c. bytes → BookUpdate → MarketNormalizer.handle (synchronizer + 1 s top-20 snapshots), as the gateway runs it.
    let depthNormalizer = Pass(
        "pipeline/binance/depth/normalizer", make: { NormalizerState(withSnapshot: true) },
        validate: { s in
            let c = BinanceCapture.shared
            guard let sync = s.normalizer.synchronizer(for: c.instrument), sync.isValid else {
                return "depth/normalizer: book not valid"
            }
            return checkFinalBook(sync.book, "depth/normalizer")
        })
    Benchmark(depthNormalizer.name, configuration: configuration(mean: depthNormalizer)) { benchmark in
        let frames = BinanceCapture.shared.depthFrames
        depthNormalizer.resize(frames.count)
        depthNormalizer.iterate(benchmark) { s, i in
            s.events.removeAll(keepingCapacity: true)
            s.out.removeAll(keepingCapacity: true)
            let t = frames[i].receiveTime
            frames[i].bytes.withUnsafeBytes { raw in
                s.adapter.handle(kind: .ws, url: nil, connection: nil, frame: raw, receiveTime: t, into: &s.events)
            }
            for e in s.events { s.normalizer.handle(e, receiveTime: t, into: &s.out) }
        }
    }
}

// MARK: - book/*

func registerBookApply<B: BookStructure>(_ name: String, _ type: B.Type) {
    let pass = Pass(
        name, make: { B(snapshot: BinanceCapture.shared.snapshot) }, validate: { checkFinalBook($0, name) })
    Benchmark(pass.name, configuration: configuration(mean: pass)) { benchmark in
        let diffs = BinanceCapture.shared.diffs
        pass.resize(diffs.count)
        pass.iterate(benchmark) { book, i in
            book.apply(bids: diffs[i].bids, asks: diffs[i].asks)
            // The top is read after every update (crossed check, ticker), so structures that make
            // it expensive pay for it here.
            blackHole((book.bestBid, book.bestAsk))
        }
    }
}

func registerBookBenchmarks() {
    // 3. Pre-parsed diffs only: the book structure's cost on the real stream.
    registerBookApply("book/apply", OrderBook.self)
    registerBookApply("book/apply/alt/best-first-array", BestFirstArrayBook.self)
    registerBookApply("book/apply/alt/dictionary+sorted-keys", DictionaryBook.self)
    registerBookApply("book/apply/alt/chunked-array", ChunkedBook.self)
    registerBookApply("book/apply/alt/int64-keys", Int64KeyBook.self)

    // Loading the 1000-level REST snapshot. `replace` inserts the venue's best-first levels one by
    // one into best-last arrays, so every insert lands at index 0.
    Benchmark("book/replace", configuration: configuration(.one, seconds: 2)) { benchmark in
        let snapshot = BinanceCapture.shared.snapshot
        var book = OrderBook(instrument: snapshot.instrument)
        benchmark.startMeasurement()
        book.replace(bids: snapshot.bids, asks: snapshot.asks)
        benchmark.stopMeasurement()
        blackHole(book)
    }
    // The same levels, fed worst first: what `replace` costs when it walks the input from the end.
    Benchmark("book/replace/alt/worst-first", configuration: configuration(.one, seconds: 2)) { benchmark in
        let snapshot = BinanceCapture.shared.snapshot
        let reversedBids = Array(snapshot.bids.reversed())
        let reversedAsks = Array(snapshot.asks.reversed())
        var book = OrderBook(instrument: snapshot.instrument)
        benchmark.startMeasurement()
        book.replace(bids: reversedBids, asks: reversedAsks)
        benchmark.stopMeasurement()
        blackHole(book)
    }
}

// MARK: - candle/update

struct CandleState {
    var builder = CandleBuilder(instrument: BinanceCapture.shared.instrument, interval: .oneMinute)
    var out: [Candle] = eventBuffer()
    var closed = 0
}

/// Candles a clean pass over all trades closes (computed once, outside any measurement).
let expectedClosedCandles: Int = {
    var s = CandleState()
    for t in BinanceCapture.shared.trades { s.builder.add(t, into: &s.out) }
    return s.out.count
}()

func registerCandleBenchmarks() {
    // 4. CandleBuilder (1m) fed the pre-parsed trades in capture order.
    let pass = Pass(
        "candle/update", make: { CandleState() },
        validate: { s in
            s.closed == expectedClosedCandles && s.builder.droppedLateTrades == 0
                ? nil : "candle/update: \(s.closed) candles closed in one pass, expected \(expectedClosedCandles)"
        })
    Benchmark(pass.name, configuration: configuration(mean: pass)) { benchmark in
        let trades = BinanceCapture.shared.trades
        pass.resize(trades.count)
        pass.iterate(benchmark) { s, i in
            if !s.out.isEmpty { s.out.removeAll(keepingCapacity: true) }
            s.builder.add(trades[i], into: &s.out)
            s.closed &+= s.out.count
        }
    }
}

// MARK: - decimal/parse

func registerDecimalBenchmarks() {
    // 5. FixedDecimal.parse over every price and quantity string of the depth diffs, in order.
    final class Cursor: @unchecked Sendable { var next = 0 }
    let cursor = Cursor()
    Benchmark("decimal/parse", configuration: configuration(.mega)) { benchmark in
        let c = BinanceCapture.shared
        let n = c.decimalSpans.count
        var i = cursor.next
        var checksum: Int64 = 0
        var failures = 0
        c.decimalText.withUnsafeBytes { text in
            c.decimalSpans.withUnsafeBufferPointer { spans in
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations {
                    if i == n { i = 0 }
                    let s = spans[i]
                    i &+= 1
                    let start = Int(s.start)
                    switch FixedDecimal.parse(UnsafeRawBufferPointer(rebasing: text[start..<(start &+ Int(s.count))])) {
                    case .success(let v): checksum &+= v.mantissa &+ Int64(v.scale)
                    case .failure: failures &+= 1
                    }
                }
                benchmark.stopMeasurement()
            }
        }
        cursor.next = i
        blackHole(checksum)
        if failures > 0 { benchmark.error("decimal/parse: \(failures) strings rejected") }
    }
}
