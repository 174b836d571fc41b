import MarketCore
import Testing

@testable import Services



/// Inputs where every factor is 0 unless given: 20 trades in total (not learning), none in the last hour.
private func inputs(
    pnl: String? = nil, closed: [String] = [], lastHour: Int = 0, total: Int = 20, market: [MarketCondition] = []
) -> MoodInputs {
    MoodInputs(
        pnlPercent: pnl.map(d), closedTradePnL: closed.map(d), tradesLastHour: lastHour, totalTrades: total,
        market: market)
}

private func mood(_ i: MoodInputs, _ t: MoodThresholds = .init()) -> MoodReading { MoodMeter.evaluate(i, thresholds: t) }

private func symbol(_ vol: String?, _ spread: String?, _ name: String = "BTC-USDT") -> MarketCondition {
    MarketCondition(venue: "binance", symbol: name, volatilityPercent: vol.map(d), spreadBps: spread.map(d))
}

/// `wins` winning trades (+1) then `losses` others (`lossValue`), newest first.
private func trades(wins: Int, losses: Int, lossValue: String = "-1") -> [String] {
    Array(repeating: "1", count: wins) + Array(repeating: lossValue, count: losses)
}

@Suite struct MoodStateTests {
    @Test func learningBelowFiveTrades() {
        // 50 + 4×2.5 = 60 would be cautious, but 4 < 5 trades in total.
        let r = mood(inputs(pnl: "2.5", total: 4))
        #expect(r.state == .learning)
        #expect(r.score.description == "60.00")
        #expect(r.reason.hasPrefix("learning (score 60.00): 4 trades so far, 5 needed"))
        #expect(mood(inputs(total: 5)).state == .cautious)
    }

    @Test func fatiguedWhenOvertrading() {
        // 50 + 20 (4 × 5 %) − 30 = 40: fatigued wins over the score's state.
        let r = mood(inputs(pnl: "5", lastHour: 5))
        #expect(r.state == .fatigued)
        #expect(r.score.description == "40.00")
    }

    @Test func confidentCautiousConservative() {
        #expect(mood(inputs(pnl: "5")).state == .confident)  // 50 + 4×5 = 70
        #expect(mood(inputs()).state == .cautious)  // 50
        #expect(mood(inputs(pnl: "-5")).state == .conservative)  // 50 − 4×5 = 30
    }

    @Test func boundariesUseTheRoundedScore() {
        // 4 × 4.9975 = 19.99 → 69.99 cautious; 4 × 5 = 20 → 70.00 confident
        #expect(mood(inputs(pnl: "4.9975")).score.description == "69.99")
        #expect(mood(inputs(pnl: "4.9975")).state == .cautious)
        #expect(mood(inputs(pnl: "5")).state == .confident)
        // 4 × 4.99875 = 19.995 → half-even (kept digit 9 is odd) 20.00 → 70.00, so confident.
        #expect(mood(inputs(pnl: "4.99875")).score.description == "70.00")
        #expect(mood(inputs(pnl: "4.99875")).state == .confident)
        // 4 × (−2.5) = −10 → 40.00 cautious; 4 × (−2.5025) = −10.01 → 39.99 conservative
        #expect(mood(inputs(pnl: "-2.5")).state == .cautious)
        #expect(mood(inputs(pnl: "-2.5025")).score.description == "39.99")
        #expect(mood(inputs(pnl: "-2.5025")).state == .conservative)
    }
}

@Suite struct MoodFactorTests {
    @Test func pnlFactorClamps() {
        #expect(mood(inputs(pnl: "10")).factors.pnl == d("20"))  // 4×10 = 40 → cap 20
        #expect(mood(inputs(pnl: "-7")).factors.pnl == d("-20"))  // 4×(−7) = −28 → −20
        #expect(mood(inputs(pnl: "2.5")).factors.pnl == d("10"))  // 4×2.5 = 10
        #expect(mood(inputs(pnl: nil)).factors.pnl == .zero)  // unknown
        // 4 × 0.00125 = 0.005 → half-even 0.00; 4 × 0.00375 = 0.015 → 0.02
        #expect(mood(inputs(pnl: "0.00125")).factors.pnl.description == "0.00")
        #expect(mood(inputs(pnl: "0.00375")).factors.pnl.description == "0.02")
    }

