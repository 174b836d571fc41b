public import MarketCore
import PostgresNIO
import SQLiteNIO

/// A user's notification settings (migration 0016): the chat to send to and the kinds opted into.
public struct StoredNotificationSettings: Sendable, Hashable {
    public var userID: String
    public var chatID: String
    /// Kind names (`executions`, `mood`, …), sorted.
    public var kinds: [String]
    public var updated: UnixNanos

    public init(userID: String, chatID: String, kinds: [String], updated: UnixNanos) {
        self.userID = userID
        self.chatID = chatID
        self.kinds = kinds
        self.updated = updated
    }
}

/// One outbound notification in the outbox (migration 0016).
public struct StoredNotification: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable { case pending, sent, failed }

    public var id: String
    public var userID: String
    public var chatID: String
    public var kind: String
    public var text: String
    public var created: UnixNanos
    public var status: Status
    public var attempts: Int
    public var lastError: String?

    public init(
        id: String, userID: String, chatID: String, kind: String, text: String, created: UnixNanos, status: Status = .pending,
        attempts: Int = 0, lastError: String? = nil
    ) {
        self.id = id
        self.userID = userID
        self.chatID = chatID
        self.kind = kind
        self.text = text
        self.created = created
        self.status = status
        self.attempts = attempts
        self.lastError = lastError
    }
}

/// Notification settings and the outbox. Adding a notification already stored under its id keeps
/// the stored row.
public protocol NotificationStore: Sendable {
    func saveNotificationSettings(_ settings: StoredNotificationSettings) async throws
    func notificationSettings() async throws -> [StoredNotificationSettings]
    func addNotification(_ n: StoredNotification) async throws
    func updateNotification(id: String, status: StoredNotification.Status, attempts: Int, lastError: String?, at time: UnixNanos) async throws
    /// Oldest first.
    func notifications(status: StoredNotification.Status) async throws -> [StoredNotification]
}

extension StoredNotificationSettings {
    static func kinds(_ text: String) -> [String] { text.split(separator: ",").map(String.init) }
}

extension SQLiteStore: NotificationStore {
    public func saveNotificationSettings(_ s: StoredNotificationSettings) async throws {
        _ = try await withWriter { c in
            try await c.query(
                """
                INSERT INTO notification_settings (user_id, chat_id, kinds, updated_ns) VALUES (?, ?, ?, ?)
                ON CONFLICT (user_id) DO UPDATE SET chat_id = excluded.chat_id, kinds = excluded.kinds, updated_ns = excluded.updated_ns
                """,
                [.text(s.userID), .text(s.chatID), .text(s.kinds.joined(separator: ",")), .integer(SQLiteInt64(s.updated.rawValue))])
        }
    }

    public func notificationSettings() async throws -> [StoredNotificationSettings] {
        let rows = try await withReader { c in
            try await c.query("SELECT user_id, chat_id, kinds, updated_ns FROM notification_settings ORDER BY user_id")
        }
        return try decodeRows {
            var out: [StoredNotificationSettings] = []
            for row in rows {
                let c = row.columns.map(\.data)
                guard c.count == 4, let u = c[0].string, let chat = c[1].string, let kinds = c[2].string, case .integer(let ns) = c[3] else {
                    throw StoreQueryError("stored row cannot be read: notification_settings \(c)")
                }
                out.append(StoredNotificationSettings(userID: u, chatID: chat, kinds: StoredNotificationSettings.kinds(kinds), updated: UnixNanos(Int64(ns))))
            }
            return out
        }
    }

    public func addNotification(_ n: StoredNotification) async throws {
        _ = try await withWriter { c in
            try await c.query(
                """
                INSERT INTO notification_outbox
                    (id, user_id, chat_id, kind, text, created_ns, created_at, status, attempts, last_error, updated_ns)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING
                """,
                [
                    .text(n.id), .text(n.userID), .text(n.chatID), .text(n.kind), .text(n.text), .integer(SQLiteInt64(n.created.rawValue)),
                    .text(n.created.iso8601(fractionDigits: 9)), .text(n.status.rawValue), .integer(n.attempts),
                    n.lastError.map { .text($0) } ?? .null, .integer(SQLiteInt64(n.created.rawValue)),
                ])
        }
    }

    public func updateNotification(id: String, status: StoredNotification.Status, attempts: Int, lastError: String?, at time: UnixNanos)
        async throws
    {
        _ = try await withWriter { c in
            try await c.query(
                "UPDATE notification_outbox SET status = ?, attempts = ?, last_error = ?, updated_ns = ? WHERE id = ?",
                [.text(status.rawValue), .integer(attempts), lastError.map { .text($0) } ?? .null, .integer(SQLiteInt64(time.rawValue)), .text(id)])
        }
    }

