#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore

/// An error answer from the JetStream API (`{"error":{"code":…,"err_code":…,"description":…}}`).
public struct JetStreamError: Error, Sendable, Equatable, Decodable, CustomStringConvertible {
    /// HTTP-like status (400, 404, 500, 503).
    public var code: Int
    /// JetStream's specific error code (`err_code`), e.g. `wrongLastSequence`.
    public var errorCode: Int
    /// The server's text.
    public var errorDescription: String

    enum CodingKeys: String, CodingKey {
        case code, errorCode = "err_code", errorDescription = "description"
    }

    public init(code: Int, errorCode: Int, errorDescription: String) {
        self.code = code
        self.errorCode = errorCode
        self.errorDescription = errorDescription
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        code = try c.decodeIfPresent(Int.self, forKey: .code) ?? 0
        errorCode = try c.decodeIfPresent(Int.self, forKey: .errorCode) ?? 0
        errorDescription = try c.decodeIfPresent(String.self, forKey: .errorDescription) ?? ""
    }

    public var description: String { "JetStream error \(code)/\(errorCode): \(errorDescription)" }

    /// `err_code` 10058: a stream of that name exists with another configuration.
    public static let streamNameInUse = 10058
    /// `err_code` 10059.
    public static let streamNotFound = 10059
    /// `err_code` 10071: `Nats-Expected-Last-Subject-Sequence` did not match.
    public static let wrongLastSequence = 10071
    /// `err_code` 10070: `Nats-Expected-Last-Msg-Id` did not match.
    public static let wrongLastMessageID = 10070
    /// `err_code` 10037: no message at that sequence or subject.
    public static let noMessageFound = 10037
    /// `err_code` 10014.
    public static let consumerNotFound = 10014
}

/// JetStream over the client's request-reply: the `$JS.API.*` calls this gateway needs (streams,
/// acknowledged publishes, ordered consumers, message get, key-value buckets).
public struct JetStream: Sendable {
    /// The connection the API calls go over.
    public let client: NATSClient
    /// How long an API call or acknowledged publish may take.
    public var timeout: Duration
    /// `$JS.API`; differs only for JetStream domains.
    public var apiPrefix = "$JS.API"

    /// JetStream over `client`.
    public init(client: NATSClient, timeout: Duration = .seconds(5)) {
        self.client = client
        self.timeout = timeout
    }

    /// Calls `$JS.API.<api>` with a JSON body and decodes the answer.
    func call<Response: Decodable>(_ api: String, body: some Encodable, as type: Response.Type = Response.self) async throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = try encoder.encode(body)
        return try await call(api, payload: ByteBuffer(bytes: json), as: type)
    }

    /// Calls `$JS.API.<api>` with raw bytes (empty for info calls) and decodes the answer.
    func call<Response: Decodable>(_ api: String, payload: ByteBuffer = ByteBuffer(), as type: Response.Type = Response.self) async throws -> Response {
        let subject = "\(apiPrefix).\(api)"
        let reply: NATSMessage
        do {
            reply = try await client.request(subject: subject, payload: payload, timeout: timeout)
        } catch let error as NATSError where error.code == .noResponders {
            throw NATSError(.noResponders, "no JetStream answers \(subject) (is JetStream enabled on the server?)")
        }
        return try decodeAPIResponse(reply.payload, as: type, context: subject)
    }
}

private struct ErrorEnvelope: Decodable { var error: JetStreamError? }

/// Decodes a JetStream API answer, throwing its `error` object when there is one.
func decodeAPIResponse<Response: Decodable>(_ payload: ByteBuffer, as type: Response.Type, context: String) throws -> Response {
    let data = Data(payload.readableBytesView)
    let decoder = JSONDecoder()
    do {
        if let error = try decoder.decode(ErrorEnvelope.self, from: data).error { throw error }
        return try decoder.decode(type, from: data)
    } catch let error as JetStreamError {
        throw error
    } catch {
        throw NATSError(.invalidResponse, "cannot decode the answer to \(context): \(error); body: \(String(decoding: payload.readableBytesView.prefix(300), as: UTF8.self))")
    }
}

extension KeyedDecodingContainer {
    /// A duration JetStream writes as integer nanoseconds.
    func decodeNanoseconds(forKey key: Key) throws -> Duration? {
        try decodeIfPresent(Int64.self, forKey: key).map { .nanoseconds($0) }
    }
}

/// RFC 3339 with nanoseconds, UTC (`opt_start_time`): 2024-05-01T12:00:00.123456789Z.
func rfc3339(unixNanoseconds: Int64) -> String {
    let seconds = unixNanoseconds >= 0 ? unixNanoseconds / 1_000_000_000 : (unixNanoseconds - 999_999_999) / 1_000_000_000
    let nanos = unixNanoseconds - seconds * 1_000_000_000
    var days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
    let secondOfDay = seconds - days * 86_400
    // Civil-from-days (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms").
    days += 719_468
    let era = (days >= 0 ? days : days - 146_096) / 146_097
    let dayOfEra = days - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let mp = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
    return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(nanos, 9))Z"
}
