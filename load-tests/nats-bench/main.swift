// nats-bench: publish→receive throughput and latency through one nats-server over loopback, with
// one publishing and one subscribing connection of the NATS client (docs/nats.md).
//
//   swift run -c release nats-bench [--count N] [--payload BYTES] [--rate MSGS_PER_S] [--url nats://…]
//
// Without --url it starts its own nats-server on a random loopback port and stops it at the end.
// Each payload starts with its send time, so latency is publish call → subscriber's iterator.
import Foundation
import Histogram
import Logging
import NATSServerProcess
import NATS
import NIOCore

struct Options {
    var count = 200_000
    var payload = 128
    var rate = 0  // 0: as fast as the client takes them
    var url: String?

    init(_ arguments: [String]) {
        var i = 1
        func value() -> String {
            i += 1
            guard i < arguments.count else { fatalError("missing value for \(arguments[i - 1])") }
            return arguments[i]
        }
        while i < arguments.count {
            switch arguments[i] {
            case "--count": count = Int(value())!
            case "--payload": payload = max(8, Int(value())!)
            case "--rate": rate = Int(value())!
            case "--url": url = value()
            default: fatalError("unknown argument \(arguments[i]); see the header of load-tests/nats-bench/main.swift")
            }
            i += 1
        }
    }
}


let options = Options(CommandLine.arguments)
var logger = Logger(label: "nats-bench")
logger.logLevel = .warning
var server: Process?
let url: String
if let given = options.url {
    url = given
} else {
    let (process, started) = try startNATSServer(tool: "nats-bench")
    server = process
    url = started
}
defer { server?.terminate() }

let subscriber = try await NATSClient.connect(to: [url], logger: logger)
let publisher = try await NATSClient.connect(to: [url], logger: logger)
let subscription = try await subscriber.subscribe(subject: "bench.events", bufferSize: options.count)
let origin = ContinuousClock.now
func elapsedNanos() -> Int64 { (ContinuousClock.now - origin).nanosecondsValue }

// Detached: top-level code runs on the main actor, and the reader should not.
let receiver = Task.detached {
    var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    var received = 0
    var first: Int64 = 0
    for try await message in subscription {
        let now = elapsedNanos()
        if received == 0 { first = now }
        let sent = message.payload.getInteger(at: message.payload.readerIndex, as: Int64.self) ?? now
        histogram.record(UInt64(max(0, now - sent)))
        received += 1
        if received == options.count { return (histogram, received, first, now) }
    }
    return (histogram, received, first, elapsedNanos())
}

var fullBufferWaits = 0
let filler = [UInt8](repeating: 0x61, count: options.payload - 8)
let start = elapsedNanos()
for i in 0..<options.count {
    if options.rate > 0 {
        // Pace by the clock: publish when message i is due, sleeping in 1 ms steps when ahead.
        let due = start + Int64(i) * 1_000_000_000 / Int64(options.rate)
        while elapsedNanos() < due { try await Task.sleep(for: .microseconds(500)) }
    }
    var buffer = ByteBufferAllocator().buffer(capacity: options.payload)
    buffer.writeInteger(elapsedNanos())
    buffer.writeBytes(filler)
    while true {
        do {
            try publisher.publish(subject: "bench.events", payload: buffer)
            break
        } catch let error as NATSError where error.code == .bufferFull {
            fullBufferWaits += 1
            try await publisher.flush()
        }
    }
}
try await publisher.flush()
let published = elapsedNanos()
let (histogram, received, _, last) = try await receiver.value
let seconds = Double(last - start) / 1e9
func micros(_ p: Double) -> String { String(format: "%.1f", Double(histogram.valueAtPercentile(p)) / 1000) }
print("nats-bench: \(received) of \(options.count) messages, \(options.payload) B payload, rate \(options.rate == 0 ? "unpaced" : "\(options.rate)/s")")
print(String(format: "  throughput %.0f msgs/s (%.1f MB/s) over %.2f s", Double(received) / seconds, Double(received * options.payload) / seconds / 1e6, seconds))
print("  latency µs: p50 \(micros(50)), p90 \(micros(90)), p99 \(micros(99)), p99.9 \(micros(99.9)), max \(String(format: "%.1f", Double(histogram.max) / 1000))")
print(String(format: "  publish side alone: %.0f msgs/s (all published and flushed after %.2f s)", Double(options.count) / (Double(published - start) / 1e9), Double(published - start) / 1e9))
print("  dropped by subscriber: \(subscription.droppedMessages), publisher waits on a full buffer: \(fullBufferWaits)")
await publisher.close()
await subscriber.close()

extension Duration {
    var nanosecondsValue: Int64 {
        let (s, a) = components
        return s * 1_000_000_000 + a / 1_000_000_000
    }
}
