import FanOut
public import Hummingbird
import Metrics
import NIOCore
import Synchronization

/// REST requests per bearer token: a token bucket of `perSecond` with two seconds of burst. Past
/// it: 429 `rate_limited` with `Retry-After: 1`, counted in
/// `gateway_limit_refusals_total{limit="rest_requests_per_token"}`. Requests without a token are
/// not counted here (the per-address connection limit bounds them).
public struct RESTRateLimit<Context: RequestContext>: RouterMiddleware, Sendable {
    let perSecond: Int
    private let buckets: Buckets

    /// At most this many tokens are tracked; past it, idle buckets are dropped.
    static var maxTracked: Int { 10_000 }

    final class Buckets: Sendable {
        let state = Mutex<[String: TokenBucket]>([:])
    }

    public init(perSecond: Int) {
        self.perSecond = perSecond
        buckets = Buckets()
    }

    /// Takes one request of `token`'s budget; false when it is spent.
    public func take(_ token: String) -> Bool {
        let rate = Double(perSecond)
        let now = NIODeadline.now()
        return buckets.state.withLock { b in
            if b[token] == nil, b.count >= Self.maxTracked {
                // Full buckets belong to tokens that have not been used for two seconds or more.
                b = b.filter { !$0.value.isFull(now: now) }
                if b.count >= Self.maxTracked { b.removeAll() }
            }
            var bucket = b[token] ?? TokenBucket(rate: rate, burst: rate * 2)
            let ok = bucket.take(now: now)
            b[token] = bucket
            return ok
        }
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let h = request.headers[.authorization], h.hasPrefix("Bearer ") else { return try await next(request, context) }
        guard take(String(h.dropFirst(7))) else {
            Counter(label: "gateway_limit_refusals_total", dimensions: [("limit", LimitName.restRequestsPerToken.rawValue)]).increment()
            var response = APIError(
                .tooManyRequests, code: "rate_limited", message: "more than \(perSecond) requests per second with this token; retry later"
            ).response
            response.headers[.retryAfter] = "1"
            return response
        }
        return try await next(request, context)
    }
}
