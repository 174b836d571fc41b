import Foundation
public import Hummingbird
import MarketCore
public import Services
import Storage

/// The token user's notification settings (docs/notifications.md):
///
/// - `GET /api/v1/notifications/settings` → `{"user","enabled","chat_id","kinds","available_kinds","note"?}`
/// - `PUT /api/v1/notifications/settings` `{"chat_id": "<id>"|<id>|null, "kinds": ["executions", …]}` →
///   the same answer; `chat_id: null` with `kinds: []` turns them off.
///
/// `enabled` is false (with a `note` saying why) when no bot token is configured: settings are
/// still kept and apply once one is. 400 `bad_request` names the field; 503 `store_unavailable`.
///
/// Ops (admin token), from the persisted outbox:
/// - `GET /api/v1/notifications/failed` → `{"notifications":[{id,user,chat_id,kind,text,created,attempts,last_error}]}`
///   (undeliverable ones, oldest first); 503 `no_store` when the gateway runs without a store
/// - `POST /api/v1/notifications/failed/{id}/retry` → 202 the notification, queued again with a
///   fresh attempt count; 404 `no_failed_notification`, 409 `already_queued`, 503 `notifications_off`
public func addNotificationRoutes<Context: RequestContext>(to router: some RouterMethods<Context>, services: ServiceSuite) {
    let api = ServiceAPI(services: services)
    router.get("/api/v1/notifications/settings") { req, _ in
        await api.run {
            let user = try await api.user(req)
            return NotificationRoutes.answer(services.notifications, user: user)
        }
    }
    router.put("/api/v1/notifications/settings") { req, _ in
        await api.run {
            let user = try await api.user(req)
            let settings = try NotificationRoutes.parse(try await api.fields(req))
            do {
                try await services.notifications.setSettings(user: user, settings)
            } catch {
                throw APIError.storeUnavailable(error)
            }
            return NotificationRoutes.answer(services.notifications, user: user)
        }
    }
    router.get("/api/v1/notifications/failed") { req, _ in
        await api.run {
            try await api.admin(req)
            let list: [StoredNotification]?
            do { list = try await services.notifications.failedNotifications() } catch { throw APIError.storeUnavailable(error) }
            guard let list else {
                throw APIError(
                    .serviceUnavailable, code: "no_store", message: "failed notifications are kept in the store's outbox; this gateway runs without a store")
            }
            return ServiceAPI.json { w in
                w.beginObject()
                w.key("notifications")
                w.beginArray()
                for n in list { NotificationRoutes.write(n, into: &w) }
                w.endArray()
                w.endObject()
            }
        }
    }
    router.post("/api/v1/notifications/failed/{id}/retry") { req, ctx in
        await api.run {
            try await api.admin(req)
            let id = ctx.parameters.get("id") ?? ""
            let row: StoredNotification
            do throws(NotificationService.RetryError) { row = try await services.notifications.retry(id: id) } catch {
                switch error {
                case .noStore:
                    throw APIError(.serviceUnavailable, code: "no_store", message: "failed notifications are kept in the store's outbox; this gateway runs without a store")
                case .disabled: throw APIError(.serviceUnavailable, code: "notifications_off", message: NotificationRoutes.disabledNote)
                case .notFound: throw APIError(.notFound, code: "no_failed_notification", message: "no failed notification '\(id)' in the outbox")
                case .alreadyQueued: throw APIError(.conflict, code: "already_queued", message: "notification '\(id)' is queued for delivery already")
                case .queueFull: throw APIError(.serviceUnavailable, code: "queue_full", message: "the notification queue is full; try again later")
                case .store(let why): throw APIError(.serviceUnavailable, code: "store_unavailable", message: why)
                }
            }
            return ServiceAPI.json(.accepted) { w in NotificationRoutes.write(row, into: &w) }
        }
    }
}

enum NotificationRoutes {
    static let disabledNote =
        "notifications are off: no bot token is configured (services.telegram_bot_token); settings are kept and apply once one is"

    static func answer(_ n: NotificationService, user: String) -> Response {
        let s = n.settings(user: user)
        return ServiceAPI.json { w in
            w.beginObject()
            w.key("user")
            w.string(user)
            w.key("enabled")
            w.bool(n.isEnabled)
            w.key("chat_id")
            if let s { w.string(s.chatID) } else { w.null() }
            w.key("kinds")
            w.beginArray()
            for k in (s?.kinds ?? []).sorted() { w.string(k.rawValue) }
            w.endArray()
            w.key("available_kinds")
            w.beginArray()
            for k in NotificationKind.allCases.sorted() { w.string(k.rawValue) }
            w.endArray()
            if !n.isEnabled {
                w.key("note")
                w.string(disabledNote)
            }
            w.endObject()
        }
    }

    /// The PUT body as settings; nil turns notifications off.
    static func parse(_ f: JSONFields) throws(APIError) -> NotificationSettings? {
        for key in f.values.keys.sorted() where key != "chat_id" && key != "kinds" {
            throw APIError.badRequest("bad_request", "unknown field '\(key)' (the fields are chat_id and kinds)")
        }
        let chatID: String?
        switch f["chat_id"] {
        case nil: throw APIError.badRequest("bad_request", "chat_id is required (null turns notifications off)")
        case .null?: chatID = nil
        case .string(let s)?, .number(let s)?:
            if let problem = NotificationSettings.chatIDProblem(s) { throw APIError.badRequest("bad_request", "\(problem); got '\(s)'") }
            chatID = s
        default: throw APIError.badRequest("bad_request", "chat_id must be a string or an integer")
        }
        guard let kindsValue = f["kinds"] else { throw APIError.badRequest("bad_request", "kinds is required: an array of \(kindNames)") }
        guard case .nested(let text) = kindsValue else { throw APIError.badRequest("bad_request", "kinds must be an array of \(kindNames)") }
        guard let array = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [Any] else {
            throw APIError.badRequest("bad_request", "kinds must be an array of \(kindNames)")
        }
        var kinds = Set<NotificationKind>()
        for item in array {
            guard let name = item as? String else { throw APIError.badRequest("bad_request", "kinds must hold strings: \(kindNames)") }
            guard let kind = NotificationKind(rawValue: name) else {
                throw APIError.badRequest("bad_request", "unknown kind '\(name)' in kinds (known: \(kindNames))")
            }
            kinds.insert(kind)
        }
        guard let chatID else {
            if !kinds.isEmpty { throw APIError.badRequest("bad_request", "kinds need a chat_id to send to (or give kinds: [])") }
            return nil
        }
        return NotificationSettings(chatID: chatID, kinds: kinds)
    }

    static func write(_ n: StoredNotification, into w: inout JSONWriter) {
        w.beginObject()
        w.key("id"); w.string(n.id)
        w.key("user"); w.string(n.userID)
        w.key("chat_id"); w.string(n.chatID)
        w.key("kind"); w.string(n.kind)
        w.key("text"); w.string(n.text)
        w.key("created"); w.time(n.created, fractionDigits: 3)
        w.key("status"); w.string(n.status.rawValue)
        w.key("attempts"); w.int(Int64(n.attempts))
        w.key("last_error")
        if let e = n.lastError { w.string(e) } else { w.null() }
        w.endObject()
    }

    static var kindNames: String { NotificationKind.allCases.sorted().map(\.rawValue).joined(separator: ", ") }
}
