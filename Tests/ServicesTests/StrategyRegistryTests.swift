import MarketCore
import Feeds
import Services
import Storage
import Testing
import _TestSupport


private func bars(_ closes: [Int]) -> [BacktestBar] {
    closes.enumerated().map { BacktestBar(time: .seconds(Int64($0.offset) * 60), close: WideDecimal($0.element)) }
}

@Suite("Strategy definitions, backtests, risk, royalties and the registry (issue 23)")
struct StrategyRegistryTests {
    @Test("Breakout signals once per break, after lookback closes")
    func breakoutSignals() {
        var s = Breakout(lookback: 3)
        let closes = [10, 11, 12, 13, 12, 11, 9, 8, 14]
        var got: [String] = []
        for (i, c) in closes.enumerated() {
            if let decision = s.update(close: WideDecimal(c)) { got.append("\(i):\(decision.side.text)") }
        }
        // By hand: 13 > max(10,11,12); 11 < min(13,12,12); 9 and 8 are lower lows after a sell
        // (silent); 14 > max(9,8,11).
        #expect(got == ["3:buy", "5:sell", "8:buy"])
    }

    @Test("Validation fills defaults, sorts lists and names every problem")
    func validation() throws {
        let ok = try StrategyDefinition(
            name: "fast-ema", kind: .emaCross, parameters: ["fast": "5"], instruments: ["coinbase:ETH-USD", "binance:BTC-USDT"],
            intervals: ["5m", "1m"]
        ).validated()
        #expect(ok.parameters == ["fast": "5", "slow": "21"])
        #expect(ok.instruments == ["binance:BTC-USDT", "coinbase:ETH-USD"])
        #expect(ok.intervals == ["1m", "5m"])
        // The canonical content and its SHA-256 (computed outside Swift: Python's hashlib).
        #expect(
            ok.canonicalContent
                == #"{"instruments":["binance:BTC-USDT","coinbase:ETH-USD"],"intervals":["1m","5m"],"kind":"ema_cross","parameters":{"fast":"5","slow":"21"}}"#
        )
        #expect(ok.contentHash == "81deb78c567f6af6e27dd0047123d18d7bd95ca1b9404b7d7a3a8812b5b36eff")
        // Name and version are labels: the same content under another name hashes the same.
        var renamed = ok
        renamed.name = "other"
        renamed.version = 7
        #expect(try renamed.validated().contentHash == ok.contentHash)

