public import Hummingbird
public import Logging
public import ServiceLifecycle

/// A Hummingbird application run for a test and stopped by graceful shutdown, never by cancelling
/// its task: a connection accepted just as the serving task is cancelled is never handed to the
/// server loop, and NIO traps on it ("Deinited NIOAsyncWriter without calling finish()",
/// apple/swift-nio#2637; it crashed a CI run when a retrying HTTP client reached a fake server
/// as its test ended).
public struct TestHTTPServer: Sendable {
    let group: ServiceGroup
    let task: Task<Void, any Error>

    public init(_ app: some ApplicationProtocol & Service, logger: Logger) {
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        self.group = group
        task = Task { try await group.run() }
    }

    /// Starts the graceful shutdown and returns at once (usable from `defer`).
    public func stop() {
        let group = self.group
        Task { await group.triggerGracefulShutdown() }
    }

    /// Graceful shutdown, then waits until the server has stopped (at most 10 s; then cancels).
    public func stopAndWait() async {
        await group.triggerGracefulShutdown()
        let task = self.task
        await withTaskGroup(of: Bool.self) { g in
            g.addTask { _ = try? await task.value; return true }
            g.addTask { try? await Task.sleep(for: .seconds(10)); return false }
            if await g.next() == false { task.cancel() }
            g.cancelAll()
        }
    }
}
