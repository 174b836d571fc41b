public import Feeds
import MarketCore

/// Locates and reads the recorded captures under `Tests/Fixtures` (copied from the real recordings
/// in `../shared/fixtures`, so the project stands on its own).
public enum Fixtures {
    /// Absolute path of `Tests/Fixtures/<relative>`.
    public static func path(_ relative: String, file: StaticString = #filePath) -> String {
        // This file is Sources/_TestSupport/Fixtures.swift: the package root is two levels up.
        var parts = "\(file)".split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        parts.removeLast(3)
        return parts.joined(separator: "/") + "/Tests/Fixtures/" + relative
    }

    /// Absolute path of a file in the repository (`feeds/…`, `scripts/…`).
    public static func repository(_ relative: String) -> String {
        path("../../" + relative)
    }

    /// Every record of a capture, in file order.
    public static func records(_ relative: String) throws -> [CaptureRecord] {
        let reader = try CaptureReader(path: path(relative))
        var out: [CaptureRecord] = []
        while let r = try reader.next() { out.append(r) }
        return out
    }

    /// The first `seconds` of a capture (by receive time), written to `path` as a capture file of
    /// its own (for the exchange simulator); returns those records.
    public static func excerpt(_ relative: String, seconds: Int64, to path: String) throws -> [CaptureRecord] {
        let all = try records(relative)
        guard let t0 = all.first?.receiveTime.rawValue else { return [] }
        let kept = all.filter { $0.receiveTime.rawValue < t0 + seconds * 1_000_000_000 }
        let writer = try CaptureWriter(path: path)
        for r in kept { try writer.write(r) }
        try writer.close()
        return kept
    }

    /// Every capture file under `Tests/Fixtures`, relative paths.
    public static let allCaptures = [
        "binance/spot-btcusdt-2024-08-08.jsonl.gz",
        "binance/spot-multi-2021-10-12.jsonl.gz",
        "binance/usdm-multi-2021-07-22.jsonl.gz",
        "binance/coinm-multi-2021-07-22.jsonl.gz",
        "coinbase/exchange-level2-2021-04-17.jsonl.gz",
        "kraken/v1-trade-ticker-book-2021-04-17.jsonl.gz",
        "okx/v5-books-l2-tbt-2021-07-22.jsonl.gz",
        "okx/v5-books-trades-2022-05-13.jsonl.gz",
        "bybit/v5-orderbook1-2025-06-13.jsonl.gz",
        "bybit/v5-orderbook500-xrpusdt-2024-12-01.jsonl.gz",
    ]
}