        let bad = StrategyDefinition(
            name: "Bad Name", kind: .emaCross, parameters: ["fast": "30", "slow": "2.5", "extra": "1"],
            instruments: ["nowhere:BTC-USDT", "binance:btc"], intervals: ["1h"])
        #expect(throws: StrategyDefinitionError.self) { try bad.validated() }
        do {
            _ = try bad.validated()
        } catch {
            #expect(
                error.problems == [
                    "name: 1 to 64 characters of a-z, 0-9, '-' and '_'",
                    "parameters.extra: unknown for ema_cross (known: fast, slow)",
                    "parameters.slow: 2.5 must be a whole number",
                    "instruments[0]: \"nowhere:BTC-USDT\" is not venue:SYMBOL with a known venue (binance, binance-coinm, binance-usdm, bybit, coinbase, kraken, okx)",
                    "instruments[1]: \"binance:btc\" is not venue:SYMBOL with a known venue (binance, binance-coinm, binance-usdm, bybit, coinbase, kraken, okx)",
                    "intervals: one or both of 1m, 5m",
                ])
        }
        let rsi = StrategyDefinition(
            name: "r", kind: .rsi, parameters: ["oversold": "70", "overbought": "30"], instruments: ["okx:BTC-USDT"])
        #expect(throws: StrategyDefinitionError.self) { try rsi.validated() }
        do { _ = try rsi.validated() } catch { #expect(error.problems == ["parameters.overbought: must be greater than oversold (70)"]) }
    }

    @Test("Backtest: fills, fees, equity, drawdown and return equal a hand computation")
    func backtestByHand() throws {
        var options = BacktestOptions()
        options.initialCash = WideDecimal(1000)
        options.feeRate = d("0.001")
        let result = try Backtester(options: options).run(Breakout(lookback: 3), bars: bars([10, 11, 12, 13, 12, 11, 9, 8, 14]))
        // Computed with Python's decimal module: q = ⌊1000 ÷ (13 × 1.001)⌋₈ = 76.84623069, notional
        // 999.00099897, fee 0.99900099897; sold at 11: notional 845.30853759, fee 0.84530853759;
        // bought again at 14: q = ⌊844.46322908344 ÷ 14.014⌋₈ = 60.25854353, fee 0.84361960942.
        #expect(result.trades.map(\.side) == [.buy, .sell, .buy])
        #expect(result.trades.map(\.quantity) == [d("76.84623069"), d("76.84623069"), d("60.25854353")])
        #expect(result.trades.map(\.fee) == [d("0.99900099897"), d("0.84530853759"), d("0.84361960942")])
        #expect(result.trades[1].cash == d("844.46322908344"))
        #expect(
            result.equity == [
                "1000", "1000", "1000", "999.00099900103", "922.15476831103", "844.46322908344", "844.46322908344",
                "844.46322908344", "843.61960947402",
            ].map(d))
        #expect(result.roundTripReturns == [d("-0.15553677")])
        #expect(result.maxDrawdown == d("0.15638039"))
        #expect(result.totalReturn == d("-0.15638039"))
        #expect(result.finalEquity == d("843.61960947402"))
        #expect(result.sharpe != nil)
        #expect(result.sharpe! < 0)
    }

    @Test("Monte Carlo VaR/CVaR agree with the exact distribution of the same bootstrap")
    func monteCarloAgainstEnumeration() throws {
        let returns = [0.1, -0.1, -0.5, 0.2]
        let risk = try #require(MonteCarloRisk(returns: returns, paths: 200_000))
        // Exact: all 4⁴ equally likely draws of four returns.
        var losses: [Double] = []
        for a in returns { for b in returns { for c in returns { for e in returns {
            losses.append(1 - (1 + a) * (1 + b) * (1 + c) * (1 + e))
        } } } }
        losses.sort(by: >)
        func exactTail(_ level: Double) -> (Double, Double) {
            // Worst (1 − level) of the probability mass, each path 1/256.
            let mass = 1 - level
            var taken = 0.0
            var sum = 0.0
            var quantile = 0.0
            for loss in losses where taken < mass - 1e-12 {
                let w = min(1.0 / 256, mass - taken)
                sum += w * loss
                taken += w
                quantile = loss
            }
            return (quantile, sum / mass)
        }
        let (v99, c99) = exactTail(0.99)
        #expect(abs(v99 - 0.8875) < 1e-12)  // three −50 % and one −10 %: 1 − 0.5³ × 0.9
        #expect(abs(risk.var99 - v99) < 1e-9)
        #expect(abs(risk.cvar99 - c99) < 0.003)
        let (v95, c95) = exactTail(0.95)
        // The 5 % quantile sits at the border of two outcomes 0.0125 apart; sampling may pick either.
        #expect(abs(risk.var95 - v95) <= 0.0125 + 1e-9)
        #expect(abs(risk.cvar95 - c95) < 0.003)
        #expect(MonteCarloRisk(returns: []) == nil)
    }

    @Test("Royalties through three generations equal an independent computation; the fourth gets none")
    func royalties() throws {
        let policy = RoyaltyPolicy()  // 5 %, 3 generations
        let tx = try #require(
            try policy.transaction(
                id: "r1", time: .seconds(1), asset: "USDC", fee: d("33.333333"), ancestorCreators: ["alice", "bob", "carol", "dave"]))
        // 5 % of 33.333333 = 1.66666665 each, by hand; the house pays 3 × that.
        #expect(tx.kind == .royalty)
        #expect(
            tx.postings == [
                LedgerPosting(.house(.houseFees, "USDC"), d("-4.99999995")),
                LedgerPosting(.user("alice", .available, "USDC"), d("1.66666665")),
                LedgerPosting(.user("bob", .available, "USDC"), d("1.66666665")),
                LedgerPosting(.user("carol", .available, "USDC"), d("1.66666665")),
            ])
        // A creator at two depths is paid twice, in one posting.
        let twice = try #require(
            try policy.transaction(id: "r2", time: .seconds(1), asset: "USDC", fee: d("10"), ancestorCreators: ["alice", "bob", "alice"]))
        #expect(
            twice.postings == [
                LedgerPosting(.house(.houseFees, "USDC"), d("-1.5")),
                LedgerPosting(.user("alice", .available, "USDC"), d("1")),
                LedgerPosting(.user("bob", .available, "USDC"), d("0.5")),
            ])
        #expect(try policy.transaction(id: "r3", time: .seconds(1), asset: "USDC", fee: d("10"), ancestorCreators: []) == nil)
        #expect(try policy.transaction(id: "r4", time: .seconds(1), asset: "USDC", fee: .zero, ancestorCreators: ["a"]) == nil)
    }

    @Test("Registry: a strategy that fails its check cannot be attached; lineage and duplicates", .timeLimit(.minutes(1)))
    func registry() async throws {
        // Rising then falling in steps: a 3-candle breakout buys and sells several times with small
        // losses (fees), an EMA cross with long periods never trades in 40 candles.
        let wave = (0..<8).flatMap { i in [100, 101, 102, 103, 104, 103, 102, 101, 100, 99].map { $0 + i } }
        let registry = StrategyRegistry(history: { _, _, _, _ in bars(wave) })
        let now = UnixNanos.seconds(1_800_000_000)
        let breakout = try await registry.upload(
            StrategyDefinition(name: "wave", kind: .breakout, parameters: ["lookback": "3"], instruments: ["binance:BTC-USDT"]),
            creator: "alice", now: now)
        #expect(breakout.check.passed, "\(breakout.check.reasons)")
        #expect(breakout.check.trades >= 3)
        #expect(breakout.generation == 1)
        #expect(try await registry.attachable(breakout.id) == breakout.definition)

        let idle = try await registry.upload(
            StrategyDefinition(
                name: "slow", kind: .emaCross, parameters: ["fast": "50", "slow": "100"], instruments: ["binance:BTC-USDT"]),
            creator: "bob", now: now)
        #expect(!idle.check.passed)
        #expect(idle.check.trades == 0)
        #expect(idle.check.reasons == ["0 round trips in 7 days of candles; at least 3 needed"])
        await #expect(throws: StrategyRegistryError.self) { try await registry.attachable(idle.id) }

        // Derived strategies record their parent; ancestors' creators nearest first.
        let child = try await registry.upload(
            StrategyDefinition(name: "wave2", kind: .breakout, parameters: ["lookback": "4"], instruments: ["binance:BTC-USDT"]),
            creator: "carol", parent: breakout.id, now: now)
        let grandchild = try await registry.upload(
            StrategyDefinition(name: "wave3", kind: .breakout, parameters: ["lookback": "5"], instruments: ["binance:BTC-USDT"]),
            creator: "dave", parent: child.id, now: now)
        #expect(grandchild.generation == 3)
        #expect(await registry.ancestorCreators(of: grandchild.id) == ["carol", "alice"])

        // The same content again (under another name) is refused, as is an unknown parent.
        await #expect(throws: StrategyRegistryError.self) {
            try await registry.upload(
                StrategyDefinition(name: "copy", kind: .breakout, parameters: ["lookback": "3"], instruments: ["binance:BTC-USDT"]),
                creator: "eve", now: now)
        }
        await #expect(throws: StrategyRegistryError.self) {
            try await registry.upload(
                StrategyDefinition(name: "orphan", kind: .breakout, parameters: ["lookback": "6"], instruments: ["binance:BTC-USDT"]),
                creator: "eve", parent: "stg_nope", now: now)
        }
    }
}

