import Feeds
import MarketCore
import Storage

/// The real trades and closed 1m candles of one capture, replayed through the gateway's own
/// adapter and normalizer (`FeedPipeline`), as the store would receive them.
struct CaptureRows {
    var trades: [Trade] = []
    /// Closed 1m candles, one per bucket (the highest revision), oldest first.
    var candles: [Candle] = []
    /// Valid book snapshots (the normalizer's top-N, one a second), when asked for.
    var books: [BookSnapshot] = []

    init(path: String, books withBooks: Bool = false) throws {
        var options = PipelineOptions()
        options.emit = withBooks ? [.trades, .candles, .books] : [.trades, .candles]
        var books: [BookSnapshot] = []
        var replayer = FeedPipeline(options: options)
        var trades: [Trade] = []
        var latest: [Int64: Candle] = [:]
        try replayer.run(paths: [path]) { event in
            switch event {
            case .trade(let t):
                trades.append(t)
            case .bookSnapshot(let b) where b.valid:
                books.append(b)
            case .candle(let c) where c.closed && c.interval == .oneMinute:
                if let seen = latest[c.start.rawValue], seen.revision > c.revision { return }
                latest[c.start.rawValue] = c
            default:
                break
            }
        }
        self.trades = trades
        self.candles = latest.values.sorted { $0.start < $1.start }
        self.books = books
    }
}

/// N synthetic rows for one table as row lines (the COPY text the writer sends), made by cycling
/// the capture's rows: copy `k` of a real row is shifted by `k × span` (the capture's span,
/// rounded up to whole minutes so candle buckets stay aligned) and, for trades, a new id: the
/// venue's numeric id plus `k ×` the capture's id range (ids keep increasing, as in a live feed),
/// or `<venue id>-<k>` for non-numeric ids. No two rows share a key: every row written is new.
struct SyntheticRows {
    let table: StoreTable
    /// One row line per row, each ending in `\n`.
    let lines: [[UInt8]]
    /// Copies of the capture cycled through.
    let cycles: Int
    let span: Int64
    /// Time `StoreRowEncoder` took for all rows.
    let encodeSeconds: Double

    static func trades(from real: [Trade], count: Int) -> SyntheticRows {
        precondition(!real.isEmpty, "the capture holds no trades")
        let span = wholeMinutes(real.map(\.eventTime.rawValue))
        // Numeric venue ids (Binance) continue the venue's own sequence, so every copy's ids are
        // new and increasing as in a live feed; any other id gets a `-<copy>` suffix.
        let numbers = real.compactMap { t -> Int64? in if case .number(let n) = t.id { n } else { nil } }
        let idRange = numbers.count == real.count ? numbers.max()! - numbers.min()! + 1 : nil
        var events: [MarketEvent] = []
        events.reserveCapacity(count)
        for i in 0..<count {
            let k = i / real.count
            var t = real[i % real.count]
            if let idRange, case .number(let n) = t.id {
                t.id = .number(n + Int64(k) * idRange)
            } else {
                t.id = .text("\(t.id)-\(k)")
            }
            t.eventTime = UnixNanos(t.eventTime.rawValue + Int64(k) * span)
            t.receiveTime = UnixNanos(t.receiveTime.rawValue + Int64(k) * span)
            events.append(.trade(t))
        }
        return encode(events, table: .trades, cycles: (count + real.count - 1) / real.count, span: span)
    }

    static func candles(from real: [Candle], count: Int) -> SyntheticRows {
        precondition(!real.isEmpty, "the capture holds no closed 1m candles")
        let span = wholeMinutes(real.map(\.start.rawValue))
        var events: [MarketEvent] = []
        events.reserveCapacity(count)
        for i in 0..<count {
            let k = i / real.count
            var c = real[i % real.count]
            c.start = UnixNanos(c.start.rawValue + Int64(k) * span)
            events.append(.candle(c))
        }
        return encode(events, table: .candles1m, cycles: (count + real.count - 1) / real.count, span: span)
    }

    static func snapshots(from real: [BookSnapshot], count: Int) -> SyntheticRows {
        precondition(!real.isEmpty, "the capture holds no valid book snapshots")
        let span = wholeMinutes(real.map(\.time.rawValue))
        var events: [MarketEvent] = []
        events.reserveCapacity(count)
        for i in 0..<count {
            let k = i / real.count
            var b = real[i % real.count]
            b.time = UnixNanos(b.time.rawValue + Int64(k) * span)
            events.append(.bookSnapshot(b))
        }
        return encode(events, table: .bookSnapshots, cycles: (count + real.count - 1) / real.count, span: span)
    }

    /// Row lines through the gateway's `StoreRowEncoder` (timed: the writer's input costs this
    /// much before any database work).
    private static func encode(_ events: [MarketEvent], table: StoreTable, cycles: Int, span: Int64) -> SyntheticRows {
        var encoder = StoreRowEncoder()
        var lines: [[UInt8]] = []
        lines.reserveCapacity(events.count)
        let clock = ContinuousClock()
        let start = clock.now
        for event in events {
            guard let encoded = encoder.encode(event), encoded.table == table else {
                fatalError("StoreBench: an event was not encoded for the \(table) table")
            }
            lines.append(encoded.line)
        }
        let elapsed = clock.now - start
        return SyntheticRows(table: table, lines: lines, cycles: cycles, span: span, encodeSeconds: elapsed.seconds)
    }

    /// From the first time to one minute past the last, rounded up to whole minutes.
    static func wholeMinutes(_ times: [Int64]) -> Int64 {
        let minute: Int64 = 60_000_000_000
        let covered = times.max()! - times.min()! + minute
        return (covered + minute - 1) / minute * minute
    }

    var count: Int { lines.count }

    /// The first `rows` rows in batches of `size` rows (the last one may be shorter).
    func batches(size: Int, rows: Int? = nil) -> [RowBatch] {
        let n = min(rows ?? lines.count, lines.count)
        var out: [RowBatch] = []
        var batch = RowBatch(table: table)
        for line in lines[0..<n] {
            batch.append(line: line)
            if batch.rows == size {
                out.append(batch)
                batch = RowBatch(table: table)
            }
        }
        if !batch.isEmpty { out.append(batch) }
        return out
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
