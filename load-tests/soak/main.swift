// The issue-5 soak run: the live pipeline (LiveFeed → FeedSession → FeedPipeline) against the local
// exchange simulator playing a real Binance BTCUSDT capture, with a fault injected every few
// seconds, checked against the simulator's ground truth (the same capture replayed
// uninterrupted through `FeedPipeline`).
//
//   swift run soak [--capture PATH] [--speed 1.1] [--fault-every 4] [--seed N] [--minutes M] [--verbose]
//                  [--check-model] [--dump]
//
// stdout: one JSON summary line. stderr: faults, progress every 30 s, offenders. Exit 0 only when
// no invalid book, no duplicated / lost / invented trade and no candle mismatch was found.
// See load-tests/README.md.

import ExchangeSimulator
import Feeds
import Foundation
import Logging
import MarketCore
import Normalizer
import Synchronization

// MARK: - Output

/// Seconds since the soak started (set once at startup, read by every task).
let soakStart = ContinuousClock.now

func note(_ text: String) {
    let elapsed = ContinuousClock.now - soakStart
    let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let line = "[\(wallClockNow().iso8601(fractionDigits: 3)) +\(String(format: "%7.2f", secs))s] \(text)\n"
    FileHandle.standardError.write(Data(line.utf8))
}

func fail(_ text: String) -> Never {
    FileHandle.standardError.write(Data("soak: \(text)\n".utf8))
    exit(2)
}

// MARK: - Options

struct SoakOptions: Sendable {
    var capture: String
    var speed = 1.1
    var faultEvery = 4.0
    var seed: UInt64 = 1
    var minutes: Double?
    var verbose = false
    var checkModel = false
    var dump = false
    /// No fault is injected closer than this (wall seconds) to the end of the timeline: a loss at
    /// the very end could not be noticed (no later trade or diff shows the gap).
    var quietTail = 15.0

    static let usage = """
        usage: soak [--capture PATH] [--speed 1.1] [--fault-every 4] [--seed N] [--minutes M] [--verbose]
                    [--check-model] [--dump]
          --capture PATH     Binance capture to play (default: Tests/Fixtures/binance/spot-btcusdt-2024-08-08.jsonl.gz)
          --speed X          capture seconds per wall second (default 1.1: the 650 s capture in ~10 min)
          --fault-every S    wall seconds between faults (default 4)
          --seed N           seed of the fault choice (default 1)
          --minutes M        play only the first M minutes of capture time (an excerpt in a temp file)
          --verbose          log the feed's info lines (connects, reconnects, backfills)
          --check-model      no live run: compare the simulator's Binance model book with the truth
                             replay's after every diff (a self-check of the ground truth), then exit
          --dump             after the run, list every live status and snapshot (with its verdict)
        """

    static func parse(_ args: [String]) -> SoakOptions {
        // load-tests/soak/main.swift → the repository root, for the default capture.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        var capture = "Tests/Fixtures/binance/spot-btcusdt-2024-08-08.jsonl.gz"
        if !FileManager.default.fileExists(atPath: capture) { capture = root + "/" + capture }
        var o = SoakOptions(capture: capture)
        var i = 1
        func value(_ name: String) -> String {
            i += 1
            guard i < args.count else { fail("\(name) needs a value\n\(usage)") }
            return args[i]
        }
        func number(_ name: String) -> Double {
            let text = value(name)
            guard let d = Double(text), d > 0, d.isFinite else { fail("\(name): not a positive number: \(text)") }
            return d
        }
        while i < args.count {
            switch args[i] {
            case "--capture": o.capture = value("--capture")
            case "--speed": o.speed = number("--speed")
            case "--fault-every": o.faultEvery = number("--fault-every")
            case "--seed":
                let text = value("--seed")
                guard let s = UInt64(text) else { fail("--seed: not an unsigned integer: \(text)") }
                o.seed = s
            case "--minutes": o.minutes = number("--minutes")
            case "--verbose": o.verbose = true
            case "--check-model": o.checkModel = true
            case "--dump": o.dump = true
            case "-h", "--help":
                print(usage)
                exit(0)
            default: fail("unknown argument \(args[i])\n\(usage)")
            }
            i += 1
        }
        return o
    }
}

