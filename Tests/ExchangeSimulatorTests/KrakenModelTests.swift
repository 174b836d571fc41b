import ExchangeSimulator
import Feeds
import Foundation
import MarketCore
import Normalizer
import Testing
import Venues
import _TestSupport

// The simulator's Kraken model against the recorded v1 stream, cross-checked with the gateway's own
// adapter and normalizer (a second, independent implementation) and with plain substring counts.

@Suite("Kraken model")
struct KrakenModelTests {
    static let fixture = "kraken/v1-trade-ticker-book-2021-04-17.jsonl.gz"
    static let pairs = ["WAVES/EUR", "XMR/USD", "KSM/XBT", "GRT/ETH", "SC/EUR", "ETH/CHF", "OCEAN/XBT", "OMG/USD", "XBT/CHF", "ADA/XBT"]

    /// The pair a v1 data array names last (`…,"book-1000","SC/EUR"]`), by string slicing.
    static func tailPair(_ frame: String) -> String {
        let body = frame.dropLast(2)  // `"]`
        return String(body[body.index(after: body.lastIndex(of: "\"")!)...])
    }

    /// Every frame's role matches what substrings say: snapshots have `{"as":`, other book arrays are
    /// updates, `,"trade","` arrays are trades (no ids), everything else is other.
    @Test func classificationMatchesSubstringCounts() throws {
        let frames = try Fixtures.records(Self.fixture).filter { $0.kind == .ws }.map(text)
        var model = KrakenModel()
        var roles: [FrameRole] = []
        for f in frames { roles.append(model.observe(frame: f)) }

        let isArray = { (f: String) in f.hasPrefix("[") }
        let expectedSnapshots = frames.filter { isArray($0) && $0.contains("{\"as\":") }
        let expectedDeltas = frames.filter { isArray($0) && $0.contains(",\"book-") && !$0.contains("{\"as\":") }
        let expectedTrades = frames.filter { isArray($0) && $0.contains(",\"trade\",\"") }
        let snapshots = roles.compactMap { if case .bookSnapshot(let s) = $0 { s } else { nil } }
        let deltas = roles.compactMap { if case .bookDelta(let s) = $0 { s } else { nil } }
        let trades = roles.compactMap { if case .trade(let s, let ids) = $0 { (s, ids) } else { nil } }

        #expect(!expectedSnapshots.isEmpty && expectedDeltas.count > 4000 && !expectedTrades.isEmpty)
        #expect(snapshots == expectedSnapshots.map(Self.tailPair))
        #expect(deltas == expectedDeltas.map(Self.tailPair))
        #expect(trades.map(\.0) == expectedTrades.map(Self.tailPair))
        #expect(trades.allSatisfy { $0.1.isEmpty })
        #expect(roles.count { $0 == .other } == frames.count - snapshots.count - deltas.count - trades.count)
        #expect(Set(snapshots) == Set(Self.pairs))
    }

    /// Right after the venue's own snapshot, the model's snapshot is that frame byte for byte: same
    /// channel id and name, levels best first, `[price, volume, timestamp]` strings as sent.
    @Test func snapshotAfterVenueSnapshotReproducesItExactly() throws {
        let snapshots = try Fixtures.records(Self.fixture).map(text).filter { $0.hasPrefix("[") && $0.contains("{\"as\":") }
        #expect(snapshots.count == Self.pairs.count)
        for frame in snapshots {
            var model = KrakenModel()
            _ = model.observe(frame: frame)
            #expect(model.snapshotFrames() == [frame])
        }
    }

