import Bus
import Cluster
import Foundation
import MarketCore
import NATS
import NIOCore
import Synchronization
import Testing
import _TestSupport

final class Frames: BusSink {
    let list = Mutex<[BusFrame]>([])
    func receive(_ frame: BusFrame) { list.withLock { $0.append(frame) } }
    var all: [BusFrame] { list.withLock { $0 } }
}

@Suite("Cluster envelope and roles")
struct ClusterEnvelopeTests {
    @Test func subjectsMirrorChannels() throws {
        #expect(ClusterEnvelope.subject(for: try ChannelName(parsing: "trades.binance.BTC-USDT")) == "md.trades.binance.BTC-USDT")
        #expect(ClusterEnvelope.subject(for: try ChannelName(parsing: "candles.1m.okx.BTC-USDT-SWAP")) == "md.candles.1m.okx.BTC-USDT-SWAP")
        #expect(ClusterEnvelope.subject(for: try ChannelName(parsing: "status.kraken")) == "md.status.kraken")
    }

    /// What the publisher sends decodes to the frame's own position, and the book's `data` is the
    /// object the JSON holds.
    @Test func aBookFrameRoundTrips() throws {
        let bus = MarketBus(bootID: "b0")
        let frames = Frames()
        bus.addSink(frames)
        bus.publish(Sample.book(bid: "100.10", ask: "100.30"))
        let f = try #require(frames.all.first)
        let message = NATSMessage(
            subject: ClusterEnvelope.subject(for: f.channel), headers: ClusterEnvelope.headers(for: f), payload: f.json)
        let d = try ClusterEnvelope.decode(message, channel: f.channel)
        #expect(d.seq == 1 && d.epoch == "b0" && d.type == "book_snapshot" && d.conflationBucket == 0)
        #expect(Array(d.json.readableBytesView) == Array(f.json.readableBytesView))
        let data = try #require(d.snapshotData)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(data)) as? [String: Any])
        #expect(parsed["best_bid"] as? String == "100.10" && parsed["best_ask"] as? String == "100.30")
        // A trade is neither conflatable nor a snapshot.
        bus.publish(Sample.trade(7))
        let t = try #require(frames.all.last)
        let th = ClusterEnvelope.headers(for: t)
        #expect(th[ClusterEnvelope.conflateHeader] == nil && th[ClusterEnvelope.snapshotHeader] == nil)
    }

    @Test(arguments: [
        (NATSHeaders(), "no headers"),
        (["MG-Seq": "x", "MG-Epoch": "e", "MG-Type": "trade"] as NATSHeaders, "MG-Seq"),
        (["MG-Seq": "0", "MG-Epoch": "e", "MG-Type": "trade"] as NATSHeaders, "MG-Seq"),
        (["MG-Seq": "1", "MG-Type": "trade"] as NATSHeaders, "MG-Epoch"),
        (["MG-Seq": "1", "MG-Epoch": "e"] as NATSHeaders, "MG-Type"),
        (["MG-Seq": "1", "MG-Epoch": "e", "MG-Type": "trade", "MG-Conflate": "z"] as NATSHeaders, "MG-Conflate"),
    ])
    func badEnvelopesAreRefused(_ headers: NATSHeaders, _ says: String) throws {
        let ch = try ChannelName(parsing: "trades.binance.BTC-USDT")
        let m = NATSMessage(subject: "md.trades.binance.BTC-USDT", headers: headers.isEmpty ? nil : headers, payload: ByteBuffer(string: "{}"))
        #expect {
            _ = try ClusterEnvelope.decode(m, channel: ch)
        } throws: { "\($0)".contains(says) }
    }

    @Test func aPayloadThatIsNotAnObjectIsRefused() throws {
        let ch = try ChannelName(parsing: "trades.binance.BTC-USDT")
        let m = NATSMessage(
            subject: "md.trades.binance.BTC-USDT", headers: ["MG-Seq": "1", "MG-Epoch": "e", "MG-Type": "trade"], payload: ByteBuffer(string: "hello"))
        #expect(throws: ClusterEnvelope.DecodeError.self) { _ = try ClusterEnvelope.decode(m, channel: ch) }
    }

    @Test func roles() throws {
        #expect(try ClusterRole.parse(["ingest,services,edge"]).get() == [.ingest, .services, .edge])
        #expect(try ClusterRole.parse(["edge"]).get() == [.edge])
        #expect(try ClusterRole.parse(["ingest", " edge "]).get() == [.ingest, .edge])
        func refusal(_ items: [String]) -> String {
            if case .failure(let e) = ClusterRole.parse(items) { return e.message }
            return ""
        }
        #expect(refusal(["ingest,egde"]) == "unknown role 'egde' (roles: ingest, services, edge)")
        #expect(refusal(["edge,edge"]).contains("twice"))
        #expect(refusal([""]).contains("no roles"))
        // A services node on its own is fed from NATS (ClusterServicesFeed).
        #expect(try ClusterRole.parse(["services"]).get() == [.services])
        #expect(try ClusterRole.parse(["services,edge"]).get() == [.services, .edge])
        // Each kind is published by one node: market kinds by ingest, private events and signals by services.
        #expect(ClusterRole.publishedKinds([.ingest]) == [.trades, .book, .candles, .ticker, .status])
        #expect(ClusterRole.publishedKinds([.services]) == [.signals, .executions, .mood])
        #expect(ClusterRole.publishedKinds([.edge]).isEmpty)
    }
}
