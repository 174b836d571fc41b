import Bus
import Cluster
import FanOut
import Feeds
import Foundation
import Logging
import MarketCore
import NATS
import NIOCore
import Services
import Synchronization
import Testing
import _TestSupport

/// A `services` node without `ingest` in the test process: its own NATS connection and bus, the
/// services suite fed by ``ClusterServicesFeed``, and a publisher of the services' kinds.
struct ServicesNode {
    let bus: MarketBus
    let suite: ServiceSuite
    let feed: ClusterServicesFeed
    let client: NATSClient
    let frames: Frames
    let tasks: [Task<Void, any Error>]

    static func start(nats: String, resolve: (@Sendable (String, String) -> Instrument?)?, logger: Logger) async throws -> ServicesNode {
        var busOptions = MarketBus.Options()
        busOptions.historyPerChannel = 100_000
        let bus = MarketBus(options: busOptions, bootID: "services-1")
        let frames = Frames()
        bus.addSink(frames)
        let client = try await NATSClient.connect(to: [nats], logger: logger)
        var options = ServiceOptions()
        options.marketFeeding = .relay
        let suite = ServiceSuite(options: options, bus: bus, store: nil, authority: nil, logger: logger)
        bus.addSink(ClusterPublisher(client: client, kinds: ClusterRole.publishedKinds([.services])))
        let market = suite.market
        let feed = try await ClusterServicesFeed(
            client: client, bus: bus, logger: logger, resolve: resolve, apply: { market.applyRelayed($0) },
            dropBooks: { market.dropBooks(venue: $0, symbol: $1) })
        try await suite.load()
        let relay = Task { try await feed.run() }
        let services = Task<Void, any Error> { await suite.run() }
        return ServicesNode(bus: bus, suite: suite, feed: feed, client: client, frames: frames, tasks: [relay, services])
    }

    func stop() async {
        for t in tasks { t.cancel() }
        await client.close()
    }
}

/// What the wire carries of an event: the fields JSON does not hold are taken from `like`, and times
/// are cut to the precision the venue's times are printed with (CONTRACTS.md "Times").
func wireView(_ e: MarketEvent, like original: MarketEvent) -> MarketEvent {
    switch (e, original) {
    case (.trade(var t), .trade(let o)):
        t.receiveTime = o.receiveTime
        t.stream = o.stream
        return .trade(t)
    case (.ticker(var t), .ticker(let o)):
        t.receiveTime = o.receiveTime
        t.updateID = o.updateID
        return .ticker(t)
    default:
        return e
    }
}

func cutTimes(_ e: MarketEvent) -> MarketEvent {
    func cut(_ t: UnixNanos, _ v: Venue) -> UnixNanos {
        var unit: Int64 = 1
        for _ in 0..<(9 - v.timeFractionDigits) { unit *= 10 }
        return t.floored(to: unit)
    }
    switch e {
    case .trade(var t):
        t.eventTime = cut(t.eventTime, t.instrument.venue)
        return .trade(t)
    case .bookSnapshot(var b):
        b.time = cut(b.time, b.instrument.venue)
        return .bookSnapshot(b)
    case .ticker(var t):
        t.eventTime = cut(t.eventTime, t.instrument.venue)
        return .ticker(t)
    case .status(var s):
        s.time = cut(s.time, s.venue)
        return .status(s)
    case .candle:
        return e
    }
}

/// The `data` object of a frame's JSON text, parsed by Foundation (independent of the gateway's decoder).
func dataObject(_ frame: BusFrame) -> [String: Any]? {
    let o = try? JSONSerialization.jsonObject(with: Data(frame.json.readableBytesView)) as? [String: Any]
    return o?["data"] as? [String: Any]
}

func decimal(_ s: String) -> Decimal { Decimal(string: s, locale: Locale(identifier: "en_US_POSIX"))! }

@Suite("Cluster: a services node fed over NATS", .serialized)
struct ClusterServicesTests {
    var logger: Logger {
        var l = Logger(label: "cluster-services-test")
        l.logLevel = .critical
        return l
    }