    @Test func winRateFactorClamps() {
        // (20/20 − 0.5) × 60 = 30 → cap 15
        #expect(mood(inputs(closed: trades(wins: 20, losses: 0))).factors.winRate == d("15"))
        // (0/20 − 0.5) × 60 = −30 → −15; a zero P&L is not a win
        #expect(mood(inputs(closed: trades(wins: 0, losses: 20, lossValue: "0"))).factors.winRate == d("-15"))
        // (12/20 − 0.5) × 60 = 6
        #expect(mood(inputs(closed: trades(wins: 12, losses: 8))).factors.winRate == d("6"))
        // (3/7 − 0.5) × 60 = −60/14 = −4.2857… → −4.29
        #expect(mood(inputs(closed: trades(wins: 3, losses: 4))).factors.winRate.description == "-4.29")
        // no closed trades → 0
        #expect(mood(inputs(closed: [])).factors.winRate == .zero)
    }

    @Test func winRateUsesTheNewestTwenty() {
        // Newest 20: 12 wins, 8 losses → +6; the 5 older losses are outside the window.
        let closed = trades(wins: 12, losses: 8) + Array(repeating: "-1", count: 5)
        #expect(mood(inputs(closed: closed)).factors.winRate == d("6"))
    }

    @Test func overtradingStartsAtFiveTradesAnHour() {
        let four = mood(inputs(lastHour: 4))
        #expect(four.factors.overtrading == .zero)
        #expect(four.state == .cautious)
        #expect(four.score == d("50"))
        let five = mood(inputs(lastHour: 5))
        #expect(five.factors.overtrading == d("30"))
        #expect(five.score == d("20"))  // 50 − 30
        #expect(five.state == .fatigued)
    }

    @Test func marketFactorSingleSymbol() {
        #expect(mood(inputs(market: [symbol("0.5", "4")])).factors.market == d("10"))  // calm
        #expect(mood(inputs(market: [symbol("2.1", "4.2")])).factors.market == .zero)  // neutral (vol)
        #expect(mood(inputs(market: [symbol("0.5", "20")])).factors.market == .zero)  // neutral (spread)
        #expect(mood(inputs(market: [symbol("5.01", "4")])).factors.market == d("-15"))  // stressed by vol
        #expect(mood(inputs(market: [symbol("0.5", "50.01")])).factors.market == d("-15"))  // stressed by spread
        // The limits are strict: vol exactly 1 is not calm, vol 5 / spread 50 are not stressed.
        #expect(mood(inputs(market: [symbol("1", "4")])).factors.market == .zero)
        #expect(mood(inputs(market: [symbol("0.5", "10")])).factors.market == .zero)
        #expect(mood(inputs(market: [symbol("5", "50")])).factors.market == .zero)
        #expect(mood(inputs(market: [])).factors.market == .zero)  // no holdings
        // 50 + 10 = 60
        #expect(mood(inputs(market: [symbol("0.5", "4")])).score.description == "60.00")
    }

    @Test func marketFactorUnknownValues() {
        #expect(mood(inputs(market: [symbol(nil, "4")])).factors.market == .zero)  // never calm without vol
        #expect(mood(inputs(market: [symbol("0.5", nil)])).factors.market == .zero)
        #expect(mood(inputs(market: [symbol(nil, "60")])).factors.market == d("-15"))  // spread alone is stressed
        #expect(mood(inputs(market: [symbol("6", nil)])).factors.market == d("-15"))
    }

    @Test func marketFactorSeveralSymbols() {
        let calm = symbol("0.5", "4", "BTC-USDT")
        let calm2 = symbol("0.2", "1", "ETH-USDT")
        let neutral = symbol("2", "4", "SOL-USDT")
        let stressed = symbol("7", "4", "DOGE-USDT")
        #expect(mood(inputs(market: [calm, calm2])).factors.market == d("10"))  // all calm
        #expect(mood(inputs(market: [calm, neutral])).factors.market == .zero)  // not all calm
        #expect(mood(inputs(market: [calm, calm2, stressed])).factors.market == d("-15"))  // any stressed
        #expect(mood(inputs(market: [neutral, stressed])).factors.market == d("-15"))
    }

    @Test func scoreClampsToZeroAndHundred() {
        // 50 − 20 (pnl −10 %) − 15 (no wins) − 30 (overtrading) − 15 (stressed) = −30 → 0
        let low = mood(inputs(pnl: "-10", closed: trades(wins: 0, losses: 20), lastHour: 6, market: [symbol("9", "4")]))
        #expect(low.score.description == "0.00")
        #expect(low.state == .fatigued)
        // Defaults top out at 95; with a pnl cap of 60: 50 + 40 (4 × 10) + 15 + 10 = 115 → 100
        let t = MoodThresholds(pnlCap: WideDecimal(60))
        let high = mood(inputs(pnl: "10", closed: trades(wins: 20, losses: 0), market: [symbol("0.1", "1")]), t)
        #expect(high.factors.pnl == d("40"))
        #expect(high.score.description == "100.00")
        #expect(high.state == .confident)
    }
}

