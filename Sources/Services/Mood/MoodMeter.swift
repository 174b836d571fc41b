import MarketCore

/// The constants of the mood formula; the defaults are DESIGN.md's.
public struct MoodThresholds: Sendable, Hashable {
    /// P&L factor = clamp(pnlMultiplier × P&L %, −pnlCap, +pnlCap).
    public var pnlMultiplier: WideDecimal
    public var pnlCap: WideDecimal
    /// Win-rate factor = clamp((wins/n − 0.5) × winRateMultiplier, ±winRateCap) over the last ≤ window closed trades.
    public var winRateWindow: Int
    public var winRateMultiplier: WideDecimal
    public var winRateCap: WideDecimal
    /// The penalty applies when the trades in the last hour reach `overtradingTradesPerHour`.
    public var overtradingTradesPerHour: Int
    public var overtradingPenalty: WideDecimal
    public var calmBonus: WideDecimal
    public var stressPenalty: WideDecimal
    /// Calm: volatility below and spread below these (strict).
    public var calmVolatilityPercent: WideDecimal
    public var calmSpreadBps: WideDecimal
    /// Stressed: volatility above or spread above these (strict).
    public var stressedVolatilityPercent: WideDecimal
    public var stressedSpreadBps: WideDecimal
    /// `learning` while the user's total trades are below this.
    public var learningTrades: Int
    /// confident at or above `confidentScore`, cautious at or above `cautiousScore`, else conservative.
    public var confidentScore: WideDecimal
    public var cautiousScore: WideDecimal
    /// A reading is published when the score moved by at least this much (or the state changed).
    public var publishScoreMove: WideDecimal

    public init(
        pnlMultiplier: WideDecimal = WideDecimal(4), pnlCap: WideDecimal = WideDecimal(20),
        winRateWindow: Int = 20, winRateMultiplier: WideDecimal = WideDecimal(60), winRateCap: WideDecimal = WideDecimal(15),
        overtradingTradesPerHour: Int = 5, overtradingPenalty: WideDecimal = WideDecimal(30),
        calmBonus: WideDecimal = WideDecimal(10), stressPenalty: WideDecimal = WideDecimal(15),
        calmVolatilityPercent: WideDecimal = WideDecimal(1), calmSpreadBps: WideDecimal = WideDecimal(10),
        stressedVolatilityPercent: WideDecimal = WideDecimal(5), stressedSpreadBps: WideDecimal = WideDecimal(50),
        learningTrades: Int = 5, confidentScore: WideDecimal = WideDecimal(70), cautiousScore: WideDecimal = WideDecimal(40),
        publishScoreMove: WideDecimal = WideDecimal(10)
    ) {
        self.pnlMultiplier = pnlMultiplier
        self.pnlCap = pnlCap
        self.winRateWindow = winRateWindow
        self.winRateMultiplier = winRateMultiplier
        self.winRateCap = winRateCap
        self.overtradingTradesPerHour = overtradingTradesPerHour
        self.overtradingPenalty = overtradingPenalty
        self.calmBonus = calmBonus
        self.stressPenalty = stressPenalty
        self.calmVolatilityPercent = calmVolatilityPercent
        self.calmSpreadBps = calmSpreadBps
        self.stressedVolatilityPercent = stressedVolatilityPercent
        self.stressedSpreadBps = stressedSpreadBps
        self.learningTrades = learningTrades
        self.confidentScore = confidentScore
        self.cautiousScore = cautiousScore
        self.publishScoreMove = publishScoreMove
    }
}

/// Market conditions for one symbol the user holds; `nil` when not known (no candles or no book).
public struct MarketCondition: Sendable, Hashable {
    public var venue: String
    public var symbol: String
    /// 1 h realized volatility in percent (``Volatility/realizedPercent(closes:)``).
    public var volatilityPercent: WideDecimal?
    public var spreadBps: WideDecimal?

    public init(venue: String, symbol: String, volatilityPercent: WideDecimal?, spreadBps: WideDecimal?) {
        self.venue = venue
        self.symbol = symbol
        self.volatilityPercent = volatilityPercent
        self.spreadBps = spreadBps
    }
}

