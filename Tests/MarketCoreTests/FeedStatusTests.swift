import MarketCore
import Testing

/// The status kinds' wire names are the protocol's `event` strings (CONTRACTS.md): written out here,
/// not taken from the code.
@Suite struct FeedStatusTests {
    @Test func everyKindPrintsItsWireName() {
        let expected: [(FeedStatus.Kind, String)] = [
            (.synced, "synced"), (.resynced, "resynced"), (.gap(.book), "gap"), (.gap(.tradeIDs), "gap"),
            (.resync, "resync"), (.crossed, "crossed"), (.uncrossed, "uncrossed"), (.checksumFailed, "checksum_failed"),
            (.invalidTrade, "invalid_trade"), (.futureTrade, "future_trade"), (.tradeHeld, "trade_held"),
            (.tradeOutlier, "trade_outlier"), (.lateTradeDropped, "late_trade_dropped"), (.parseError, "parse_error"),
            (.venueError, "venue_error"), (.venueStatus, "venue_status"), (.serverShutdown, "server_shutdown"),
            (.reconnected, "reconnected"), (.stale, "stale"), (.disconnected, "disconnected"),
            (.bookReset, "book_reset"), (.tradeGap, "trade_gap"), (.candleSuspect, "candle_suspect"),
        ]
        for (kind, name) in expected { #expect(kind.name == name, "\(kind)") }
    }

    @Test func aTradeIDGapIsAGapOnTheWireButDoesNotInvalidateTheBook() throws {
        let btc = Instrument(venue: .coinbase, base: "BTC", quote: "USD", nativeSymbol: "BTC-USD")
        let status = FeedStatus(
            kind: .gap(.tradeIDs), venue: .coinbase, instrument: btc, detail: "trade ids 5...6 missing (2)",
            time: UnixNanos(1_700_000_000_123_456_000))
        #expect(MarketEvent.status(status).jsonLine
            == #"{"type":"status","venue":"coinbase","symbol":"BTC-USD","ts":"2023-11-14T22:13:20.123456Z","event":"gap","detail":"trade ids 5...6 missing (2)"}"#)
        #expect(!status.kind.invalidatesBook)
        #expect(FeedStatus.Kind.gap(.book).invalidatesBook)
        #expect(FeedStatus.Kind.checksumFailed.invalidatesBook && FeedStatus.Kind.resync.invalidatesBook && FeedStatus.Kind.crossed.invalidatesBook)
        #expect(!FeedStatus.Kind.synced.invalidatesBook && !FeedStatus.Kind.uncrossed.invalidatesBook)
        #expect(FeedStatus.Kind.disconnected.endsConnection && FeedStatus.Kind.stale.endsConnection)
        #expect(!FeedStatus.Kind.reconnected.endsConnection)
    }
}