@Suite struct MoodOutputTests {
    @Test func reasonNamesEveryFactor() {
        // 50 + 4×2.5 (+10) + (9/20 − 0.5)×60 (−3) − 0 + 0 = 57
        let r = mood(
            inputs(pnl: "2.5", closed: trades(wins: 9, losses: 11), lastHour: 2, total: 40, market: [symbol("2.1", "4.2")]))
        #expect(
            r.reason
                == "cautious (score 57.00): P&L +2.50% over 24h (+10.00); win rate 45% over 20 closed trades (9 wins) (-3.00); "
                + "no overtrading (2 trades in the last hour, 40 in total) (0.00); "
                + "market neutral: binance BTC-USDT neutral (vol 2.1%, spread 4.2 bps) (0.00)")
    }

    @Test func reasonMarksCapsAndPenalties() {
        // 50 + 20 (4×8 = 32, capped) + 15 ((5/5 − 0.5)×60 = 30, capped) − 30 − 15 = 40
        let r = mood(
            inputs(
                pnl: "8", closed: trades(wins: 5, losses: 0), lastHour: 5, total: 9,
                market: [symbol("0.5", "4"), symbol(nil, "70", "ETH-USDT")]))
        #expect(r.score.description == "40.00")
        #expect(r.reason.hasPrefix("fatigued (score 40.00): "))
        #expect(r.reason.contains("P&L +8.00% over 24h (+20.00, capped)"))
        #expect(r.reason.contains("win rate 100% over 5 closed trades (5 wins) (+15.00, capped)"))
        #expect(r.reason.contains("overtrading: 5 trades in the last hour, 9 in total, 5 or more in an hour (-30.00)"))
        #expect(
            r.reason.contains(
                "market stressed: binance BTC-USDT calm (vol 0.5%, spread 4 bps), binance ETH-USDT stressed (vol unknown, spread 70 bps) (-15.00)"
            ))
    }

    @Test func reasonForUnknownInputs() {
        let r = mood(inputs(total: 2))
        #expect(
            r.reason
                == "learning (score 50.00): 2 trades so far, 5 needed before the mood is judged; P&L over 24h unknown (0.00); "
                + "win rate: no closed trades yet (0.00); no overtrading (0 trades in the last hour, 2 in total) (0.00); "
                + "market: no holdings (0.00)")
    }

    @Test func moodUpdateJSON() {
        let r = mood(inputs(pnl: "2.5", closed: trades(wins: 9, losses: 11), lastHour: 2, total: 40))
        var w = JSONWriter()
        r.writeJSON(into: &w, user: "alice", time: .milliseconds(1_700_000_000_123))
        let json = String(decoding: w.bytes, as: UTF8.self)
        #expect(
            json
                == #"{"type":"mood_update","user":"alice","ts":"2023-11-14T22:13:20.123Z","score":"57.00","state":"cautious","#
                + #""factors":{"pnl":"10.00","win_rate":"-3.00","overtrading":"0.00","market":"0.00"},"#
                + #""reason":"\#(r.reason)"}"#)
        #expect(r.factorsJSON == #"{"pnl":"10.00","win_rate":"-3.00","overtrading":"0.00","market":"0.00"}"#)
        #expect(mood(inputs(lastHour: 5)).factorsJSON.contains(#""overtrading":"30.00""#))
    }

    @Test func shouldPublish() {
        let base = mood(inputs())  // 50.00 cautious
        #expect(MoodMeter.shouldPublish(previous: nil, current: base))
        #expect(!MoodMeter.shouldPublish(previous: base, current: base))
        // 4 × 2.4975 = 9.99 → 59.99: same state, moved 9.99
        #expect(!MoodMeter.shouldPublish(previous: base, current: mood(inputs(pnl: "2.4975"))))
        // 4 × 2.5 = 10 → 60.00: moved 10
        #expect(MoodMeter.shouldPublish(previous: base, current: mood(inputs(pnl: "2.5"))))
        // 4 × (−2.5) = −10 → 40.00: moved −10, still cautious
        #expect(MoodMeter.shouldPublish(previous: base, current: mood(inputs(pnl: "-2.5"))))
        // 69.99 cautious → 70.00 confident: moved 0.01 but the state changed
        #expect(MoodMeter.shouldPublish(previous: mood(inputs(pnl: "4.9975")), current: mood(inputs(pnl: "5"))))
    }
}
