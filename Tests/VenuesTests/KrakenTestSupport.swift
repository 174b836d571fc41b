import Feeds
import Foundation
import MarketCore
import Venues
import _TestSupport

// Shared helpers of the Kraken tests. Expected values are computed here independently of the
// adapter: frames are decoded with Foundation's JSONSerialization, times by splitting the decimal
// text by hand, symbols by plain string replacement.

enum KrakenTest {
    static let fixture = "kraken/v1-trade-ticker-book-2021-04-17.jsonl.gz"

    static let docSamples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("KrakenDocSamples")

    /// A documentation sample's bytes, trailing whitespace removed (so every shorter prefix is truncated JSON).
    static func docSample(_ name: String) throws -> [UInt8] {
        var bytes = Array(try Data(contentsOf: docSamples.appendingPathComponent(name)))
        while let last = bytes.last, last == 0x0A || last == 0x20 || last == 0x0D { bytes.removeLast() }
        return bytes
    }

    static func records() throws -> [CaptureRecord] { try Fixtures.records(fixture) }

    /// The frame decoded by Foundation (`[Any]` for v1 data, `[String: Any]` for control messages).
    static func json(_ frame: [UInt8]) -> Any? {
        try? JSONSerialization.jsonObject(with: Data(frame), options: [.fragmentsAllowed])
    }

    /// Runs one frame through `adapter`.
    static func run(
        _ adapter: inout KrakenAdapter, _ frame: [UInt8], kind: FrameKind = .ws, connection: String? = "1",
        recv: Int64 = 7
    ) -> [VenueEvent] {
        var out: [VenueEvent] = []
        frame.withUnsafeBytes {
            adapter.handle(kind: kind, url: nil, connection: connection, frame: $0, receiveTime: UnixNanos(recv), into: &out)
        }
        return out
    }

    static func run(_ adapter: inout KrakenAdapter, _ text: String, kind: FrameKind = .ws, connection: String? = "1") -> [VenueEvent] {
        run(&adapter, Array(text.utf8), kind: kind, connection: connection)
    }

    /// Runs one frame through a fresh adapter.
    static func fresh(_ text: String) -> [VenueEvent] {
        var adapter = KrakenAdapter()
        return run(&adapter, text)
    }

    /// Exact nanoseconds of Kraken decimal seconds (`"1618678142.557535"`), by splitting the text.
    static func nanos(decimalSeconds text: String) -> UnixNanos {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        var fraction = parts.count > 1 ? String(parts[1]) : ""
        while fraction.count < 9 { fraction += "0" }
        return UnixNanos(Int64(parts[0])! * 1_000_000_000 + Int64(fraction)!)
    }

    /// Exact nanoseconds of an RFC 3339 `Z` time: whole seconds by Foundation, fraction digits by hand.
    static func nanos(iso: String) -> UnixNanos {
        let dot = iso.firstIndex(of: ".")
        let whole = (dot.map { String(iso[..<$0]) } ?? String(iso.dropLast())) + "Z"
        let seconds = Int64(ISO8601DateFormatter().date(from: whole)!.timeIntervalSince1970)
        var fraction = dot.map { String(iso[iso.index(after: $0)..<iso.index(before: iso.endIndex)]) } ?? ""
        while fraction.count < 9 { fraction += "0" }
        return UnixNanos(seconds * 1_000_000_000 + Int64(fraction)!)
    }

    /// CONTRACTS.md symbols, restated: `XBT` → `BTC`, `XDG` → `DOGE`, `/` → `-`.
    static func canonical(_ pair: String) -> String {
        pair.split(separator: "/").map { $0 == "XBT" ? "BTC" : $0 == "XDG" ? "DOGE" : String($0) }
            .joined(separator: "-").uppercased()
    }

    static func texts(_ levels: [BookLevel]) -> [[String]] { levels.map { [$0.price.description, $0.quantity.description] } }

    /// `[[price, volume, time, …], …]` of a v1 frame as `[[price, volume]]`.
    static func pairs(_ levels: Any?) -> [[String]] {
        (levels as? [[Any]] ?? []).map { [$0[0] as! String, $0[1] as! String] }
    }

    /// The largest level time of v1 level arrays, computed from the text.
    static func latest(_ levelLists: [Any?]) -> UnixNanos? {
        levelLists.flatMap { ($0 as? [[Any]]) ?? [] }.map { nanos(decimalSeconds: $0[2] as! String) }.max()
    }

    static func trades(_ events: [VenueEvent]) -> [Trade] { events.compactMap { if case .trade(let t) = $0 { t } else { nil } } }
    static func books(_ events: [VenueEvent]) -> [BookUpdate] { events.compactMap { if case .book(let b) = $0 { b } else { nil } } }
    static func tickers(_ events: [VenueEvent]) -> [Ticker] { events.compactMap { if case .ticker(let t) = $0 { t } else { nil } } }
    static func statuses(_ events: [VenueEvent]) -> [FeedStatus] { events.compactMap { if case .status(let s) = $0 { s } else { nil } } }
    static func parseErrors(_ events: [VenueEvent]) -> [String] {
        events.compactMap { if case .parseError(_, let d) = $0 { d } else { nil } }
    }

    /// Levels from `[[price, qty], …]` text (test-side construction).
    static func levels(_ pairs: [[String]]) -> [BookLevel] {
        pairs.map { BookLevel(price: FixedDecimal($0[0])!, quantity: FixedDecimal($0[1])!) }
    }

    /// True when a v1 frame is a book message (`[…, "book-N", pair]`) carrying a checksum `"c"`.
    static func isBookWithChecksum(_ frame: [UInt8]) -> Bool {
        guard let a = json(frame) as? [Any], a.count >= 4, (a[a.count - 2] as? String)?.hasPrefix("book") == true else { return false }
        return a.dropFirst().dropLast(2).contains { ($0 as? [String: Any])?["c"] != nil }
    }
}
