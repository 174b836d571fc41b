import MarketCore
import Testing

@Suite("JSONWriter")
struct JSONWriterTests {
    func text(_ body: (inout JSONWriter) -> Void) -> String {
        var w = JSONWriter()
        body(&w)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    @Test func escapesOnlyWhatJSONRequiresAroundPlainRuns() {
        #expect(text { $0.string("plain BTC-USDT") } == #""plain BTC-USDT""#)
        #expect(text { $0.string("") } == #""""#)
        #expect(text { $0.string("\"a\\b\nc\rd\te\u{01}f\u{1F}") } == #""\"a\\b\nc\rd\te\u0001f\u001f""#)
        #expect(text { $0.string("é€ ok\u{7F}") } == "\"é€ ok\u{7F}\"")
        // Bytes that are not contiguous storage take the byte-at-a-time path: same text.
        #expect(text { $0.string(utf8: "x\"y".utf8.lazy.map { $0 }) } == #""x\"y""#)
        #expect(text { $0.string(utf8: [0x61, 0x0A, 0x62] as [UInt8]) } == #""a\nb""#)
    }

    @Test func integersAndTradeIDsWithoutStrings() {
        #expect(text { $0.intString(0) } == #""0""#)
        #expect(text { $0.intString(-5) } == #""-5""#)
        #expect(text { $0.intString(9_223_372_036_854_775_807) } == #""9223372036854775807""#)
        #expect(text { $0.intString(Int64.min) } == #""-9223372036854775808""#)
        #expect(text { $0.int(-120) } == "-120")
        #expect(text {
            $0.beginArray()
            $0.int(1)
            $0.intString(2)
            $0.endArray()
        } == #"[1,"2"]"#)
    }

    @Test func decimalsKeepTheirDisplayScale() throws {
        #expect(text { $0.decimal(try! FixedDecimal(parsing: "61837.63000000")) } == #""61837.63000000""#)
        #expect(text { $0.decimal(try! FixedDecimal(parsing: "-0.0000000123")) } == #""-0.0000000123""#)
        #expect(text { $0.decimal(FixedDecimal(7)) } == #""7""#)
        // Wider than 64 bits: 123456789012345678901234.567 shown with five fraction digits.
        let wide = WideDecimal(mantissa: 123_456_789_012_345_678_901_234_567, scale: 3, displayScale: 5)
        #expect(text { $0.decimal(wide) } == #""123456789012345678901234.56700""#)
        let negativeWide = WideDecimal(mantissa: -5, scale: 4, displayScale: 4)
        #expect(text { $0.decimal(negativeWide) } == #""-0.0005""#)
    }

    @Test func timesInISO8601() {
        let t = UnixNanos(1_723_161_255_342_987_654)
        #expect(text { $0.time(t, fractionDigits: 3) } == #""2024-08-08T23:54:15.342Z""#)
        #expect(text { $0.time(t, fractionDigits: 9) } == #""2024-08-08T23:54:15.342987654Z""#)
        #expect(text { $0.time(UnixNanos(0), fractionDigits: 0) } == #""1970-01-01T00:00:00Z""#)
    }
}
