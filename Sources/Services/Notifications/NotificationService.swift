import AsyncHTTPClient
public import Bus
import Foundation
public import Logging
public import MarketCore
import Metrics
import NIOCore
public import Storage
import Synchronization

/// Per-user opt-in notifications in the Telegram Bot API's `sendMessage` shape (docs/notifications.md).
///
/// Producers (the bus consumer for `executions.*` and `mood.*`, the daily summary, and
/// ``notify(user:kind:text:)`` for the circuit breaker) only append to a bounded in-memory queue,
/// so a slow or dead endpoint never slows the bus or trading. One worker delivers in order, retrying
/// with exponential backoff and jitter (a 429's `retry_after` is honoured) up to
/// ``NotificationOptions/maxAttempts``. Every notification is written to the outbox
/// (`notification_outbox`) by one store task, in order: `pending` when queued, then `sent` or
/// `failed`; pending rows are queued again by ``load()``, so a restart loses none.
public final class NotificationService: Sendable {
    public let options: NotificationOptions
    private let execution: ExecutionService
    private let bus: MarketBus?
    private let store: (any NotificationStore)?
    private let logger: Logger
    private let clock: @Sendable () -> UnixNanos
    private let client: HTTPClient

    struct Item: Sendable {
        var row: StoredNotification
        /// Already in the outbox (loaded at start-up).
        var stored: Bool
    }

    enum StoreOp: Sendable {
        case add(StoredNotification)
        case update(id: String, status: StoredNotification.Status, attempts: Int, error: String?, time: UnixNanos)
    }

    struct State {
        var settings: [String: NotificationSettings] = [:]
        var queue: [Item] = []
        var head = 0
        var storeOps: [StoreOp] = []
        var storeHead = 0
        var finished = false
        var dropped = 0
        /// The last mood state seen per user (a notification goes out when it changes).
        var moodStates: [String: String] = [:]
        var depth: Int { queue.count - head }
    }

    private let state = Mutex(State())
    private let wake: AsyncStream<Void>.Continuation
    private let wakeStream: AsyncStream<Void>
    private let storeWake: AsyncStream<Void>.Continuation
    private let storeWakeStream: AsyncStream<Void>
    private let listeningFlag = Atomic<Bool>(false)
    private let counter = Atomic<UInt64>(0)

