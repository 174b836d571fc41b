public import Feeds
public import MarketCore

/// A capture replayed in-process, as the storage tests feed it to the stores.
public struct ReplayedEvents: Sendable {
    /// Every event in replay order (trades, candles with their revisions, snapshots, statuses).
    public let events: [MarketEvent]

    /// Replays the files with the given emit set (books included by default: the store keeps them).
    public init(paths: [String], emit: EmitSet = [.trades, .candles, .books, .status]) throws {
        var options = PipelineOptions()
        options.emit = emit
        var replayer = FeedPipeline(options: options)
        var out: [MarketEvent] = []
        try replayer.run(paths: paths) { out.append($0) }
        events = out
    }

    /// The replay's candle lines a store must hold: per (venue, symbol, interval, start) the last
    /// revision printed, ordered by start.
    public func finalCandleLines(interval: String) -> [String] {
        var latest: [String: (start: Int64, line: String)] = [:]
        for case .candle(let c) in events where c.interval.name == interval && c.closed {
            latest["\(c.instrument.venue.id) \(c.instrument.symbol) \(c.start.rawValue)"] =
                (c.start.rawValue, MarketEvent.candle(c).jsonLine)
        }
        return latest.values.sorted { $0.start < $1.start }.map(\.line)
    }

    /// Distinct trades by the store's key (venue, symbol, id, time); id-less trades count singly.
    public var distinctTradeCount: Int { distinctTradeKeys.count }

    /// The store keys of the trades; an id-less trade gets a key of its own (its position).
    public var distinctTradeKeys: Set<String> {
        var keys = Set<String>()
        for (n, event) in events.enumerated() {
            guard case .trade(let t) = event else { continue }
            if case .none = t.id {
                keys.insert("idless \(n)")
            } else {
                keys.insert("\(t.instrument.venue.id) \(t.instrument.symbol) \(t.id) \(t.eventTime.rawValue)")
            }
        }
        return keys
    }

    public var trades: [Trade] { events.compactMap { if case .trade(let t) = $0 { t } else { nil } } }
    public var snapshots: [BookSnapshot] { events.compactMap { if case .bookSnapshot(let s) = $0 { s } else { nil } } }
}
