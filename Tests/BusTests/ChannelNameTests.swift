import Bus
import Testing

@Suite("ChannelName")
struct ChannelNameTests {
    let venues: Set<String> = ["binance", "okx", "bench"]
    let intervals: Set<String> = ["1m", "5m"]

    @Test(arguments: [
        ("trades.binance.BTC-USDT", ChannelKind.trades, nil, "binance", "BTC-USDT"),
        ("book.okx.BTC-USDT-SWAP", .book, nil, "okx", "BTC-USDT-SWAP"),
        ("candles.1m.binance.ETH-USDT", .candles, "1m", "binance", "ETH-USDT"),
        ("candles.*.*.BTC-USDT", .candles, "*", "*", "BTC-USDT"),
        ("ticker.*.*", .ticker, nil, "*", "*"),
        ("status.okx", .status, nil, "okx", nil),
        ("executions.alice", .executions, nil, "alice", nil),
        ("signals.ema_cross.BTC-USDT", .signals, nil, "ema_cross", "BTC-USDT"),
        // An OKX option's canonical symbol holds a dot (strike 1500.5): the symbol is the rest of the name.
        ("trades.okx.ETH-USD-20230630-1500.5-C", .trades, nil, "okx", "ETH-USD-20230630-1500.5-C"),
    ] as [(String, ChannelKind, String?, String, String?)])
    func parses(_ text: String, _ kind: ChannelKind, _ interval: String?, _ scope: String, _ symbol: String?) throws {
        let c = try ChannelName(parsing: text, venues: venues, intervals: intervals)
        #expect(c.kind == kind)
        #expect(c.interval == interval)
        #expect(c.scope == scope)
        #expect(c.symbol == symbol)
        #expect(c.description == text)
    }

    @Test(arguments: [
        ("", "empty"),
        ("trade.binance.BTC-USDT", "unknown channel kind 'trade'"),
        ("*.binance.BTC-USDT", "cannot be a wildcard"),
        ("trades.binance", "expected trades.<venue>.<SYMBOL>"),
        ("trades.nyse.BTC-USDT", "unknown venue 'nyse'"),
        ("candles.2m.binance.BTC-USDT", "unknown interval '2m'"),
        ("candles.1m.binance", "expected candles.<interval>.<venue>.<SYMBOL>"),
        ("book.binance.", "bad symbol"),
        ("status.binance.BTC-USDT", "expected status.<venue>"),
        ("trades.binance.btc-usdt", "upper case"),
        ("trades.binance.BTC USDT", "bad symbol"),
        ("trades..BTC-USDT", "bad venue"),
        ("trades.binance.BTC-USDT.", "bad symbol"),
        ("mood.al ice", "bad user"),
    ])
    func refuses(_ text: String, _ reason: String) {
        #expect {
            _ = try ChannelName(parsing: text, venues: venues, intervals: intervals)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    @Test func wildcardMatchesOneSegment() throws {
        let p = try ChannelName(parsing: "candles.*.binance.BTC-USDT")
        #expect(p.matches(try ChannelName(parsing: "candles.1m.binance.BTC-USDT")))
        #expect(p.matches(try ChannelName(parsing: "candles.5m.binance.BTC-USDT")))
        #expect(!p.matches(try ChannelName(parsing: "candles.1m.okx.BTC-USDT")))
        #expect(!p.matches(try ChannelName(parsing: "trades.binance.BTC-USDT")))
        let anySymbol = try ChannelName(parsing: "trades.okx.*")
        #expect(anySymbol.matches(try ChannelName(parsing: "trades.okx.ETH-USD-20230630-1500.5-C")))
        #expect(!anySymbol.matches(try ChannelName(parsing: "book.okx.BTC-USDT")))
    }
}
