import MarketCore
import Services
import Testing
import _TestSupport

/// Identifiers are checked before anything is logged or stored: malformed names are `bad_request`,
/// well-formed ones the gateway does not know have their own codes.
@Suite struct IdentifierTests {
    @Test func venuesSymbolsAndAssetsMustBeCanonicalAndKnown() {
        var options = ServiceOptions()
        options.execution.instruments = [InstrumentKey(venue: "okx", symbol: "ETH-USDT-SWAP")]
        let h = Harness(options: options)
        h.feed(book(bids: [("100", "1")], asks: [("101", "1")]))  // binance BTC-USDT is now known
        let e = h.execution
        #expect(e.instrumentProblem(venue: "binance", symbol: "BTC-USDT") == nil)
        #expect(e.instrumentProblem(venue: "okx", symbol: "ETH-USDT-SWAP") == nil, "configured before any market event")
        let cases: [(String, String, String, String)] = [
            ("binance", "BTC-USDT\u{0}", "symbol", "bad_request"),
            ("binance", "btc-usdt", "symbol", "bad_request"),
            ("binance", "BTCUSDT", "symbol", "bad_request"),
            ("binance", "BTC--USDT", "symbol", "bad_request"),
            ("binance", "BTC-USDT-", "symbol", "bad_request"),
            ("binance", String(repeating: "A", count: 30) + "-USDT", "symbol", "bad_request"),
            ("binance", "PH1Z-USDT", "symbol", "unknown_symbol"),
            ("kraken", "BTC-USDT", "symbol", "unknown_symbol"),
            ("binance\u{0}", "BTC-USDT", "venue", "bad_request"),
            ("Binance", "BTC-USDT", "venue", "bad_request"),
            ("nowhere", "BTC-USDT", "venue", "unknown_venue"),
            ("", "BTC-USDT", "venue", "bad_request"),
        ]
        for (venue, symbol, field, code) in cases {
            let p = e.instrumentProblem(venue: venue, symbol: symbol)
            #expect(p?.field == field && p?.code == code, "\(venue.debugDescription) \(symbol.debugDescription): \(String(describing: p))")
        }
        #expect(e.assetProblem("USDC") == nil && e.assetProblem("USDT") == nil && e.assetProblem("BTC") == nil)
        #expect(e.assetProblem("ETH") == nil, "a base of a configured instrument")
        for (asset, code) in [("\u{0}", "bad_request"), ("USDC\u{0}", "bad_request"), ("US DC", "bad_request"), ("usdc", "bad_request"), ("", "bad_request"), ("ZZZZZZ", "unknown_asset")] {
            #expect(e.assetProblem(asset)?.code == code, "\(asset.debugDescription)")
        }
    }

    @Test func anOrderNamingAnUnknownOrMalformedInstrumentIsInvalidAndNotLogged() async throws {
        let h = Harness()
        h.feed(book(bids: [("100", "1")], asks: [("101", "1")]))
        try await h.user("ivy", cash: "1000")
        let before = h.suite.journal.pending
        for symbol in ["BTC-USDT\u{0}", "PH1Z-USDT"] {
            let outcome = await h.execution.execute(
                user: "ivy", request: OrderRequest(venue: "binance", symbol: symbol, side: .buy, type: .market, quantity: d("0.2")))
            guard case .invalid(let e) = outcome else { Issue.record("\(outcome)"); continue }
            #expect(e.field == "symbol")
        }
        #expect(h.suite.journal.pending == before, "nothing queued for the store")
    }
}
