import Crypto
public import MarketCore

/// A strategy as users upload it: a named kind from the gateway's own set with its parameters,
/// instruments and intervals. Declarative only; no uploaded code is ever run.
///
/// ```json
/// {"name":"fast-ema","version":1,"kind":"ema_cross","parameters":{"fast":"5","slow":"20"},
///  "instruments":["binance:BTC-USDT"],"intervals":["1m"]}
/// ```
public struct StrategyDefinition: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// ``EMACrossover``: `fast`, `slow` (candles).
        case emaCross = "ema_cross"
        /// ``RSIReversal``: `period`, `oversold`, `overbought`.
        case rsi
        /// ``Breakout``: `lookback` (candles).
        case breakout
    }

    public var name: String
    public var version: Int
    public var kind: Kind
    /// Parameter values as written (`"9"`, `"30.5"`); ``validated()`` fills in defaults.
    public var parameters: [String: String]
    /// `venue:SYMBOL` in canonical form (`binance:BTC-USDT`).
    public var instruments: [String]
    /// `1m` and/or `5m`: the closed candles the strategy is fed.
    public var intervals: [String]

    public init(
        name: String, version: Int = 1, kind: Kind, parameters: [String: String] = [:], instruments: [String],
        intervals: [String] = ["1m"]
    ) {
        self.name = name
        self.version = version
        self.kind = kind
        self.parameters = parameters
        self.instruments = instruments
        self.intervals = intervals
    }
}

/// Every problem a definition has, one per line (`parameters.slow: must be greater than fast (9)`).
public struct StrategyDefinitionError: Error, Sendable, Hashable, CustomStringConvertible {
    public var problems: [String]
    public var description: String { problems.joined(separator: "\n") }
}

extension StrategyDefinition {
    /// What a kind accepts: name → (default, allowed range). Integers for periods, decimals for levels.
    static func parameterTable(_ kind: Kind) -> [(name: String, default: String, integer: Bool, range: ClosedRange<Int>)] {
        switch kind {
        case .emaCross: [("fast", "9", true, 1...500), ("slow", "21", true, 2...1000)]
        case .rsi: [("period", "14", true, 2...500), ("oversold", "30", false, 1...99), ("overbought", "70", false, 1...99)]
        case .breakout: [("lookback", "20", true, 2...1000)]
        }
    }

    /// `venue:SYMBOL` split at its one colon; nil when either part is empty or there is no colon.
    public static func instrument(_ text: String) -> (venue: String, symbol: String)? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    static let venues: Set<String> = ["binance", "binance-usdm", "binance-coinm", "coinbase", "kraken", "okx", "bybit"]
    static let knownIntervals = ["1m", "5m"]

    /// The definition with defaults filled in, decimals trimmed and lists sorted, or every problem.
    public func validated() throws(StrategyDefinitionError) -> StrategyDefinition {
        var problems: [String] = []
        if name.isEmpty || name.count > 64 || !name.unicodeScalars.allSatisfy({ Self.nameCharacters.contains($0) }) {
            problems.append("name: 1 to 64 characters of a-z, 0-9, '-' and '_'")
        }
        if !(1...1_000_000).contains(version) { problems.append("version: must be 1 to 1000000") }
        let table = Self.parameterTable(kind)
        var values: [String: String] = [:]
        var numbers: [String: WideDecimal] = [:]
        for key in parameters.keys.sorted() where !table.contains(where: { $0.name == key }) {
            problems.append("parameters.\(key): unknown for \(kind.rawValue) (known: \(table.map(\.name).joined(separator: ", ")))")
        }
        for p in table {
            let text = parameters[p.name] ?? p.default
            guard let value = WideDecimal.parse(text), text.count <= 24 else {
                problems.append("parameters.\(p.name): \"\(text)\" is not a number")
                continue
            }
            if p.integer && value.trimmed.scale != 0 {
                problems.append("parameters.\(p.name): \(text) must be a whole number")
                continue
            }
            guard value >= WideDecimal(p.range.lowerBound), value <= WideDecimal(p.range.upperBound) else {
                problems.append("parameters.\(p.name): \(text) is out of range \(p.range.lowerBound)...\(p.range.upperBound)")
                continue
            }
            values[p.name] = value.trimmed.description
            numbers[p.name] = value.trimmed
        }
        if let fast = numbers["fast"], let slow = numbers["slow"], fast >= slow {
            problems.append("parameters.slow: must be greater than fast (\(fast))")
        }
        if let low = numbers["oversold"], let high = numbers["overbought"], low >= high {
            problems.append("parameters.overbought: must be greater than oversold (\(low))")
        }
        if instruments.isEmpty || instruments.count > 20 { problems.append("instruments: 1 to 20 of venue:SYMBOL") }
        for (i, text) in instruments.enumerated() {
            guard let (venue, symbol) = Self.instrument(text), Self.venues.contains(venue), symbol.count <= 32,
                symbol.unicodeScalars.allSatisfy({ Self.symbolCharacters.contains($0) })
            else {
                problems.append("instruments[\(i)]: \"\(text)\" is not venue:SYMBOL with a known venue (\(Self.venues.sorted().joined(separator: ", ")))")
                continue
            }
        }
        if Set(instruments).count != instruments.count { problems.append("instruments: listed twice") }
        if intervals.isEmpty || !intervals.allSatisfy(Self.knownIntervals.contains) || Set(intervals).count != intervals.count {
            problems.append("intervals: one or both of \(Self.knownIntervals.joined(separator: ", "))")
        }
        guard problems.isEmpty else { throw StrategyDefinitionError(problems: problems) }
        var out = self
        out.parameters = values
        out.instruments = instruments.sorted()
        out.intervals = intervals.sorted()
        return out
    }

    /// What the strategy trades, as one line of JSON with sorted keys: kind, parameters (defaults
    /// filled), instruments and intervals. The name and version are labels, not content, so the
    /// same strategy uploaded under another name has the same ``contentHash``. Call on a
    /// ``validated()`` definition.
    public var canonicalContent: String {
        var out = "{\"instruments\":["
        out += instruments.map { "\"\($0)\"" }.joined(separator: ",")
        out += "],\"intervals\":["
        out += intervals.map { "\"\($0)\"" }.joined(separator: ",")
        out += "],\"kind\":\"\(kind.rawValue)\",\"parameters\":{"
        out += parameters.keys.sorted().map { "\"\($0)\":\"\(parameters[$0]!)\"" }.joined(separator: ",")
        out += "}}"
        return out
    }

    /// SHA-256 of ``canonicalContent``, lowercase hex.
    public var contentHash: String {
        SHA256.hash(data: Array(canonicalContent.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// A fresh signal strategy for one instrument and interval. Call on a ``validated()`` definition.
    public func makeStrategy() -> any SignalStrategy { SignalConfig.Strategy(self).make() }

    static let nameCharacters = Set("abcdefghijklmnopqrstuvwxyz0123456789-_".unicodeScalars)
    static let symbolCharacters = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-".unicodeScalars)
}
