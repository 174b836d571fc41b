import MarketCore
import Testing

@testable import Services


private func double(_ x: WideDecimal) -> Double { Double(x.description)! }

/// Textbook EMA in Double (SMA seed), as an independent reference.
private func emaReference(_ xs: [Double], period: Int) -> [Double?] {
    let alpha = 2.0 / Double(period + 1)
    var out: [Double?] = []
    var ema: Double?
    for (i, x) in xs.enumerated() {
        if let e = ema {
            ema = e + alpha * (x - e)
        } else if i == period - 1 {
            ema = xs[0..<period].reduce(0, +) / Double(period)
        }
        out.append(ema)
    }
    return out
}

/// Textbook Wilder RSI in Double: 100 − 100/(1 + RS).
private func rsiReference(_ closes: [Double], period: Int) -> [Double?] {
    var out: [Double?] = [nil]
    var gain = 0.0
    var loss = 0.0
    for i in 1..<closes.count {
        let change = closes[i] - closes[i - 1]
        let up = max(change, 0)
        let down = max(-change, 0)
        if i < period {
            gain += up
            loss += down
            out.append(nil)
            continue
        }
        if i == period {
            gain = (gain + up) / Double(period)
            loss = (loss + down) / Double(period)
        } else {
            gain = (gain * Double(period - 1) + up) / Double(period)
            loss = (loss * Double(period - 1) + down) / Double(period)
        }
        out.append(loss == 0 ? 100 : 100 - 100 / (1 + gain / loss))
    }
    return out
}

/// Wilder's example as tabulated by StockCharts ("Relative Strength Index (RSI)").
private let wilderCloses = [
    "44.34", "44.09", "44.15", "43.61", "44.33", "44.83", "45.10", "45.42", "45.84", "46.08", "45.89", "46.03", "45.61",
    "46.28", "46.28", "46.00", "46.03", "46.41", "46.22", "45.64", "46.21", "46.25", "45.71", "46.45", "45.78", "45.35",
    "44.03", "44.18", "44.22", "44.57", "43.42", "42.66", "43.13",
]

@Suite struct EMATests {
    @Test func handValues() {
        // Period 3 (α = ½): seed = (1+2+3)/3 = 2, then (2·4 + 2·2)/4 = 3, (2·5 + 2·3)/4 = 4, (2·6 + 2·4)/4 = 5.
        var ema = EMA(period: 3)
        let out = (1...6).map { ema.update(WideDecimal($0)) }
        #expect(out == [nil, nil, d("2"), d("3"), d("4"), d("5")])
    }

    @Test func matchesADoubleReference() {
        let cents = (0..<80).map { 5_000 + ($0 * 53) % 97 + $0 * 3 }
        for period in [9, 21] {
            var ema = EMA(period: period)
            let reference = emaReference(cents.map { Double($0) / 100 }, period: period)
            for (c, expected) in zip(cents, reference) {
                let value = ema.update(WideDecimal(mantissa: Int128(c), scale: 2, displayScale: 2))
                #expect((value == nil) == (expected == nil))
                if let value, let expected {
                    #expect(abs(double(value) - expected) < 1e-9)
                    #expect(value.scale <= 18)  // 2/22 does not terminate: kept at 18 digits
                }
            }
        }
    }
}

@Suite struct RSITests {
    @Test func wilderExampleFirstValues() throws {
        var rsi = RSI()
        let out = wilderCloses.map { rsi.update(d($0)) }
        #expect(out[0..<14].allSatisfy { $0 == nil })
        // First 14 changes: gains 0.06+0.72+0.50+0.27+0.32+0.42+0.24+0.14+0.67 = 3.34,
        // losses 0.25+0.54+0.19+0.42 = 1.40 → RSI = 100·3.34/(3.34+1.40) = 70.4641…
        // (StockCharts shows 70.53 because it rounds the averages to 0.24 and 0.10 first.)
        #expect(try #require(out[14]).description == "70.4641")
        // Next change −0.28: avgGain = 3.34·13/14², avgLoss = (1.40·13/14 + 0.28)/14 = 1.58/14
        // → RSI = 100·43.42/(43.42 + 22.12) = 66.2496…
        #expect(try #require(out[15]).description == "66.2496")
    }

