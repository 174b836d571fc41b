public import Bus
public import Logging
import Metrics
public import NATS
import Synchronization

/// The `edge` role's side of the cluster: subscribes to `md.>` and hands each frame to the local
/// bus with the publisher's `seq`, `epoch` and bytes (``MarketBus/relay(channel:seq:epoch:type:json:conflationBucket:snapshotData:)``),
/// so the local fan-out sends what every other edge sends and `since` works on any edge.
public final class ClusterEdge: Sendable {
    public struct Stats: Sendable, Equatable {
        public var relayed = 0
        /// Channels that started over here (first frame, or a new epoch from the publisher).
        public var newEpochs = 0
        /// Jumps in `seq` within an epoch, and the frames they skipped (lost on the way here).
        public var gaps = 0
        public var missed: UInt64 = 0
        public var duplicates = 0
        /// Messages that were not a valid envelope (counted, logged once per subject, dropped).
        public var malformed = 0
        /// Messages the subscription dropped because this node read too slowly.
        public var dropped = 0
    }

    let bus: MarketBus
    let logger: Logger
    let subscription: NATSSubscription
    private let counts = Mutex(Stats())
    private let relayedMetric = Counter(label: "cluster_frames_relayed_total")
    private let gapMetric = Counter(label: "cluster_relay_gaps_total")
    private let malformedMetric = Counter(label: "cluster_relay_malformed_total")

    /// Subscribes (returns once the server has the subscription); ``run()`` then relays.
    public init(client: NATSClient, bus: MarketBus, logger: Logger, bufferSize: Int? = nil) async throws {
        self.bus = bus
        self.logger = logger
        self.subscription = try await client.subscribe(subject: ClusterEnvelope.marketWildcard, bufferSize: bufferSize)
    }

    /// Relays until the task is cancelled or the subscription ends.
    public func run() async throws {
        var names: [String: ChannelName] = [:]
        var reported = Set<String>()
        for try await message in subscription {
            let channel: ChannelName
            if let known = names[message.subject] {
                channel = known
            } else {
                guard message.subject.hasPrefix(ClusterEnvelope.marketPrefix),
                    let parsed = try? ChannelName(parsing: String(message.subject.dropFirst(ClusterEnvelope.marketPrefix.count))),
                    !parsed.hasWildcard
                else {
                    malformed(message.subject, "not a channel subject", &reported)
                    continue
                }
                if names.count < 100_000 { names[message.subject] = parsed }
                channel = parsed
            }
            let d: ClusterEnvelope.Decoded
            do {
                d = try ClusterEnvelope.decode(message, channel: channel)
            } catch {
                malformed(message.subject, error.description, &reported)
                continue
            }
            let outcome = bus.relay(
                channel: channel, seq: d.seq, epoch: d.epoch, type: d.type, json: d.json, conflationBucket: d.conflationBucket,
                snapshotData: d.snapshotData)
            relayedMetric.increment()
            counts.withLock { s in
                switch outcome {
                case .delivered: s.relayed += 1
                case .newEpoch:
                    s.relayed += 1
                    s.newEpochs += 1
                case .gap(let missed):
                    s.relayed += 1
                    s.gaps += 1
                    s.missed += missed
                case .duplicate: s.duplicates += 1
                }
            }
            if case .gap(let missed) = outcome {
                gapMetric.increment()
                logger.warning("cluster: frames lost on the way to this edge; resume history restarts", metadata: [
                    "channel": "\(channel)", "missed": "\(missed)",
                ])
            }
        }
    }

    private func malformed(_ subject: String, _ why: String, _ reported: inout Set<String>) {
        counts.withLock { $0.malformed += 1 }
        malformedMetric.increment()
        if reported.count < 1000, reported.insert(subject).inserted {
            logger.error("cluster: dropped a message that is not a gateway frame", metadata: ["subject": "\(subject)", "error": "\(why)"])
        }
    }

    public var stats: Stats {
        var s = counts.withLock { $0 }
        s.dropped = subscription.droppedMessages
        return s
    }
}
