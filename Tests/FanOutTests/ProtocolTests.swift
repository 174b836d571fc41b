import Bus
import FanOut
import Foundation
import MarketCore
import Testing
import _TestSupport

@Suite("Fan-out protocol")
struct ProtocolTests {
    @Test func subscribeAckThenEveryEventInOrder() async throws {
        try await withFanOut { bus, _, port in
            for i in 1...3 { bus.publish(Sample.trade(Int64(i))) }
            let c = try RawWebSocket(port: port)
            c.send(#"{"op":"subscribe","id":7,"channels":["trades.binance.BTC-USDT"]}"#)
            let ack = try #require(c.readJSON())
            #expect(ack.type == "ack")
            #expect(ack.int("id") == 7)
            let entry = try #require((ack["channels"] as? [[String: Any]])?.first)
            #expect(entry["ch"] as? String == "trades.binance.BTC-USDT")
            #expect((entry["seq"] as? NSNumber)?.intValue == 3)
            #expect(entry["epoch"] as? String == "test")
            #expect(entry["recovered"] as? Bool == true)
            for i in 4...50 { bus.publish(Sample.trade(Int64(i), price: "\(100 + i).25")) }
            for i in 4...50 {
                let f = try #require(c.readJSON())
                #expect(f.ch == "trades.binance.BTC-USDT")
                #expect(f.seq == i)
                #expect(f.type == "trade")
                #expect(f["epoch"] as? String == "test")
                let d = try #require(f.dataObject)
                #expect(d["id"] as? String == "\(i)")
                #expect(d["price"] as? String == "\(100 + i).25")
                #expect(d["venue"] as? String == "binance")
            }
        }
    }

    @Test func wildcardMatchesChannelsThatAppearLater() async throws {
        try await withFanOut { bus, _, port in
            let c = try RawWebSocket(port: port)
            c.send(#"{"op":"subscribe","id":1,"channels":["trades.*.BTC-USDT"]}"#)
            let ack = try #require(c.readJSON())
            #expect((ack["channels"] as? [Any])?.isEmpty == true)
            bus.publish(Sample.trade(1))
            bus.publish(.trade(Trade(
                instrument: Instrument(venue: .okx, base: "BTC", quote: "USDT", nativeSymbol: "BTC-USDT"), id: .number(9),
                price: try FixedDecimal(parsing: "1"), quantity: try FixedDecimal(parsing: "1"), side: .sell,
                eventTime: .seconds(1), receiveTime: .seconds(1))))
            bus.publish(Sample.book(bid: "1", ask: "2"))  // not matched
            bus.publish(Sample.trade(2))
            let got = (0..<3).compactMap { _ in c.readJSON() }.map { "\($0.ch!)#\($0.seq!)" }
            #expect(got == ["trades.binance.BTC-USDT#1", "trades.okx.BTC-USDT#1", "trades.binance.BTC-USDT#2"])
        }
    }

    @Test func bookChannelSendsItsSnapshotFirst() async throws {
        try await withFanOut { bus, _, port in
            bus.publish(Sample.book(bid: "100", ask: "101"))
            bus.publish(Sample.book(bid: "100", ask: "103"))
            let c = try RawWebSocket(port: port)
            c.send(#"{"op":"subscribe","id":1,"channels":["book.binance.BTC-USDT"]}"#)
            let ack = try #require(c.readJSON())
            #expect(((ack["channels"] as? [[String: Any]])?.first?["seq"] as? NSNumber)?.intValue == 2)
            let snap = try #require(c.readJSON())
            #expect(snap.type == "book_snapshot")
            #expect(snap.seq == 2)
            #expect(((snap.dataObject?["asks"] as? [[Any]])?.first?.first as? String) == "103")
            bus.publish(Sample.book(bid: "100", ask: "104"))
            let next = try #require(c.readJSON())
            #expect(next.seq == 3)
        }
    }

    @Test func resumeWithSinceHasNoGapAndNoDuplicate() async throws {
        try await withFanOut { bus, _, port in
            let a = try RawWebSocket(port: port)
            a.send(#"{"op":"subscribe","id":1,"channels":["trades.binance.BTC-USDT"]}"#)
            _ = a.readJSON()
            for i in 1...5 { bus.publish(Sample.trade(Int64(i))) }
            var last: [String: Any] = [:]
            for _ in 1...5 { last = try #require(a.readJSON()) }
            let epoch = try #require(last["epoch"] as? String)
            #expect(last.seq == 5)
            a.close()
            // Missed while away.
            for i in 6...10 { bus.publish(Sample.trade(Int64(i))) }
            let b = try RawWebSocket(port: port)
            b.send(#"{"op":"subscribe","id":2,"channels":["trades.binance.BTC-USDT"],"since":{"trades.binance.BTC-USDT":{"seq":5,"epoch":"\#(epoch)"}}}"#)
            let ack = try #require(b.readJSON())
            let entry = try #require((ack["channels"] as? [[String: Any]])?.first)
            #expect(entry["recovered"] as? Bool == true)
            #expect((entry["seq"] as? NSNumber)?.intValue == 10)
            for i in 11...12 { bus.publish(Sample.trade(Int64(i))) }
            let seqs = (6...12).compactMap { _ in b.readJSON()?.seq }
            #expect(seqs == Array(6...12))
            let ids = seqs.isEmpty ? [] : seqs
            #expect(Set(ids).count == ids.count)
        }
    }

    @Test func resubscribingWithSinceOnTheSameConnectionResends() async throws {
        try await withFanOut { bus, _, port in
            let c = try RawWebSocket(port: port)
            c.send(#"{"op":"subscribe","id":1,"channels":["trades.binance.BTC-USDT"]}"#)
            _ = c.readJSON()
            for i in 1...5 { bus.publish(Sample.trade(Int64(i))) }
            var last: [String: Any] = [:]
            for _ in 1...5 { last = try #require(c.readJSON()) }
            let epoch = try #require(last["epoch"] as? String)
            // The client lost track after seq 2 and asks again on the same socket.
            c.send(#"{"op":"subscribe","id":2,"channels":["trades.binance.BTC-USDT"],"since":{"trades.binance.BTC-USDT":{"seq":2,"epoch":"\#(epoch)"}}}"#)
            let ack = try #require(c.readJSON())
            #expect(((ack["channels"] as? [[String: Any]])?.first?["recovered"] as? Bool) == true)
            #expect((3...5).compactMap { _ in c.readJSON()?.seq } == [3, 4, 5])
            // A bogus epoch is not "recovered", and says the history is unavailable.
            c.send(#"{"op":"subscribe","id":3,"channels":["trades.binance.BTC-USDT"],"since":{"trades.binance.BTC-USDT":{"seq":2,"epoch":"bogus"}}}"#)
            let refused = try #require(c.readJSON())
            #expect(((refused["channels"] as? [[String: Any]])?.first?["recovered"] as? Bool) == false, "\(refused)")
            let err = try #require(c.readJSON())
            #expect(err["code"] as? String == "history_unavailable")
            // Live delivery continues once, in order.
            bus.publish(Sample.trade(6))
            #expect(c.readJSON()?.seq == 6)
        }
    }

    @Test func resumeFromAnotherEpochIsNotRecovered() async throws {
        try await withFanOut(history: 4) { bus, _, port in
            for i in 1...10 { bus.publish(Sample.trade(Int64(i))) }
            let c = try RawWebSocket(port: port)
            c.send(#"{"op":"subscribe","id":3,"channels":["trades.binance.BTC-USDT","book.binance.BTC-USDT"],"since":{"trades.binance.BTC-USDT":{"seq":2,"epoch":"test"},"book.binance.BTC-USDT":{"seq":1,"epoch":"old"}}}"#)
            let ack = try #require(c.readJSON())
            let entries = try #require(ack["channels"] as? [[String: Any]])
            #expect(entries.map { $0["recovered"] as? Bool } == [false, false])
            let err = try #require(c.readJSON())
            #expect(err.type == "error")
            #expect(err["code"] as? String == "history_unavailable")
            #expect(err.int("id") == 3)
        }
    }

    @Test func unsubscribeStopsDelivery() async throws {
        try await withFanOut { bus, _, port in
            let c = try RawWebSocket(port: port)
            c.send(#"{"op":"subscribe","id":1,"channels":["trades.binance.BTC-USDT","book.binance.BTC-USDT"]}"#)
            _ = c.readJSON()
            c.send(#"{"op":"unsubscribe","id":2,"channels":["trades.binance.BTC-USDT"]}"#)
            let ack = try #require(c.readJSON())
            #expect(ack.type == "ack" && ack.int("id") == 2)
            #expect((ack["channels"] as? [[String: Any]])?.first?["ch"] as? String == "trades.binance.BTC-USDT")
            bus.publish(Sample.trade(1))
            bus.publish(Sample.book(bid: "1", ask: "2"))
            let f = try #require(c.readJSON())
            #expect(f.ch == "book.binance.BTC-USDT")
        }
    }

    @Test func everyKindOfBadInputGetsItsErrorAndTheConnectionStaysUsable() async throws {
        var options = FanOutOptions()
        options.maxSubscriptions = 3
        options.maxMessageBytes = 1024
        options.messageBurst = 1000
        try await withFanOut(options: options, authenticate: { $0 == "alice-token" ? .success("alice") : .failure(TokenRefusal("invalid token")) }) { bus, hub, port in
            let c = try RawWebSocket(port: port)
            let cases: [(String, String)] = [
                ("{not json", "bad_json"),
                ("[1,2]", "bad_json"),
                (#"{"op":"subscribe","id":true,"channels":["trades.binance.BTC-USDT"]}"#, "bad_json"),
                (#"{"op":"dance","id":1}"#, "unknown_op"),
                (#"{"id":1}"#, "unknown_op"),
                (#"{"op":"subscribe","id":1,"channels":["trades.nyse.BTC-USDT"]}"#, "bad_channel"),
                (#"{"op":"subscribe","id":1,"channels":["bogus"]}"#, "bad_channel"),
                (#"{"op":"subscribe","id":1,"channels":[]}"#, "bad_channel"),
                (#"{"op":"subscribe","id":1,"channels":["a","b"],"since":5}"#, "bad_json"),
                (#"{"op":"subscribe","id":1,"channels":["trades.binance.BTC-USDT"],"since":{"trades.binance.BTC-USDT":5}}"#, "bad_json"),
                (#"{"op":"subscribe","id":1,"channels":["mood.alice"]}"#, "unauthorized"),
                (#"{"op":"auth","id":1,"token":"forged"}"#, "unauthorized"),
                (#"{"op":"subscribe","id":1,"channels":["t.a.b","c","d","e"]}"#, "bad_channel"),
                (#"{"op":"subscribe","id":1,"channels":["trades.binance.A","trades.binance.B","trades.binance.C","trades.binance.D"]}"#, "too_many_subscriptions"),
                (#"{"op":"ping","id":1,"pad":"\#(String(repeating: "x", count: 2000))"}"#, "frame_too_large"),
            ]
            for (message, code) in cases {
                c.send(message)
                let reply = try #require(c.readJSON(), "no reply to \(message)")
                #expect(reply.type == "error", "\(message)")
                #expect(reply["code"] as? String == code, "\(message) → \(reply)")
                #expect((reply["message"] as? String)?.isEmpty == false)
            }
            c.sendFrame(opcode: 0x2, payload: [1, 2, 3])
            #expect(c.readJSON()?["code"] as? String == "bad_json")
            // Still usable: auth, a private channel of one's own, another user's is forbidden, ping.
            c.send(#"{"op":"auth","id":"a","token":"alice-token"}"#)
            let authed = try #require(c.readJSON())
            #expect(authed.type == "ack" && authed["user"] as? String == "alice" && authed["id"] as? String == "a")
            c.send(#"{"op":"subscribe","id":2,"channels":["mood.bob"]}"#)
            #expect(c.readJSON()?["code"] as? String == "forbidden")
            c.send(#"{"op":"subscribe","id":3,"channels":["mood.alice"]}"#)
            #expect(c.readJSON()?.type == "ack")
            c.send(#"{"op":"ping","id":4}"#)
            let pong = try #require(c.readJSON())
            #expect(pong.type == "pong" && pong.int("id") == 4)
            bus.publish(Sample.trade(1))
            let errors = hub.stats.clientErrors
            #expect(errors["bad_json"] == 6)
            #expect(errors["bad_channel"] == 4)
            #expect(errors["unauthorized"] == 2)
            #expect(errors["forbidden"] == 1)
        }
    }

    @Test func floodIsRateLimitedAndTheConnectionSurvives() async throws {
        var options = FanOutOptions()
        options.messagesPerSecond = 1
        options.messageBurst = 5
        try await withFanOut(options: options) { _, hub, port in
            let c = try RawWebSocket(port: port)
            for i in 0..<50 { c.send(#"{"op":"ping","id":\#(i)}"#) }
            var pongs = 0
            var limited = 0
            while let r = c.readJSON(timeout: 1.5) {
                if r.type == "pong" { pongs += 1 }
                if r["code"] as? String == "rate_limited" { limited += 1 }
            }
            #expect(pongs >= 5 && pongs < 50)
            #expect(limited >= 1)
            #expect((hub.stats.clientErrors["rate_limited"] ?? 0) >= 50 - pongs)
            try await Task.sleep(for: .seconds(1.2))
            c.send(#"{"op":"ping","id":"again"}"#)
            #expect(c.readJSON()?.type == "pong")
        }
    }

    @Test func oversizedFrameBeyondTheHardLimitClosesWith1009() async throws {
        var options = FanOutOptions()
        options.maxFrameBytes = 4096
        try await withFanOut(options: options) { _, _, port in
            let c = try RawWebSocket(port: port)
            c.send(String(repeating: "x", count: 10_000))
            #expect(c.readJSON()?["_close"] as? Int == 1009)
            // The server keeps serving others.
            let d = try RawWebSocket(port: port)
            d.send(#"{"op":"ping","id":1}"#)
            #expect(d.readJSON()?.type == "pong")
        }
    }

    @Test func connectionLimitRefusesWith503AndOtherPathsAreHTTP() async throws {
        var options = FanOutOptions()
        options.maxConnections = 2
        try await withFanOut(options: options) { _, hub, port in
            let a = try RawWebSocket(port: port)
            let b = try RawWebSocket(port: port)
            try await eventually("two connections") { hub.stats.connections == 2 }
            #expect(try RawWebSocket.statusLine(port: port).contains(" 503 "))
            #expect(try RawWebSocket.statusLine(port: port, path: "/elsewhere").contains(" 404 "))
            a.close()
            try await eventually("a slot frees") { hub.stats.connections == 1 }
            let c = try RawWebSocket(port: port)
            c.send(#"{"op":"ping","id":1}"#)
            #expect(c.readJSON()?.type == "pong")
            _ = b
        }
    }
}
