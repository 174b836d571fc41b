import AsyncHTTPClient
import ExchangeSimulator
import Feeds
import Foundation
import Logging
import MarketCore
import NIOCore
import Normalizer
import NIOHTTP1
import NIOWebSocket
import Synchronization
import Venues
import WSClient
import _TestSupport

/// A real websocket client for the simulator tests: records every text frame it receives and
/// sends texts on demand.
final class Probe: Sendable {
    enum Outgoing: Sendable {
        case text(String)
        case close
    }

    private let outgoing: AsyncStream<Outgoing>.Continuation
    /// The connection's run; its value is the close frame the server sent.
    let task: Task<WebSocketCloseFrame?, any Error>

    init(url: String) {
        let (stream, continuation) = AsyncStream<Outgoing>.makeStream()
        outgoing = continuation
        let box = FrameBox()
        var logger = Logger(label: "probe")
        logger.logLevel = .warning
        task = Task {
            defer { box.end() }
            return try await WebSocketClient.connect(
                url: url, configuration: .init(maxFrameSize: 16 << 20), logger: logger
            ) { inbound, outbound, _ in
                let writer = Task {
                    for await item in stream {
                        switch item {
                        case .text(let t): try await outbound.write(.text(t))
                        case .close: try await outbound.close(.normalClosure, reason: nil)
                        }
                    }
                }
                defer { writer.cancel() }
                for try await message in inbound.messages(maxSize: 16 << 20) {
                    if case .text(let t) = message { box.append(t) }
                }
            }
        }
        self.box = box
    }

    private let box: FrameBox

    /// Every text frame received so far.
    var received: [String] { box.frames }
    var count: Int { box.frames.count }
    var isEnded: Bool { box.isEnded }

    func send(_ text: String) { outgoing.yield(.text(text)) }
    func close() { outgoing.yield(.close) }

    /// Waits until at least `n` frames arrived (or `timeout`); returns the frames.
    @discardableResult
    func waitFor(count n: Int, timeout: Duration = .seconds(10)) async -> [String] {
        await until(timeout) { self.box.frames.count >= n }
        return box.frames
    }

    /// Waits until the connection ended.
    func waitForEnd(timeout: Duration = .seconds(10)) async {
        await until(timeout) { self.box.isEnded }
    }
}

/// The frames a probe received (shared between its connection task and the test).
final class FrameBox: Sendable {
    private let state = Mutex<(frames: [String], ended: Bool)>(([], false))
    func append(_ s: String) { state.withLock { $0.frames.append(s) } }
    func end() { state.withLock { $0.ended = true } }
    var frames: [String] { state.withLock { $0.frames } }
    var isEnded: Bool { state.withLock { $0.ended } }
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes.
func until(_ timeout: Duration, _ condition: @Sendable () async -> Bool) async {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return }
        try? await Task.sleep(for: .milliseconds(10))
    }
}

/// A running simulator with the given venues (captures relative to Tests/Fixtures, or absolute
/// paths); stopped after `body`.
func withSimulator<T>(
    speed: Double, _ venues: [(Venue, String)], models: [Venue: any VenueModel] = [:], loop: Bool = false,
    continuingAfter: [Venue: UnixNanos] = [:], _ body: (ExchangeSimulator) async throws -> T
) async throws -> T {
    let sim = ExchangeSimulator(speed: speed, loop: loop)
    for (venue, capture) in venues {
        try sim.addVenue(
            venue, captures: [capture.hasPrefix("/") ? capture : Fixtures.path(capture)], model: models[venue],
            continuingAfter: continuingAfter[venue])
    }
    try await sim.start()
    do {
        let result = try await body(sim)
        await sim.stop()
        return result
    } catch {
        await sim.stop()
        throw error
    }
}

/// GET through AsyncHTTPClient: status and body text.
func httpGet(_ url: String) async throws -> (status: Int, body: String) {
    let request = HTTPClientRequest(url: url)
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
    let body = try await response.body.collect(upTo: 64 << 20)
    return (Int(response.status.code), String(buffer: body))
}

/// The capture's `ws` frames of a venue in file order (read here, independently of the simulator).
func captureFrames(_ relative: String) throws -> [String] {
    try Fixtures.records(relative).filter { $0.kind == .ws }.map { String(decoding: $0.frame, as: UTF8.self) }
}

func jsonObject(_ text: String) -> [String: Any]? {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
}

func jsonArray(_ text: String) -> [[String: Any]]? {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [[String: Any]]
}

/// `[["p","q"],...]` as string pairs.
func levelPairs(_ v: Any?) -> [[String]] {
    (v as? [[Any]])?.map { $0.map { "\($0)" } } ?? []
}

let binanceSubscribe = #"{"method":"SUBSCRIBE","params":["nknusdt@depth@100ms"],"id":1}"#
let coinbaseSubscribe = #"{"type":"subscribe","product_ids":["BAND-GBP"],"channels":["level2","matches"]}"#

/// The gateway's pipeline for one venue: its adapter and normalizer, statuses collected.
struct GatewayPipeline {
    var adapter: any VenueAdapter
    var normalizer: MarketNormalizer
    var statuses: [FeedStatus] = []

    init(_ venue: Venue) {
        adapter = VenueAdapters.make(venue)!
        normalizer = MarketNormalizer(venue: venue, tradeIDsAreContiguous: adapter.tradeIDsAreContiguous)
    }

    @discardableResult
    mutating func feed(
        kind: FrameKind = .ws, url: String? = nil, connection: String?, frame: [UInt8], receiveTime: UnixNanos
    ) -> [VenueEvent] {
        var events: [VenueEvent] = []
        frame.withUnsafeBytes {
            adapter.handle(kind: kind, url: url, connection: connection, frame: $0, receiveTime: receiveTime, into: &events)
        }
        var out: [MarketEvent] = []
        for e in events { normalizer.handle(e, receiveTime: receiveTime, into: &out) }
        for case .status(let s) in out { statuses.append(s) }
        return events
    }

    @discardableResult
    mutating func feed(_ r: CaptureRecord) -> [VenueEvent] {
        feed(kind: r.kind, url: r.url, connection: r.connection, frame: r.frame, receiveTime: r.receiveTime)
    }

    mutating func feed(_ text: String, connection: String? = "1") -> [VenueEvent] {
        feed(connection: connection, frame: Array(text.utf8), receiveTime: UnixNanos(1))
    }

    func book(_ instrument: Instrument) -> (bids: [[String]], asks: [[String]])? {
        guard let sync = normalizer.synchronizer(for: instrument) else { return nil }
        return (texts(sync.book.levels(.buy)), texts(sync.book.levels(.sell)))
    }
}

func texts(_ levels: [BookLevel]) -> [[String]] { levels.map { [$0.price.description, $0.quantity.description] } }

func text(_ r: CaptureRecord) -> String { String(decoding: r.frame, as: UTF8.self) }

func json(_ s: String?) -> Any? {
    s.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8), options: [.fragmentsAllowed]) }
}