public struct MoodInputs: Sendable, Hashable {
    /// Realized + unrealized P&L over 24 h as a percentage of the balance 24 h ago; `nil` (unknown) gives factor 0.
    public var pnlPercent: WideDecimal?
    /// Realized P&L of closed trades, newest first; the newest `winRateWindow` are used.
    public var closedTradePnL: [WideDecimal]
    public var tradesLastHour: Int
    public var totalTrades: Int
    /// One entry per symbol the user holds.
    public var market: [MarketCondition]

    public init(
        pnlPercent: WideDecimal?, closedTradePnL: [WideDecimal], tradesLastHour: Int, totalTrades: Int,
        market: [MarketCondition]
    ) {
        self.pnlPercent = pnlPercent
        self.closedTradePnL = closedTradePnL
        self.tradesLastHour = tradesLastHour
        self.totalTrades = totalTrades
        self.market = market
    }
}



/// The mood formula of DESIGN.md: score = 50 + P&L + win rate − overtrading + market, clamped to 0–100.
///
/// Choices where the design is silent:
/// - Each factor is rounded half-even to 2 fraction digits before summing, so the published
///   factors add up exactly to the published score (itself 2 digits).
/// - No closed trades: win-rate factor 0 (no evidence either way).
/// - Several held symbols: stressed if ANY is stressed, calm only if ALL are calm, else neutral;
///   no holdings: 0. A symbol with unknown volatility or spread is never calm, and is stressed
///   only when the known value alone exceeds its stress limit.
/// - The state uses the rounded score; `learning` wins over `fatigued`.
public enum MoodMeter {
    public static func evaluate(_ inputs: MoodInputs, thresholds t: MoodThresholds = .init()) -> MoodReading {
        let pnl = pnlFactor(inputs.pnlPercent, t)
        let win = winRateFactor(inputs.closedTradePnL, t)
        let overtrading = inputs.tradesLastHour >= t.overtradingTradesPerHour
        let penalty = (overtrading ? t.overtradingPenalty : .zero).atFractionDigits(2)
        let market = marketFactor(inputs.market, t)

        // Factors are bounded (caps), so these sums cannot overflow.
        let raw = WideDecimal(50).adding(pnl.value)!.adding(win.value)!.subtracting(penalty)!.adding(market.value)!
        let score = raw.clamped(.zero, WideDecimal(100)).atFractionDigits(2)

        let state: MoodState
        if inputs.totalTrades < t.learningTrades {
            state = .learning
        } else if overtrading {
            state = .fatigued
        } else if score >= t.confidentScore {
            state = .confident
        } else if score >= t.cautiousScore {
            state = .cautious
        } else {
            state = .conservative
        }

        var parts: [String] = []
        if state == .learning {
            parts.append("\(inputs.totalTrades) trades so far, \(t.learningTrades) needed before the mood is judged")
        }
        parts.append(pnl.text)
        parts.append(win.text)
        let activity = "\(inputs.tradesLastHour) trades in the last hour, \(inputs.totalTrades) in total"
        parts.append(
            overtrading
                ? "overtrading: \(activity), \(t.overtradingTradesPerHour) or more in an hour (\(penalty.negated.signedText))"
                : "no overtrading (\(activity)) (\(penalty.signedText))")
        parts.append(market.text)
        let reason = "\(state.rawValue) (score \(score)): " + parts.joined(separator: "; ")

        return MoodReading(
            score: score, state: state,
            factors: MoodFactors(pnl: pnl.value, winRate: win.value, overtrading: penalty, market: market.value),
            reason: reason)
    }

    /// Publish when there is no previous reading, the state changed, or the score moved by at least `publishScoreMove`.
    public static func shouldPublish(
        previous: MoodReading?, current: MoodReading, thresholds: MoodThresholds = .init()
    ) -> Bool {
        guard let previous else { return true }
        if previous.state != current.state { return true }
        guard let move = current.score.subtracting(previous.score) else { return true }
        return move.magnitude >= thresholds.publishScoreMove
    }

    private struct Factor {
        var value: WideDecimal
        var text: String
    }