/// A small seeded generator (SplitMix64), so a seed names a fault sequence.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: - Faults

enum FaultKind: String, CaseIterable, Sendable {
    case close = "close_connections"
    case silent = "go_silent"
    case dropDelta = "drop_book_delta"
    case dropFrames = "drop_20_frames"
    case serverShutdown = "server_shutdown"
    case rotation = "scheduled_rotation"
}

// MARK: - Live collection

/// Everything the live pipeline produced, collected from its record and event callbacks.
final class LiveCollector: Sendable {
    struct State {
        var events: [MarketEvent] = []
        /// The last websocket frames forwarded to the pipeline (the end-of-run wait looks here).
        var recentWS: [[UInt8]] = []
        var ringNext = 0
        var wsFrames = 0
        var trades = 0
        var snapshots = 0
        var reconnects = 0
        var rotations = 0
        var depthRequests = 0
        var tradeRequests = 0
    }

    let state = Mutex(State())
    static let ring = 512

    func record(_ r: CaptureRecord) {
        state.withLock { s in
            switch r.kind {
            case .ws:
                s.wsFrames += 1
                if s.recentWS.count < Self.ring {
                    s.recentWS.append(r.frame)
                } else {
                    s.recentWS[s.ringNext] = r.frame
                    s.ringNext = (s.ringNext + 1) % Self.ring
                }
            case .rest:
                if (r.url ?? "").contains("/depth") { s.depthRequests += 1 } else { s.tradeRequests += 1 }
            case .close:
                if r.frame.starts(with: Array("rotated to connection".utf8)) { s.rotations += 1 }
            default: break
            }
        }
    }

    func event(_ e: MarketEvent) {
        state.withLock { s in
            s.events.append(e)
            switch e {
            case .trade: s.trades += 1
            case .bookSnapshot: s.snapshots += 1
            case .status(let st) where st.kind == .reconnected: s.reconnects += 1
            default: break
            }
        }
    }

    func hasRecent(_ frame: [UInt8]) -> Bool {
        state.withLock { $0.recentWS.contains(frame) }
    }
}

/// Fault counts, shared by the fault task and the progress line.
final class FaultLog: Sendable {
    let counts = Mutex<[FaultKind: Int]>([:])
    func add(_ k: FaultKind) { counts.withLock { $0[k, default: 0] += 1 } }
    var total: Int { counts.withLock { $0.values.reduce(0, +) } }
    var snapshot: [FaultKind: Int] { counts.withLock { $0 } }
}

// MARK: - Ground truth

struct Truth {
    var events: [MarketEvent] = []
    /// Top 20 of the valid book at every snapshot boundary the uninterrupted replay crossed, keyed
    /// by boundary time: what the snapshot scheduler would publish there were it not for its
    /// "top unchanged since the last snapshot" rule (which depends on what was published before,
    /// so differs after a live resync).
    var tops: [Int64: (bids: [BookLevel], asks: [BookLevel])] = [:]
    /// Published truth snapshots that disagree with `tops` (a self-check of this program).
    var selfCheckMismatches = 0
}

/// The venue event time of a Binance depth diff (`T`, else `E`, in ms), or nil for other frames.
func depthEventTime(_ frame: [UInt8]) -> Int64? {
    let head = String(decoding: frame.prefix(160), as: UTF8.self)
    guard head.contains("\"e\":\"depthUpdate\"") else { return nil }
    func number(after key: String) -> Int64? {
        guard let r = head.range(of: key) else { return nil }
        let digits = head[r.upperBound...].prefix { $0.isNumber }
        return Int64(digits)
    }
    return number(after: "\"T\":") ?? number(after: "\"E\":")
}

