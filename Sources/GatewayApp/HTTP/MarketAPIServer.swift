public import Hummingbird
public import Logging
import NIOCore
public import Storage

/// The HTTP API as a standalone server (``addMarketRoutes(to:store:liveBooks:)`` on its own router).
public enum MarketAPIServer {
    /// The application serving the market routes on `host:port` (port 0 picks a free port).
    public static func makeApplication(
        store: any MarketStore, host: String = "127.0.0.1", port: Int = 8080, logger: Logger,
        liveBooks: (any LiveBookSource)? = nil, onListening: (@Sendable (Int) async -> Void)? = nil
    ) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: LogRequestsMiddleware(.debug))
        router.add(middleware: JSONErrorMiddleware())
        addMarketRoutes(to: router, store: store, liveBooks: liveBooks)
        addOpenAPIRoutes(to: router, logger: logger)
        return Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port)),
            onServerRunning: { channel in await onListening?(channel.localAddress?.port ?? port) },
            logger: logger)
    }

    /// Serves until SIGINT/SIGTERM, then shuts down gracefully. `onListening` gets the bound port
    /// (useful with port 0). The store is not closed here: the caller owns it.
    public static func run(
        store: any MarketStore, host: String, port: Int, logger: Logger,
        liveBooks: (any LiveBookSource)? = nil, onListening: (@Sendable (Int) async -> Void)? = nil
    ) async throws {
        let app = makeApplication(
            store: store, host: host, port: port, logger: logger, liveBooks: liveBooks, onListening: onListening)
        try await app.runService()
    }
}
