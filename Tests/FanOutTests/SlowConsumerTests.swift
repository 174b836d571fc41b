import Bus
import FanOut
import Foundation
import MarketCore
import Synchronization
import Testing
import _TestSupport

/// Reads a client on its own thread, recording (channel, seq, conflated) of every data frame.
final class BackgroundReader: Sendable {
    let client: RawWebSocket
    typealias Frame = (ch: String, seq: Int, conflated: Bool, type: String, data: String)
    private let frames = Mutex<[Frame]>([])
    private let stopped = Atomic<Bool>(false)
    private let done = Mutex<CheckedContinuation<Void, Never>?>(nil)
    private let finished = Atomic<Bool>(false)

    init(_ client: RawWebSocket) {
        self.client = client
        Thread.detachNewThread { [self] in
            while !stopped.load(ordering: .relaxed) {
                guard let f = client.readJSON(timeout: 0.2) else { continue }
                if let ch = f.ch, let seq = f.seq {
                    let data = (try? JSONSerialization.data(withJSONObject: f["data"] ?? [:], options: [.sortedKeys])) ?? Data()
                    let frame = (ch, seq, f["conflated"] as? Bool ?? false, f.type ?? "", String(decoding: data, as: UTF8.self))
                    frames.withLock { $0.append(frame) }
                }
            }
            finished.store(true, ordering: .relaxed)
        }
    }

    var count: Int { frames.withLock { $0.count } }
    var all: [Frame] { frames.withLock { $0 } }

    func stop() async {
        stopped.store(true, ordering: .relaxed)
        while !finished.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(10)) }
    }
}

@Suite("Fan-out slow consumers")
struct SlowConsumerTests {
    static let subscribe = #"{"op":"subscribe","id":1,"channels":["trades.binance.BTC-USDT","book.binance.BTC-USDT"]}"#

    /// Publishes `n` events, `chunk` at a time, each chunk only once every fast reader has all
    /// before it (so the fast readers never fall behind and the pace needs no clock).
    static func publish(
        _ n: Int, chunk: Int = 50, readers: [BackgroundReader], bus: MarketBus, start: Int, make: (Int) -> MarketEvent,
        until stop: () -> Bool = { false }
    ) async throws -> Int {
        var published = start
        while published < start + n && !stop() {
            for _ in 0..<chunk {
                published += 1
                bus.publish(make(published))
            }
            let target = published
            try await eventually("fast readers at \(target)") { readers.allSatisfy { $0.count >= target } }
        }
        return published
    }

    @Test func slowClientIsConflatedThenClosedWith4008AndOthersGetEverything() async throws {
        var options = FanOutOptions()
        options.maxQueuedFrames = 1000
        options.writeBufferHighWater = 32 * 1024
        options.socketSendBuffer = 16 * 1024
        options.closeTimeout = .seconds(60)
        try await withFanOut(options: options) { bus, hub, port in
            let slow = try RawWebSocket(port: port, receiveBuffer: 4096)
            slow.send(Self.subscribe)
            #expect(slow.readJSON()?.type == "ack")
            var readers: [BackgroundReader] = []
            for _ in 0..<3 {
                let c = try RawWebSocket(port: port)
                c.send(Self.subscribe)
                #expect(c.readJSON()?.type == "ack")
                readers.append(BackgroundReader(c))
            }
            // Books first: the slow client's queue collapses them to the latest.
            var n = try await Self.publish(4000, readers: readers, bus: bus, start: 0) {
                Sample.book(bid: "100", ask: "\(101 + $0)", at: Int64($0))
            }
            #expect(hub.stats.framesConflated > 0)
            #expect(hub.stats.slowDisconnects == 0)
            // Trades are never dropped: past the limit the slow client is closed.
            n = try await Self.publish(50_000, readers: readers, bus: bus, start: n, make: { Sample.trade(Int64($0)) }) {
                hub.stats.slowDisconnects > 0
            }
            #expect(hub.stats.slowDisconnects == 1)
            // Every fast reader saw every event, in order, unconflated.
            for r in readers {
                let got = r.all
                #expect(got.count == n)
                let books = got.filter { $0.ch == "book.binance.BTC-USDT" }.map(\.seq)
                let trades = got.filter { $0.ch == "trades.binance.BTC-USDT" }.map(\.seq)
                #expect(books == Array(1...4000))
                #expect(trades == Array(1...(n - 4000)))
                #expect(!got.contains { $0.conflated })
                await r.stop()
            }
            // The slow client reads what reached it, then the close frame with 4008.
            var close: Int?
            var bookSeqs: [Int] = []
            var tradeSeqs: [Int] = []
            while let f = slow.readJSON(timeout: 20) {
                if let code = f["_close"] as? Int {
                    close = code
                    break
                }
                if f.ch == "book.binance.BTC-USDT" { bookSeqs.append(f.seq!) }
                if f.ch == "trades.binance.BTC-USDT" { tradeSeqs.append(f.seq!) }
            }
            #expect(close == 4008)
            #expect(bookSeqs == bookSeqs.sorted() && Set(bookSeqs).count == bookSeqs.count)
            // What it got of the trades is a gapless prefix.
            #expect(tradeSeqs == (0..<tradeSeqs.count).map { $0 + 1 })
        }
    }

    @Test func lateReaderGetsTheLatestBookMarkedConflated() async throws {
        var options = FanOutOptions()
        options.writeBufferHighWater = 16 * 1024
        options.socketSendBuffer = 16 * 1024
        try await withFanOut(options: options) { bus, hub, port in
            let slow = try RawWebSocket(port: port, receiveBuffer: 4096)
            slow.send(#"{"op":"subscribe","id":1,"channels":["book.binance.BTC-USDT"]}"#)
            #expect(slow.readJSON()?.type == "ack")
            let fast = try RawWebSocket(port: port)
            fast.send(#"{"op":"subscribe","id":1,"channels":["book.binance.BTC-USDT"]}"#)
            #expect(fast.readJSON()?.type == "ack")
            let reader = BackgroundReader(fast)
            _ = try await Self.publish(3000, readers: [reader], bus: bus, start: 0) {
                Sample.book(bid: "100", ask: "\(101 + $0)", at: Int64($0))
            }
            await reader.stop()
            #expect(hub.stats.framesConflated > 0)
            var seqs: [Int] = []
            var marked: [Int] = []
            var lastAsk: String?
            while let f = slow.readJSON(timeout: 2) {
                guard let s = f.seq else { continue }
                seqs.append(s)
                if f["conflated"] as? Bool == true { marked.append(s) }
                lastAsk = (f.dataObject?["asks"] as? [[Any]])?.first?.first as? String
            }
            // In order, ending at the latest book, with the jump signalled.
            #expect(seqs == seqs.sorted())
            #expect(seqs.last == 3000)
            #expect(lastAsk == "3101")
            #expect(seqs.count < 3000)
            #expect(!marked.isEmpty)
            for m in marked {
                let i = seqs.firstIndex(of: m)!
                #expect(i == 0 || seqs[i - 1] < m - 1)
            }
            #expect(hub.stats.slowDisconnects == 0)
        }
    }
}
