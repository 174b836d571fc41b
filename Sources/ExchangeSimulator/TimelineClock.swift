import Feeds
import MarketCore
import Synchronization

/// A simulated venue's time on its capture's timeline, for a live feed's receive stamps, so the
/// live pipeline closes candles exactly as replay does (docs/replay.md, "Live = replay").
///
/// - A frame the simulator sent is stamped with its own capture time (`recv_ns`, moved on for a
///   later pass): the feed looks it up by its bytes, in sending order. Stamping it with "now"
///   instead would, whenever the gateway reads behind the simulator, stamp frames later than
///   their time and close a bucket before a trade of it that was already on its way.
/// - Between frames (ticks, connection records) the clock follows the last frame the feed has
///   stamped, `speed` times as fast as the real clock, but never past a frame sent and not yet
///   stamped, nor past the next frame not sent yet. Before the timeline starts it reads the first
///   frame's time; at infinite speed it stays at the last stamped frame.
final class TimelineClock: Sendable {
    struct Sent {
        var hash: Int
        var time: Int64
    }

    struct State {
        var origin: Int64
        /// The last stamped frame's time, and when it was stamped.
        var stamped: (time: Int64, at: ContinuousClock.Instant)?
        var started: ContinuousClock.Instant?
        /// Frames sent and not stamped yet, oldest first (from `head`).
        var sent: [Sent] = []
        var head = 0
        /// The time of the next frame to send (nil: none is coming).
        var next: Int64?
    }

    let speed: Double
    let state: Mutex<State>
    /// Frames sent and never stamped (nobody read them) are forgotten beyond this.
    static let keep = 1 << 16

    init(origin: Int64, speed: Double) {
        self.speed = speed
        state = Mutex(State(origin: origin, next: origin))
    }

    static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
        var h = Hasher()
        h.combine(bytes: bytes)
        return h.finalize()
    }

    func start(at instant: ContinuousClock.Instant) {
        state.withLock { if $0.started == nil { $0.started = instant } }
    }

    /// A frame of time `time` goes out to subscribed connections (called before it is written).
    func sending(_ text: String, time: Int64) {
        var text = text
        let h = text.withUTF8 { Self.hash(UnsafeRawBufferPointer($0)) }
        state.withLock { s in
            s.sent.append(Sent(hash: h, time: time))
            if s.sent.count - s.head > Self.keep { s.head = s.sent.count - Self.keep }
            if s.head > 4096 {
                s.sent.removeFirst(s.head)
                s.head = 0
            }
        }
    }

    /// The timeline moved past a frame; the next one is due at `next`.
    func passed(next: Int64?) {
        state.withLock { $0.next = next }
    }

    /// The capture time of a frame the feed received: the oldest sent frame with these bytes.
    /// Frames sent before it and never read (a closed connection) are dropped. A frame that was
    /// not sent by the timeline (a snapshot on subscribe, a ping answer) reads the clock.
    func stamp(_ bytes: [UInt8]) -> UnixNanos {
        let h = bytes.withUnsafeBytes { Self.hash($0) }
        let found: Int64? = state.withLock { s in
            guard let i = s.sent[s.head...].firstIndex(where: { $0.hash == h }) else { return nil }
            let time = s.sent[i].time
            s.head = i + 1
            s.stamped = (max(time, s.stamped?.time ?? time), .now)
            return time
        }
        return found.map(UnixNanos.init) ?? now()
    }

    func now() -> UnixNanos {
        state.withLock { s in
            guard let started = s.started else { return UnixNanos(s.origin) }
            let base = s.stamped ?? (s.origin, started)
            var projected = base.time
            if speed.isFinite {
                let (seconds, atto) = (ContinuousClock.now - base.at).components
                projected += Int64((Double(seconds) * 1e9 + Double(atto) / 1e9) * speed)
            }
            // Never past a frame the feed has not stamped yet, nor the next one to send.
            let cap = s.head < s.sent.count ? s.sent[s.head].time : (s.next ?? projected)
            return UnixNanos(max(base.time, min(projected, cap)))
        }
    }

    var receiveClock: ReceiveClock {
        ReceiveClock(now: { self.now() }, stamp: { self.stamp($0) })
    }
}
