import MarketCore
import Synchronization

/// A simulated venue's time on its capture's timeline: the `recv_ns` the recording would have
/// stamped on a frame arriving now. Before the timeline starts it reads the first frame's time;
/// at a finite speed it runs `speed` times as fast as the real clock from there (loop passes
/// continue it, as their times do), but never past the next frame not sent yet: a simulator
/// running behind its schedule must not let a clock close candles whose trades it has still to
/// send. At infinite speed it reads the latest frame's time.
final class TimelineClock: Sendable {
    struct State {
        var origin: Int64
        var started: ContinuousClock.Instant?
        var latest: Int64
        /// The time of the next frame to send (nil: none is coming).
        var next: Int64?
    }

    let speed: Double
    let state: Mutex<State>

    init(origin: Int64, speed: Double) {
        self.speed = speed
        state = Mutex(State(origin: origin, latest: origin, next: origin))
    }

    func start(at instant: ContinuousClock.Instant) {
        state.withLock { if $0.started == nil { $0.started = instant } }
    }

    /// A frame of time `receiveTime` went out; the next one is due at `next`.
    func passed(_ receiveTime: Int64, next: Int64?) {
        state.withLock {
            $0.latest = max($0.latest, receiveTime)
            $0.next = next
        }
    }

    func now() -> UnixNanos {
        state.withLock { s in
            guard speed.isFinite, let started = s.started else { return UnixNanos(s.latest) }
            let (seconds, atto) = (ContinuousClock.now - started).components
            let elapsed = Double(seconds) * 1e9 + Double(atto) / 1e9
            let scheduled = s.origin + Int64(elapsed * speed)
            return UnixNanos(max(s.latest, min(scheduled, s.next ?? scheduled)))
        }
    }
}
