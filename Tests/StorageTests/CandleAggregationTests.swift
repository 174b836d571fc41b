import MarketCore
import Storage
import Testing

private func t(_ iso: String) -> UnixNanos { UnixNanos.parseISO8601(iso)! }
private func d(_ text: String) -> WideDecimal { WideDecimal.parse(text)! }
private let fiveMinutes = Interval.fiveMinutes.nanoseconds
private let oneHour = Interval("1h")!
private let oneDay = Interval("1d")!

/// A part (5m unless said): prices `[open, high, low, close]`, sums as exact texts.
private func part(
    _ start: UnixNanos, _ prices: [String], volume: String = "0", quote: String = "0", trades: Int64 = 0,
    takerBuy: String = "0", revision: Int = 0, complete: Bool = true, venue: String = "binance", symbol: String = "BTC-USDT",
    interval: Interval = .fiveMinutes
) -> StoredCandle {
    let close = d(prices[3])
    let vol = d(volume)
    return StoredCandle(
        venue: venue, symbol: symbol, interval: interval, start: start, open: d(prices[0]), high: d(prices[1]),
        low: d(prices[2]), close: close, volume: vol, quoteVolume: d(quote), trades: trades,
        vwap: vol.isZero ? close : d(quote).divided(by: vol, roundingToFractionDigits: 10)!,
        takerBuyVolume: d(takerBuy), revision: revision, complete: complete)
}

/// An empty (no trades) 5m part at `price`.
private func flat(_ start: UnixNanos, _ price: String, complete: Bool = true) -> StoredCandle {
    part(start, [price, price, price, price], complete: complete)
}

private func at(_ base: UnixNanos, parts i: Int) -> UnixNanos { UnixNanos(base.rawValue + Int64(i) * fiveMinutes) }

/// The hour 2024-08-08T23:00Z as 12 parts: trades in parts 0, 1 and 11, parts 2...10 empty.
private func hourParts(_ h: UnixNanos, lastQuote: String = "73.75") -> [StoredCandle] {
    var parts = [
        part(h, ["100.00", "101.50", "99.50", "101.00"], volume: "0.5", quote: "50.25", trades: 3, takerBuy: "0.2"),
        part(at(h, parts: 1), ["101.00", "102.00", "100.75", "101.25"], volume: "0.75", quote: "76.0000000001",
             trades: 4, takerBuy: "0.5", revision: 2),
    ]
    for i in 2...10 { parts.append(flat(at(h, parts: i), "101.25")) }
    parts.append(part(at(h, parts: 11), ["101.25", "101.30", "98.00", "99.00"], volume: "0.75", quote: lastQuote,
                      trades: 2, revision: 1))
    return parts
}

@Suite("Candle aggregation (5m → 1h/1d)")
struct CandleAggregationTests {
    @Test func aggregatesAWholeHourExactly() throws {
        let h = t("2024-08-08T23:00:00Z")
        let out = try CandleAggregator(interval: oneHour).aggregate(hourParts(h))
        #expect(out.count == 1)
        let c = try #require(out.first)
        #expect(c.start == h && c.interval.name == "1h" && c.venue == "binance" && c.symbol == "BTC-USDT")
        #expect(c.open.description == "100.00")  // first part's open
        #expect(c.close.description == "99.00")  // last part's close
        #expect(c.high.description == "102.00")  // max(101.50, 102.00, 101.25, 101.30)
        #expect(c.low.description == "98.00")  // min(99.50, 100.75, 101.25, 98.00)
        // 0.5 + 0.75 + 9 × 0 + 0.75 = 2.00 (natural scale: 2 digits)
        #expect(c.volume.description == "2.00")
        // 50.25 + 76.0000000001 + 73.75 = 200.0000000001
        #expect(c.quoteVolume.description == "200.0000000001")
        // 200.0000000001 / 2.00 = 100.00000000005: a tie at digit 11; the kept digit 0 is even → down.
        #expect(c.vwap.description == "100.0000000000")
        #expect(c.trades == 9)  // 3 + 4 + 2
        #expect(c.takerBuyVolume.description == "0.7")  // 0.2 + 0.5
        #expect(c.revision == 2)  // max(0, 2, 0, 1)
        #expect(c.complete)  // 12 of 12 parts, all complete
        #expect(c.jsonLine.contains(#""interval":"1h","start":"2024-08-08T23:00:00Z","open":"100.00""#))
    }