@Suite("Strategy registry persistence (issue 23)")
struct StrategyRegistryPersistenceTests {
    @Test("Registered strategies, lineage and checks survive a restart; a failed write registers nothing",
        .timeLimit(.minutes(2)), arguments: Backend.available)
    func survivesRestart(_ backend: Backend) async throws {
        let wave = (0..<8).flatMap { i in [100, 101, 102, 103, 104, 103, 102, 101, 100, 99].map { $0 + i } }
        let now = UnixNanos.seconds(1_800_000_000)
        try await backend.withDatabase { open in
            let first = try #require(try await open() as? any StrategyStore)
            let registry = StrategyRegistry(history: { _, _, _, _ in bars(wave) }, store: first)
            let parent = try await registry.upload(
                StrategyDefinition(
                    name: "wave", kind: .rsi, parameters: ["period": "5", "oversold": "25.5"], instruments: ["binance:BTC-USDT"],
                    intervals: ["1m", "5m"]),
                creator: "alice", now: now)
            let child = try await registry.upload(
                StrategyDefinition(name: "wave2", kind: .breakout, parameters: ["lookback": "3"], instruments: ["okx:ETH-USDT"]),
                creator: "bob", parent: parent.id, now: UnixNanos.seconds(1_800_000_001))

            let second = try #require(try await open() as? any StrategyStore)
            let restarted = StrategyRegistry(history: { _, _, _, _ in [] }, store: second)
            let rows = try await second.strategies()
            let loaded = try await restarted.load()
            #expect(loaded == 2, "\(rows)")
            #expect(await restarted.all() == [parent, child])
            #expect(await restarted.ancestorCreators(of: child.id) == ["alice"])
            // The same content is still a duplicate after the restart.
            await #expect(throws: StrategyRegistryError.self) {
                try await restarted.upload(
                    StrategyDefinition(name: "again", kind: .breakout, parameters: ["lookback": "3"], instruments: ["okx:ETH-USDT"]),
                    creator: "carol", now: now)
            }
            // A registry whose store refuses the row (the row is already there, written by another
            // node) answers unavailable and does not register it.
            let third = StrategyRegistry(history: { _, _, _, _ in bars(wave) }, store: try #require(try await open() as? any StrategyStore))
            do {
                _ = try await third.upload(
                    StrategyDefinition(name: "wave2", kind: .breakout, parameters: ["lookback": "3"], instruments: ["okx:ETH-USDT"]),
                    creator: "bob", now: now)
                Issue.record("a duplicate row was accepted")
            } catch {
                #expect((error as? StrategyRegistryError)?.code == .notStored, "\(error)")
            }
            #expect(await third.all().isEmpty)
        }
    }
}

