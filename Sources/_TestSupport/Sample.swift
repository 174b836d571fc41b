public import Bus
import Foundation
public import MarketCore
public import NIOCore

/// Hand-made events for bus and fan-out tests.
public enum Sample {
    public static let btc = Instrument(venue: .binance, base: "BTC", quote: "USDT", nativeSymbol: "BTCUSDT")

    public static func trade(_ id: Int64, price: String = "100.5", at ms: Int64 = 1_700_000_000_000) -> MarketEvent {
        .trade(
            Trade(
                instrument: btc, id: .number(id), price: try! FixedDecimal(parsing: price), quantity: try! FixedDecimal(parsing: "0.25"),
                side: .buy, eventTime: .milliseconds(ms), receiveTime: .milliseconds(ms)))
    }

    public static func book(bid: String, ask: String, at ms: Int64 = 1_700_000_000_000, valid: Bool = true) -> MarketEvent {
        .bookSnapshot(
            BookSnapshot(
                instrument: btc, time: .milliseconds(ms),
                bids: [BookLevel(price: try! FixedDecimal(parsing: bid), quantity: try! FixedDecimal(parsing: "1"))],
                asks: [BookLevel(price: try! FixedDecimal(parsing: ask), quantity: try! FixedDecimal(parsing: "2"))], valid: valid))
    }

    /// `<base>-USDT` on Binance.
    public static func instrument(_ base: String) -> Instrument {
        Instrument(venue: .binance, base: base, quote: "USDT", nativeSymbol: base + "USDT")
    }

    public static func trade(_ id: Int64, base: String) -> MarketEvent {
        .trade(
            Trade(
                instrument: instrument(base), id: .number(id), price: try! FixedDecimal(parsing: "100.5"),
                quantity: try! FixedDecimal(parsing: "0.25"), side: .buy, eventTime: .milliseconds(1_700_000_000_000),
                receiveTime: .milliseconds(1_700_000_000_000)))
    }

    /// A book of `levels` levels a side on `<base>-USDT` (a large snapshot frame).
    public static func book(base: String, levels: Int) -> MarketEvent {
        func side(_ start: Int, _ step: Int) -> [BookLevel] {
            (0..<levels).map { i in
                BookLevel(price: try! FixedDecimal(parsing: "\(start + step * i).25"), quantity: try! FixedDecimal(parsing: "1.5"))
            }
        }
        return .bookSnapshot(
            BookSnapshot(
                instrument: instrument(base), time: .milliseconds(1_700_000_000_000), bids: side(50_000, -1), asks: side(50_001, 1),
                valid: true))
    }

    public static func status(_ kind: FeedStatus.Kind, detail: String, instrument: Instrument? = btc) -> MarketEvent {
        .status(FeedStatus(kind: kind, venue: .binance, instrument: instrument, detail: detail, time: .milliseconds(1_700_000_000_000)))
    }

    /// The frame's JSON, decoded independently with Foundation.
    public static func object(_ frame: ByteBuffer) -> [String: Any] {
        let json = WebSocketWire.payload(of: frame)
        return (try? JSONSerialization.jsonObject(with: Data(json.readableBytesView))) as? [String: Any] ?? [:]
    }
}

