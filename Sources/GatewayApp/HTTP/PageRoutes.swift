import Feeds
import Foundation
import MarketCore
public import Hummingbird
import HTTPTypes
import NIOCore

/// The pages the gateway serves itself (docs/pages.md), with every asset embedded in the binary's
/// resource bundle (`Sources/GatewayApp/Pages`): nothing is fetched from another host, so they work
/// with the network cable pulled.
///
/// - `GET /` the market page; `GET /ops` the live ops page; `GET /assets/{file}` their scripts,
///   styles and icon.
/// - `GET /api/v1/ops?history=N` → ``OpsReport``: every `/metrics` series, `<what>_per_second`
///   rates, venue states, store and process figures, the configuration summary, and with `history`
///   the last N (≤ 300) seconds of each rate.
/// - `GET /api/v1/market/instruments` → `{"intervals":[…],"instruments":[{"venue","symbol"},…]}`,
///   what the gateway carries (the market page's picker).
public func addPageRoutes<Context: RequestContext>(to router: some RouterMethods<Context>, ops: OpsSampler) {
    let assets = PageAssets.shared
    router.get("/") { _, _ in assets.response(for: "market.html") }
    router.get("/ops") { _, _ in assets.response(for: "ops.html") }
    router.get("/assets/{file}") { _, context in
        assets.response(for: context.parameters.get("file") ?? "")
    }
    router.get("/api/v1/ops") { request, _ in
        await APIError.respond {
            var history = 0
            if let text = request.uri.queryParameters.get("history") {
                guard let n = Int(text), (0...OpsSampler.historyLength).contains(n) else {
                    throw APIError.badRequest("bad_history", "history must be an integer from 0 to \(OpsSampler.historyLength) (got '\(text)')")
                }
                history = n
            }
            return try PageAssets.json(ops.report(history: history))
        }
    }
    router.get("/api/v1/market/instruments") { _, _ in
        await APIError.respond {
            let sessions = ops.feed.sessions.values.sorted { $0.plan.venue.id < $1.plan.venue.id }
            let list = sessions.flatMap { s in s.plan.natives.map { $0.canonical }.sorted().map { InstrumentList.Item(venue: s.plan.venue.id, symbol: $0) } }
            return try PageAssets.json(InstrumentList(intervals: ops.configuration.normalizer.intervals.map(\.name), instruments: list))
        }
    }
}

/// `GET /api/v1/market/instruments`.
struct InstrumentList: Codable, Sendable {
    struct Item: Codable, Sendable {
        var venue: String
        var symbol: String
    }
    var intervals: [String]
    var instruments: [Item]
}

/// The page files, read once from the resource bundle.
struct PageAssets: Sendable {
    struct Asset: Sendable {
        var bytes: [UInt8]
        var contentType: String
    }

    let files: [String: Asset]

    static let shared = PageAssets(directory: Bundle.module.url(forResource: "Pages", withExtension: nil))

    static let contentTypes = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
        "svg": "image/svg+xml", "json": "application/json",
    ]

    init(directory: URL?) {
        var files: [String: Asset] = [:]
        if let directory, let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) {
            for name in names {
                guard let type = Self.contentTypes[(name as NSString).pathExtension],
                    let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path)
                else { continue }
                files[name] = Asset(bytes: Array(data), contentType: type)
            }
        }
        self.files = files
    }

    /// The pages load nothing from elsewhere: the policy forbids it, so a stray CDN link fails loudly
    /// in the browser (and in the page tests, as a console error) instead of working only online.
    static let securityPolicy =
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"

    func response(for name: String) -> Response {
        guard let asset = files[name] else {
            return APIError(.notFound, code: "not_found", message: "no page asset '\(name)'").response
        }
        var headers: HTTPFields = [.contentType: asset.contentType, .cacheControl: "no-cache"]
        if asset.contentType.hasPrefix("text/html") { headers[.contentSecurityPolicy] = Self.securityPolicy }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: asset.bytes)))
    }

    static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return .json(.ok, Array(try encoder.encode(value)))
    }
}
