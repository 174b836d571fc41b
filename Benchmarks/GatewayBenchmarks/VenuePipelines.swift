import Benchmark
import Feeds
import MarketCore
import Normalizer
import Venues

// pipeline/<venue>/replay: every line of a real recording through the venue's adapter and a
// MarketNormalizer (parse, book sync, checksum verification, book apply, snapshots, candles),
// one item = one capture line. Each pass starts from a fresh adapter and normalizer, so books are
// rebuilt from the recording's own snapshots; a pass is validated (no checksum failure, no gap,
// no parse error) before the next one starts.

/// A recording loaded once into memory.
struct VenueRecording: @unchecked Sendable {
    let venue: Venue
    let records: [CaptureRecord]

    static func load(_ relative: String, file: StaticString = #filePath) -> VenueRecording {
        var parts = "\(file)".split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        parts.removeLast(3)
        let path = parts.joined(separator: "/") + "/Tests/Fixtures/" + relative
        do {
            let reader = try CaptureReader(path: path)
            var records: [CaptureRecord] = []
            while let r = try reader.next() { records.append(r) }
            guard let first = records.first else { fatalError("GatewayBenchmarks: empty capture \(path)") }
            return VenueRecording(venue: first.venue, records: records)
        } catch {
            fatalError("GatewayBenchmarks: cannot load capture \(path): \(error)")
        }
    }
}

struct VenueReplayState {
    var adapter: any VenueAdapter
    var normalizer: MarketNormalizer
    var events: [VenueEvent] = eventBuffer()
    var out: [MarketEvent] = eventBuffer()
    var parseErrors = 0

    init(venue: Venue) {
        adapter = VenueAdapters.make(venue)!
        normalizer = MarketNormalizer(venue: venue, tradeIDsAreContiguous: adapter.tradeIDsAreContiguous)
    }
}

func registerVenueReplay(_ name: String, _ recording: @escaping @Sendable () -> VenueRecording) {
    let pass = Pass(
        name, make: { VenueReplayState(venue: recording().venue) },
        validate: { s in
            let c = s.normalizer.counters
            if c.checksumFailures > 0 || c.bookGaps > 0 || s.parseErrors > 0 {
                return "\(name): \(c.checksumFailures) checksum failures, \(c.bookGaps) gaps, \(s.parseErrors) parse errors"
            }
            return nil
        })
    Benchmark(name, configuration: configuration(mean: pass)) { benchmark in
        let records = recording().records
        pass.resize(records.count)
        pass.iterate(benchmark) { s, i in
            let r = records[i]
            s.events.removeAll(keepingCapacity: true)
            s.out.removeAll(keepingCapacity: true)
            r.frame.withUnsafeBytes { raw in
                s.adapter.handle(
                    kind: r.kind, url: r.url, connection: r.connection, frame: raw, receiveTime: r.receiveTime,
                    into: &s.events)
            }
            for e in s.events {
                if case .parseError = e { s.parseErrors += 1 }
                s.normalizer.handle(e, receiveTime: r.receiveTime, into: &s.out)
            }
            blackHole(s.out.count)
        }
    }
}

let krakenRecording = VenueRecording.load("kraken/v1-trade-ticker-book-2021-04-17.jsonl.gz")
let okxRecording = VenueRecording.load("okx/v5-books-l2-tbt-2021-07-22.jsonl.gz")
let bybitRecording = VenueRecording.load("bybit/v5-orderbook500-xrpusdt-2024-12-01.jsonl.gz")
let coinbaseRecording = VenueRecording.load("coinbase/exchange-level2-2021-04-17.jsonl.gz")

func registerVenueBenchmarks() {
    // Globals initialise lazily on first use, i.e. in the benchmark body, never at registration.
    registerVenueReplay("pipeline/kraken/replay") { krakenRecording }
    registerVenueReplay("pipeline/okx/replay") { okxRecording }
    registerVenueReplay("pipeline/bybit/replay") { bybitRecording }
    registerVenueReplay("pipeline/coinbase/replay") { coinbaseRecording }
}