@Suite("One signal path: the backtest and the live signal service agree (issue 23)")
struct BacktestLiveSignalTests {
    @Test("Over a replayed capture, every registered kind signals at the same candles, in the same direction",
        .timeLimit(.minutes(2)))
    func sameSignalsAsTheSignalService() throws {
        // The live path: the replayer (the pipeline live feeds drive) hands closed candles to the
        // signal service as the bus would.
        var options = PipelineOptions()
        options.emit = [.candles]
        var replayer = FeedPipeline(options: options)
        var events: [MarketEvent] = []
        try replayer.run(paths: [Fixtures.path("binance/spot-btcusdt-2024-08-08.jsonl.gz")]) { events.append($0) }
        let definitions = [
            StrategyDefinition(name: "e", kind: .emaCross, parameters: ["fast": "2", "slow": "4"], instruments: ["binance:BTC-USDT"]),
            StrategyDefinition(name: "r", kind: .rsi, parameters: ["period": "3", "oversold": "45", "overbought": "55"], instruments: ["binance:BTC-USDT"]),
            StrategyDefinition(name: "b", kind: .breakout, parameters: ["lookback": "2"], instruments: ["binance:BTC-USDT"]),
        ].map { try! $0.validated() }
        let service = SignalService(
            configs: definitions.map { SignalConfig(strategy: .init($0), venue: "binance", symbol: "BTC-USDT", interval: "1m") }, bus: nil)
        var live: [String: [BacktestSignal]] = [:]
        for e in events {
            for s in service.handle(e) {
                // A signal's time is its candle's close; the backtest names the candle's start.
                live[s.strategy, default: []].append(BacktestSignal(time: UnixNanos(s.time.rawValue - 60_000_000_000), side: s.side))
            }
        }
        // The backtest path: the closed 1m candles (each bucket's first close, as the service uses).
        var seen = Set<UnixNanos>()
        var bars: [BacktestBar] = []
        for case .candle(let c) in events where c.closed && c.interval == .oneMinute && seen.insert(c.start).inserted {
            bars.append(BacktestBar(c))
        }
        #expect(bars.count >= 10)
        var total = 0
        for d in definitions {
            let result = try Backtester().run(d.makeStrategy(), bars: bars)
            #expect(result.signals == live[d.kind.rawValue, default: []], "\(d.kind.rawValue)")
            total += result.signals.count
        }
        #expect(total >= 3, "the capture should make the strategies signal")
    }
}
