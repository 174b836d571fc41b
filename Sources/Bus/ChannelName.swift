/// The kind of a bus channel: the first segment of its name (DESIGN.md "Bus and in-process consumers").
public enum ChannelKind: String, Sendable, Hashable, CaseIterable {
    case trades, book, candles, ticker, status, executions, mood, signals

    /// Private channels belong to one user and need a token whose subject is that user.
    public var isPrivate: Bool { self == .executions || self == .mood }

    /// Book and candle channels send their current state first on subscribe.
    public var sendsSnapshotFirst: Bool { self == .book || self == .candles }
}

/// Why a channel name was refused (the message of a `bad_channel` error).
public struct ChannelNameError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
    init(_ message: String) { self.message = message }
}

/// A channel name or pattern: `trades.<venue>.<SYMBOL>`, `book.<venue>.<SYMBOL>`,
/// `candles.<interval>.<venue>.<SYMBOL>`, `ticker.<venue>.<SYMBOL>`, `status.<venue>`,
/// `executions.<user>`, `mood.<user>`, `signals.<strategy>.<SYMBOL>`.
///
/// `*` matches one segment. The symbol is everything after the fixed segments, because canonical
/// symbols may contain a dot (an OKX option strike such as `ETH-USD-20230630-1500.5-C`); `*` there
/// matches any symbol. The kind cannot be a wildcard: `*.binance.BTC-USDT` would be ambiguous.
public struct ChannelName: Sendable, Hashable, CustomStringConvertible {
    public let kind: ChannelKind
    /// Candle interval name (`1m`), or nil for other kinds.
    public let interval: String?
    /// Venue, user or strategy.
    public let scope: String
    /// Canonical symbol, or nil for `status`, `executions`, `mood`.
    public let symbol: String?

    public static let wildcard = "*"
    static let maxLength = 160

    public init(kind: ChannelKind, interval: String? = nil, scope: String, symbol: String? = nil) {
        self.kind = kind
        self.interval = interval
        self.scope = scope
        self.symbol = symbol
    }

    /// Parses and validates a name. `venues` / `intervals`, when given, are the accepted values
    /// of those segments (besides `*`).
    public init(parsing text: String, venues: Set<String>? = nil, intervals: Set<String>? = nil) throws(ChannelNameError) {
        guard !text.isEmpty else { throw ChannelNameError("empty channel name") }
        guard text.utf8.count <= Self.maxLength else { throw ChannelNameError("channel name longer than \(Self.maxLength) bytes") }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let kind = ChannelKind(rawValue: parts[0]) else {
            if parts[0] == Self.wildcard { throw ChannelNameError("the channel kind cannot be a wildcard: \(text)") }
            throw ChannelNameError(
                "unknown channel kind '\(parts[0])' in \(text) (one of \(ChannelKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        func segment(_ s: String, _ what: String) throws(ChannelNameError) -> String {
            if s == Self.wildcard { return s }
            guard !s.isEmpty, s.utf8.allSatisfy(Self.isSegmentByte) else {
                throw ChannelNameError("bad \(what) '\(s)' in \(text)")
            }
            return s
        }
        func symbolPart(from i: Int) throws(ChannelNameError) -> String {
            guard parts.count > i else { throw ChannelNameError("\(text): missing symbol (\(Self.shape(kind)))") }
            let s = parts[i...].joined(separator: ".")
            if s == Self.wildcard { return s }
            guard parts[i...].allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy(Self.isSegmentByte) }) else {
                throw ChannelNameError("bad symbol '\(s)' in \(text)")
            }
            guard s == s.uppercased() else { throw ChannelNameError("symbols are upper case: '\(s)' in \(text)") }
            return s
        }
        func venue(_ s: String) throws(ChannelNameError) -> String {
            let v = try segment(s, "venue")
            if v != Self.wildcard, let venues, !venues.contains(v) {
                throw ChannelNameError("unknown venue '\(v)' in \(text) (one of \(venues.sorted().joined(separator: ", ")))")
            }
            return v
        }
        switch kind {
        case .trades, .book, .ticker:
            guard parts.count >= 3 else { throw ChannelNameError("\(text): expected \(Self.shape(kind))") }
            self.init(kind: kind, scope: try venue(parts[1]), symbol: try symbolPart(from: 2))
        case .candles:
            guard parts.count >= 4 else { throw ChannelNameError("\(text): expected \(Self.shape(kind))") }
            let iv = try segment(parts[1], "interval")
            if iv != Self.wildcard, let intervals, !intervals.contains(iv) {
                throw ChannelNameError("unknown interval '\(iv)' in \(text) (one of \(intervals.sorted().joined(separator: ", ")))")
            }
            self.init(kind: kind, interval: iv, scope: try venue(parts[2]), symbol: try symbolPart(from: 3))
        case .status:
            guard parts.count == 2 else { throw ChannelNameError("\(text): expected \(Self.shape(kind))") }
            self.init(kind: kind, scope: try venue(parts[1]))
        case .executions, .mood:
            guard parts.count == 2 else { throw ChannelNameError("\(text): expected \(Self.shape(kind))") }
            self.init(kind: kind, scope: try segment(parts[1], "user"))
        case .signals:
            guard parts.count >= 3 else { throw ChannelNameError("\(text): expected \(Self.shape(kind))") }
            self.init(kind: kind, scope: try segment(parts[1], "strategy"), symbol: try symbolPart(from: 2))
        }
    }

    static func shape(_ kind: ChannelKind) -> String {
        switch kind {
        case .trades, .book, .ticker: "\(kind.rawValue).<venue>.<SYMBOL>"
        case .candles: "candles.<interval>.<venue>.<SYMBOL>"
        case .status: "status.<venue>"
        case .executions, .mood: "\(kind.rawValue).<user>"
        case .signals: "signals.<strategy>.<SYMBOL>"
        }
    }

    static func isSegmentByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F
    }

    public var description: String {
        var s = kind.rawValue
        if let interval { s += "." + interval }
        s += "." + scope
        if let symbol { s += "." + symbol }
        return s
    }

    public var hasWildcard: Bool {
        interval == Self.wildcard || scope == Self.wildcard || symbol == Self.wildcard
    }

    /// Whether this pattern matches a concrete channel.
    public func matches(_ channel: ChannelName) -> Bool {
        func seg(_ p: String?, _ c: String?) -> Bool { p == c || p == Self.wildcard }
        return kind == channel.kind && seg(interval, channel.interval) && seg(scope, channel.scope)
            && seg(symbol, channel.symbol)
    }
}
