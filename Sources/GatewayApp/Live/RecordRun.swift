public import Feeds
import Foundation
public import Logging
import MarketCore

/// `gateway record`: one venue's live feed written to a capture file (every frame, REST
/// response, sent subscribe and clock tick), optionally printing the normalized events as
/// `gateway replay` would. Replaying the recording with the same options prints the same lines.
public struct RecordRun: Sendable {
    public var settings: FeedSettings
    public var out: String
    public var rotateBytes = 1 << 30
    public var rotateEvery: Duration = .seconds(3600)
    public var duration: Duration?
    /// Events to print on stdout (empty: print nothing).
    public var options = PipelineOptions()
    public var printEvents = false
    public var tick: Duration = .milliseconds(250)

    public init(settings: FeedSettings, out: String) {
        self.settings = settings
        self.out = out
    }

    /// Records until `duration` passes or SIGINT/SIGTERM. Returns the exit status.
    public func run(logger: Logger) async -> Int32 {
        let plan: VenueFeedPlan
        let writer: CaptureWriter
        do {
            plan = try VenueFeedPlan(settings)
            writer = try CaptureWriter(path: out, rotateBytes: rotateBytes, rotateNanoseconds: rotateEvery.nanosecondsValue)
        } catch {
            FileHandleStderr.write("gateway record: \(error)\n")
            return 1
        }
        let feed = LiveFeed(feeds: [plan], options: options, tick: tick, logger: logger)
        let signals = ShutdownSignals()
        let started = ContinuousClock.now
        let deadline = duration
        let watcher = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                if signals.received != nil || deadline.map({ ContinuousClock.now - started >= $0 }) == true {
                    feed.stop()
                    return
                }
            }
        }
        let stdout = LineWriter(fd: 1)
        var w = JSONWriter(capacity: 4096)
        let printing = printEvents
        var failure: (any Error)?
        do {
            try await feed.run(record: { try writer.write($0) }) { event in
                guard printing else { return }
                w.reset()
                event.writeJSON(into: &w)
                w.bytes.append(0x0A)
                stdout.write(w.bytes)
            }
        } catch {
            failure = error
            feed.stop()
        }
        watcher.cancel()
        stdout.flush()
        do { try writer.close() } catch { failure = failure ?? error }
        if let failure {
            FileHandleStderr.write("gateway record: \(failure)\n")
            return 1
        }
        FileHandleStderr.write(
            "gateway record: \(writer.recordsWritten) records in \(writer.files.joined(separator: ", ")); \(feed.sessions.values.map(\.connectionsOpened).reduce(0, +)) connections\n")
        return signals.received.map { 128 + $0 } ?? 0
    }
}

extension Duration {
    /// Whole nanoseconds.
    var nanosecondsValue: Int64 {
        let (s, atto) = components
        return s * 1_000_000_000 + atto / 1_000_000_000
    }
}
