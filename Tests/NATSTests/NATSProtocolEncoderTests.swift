import Foundation
import NIOCore
import Testing

@testable import NATS

@Suite struct NATSProtocolEncoderTests {
    func written(_ body: (inout ByteBuffer) throws -> Void) rethrows -> String {
        var buffer = ByteBuffer()
        try body(&buffer)
        return String(buffer: buffer)
    }

    @Test func publishSubscribeUnsubscribePingPong() throws {
        #expect(try written { try NATSProtocolEncoder.writePublish(subject: "md.t", replyTo: nil, headers: nil, payload: ByteBuffer(string: "hello"), into: &$0) } == "PUB md.t 5\r\nhello\r\n")
        #expect(try written { try NATSProtocolEncoder.writePublish(subject: "a", replyTo: "_INBOX.x.1", headers: nil, payload: ByteBuffer(), into: &$0) } == "PUB a _INBOX.x.1 0\r\n\r\n")
        #expect(try written { try NATSProtocolEncoder.writeSubscribe(subject: "md.>", queue: nil, sid: 12, into: &$0) } == "SUB md.> 12\r\n")
        #expect(try written { try NATSProtocolEncoder.writeSubscribe(subject: "md.*.x", queue: "workers", sid: 3, into: &$0) } == "SUB md.*.x workers 3\r\n")
        #expect(written { NATSProtocolEncoder.writeUnsubscribe(sid: 7, max: nil, into: &$0) } == "UNSUB 7\r\n")
        #expect(written { NATSProtocolEncoder.writeUnsubscribe(sid: 7, max: 1000, into: &$0) } == "UNSUB 7 1000\r\n")
        #expect(written { NATSProtocolEncoder.writePing(into: &$0) } == "PING\r\n")
        #expect(written { NATSProtocolEncoder.writePong(into: &$0) } == "PONG\r\n")
    }

    @Test func headerPublishCountsBytesAsTheProtocolDefines() throws {
        var headers = NATSHeaders()
        headers[NATSHeaders.messageID] = "abc-1"
        headers.append(name: "X-Multi", value: "a")
        headers.append(name: "X-Multi", value: "b")
        let text = try written {
            try NATSProtocolEncoder.writePublish(subject: "md.h", replyTo: "r", headers: headers, payload: ByteBuffer(string: "bytes"), into: &$0)
        }
        // The same header block capture.py sent, which the real server reported as 56 header bytes, 61 in all.
        let block = "NATS/1.0\r\nNats-Msg-Id: abc-1\r\nX-Multi: a\r\nX-Multi: b\r\n\r\n"
        #expect(block.utf8.count == 56)
        #expect(text == "HPUB md.h r 56 61\r\n\(block)bytes\r\n")
    }

    @Test func connectIsJSONWithTheOptionsTheServerReads() throws {
        var command = NATSConnectCommand()
        command.name = "edge-1"
        command.user = "u"
        command.pass = "p"
        let text = written { NATSProtocolEncoder.writeConnect(command, into: &$0) }
        #expect(text.hasPrefix("CONNECT {") && text.hasSuffix("}\r\n"))
        let json = try JSONSerialization.jsonObject(with: Data(Array(text.utf8).dropFirst(8).dropLast(2))) as? [String: Any]
        #expect(json?["verbose"] as? Bool == false)
        #expect(json?["pedantic"] as? Bool == false)
        #expect(json?["headers"] as? Bool == true)
        #expect(json?["no_responders"] as? Bool == true)
        #expect(json?["protocol"] as? Int == 1)
        #expect(json?["echo"] as? Bool == true)
        #expect(json?["name"] as? String == "edge-1")
        #expect(json?["user"] as? String == "u")
        #expect(json?["pass"] as? String == "p")
        #expect(json?["auth_token"] == nil)
    }

