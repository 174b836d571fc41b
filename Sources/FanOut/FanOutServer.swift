public import Hummingbird
public import Logging
import NIOPosix

/// The HTTP server with the fan-out websocket on `/ws`: `router` serves everything else.
public enum FanOutServer {
    public static func makeApplication<Context: RequestContext>(
        hub: FanOutHub, router: Router<Context>, host: String, port: Int, logger: Logger,
        onListening: (@Sendable (Int) async -> Void)? = nil, eventLoops: Int = 0
    ) -> some ApplicationProtocol where Context.Source == ApplicationRequestContextSource {
        // 0: NIO's shared group, one event loop per core. Fewer loops leave cores to other work
        // on the machine (the load tests' clients).
        let provider: EventLoopGroupProvider =
            eventLoops > 0 ? .shared(MultiThreadedEventLoopGroup(numberOfThreads: eventLoops)) : .singleton
        return Application(
            router: router,
            server: FanOutHTTPChannel.builder(hub: hub),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "MarketGateway"),
            onServerRunning: { channel in await onListening?(channel.localAddress?.port ?? port) },
            eventLoopGroupProvider: provider,
            logger: logger)
    }
}
