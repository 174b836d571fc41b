// The gateway's handler alone over the frames of a capture: the like-for-like peer of
// `cryptofeed_handler.py` (docs/performance.md, "Against cryptofeed, same run"). The capture is
// read and its `ws` frames decoded with Foundation before timing, as the Python script does with
// `json.loads`; then each frame goes through the venue's adapter (parse, normalize the trade) and
// the normalizer (dedup, trade-id gap check, 1m and 5m candles), and every event it produces is
// handed to a callback that counts trades, as cryptofeed's handler hands each trade to its
// callback. Nothing is printed per event. Prints CPU seconds of the loop alone (getrusage).
//
// usage: swift run -c release --package-path Benchmarks HandlerCPU CAPTURE.jsonl
import Foundation
import MarketCore
import Normalizer
import Venues

func cpuSeconds() -> Double {
    var r = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &r)
    return Double(r.ru_utime.tv_sec + r.ru_stime.tv_sec) + Double(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6
}

guard CommandLine.arguments.count == 2, let data = FileManager.default.contents(atPath: CommandLine.arguments[1]) else {
    FileHandle.standardError.write(Data("usage: HandlerCPU CAPTURE.jsonl (a plain, not gzip, capture)\n".utf8))
    exit(2)
}
var frames: [(frame: [UInt8], receiveTime: UnixNanos)] = []
var venue: Venue?
for line in data.split(separator: UInt8(ascii: "\n")) {
    guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any],
        object["kind"] as? String == "ws", let frame = object["frame"] as? String,
        let recv = (object["recv_ns"] as? NSNumber)?.int64Value, let v = object["venue"] as? String
    else { continue }
    if venue == nil { venue = Venue(v) }
    frames.append((Array(frame.utf8), UnixNanos(recv)))
}
guard let venue, VenueAdapters.make(venue) != nil else {
    FileHandle.standardError.write(Data("HandlerCPU: no ws frames of a known venue\n".utf8))
    exit(1)
}

/// The timed loop: what `FeedPipeline.process` does for each `ws` record (clock, adapter,
/// normalizer, events moved from one stage to the next), each produced event handed to `callback`.
func handleAll(
    _ frames: [(frame: [UInt8], receiveTime: UnixNanos)], adapter: inout any VenueAdapter,
    normalizer: inout MarketNormalizer, callback: (MarketEvent) -> Void
) {
    var venueEvents: [VenueEvent] = []
    var produced: [MarketEvent] = []
    for (frame, receiveTime) in frames {
        produced.removeAll(keepingCapacity: true)
        normalizer.advance(to: receiveTime, into: &produced)
        venueEvents.removeAll(keepingCapacity: true)
        frame.withUnsafeBytes { raw in
            adapter.handle(kind: .ws, url: nil, connection: nil, frame: raw, receiveTime: receiveTime, into: &venueEvents)
        }
        venueEvents.drain { normalizer.handle($0, receiveTime: receiveTime, into: &produced) }
        produced.drain { callback($0) }
    }
}

// PASSES=n (for a profile) repeats the loop with a fresh adapter and normalizer each time; the
// figures are per pass.
let passes = max(1, Int(ProcessInfo.processInfo.environment["PASSES"] ?? "") ?? 1)
/// `passes` loops over `frames`, each with a fresh adapter and normalizer; the last pass's counts.
/// (The counters are locals: globals captured by the callback would be checked for exclusive
/// access on every event, which is the harness's cost, not the gateway's.)
func run(_ frames: [(frame: [UInt8], receiveTime: UnixNanos)], venue: Venue, passes: Int) -> (trades: Int, candles: Int) {
    var trades = 0
    var candles = 0
    for _ in 0..<passes {
        var passAdapter = VenueAdapters.make(venue)!
        var normalizer = MarketNormalizer(venue: venue, tradeIDsAreContiguous: passAdapter.tradeIDsAreContiguous)
        trades = 0
        candles = 0
        // The callback: cryptofeed's counts trades; this one counts trades and closed candles.
        handleAll(frames, adapter: &passAdapter, normalizer: &normalizer) { e in
            switch e {
            case .trade: trades += 1
            case .candle: candles += 1
            default: break
            }
        }
    }
    return (trades, candles)
}

let startCPU = cpuSeconds()
let startWall = ContinuousClock.now
let (trades, candles) = run(frames, venue: venue, passes: passes)
let handlerCPU = (cpuSeconds() - startCPU) / Double(passes)
let wall = (ContinuousClock.now - startWall) / passes
let wallSeconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
func rounded(_ x: Double) -> String { String(format: "%.3f", x) }
print(
    #"{"frames": \#(frames.count), "trades": \#(trades), "closed_candles": \#(candles), "handler_cpu_s": \#(rounded(handlerCPU)), "handler_wall_s": \#(rounded(wallSeconds)), "process_cpu_s": \#(rounded(cpuSeconds()))}"#
)