    @Test func aHalfEvenTieWithAnOddKeptDigitRoundsUp() throws {
        let h = t("2024-08-08T23:00:00Z")
        // quote 50.25 + 76.0000000001 + 73.7500000002 = 200.0000000003; ÷ 2.00 = 100.00000000015:
        // a tie at digit 11, kept digit 1 is odd → up to 100.0000000002.
        let c = try #require(try CandleAggregator(interval: oneHour).aggregate(hourParts(h, lastQuote: "73.7500000002")).first)
        #expect(c.quoteVolume.description == "200.0000000003")
        #expect(c.vwap.description == "100.0000000002")
    }

    @Test func anHourWithElevenPartsOrAnIncompletePartIsIncomplete() throws {
        let h = t("2024-08-08T23:00:00Z")
        var eleven = hourParts(h)
        eleven.remove(at: 5)
        let a = try #require(try CandleAggregator(interval: oneHour).aggregate(eleven).first)
        #expect(!a.complete)
        #expect(a.volume == d("2") && a.trades == 9)  // the missing part was empty: sums unchanged

        var oneIncomplete = hourParts(h)
        oneIncomplete[7] = flat(at(h, parts: 7), "101.25", complete: false)
        let b = try #require(try CandleAggregator(interval: oneHour).aggregate(oneIncomplete).first)
        #expect(!b.complete)
    }

    @Test func bucketsAlignToWholeMultiplesOfTheIntervalSinceTheEpoch() throws {
        // 22:50, 22:55 | 23:00, 23:05 | (next day) 00:00 — given out of order.
        let parts = [
            part(t("2024-08-08T23:05:00Z"), ["4", "4", "4", "4"], volume: "1", quote: "4", trades: 1),
            part(t("2024-08-08T22:50:00Z"), ["1", "1", "1", "1"], volume: "1", quote: "1", trades: 1),
            part(t("2024-08-09T00:00:00Z"), ["5", "5", "5", "5"], volume: "1", quote: "5", trades: 1),
            part(t("2024-08-08T22:55:00Z"), ["2", "2", "2", "2"], volume: "1", quote: "2", trades: 1),
            part(t("2024-08-08T23:00:00Z"), ["3", "3", "3", "3"], volume: "1", quote: "3", trades: 1),
        ]
        let hours = try CandleAggregator(interval: oneHour).aggregate(parts)
        #expect(hours.map { $0.start.iso8601(fractionDigits: 0) } == ["2024-08-08T22:00:00Z", "2024-08-08T23:00:00Z", "2024-08-09T00:00:00Z"])
        #expect(hours.map(\.open.description) == ["1", "3", "5"])
        #expect(hours.map(\.close.description) == ["2", "4", "5"])
        // (1 + 2) / 2 = 1.5; (3 + 4) / 2 = 3.5
        #expect(hours.map(\.vwap.description) == ["1.5000000000", "3.5000000000", "5.0000000000"])
        #expect(hours.allSatisfy { !$0.complete })

        let days = try CandleAggregator(interval: oneDay).aggregate(parts)
        #expect(days.map { $0.start.iso8601(fractionDigits: 0) } == ["2024-08-08T00:00:00Z", "2024-08-09T00:00:00Z"])
        #expect(days.map(\.trades) == [4, 1])
        #expect(days.map(\.open.description) == ["1", "5"] && days[0].close.description == "4")
        #expect(try CandleAggregator(interval: oneDay).partsPerBucket == 288)
        #expect(try CandleAggregator(interval: oneHour).partsPerBucket == 12)
    }

