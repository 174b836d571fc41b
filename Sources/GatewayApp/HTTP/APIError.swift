public import HTTPTypes
public import Hummingbird
import MarketCore
import NIOCore

/// An HTTP API error: `{"error":{"code":"<stable code>","message":"<human text>"}}` with its status.
///
/// Codes are stable (clients branch on them); messages are for people and may change.
public struct APIError: HTTPResponseError, Sendable, Hashable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String

    public init(_ status: HTTPResponse.Status, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    static func badRequest(_ code: String, _ message: String) -> APIError { APIError(.badRequest, code: code, message: message) }

    /// The store threw: 503, so clients retry rather than treat the request as wrong.
    static func storeUnavailable(_ error: any Error) -> APIError {
        APIError(.serviceUnavailable, code: "store_unavailable", message: "store query failed: \(error)")
    }

    public func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        w.key("error")
        w.beginObject()
        w.key("code")
        w.string(code)
        w.key("message")
        w.string(message)
        w.endObject()
        w.endObject()
    }

    public var response: Response {
        var w = JSONWriter()
        writeJSON(into: &w)
        return .json(status, w.bytes)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response { response }

    /// Runs a handler, turning a thrown ``APIError`` into its response and anything else into 500.
    static func respond(_ body: () async throws -> Response) async -> Response {
        do {
            return try await body()
        } catch let e as APIError {
            return e.response
        } catch {
            return APIError(.internalServerError, code: "internal", message: "\(error)").response
        }
    }
}

extension Response {
    /// A JSON body written with ``JSONWriter``.
    static func json(_ status: HTTPResponse.Status, _ bytes: [UInt8]) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// Unknown routes (and the router's own errors) answer the API's JSON error, not an empty body:
/// 404 `not_found` naming the path; other `HTTPError`s keep their status with code `http_<status>`.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as HTTPError {
            if e.status == .notFound {
                return APIError(.notFound, code: "not_found", message: "no route for \(request.method) \(request.uri.path)").response
            }
            return APIError(e.status, code: "http_\(e.status.code)", message: e.body ?? e.status.reasonPhrase).response
        }
    }
}
