// cluster-bench: what the cluster's NATS hop adds to an event's way to the fan-out (docs/nats.md).
//
//   swift run -c release cluster-bench [--count N] [--rate EVENTS_PER_S] [--in-process]
//
// Trades are published on one bus channel at a paced rate. With --in-process a sink on that same
// bus takes them (the one-process gateway: publish → fan-out's sink). Otherwise the bus is an
// ingest node's: ClusterPublisher → its own nats-server on loopback → ClusterEdge → an edge's bus,
// where the sink takes them. Latency: bus.publish call → the sink's receive, per event.
import Bus
import Cluster
import Foundation
import Histogram
import Logging
import NATSServerProcess
import MarketCore
import NATS
import Synchronization

var count = 100_000
var rate = 10_000
var inProcess = false
var i = 1
let arguments = CommandLine.arguments
while i < arguments.count {
    switch arguments[i] {
    case "--count": i += 1; count = Int(arguments[i])!
    case "--rate": i += 1; rate = Int(arguments[i])!
    case "--in-process": inProcess = true
    default: fatalError("unknown argument \(arguments[i]); see the header of load-tests/cluster-bench/main.swift")
    }
    i += 1
}

let origin = ContinuousClock.now
func now() -> Int64 {
    let (s, a) = (ContinuousClock.now - origin).components
    return s * 1_000_000_000 + a / 1_000_000_000
}

/// Arrival times by seq (1-based), written by the bus's delivery (one writer).
final class Arrivals: BusSink {
    let times: Mutex<[Int64]>
    let received = Atomic<Int>(0)
    init(_ n: Int) { times = Mutex([Int64](repeating: -1, count: n + 1)) }
    func receive(_ frame: BusFrame) {
        let t = now()
        times.withLock { if Int(frame.seq) < $0.count { $0[Int(frame.seq)] = t } }
        received.add(1, ordering: .relaxed)
    }
}


var logger = Logger(label: "cluster-bench")
logger.logLevel = .warning
let arrivals = Arrivals(count)
let ingest = MarketBus(bootID: "bench")
var server: Process?
var clients: [NATSClient] = []
var relay: Task<Void, any Error>?
var edge: ClusterEdge?
if inProcess {
    ingest.addSink(arrivals)
} else {
    let (process, url) = try startNATSServer(tool: "cluster-bench")
    server = process
    let publisherClient = try await NATSClient.connect(to: [url], logger: logger)
    let edgeClient = try await NATSClient.connect(to: [url], logger: logger)
    clients = [publisherClient, edgeClient]
    ingest.addSink(ClusterPublisher(client: publisherClient))
    let edgeBus = MarketBus(bootID: "edge")
    edgeBus.addSink(arrivals)
    let e = try await ClusterEdge(client: edgeClient, bus: edgeBus, logger: logger, bufferSize: count)
    edge = e
    relay = Task.detached { try await e.run() }
}
defer { server?.terminate() }

let instrument = Instrument(venue: .binance, base: "BTC", quote: "USDT", nativeSymbol: "BTCUSDT")
let price = try FixedDecimal(parsing: "61837.63")
let qty = try FixedDecimal(parsing: "0.00120")
var sent = [Int64](repeating: 0, count: count + 1)
let start = now()
for n in 1...count {
    if rate > 0 {
        let due = start + Int64(n - 1) * 1_000_000_000 / Int64(rate)
        while now() < due { try await Task.sleep(for: .microseconds(200)) }
    }
    let t = UnixNanos(1_700_000_000_000_000_000 + Int64(n) * 1000)
    let event = MarketEvent.trade(Trade(instrument: instrument, id: .number(Int64(n)), price: price, quantity: qty, side: .buy, eventTime: t, receiveTime: t))
    sent[n] = now()
    ingest.publish(event)
}
let deadline = now() + 30_000_000_000
while arrivals.received.load(ordering: .relaxed) < count, now() < deadline { try await Task.sleep(for: .milliseconds(5)) }
let times = arrivals.times.withLock { $0 }
var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
var received = 0
var last: Int64 = start
for n in 1...count where times[n] >= 0 {
    histogram.record(UInt64(max(0, times[n] - sent[n])))
    received += 1
    last = max(last, times[n])
}
let final = histogram
func micros(_ p: Double) -> String { String(format: "%.1f", Double(final.valueAtPercentile(p)) / 1000) }
print("cluster-bench \(inProcess ? "in-process bus" : "ingest → nats-server → edge"): \(received) of \(count) trades at \(rate == 0 ? "unpaced" : "\(rate)/s")")
print(String(format: "  delivered %.0f events/s over %.2f s", Double(received) / (Double(last - start) / 1e9), Double(last - start) / 1e9))
print("  latency µs (publish → the sink of \(inProcess ? "the same bus" : "the edge bus")): p50 \(micros(50)), p90 \(micros(90)), p99 \(micros(99)), p99.9 \(micros(99.9)), max \(String(format: "%.1f", Double(final.max) / 1000))")
if let edge { print("  edge: \(edge.stats)") }
relay?.cancel()
for c in clients { await c.close() }