    @Test func instrumentsAndRepeatedPartsAreKeptApart() throws {
        let h = t("2024-08-08T23:00:00Z")
        let parts = [
            part(h, ["1", "1", "1", "1"], volume: "1", quote: "1", trades: 1, symbol: "ETH-USDT"),
            part(h, ["2", "2", "2", "2"], volume: "1", quote: "2", trades: 1),
            // The same bucket twice: the higher revision is the one aggregated.
            part(h, ["3", "3", "3", "3"], volume: "2", quote: "6", trades: 2, revision: 1),
        ]
        let out = try CandleAggregator(interval: oneHour).aggregate(parts)
        #expect(out.map(\.symbol) == ["BTC-USDT", "ETH-USDT"])
        #expect(out[0].trades == 2 && out[0].open == d("3") && out[0].revision == 1)
    }

    @Test func emptyInputAndNoVolume() throws {
        #expect(try CandleAggregator(interval: oneHour).aggregate([]).isEmpty)
        let h = t("2024-08-08T23:00:00Z")
        let c = try #require(try CandleAggregator(interval: oneHour).aggregate((0..<12).map { flat(at(h, parts: $0), "61000.5") }).first)
        #expect(c.vwap.description == "61000.5" && c.volume.isZero && c.trades == 0 && c.complete)
    }

    @Test func overflowIsReportedNotTrapped() throws {
        let h = t("2024-08-08T23:00:00Z")
        let big = WideDecimal(mantissa: Int128.max / 2 + 1, scale: 0, displayScale: 0)
        var a = flat(h, "1")
        var b = flat(at(h, parts: 1), "1")
        a.volume = big
        b.volume = big
        #expect(throws: CandleAggregationError.overflow(venue: "binance", symbol: "BTC-USDT", interval: oneHour, start: h, field: "volume")) {
            try CandleAggregator(interval: oneHour).aggregate([a, b])
        }
        a = flat(h, "1")
        b = flat(at(h, parts: 1), "1")
        a.trades = .max
        b.trades = 1
        #expect(throws: CandleAggregationError.self) { try CandleAggregator(interval: oneHour).aggregate([a, b]) }
    }

    @Test func unservableIntervalsAreRejected() throws {
        for name in ["2m", "30s", "5m", "1m", "7m"] {
            #expect(throws: CandleAggregationError.unsupportedInterval(Interval(name)!)) {
                try CandleAggregator(interval: Interval(name)!)
            }
        }
        #expect(try CandleAggregator(interval: Interval("15m")!).partsPerBucket == 3)
        #expect(throws: CandleAggregationError.wrongPartInterval(expected: .fiveMinutes, got: .oneMinute)) {
            var c = flat(t("2024-08-08T23:00:00Z"), "1")
            c.interval = .oneMinute
            return try CandleAggregator(interval: oneHour).aggregate([c])
        }
    }
}

/// An in-memory store with the ``CandleQuery`` semantics (limit capped at maxLimit, as a store may).
private actor FakeStore: MarketStore {
    nonisolated let backend = StoreBackend.sqlite
    let rows: [StoredCandle]
    private(set) var reads: [CandleQuery] = []

    init(_ rows: [StoredCandle]) { self.rows = rows.sorted { $0.start < $1.start } }

    func migrate() async throws -> MigrationReport { MigrationReport(backend: .sqlite, applied: [], skipped: []) }
    func write(_ batch: RowBatch) async throws {}
    func latestBookSnapshot(venue: String, symbol: String) async throws -> StoredBookSnapshot? { nil }
    func count(_ table: StoreTable) async throws -> Int { rows.count }
    func close() async {}

    func candles(_ q: CandleQuery) async throws -> [StoredCandle] {
        reads.append(q)
        let match = rows.filter { (c: StoredCandle) -> Bool in
            c.venue == q.venue && c.symbol == q.symbol && c.interval == q.interval
                && c.start >= (q.from ?? UnixNanos(.min)) && c.start < (q.to ?? UnixNanos(.max))
        }
        let limit = min(q.limit, CandleQuery.maxLimit)
        return q.from == nil ? Array(match.suffix(limit)) : Array(match.prefix(limit))
    }
}

