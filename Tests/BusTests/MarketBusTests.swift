import Bus
import Foundation
import MarketCore
import NIOCore
import Synchronization
import Testing
import _TestSupport

/// Collects what the bus hands a sink (as the fan-out shards see it).
final class CollectingSink: BusSink {
    let frames = Mutex<[BusFrame]>([])
    func receive(_ frame: BusFrame) { frames.withLock { $0.append(frame) } }
    var all: [BusFrame] { frames.withLock { $0 } }
}

@Suite("MarketBus")
struct MarketBusTests {
    let trades = ChannelName(kind: .trades, scope: "binance", symbol: "BTC-USDT")
    let book = ChannelName(kind: .book, scope: "binance", symbol: "BTC-USDT")

    @Test func framesCarryChannelSeqEpochAndTheReplayLine() throws {
        let bus = MarketBus(bootID: "boot")
        let sink = CollectingSink()
        bus.addSink(sink)
        let events = [Sample.trade(1), Sample.trade(2), Sample.book(bid: "100", ask: "101"), Sample.trade(3)]
        for e in events { bus.publish(e) }
        let frames = sink.all
        #expect(frames.map(\.channel.description) == [
            "trades.binance.BTC-USDT", "trades.binance.BTC-USDT", "book.binance.BTC-USDT", "trades.binance.BTC-USDT",
        ])
        // seq counts per channel.
        #expect(frames.map(\.seq) == [1, 2, 1, 3])
        for (f, e) in zip(frames, events) {
            let o = Sample.object(f.wire)
            #expect(o["ch"] as? String == f.channel.description)
            #expect((o["seq"] as? NSNumber)?.uint64Value == f.seq)
            #expect(o["epoch"] as? String == "boot")
            #expect(o["type"] as? String == e.typeName)
            // `data` is the replay line of the event (CONTRACTS.md: the same fields as the replay output).
            let data = try JSONSerialization.data(withJSONObject: o["data"] as Any, options: [.sortedKeys])
            let line = try JSONSerialization.data(
                withJSONObject: JSONSerialization.jsonObject(with: Data(e.jsonLine.utf8)), options: [.sortedKeys])
            #expect(data == line)
        }
    }

    @Test func websocketFramingIsRFC6455() {
        for size in [0, 125, 126, 65535, 65536, 70000] {
            let payload = [UInt8](repeating: 0x61, count: size)
            let f = WebSocketWire.frame(payload: payload)
            #expect(f.getInteger(at: 0, as: UInt8.self) == 0x81)
            let second = f.getInteger(at: 1, as: UInt8.self)!
            switch size {
            case ..<126: #expect(Int(second) == size)
            case ...65535:
                #expect(second == 126)
                #expect(Int(f.getInteger(at: 2, as: UInt16.self)!) == size)
            default:
                #expect(second == 127)
                #expect(Int(f.getInteger(at: 2, as: UInt64.self)!) == size)
            }
            #expect(WebSocketWire.payload(of: f).readableBytes == size)
        }
    }

    @Test func bookGapStartsANewEpochAnnouncedOnTheChannel() {
        let bus = MarketBus(bootID: "boot")
        let sink = CollectingSink()
        bus.addSink(sink)
        bus.publish(Sample.book(bid: "100", ask: "101"))
        bus.publish(Sample.status(.gap(.book), detail: "expected U=5, got 7"))
        bus.publish(Sample.book(bid: "100", ask: "102"))
        let onBook = sink.all.filter { $0.channel == book }
        #expect(onBook.map(\.seq) == [1, 2, 3])
        #expect(onBook[0].epoch == "boot")
        #expect(onBook[1].epoch != "boot")
        #expect(onBook[2].epoch == onBook[1].epoch)
        let reset = Sample.object(onBook[1].wire)
        let data = reset["data"] as? [String: Any]
        #expect(reset["type"] as? String == "status")
        #expect(data?["event"] as? String == "book_reset")
        #expect((data?["detail"] as? String)?.hasPrefix("gap: ") == true)
        // The venue status channel carries the original status.
        #expect(sink.all.contains { $0.channel.kind == .status && Sample.object($0.wire)["type"] as? String == "status" })
    }

    @Test func tradeGapMarksCandlesSuspectAndTradesWithANewEpoch() {
        let bus = MarketBus(bootID: "boot")
        let sink = CollectingSink()
        bus.addSink(sink)
        bus.publish(Sample.trade(1))
        bus.publish(Sample.status(.gap(.tradeIDs), detail: "trade ids 2...4 missing (3)"))
        let names = sink.all.map(\.channel.description)
        #expect(names.contains("candles.1m.binance.BTC-USDT"))
        #expect(names.contains("candles.5m.binance.BTC-USDT"))
        let suspect = sink.all.first { $0.channel.kind == .candles }!
        #expect((Sample.object(suspect.wire)["data"] as? [String: Any])?["event"] as? String == "candle_suspect")
        let tradeFrames = sink.all.filter { $0.channel == trades }
        #expect(tradeFrames.count == 2)
        #expect(tradeFrames[0].epoch != tradeFrames[1].epoch)
        // The book is not reset by a trade gap on Binance (its own book status would say so).
        #expect(!names.contains("book.binance.BTC-USDT"))
    }

    @Test func attachSendsTheCurrentSnapshotWithoutConsumingASeq() {
        let bus = MarketBus(bootID: "boot")
        bus.publish(Sample.book(bid: "100", ask: "101"))
        bus.publish(Sample.book(bid: "100", ask: "102"))
        let a = bus.attach(book)
        #expect(a.seq == 2)
        #expect(a.recovered)
        #expect(a.frames.count == 1)
        let o = Sample.object(a.frames[0])
        #expect((o["seq"] as? NSNumber)?.intValue == 2)
        #expect(o["type"] as? String == "book_snapshot")
        let asks = (o["data"] as? [String: Any])?["asks"] as? [[Any]]
        #expect((asks?.first?.first as? String) == "102")
        // Trades have no snapshot.
        bus.publish(Sample.trade(1))
        #expect(bus.attach(trades).frames.isEmpty)
        // An invalid book is never the snapshot a subscriber starts from; a reset clears it.
        bus.publish(Sample.status(.checksumFailed, detail: "want 1, got 2"))
        #expect(bus.attach(book).frames.isEmpty)
    }

    @Test func resumeReplaysHistoryWhenTheEpochMatches() {
        var options = MarketBus.Options()
        options.historyPerChannel = 5
        let bus = MarketBus(options: options, bootID: "boot")
        for i in 1...8 { bus.publish(Sample.trade(Int64(i))) }
        // Held: seq 4...8.
        let ok = bus.attach(trades, since: (seq: 5, epoch: "boot"))
        #expect(ok.recovered)
        #expect(ok.frames.map { (Sample.object($0)["seq"] as? NSNumber)?.intValue } == [6, 7, 8])
        let edge = bus.attach(trades, since: (seq: 3, epoch: "boot"))
        #expect(edge.recovered)
        #expect(edge.frames.count == 5)
        let upToDate = bus.attach(trades, since: (seq: 8, epoch: "boot"))
        #expect(upToDate.recovered && upToDate.frames.isEmpty)
        let tooOld = bus.attach(trades, since: (seq: 2, epoch: "boot"))
        #expect(!tooOld.recovered && tooOld.historyUnavailable && tooOld.frames.isEmpty)
        let otherEpoch = bus.attach(trades, since: (seq: 7, epoch: "yesterday"))
        #expect(!otherEpoch.recovered)
        let future = bus.attach(trades, since: (seq: 99, epoch: "boot"))
        #expect(!future.recovered)
    }

    @Test func resumeAcrossAnEpochChangeSendsAFreshSnapshot() {
        let bus = MarketBus(bootID: "boot")
        bus.publish(Sample.book(bid: "100", ask: "101"))
        bus.publish(Sample.status(.resync, detail: "gap"))
        bus.publish(Sample.book(bid: "99", ask: "100"))
        let a = bus.attach(book, since: (seq: 1, epoch: "boot"))
        #expect(!a.recovered)
        #expect(a.epoch != "boot")
        #expect(a.frames.count == 1)
        #expect((Sample.object(a.frames[0])["seq"] as? NSNumber)?.intValue == 3)
    }

    @Test func restartChangesEveryEpoch() {
        let a = MarketBus()
        let b = MarketBus()
        #expect(a.attach(trades).epoch != b.attach(trades).epoch)
    }
}

