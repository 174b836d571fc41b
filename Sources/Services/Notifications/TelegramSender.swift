import AsyncHTTPClient
import Foundation
import MarketCore
import NIOCore
import NIOHTTP1

/// One `sendMessage` call of the Telegram Bot API: `POST {base}/bot{token}/sendMessage` with
/// `{"chat_id", "text", "parse_mode"?}`.
struct TelegramSender: Sendable {
    enum Result: Sendable, Equatable {
        case delivered
        /// Worth another attempt: a 429 (with its `parameters.retry_after` in seconds), a 5xx, a
        /// timeout or a connection failure.
        case retry(after: Duration?, reason: String)
        /// Telegram refused the message (400 chat not found, 401 bad token, 403 blocked): never retried.
        case refused(String)
    }

    let options: NotificationOptions
    let client: HTTPClient

    /// The URL without the token, for logs.
    var redactedURL: String { "\(options.apiBase)/bot<token>/sendMessage" }

    static func body(chatID: String, text: String, parseMode: String?) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("chat_id")
        // Numeric ids go as JSON integers (exact: Int64), channel names as strings.
        if let id = Int64(chatID) { w.int(id) } else { w.string(chatID) }
        w.key("text")
        w.string(text)
        if let parseMode {
            w.key("parse_mode")
            w.string(parseMode)
        }
        w.endObject()
        return w.bytes
    }

    func send(chatID: String, text: String) async -> Result {
        var request = HTTPClientRequest(url: "\(options.apiBase)/bot\(options.botToken)/sendMessage")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: Self.body(chatID: chatID, text: text, parseMode: options.parseMode)))
        let status: Int
        let body: ByteBuffer
        do {
            let timeout = TimeAmount.nanoseconds(Int64(options.requestTimeout.components.seconds) * 1_000_000_000 + options.requestTimeout.components.attoseconds / 1_000_000_000)
            let response = try await client.execute(request, timeout: timeout)
            status = Int(response.status.code)
            body = try await response.body.collect(upTo: 1 << 20)
        } catch {
            // The token is part of the URL: errors name the redacted one.
            return .retry(after: nil, reason: "\(redactedURL): \(String(describing: error).replacingOccurrences(of: options.botToken, with: "<token>"))")
        }
        let json = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
        let description = json?["description"] as? String ?? String(decoding: body.readableBytesView.prefix(200), as: UTF8.self)
        switch status {
        case 200..<300:
            if json?["ok"] as? Bool == false { return .refused("ok=false: \(description)") }
            return .delivered
        case 429:
            let seconds = ((json?["parameters"] as? [String: Any])?["retry_after"] as? NSNumber)?.intValue
            return .retry(after: seconds.map { .seconds(max(0, $0)) }, reason: "429: \(description)")
        case 500...:
            return .retry(after: nil, reason: "\(status): \(description)")
        default:
            return .refused("\(status): \(description)")
        }
    }
}
