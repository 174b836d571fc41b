import Foundation
import Logging
import NIOCore
import Testing

@testable import NATS

/// Logs at `NATS_TEST_LOG` level (default: warning) to stderr.
let testLogger: Logger = {
    var logger = Logger(label: "nats-test") { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = ProcessInfo.processInfo.environment["NATS_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
    return logger
}()

/// Client options for tests: quick reconnects so server kills are recovered from fast.
func testOptions(_ name: String) -> NATSOptions {
    var options = NATSOptions()
    options.name = name
    options.reconnect = NATSReconnectPolicy(initialDelay: .milliseconds(50), maxDelay: .milliseconds(500))
    options.connectTimeout = .seconds(2)
    return options
}

func connectClient(_ urls: [String], name: String, configure: (inout NATSOptions) -> Void = { _ in }) async throws -> NATSClient {
    var options = testOptions(name)
    configure(&options)
    return try await NATSClient.connect(to: urls, options: options, logger: testLogger)
}

/// The next `count` messages of a subscription.
func collect(_ subscription: NATSSubscription, count: Int) async throws -> [NATSMessage] {
    var messages: [NATSMessage] = []
    guard count > 0 else { return messages }
    for try await message in subscription {
        messages.append(message)
        if messages.count == count { break }
    }
    return messages
}

/// Waits for a connection event matching `predicate`.
func waitForEvent(_ events: AsyncStream<NATSClient.ConnectionEvent>, _ predicate: (NATSClient.ConnectionEvent) -> Bool) async -> NATSClient.ConnectionEvent? {
    for await event in events where predicate(event) { return event }
    return nil
}

/// Polls `condition` every 20 ms until it holds or `seconds` pass.
func waitUntil(seconds: Double = 20, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return false
}

extension ByteBuffer {
    var text: String { String(buffer: self) }
}