    /// Mid-stream: the gateway reading the model's snapshots holds exactly the book it built from the
    /// original frames, and every later original update verifies its checksum against that book.
    @Test func midStreamSnapshotEqualsGatewayBookAndLaterChecksumsPass() throws {
        let records = try Fixtures.records(Self.fixture)
        let k = records.count / 2
        var model = KrakenModel()
        var reference = GatewayPipeline(.kraken)
        for r in records[..<k] {
            if r.kind == .ws { _ = model.observe(frame: text(r)) }
            reference.feed(r)
        }
        let frames = model.snapshotFrames()
        #expect(frames.count == Self.pairs.count)

        var synthesized = GatewayPipeline(.kraken)
        var instruments: [Instrument] = []
        for f in frames {
            let events = synthesized.feed(connection: "50", frame: Array(f.utf8), receiveTime: records[k - 1].receiveTime)
            guard events.count == 1, case .book(let u) = events[0], u.isSnapshot, u.depthLimit == 1000 else {
                Issue.record("not one snapshot: \(events) for \(f.prefix(120))")
                continue
            }
            instruments.append(u.instrument)
        }
        #expect(instruments.map(\.nativeSymbol).sorted() == Self.pairs.sorted())
        for instrument in instruments {
            let ref = try #require(reference.book(instrument))
            let syn = try #require(synthesized.book(instrument))
            #expect(reference.normalizer.synchronizer(for: instrument)?.isValid == true)
            #expect(synthesized.normalizer.synchronizer(for: instrument)?.isValid == true)
            #expect(!syn.bids.isEmpty && !syn.asks.isEmpty)
            #expect(syn.bids == ref.bids, "\(instrument)")
            #expect(syn.asks == ref.asks, "\(instrument)")
        }

        // The rest of the stream, after the synthesized snapshots.
        let checksBefore = synthesized.normalizer.counters.checksumChecks
        let remainingWithChecksum = records[k...].count { $0.kind == .ws && text($0).hasPrefix("[") && text($0).contains("\"c\":\"") }
        #expect(remainingWithChecksum > 1000)
        for r in records[k...] {
            synthesized.feed(r)
            reference.feed(r)
        }
        let counters = synthesized.normalizer.counters
        #expect(counters.checksumChecks - checksBefore == remainingWithChecksum)
        #expect(counters.checksumFailures == 0 && counters.bookGaps == 0 && counters.resyncs == 0)
        #expect(!synthesized.statuses.contains { $0.kind.name == "checksum_failed" || $0.kind.name == "parse_error" || $0.kind.name == "gap" })
        for instrument in instruments {
            let ref = try #require(reference.book(instrument))
            let syn = try #require(synthesized.book(instrument))
            #expect(syn.bids == ref.bids && syn.asks == ref.asks, "\(instrument)")
        }
    }

    /// A corrupted update differs from the original only inside the checksum string, keeps its
    /// length, and makes the gateway report `checksum_failed` for that pair.
    @Test func corruptedChecksumFailsInTheGateway() throws {
        let records = try Fixtures.records(Self.fixture)
        let model = KrakenModel()
        let j = try #require(records.indices.first { $0 > records.count / 3 && text(records[$0]).contains("\"c\":\"") })
        let original = text(records[j])
        let corrupted = try #require(model.corruptingChecksum(original))

        // Only characters inside the checksum value changed.
        #expect(corrupted.utf8.count == original.utf8.count && corrupted != original)
        let c = try #require(original.range(of: "\"c\":\"", options: .backwards))
        let valueStart = original.utf8.distance(from: original.startIndex, to: c.upperBound)
        let valueEnd = valueStart + original[c.upperBound...].prefix { $0 != "\"" }.utf8.count
        let differing = zip(original.utf8, corrupted.utf8).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
        #expect(!differing.isEmpty && differing.allSatisfy { (valueStart..<valueEnd).contains($0) })
        let newValue = String(corrupted.utf8.dropFirst(valueStart).prefix(valueEnd - valueStart))!
        #expect(UInt32(newValue) != nil)

        var pipeline = GatewayPipeline(.kraken)
        for r in records[..<j] { pipeline.feed(r) }
        #expect(pipeline.statuses.allSatisfy { $0.kind.name == "synced" })
        pipeline.feed(connection: records[j].connection, frame: Array(corrupted.utf8), receiveTime: records[j].receiveTime)
        let failed = pipeline.statuses.filter { $0.kind.name == "checksum_failed" }
        #expect(failed.count == 1)
        #expect(failed.first?.instrument?.nativeSymbol == Self.tailPair(original))

        // Nothing to corrupt in snapshots, trades, heartbeats.
        let snapshot = try #require(records.map(text).first { $0.contains("{\"as\":") })
        let trade = try #require(records.map(text).first { $0.contains(",\"trade\",\"") })
        #expect(model.corruptingChecksum(snapshot) == nil)
        #expect(model.corruptingChecksum(trade) == nil)
        #expect(model.corruptingChecksum("{\"event\":\"heartbeat\"}") == nil)
    }