    public init(
        options: NotificationOptions, execution: ExecutionService, bus: MarketBus?, store: (any NotificationStore)?, logger: Logger,
        clock: (@Sendable () -> UnixNanos)? = nil, client: HTTPClient = .shared
    ) {
        self.options = options
        self.execution = execution
        self.bus = bus
        self.store = store
        self.logger = logger
        self.clock = clock ?? { UnixNanos.now() }
        self.client = client
        (wakeStream, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (storeWakeStream, storeWake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Whether a bot token is configured.
    public var isEnabled: Bool { options.isEnabled }
    /// Whether ``run()`` is consuming the bus (tests wait for it before trading).
    public var isListening: Bool { listeningFlag.load(ordering: .acquiring) }
    /// Notifications waiting for delivery (the `notifications_queue_depth` gauge).
    public var queueDepth: Int { state.withLock { $0.depth } }
    /// Notifications dropped because the queue was full, since start.
    public var droppedCount: Int { state.withLock { $0.dropped } }

    // MARK: settings

    public func settings(user: String) -> NotificationSettings? { state.withLock { $0.settings[user] } }

    /// Stores and applies a user's settings; nil clears them (nothing is sent to the user).
    public func setSettings(user: String, _ settings: NotificationSettings?) async throws {
        if let store {
            try await store.saveNotificationSettings(
                StoredNotificationSettings(
                    userID: user, chatID: settings?.chatID ?? "", kinds: (settings?.kinds ?? []).sorted().map(\.rawValue), updated: clock()))
        }
        state.withLock { $0.settings[user] = settings }
    }

    /// Loads the settings and queues the outbox's pending notifications again.
    public func load() async throws {
        guard let store else { return }
        var loaded: [String: NotificationSettings] = [:]
        for s in try await store.notificationSettings() where !s.chatID.isEmpty {
            loaded[s.userID] = NotificationSettings(chatID: s.chatID, kinds: Set(s.kinds.compactMap(NotificationKind.init(rawValue:))))
        }
        let pending = try await store.notifications(status: .pending)
        state.withLock { s in
            for (k, v) in loaded where s.settings[k] == nil { s.settings[k] = v }
            // Loaded rows go first (they are older); ones queued meanwhile keep their order.
            let queued = Array(s.queue[s.head...])
            s.queue = pending.map { Item(row: $0, stored: true) } + queued
            s.head = 0
        }
        if !pending.isEmpty { logger.info("notifications pending from before the restart queued again", metadata: ["count": "\(pending.count)"]) }
        publishDepth()
        wake.yield()
    }

    // MARK: failed notifications (ops)

    /// The outbox's failed (undeliverable) notifications, oldest first; nil without a store (then
    /// nothing is kept after the failure is logged and counted).
    public func failedNotifications() async throws -> [StoredNotification]? {
        guard let store else { return nil }
        return try await store.notifications(status: .failed)
    }

    public enum RetryError: Error, Sendable, Hashable {
        case noStore
        case disabled
        /// No failed notification with this id in the outbox.
        case notFound
        /// Queued for delivery already (a retry not finished yet).
        case alreadyQueued
        case queueFull
        case store(String)
    }

    /// Queues the failed notification `id` again with a fresh attempt count; its outbox row goes
    /// back to `pending` (so a restart keeps it), then `sent` or `failed` again.
    public func retry(id: String) async throws(RetryError) -> StoredNotification {
        guard let store else { throw .noStore }
        guard options.isEnabled else { throw .disabled }
        let failed: [StoredNotification]
        do { failed = try await store.notifications(status: .failed) } catch { throw .store("\(error)") }
        guard var row = failed.first(where: { $0.id == id }) else { throw .notFound }
        row.status = .pending
        row.attempts = 0
        row.lastError = nil
        let now = clock()
        let queued = row
        let problem = state.withLock { s -> RetryError? in
            if s.queue[s.head...].contains(where: { $0.row.id == id }) { return .alreadyQueued }
            guard s.depth < options.queueCapacity, !s.finished else { return .queueFull }
            s.queue.append(Item(row: queued, stored: true))
            s.storeOps.append(.update(id: id, status: .pending, attempts: 0, error: nil, time: now))
            return nil
        }
        if let problem { throw problem }
        Counter(label: "notifications_retried_by_ops_total", dimensions: [("kind", row.kind)]).increment()
        logger.notice("failed notification queued again by ops", metadata: ["id": "\(id)", "user": "\(row.userID)"])
        publishDepth()
        wake.yield()
        storeWake.yield()
        return row
    }

    // MARK: producing

    /// Queues `text` for `user` when notifications are on and the user opted into `kind`. Never
    /// blocks: the public entry point for the circuit breaker (`kind: .breaker`) and any other producer.
    @discardableResult
    public func notify(user: String, kind: NotificationKind, text: String) -> NotifyOutcome {
        guard options.isEnabled else { return .disabled }
        let now = clock()
        let id = "n-\(now.rawValue)-\(counter.add(1, ordering: .relaxed).newValue)"
        let outcome = state.withLock { s -> NotifyOutcome in
            guard let settings = s.settings[user], settings.kinds.contains(kind) else { return .notOptedIn }
            guard s.depth < options.queueCapacity, !s.finished else {
                s.dropped += 1
                return .dropped
            }
            let row = StoredNotification(id: id, userID: user, chatID: settings.chatID, kind: kind.rawValue, text: text, created: now)
            s.queue.append(Item(row: row, stored: false))
            if store != nil { s.storeOps.append(.add(row)) }
            return .queued
        }
        switch outcome {
        case .queued:
            publishDepth()
            wake.yield()
            storeWake.yield()
        case .dropped:
            Counter(label: "notifications_dropped_total", dimensions: [("kind", kind.rawValue)]).increment()
            let n = droppedCount
            if n == 1 || n % 100 == 0 {
                logger.error("notification queue full: notification dropped", metadata: ["user": "\(user)", "kind": "\(kind.rawValue)", "dropped": "\(n)"])
            }
        default: break
        }
        return outcome
    }

    /// Handles one event of `executions.<user>` or `mood.<user>` (the bus consumer calls it).
    public func handle(_ m: BusMessage) {
        if m.missedBefore > 0 {
            Counter(label: "notifications_dropped_total", dimensions: [("kind", "bus")]).increment(by: m.missedBefore)
            logger.error("notifications fell behind the bus: events missed", metadata: ["missed": "\(m.missedBefore)"])
        }
        // The channel's user: an agent's sub-account fills arrive on its owner's channel.
        let user = m.channel.scope
        switch m.service {
        case .execution(let fill)?:
            notify(user: user, kind: .executions, text: NotificationText.execution(fill))
        case .mood(let update)?:
            let new = update.reading.state.rawValue
            let previous = state.withLock { s -> String? in
                defer { s.moodStates[user] = new }
                return s.moodStates[user]
            }
            // The first reading is the baseline: a notification is for a change.
            if let previous, previous != new {
                notify(
                    user: user, kind: .mood,
                    text: NotificationText.mood(from: previous, to: new, score: update.reading.score, reason: update.reading.reason))
            }
        default: break
        }
    }

    /// Queues the daily summary of `day` (days since 1970-01-01, UTC) for every user who opted in.
    public func sendDailySummaries(day: Int64) {
        let users = state.withLock { s in s.settings.filter { $0.value.kinds.contains(.dailySummary) }.keys.sorted() }
        for user in users {
            guard let account = execution.account(user) else { continue }
            notify(
                user: user, kind: .dailySummary,
                text: NotificationText.dailySummary(account: account, day: day, cashAsset: execution.options.cashAsset))
        }
    }

    // MARK: running

    /// Consumes the bus, delivers, writes the outbox and sends the daily summaries until cancelled;
    /// then stores what the outbox writer still holds.
    public func run() async {
        guard options.isEnabled else {
            // Settings are still served; nothing is sent.
            logger.info("notifications are off: no bot token is configured (services.telegram_bot_token)")
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            return
        }
        let sub = bus?.subscribe(
            [ChannelName(kind: .executions, scope: "*"), ChannelName(kind: .mood, scope: "*")], policy: .dropOldest, capacity: 65_536)
        listeningFlag.store(true, ordering: .releasing)
        // Not a child task: cancelling the service must not cancel the last outbox writes.
        let storer = Task { await self.runStore() }
        await withTaskGroup(of: Void.self) { group in
            if let sub {
                group.addTask {
                    do { for try await m in sub { self.handle(m) } } catch {}
                }
            }
            group.addTask { await self.deliver() }
            group.addTask { await self.summaries() }
            await withTaskCancellationHandler {
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            } onCancel: {
                sub?.cancel()
            }
            group.cancelAll()
        }
        finish()
        await storer.value
        listeningFlag.store(false, ordering: .releasing)
    }

    private func finish() {
        state.withLock { $0.finished = true }
        wake.finish()
        storeWake.finish()
    }

    private func publishDepth() {
        Gauge(label: "notifications_queue_depth").record(queueDepth)
    }

    /// The retry delay before attempt `attempt + 1` (after `attempt` failures): doubling from
    /// ``NotificationOptions/initialBackoff`` up to the maximum, less up to half at random.
    func backoff(afterFailures attempt: Int) -> Duration {
        var d = options.initialBackoff
        for _ in 1..<max(1, attempt) where d < options.maxBackoff { d = d * 2 }
        d = min(d, options.maxBackoff)
        return d - d * (Double.random(in: 0..<0.5))
    }

    private func deliver() async {
        let sender = TelegramSender(options: options, client: client)
        var wakes = wakeStream.makeAsyncIterator()
        while !Task.isCancelled {
            let next = state.withLock { s -> Item? in
                guard s.head < s.queue.count else { return nil }
                return s.queue[s.head]
            }
            guard var item = next else {
                if await wakes.next() == nil { return }
                continue
            }
            var delivered = false
            var refused = false
            var lastError = ""
            while item.row.attempts < options.maxAttempts && !Task.isCancelled {
                item.row.attempts += 1
                switch await sender.send(chatID: item.row.chatID, text: item.row.text) {
                case .delivered:
                    delivered = true
                case .refused(let reason):
                    lastError = reason
                    refused = true
                case .retry(let after, let reason):
                    lastError = reason
                    guard item.row.attempts < options.maxAttempts else { break }
                    Counter(label: "notifications_retried_total", dimensions: [("kind", item.row.kind)]).increment()
                    let wait = after ?? backoff(afterFailures: item.row.attempts)
                    logger.warning(
                        "notification not delivered; retrying",
                        metadata: ["id": "\(item.row.id)", "attempt": "\(item.row.attempts)", "error": "\(reason)", "retry_in": "\(wait)"])
                    do { try await Task.sleep(for: wait) } catch { return }
                    continue
                }
                break
            }
            // Cancelled mid-retry: it stays pending in the outbox for the next start.
            if !delivered && !refused && item.row.attempts < options.maxAttempts { return }
            let now = clock()
            state.withLock { s in
                s.head += 1
                if s.head > 1024 && s.head * 2 > s.queue.count {
                    s.queue.removeFirst(s.head)
                    s.head = 0
                }
                if store != nil {
                    s.storeOps.append(
                        .update(id: item.row.id, status: delivered ? .sent : .failed, attempts: item.row.attempts, error: delivered ? nil : lastError, time: now))
                }
            }
            storeWake.yield()
            publishDepth()
            if delivered {
                Counter(label: "notifications_sent_total", dimensions: [("kind", item.row.kind)]).increment()
            } else {
                Counter(label: "notifications_failed_total", dimensions: [("kind", item.row.kind)]).increment()
                logger.error(
                    "notification undeliverable; kept in the outbox as failed",
                    metadata: ["id": "\(item.row.id)", "user": "\(item.row.userID)", "attempts": "\(item.row.attempts)", "error": "\(lastError)"])
            }
        }
    }

    /// Writes the outbox changes in order; retries a failing store a few times, then logs and moves on.
    private func runStore() async {
        guard let store else { return }
        var wakes = storeWakeStream.makeAsyncIterator()
        while true {
            let (op, finished) = state.withLock { s -> (StoreOp?, Bool) in
                guard s.storeHead < s.storeOps.count else {
                    s.storeOps.removeAll(keepingCapacity: true)
                    s.storeHead = 0
                    return (nil, s.finished)
                }
                defer { s.storeHead += 1 }
                return (s.storeOps[s.storeHead], s.finished)
            }
            guard let op else {
                if finished { return }
                if await wakes.next() == nil {
                    // Finished: what was queued before it is still written.
                    if state.withLock({ $0.storeHead < $0.storeOps.count }) { continue }
                    return
                }
                continue
            }
            var delay = Duration.milliseconds(200)
            for attempt in 1...5 {
                do {
                    switch op {
                    case .add(let row): try await store.addNotification(row)
                    case .update(let id, let status, let attempts, let error, let time):
                        try await store.updateNotification(id: id, status: status, attempts: attempts, lastError: error, at: time)
                    }
                    break
                } catch {
                    logger.error("notification outbox write failed", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                    if attempt == 5 { break }
                    try? await Task.sleep(for: delay)
                    delay = delay * 2
                }
            }
        }
    }

    /// At each UTC midnight (by the injected clock), the summary of the day that ended.
    private func summaries() async {
        let dayNanos: Int64 = 86_400_000_000_000
        var last = clock().rawValue / dayNanos
        while !Task.isCancelled {
            do { try await Task.sleep(for: options.summaryCheckEvery) } catch { return }
            let today = clock().rawValue / dayNanos
            if today > last {
                sendDailySummaries(day: today - 1)
                last = today
            }
        }
    }
}
