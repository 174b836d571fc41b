import Feeds
import Foundation
import MarketCore
import Testing
import Venues
import _TestSupport

/// `handleEscapedFrame` reads a `ws` frame still written as a JSON string's content (what a capture
/// line holds): when it accepts, it must give exactly what `handle` gives on the decoded frame, and
/// anything it cannot read so (other escapes, a bare quote, another layout) it must refuse with
/// nothing appended. Escaped here with JSONSerialization, independently of the capture writer.
@Suite("Binance escaped frames")
struct BinanceEscapedFrameTests {
    static func escape(_ frame: [UInt8]) throws -> [UInt8] {
        let data = try JSONSerialization.data(
            withJSONObject: String(decoding: frame, as: UTF8.self), options: [.fragmentsAllowed, .withoutEscapingSlashes])
        return Array(data.dropFirst().dropLast())  // the content between the quotes
    }

    static func decoded(_ a: inout BinanceAdapter, _ frame: [UInt8]) -> [VenueEvent] {
        var out: [VenueEvent] = []
        frame.withUnsafeBytes { a.handle(kind: .ws, url: nil, connection: nil, frame: $0, receiveTime: UnixNanos(7), into: &out) }
        return out
    }

    static func escaped(_ a: inout BinanceAdapter, _ text: [UInt8]) -> (Bool, [VenueEvent]) {
        var out: [VenueEvent] = []
        let ok = text.withUnsafeBytes { a.handleEscapedFrame($0, receiveTime: UnixNanos(7), into: &out) }
        return (ok, out)
    }

    @Test func everyRecordedFrameEscapedGivesTheDecodedEvents() throws {
        var accepted = 0
        var refused = 0
        for capture in Fixtures.allCaptures where capture.hasPrefix("binance/") {
            let venue: Venue = capture.contains("usdm") ? .binanceUSDM : capture.contains("coinm") ? .binanceCOINM : .binance
            var a = BinanceAdapter(venue: venue)
            var b = BinanceAdapter(venue: venue)
            for r in try Fixtures.records(capture) where r.kind == .ws {
                let text = try Self.escape(r.frame)
                let (ok, events) = Self.escaped(&b, text)
                if ok {
                    accepted += 1
                    #expect(events == Self.decoded(&a, r.frame), "\(String(decoding: text, as: UTF8.self))")
                } else {
                    refused += 1
                    #expect(events.isEmpty)
                }
            }
        }
        // Every spot trade frame of the BTCUSDT capture (19,904) is in the exact layout; depth,
        // bookTicker and futures frames are not.
        #expect(accepted > 19_900 && refused > 50_000, "accepted \(accepted), refused \(refused)")
    }

    @Test func otherEscapesAndBareQuotesAreRefused() {
        let frame = #"{\"stream\":\"btcusdt@trade\",\"data\":{\"e\":\"trade\",\"E\":1723161255343,\"s\":\"BTCUSDT\",\"t\":3735683259,\"p\":\"61837.63000000\",\"q\":\"0.02000000\",\"T\":1723161255342,\"m\":true,\"M\":true}}"#
        var a = BinanceAdapter()
        let (ok, events) = Self.escaped(&a, Array(frame.utf8))
        #expect(ok && events.count == 1)
        let decoded = Self.decoded(&a, Array(frame.replacingOccurrences(of: #"\""#, with: #"""#).utf8))
        #expect(events == decoded && decoded.count == 1)
        for bad in [
            frame.replacingOccurrences(of: "BTCUSDT", with: #"BTC\u0055SDT"#),  // same symbol, escaped
            frame.replacingOccurrences(of: "BTCUSDT", with: #"BTC\\USDT"#),
            frame.replacingOccurrences(of: "BTCUSDT", with: #"BTC"USDT"#),  // a bare quote ends the JSON string
            frame.replacingOccurrences(of: #"btcusdt@trade\""#, with: #"btcusdt@trade""#),
            frame.replacingOccurrences(of: #"61837.63000000\""#, with: #"61837.63000000\\""#),
            frame.replacingOccurrences(of: #"\"q\""#, with: #"\"q\u0022"#),
            frame.replacingOccurrences(of: #"\"data\""#, with: #""data""#),
            String(frame.dropLast()),
            frame.replacingOccurrences(of: #"\""#, with: #"""#),  // decoded, not escaped
        ] {
            let (ok, events) = Self.escaped(&a, Array(bad.utf8))
            #expect(!ok && events.isEmpty, "\(bad)")
        }
    }
}
