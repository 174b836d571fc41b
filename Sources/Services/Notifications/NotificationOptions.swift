public import MarketCore

/// What a user can opt into (docs/notifications.md).
public enum NotificationKind: String, Sendable, Hashable, CaseIterable, Comparable {
    /// Each fill on `executions.<user>`.
    case executions
    /// A change of mood state on `mood.<user>` (not every score update).
    case mood
    /// The daily-loss circuit breaker tripping or resetting (sent through ``NotificationService/notify(user:kind:text:)``).
    case breaker
    /// At 00:00 UTC: the day's fills, realized P&L and balances.
    case dailySummary = "daily_summary"

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// The bot and the delivery queue (`services.telegram_*` in the configuration).
public struct NotificationOptions: Sendable, Equatable {
    /// The Bot API's base URL (`https://api.telegram.org`; tests point it at 127.0.0.1).
    public var apiBase = "https://api.telegram.org"
    /// The bot token; empty: notifications are off (settings are still kept).
    public var botToken = ""
    /// `parse_mode` sent with each message (nil: plain text, nothing to escape).
    public var parseMode: String? = nil
    /// Notifications held in memory waiting for delivery; beyond it new ones are dropped (counted, logged).
    public var queueCapacity = 10_000
    /// Attempts per notification before it is marked `failed` (kept in the outbox for ops).
    public var maxAttempts = 8
    /// The first retry delay; doubled per attempt up to ``maxBackoff``, with jitter.
    public var initialBackoff: Duration = .milliseconds(500)
    public var maxBackoff: Duration = .seconds(60)
    /// One request's bound.
    public var requestTimeout: Duration = .seconds(10)
    /// How often the daily-summary loop looks at the clock.
    public var summaryCheckEvery: Duration = .seconds(1)

    public init() {}

    public var isEnabled: Bool { !botToken.isEmpty }
}

/// A user's settings: where to send and what.
public struct NotificationSettings: Sendable, Hashable {
    /// A Telegram chat id (`123456789`, `-100123…`) or a channel's `@username`.
    public var chatID: String
    public var kinds: Set<NotificationKind>

    public init(chatID: String, kinds: Set<NotificationKind>) {
        self.chatID = chatID
        self.kinds = kinds
    }

    /// Why `text` is not a chat id Telegram accepts, or nil.
    public static func chatIDProblem(_ text: String) -> String? {
        let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        if !digits.isEmpty, digits.count <= 18, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), Int64(text) != nil, Int64(text) != 0 {
            return nil
        }
        if text.hasPrefix("@") {
            let name = text.dropFirst()
            if (5...32).contains(name.count), name.first?.isLetter == true,
                name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") })
            {
                return nil
            }
        }
        return "chat_id must be a non-zero integer of up to 18 digits (a Telegram chat id) or @channelusername (5–32 letters, digits, _)"
    }
}

/// What ``NotificationService/notify(user:kind:text:)`` did.
public enum NotifyOutcome: String, Sendable, Hashable {
    case queued
    /// No bot token is configured.
    case disabled
    /// The user has no chat id or did not opt into the kind.
    case notOptedIn = "not_opted_in"
    /// The queue is full (counted in `notifications_dropped_total`).
    case dropped
}
