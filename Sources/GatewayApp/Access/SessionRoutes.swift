public import FanOut
import Foundation
public import Hummingbird
import MarketCore
public import Services

/// `POST /api/v1/users/{id}/revoke-tokens` (admin): every token of the user issued before now is
/// refused from here on, and the user's connected websockets lose their identity and private
/// channels (each is told: `session` `signed_out`, reason `revoked`).
/// The revocation is stored (`stored`: false when the store failed: it holds until a restart).
/// → 200 `{"user","revoked_before","sockets","stored"}`; 404 `unknown_user`; 401/403 as the other admin endpoints.
public func addSessionRoutes<Context: RequestContext>(to router: Router<Context>, services: ServiceSuite, hub: FanOutHub) {
    let api = ServiceAPI(services: services)
    router.post("/api/v1/users/{id}/revoke-tokens") { req, ctx in
        await api.run {
            try await api.admin(req)
            let id = ctx.parameters.get("id") ?? ""
            guard services.execution.account(id) != nil, let (before, stored) = await services.revokeTokens(of: id) else {
                throw APIError(.notFound, code: "unknown_user", message: "no user '\(id)'")
            }
            let sockets = await hub.revokeSessions(of: id)
            var w = JSONWriter()
            w.beginObject()
            w.key("user"); w.string(id)
            w.key("revoked_before"); w.time(UnixNanos(Int64((before.timeIntervalSince1970 * 1e9).rounded())), fractionDigits: 3)
            w.key("sockets"); w.int(Int64(sockets))
            w.key("stored"); w.bool(stored)
            w.endObject()
            return .json(.ok, w.bytes)
        }
    }
}