    /// Ingest, services and edge as three nodes: the services node gets every market frame with the
    /// ingest node's numbers and the values decoded; a paper buy fills at the best ask of the last
    /// book the ingest node published (read from that frame with JSONSerialization); the execution
    /// reaches the user's socket on the edge once; after a book gap the order is refused, then fills
    /// at the next valid book; a seq jump on the status channel drops the books; a frame whose data
    /// does not decode is counted and the relay goes on.
    @Test(.timeLimit(.minutes(3)))
    func aServicesNodeTradesOnRelayedBooksAndItsExecutionsReachTheEdge() async throws {
        let events = try capturedEvents(ClusterRelayTests.capture, limit: 3000)
        let instruments = Mutex<[String: Instrument]>([:])
        for e in events {
            if case .trade(let t) = e { instruments.withLock { $0["\(t.instrument.venue.id) \(t.instrument.symbol)"] = t.instrument } }
        }
        let logger = self.logger
        try await withNATSServer { server in
            let ingestClient = try await NATSClient.connect(to: [server.url], logger: logger)
            let ingest = MarketBus(bootID: "ingest-s")
            let truth = Frames()
            ingest.addSink(truth)
            let ingestPublisher = ClusterPublisher(client: ingestClient, kinds: ClusterRole.publishedKinds([.ingest]))
            ingest.addSink(ingestPublisher)
            let node = try await ServicesNode.start(
                nats: server.url, resolve: { v, s in instruments.withLock { $0["\(v) \(s)"] } }, logger: logger)
            let edge = try await EdgeNode.start(nats: server.url, name: "e", logger: logger)
            let alice = try RawWebSocket(port: edge.port)
            let authed = await onThread { () -> Bool in
                guard alice.send(#"{"op":"auth","id":9,"token":"token-alice"}"#) else { return false }
                while let o = alice.readJSON(timeout: 10) { if o["id"] as? Int == 9 { return o["type"] as? String != "error" } }
                return false
            }
            #expect(authed)
            #expect(await subscribe(alice, ["executions.alice"]) == ["executions.alice": true])

            for e in events { ingest.publish(e) }
            try await ingestClient.flush()
            let expected = truth.all.filter { ClusterEnvelope.ingestKinds.contains($0.channel.kind) }
            #expect(expected.count > 1000)
            #expect(await waitUntil(seconds: 30) { node.frames.all.count >= expected.count }, "relayed \(node.feed.stats)")
            let got = node.frames.all
            #expect(got.count == expected.count)
            // Same channel, position and bytes; the value decodes back to the event the ingest bus published.
            var decoded = 0
            var mismatches: [String] = []
            for (want, have) in zip(expected, got) {
                guard want.channel == have.channel, want.seq == have.seq, want.epoch == have.epoch,
                    want.json.readableBytesView.elementsEqual(have.json.readableBytesView)
                else {
                    mismatches.append("frame \(want.channel)#\(want.seq)")
                    continue
                }
                guard case .market(let original) = want.payload, case .market(let value) = have.payload else {
                    mismatches.append("no value: \(have.channel)#\(have.seq)")
                    continue
                }
                if wireView(value, like: original) != cutTimes(original) {
                    mismatches.append("\(have.channel)#\(have.seq): \(value) != \(original)")
                }
                decoded += 1
            }
            #expect(mismatches.isEmpty, "\(mismatches.prefix(3))")
            #expect(decoded == expected.count)
            #expect(Set(got.map(\.type)).isSuperset(of: ["trade", "book_snapshot", "candle"]))
            let stats = node.feed.stats
            #expect(stats.undecodable == 0 && stats.malformed == 0 && stats.gaps == 0)
            // The ingest node published market kinds only; nothing of the services reached it.
            #expect(ingestPublisher.stats.published == expected.count)

            // The last book of BTC-USDT the ingest node published, read with Foundation.
            let key = InstrumentKey(venue: "binance", symbol: "BTC-USDT")
            let lastBook = try #require(expected.last { $0.channel.description == "book.binance.BTC-USDT" && $0.type == "book_snapshot" })
            let lastData = try #require(dataObject(lastBook))
            #expect(lastData["valid"] as? Bool == true)
            let asks = try #require(lastData["asks"] as? [[String]])
            let bestAsk = decimal(asks[0][0])
            #expect(decimal(asks[0][1]) >= decimal("0.001"), "the best ask level holds the order")
            #expect(await waitUntil(seconds: 10) { node.suite.market.book(key) != nil })

            _ = try await node.suite.execution.createUser(id: "alice", name: "alice")
            _ = try await node.suite.execution.deposit(user: "alice", asset: node.suite.execution.options.cashAsset, amount: WideDecimal.parse("10000")!)
            let buy = OrderRequest(venue: "binance", symbol: "BTC-USDT", side: .buy, type: .market, quantity: WideDecimal.parse("0.001")!)
            let first = await node.suite.execution.execute(user: "alice", request: buy)
            guard case .accepted(_, let fills, nil, _, _) = first, let fill = fills.first else {
                Issue.record("the buy was not filled: \(first)")
                return
            }
            #expect(decimal(fill.price.description) == bestAsk)
            #expect(decimal(fill.qty.description) == decimal("0.001"))
            try await node.client.flush()
            let executions = await readData(alice, count: 1, seconds: 10)
            #expect(executions.count == 1 && executions.first?.ch == "executions.alice")
            if let e = executions.first {
                let o = try JSONSerialization.jsonObject(with: Data(e.text.utf8)) as? [String: Any]
                let data = o?["data"] as? [String: Any]
                #expect((data?["price"] as? String).map(decimal) == bestAsk)
            }
            #expect(await readData(alice, count: 1, seconds: 1).isEmpty, "the execution arrives once")

            // A book gap at the ingest node: the services node drops the book, the order is refused.
            let instrument = try #require(instruments.withLock { $0["binance BTC-USDT"] })
            guard case .market(.bookSnapshot(let book)) = lastBook.payload else { throw TestFailure("no book value") }
            let relayedBefore = node.feed.stats.relayed
            ingest.publish(
                .status(FeedStatus(kind: .gap(.book), venue: .binance, instrument: instrument, detail: "test: update ids lost", time: book.time)))
            try await ingestClient.flush()
            #expect(await waitUntil(seconds: 10) { node.feed.stats.relayed >= relayedBefore + 2 })
            #expect(node.suite.market.book(key) == nil)
            let refused = await node.suite.execution.execute(user: "alice", request: buy)
            guard case .rejected = refused else {
                Issue.record("an order after the gap was not refused: \(refused)")
                return
            }
            // The next valid book (its best ask level taken away, and any after it too small for
            // the order): the order fills at its best ask.
            let minimum = try #require(FixedDecimal("0.001"))
            let next = BookSnapshot(
                instrument: instrument, time: UnixNanos(book.time.rawValue + 1_000_000_000), bids: book.bids,
                asks: Array(book.asks.dropFirst().drop { $0.quantity < minimum }), valid: true)
            ingest.publish(.bookSnapshot(next))
            try await ingestClient.flush()
            let nextFrame = try #require(truth.all.last { $0.channel.description == "book.binance.BTC-USDT" })
            let nextLevel = try #require((dataObject(nextFrame)?["asks"] as? [[String]])?.first)
            let nextAsk = decimal(nextLevel[0])
            #expect(decimal(nextLevel[1]) >= decimal("0.001"))
            #expect(nextAsk > bestAsk)
            #expect(await waitUntil(seconds: 10) { node.suite.market.book(key) != nil })
            let second = await node.suite.execution.execute(user: "alice", request: buy)
            guard case .accepted(_, let fills2, nil, _, _) = second, let fill2 = fills2.first else {
                Issue.record("the buy at the next book was not filled: \(second)")
                return
            }
            #expect(decimal(fill2.price.description) == nextAsk)
            try await node.client.flush()
            let more = await readData(alice, count: 2, seconds: 5)
            #expect(more.count == 1, "exactly one more execution: \(more)")

            // Frames lost on the status channel (a raw publish that skips 3): the books go.
            let status = try #require(truth.all.last { $0.channel.description == "status.binance" })
            var headers = NATSHeaders()
            headers.append(name: "MG-Seq", value: String(status.seq + 4))
            headers.append(name: "MG-Epoch", value: status.epoch)
            headers.append(name: "MG-Type", value: "status")
            let synced = #"{"type":"status","venue":"binance","symbol":"BTC-USDT","ts":"2024-08-08T23:59:59.000Z","event":"synced","detail":"x"}"#
            let json = #"{"ch":"status.binance","seq":\#(status.seq + 4),"epoch":"\#(status.epoch)","type":"status","data":\#(synced)}"#
            try ingestClient.publish(subject: "md.status.binance", payload: ByteBuffer(string: json), headers: headers)
            try await ingestClient.flush()
            #expect(await waitUntil(seconds: 10) { node.feed.stats.gaps == 1 })
            #expect(node.suite.market.book(key) == nil)
            #expect(node.feed.stats.bookDrops >= 1)

            // A frame whose data does not decode: counted, relayed as bytes, the relay goes on.
            let trades = try #require(truth.all.last { $0.channel.kind == .trades })
            var h2 = NATSHeaders()
            h2.append(name: "MG-Seq", value: String(trades.seq + 1))
            h2.append(name: "MG-Epoch", value: trades.epoch)
            h2.append(name: "MG-Type", value: "trade")
            let bad = #"{"ch":"\#(trades.channel)","seq":\#(trades.seq + 1),"epoch":"\#(trades.epoch)","type":"trade","data":{"price":"x"}}"#
            try ingestClient.publish(subject: "md.\(trades.channel)", payload: ByteBuffer(string: bad), headers: h2)
            ingest.publish(.bookSnapshot(BookSnapshot(instrument: instrument, time: UnixNanos(next.time.rawValue + 1_000_000_000), bids: book.bids, asks: book.asks, valid: true)))
            try await ingestClient.flush()
            #expect(await waitUntil(seconds: 10) { node.feed.stats.undecodable == 1 && node.suite.market.book(key) != nil })
            alice.close()
            await edge.stop()
            await node.stop()
            await ingestClient.close()
        }
    }
}

@Suite("Cluster: a services node loses its NATS server", .serialized)
struct ClusterServicesDisconnectTests {
    /// The NATS server dies while the services node still has frames queued: it drops every book
    /// (no order fills on what it had), takes none of the queued ones, and takes books again only
    /// from frames received after the reconnect.
    @Test(.timeLimit(.minutes(2)))
    func aDisconnectDropsTheBooksUntilTheNextBookAfterTheReconnect() async throws {
        var logger = Logger(label: "cluster-services-disconnect")
        logger.logLevel = .critical
        let events = try capturedEvents(ClusterRelayTests.capture, limit: 3000)
        let key = InstrumentKey(venue: "binance", symbol: "BTC-USDT")
        try await withNATSServer { server in
            let ingestClient = try await NATSClient.connect(to: [server.url], logger: logger)
            let ingest = MarketBus(bootID: "ingest-d")
            let truth = Frames()
            ingest.addSink(truth)
            ingest.addSink(ClusterPublisher(client: ingestClient, kinds: ClusterRole.publishedKinds([.ingest])))
            let node = try await ServicesNode.start(nats: server.url, resolve: nil, logger: logger)
            for e in events { ingest.publish(e) }
            try await ingestClient.flush()
            #expect(await waitUntil(seconds: 20) { node.suite.market.book(key) != nil })
            let lastBook = try #require(truth.all.last { $0.channel.description == "book.binance.BTC-USDT" && $0.type == "book_snapshot" })
            guard case .market(.bookSnapshot(let book)) = lastBook.payload else { throw TestFailure("no book value") }

            server.kill()
            #expect(await waitUntil(seconds: 10) { node.suite.market.book(key) == nil }, "the book survived the disconnect")
            #expect(node.feed.stats.bookDrops >= 1)
            try server.start()
            #expect(await waitUntil(seconds: 20) { node.client.statistics.reconnects >= 1 && ingestClient.statistics.reconnects >= 1 })
            try await Task.sleep(for: .milliseconds(300))
            #expect(node.suite.market.book(key) == nil)
            // A book published after the reconnect is taken.
            let next = BookSnapshot(
                instrument: book.instrument, time: UnixNanos(book.time.rawValue + 1_000_000_000), bids: book.bids, asks: Array(book.asks.dropFirst()),
                valid: true)
            ingest.publish(.bookSnapshot(next))
            try await ingestClient.flush()
            #expect(await waitUntil(seconds: 10) { node.suite.market.book(key)?.asks.first == next.asks.first })
            #expect(node.feed.stats.bookDrops >= 1)
            await node.stop()
            await ingestClient.close()
        }
    }
}

/// `MarketEvent(type:data:)` on what every venue's replayed capture publishes: the value equals the
/// event (what JSON does not carry aside), it writes the same bytes again, and broken data is an
/// error, never a crash.
@Suite("Market events decoded from frame data")
struct MarketEventDecodeTests {
    static let captures = [
        "binance/spot-btcusdt-2024-08-08.jsonl.gz", "binance/coinm-multi-2021-07-22.jsonl.gz", "bybit/v5-orderbook1-2025-06-13.jsonl.gz",
        "coinbase/exchange-level2-2021-04-17.jsonl.gz", "kraken/v1-trade-ticker-book-2021-04-17.jsonl.gz", "okx/v5-books-trades-2022-05-13.jsonl.gz",
    ]