    public func notifications(status: StoredNotification.Status) async throws -> [StoredNotification] {
        let rows = try await withReader { c in
            try await c.query(
                """
                SELECT id, user_id, chat_id, kind, text, created_ns, status, attempts, last_error FROM notification_outbox
                WHERE status = ? ORDER BY created_ns, id
                """, [.text(status.rawValue)])
        }
        return try decodeRows {
            var out: [StoredNotification] = []
            for row in rows {
                let c = row.columns.map(\.data)
                guard c.count == 9, let id = c[0].string, let u = c[1].string, let chat = c[2].string, let kind = c[3].string, let text = c[4].string,
                    case .integer(let ns) = c[5], let s = c[6].string.flatMap(StoredNotification.Status.init(rawValue:)), case .integer(let attempts) = c[7]
                else { throw StoreQueryError("stored row cannot be read: notification_outbox \(c)") }
                out.append(
                    StoredNotification(
                        id: id, userID: u, chatID: chat, kind: kind, text: text, created: UnixNanos(Int64(ns)), status: s, attempts: attempts,
                        lastError: c[8].string))
            }
            return out
        }
    }
}

extension PostgresStore: NotificationStore {
    public func saveNotificationSettings(_ s: StoredNotificationSettings) async throws {
        try await client.query(
            """
            INSERT INTO notification_settings (user_id, chat_id, kinds, updated_ns)
            VALUES (\(s.userID), \(s.chatID), \(s.kinds.joined(separator: ",")), \(s.updated.rawValue))
            ON CONFLICT (user_id) DO UPDATE SET chat_id = EXCLUDED.chat_id, kinds = EXCLUDED.kinds, updated_ns = EXCLUDED.updated_ns
            """, logger: logger)
    }

    public func notificationSettings() async throws -> [StoredNotificationSettings] {
        let rows = try await client.query("SELECT user_id, chat_id, kinds, updated_ns FROM notification_settings ORDER BY user_id", logger: logger)
        var out: [StoredNotificationSettings] = []
        for try await (u, chat, kinds, ns) in rows.decode((String, String, String, Int64).self) {
            out.append(StoredNotificationSettings(userID: u, chatID: chat, kinds: StoredNotificationSettings.kinds(kinds), updated: UnixNanos(ns)))
        }
        return out
    }

    public func addNotification(_ n: StoredNotification) async throws {
        try await client.query(
            """
            INSERT INTO notification_outbox (id, user_id, chat_id, kind, text, created_ns, created_at, status, attempts, last_error, updated_ns)
            VALUES (\(n.id), \(n.userID), \(n.chatID), \(n.kind), \(n.text), \(n.created.rawValue), \(Self.timestamp(n.created))::timestamptz,
                \(n.status.rawValue), \(n.attempts), \(n.lastError), \(n.created.rawValue))
            ON CONFLICT (id) DO NOTHING
            """, logger: logger)
    }

    public func updateNotification(id: String, status: StoredNotification.Status, attempts: Int, lastError: String?, at time: UnixNanos)
        async throws
    {
        try await client.query(
            """
            UPDATE notification_outbox SET status = \(status.rawValue), attempts = \(attempts), last_error = \(lastError),
                updated_ns = \(time.rawValue) WHERE id = \(id)
            """, logger: logger)
    }

    public func notifications(status: StoredNotification.Status) async throws -> [StoredNotification] {
        let rows = try await client.query(
            """
            SELECT id, user_id, chat_id, kind, text, created_ns, status, attempts::bigint, last_error FROM notification_outbox
            WHERE status = \(status.rawValue) ORDER BY created_ns, id
            """, logger: logger)
        var out: [StoredNotification] = []
        for try await (id, u, chat, kind, text, ns, s, attempts, lastError) in rows.decode(
            (String, String, String, String, String, Int64, String, Int64, String?).self)
        {
            guard let st = StoredNotification.Status(rawValue: s) else {
                throw StoreQueryError("stored row cannot be read: notification_outbox \(id) status \(s)")
            }
            out.append(
                StoredNotification(
                    id: id, userID: u, chatID: chat, kind: kind, text: text, created: UnixNanos(ns), status: st, attempts: Int(attempts),
                    lastError: lastError))
        }
        return out
    }
}
