import Benchmark

/// Replays a recorded sequence across benchmark iterations, `scalingFactor` items per iteration, so
/// every metric is per item (frame, update, trade, string) while the whole real sequence is covered.
///
/// Stateful benchmarks (a book, a candle builder) need a fresh state at the start of each pass over
/// the sequence. A spare state is always built ahead, outside the timed region; when the cursor
/// wraps inside the timed loop the finished state and the spare are swapped (O(1), no allocation),
/// and after `stopMeasurement()` the finished state is validated, freed and a new spare built.
final class Pass<State>: PassReport, @unchecked Sendable {
    /// The benchmark's name.
    let name: String
    /// Items in the sequence (set once the capture is loaded, see ``resize(_:)``).
    private(set) var count: Int
    let make: () -> State
    /// Checks a state that has replayed exactly one whole pass; returns a failure description.
    let validate: ((State) -> String?)?
    var current: State?
    var spare: State?
    var cursor = 0
    /// Completed passes (each one validated).
    var passes = 0
    /// Calls of ``iterate(_:_:)`` so far; the first `warmup` are left out of the mean below.
    var calls = 0
    let warmup = 10
    /// Time and items over all measured iterations (a second clock next to the benchmark's own), for
    /// the mean per item over whole passes — iterations are windows of the sequence and their cost
    /// varies with the stream, so the percentiles alone do not give the throughput of a full replay.
    var measuredNanoseconds: Int64 = 0
    var measuredItems = 0

    init(_ name: String, make: @escaping () -> State, validate: ((State) -> String?)? = nil) {
        self.name = name
        self.count = 1
        self.make = make
        self.validate = validate
    }

    /// Sets the sequence length; the capture is loaded lazily in the benchmark's setup.
    func resize(_ n: Int) {
        precondition(n > 0, "nothing to replay")
        count = n
    }

    /// One benchmark iteration: `benchmark.scaledIterations` calls of `body(&state, index)` with
    /// consecutive indices into the sequence, timed; everything else outside the timed region.
    @inline(__always)
    func iterate(_ benchmark: Benchmark, _ body: (inout State, Int) -> Void) {
        if current == nil { current = make() }
        if spare == nil { spare = make() }
        // Move the states into locals (unique references: no copy-on-write in the loop, no class
        // property access per item).
        var state = current!
        current = nil
        var next = spare!
        spare = nil
        var i = cursor
        let n = count
        var wrapped = false

        benchmark.startMeasurement()
        let started = ContinuousClock.now
        for _ in benchmark.scaledIterations {
            if i == n {
                i = 0
                swap(&state, &next)
                wrapped = true
            }
            body(&state, i)
            i &+= 1
        }
        let elapsed = ContinuousClock.now - started
        benchmark.stopMeasurement()

        calls += 1
        if calls > warmup {
            measuredNanoseconds += elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
            measuredItems += benchmark.scaledIterations.count
        }

        if wrapped {
            // `next` now holds the state that replayed the whole sequence.
            if let validate, let failure = validate(next) { benchmark.error(failure) }
            passes += 1
            next = make()
        }
        current = state
        spare = next
        cursor = i
    }

    /// `name: mean ns/item over N items (P passes)`, printed at teardown with GATEWAY_BENCH_MEAN=1.
    func meanLine() -> String {
        let ns = Double(measuredNanoseconds) / Double(max(measuredItems, 1))
        let perSecond = ns > 0 ? 1e9 / ns : 0
        return "GatewayBenchmarks mean \(name): \(Int(ns.rounded())) ns/item, \(Int(perSecond.rounded())) items/s "
            + "over \(measuredItems) items (\(passes) full passes)"
    }
}

/// What `configuration(mean:)` prints at teardown.
protocol PassReport: AnyObject {
    func meanLine() -> String
}