@Suite("MarketStore.ohlcv")
struct OHLCVTests {
    /// 20 whole days of 1m parts (28,800 rows, several read pages) from 2024-08-01 (the store's
    /// 1h/1d come from the 1m rows); each part has one trade at the day number, so a day's
    /// aggregate is easy to recognise.
    static let start = t("2024-08-01T00:00:00Z")
    static func days(_ n: Int) -> [StoredCandle] {
        (0..<(n * 1440)).map { i in
            let price = String(i / 1440 + 1)
            return part(
                UnixNanos(start.rawValue + Int64(i) * Interval.oneMinute.nanoseconds), [price, price, price, price], volume: "1",
                quote: price, trades: 1, interval: .oneMinute)
        }
    }
    static func day(_ n: Int) -> UnixNanos { UnixNanos(start.rawValue + Int64(n) * oneDay.nanoseconds) }

    @Test func oneAndFiveMinutesPassThrough() async throws {
        let store = FakeStore(Self.days(1))
        let q = CandleQuery(venue: "binance", symbol: "BTC-USDT", interval: .fiveMinutes, limit: 7)
        #expect(try await store.ohlcv(q).isEmpty)
        #expect(await store.reads == [q])
        let q1 = CandleQuery(venue: "binance", symbol: "BTC-USDT", interval: .oneMinute, limit: 7)
        #expect(try await store.ohlcv(q1).count == 7)
        #expect(await store.reads == [q, q1])
    }

    @Test func latestDaysPageBackwardOverSeveralReads() async throws {
        let store = FakeStore(Self.days(20))
        let out = try await store.ohlcv(CandleQuery(venue: "binance", symbol: "BTC-USDT", interval: oneDay, limit: 18))
        #expect(out.map(\.start) == (2..<20).map(Self.day))
        #expect(out.allSatisfy { $0.complete && $0.trades == 1440 })
        #expect(out.first?.open.description == "3" && out.last?.close.description == "20")
        #expect(await store.reads.count == 6)  // 5 × 5000 rows reach back into day 2, then the last 3800

        // `to` inside day 10: day 10 is whole (its start is before `to`), day 11 is not returned.
        let before = try await store.ohlcv(
            CandleQuery(venue: "binance", symbol: "BTC-USDT", interval: oneDay, to: UnixNanos(Self.day(10).rawValue + 1), limit: 3))
        #expect(before.map(\.start) == [Self.day(8), Self.day(9), Self.day(10)])
        #expect(before.allSatisfy { $0.complete })
    }

    @Test func fromIsWidenedToItsBucketAndLimitCountsBuckets() async throws {
        let store = FakeStore(Self.days(20))
        let from = UnixNanos(Self.day(1).rawValue + 3 * oneHour.nanoseconds)
        let out = try await store.ohlcv(CandleQuery(venue: "binance", symbol: "BTC-USDT", interval: oneDay, from: from, limit: 19))
        #expect(out.map(\.start) == (1..<20).map(Self.day))
        #expect(out.allSatisfy { $0.complete && $0.volume == d("1440") })

        let hours = try await store.ohlcv(
            CandleQuery(venue: "binance", symbol: "BTC-USDT", interval: oneHour, from: Self.day(19), to: Self.day(25), limit: 5000))
        #expect(hours.count == 24 && hours.allSatisfy(\.complete))
        let none = try await store.ohlcv(
            CandleQuery(venue: "binance", symbol: "BTC-USDT", interval: oneHour, from: Self.day(3), to: Self.day(3), limit: 5))
        #expect(none.isEmpty)
    }

    @Test func unservableIntervalsThrow() async throws {
        let store = FakeStore([])
        await #expect(throws: CandleAggregationError.unsupportedInterval(Interval("30s")!)) {
            try await store.ohlcv(CandleQuery(venue: "binance", symbol: "BTC-USDT", interval: Interval("30s")!))
        }
        await #expect(throws: CandleAggregationError.unsupportedInterval(Interval("90s")!)) {
            try await store.ohlcv(CandleQuery(venue: "binance", symbol: "BTC-USDT", interval: Interval("90s")!))
        }
    }
}
