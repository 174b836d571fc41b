import Bus
import MarketCore
import NIOCore
import Synchronization
import Testing
import _TestSupport

/// Collects every frame a bus hands its sinks.
final class FrameLog: BusSink {
    let frames = Mutex<[BusFrame]>([])
    func receive(_ frame: BusFrame) { frames.withLock { $0.append(frame) } }
    var all: [BusFrame] { frames.withLock { $0 } }
}

/// `MarketBus.relay`: a second bus (a cluster edge) takes frames numbered and encoded elsewhere.
@Suite("Bus relay")
struct BusRelayTests {
    let trades = ChannelName(kind: .trades, scope: "binance", symbol: "BTC-USDT")

    func relay(_ f: BusFrame, into bus: MarketBus) -> MarketBus.RelayOutcome {
        bus.relay(
            channel: f.channel, seq: f.seq, epoch: f.epoch, type: f.type, json: f.json,
            conflationBucket: f.conflationKey?.bucket, snapshotData: nil)
    }

    @Test func relayedFramesKeepThePublishersNumbersAndBytes() {
        let source = MarketBus(bootID: "src")
        let log = FrameLog()
        source.addSink(log)
        for i in 1...5 { source.publish(Sample.trade(Int64(i))) }
        let edge = MarketBus(bootID: "edge")
        let seen = FrameLog()
        edge.addSink(seen)
        let outcomes = log.all.map { relay($0, into: edge) }
        #expect(outcomes == [.newEpoch, .delivered, .delivered, .delivered, .delivered])
        #expect(seen.all.map(\.seq) == [1, 2, 3, 4, 5])
        #expect(seen.all.allSatisfy { $0.epoch == "src" })
        #expect(seen.all.map { Array($0.wire.readableBytesView) } == log.all.map { Array($0.wire.readableBytesView) })
        // Resume on the edge with the publisher's position: frames 4 and 5, byte for byte.
        let a = edge.attach(trades, since: (seq: 3, epoch: "src"))
        #expect(a.recovered && a.seq == 5 && a.epoch == "src")
        #expect(a.frames.map { Array($0.readableBytesView) } == log.all.suffix(2).map { Array($0.wire.readableBytesView) })
        // A repeated frame is ignored.
        #expect(relay(log.all[4], into: edge) == .duplicate)
        #expect(seen.all.count == 5)
    }

    @Test func aGapRestartsTheHistorySoAResumeAcrossItIsRefused() {
        let source = MarketBus(bootID: "src")
        let log = FrameLog()
        source.addSink(log)
        for i in 1...6 { source.publish(Sample.trade(Int64(i))) }
        let edge = MarketBus(bootID: "edge")
        for f in log.all where f.seq != 3 && f.seq != 4 { _ = relay(f, into: edge) }
        // seq 3 and 4 never arrived: a client at 2 cannot be served without a hole.
        let lost = edge.attach(trades, since: (seq: 2, epoch: "src"))
        #expect(!lost.recovered && lost.historyUnavailable && lost.frames.isEmpty)
        let fine = edge.attach(trades, since: (seq: 5, epoch: "src"))
        #expect(fine.recovered && fine.frames.count == 1)
    }

    @Test func aRestartedPublisherStartsANewEpochThatClientsReceiveFromSeqOne() {
        let first = MarketBus(bootID: "one")
        let a = FrameLog()
        first.addSink(a)
        for i in 1...4 { first.publish(Sample.trade(Int64(i))) }
        let second = MarketBus(bootID: "two")
        let b = FrameLog()
        second.addSink(b)
        for i in 5...6 { second.publish(Sample.trade(Int64(i))) }
        let edge = MarketBus(bootID: "edge")
        let seen = FrameLog()
        edge.addSink(seen)
        for f in a.all + b.all { _ = relay(f, into: edge) }
        #expect(seen.all.map(\.seq) == [1, 2, 3, 4, 1, 2])
        #expect(seen.all.map(\.epoch) == ["one", "one", "one", "one", "two", "two"])
        // The new numbering gets its own channel id: a fan-out's per-client cursor at 4 must not drop seq 1 and 2.
        #expect(Set(seen.all.prefix(4).map(\.channelID)).isDisjoint(with: Set(seen.all.suffix(2).map(\.channelID))))
        #expect(edge.channels(matching: ChannelName(kind: .trades, scope: "*", symbol: "*")) == [trades])
        let old = edge.attach(trades, since: (seq: 4, epoch: "one"))
        #expect(!old.recovered)
        let now = edge.attach(trades, since: (seq: 1, epoch: "two"))
        #expect(now.recovered && now.frames.count == 1)
    }
}
