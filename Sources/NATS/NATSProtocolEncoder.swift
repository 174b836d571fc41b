#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import NIOCore

/// The `CONNECT` options this client sends
/// (https://docs.nats.io/reference/reference-protocols/nats-protocol#connect).
public struct NATSConnectCommand: Sendable, Equatable, Encodable {
    public var verbose = false
    public var pedantic = false
    public var tlsRequired = false
    public var name: String?
    public var lang = "swift"
    public var version = "0.1.0"
    /// 1: the server may send async INFO updates (cluster topology, `connect_urls`).
    public var `protocol` = 1
    /// Whether this connection receives its own publishes.
    public var echo = true
    /// HPUB/HMSG support.
    public var headers = true
    /// Ask the server for a 503 status instead of silence when a request has no subscribers.
    public var noResponders = true
    public var user: String?
    public var pass: String?
    public var authToken: String?

    enum CodingKeys: String, CodingKey {
        case verbose, pedantic, tlsRequired = "tls_required", name, lang, version, `protocol`, echo, headers
        case noResponders = "no_responders", user, pass, authToken = "auth_token"
    }

    public init() {}
}

/// Writes client-to-server commands. Every writer validates first and writes nothing when it throws.
public enum NATSProtocolEncoder {
    /// `CONNECT {json}\r\n`.
    public static func writeConnect(_ command: NATSConnectCommand, into buffer: inout ByteBuffer) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding a struct of strings, bools and ints cannot fail.
        let json = try! encoder.encode(command)
        buffer.writeStaticString("CONNECT ")
        buffer.writeBytes(json)
        buffer.writeStaticString("\r\n")
    }

    /// `PUB subject [reply] size\r\npayload\r\n`, or `HPUB subject [reply] headerSize totalSize\r\nheaders payload\r\n`
    /// when `headers` is non-nil.
    /// - Throws: `NATSError` `.invalidSubject` or `.invalidHeader`.
    public static func writePublish(
        subject: String, replyTo: String?, headers: NATSHeaders?, payload: ByteBuffer, into buffer: inout ByteBuffer
    ) throws {
        try validatePublishSubject(subject)
        if let replyTo { try validatePublishSubject(replyTo, what: "reply subject") }
        if let headers {
            try headers.validate()
            let headerLength = headerBlockLength(headers)
            buffer.writeStaticString("HPUB ")
            buffer.writeString(subject)
            if let replyTo {
                buffer.writeStaticString(" ")
                buffer.writeString(replyTo)
            }
            buffer.writeStaticString(" ")
            writeDecimal(UInt64(headerLength), into: &buffer)
            buffer.writeStaticString(" ")
            writeDecimal(UInt64(headerLength + payload.readableBytes), into: &buffer)
            buffer.writeStaticString("\r\n")
            headers.write(into: &buffer)
        } else {
            buffer.writeStaticString("PUB ")
            buffer.writeString(subject)
            if let replyTo {
                buffer.writeStaticString(" ")
                buffer.writeString(replyTo)
            }
            buffer.writeStaticString(" ")
            writeDecimal(UInt64(payload.readableBytes), into: &buffer)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeImmutableBuffer(payload)
        buffer.writeStaticString("\r\n")
    }

    /// `SUB subject [queue] sid\r\n`.
    /// - Throws: `NATSError` `.invalidSubject` for a bad subject or queue group.
    public static func writeSubscribe(subject: String, queue: String?, sid: UInt64, into buffer: inout ByteBuffer) throws {
        try validateSubscribeSubject(subject)
        if let queue { try validateQueueGroup(queue) }
        buffer.writeStaticString("SUB ")
        buffer.writeString(subject)
        if let queue {
            buffer.writeStaticString(" ")
            buffer.writeString(queue)
        }
        buffer.writeStaticString(" ")
        writeDecimal(sid, into: &buffer)
        buffer.writeStaticString("\r\n")
    }

    /// `UNSUB sid [max]\r\n`: with `max`, the server removes the subscription after that many messages in all.
    public static func writeUnsubscribe(sid: UInt64, max: UInt64?, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("UNSUB ")
        writeDecimal(sid, into: &buffer)
        if let max {
            buffer.writeStaticString(" ")
            writeDecimal(max, into: &buffer)
        }
        buffer.writeStaticString("\r\n")
    }

    /// `PING\r\n`.
    public static func writePing(into buffer: inout ByteBuffer) { buffer.writeStaticString("PING\r\n") }

    /// `PONG\r\n`.
    public static func writePong(into buffer: inout ByteBuffer) { buffer.writeStaticString("PONG\r\n") }

    /// A publish subject: non-empty dot-separated tokens, no whitespace, no wildcard token.
    public static func validatePublishSubject(_ subject: String, what: String = "subject") throws {
        try validateTokens(subject, what: what) { token, _ in
            guard !(token.count == 1 && (token.first == UInt8(ascii: "*") || token.first == UInt8(ascii: ">"))) else {
                throw NATSError(.invalidSubject, "\(what) \(String(reflecting: subject)) has a wildcard; publish to a concrete subject")
            }
        }
    }

    /// A subscription subject: like a publish subject, but `*` may stand for a token and `>` for the rest.
    public static func validateSubscribeSubject(_ subject: String) throws {
        try validateTokens(subject, what: "subject") { token, isLast in
            guard token.count == 1, token.first == UInt8(ascii: ">"), !isLast else { return }
            throw NATSError(.invalidSubject, "subject \(String(reflecting: subject)): '>' must be the last token")
        }
    }

    /// A queue group name: non-empty, no whitespace.
    public static func validateQueueGroup(_ queue: String) throws {
        guard !queue.isEmpty, !queue.utf8.contains(where: isSpaceOrControl) else {
            throw NATSError(.invalidSubject, "queue group \(String(reflecting: queue)) is empty or has whitespace")
        }
    }

    private static func validateTokens(
        _ subject: String, what: String, _ check: (ArraySlice<UInt8>, _ isLast: Bool) throws -> Void
    ) throws {
        let bytes = Array(subject.utf8)
        guard !bytes.isEmpty else { throw NATSError(.invalidSubject, "\(what) is empty") }
        guard !bytes.contains(where: isSpaceOrControl) else {
            throw NATSError(.invalidSubject, "\(what) \(String(reflecting: subject)) has whitespace or a control byte")
        }
        let tokens = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        for (i, token) in tokens.enumerated() {
            guard !token.isEmpty else { throw NATSError(.invalidSubject, "\(what) \(String(reflecting: subject)) has an empty token") }
            try check(token, i == tokens.count - 1)
        }
    }

    private static func isSpaceOrControl(_ b: UInt8) -> Bool { b <= 0x20 || b == 0x7F }

    static func headerBlockLength(_ headers: NATSHeaders) -> Int {
        var n = 10 + 2  // "NATS/1.0\r\n" … "\r\n"
        for field in headers.fields { n += field.name.utf8.count + 2 + field.value.utf8.count + 2 }
        return n
    }

    static func writeDecimal(_ value: UInt64, into buffer: inout ByteBuffer) {
        guard value >= 10 else {
            buffer.writeInteger(UInt8(0x30 + value))
            return
        }
        var divisor: UInt64 = 1
        while value / divisor >= 10 { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            buffer.writeInteger(UInt8(0x30 + rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }
}
