// The live path's throughput (issue 20): how many frames per second one feed session sustains from
// the local exchange simulator at full speed into the bus, and the gateway's CPU per frame.
//
//   live-bench [trades|depth] [--frames N] [--warmup N] [--runs R] [--capture PATH]
//   live-bench simulate trades|depth [--capture PATH]      (the child process; see below)
//
// The simulator runs in a child process (`live-bench simulate …`, started by the bench itself), so
// its CPU is not counted as the gateway's: it plays a Binance BTCUSDT excerpt (trades: the capture's
// trade frames; depth: its depth diffs and REST snapshot) at speed .infinity, looping (each pass a
// valid continuation of the one before), and prints its port. The bench runs one `LiveFeed` with one
// Binance BTC-USDT `FeedSession` (websocket → session → `FeedPipeline` → `MarketBus.publish`), counts
// the websocket records the pipeline processes, and after `--warmup` frames measures `--frames` more:
// wall time, its own CPU (getrusage) and the simulator's (/proc/PID/stat). See load-tests/README.md.

import Bus
import ExchangeSimulator
import Feeds
import Foundation
import Logging
import MarketCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One line on stdout, written at once (the bench reads the child's first line through a pipe).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func fail(_ text: String) -> Never {
    FileHandle.standardError.write(Data("live-bench: \(text)\n".utf8))
    exit(2)
}

enum Mode: String, Sendable {
    case trades, depth

    var defaultFrames: Int { self == .trades ? 200_000 : 20_000 }
    var defaultWarmup: Int { self == .trades ? 20_000 : 5_000 }

    /// Whether a capture record belongs to this mode's excerpt.
    func keeps(_ r: CaptureRecord) -> Bool {
        guard r.venue == .binance else { return false }
        switch r.kind {
        case .ws:
            let head = String(decoding: r.frame.prefix(80), as: UTF8.self)
            return head.contains(self == .trades ? "@trade\"" : "@depth")
        case .rest: return self == .depth
        default: return false
        }
    }
}

func defaultCapture() -> String {
    let relative = "Tests/Fixtures/binance/spot-btcusdt-2024-08-08.jsonl.gz"
    if FileManager.default.fileExists(atPath: relative) { return relative }
    // load-tests/live-bench/main.swift → the repository root.
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    return root + "/" + relative
}

// MARK: - CPU and load

/// User + system CPU seconds of this process.
func ownCPU() -> Double {
    var u = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
    return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
}

/// User + system CPU seconds of another process (/proc/PID/stat, clock-tick resolution).
func processCPU(_ pid: Int32) -> Double {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = text.lastIndex(of: ")")
    else { return 0 }
    // Fields after the command's closing parenthesis: state is field 3; utime 14, stime 15.
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let ut = Double(fields[11]), let st = Double(fields[12]) else { return 0 }
    return (ut + st) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// (busy, total) CPU seconds of the whole machine since boot (/proc/stat's first line).
func machineCPU() -> (busy: Double, total: Double) {
    guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8), let line = text.split(separator: "\n").first else {
        return (0, 0)
    }
    let v = line.split(separator: " ").dropFirst().compactMap { Double($0) }
    guard v.count >= 5 else { return (0, 0) }
    let total = v.reduce(0, +)
    let idle = v[3] + v[4]  // idle + iowait
    let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
    return ((total - idle) / hz, total / hz)
}