func computeTruth(_ records: [CaptureRecord], options: PipelineOptions, interval: Int64, depth: Int) -> Truth {
    var truth = Truth()
    var replayer = FeedPipeline(options: options)
    var instrument: Instrument?
    var nextBoundary: Int64?
    for r in records {
        // The scheduler's rule (SnapshotScheduler.beforeUpdate), without its de-duplication: on each
        // depth diff, before it is applied, crossing a boundary shows the book as it is now.
        if r.kind == .ws, let ms = depthEventTime(r.frame) {
            let t = ms * 1_000_000
            let boundary = t - ((t % interval) + interval) % interval
            if let next = nextBoundary {
                if t >= next {
                    nextBoundary = boundary + interval
                    if let instrument, let sync = replayer.synchronizer(for: instrument), sync.isValid {
                        let top = sync.book.top(depth)
                        truth.tops[boundary] = (top.bids, top.asks)
                    }
                }
            } else {
                nextBoundary = boundary + interval
            }
        }
        replayer.process(r) { e in
            truth.events.append(e)
            if instrument == nil {
                switch e {
                case .trade(let t): instrument = t.instrument
                case .bookSnapshot(let s): instrument = s.instrument
                case .status(let s): instrument = s.instrument
                default: break
                }
            }
        }
    }
    replayer.finish { truth.events.append($0) }
    for case .bookSnapshot(let s) in truth.events {
        guard let t = truth.tops[s.time.rawValue], t.bids == s.bids, t.asks == s.asks else {
            truth.selfCheckMismatches += 1
            continue
        }
    }
    return truth
}

/// A closed candle's content, revision aside (the live feed amends; only the final state counts).
func candleContent(_ c: Candle) -> Candle {
    var c = c
    c.revision = 0
    return c
}

func finalCandles(_ events: [MarketEvent]) -> [String: Candle] {
    var out: [String: Candle] = [:]
    for case .candle(let c) in events where c.closed {
        out["\(c.instrument.symbol) \(c.interval.name) \(c.start.rawValue)"] = candleContent(c)
    }
    return out
}

/// The first level where two sides differ (the shorter length when one is a prefix of the other).
func firstDifference(_ a: [BookLevel], _ b: [BookLevel]) -> Int {
    for i in 0..<min(a.count, b.count) where a[i] != b[i] { return i }
    return min(a.count, b.count)
}

func tradeIDs(_ events: [MarketEvent]) -> [Int64] {
    events.compactMap { if case .trade(let t) = $0, case .number(let n) = t.id { n } else { nil } }
}

// MARK: - The run

