#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import NIOCore

/// One thing the server sent (https://docs.nats.io/reference/reference-protocols/nats-protocol).
public enum NATSServerOperation: Sendable, Equatable {
    /// `INFO {json}`: at connect, and again when the cluster changes.
    case info(ServerInfo)
    /// `MSG`/`HMSG` for the subscription `sid`.
    case message(sid: UInt64, NATSMessage)
    /// `PING`: answer with `PONG`.
    case ping
    /// `PONG`: the answer to our oldest unanswered `PING`.
    case pong
    /// `+OK` (verbose mode only).
    case ok
    /// `-ERR 'text'`, quotes removed.
    case error(String)
}

/// An incremental parser for the server-to-client side of the NATS protocol.
///
/// Feed it bytes as they arrive, split anywhere, with `append(_:)`, then call `next()` until it
/// returns nil (it needs more bytes). Payloads are slices of the received buffers, not copies.
/// After it throws, the byte stream cannot be trusted: close the connection and start a new parser.
///
///     MSG md.trades.binance.BTC-USDT 1 11\r\nhello world\r\n
///     HMSG md.headers 2 56 61\r\nNATS/1.0\r\nNats-Msg-Id: abc-1\r\n…\r\n\r\nbytes\r\n
public struct NATSProtocolParser: Sendable {
    /// Bounds that keep a broken or hostile peer from making the parser buffer without end.
    public struct Limits: Sendable {
        /// Longest control line (an `INFO` with many `connect_urls` can be long).
        public var maxControlLine: Int = 1 << 20
        /// Largest `MSG`/`HMSG` size (headers plus payload); nats-server's own default is 1 MiB.
        public var maxPayload: Int = 64 << 20
        public init() {}
    }

    struct PendingMessage: Equatable {
        var subject: String
        var sid: UInt64
        var replyTo: String?
        var headerLength: Int
        var totalLength: Int
    }

    enum ControlLine {
        case info(ServerInfo)
        case message(PendingMessage)
        case ping, pong, ok
        case error(String)
    }

    let limits: Limits
    private var buffer = ByteBuffer()
    /// How much of the readable bytes has already been searched for a line end (drip feeds stay linear).
    private var scanned = 0
    private var pending: PendingMessage?

    /// Creates a parser with the given limits.
    public init(limits: Limits = Limits()) { self.limits = limits }

    /// Bytes received but not yet returned as operations.
    public var bufferedBytes: Int { buffer.readableBytes }

    /// Adds received bytes.
    public mutating func append(_ bytes: ByteBuffer) {
        if buffer.readableBytes == 0 {
            buffer = bytes  // the common case: no partial operation left over, so no copy
        } else {
            if buffer.readerIndex > 4096, buffer.readerIndex > buffer.readableBytes { buffer.discardReadBytes() }
            var bytes = bytes
            buffer.writeBuffer(&bytes)
        }
    }

    /// The next complete operation, or nil when more bytes are needed.
    /// - Throws: `NATSError` with code `.protocolViolation` on bytes that are not the NATS protocol
    ///   or exceed the limits.
    public mutating func next() throws -> NATSServerOperation? {
        while true {
            if let message = pending {
                guard buffer.readableBytes >= message.totalLength + 2 else { return nil }
                var headers: NATSHeaders?
                if message.headerLength > 0 {
                    let block = buffer.readSlice(length: message.headerLength)!
                    headers = try block.withUnsafeReadableBytes { try NATSHeaders.parse($0) }
                }
                let payload = buffer.readSlice(length: message.totalLength - message.headerLength)!
                guard buffer.readInteger(as: UInt16.self) == 0x0D0A else {
                    throw NATSError(.protocolViolation, "message payload for \(message.subject) not followed by CRLF")
                }
                pending = nil
                return .message(
                    sid: message.sid,
                    NATSMessage(subject: message.subject, replyTo: message.replyTo, headers: headers, payload: payload))
            }
            let view = buffer.readableBytesView
            guard let newline = view[(view.startIndex + scanned)...].firstIndex(of: 0x0A) else {
                scanned = view.count
                if scanned > limits.maxControlLine {
                    throw NATSError(.protocolViolation, "control line longer than \(limits.maxControlLine) bytes")
                }
                return nil
            }
            let lineLength = newline - view.startIndex
            let limits = self.limits
            let line = try buffer.withUnsafeReadableBytes { bytes in
                var end = lineLength
                if end > 0, bytes[end - 1] == 0x0D { end -= 1 }
                return try Self.parseControlLine(UnsafeRawBufferPointer(rebasing: bytes[0..<end]), limits: limits)
            }
            buffer.moveReaderIndex(forwardBy: lineLength + 1)
            scanned = 0
            switch line {
            case .info(let info): return .info(info)
            case .ping: return .ping
            case .pong: return .pong
            case .ok: return .ok
            case .error(let text): return .error(text)
            case .message(let message): pending = message  // loop: the payload may already be here
            }
        }
    }