func loadAverage() -> String {
    (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

// MARK: - The simulator (child process)

func simulate(_ args: [String]) async -> Never {
    guard let first = args.first, let mode = Mode(rawValue: first) else { fail("simulate needs trades|depth") }
    var capture = defaultCapture()
    if let i = args.firstIndex(of: "--capture"), i + 1 < args.count { capture = args[i + 1] }
    let excerpt = FileManager.default.temporaryDirectory.appendingPathComponent("live-bench-\(getpid()).jsonl").path
    do {
        let reader = try CaptureReader(path: capture)
        let writer = try CaptureWriter(path: excerpt)
        while let r = try reader.next() {
            if mode.keeps(r) { try writer.write(r) }
        }
        try writer.close()
    } catch {
        fail("cannot write the \(mode) excerpt of \(capture): \(error)")
    }
    // A small ground-truth log: the run is long and nobody reads it.
    let sim = ExchangeSimulator(speed: .infinity, loop: true, frameLogLimit: 256)
    do {
        try sim.addVenue(.binance, captures: [excerpt])
        try await sim.start()
    } catch {
        fail("simulator: \(error)")
    }
    try? FileManager.default.removeItem(atPath: excerpt)
    say("port \(sim.port) frames \(sim.timelineFrames(venue: .binance).count)")
    // Ends when the bench closes our standard input (or dies).
    let done = Thread {
        while let _ = readLine() {}
        exit(0)
    }
    done.start()
    while true { try? await Task.sleep(for: .seconds(3600)) }
}

// MARK: - One run

struct RunResult {
    var frames: Int
    var wall: Double
    var gatewayCPU: Double
    var simulatorCPU: Double
    var othersBusy: Double
    var events: Int
    var load: String

    var framesPerSecond: Double { Double(frames) / wall }
    var gatewayMicros: Double { gatewayCPU / Double(frames) * 1e6 }
    var simulatorMicros: Double { simulatorCPU / Double(frames) * 1e6 }
}

/// Counts what the pipeline processes and takes the readings at the window's two ends.
final class Counting: Sendable {
    struct State {
        var frames = 0
        var events = 0
        var eventsAtStart = 0
        var start: (clock: ContinuousClock.Instant, cpu: Double, sim: Double, machine: (busy: Double, total: Double))?
        var result: RunResult?
    }
    let state = Mutex(State())
    let warmup: Int
    let measured: Int
    let simulator: Int32
    let finished: @Sendable () -> Void

    init(warmup: Int, measured: Int, simulator: Int32, finished: @escaping @Sendable () -> Void) {
        self.warmup = warmup
        self.measured = measured
        self.simulator = simulator
        self.finished = finished
    }

    func record(_ r: CaptureRecord) {
        guard r.kind == .ws else { return }
        let done: Bool = state.withLock { s in
            s.frames += 1
            if s.frames == warmup {
                s.eventsAtStart = s.events
                s.start = (ContinuousClock.now, ownCPU(), processCPU(simulator), machineCPU())
            } else if s.frames == warmup + measured, let start = s.start {
                let wall = seconds(ContinuousClock.now - start.clock)
                let cpu = ownCPU() - start.cpu
                let sim = processCPU(simulator) - start.sim
                let m = machineCPU()
                let busy = m.busy - start.machine.busy
                s.result = RunResult(
                    frames: measured, wall: wall, gatewayCPU: cpu, simulatorCPU: sim,
                    othersBusy: max(0, busy - cpu - sim) / wall, events: s.events - s.eventsAtStart, load: loadAverage())
                return true
            }
            return false
        }
        if done { finished() }
    }

    func event() { state.withLock { $0.events += 1 } }
}

func startSimulator(mode: Mode, capture: String?) -> (Process, Int, FileHandle) {
    let child = Process()
    child.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    child.arguments = ["simulate", mode.rawValue] + (capture.map { ["--capture", $0] } ?? [])
    let output = Pipe()
    let input = Pipe()
    child.standardOutput = output
    child.standardInput = input
    do { try child.run() } catch { fail("cannot start the simulator: \(error)") }
    // "port N frames M"
    var line = ""
    while !line.hasSuffix("\n") {
        let byte = output.fileHandleForReading.readData(ofLength: 1)
        if byte.isEmpty { fail("the simulator ended before printing its port") }
        line += String(decoding: byte, as: UTF8.self)
    }
    let parts = line.split(separator: " ")
    guard parts.count >= 2, let port = Int(parts[1].trimmingCharacters(in: .whitespacesAndNewlines)) else {
        fail("unexpected simulator line: \(line)")
    }
    return (child, port, input.fileHandleForWriting)
}

func runOnce(mode: Mode, warmup: Int, frames: Int, capture: String?, logger: Logger) async -> RunResult {
    let (child, port, childInput) = startSimulator(mode: mode, capture: capture)
    defer {
        try? childInput.close()
        child.waitUntilExit()
    }
    var settings = FeedSettings.defaults(for: .binance, symbols: ["BTC-USDT"])
    settings.channels = mode == .trades ? .trades : .book
    settings.wsURL = "ws://127.0.0.1:\(port)/binance/"
    settings.restURL = "http://127.0.0.1:\(port)/binance"
    settings.snapshotDelay = .milliseconds(20)
    settings.reconnectInitial = .milliseconds(100)
    let plan: VenueFeedPlan
    do { plan = try VenueFeedPlan(settings) } catch { fail("\(error)") }
    // What the gateway's live feed emits (ServeRun.replayOptions), into a bus with no subscriber.
    var options = PipelineOptions()
    options.emit = [.trades, .candles, .candleUpdates, .books, .status, .tickers]
    let feed = LiveFeed(feeds: [plan], options: options, logger: logger)
    let bus = MarketBus()
    let counting = Counting(warmup: warmup, measured: frames, simulator: child.processIdentifier) { feed.stop() }
    let run = Task {
        try await feed.run(record: { counting.record($0) }) { e in
            counting.event()
            bus.publish(e)
        }
    }
    // Bounded: a feed that never gets its frames must not hang the bench.
    let watchdog = Task {
        try await Task.sleep(for: .seconds(300))
        feed.stop()
    }
    do { try await run.value } catch { fail("feed: \(error)") }
    watchdog.cancel()
    guard let result = counting.state.withLock({ $0.result }) else {
        fail("only \(counting.state.withLock { $0.frames }) frames arrived within 300 s (wanted \(warmup + frames))")
    }
    return result
}

// MARK: - Main

func median(_ v: [Double]) -> Double {
    let s = v.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func format(_ x: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", x) }

func bench(_ args: [String]) async {
    var mode = Mode.trades
    var frames: Int?
    var warmup: Int?
    var runs = 1
    var capture: String?
    var i = 0
    func number() -> Int {
        let text = value()
        guard let n = Int(text), n > 0 else { fail("\(args[i - 1]): not a positive number: \(text)") }
        return n
    }
    func value() -> String {
        i += 1
        guard i < args.count else { fail("\(args[i - 1]) needs a value") }
        return args[i]
    }
    while i < args.count {
        switch args[i] {
        case "trades": mode = .trades
        case "depth": mode = .depth
        case "--frames": frames = number()
        case "--warmup": warmup = number()
        case "--runs": runs = number()
        case "--capture": capture = value()
        case "-h", "--help":
            print("usage: live-bench [trades|depth] [--frames N] [--warmup N] [--runs R] [--capture PATH]")
            exit(0)
        default: fail("unknown argument \(args[i])")
        }
        i += 1
    }
    var logger = Logger(label: "live-bench")
    logger.logLevel = .warning
    let n = frames ?? mode.defaultFrames
    let w = warmup ?? mode.defaultWarmup
    var results: [RunResult] = []
    for run in 1...max(1, runs) {
        let r = await runOnce(mode: mode, warmup: w, frames: n, capture: capture, logger: logger)
        results.append(r)
        // One JSON line per run (live-bench.sh reads these).
        say(
            "{\"mode\":\"\(mode.rawValue)\",\"run\":\(run),\"frames\":\(r.frames),\"wall_s\":\(format(r.wall, 4)),"
                + "\"frames_per_s\":\(Int(r.framesPerSecond)),\"gateway_cpu_us_per_frame\":\(format(r.gatewayMicros)),"
                + "\"simulator_cpu_us_per_frame\":\(format(r.simulatorMicros)),\"events\":\(r.events),"
                + "\"other_busy_cores\":\(format(r.othersBusy)),\"loadavg\":\"\(r.load)\"}")
    }
    if results.count > 1 {
        func summary(_ name: String, _ v: [Double], _ digits: Int) -> String {
            "\(name) median \(format(median(v), digits)) (\(format(v.min()!, digits))–\(format(v.max()!, digits)))"
        }
        FileHandle.standardError.write(
            Data(
                ("\(mode.rawValue), \(results.count) runs of \(n) frames: "
                    + summary("frames/s", results.map(\.framesPerSecond), 0) + "; "
                    + summary("gateway µs CPU/frame", results.map(\.gatewayMicros), 2) + "; "
                    + summary("simulator µs CPU/frame", results.map(\.simulatorMicros), 2) + "; "
                    + summary("other busy cores", results.map(\.othersBusy), 2) + "\n").utf8))
    }
}

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "simulate" {
    await simulate(Array(arguments.dropFirst()))
} else {
    await bench(arguments)
}
exit(0)