    private static func pnlFactor(_ percent: WideDecimal?, _ t: MoodThresholds) -> Factor {
        guard let percent else { return Factor(value: WideDecimal.zero.atFractionDigits(2), text: "P&L over 24h unknown (0.00)") }
        let cap = t.pnlCap
        // Overflow only for absurd percentages: those are past the cap anyway.
        let raw = percent.multiplied(by: t.pnlMultiplier) ?? (percent.isNegative ? cap.negated : cap)
        let value = raw.clamped(cap.negated, cap).atFractionDigits(2)
        let capped = raw.magnitude > cap ? ", capped" : ""
        return Factor(
            value: value, text: "P&L \(percent.atFractionDigits(2).signedText)% over 24h (\(value.signedText)\(capped))")
    }

    private static func winRateFactor(_ closed: [WideDecimal], _ t: MoodThresholds) -> Factor {
        let recent = closed.prefix(max(t.winRateWindow, 0))
        let n = recent.count
        guard n > 0 else { return Factor(value: WideDecimal.zero.atFractionDigits(2), text: "win rate: no closed trades yet (0.00)") }
        let wins = recent.filter(\.isPositive).count
        // (wins/n − 0.5) × m = (2·wins − n) × m / (2n): one exact division, rounded once.
        let raw = WideDecimal(2 * wins - n).multiplied(by: t.winRateMultiplier)!
            .divided(by: WideDecimal(2 * n), roundingToFractionDigits: 2)!
        let cap = t.winRateCap
        let value = raw.clamped(cap.negated, cap).atFractionDigits(2)
        let capped = raw.magnitude > cap ? ", capped" : ""
        let rate = WideDecimal(100 * wins).divided(by: WideDecimal(n), roundingToFractionDigits: 1)!.trimmed
        return Factor(
            value: value,
            text: "win rate \(rate)% over \(n) closed trades (\(wins) wins) (\(value.signedText)\(capped))")
    }

    enum Condition: String { case calm, neutral, stressed }

    static func classify(_ c: MarketCondition, _ t: MoodThresholds) -> Condition {
        if let v = c.volatilityPercent, v > t.stressedVolatilityPercent { return .stressed }
        if let s = c.spreadBps, s > t.stressedSpreadBps { return .stressed }
        if let v = c.volatilityPercent, let s = c.spreadBps, v < t.calmVolatilityPercent, s < t.calmSpreadBps {
            return .calm
        }
        return .neutral
    }

    /// At most 2 fraction digits, trailing zeros dropped (`2.1`, `4`).
    private static func shortText(_ d: WideDecimal) -> String { d.rounded(toFractionDigits: 2).trimmed.description }

    private static func marketFactor(_ market: [MarketCondition], _ t: MoodThresholds) -> Factor {
        guard !market.isEmpty else { return Factor(value: WideDecimal.zero.atFractionDigits(2), text: "market: no holdings (0.00)") }
        let kinds = market.map { classify($0, t) }
        let overall: Condition =
            kinds.contains(.stressed) ? .stressed : kinds.allSatisfy { $0 == .calm } ? .calm : .neutral
        let value: WideDecimal
        switch overall {
        case .stressed: value = t.stressPenalty.negated.atFractionDigits(2)
        case .calm: value = t.calmBonus.atFractionDigits(2)
        case .neutral: value = WideDecimal.zero.atFractionDigits(2)
        }
        // A plain loop and a static helper: a nested func over WideDecimal? called from a closure here
        // crashed debug builds (Swift 6.3.1, misaligned 16-byte load).
        var symbols: [String] = []
        for (c, kind) in zip(market, kinds) {
            let vol = c.volatilityPercent.map { "\(shortText($0))%" } ?? "unknown"
            let spread = c.spreadBps.map { "\(shortText($0)) bps" } ?? "unknown"
            symbols.append("\(c.venue) \(c.symbol) \(kind.rawValue) (vol \(vol), spread \(spread))")
        }
        return Factor(value: value, text: "market \(overall.rawValue): \(symbols.joined(separator: ", ")) (\(value.signedText))")
    }
}