    @Test func wilderExampleMatchesADoubleReference() {
        var rsi = RSI()
        let reference = rsiReference(wilderCloses.map { Double($0)! }, period: 14)
        for (c, expected) in zip(wilderCloses, reference) {
            let value = rsi.update(d(c))
            #expect((value == nil) == (expected == nil))
            if let value, let expected { #expect(abs(double(value) - expected) < 1e-4) }
        }
    }

    @Test func hundredWithoutLosses() {
        var rsi = RSI(period: 3)
        let out = ["1", "2", "3", "3", "4"].map { rsi.update(d($0)) }
        #expect(out[0..<3].allSatisfy { $0 == nil })
        #expect(out[3]?.description == "100.0000")
        #expect(out[4]?.description == "100.0000")
    }
}

@Suite struct StrategyTests {
    @Test func crossoverOneBuyOneSell() {
        // Flat (EMAs equal, no side), then up 30 steps, then down 30 steps.
        let closes = Array(repeating: 100, count: 25) + (1...30).map { 100 + $0 } + (1...30).map { 130 - 2 * $0 }
        var strategy = EMACrossover()
        #expect(strategy.name == "ema_cross")
        var decisions: [(Int, SignalDecision)] = []
        for (i, c) in closes.enumerated() {
            if let decision = strategy.update(close: WideDecimal(c)) { decisions.append((i, decision)) }
        }
        #expect(decisions.map(\.1.side) == [.buy, .sell])
        #expect(decisions.first?.0 == 25)  // the first rising close lifts the fast EMA above the slow one
        for (_, decision) in decisions {
            let fast = decision.values["fast"]!
            let slow = decision.values["slow"]!
            #expect(decision.side == .buy ? fast > slow : fast < slow)
        }
        #expect(decisions.first?.1.reason.hasPrefix("EMA(9) ") == true)
    }

    @Test func crossoverIgnoresATrendAlreadyUnderWay() {
        // Rising from the start: when both EMAs first exist fast > slow; that is a baseline, not a cross.
        var strategy = EMACrossover()
        let decisions = (1...60).compactMap { strategy.update(close: WideDecimal(100 + $0)) }
        #expect(decisions.isEmpty)
    }

    @Test func rsiReversal() throws {
        // Period 5, steps of ±1 so avgGain + avgLoss stays 1 and RSI = 100·avgGain.
        // 5 rises: gain 1, loss 0 → 100. Falls: gain ×0.8 each: 80, 64, 51.2, 40.96, 32.768, 26.2144 → buy.
        // Then rises: gain ← (4·gain + 1)/5: 40.97152, 52.777216, 62.2217728, 69.77741824, 75.821934592 → sell.
        let closes = (10...15).map { $0 } + (9...14).reversed().map { $0 } + (10...14).map { $0 }
        var strategy = RSIReversal(period: 5)
        #expect(strategy.name == "rsi")
        let decisions = closes.compactMap { strategy.update(close: WideDecimal($0)) }
        #expect(decisions.map(\.side) == [.buy, .sell])
        #expect(decisions.map { $0.values["rsi"]!.description } == ["26.2144", "75.8219"])
    }

    @Test func rsiReversalFiresOncePerCross() {
        // Falling for longer keeps RSI under 30 (20.97…, 16.77…): still one buy.
        let closes = (10...15).map { $0 } + (5...14).reversed().map { $0 }
        var strategy = RSIReversal(period: 5)
        let decisions = closes.compactMap { strategy.update(close: WideDecimal($0)) }
        #expect(decisions.map(\.side) == [.buy])
    }
}
