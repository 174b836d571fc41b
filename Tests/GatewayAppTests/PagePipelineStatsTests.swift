import Feeds
import Foundation
import MarketCore
import Normalizer
import Testing
import _TestSupport

/// The normalizer figures behind the ops page (`LiveFeed.pipelineStats`, exported by the ops
/// sampler): per venue they add up to the replay's totals, the books by validity are the books
/// the replay has, and candle revisions are the amended closes the replay printed.
@Suite("pipeline stats")
struct PagePipelineStatsTests {
    @Test func venueFiguresAddUpToTheReplaysOwn() throws {
        let feeds = Fixtures.repository("feeds")
        let files = try FileManager.default.contentsOfDirectory(atPath: feeds).filter { $0.hasSuffix(".jsonl.gz") }.sorted()
        #expect(files.count >= 3)
        var options = PipelineOptions()
        options.emit = [.trades, .candles, .books, .status]
        var replayer = FeedPipeline(options: options)
        var revisions = 0
        var booked: [Venue: Set<String>] = [:]
        try replayer.run(paths: files.map { "\(feeds)/\($0)" }) { e in
            switch e {
            case .candle(let c) where c.revision > 0: revisions += 1
            case .bookSnapshot(let b): booked[b.instrument.venue, default: []].insert(b.instrument.symbol)
            default: break
            }
        }
        let stats = replayer.stats
        let venues = replayer.venueStats()
        #expect(Set(venues.keys) == [.binance, .binanceUSDM, .coinbase])
        var total = NormalizerCounters()
        for v in venues.values { total.add(v.counters) }
        #expect(total == stats.counters)
        #expect(stats.candleRevisions == revisions)
        for (venue, symbols) in booked {
            let v = try #require(venues[venue])
            // Every instrument that published a book has one; at the end of the capture most are valid.
            #expect(v.validBooks + v.invalidBooks >= symbols.count, "\(venue): \(v) for \(symbols.sorted())")
            #expect(v.validBooks >= 1, "\(venue): \(v)")
        }
        #expect(venues[.binance]?.validBooks == 1 && venues[.binance]?.invalidBooks == 0)
    }
}