    /// `book-N` keeps N levels a side: a better bid pushes the worst one out (no zero volume is sent for it).
    @Test func bookIsTruncatedToTheSubscribedDepth() throws {
        var model = KrakenModel()
        let snapshot = #"[7,{"as":[["5.2","1.0","1.1"],["5.1","2.0","1.2"],["5.3","3.0","1.3"]],"bs":[["4.9","1.0","1.4"],["4.8","2.0","1.5"],["4.7","3.0","1.6"]]},"book-2","XBT/USD"]"#
        #expect(model.observe(frame: snapshot) == .bookSnapshot(symbol: "XBT/USD"))
        #expect(
            model.snapshotFrames() == [#"[7,{"as":[["5.1","2.0","1.2"],["5.2","1.0","1.1"]],"bs":[["4.9","1.0","1.4"],["4.8","2.0","1.5"]]},"book-2","XBT/USD"]"#])
        let update = #"[7,{"b":[["4.95","0.5","1.7","r"]]},{"a":[["5.1","0.0","1.8"]],"c":"123"},"book-2","XBT/USD"]"#
        #expect(model.observe(frame: update) == .bookDelta(symbol: "XBT/USD"))
        // The removed 5.1 ask is not replaced by the 5.3 that fell out earlier (Kraken would push it again).
        #expect(
            model.snapshotFrames() == [#"[7,{"as":[["5.2","1.0","1.1"]],"bs":[["4.95","0.5","1.7"],["4.9","1.0","1.4"]]},"book-2","XBT/USD"]"#])
        // Updates for a pair with no snapshot are classified but not applied.
        #expect(model.observe(frame: #"[8,{"a":[["1","1","1"]]},"book-10","ETH/USD"]"#) == .bookDelta(symbol: "ETH/USD"))
        #expect(model.snapshotFrames().count == 1)
    }

    @Test func clientRequests() throws {
        let model = KrakenModel()
        let subscribe = #"{"event":"subscribe","pair":["XBT/USD","ETH/USD"],"subscription":{"name":"book","depth":1000},"reqid":5}"#
        #expect(model.classify(clientText: subscribe) == .subscribe([StreamTopic(.book, "XBT/USD"), StreamTopic(.book, "ETH/USD")]))
        #expect(model.classify(clientText: #"{"event":"ping","reqid":42}"#) == .ping(reply: #"{"event":"pong","reqid":42}"#))
        #expect(model.classify(clientText: #"{"event":"ping"}"#) == .ping(reply: #"{"event":"pong"}"#))
        #expect(
            model.classify(clientText: #"{"event":"unsubscribe","pair":["XBT/USD"],"subscription":{"name":"trade"}}"#)
                == .unsubscribe([StreamTopic(.trades, "XBT/USD")]))
        #expect(model.classify(clientText: #"{"event":"unsubscribe","pair":["XBT/USD"],"subscription":{"name":"ticker"}}"#) == .unsubscribe([]))
        #expect(model.classify(clientText: "ping") == .other)

        let refusal = model.subscriptionError(for: subscribe)
        let object = try #require(json(refusal) as? [String: Any])
        #expect(object["event"] as? String == "subscriptionStatus" && object["status"] as? String == "error")
        #expect(object["errorMessage"] as? String == "Currency pair not supported")
        #expect(object["pair"] as? String == "XBT/USD" && object["reqid"] as? Int == 5)
        let subscription = try #require(object["subscription"] as? [String: Any])
        #expect(subscription["name"] as? String == "book" && subscription["depth"] as? Int == 1000)
        #expect(json(model.subscriptionError(for: "garbage")) is [String: Any])

        // The gateway reads the refusal as a venue error.
        var pipeline = GatewayPipeline(.kraken)
        pipeline.feed(connection: "1", frame: Array(refusal.utf8), receiveTime: UnixNanos(1))
        #expect(pipeline.statuses.map(\.kind.name) == ["venue_error"])
        #expect(model.rest(path: "/0/public/Trades", query: ["pair": "XBTUSD"]) == nil)
    }
}
