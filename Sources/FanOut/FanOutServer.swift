public import Hummingbird
public import Logging

/// The HTTP server with the fan-out websocket on `/ws`: `router` serves everything else.
public enum FanOutServer {
    public static func makeApplication<Context: RequestContext>(
        hub: FanOutHub, router: Router<Context>, host: String, port: Int, logger: Logger,
        onListening: (@Sendable (Int) async -> Void)? = nil
    ) -> some ApplicationProtocol where Context.Source == ApplicationRequestContextSource {
        Application(
            router: router,
            server: FanOutHTTPChannel.builder(hub: hub),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "MarketGateway"),
            onServerRunning: { channel in await onListening?(channel.localAddress?.port ?? port) },
            logger: logger)
    }
}