    static func parseControlLine(_ line: UnsafeRawBufferPointer, limits: Limits) throws -> ControlLine {
        var tokens = Tokens(line: line)
        guard let op = tokens.next() else { throw NATSError(.protocolViolation, "empty control line") }
        switch uppercased(line[op]) {
        case "MSG", "HMSG":
            let hasHeaders = line[op].count == 4
            var args: [Range<Int>] = []
            while let t = tokens.next() {
                args.append(t)
                guard args.count <= 5 else { break }
            }
            let sizes = hasHeaders ? 2 : 1
            guard args.count == 2 + sizes || args.count == 3 + sizes else {
                throw NATSError(.protocolViolation, "malformed \(hasHeaders ? "HMSG" : "MSG"): \(text(line))")
            }
            guard let sid = decimal(line[args[1]]) else { throw NATSError(.protocolViolation, "bad sid in: \(text(line))") }
            let replyTo = args.count == 3 + sizes ? String(decoding: line[args[2]], as: UTF8.self) : nil
            guard let total = decimal(line[args[args.count - 1]]), total <= UInt64(limits.maxPayload) else {
                throw NATSError(.protocolViolation, "bad or oversized message size in: \(text(line))")
            }
            var headerLength = 0
            if hasHeaders {
                guard let h = decimal(line[args[args.count - 2]]), h > 0, h <= total else {
                    throw NATSError(.protocolViolation, "bad header size in: \(text(line))")
                }
                headerLength = Int(h)
            }
            return .message(
                PendingMessage(
                    subject: String(decoding: line[args[0]], as: UTF8.self), sid: sid, replyTo: replyTo, headerLength: headerLength,
                    totalLength: Int(total)))
        case "PING": return .ping
        case "PONG": return .pong
        case "+OK": return .ok
        case "-ERR":
            var rest = line[op.upperBound...].drop { $0 == 0x20 || $0 == 0x09 }
            while let last = rest.last, last == 0x20 || last == 0x09 { rest = rest.dropLast() }
            if rest.count >= 2, rest.first == UInt8(ascii: "'"), rest.last == UInt8(ascii: "'") { rest = rest.dropFirst().dropLast() }
            return .error(String(decoding: rest, as: UTF8.self))
        case "INFO":
            let json = line[op.upperBound...].drop { $0 == 0x20 || $0 == 0x09 }
            do {
                return .info(try JSONDecoder().decode(ServerInfo.self, from: Data(json)))
            } catch {
                throw NATSError(.protocolViolation, "INFO is not valid JSON: \(error)")
            }
        default:
            throw NATSError(.protocolViolation, "unknown operation: \(text(line))")
        }
    }

    private static func uppercased(_ bytes: Slice<UnsafeRawBufferPointer>) -> String {
        guard bytes.count <= 4 else { return "" }
        return String(decoding: bytes.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }, as: UTF8.self)
    }

    private static func decimal(_ bytes: Slice<UnsafeRawBufferPointer>) -> UInt64? {
        guard !bytes.isEmpty, bytes.count <= 19 else { return nil }
        var value: UInt64 = 0
        for b in bytes {
            guard b >= 0x30, b <= 0x39 else { return nil }
            value = value * 10 + UInt64(b - 0x30)
        }
        return value
    }

    private static func text(_ line: UnsafeRawBufferPointer) -> String {
        String(decoding: line.prefix(200), as: UTF8.self)
    }
}

/// Splits a control line on runs of spaces and tabs.
private struct Tokens {
    let line: UnsafeRawBufferPointer
    var index = 0

    mutating func next() -> Range<Int>? {
        while index < line.count, line[index] == 0x20 || line[index] == 0x09 { index += 1 }
        guard index < line.count else { return nil }
        let start = index
        while index < line.count, line[index] != 0x20, line[index] != 0x09 { index += 1 }
        return start..<index
    }
}
