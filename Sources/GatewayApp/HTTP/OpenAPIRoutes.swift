import Foundation
public import Hummingbird
import HTTPTypes
public import Logging
import NIOCore
import Yams

/// The REST API's OpenAPI 3.1 document (`Sources/GatewayApp/Pages/openapi.yaml`).
enum OpenAPIDocument {
    /// The HTTP methods an OpenAPI path item may hold.
    static let methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    /// The whole document as parsed from the bundle, nil when it is missing or unreadable.
    static func load() -> [String: Any]? {
        guard let url = Bundle.module.url(forResource: "Pages", withExtension: nil)?.appendingPathComponent("openapi.yaml"),
            let text = try? String(contentsOf: url, encoding: .utf8)
        else { return nil }
        return (try? Yams.load(yaml: text)) as? [String: Any]
    }

    /// `METHOD /path` of every operation, in the router's spelling (`GET /api/v1/agents/{id}`).
    static func operations(_ document: [String: Any]) -> Set<String> {
        var out = Set<String>()
        for (path, item) in (document["paths"] as? [String: Any]) ?? [:] {
            for key in ((item as? [String: Any]) ?? [:]).keys where methods.contains(key) {
                out.insert("\(key.uppercased()) \(path)")
            }
        }
        return out
    }

    /// The router's routes in the same spelling.
    static func routes<Context>(_ router: Router<Context>) -> Set<String> {
        Set(router.routes.map { "\($0.method.rawValue) \($0.path.description)" })
    }

    /// The document cut to the operations `routes` has (`gateway api` serves the market routes only).
    static func restricted(_ document: [String: Any], to routes: Set<String>) -> [String: Any] {
        var document = document
        var paths: [String: Any] = [:]
        for (path, item) in (document["paths"] as? [String: Any]) ?? [:] {
            guard var item = item as? [String: Any] else { continue }
            for key in item.keys where methods.contains(key) && !routes.contains("\(key.uppercased()) \(path)") {
                item.removeValue(forKey: key)
            }
            if item.keys.contains(where: methods.contains) { paths[path] = item }
        }
        document["paths"] = paths
        return document
    }
}

/// Adds `GET /openapi.json`: the OpenAPI document of the routes `router` has. Call it after every
/// other route is added: it reads the router's routes then. A route the document does not
/// describe is logged as an error at start (OpenAPITests keeps the two equal both ways).
public func addOpenAPIRoutes<Context: RequestContext>(to router: Router<Context>, logger: Logger) {
    guard let full = OpenAPIDocument.load() else {
        logger.error("openapi.yaml is missing from the resource bundle; /openapi.json answers 503")
        router.get("/openapi.json") { _, _ in
            APIError(.serviceUnavailable, code: "openapi_missing", message: "the OpenAPI document is not in this build").response
        }
        return
    }
    let routes = OpenAPIDocument.routes(router).union(["GET /openapi.json"])
    let undocumented = routes.subtracting(OpenAPIDocument.operations(full))
    if !undocumented.isEmpty {
        logger.error("routes missing from openapi.yaml", metadata: ["routes": "\(undocumented.sorted())"])
    }
    let document = OpenAPIDocument.restricted(full, to: routes)
    let bytes = (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])).map(Array.init) ?? Array("{}".utf8)
    router.get("/openapi.json") { _, _ in Response.json(.ok, bytes) }
}
