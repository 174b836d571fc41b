import ExchangeSimulator
import Feeds
import MarketCore
import Synchronization

/// Waits (up to 10 s) until the live feed has recorded the last frame the simulator sent, so a
/// test can stop the feed before the stream, now at its end, is declared stale.
func waitForLastFrame(
    _ sim: ExchangeSimulator, venue: Venue, in collected: borrowing Mutex<([CaptureRecord], [MarketEvent])>
) async throws {
    guard let last = await sim.emittedFrames(venue: venue).last(where: { $0.recipients > 0 }) else { return }
    let bytes = Array(last.text.utf8)
    let until = ContinuousClock.now + .seconds(10)
    while ContinuousClock.now < until, !collected.withLock({ $0.0.reversed().contains { $0.kind == .ws && $0.frame == bytes } }) {
        try await Task.sleep(for: .milliseconds(20))
    }
}
