import Foundation
import NIOCore
import Testing

@testable import NATS

/// Parser tests on bytes a real nats-server sent (Fixtures/README.md), split at every point.
@Suite struct NATSProtocolParserTests {
    static func fixture(_ name: String) throws -> [UInt8] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
        return Array(try Data(contentsOf: url))
    }

    static func message(_ sid: UInt64, _ subject: String, reply: String? = nil, headers: NATSHeaders? = nil, _ payload: [UInt8]) -> NATSServerOperation {
        .message(sid: sid, NATSMessage(subject: subject, replyTo: reply, headers: headers, payload: ByteBuffer(bytes: payload)))
    }

    /// What capture.py sent and the server answered, written from the script, not from the parser.
    static var sessionOperations: [NATSServerOperation] {
        var multi = NATSHeaders()
        multi.append(name: "Nats-Msg-Id", value: "abc-1")
        multi.append(name: "X-Multi", value: "a")
        multi.append(name: "X-Multi", value: "b")
        var noResponders = NATSHeaders()
        noResponders.status = 503
        let info = ServerInfo(
            serverID: "NC576NDVP5UGYNZJ5KXMMYHHBUIV6M6XXVL2J7K3GC2QIHQ3U2PGSB4I", serverName: "NC576NDVP5UGYNZJ5KXMMYHHBUIV6M6XXVL2J7K3GC2QIHQ3U2PGSB4I",
            version: "2.9.10", host: "127.0.0.1", port: 14222, headers: true, maxPayload: 1_048_576, clientID: 4)
        return [
            .info(info), .ok, .ok, .ok, .ok, .ok,
            message(1, "md.trades.binance.BTC-USDT", Array("hello world".utf8)),
            message(2, "md.trades.binance.BTC-USDT", Array("hello world".utf8)),
            .ok, message(2, "md.empty", []),
            .ok, message(2, "md.reply", reply: "_INBOX.capture.r1", Array("query".utf8)),
            .ok, message(2, "md.headers", headers: multi, Array("bytes".utf8)),
            .ok, message(2, "md.binary", [0x00, 0x0D, 0x0A, 0xFF]),
            .ok, message(3, "_INBOX.capture.r2", headers: noResponders, []),
            .pong, .error("Unknown Protocol Operation"),
        ]
    }

    static func parseAll(_ chunks: [[UInt8]]) throws -> [NATSServerOperation] {
        var parser = NATSProtocolParser()
        var out: [NATSServerOperation] = []
        for chunk in chunks {
            parser.append(ByteBuffer(bytes: chunk))
            while let op = try parser.next() { out.append(op) }
        }
        #expect(parser.bufferedBytes == 0)
        return out
    }

    @Test func realSessionInOneChunk() throws {
        let bytes = try Self.fixture("server-session.bin")
        #expect(try Self.parseAll([bytes]) == Self.sessionOperations)
    }

    @Test func realSessionSplitAtEveryPoint() throws {
        let bytes = try Self.fixture("server-session.bin")
        let expected = Self.sessionOperations
        for split in 1..<bytes.count {
            let ops = try Self.parseAll([Array(bytes[..<split]), Array(bytes[split...])])
            #expect(ops == expected, "split at \(split)")
            if ops != expected { break }
        }
    }

    @Test func realSessionOneByteAtATime() throws {
        let bytes = try Self.fixture("server-session.bin")
        #expect(try Self.parseAll(bytes.map { [$0] }) == Self.sessionOperations)
    }

    @Test func realSessionInRandomChunks() throws {
        let bytes = try Self.fixture("server-session.bin")
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var chunks: [[UInt8]] = []
            var i = 0
            while i < bytes.count {
                let n = Int.random(in: 1...40, using: &rng)
                chunks.append(Array(bytes[i..<min(i + n, bytes.count)]))
                i += n
            }
            #expect(try Self.parseAll(chunks) == Self.sessionOperations)
        }
    }

    @Test func clusterInfoCarriesConnectURLs() throws {
        let bytes = try Self.fixture("cluster-info.bin")
        let expectedInfo = ServerInfo(
            serverID: "NDYA6JYELI6HVC3HJ3CBNBZ4YDHM6MVSCJ744LP3NAPXJWALB5JXBZ5O", serverName: "s1", version: "2.9.10", host: "127.0.0.1",
            port: 14301, headers: true, maxPayload: 1_048_576, clientID: 7, connectURLs: ["127.0.0.1:14301", "127.0.0.1:14302"], cluster: "c1")
        for split in 0...bytes.count {
            let chunks = split == 0 ? [bytes] : [Array(bytes[..<split]), Array(bytes[split...])]
            #expect(try Self.parseAll(chunks) == [.info(expectedInfo), .ping], "split at \(split)")
        }
    }

    @Test func lowercaseOperationsTabsAndRepeatedBlanks() throws {
        let text = "ping\r\npong\r\n+ok\r\nmsg\tfoo.bar  7 \t reply.to 3\r\nabc\r\nhmsg a 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n-err   'Permissions Violation for Publish to \"x\"'  \r\n"
        #expect(
            try Self.parseAll([Array(text.utf8)]) == [
                .ping, .pong, .ok,
                Self.message(7, "foo.bar", reply: "reply.to", Array("abc".utf8)),
                Self.message(1, "a", headers: NATSHeaders(), Array("hi".utf8)),
                .error("Permissions Violation for Publish to \"x\""),
            ])
    }

    @Test func statusWithDescriptionAndHeaders() throws {
        let block = "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 5\r\nNats-Last-Stream:  9 \r\n\r\n"
        let text = "HMSG _INBOX.x 4 \(block.utf8.count) \(block.utf8.count)\r\n\(block)\r\n"
        guard case .message(4, let message)? = try Self.parseAll([Array(text.utf8)]).first else {
            Issue.record("no message")
            return
        }
        #expect(message.status == 100)
        #expect(message.headers?.statusDescription == "Idle Heartbeat")
        #expect(message.headers?["Nats-Last-Consumer"] == "5")
        #expect(message.headers?["Nats-Last-Stream"] == "9")
        #expect(message.payload.readableBytes == 0)
    }

    @Test func largePayloadDripFedStaysIntact() throws {
        let payload = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let bytes = Array("MSG big 9 \(payload.count)\r\n".utf8) + payload + Array("\r\nPING\r\n".utf8)
        var chunks: [[UInt8]] = []
        var i = 0
        while i < bytes.count {
            chunks.append(Array(bytes[i..<min(i + 1000, bytes.count)]))
            i += 1000
        }
        #expect(try Self.parseAll(chunks) == [Self.message(9, "big", payload), .ping])
    }

    @Test(arguments: [
        "FOO bar\r\n",  // unknown operation
        "MSG a 1\r\n",  // too few arguments
        "MSG a x 3\r\nabc\r\n",  // sid not a number
        "MSG a 1 3\r\nabcXY",  // no CRLF after the payload
        "HMSG a 1 20 10\r\n",  // header size larger than total
        "HMSG a 1 12 12\r\nXATS/1.0\r\n\r\n\r\n",  // header block without NATS/1.0
        "INFO {not json\r\n",
    ])
    func rejectsWhatIsNotTheProtocol(_ text: String) {
        #expect(throws: NATSError.self) { _ = try Self.parseAll([Array(text.utf8)]) }
    }

    @Test func boundsControlLinesAndPayloads() {
        var limits = NATSProtocolParser.Limits()
        limits.maxControlLine = 64
        limits.maxPayload = 10
        var parser = NATSProtocolParser(limits: limits)
        parser.append(ByteBuffer(bytes: Array(repeating: UInt8(ascii: "A"), count: 65)))
        #expect(throws: NATSError.self) { _ = try parser.next() }

        var second = NATSProtocolParser(limits: limits)
        second.append(ByteBuffer(string: "MSG a 1 11\r\n"))
        #expect(throws: NATSError.self) { _ = try second.next() }
    }
}
