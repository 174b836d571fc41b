import MarketCore

/// A request id as the client sent it (a number or a string), echoed in acks and errors.
enum RequestID: Sendable, Equatable {
    case none
    case number(Int64)
    case text(String)

    func write(into w: inout JSONWriter) {
        w.key("id")
        switch self {
        case .none: w.null()
        case .number(let n): w.int(n)
        case .text(let s): w.string(s)
        }
    }
}

/// Stable error codes (CONTRACTS.md "Websocket protocol", docs/protocol.md "Errors").
enum ErrorCode: String, Sendable {
    case badJSON = "bad_json"
    case unknownOp = "unknown_op"
    case badChannel = "bad_channel"
    case tooManySubscriptions = "too_many_subscriptions"
    case tooManyChannels = "too_many_channels"
    case rateLimited = "rate_limited"
    case frameTooLarge = "frame_too_large"
    case unauthorized
    case forbidden
    case historyUnavailable = "history_unavailable"
    /// Not sent: counts connections failed with close 1002.
    case protocolError = "protocol_error"
}
