@testable import Feeds
import Foundation
import MarketCore
import Testing
import _TestSupport

/// The capture reader's fixed-layout path (`parseWrittenLayout`) is the one every recorded line
/// takes: nanosecond receive times have 19 digits, and the path once refused more than 18, so
/// every line fell through to the general parser (right results, twice the reading cost).
@Suite struct CaptureFastPathTests {
    static func fast(_ line: String) -> CaptureRecord? {
        Array(line.utf8).withUnsafeBytes { CaptureRecord.parseWrittenLayout($0, line: 1) }
    }

    @Test func recordedLinesTakeTheFixedLayoutPath() throws {
        let line = #"{"recv_ns":1723161254087896568,"venue":"binance","kind":"ws","frame":"{\"e\":\"trade\",\"p\":\"1.5\"}"}"#
        let r = try #require(Self.fast(line))
        // Values read independently with JSONSerialization.
        let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(r.receiveTime.rawValue == (o["recv_ns"] as! NSNumber).int64Value)
        #expect(r.venue.id == "binance" && r.kind == .ws)
        #expect(r.frame == Array((o["frame"] as! String).utf8) && r.connection == nil && r.url == nil)
        let withConnection = #"{"recv_ns":1652459225299075400,"venue":"okx","kind":"sent","conn":"1","url":"wss://ws.okx.com:8443/ws/v5/public","frame":"{}"}"#
        let c = try #require(Self.fast(withConnection))
        #expect(c.connection == "1" && c.url == "wss://ws.okx.com:8443/ws/v5/public" && c.kind == .sent && c.frame == Array("{}".utf8))
        // An escaped url is left to the general parser.
        #expect(Self.fast(#"{"recv_ns":1,"venue":"okx","kind":"open","conn":"1","url":"wss:\/\/x","frame":null}"#) == nil)
        // The largest Int64 still reads; one more is the general parser's to refuse.
        #expect(Self.fast(#"{"recv_ns":9223372036854775807,"venue":"b","kind":"tick","frame":""}"#)?.receiveTime.rawValue == Int64.max)
        #expect(Self.fast(#"{"recv_ns":9223372036854775808,"venue":"b","kind":"tick","frame":""}"#) == nil)
        #expect(Self.fast(#"{"recv_ns":12345678901234567890,"venue":"b","kind":"tick","frame":""}"#) == nil)
        // A leading zero is not JSON: not taken here.
        #expect(Self.fast(#"{"recv_ns":0172,"venue":"b","kind":"tick","frame":""}"#) == nil)
        #expect(Self.fast(#"{"recv_ns":0,"venue":"b","kind":"tick","frame":""}"#)?.receiveTime.rawValue == 0)
    }

    /// Every line of the shipped captures in the recorder's layout (told by a regular expression,
    /// not by the reader) takes the fast path.
    @Test(arguments: Fixtures.allCaptures)
    func everyFixtureLineInTheRecorderLayoutTakesIt(_ file: String) throws {
        let layout = try NSRegularExpression(pattern: #"^\{"recv_ns":[1-9][0-9]{0,18},"venue":"[^"\\]+","kind":"(ws|rest|open|close|sent|tick)"(,"conn":"[^"\\]*")?(,"url":"[^"\\]*")?,"frame":"[^\n]*"\}$"#)
        let reader = try CaptureReader(path: Fixtures.path(file))
        var inLayout = 0
        var missed = 0
        var n = 0
        while let bytes = try reader.nextLineBytes() {
            n += 1
            let text = String(decoding: bytes, as: UTF8.self)
            guard layout.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil else { continue }
            inLayout += 1
            if bytes.withUnsafeBytes({ CaptureRecord.parseWrittenLayout($0, line: n) }) == nil { missed += 1 }
        }
        #expect(inLayout > 0 && missed == 0, "\(file): \(missed) of \(inLayout) recorder-layout lines missed the fast path")
    }
}
