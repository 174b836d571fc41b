/// When to try again after a connection is lost or a connect fails: capped exponential backoff with jitter.
///
/// After `n` consecutive failed attempts the next attempt waits `min(maxDelay, initialDelay · 2ⁿ)`,
/// shortened by a random fraction of up to `jitter` of itself, so that many clients that lost the
/// same server do not all come back at the same instant. A successful connect resets `n` to 0.
public struct NATSReconnectPolicy: Sendable, Equatable {
    /// The wait before the first attempt after a loss.
    public var initialDelay: Duration
    /// The longest wait.
    public var maxDelay: Duration
    /// The largest share of a delay that jitter may remove, 0...1.
    public var jitter: Double
    /// Consecutive failed attempts after which the client gives up and closes; nil: never give up.
    public var maxAttempts: Int?

    /// The defaults: 100 ms doubling to 5 s, up to half of each delay removed at random, retry forever.
    public init(initialDelay: Duration = .milliseconds(100), maxDelay: Duration = .seconds(5), jitter: Double = 0.5, maxAttempts: Int? = nil) {
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.jitter = min(max(jitter, 0), 1)
        self.maxAttempts = maxAttempts
    }

    /// The delay before the next attempt after `failures` consecutive failures, without jitter.
    public func baseDelay(afterFailures failures: Int) -> Duration {
        var delay = initialDelay
        var n = 0
        while n < failures, delay < maxDelay {
            delay *= 2
            n += 1
        }
        return min(delay, maxDelay)
    }

    /// The delay with jitter; `random` is uniform in 0..<1.
    public func delay(afterFailures failures: Int, random: Double) -> Duration {
        let base = baseDelay(afterFailures: failures)
        return base - base * (jitter * random)
    }
}

/// A small seedable generator (SplitMix64), so the state machine's jitter is reproducible in tests.
struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
