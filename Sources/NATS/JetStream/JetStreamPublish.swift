#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import NIOCore

/// The stream's acknowledgement of a publish.
public struct PubAck: Sendable, Equatable, Decodable {
    /// The stream that stored the message.
    public var stream: String
    /// Its sequence in the stream (for a duplicate: the sequence of the first copy).
    public var sequence: UInt64
    /// The stream had already stored a message with this `Nats-Msg-Id` within its duplicate window.
    public var duplicate: Bool

    enum CodingKeys: String, CodingKey { case stream, sequence = "seq", duplicate }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        stream = try c.decode(String.self, forKey: .stream)
        sequence = try c.decode(UInt64.self, forKey: .sequence)
        duplicate = try c.decodeIfPresent(Bool.self, forKey: .duplicate) ?? false
    }
}

/// A message read back from a stream by sequence or subject.
public struct StoredMessage: Sendable, Equatable {
    public var subject: String
    public var sequence: UInt64
    public var headers: NATSHeaders?
    public var payload: ByteBuffer
    /// When the stream stored it (RFC 3339, as the server wrote it).
    public var time: String
}

extension PubAck {
    /// The stream's answer to a publish whose reply came to the caller's own inbox (a pipelined
    /// publisher that does not wait per message).
    /// - Throws: `JetStreamError` for an error answer; `NATSError` `.invalidResponse` for anything else.
    public init(answer payload: ByteBuffer) throws {
        self = try decodeAPIResponse(payload, as: PubAck.self, context: "a publish")
    }
}

extension JetStream {
    /// Publishes and waits for the stream's acknowledgement.
    ///
    /// A publish that fails or times out may still have been stored: retry it with the same
    /// `messageID` and the stream stores it once (within its duplicate window), answering the
    /// retry with `duplicate: true`.
    /// - Parameters:
    ///   - messageID: sent as `Nats-Msg-Id`, the stream's deduplication key.
    ///   - expectedLastSubjectSequence: store only if the subject's last message has this sequence
    ///     (0: the subject has no message); otherwise `JetStreamError.wrongLastSequence`.
    /// - Throws: `JetStreamError`; `NATSError` `.noResponders` when no stream captures `subject`, `.timeout`.
    public func publish(
        subject: String, payload: ByteBuffer, headers: NATSHeaders? = nil, messageID: String? = nil, expectedLastSubjectSequence: UInt64? = nil
    ) async throws -> PubAck {
        var headers = headers
        if let messageID { headers = headers ?? NATSHeaders(); headers![NATSHeaders.messageID] = messageID }
        if let expected = expectedLastSubjectSequence {
            headers = headers ?? NATSHeaders()
            headers![NATSHeaders.expectedLastSubjectSequence] = String(expected)
        }
        let reply: NATSMessage
        do {
            reply = try await client.request(subject: subject, payload: payload, headers: headers, timeout: timeout)
        } catch let error as NATSError where error.code == .noResponders {
            throw NATSError(.noResponders, "no JetStream stream captures \(subject)")
        }
        return try decodeAPIResponse(reply.payload, as: PubAck.self, context: "publish to \(subject)")
    }

    /// Publishes bytes and waits for the acknowledgement.
    public func publish(
        subject: String, payload: [UInt8], headers: NATSHeaders? = nil, messageID: String? = nil, expectedLastSubjectSequence: UInt64? = nil
    ) async throws -> PubAck {
        try await publish(
            subject: subject, payload: ByteBuffer(bytes: payload), headers: headers, messageID: messageID,
            expectedLastSubjectSequence: expectedLastSubjectSequence)
    }

    /// The message at `sequence`, or nil when there is none (never stored, removed or expired).
    /// Read from the stream's leader, so it reflects every acknowledged publish.
    public func getMessage(stream: String, sequence: UInt64) async throws -> StoredMessage? {
        struct Request: Encodable { var seq: UInt64 }
        return try await getMessage(stream: stream, request: Request(seq: sequence))
    }

    /// The last message on `subject` in `stream`, or nil when there is none.
    public func getLastMessage(stream: String, subject: String) async throws -> StoredMessage? {
        struct Request: Encodable {
            var subject: String
            enum CodingKeys: String, CodingKey { case subject = "last_by_subj" }
        }
        return try await getMessage(stream: stream, request: Request(subject: subject))
    }

    private func getMessage(stream: String, request: some Encodable) async throws -> StoredMessage? {
        typealias Response = MessageGetResponse
        let response: Response
        do {
            response = try await call("STREAM.MSG.GET.\(stream)", body: request)
        } catch let error as JetStreamError where error.errorCode == JetStreamError.noMessageFound {
            return nil
        }
        let m = response.message
        var headers: NATSHeaders?
        if let hdrs = m.hdrs, !hdrs.isEmpty {
            guard let bytes = Data(base64Encoded: hdrs) else { throw NATSError(.invalidResponse, "message \(m.seq) headers are not base64") }
            headers = try bytes.withUnsafeBytes { try NATSHeaders.parse($0) }
        }
        var payload = ByteBuffer()
        if let data = m.data, !data.isEmpty {
            guard let bytes = Data(base64Encoded: data) else { throw NATSError(.invalidResponse, "message \(m.seq) data is not base64") }
            payload = ByteBuffer(bytes: bytes)
        }
        return StoredMessage(subject: m.subject, sequence: m.seq, headers: headers, payload: payload, time: m.time ?? "")
    }
}

/// `$JS.API.STREAM.MSG.GET` answer.
private struct MessageGetResponse: Decodable {
    struct Message: Decodable {
        var subject: String
        var seq: UInt64
        var hdrs: String?
        var data: String?
        var time: String?
    }
    var message: Message
}