@Suite("BusSubscription")
struct BusSubscriptionTests {
    @Test func inProcessConsumerGetsEventsInOrder() async throws {
        let bus = MarketBus(bootID: "boot")
        let sub = bus.subscribe([try ChannelName(parsing: "trades.*.BTC-USDT")])
        for i in 1...50 { bus.publish(Sample.trade(Int64(i))) }
        bus.publish(Sample.book(bid: "1", ask: "2"))  // not matched
        sub.cancel()
        var seqs: [UInt64] = []
        var ids: [String] = []
        for try await m in sub {
            seqs.append(m.seq)
            if case .trade(let t) = m.event { ids.append(t.id.description) }
        }
        #expect(seqs == Array(1...50))
        #expect(ids == (1...50).map(String.init))
    }

    @Test func dropOldestCountsWhatWasMissed() async throws {
        let bus = MarketBus(bootID: "boot")
        let sub = bus.subscribe([try ChannelName(parsing: "trades.binance.BTC-USDT")], policy: .dropOldest, capacity: 10)
        for i in 1...25 { bus.publish(Sample.trade(Int64(i))) }
        sub.cancel()
        var got: [BusMessage] = []
        for try await m in sub { got.append(m) }
        #expect(got.map(\.seq) == Array(16...25))
        #expect(got.first?.missedBefore == 15)
        #expect(got.dropFirst().allSatisfy { $0.missedBefore == 0 })
        #expect(sub.droppedCount == 15)
    }