enum Soak {
    static func run() async -> Int32 {
        let o = SoakOptions.parse(CommandLine.arguments)
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        var logger = Logger(label: "soak")
        logger.logLevel = o.verbose ? .info : .notice

        // 1. The capture (or its first M minutes).
        var records: [CaptureRecord] = []
        do {
            let reader = try CaptureReader(path: o.capture)
            while let r = try reader.next() {
                if r.venue == .binance { records.append(r) }
            }
        } catch {
            fail("cannot read \(o.capture): \(error)")
        }
        guard let first = records.first else { fail("\(o.capture): no binance records") }
        let t0 = first.receiveTime.rawValue
        if let m = o.minutes {
            let cut = t0 + Int64(m * 60e9)
            records = records.filter { $0.receiveTime.rawValue < cut }
        }
        // The simulator plays a capture file of its own: the excerpt.
        let capturePath = FileManager.default.temporaryDirectory.appendingPathComponent("soak-\(UUID().uuidString).jsonl").path
        do {
            let writer = try CaptureWriter(path: capturePath)
            for r in records { try writer.write(r) }
            try writer.close()
        } catch {
            fail("cannot write the excerpt \(capturePath): \(error)")
        }
        defer { try? FileManager.default.removeItem(atPath: capturePath) }
        let span = records.last!.receiveTime.rawValue - records.first!.receiveTime.rawValue
        let captureMinutes = Double(span) / 60e9
        let expectedWall = Double(span) / 1e9 / o.speed
        note(
            "soak: \(records.count) records, \(String(format: "%.2f", captureMinutes)) capture minutes at speed \(o.speed) "
                + "(~\(Int(expectedWall)) s), a fault every \(o.faultEvery) s, seed \(o.seed)")

        if o.checkModel {
            var model = BinanceModel(venue: .binance)
            for r in records where r.kind == .rest { model.prescanREST(url: r.url ?? "", body: String(decoding: r.frame, as: UTF8.self)) }
            var opts = PipelineOptions()
            opts.emit = [.status]
            var rp = FeedPipeline(options: opts)
            var instrument: Instrument?
            var checked = 0
            var bad = 0
            for r in records {
                if r.kind == .rest { model.observeREST(url: r.url ?? "", body: String(decoding: r.frame, as: UTF8.self)) }
                if r.kind == .ws { _ = model.observe(frame: String(decoding: r.frame, as: UTF8.self)) }
                rp.process(r) { e in if case .status(let st) = e, instrument == nil { instrument = st.instrument } }
                guard r.kind == .ws, depthEventTime(r.frame) != nil, let instrument, let sync = rp.synchronizer(for: instrument), sync.isValid,
                    let mb = model.book(symbol: "BTCUSDT")
                else { continue }
                let t = sync.book.top(20)
                let mbids = mb.levels(.bid, depth: 20).map { BookLevel(price: FixedDecimal($0.price)!, quantity: FixedDecimal($0.size)!) }
                let masks = mb.levels(.ask, depth: 20).map { BookLevel(price: FixedDecimal($0.price)!, quantity: FixedDecimal($0.size)!) }
                checked += 1
                if mbids != t.bids || masks != t.asks {
                    bad += 1
                    if bad <= 3 {
                        let i = firstDifference(t.bids, mbids)
                        note("model differs at line \(r.line): bid level \(i): truth \(i < t.bids.count ? "\(t.bids[i].price) \(t.bids[i].quantity)" : "-") model \(i < mbids.count ? "\(mbids[i].price) \(mbids[i].quantity)" : "-"); ask diff at \(firstDifference(t.asks, masks))")
                    }
                }
            }
            note("model check: \(checked) diffs checked, \(bad) differ")
            return bad == 0 ? 0 : 1
        }

        // 2. Ground truth: the same records replayed uninterrupted, with the live feed's options.
        var options = PipelineOptions()
        options.emit = [.trades, .candles, .books, .status]
        let truth = computeTruth(
            records, options: options, interval: options.normalizer.snapshotInterval, depth: options.normalizer.snapshotDepth)
        let truthTradeIDs = tradeIDs(truth.events)
        note(
            "truth: \(truthTradeIDs.count) trades, \(truth.tops.count) snapshot boundaries with a valid book, "
                + "\(truth.events.filter { if case .bookSnapshot = $0 { true } else { false } }.count) snapshots published")
        if truth.selfCheckMismatches > 0 {
            note("WARNING: \(truth.selfCheckMismatches) truth snapshots differ from the boundary tops (soak self-check)")
        }

        // 3. The simulator and the live feed.
        let sim = ExchangeSimulator(speed: o.speed)
        do {
            try sim.addVenue(.binance, captures: [capturePath])
            try await sim.start()
        } catch {
            fail("simulator: \(error)")
        }
        var settings = FeedSettings.defaults(for: .binance, symbols: ["BTC-USDT"])
        settings.channels = .all
        settings.wsURL = sim.wsURL(venue: .binance)
        settings.restURL = sim.restBaseURL(venue: .binance)
        settings.staleAfter = .seconds(1)
        settings.reconnectInitial = .milliseconds(100)
        settings.reconnectMax = .seconds(1)
        settings.snapshotDelay = .milliseconds(100)
        let plan: VenueFeedPlan
        do { plan = try VenueFeedPlan(settings) } catch { fail("\(error)") }
        let feed = LiveFeed(feeds: [plan], options: options, tick: .milliseconds(100), logger: logger)
        let live = LiveCollector()
        let feedTask = Task {
            try await feed.run(record: { live.record($0) }) { live.event($0) }
        }
        let wallStart = ContinuousClock.now
        let total = sim.timelineFrames(venue: .binance).count

        // The timeline starts with the first subscribe.
        while await sim.stats(venue: .binance)?.started != true {
            if ContinuousClock.now - wallStart > .seconds(30) { fail("the feed never subscribed") }
            try? await Task.sleep(for: .milliseconds(10))
        }
        let timelineStart = ContinuousClock.now

        // 4. Faults: every `faultEvery` wall seconds, a seeded random choice.
        let faults = FaultLog()
        let faultTask = Task {
            var rng = SplitMix64(seed: o.seed)
            var n = 0
            while !Task.isCancelled {
                n += 1
                try? await Task.sleep(until: timelineStart + .milliseconds(Int64(o.faultEvery * 1000 * Double(n))), clock: .continuous)
                if Task.isCancelled { return }
                let elapsed = ContinuousClock.now - timelineStart
                let remaining = expectedWall - Double(elapsed.components.seconds) - Double(elapsed.components.attoseconds) / 1e18
                if remaining < o.quietTail {
                    note("no more faults: ~\(Int(remaining)) s of timeline left (quiet tail \(Int(o.quietTail)) s)")
                    return
                }
                let kind = FaultKind.allCases.randomElement(using: &rng)!
                let emitted = await sim.stats(venue: .binance)?.framesEmitted ?? 0
                switch kind {
                case .close:
                    note("fault #\(n) \(kind.rawValue) (frame \(emitted))")
                    await sim.closeConnections(venue: .binance)
                case .silent:
                    let ms = Int64.random(in: 2000...3000, using: &rng)
                    note("fault #\(n) \(kind.rawValue) for \(ms) ms (frame \(emitted))")
                    await sim.goSilent(venue: .binance, for: .milliseconds(ms))
                case .dropDelta:
                    note("fault #\(n) \(kind.rawValue) (frame \(emitted))")
                    await sim.dropNextBookDelta(venue: .binance)
                case .dropFrames:
                    note("fault #\(n) \(kind.rawValue) (frame \(emitted))")
                    await sim.dropNextFrames(venue: .binance, count: 20)
                case .serverShutdown:
                    let ms = wallClockNow().rawValue / 1_000_000
                    note("fault #\(n) \(kind.rawValue) notice E=\(ms) (frame \(emitted))")
                    await sim.sendToAll(venue: .binance, text: #"{"e":"serverShutdown","E":\#(ms)}"#)
                case .rotation:
                    note("fault #\(n) \(kind.rawValue) rotateNow() (frame \(emitted))")
                    feed.sessions[.binance]?.rotateNow()
                }
                faults.add(kind)
            }
        }

        // 5. Progress every 30 s.
        let progressTask = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(30))
                if Task.isCancelled { return }
                let emitted = await sim.stats(venue: .binance)?.framesEmitted ?? 0
                let s = live.state.withLock { ($0.trades, $0.snapshots, $0.reconnects, $0.rotations) }
                note(
                    "progress: frames \(emitted)/\(total), trades published \(s.0), snapshots \(s.1), faults \(faults.total), "
                        + "reconnects \(s.2), rotations \(s.3)")
            }
        }

        // 6. The end: the timeline finished, the feed has its last frame, the last backfill is in.
        await sim.waitUntilFinished(venue: .binance)
        faultTask.cancel()
        let emittedFrames = await sim.emittedFrames(venue: .binance)
        if let last = emittedFrames.last(where: { $0.recipients > 0 }) {
            let bytes = Array(last.text.utf8)
            let until = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < until, !live.hasRecent(bytes) {
                try? await Task.sleep(for: .milliseconds(20))
            }
            if !live.hasRecent(bytes) { note("WARNING: the feed did not get the last frame within 10 s") }
        }
        try? await Task.sleep(for: .seconds(1))
        feed.stop()
        do { try await feedTask.value } catch { note("feed ended with \(error)") }
        progressTask.cancel()
        let connections = await sim.connectionCount(venue: .binance)
        // Bounded: ExchangeSimulator.stop() was once seen not to return (its server task waiting
        // on a child channel); the results do not depend on it.
        let simStopped = Mutex(false)
        Task {
            await sim.stop()
            simStopped.withLock { $0 = true }
        }
        let stopDeadline = ContinuousClock.now + .seconds(15)
        while !simStopped.withLock({ $0 }), ContinuousClock.now < stopDeadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if !simStopped.withLock({ $0 }) { note("WARNING: the simulator did not stop within 15 s; going on without it") }
        let wall = ContinuousClock.now - wallStart
        let wallSeconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18

        // 7. Checks.
        let state = live.state.withLock { $0 }
        let events = state.events
        var delivery: [String: Int] = [:]
        for f in emittedFrames {
            let k: String
            switch f.delivery {
            case .sent: k = f.recipients > 0 ? "sent" : "sent_to_nobody"
            case .corrupted: k = "corrupted"
            case .dropped: k = "dropped"
            case .silenced: k = "silenced"
            }
            delivery[k, default: 0] += 1
        }
        note(
            "simulator: \(emittedFrames.count)/\(total) frames, \(delivery.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")); "
                + "\(connections) connections; feed: \(state.wsFrames) frames, \(state.depthRequests) depth snapshots, "
                + "\(state.tradeRequests) trade-history requests")

        if o.dump {
            for e in events {
                switch e {
                case .status(let st):
                    note("DEBUG status \(st.kind.name) \(st.instrument?.symbol ?? "-") \(st.detail) at \(st.time.rawValue)")
                case .bookSnapshot(let b):
                    let t = truth.tops[b.time.rawValue]
                    let same = t.map { $0.bids == b.bids && $0.asks == b.asks }
                    note("DEBUG snapshot \(b.time.rawValue) valid \(b.valid) truth \(same.map { $0 ? "same" : "DIFFERENT" } ?? "none")")
                default: break
                }
            }
        }

        // 7a. Books.
        var invalid: [String] = []
        var compared = 0
        var validPublished = 0
        var outOfSync: Set<Instrument> = []
        var known: Set<Instrument> = []
        for (index, e) in events.enumerated() {
            switch e {
            case .trade(let t): known.insert(t.instrument)
            case .status(let s):
                if let i = s.instrument { known.insert(i) }
                let targets: [Instrument] = s.instrument.map { [$0] } ?? Array(known)
                switch s.kind {
                case .resync, .checksumFailed: for i in targets { outOfSync.insert(i) }
                case .disconnected: for i in known { outOfSync.insert(i) }
                case .synced, .resynced: for i in targets { outOfSync.remove(i) }
                default: break
                }
            case .bookSnapshot(let s):
                known.insert(s.instrument)
                guard s.valid else { continue }
                validPublished += 1
                let at = "\(s.instrument.symbol) \(s.time.rawValue) (\(s.time.iso8601(fractionDigits: 0)))"
                if outOfSync.contains(s.instrument) {
                    invalid.append("\(at): published while out of sync")
                    continue
                }
                if let b = s.bids.first, let a = s.asks.first, !(b.price < a.price) {
                    invalid.append("\(at): crossed (bid \(b.price) >= ask \(a.price))")
                    continue
                }
                guard let t = truth.tops[s.time.rawValue] else {
                    invalid.append("\(at): no truth snapshot at that time")
                    continue
                }
                compared += 1
                if t.bids != s.bids || t.asks != s.asks {
                    // Published by the very update that then showed a gap (the next event says so)?
                    let revealed = events[(index + 1)...].prefix(2).compactMap { e -> String? in
                        guard case .status(let st) = e, st.instrument == s.instrument else { return nil }
                        switch st.kind {
                        case .gap, .checksumFailed: return "\(st.kind.name): \(st.detail)"
                        default: return nil
                        }
                    }.first
                    let firstBid = firstDifference(t.bids, s.bids)
                    let firstAsk = firstDifference(t.asks, s.asks)
                    invalid.append(
                        "\(at): differs from the truth (bids \(s.bids.count)/\(t.bids.count) first diff at \(firstBid), "
                            + "asks \(s.asks.count)/\(t.asks.count) first diff at \(firstAsk); "
                            + "live best \(s.bids.first.map { "\($0.price)" } ?? "-")/\(s.asks.first.map { "\($0.price)" } ?? "-"), "
                            + "truth best \(t.bids.first.map { "\($0.price)" } ?? "-")/\(t.asks.first.map { "\($0.price)" } ?? "-"))"
                            + (revealed.map { " — published by the update that then reported \($0)" } ?? ""))
                }
            default: break
            }
        }

        // 7b. Trades.
        let liveIDs = tradeIDs(events)
        var seen: [Int64: Int] = [:]
        for id in liveIDs { seen[id, default: 0] += 1 }
        let duplicated = seen.filter { $0.value > 1 }.keys.sorted()
        let truthSet = Set(truthTradeIDs)
        let lost = truthSet.subtracting(seen.keys).sorted()
        let invented = Set(seen.keys).subtracting(truthSet).sorted()

        // 7c. Candles.
        let truthCandles = finalCandles(truth.events)
        let liveCandles = finalCandles(events)
        var candleMismatches: [String] = []
        for key in Set(truthCandles.keys).union(liveCandles.keys).sorted() {
            let t = truthCandles[key]
            let l = liveCandles[key]
            if t != l {
                func show(_ c: Candle?) -> String {
                    guard let c else { return "none" }
                    return "o \(c.open) h \(c.high) l \(c.low) c \(c.close) v \(c.volume) n \(c.trades) complete \(c.complete)"
                }
                candleMismatches.append("\(key): live \(show(l)) / truth \(show(t))")
            }
        }

        // 8. Report.
        func offenders(_ title: String, _ list: [String]) {
            guard !list.isEmpty else { return }
            note("\(title): \(list.count); first: " + list.prefix(8).joined(separator: "; "))
        }
        offenders("invalid books", invalid)
        offenders("duplicated trades", duplicated.map(String.init))
        offenders("lost trades", lost.map(String.init))
        offenders("invented trades", invented.map(String.init))
        offenders("candle mismatches", candleMismatches)
        let faultCounts = faults.snapshot
        let faultJSON = FaultKind.allCases.map { "\"\($0.rawValue)\":\(faultCounts[$0, default: 0])" }.joined(separator: ",")
        let summary =
            "{\"minutes\":\(String(format: "%.2f", captureMinutes)),\"frames\":\(emittedFrames.count),\"faults\":{\(faultJSON)},"
            + "\"reconnects\":\(state.reconnects),\"rotations\":\(state.rotations),"
            + "\"trades_truth\":\(truthSet.count),\"trades_published\":\(liveIDs.count),"
            + "\"duplicated_trades\":\(duplicated.count),\"lost_trades\":\(lost.count),\"invented_trades\":\(invented.count),"
            + "\"snapshots_compared\":\(compared),\"invalid_books\":\(invalid.count),\"candle_mismatches\":\(candleMismatches.count),"
            + "\"seed\":\(o.seed),\"speed\":\(o.speed),\"wall_seconds\":\(Int(wallSeconds.rounded()))}"
        print(summary)
        let ok = duplicated.isEmpty && lost.isEmpty && invented.isEmpty && invalid.isEmpty && candleMismatches.isEmpty
        note(ok ? "soak passed (\(validPublished) valid snapshots published, \(compared) compared)" : "soak FAILED")
        return ok ? 0 : 1
    }
}

let code = await Soak.run()
exit(code)