    @Test(arguments: ["", "a b", "a..b", ".a", "a.", "a\tb", "a\r\nPUB x 1", "md.*", "md.>"])
    func publishRejectsBadSubjectsAndWritesNothing(_ subject: String) {
        var buffer = ByteBuffer()
        #expect(throws: NATSError.self) {
            try NATSProtocolEncoder.writePublish(subject: subject, replyTo: nil, headers: nil, payload: ByteBuffer(string: "x"), into: &buffer)
        }
        #expect(buffer.readableBytes == 0)
    }

    @Test func subscribeAllowsWildcardsButOnlyTrailingFullWildcard() throws {
        var buffer = ByteBuffer()
        try NATSProtocolEncoder.writeSubscribe(subject: "*.b.>", queue: nil, sid: 1, into: &buffer)
        #expect(throws: NATSError.self) { try NATSProtocolEncoder.writeSubscribe(subject: "a.>.b", queue: nil, sid: 2, into: &buffer) }
        #expect(throws: NATSError.self) { try NATSProtocolEncoder.writeSubscribe(subject: "a", queue: "q q", sid: 3, into: &buffer) }
        #expect(String(buffer: buffer) == "SUB *.b.> 1\r\n")
    }

    @Test(arguments: [("", "v"), ("Bad Name", "v"), ("Colon:Name", "v"), ("Ok", "line\r\nInjected: 1")])
    func headersThatWouldBreakTheBlockAreRejected(_ field: (String, String)) {
        var headers = NATSHeaders()
        headers.append(name: field.0, value: field.1)
        var buffer = ByteBuffer()
        #expect(throws: NATSError.self) {
            try NATSProtocolEncoder.writePublish(subject: "a", replyTo: nil, headers: headers, payload: ByteBuffer(), into: &buffer)
        }
        #expect(buffer.readableBytes == 0)
    }

    @Test func decimalsMatchSwiftFormatting() {
        for value: UInt64 in [0, 1, 9, 10, 99, 100, 1234, 65_535, 1_000_000, UInt64.max] {
            var buffer = ByteBuffer()
            NATSProtocolEncoder.writeDecimal(value, into: &buffer)
            #expect(String(buffer: buffer) == String(value))
        }
    }

    @Test func serverAddresses() throws {
        #expect(try NATSServerAddress(parsing: "nats://127.0.0.1:4223") == NATSServerAddress(host: "127.0.0.1", port: 4223))
        #expect(try NATSServerAddress(parsing: "localhost") == NATSServerAddress(host: "localhost", port: 4222))
        #expect(try NATSServerAddress(parsing: "[::1]:5000") == NATSServerAddress(host: "::1", port: 5000))
        let withUser = try NATSServerAddress(parsing: "nats://alice:s3cret@10.0.0.1:4222")
        #expect(withUser.user == "alice" && withUser.password == "s3cret" && withUser.host == "10.0.0.1")
        #expect(withUser.description == "nats://10.0.0.1:4222")
        #expect(try NATSServerAddress(parsing: "nats://tok@h:1").token == "tok")
        #expect(throws: NATSError.self) { try NATSServerAddress(parsing: "tls://h:4222") }
        #expect(throws: NATSError.self) { try NATSServerAddress(parsing: "h:99999") }
        #expect(throws: NATSError.self) { try NATSServerAddress(parsing: "nats://:4222") }
    }

    @Test func rfc3339MatchesFoundation() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        for seconds: Int64 in [0, 1, 951_782_400, 1_700_000_000, 4_102_444_800, -1, -86_401] {
            let nanos: Int64 = 123_456_789
            let text = rfc3339(unixNanoseconds: seconds * 1_000_000_000 + nanos)
            let whole = formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
            #expect(text == whole.dropLast() + ".123456789Z", "\(seconds)")
        }
    }

    @Test func ackSubjectsInBothForms() {
        let v1 = AckMetadata(replySubject: "$JS.ACK.MD.cons1.1.42.7.1700000000123456789.5")
        #expect(v1?.stream == "MD" && v1?.consumer == "cons1" && v1?.delivered == 1)
        #expect(v1?.streamSequence == 42 && v1?.consumerSequence == 7)
        #expect(v1?.timestamp == 1_700_000_000_123_456_789 && v1?.pending == 5)
        let v2 = AckMetadata(replySubject: "$JS.ACK.hub.ACCHASH.MD.cons1.2.43.8.1700000000123456789.4.rand")
        #expect(v2?.streamSequence == 43 && v2?.consumerSequence == 8 && v2?.pending == 4 && v2?.stream == "MD")
        #expect(AckMetadata(replySubject: "_INBOX.abc") == nil)
        #expect(AckMetadata(replySubject: "$JS.ACK.MD.c.x.1.1.1.1") == nil)
    }
}

