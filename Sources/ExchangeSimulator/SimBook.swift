import Foundation

/// The simulator's own price-level book: levels keyed by Foundation `Decimal`, each keeping the
/// venue's original price and size text (and any extra per-level fields, e.g. Kraken's timestamp
/// or OKX's order count), so snapshots it writes use the exchange's own digits and checksums over
/// them match what the exchange would send.
public struct SimBook: Sendable, Equatable {
    public enum Side: Sendable { case bid, ask }

    public struct Level: Sendable, Equatable {
        public var price: String
        public var size: String
        /// Extra fields the venue writes per level after price and size.
        public var extra: [String]
        public init(price: String, size: String, extra: [String] = []) {
            self.price = price
            self.size = size
            self.extra = extra
        }
    }

    public private(set) var bids: [Decimal: Level] = [:]
    public private(set) var asks: [Decimal: Level] = [:]

    public init() {}

    public var isEmpty: Bool { bids.isEmpty && asks.isEmpty }

    /// Sets one level; a zero size removes it. Returns false when price or size is not a number.
    @discardableResult
    public mutating func set(_ side: Side, price: String, size: String, extra: [String] = []) -> Bool {
        guard let p = Decimal(string: price, locale: Self.posix), let s = Decimal(string: size, locale: Self.posix) else {
            return false
        }
        switch side {
        case .bid: bids[p] = s.isZero ? nil : Level(price: price, size: size, extra: extra)
        case .ask: asks[p] = s.isZero ? nil : Level(price: price, size: size, extra: extra)
        }
        return true
    }

    public mutating func clear() {
        bids.removeAll(keepingCapacity: true)
        asks.removeAll(keepingCapacity: true)
    }

    /// Levels best first (bids descending, asks ascending), at most `depth` when given.
    public func levels(_ side: Side, depth: Int? = nil) -> [Level] {
        let sorted: [(key: Decimal, value: Level)]
        switch side {
        case .bid: sorted = bids.sorted { $0.key > $1.key }
        case .ask: sorted = asks.sorted { $0.key < $1.key }
        }
        let limited = depth.map { Array(sorted.prefix($0)) } ?? sorted
        return limited.map(\.value)
    }

    static let posix = Locale(identifier: "en_US_POSIX")
}