    @Test(arguments: captures)
    func everyEventOfACaptureRoundTrips(_ file: String) throws {
        var options = PipelineOptions()
        options.emit = [.trades, .candles, .candleUpdates, .books, .status, .tickers]
        var replayer = FeedPipeline(options: options)
        let reader = try CaptureReader(path: Fixtures.path(file))
        var events: [MarketEvent] = []
        while events.count < 4000, let r = try reader.next() { replayer.process(r) { events.append($0) } }
        #expect(events.count > 50)
        var types = Set<String>()
        for e in events {
            var w = JSONWriter()
            e.writeJSON(into: &w)
            let original: Instrument? = {
                switch e {
                case .trade(let t): t.instrument
                case .candle(let c): c.instrument
                case .bookSnapshot(let b): b.instrument
                case .ticker(let t): t.instrument
                case .status(let s): s.instrument
                }
            }()
            if let original {
                // The canonical symbol alone names the instrument (without its native symbol).
                #expect(MarketEvent.canonicalInstrument(venue: original.venue.id, symbol: original.symbol)?.symbol == original.symbol)
            }
            let decoded = try MarketEvent(type: e.typeName, data: w.bytes, instrument: { _, _ in original })
            #expect(wireView(decoded, like: e) == cutTimes(e), "\(e.jsonLine)")
            var again = JSONWriter()
            decoded.writeJSON(into: &again)
            #expect(again.bytes == w.bytes, "\(e.jsonLine)")
            types.insert(e.typeName)
        }
        #expect(types.contains("trade") || types.contains("book_snapshot"), "\(types)")
    }