    @Test func latestOnlyKeepsTheNewestBookButEveryOtherEvent() async throws {
        let bus = MarketBus(bootID: "boot")
        let sub = bus.subscribe([try ChannelName(parsing: "book.binance.*")], policy: .latestOnly, capacity: 100)
        for i in 0..<10 { bus.publish(Sample.book(bid: "100", ask: "\(101 + i)")) }
        bus.publish(Sample.status(.gap(.book), detail: "x"))  // book_reset: never conflated
        bus.publish(Sample.book(bid: "100", ask: "200"))
        sub.cancel()
        var got: [BusMessage] = []
        for try await m in sub { got.append(m) }
        // The reset is kept; every book but the newest was replaced (the reset does not pin the old one).
        #expect(got.map(\.type) == ["status", "book_snapshot"])
        #expect(got.map(\.seq) == [11, 12])
        #expect(got[0].missedBefore == 10)
    }

    @Test func disconnectPolicyEndsTheSubscription() async throws {
        let bus = MarketBus(bootID: "boot")
        let sub = bus.subscribe([try ChannelName(parsing: "trades.binance.BTC-USDT")], policy: .disconnect, capacity: 3)
        for i in 1...4 { bus.publish(Sample.trade(Int64(i))) }
        await #expect(throws: BusOverflowError.self) {
            for try await _ in sub {}
        }
        #expect(bus.stats.sinks == 0)
    }

    @Test func slowSubscriberDoesNotHoldBackAnother() async throws {
        let bus = MarketBus(bootID: "boot")
        let slow = bus.subscribe([try ChannelName(parsing: "trades.*.*")], policy: .dropOldest, capacity: 4)
        let fast = bus.subscribe([try ChannelName(parsing: "trades.*.*")], policy: .dropOldest, capacity: 10_000)
        let reader = Task {
            var n = 0
            for try await _ in fast {
                n += 1
                if n == 5000 { break }
            }
            return n
        }
        for i in 1...5000 { bus.publish(Sample.trade(Int64(i))) }
        #expect(try await reader.value == 5000)
        #expect(slow.droppedCount == 4996)
        slow.cancel()
        fast.cancel()
    }
}