    @Test(arguments: [
        ("trade", #"{"venue":"binance","symbol":"BTC-USDT","ts":"2024-08-08T00:00:00.000Z","id":"1","price":"x","qty":"1","side":"buy"}"#),
        ("trade", #"{"venue":"binance","symbol":"BTC-USDT","ts":"2024-08-08T00:00:00.000Z","id":"1","price":"1","qty":"1","side":"up"}"#),
        ("trade", #"{"venue":"binance","symbol":"BTCUSDT","ts":"2024-08-08T00:00:00.000Z","id":"1","price":"1","qty":"1","side":"buy"}"#),
        ("book_snapshot", #"{"venue":"binance","symbol":"BTC-USDT","ts":"2024-08-08T00:00:00.000Z","bids":[["1"]],"asks":[],"valid":true}"#),
        ("book_snapshot", #"{"venue":"binance","symbol":"BTC-USDT","ts":"2024-08-08T00:00:00.000Z","bids":[],"asks":[],"valid":true"#),
        ("status", #"{"venue":"binance","symbol":null,"ts":"2024-08-08T00:00:00.000Z","event":"nonsense","detail":""}"#),
        ("candle", #"{"venue":"binance","symbol":"BTC-USDT","interval":"1m"}"#),
        ("execution", #"{"user":"a"}"#),
        ("trade", ""),
    ])
    func brokenDataIsAnError(_ type: String, _ json: String) {
        #expect(throws: MarketEvent.DecodeError.self) { try MarketEvent(type: type, data: Array(json.utf8)) }
    }
}
