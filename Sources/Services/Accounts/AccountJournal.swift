import Foundation
import Logging
import Metrics
public import Storage
import Synchronization

/// Writes account changes to the store in the order they happened, one at a time.
///
/// The ledger changes in memory under its lock and appends the change here under the same lock, so
/// the store sees changes in ledger order (balances are written as full values: order matters).
/// What a failed write does depends on why it failed (``AccountWriteFailure``):
/// - the database is away, busy or timed out: retried with capped exponential backoff, holding the
///   queue, so nothing is lost or reordered while the database is away;
/// - the database refuses the entry itself (a value it cannot hold): the entry goes to the dead
///   letters (`journal_dead_letters`), logged at error level and counted in
///   `services_journal_dead_letters_total`, and the queue moves on — one bad entry never holds up
///   every later write of every user;
/// - anything else: retried a few times, then dead-lettered.
///
/// A stop (``finish()``) is bounded: what is still queued after `flushTimeout` is appended to the
/// spill file (when configured), reported, and stored by ``replaySpill()`` at the next start.
public final class AccountJournal: Sendable {
    public enum Entry: Sendable {
        case user(StoredUser)
        case ledger(LedgerWrite)
        case preTrade(StoredPreTrade)
        case mood(StoredMood)
        case agent(StoredAgent)
        case agentRemoved(String)
    }

    public struct Options: Sendable {
        /// How long a stop waits for the queue to be stored before spilling what is left.
        public var flushTimeout: Duration = .seconds(10)
        /// JSON lines of entries a stop could not store, read back at the next start (nil: they are
        /// logged in full at error level instead).
        public var spillPath: String?
        /// Attempts for a failure that is neither clearly transient nor clearly refused.
        public var unclassifiedAttempts = 5
        public var initialBackoff: Duration = .milliseconds(100)
        public var maxBackoff: Duration = .seconds(5)
        public init() {}
    }

    private struct Queued {
        var id: Int
        var entry: Entry
        /// Runs once the entry is settled (stored or dead-lettered), outside any lock.
        var then: (@Sendable () -> Void)?
    }

    private struct State {
        var queue: [Queued] = []
        var head = 0
        var nextID = 1
        var storedThrough = 0
        var wake: CheckedContinuation<Void, Never>?
        var waiters: [(id: Int, continuation: CheckedContinuation<Bool, Never>)] = []
        var finishDeadline: ContinuousClock.Instant?
    }

    private let store: (any AccountStore)?
    private let options: Options
    private let state = Mutex(State())
    private let logger: Logger
    private let failures = Counter(label: "services_store_write_failures_total")
    private let pendingGauge = Gauge(label: "services_journal_pending")

    public init(store: (any AccountStore)?, logger: Logger, options: Options = Options()) {
        self.store = store
        self.logger = logger
        self.options = options
    }

    /// Whether entries go to a store (fills are then published once stored).
    public var isStoring: Bool { store != nil }

    /// Queues an entry; returns its id for ``waitStored(_:timeout:)``. `then` runs once the entry
    /// is stored or dead-lettered (never for an entry spilled at a stop).
    @discardableResult
    public func append(_ entry: Entry, then: (@Sendable () -> Void)? = nil) -> Int {
        let (id, wake) = state.withLock { s -> (Int, CheckedContinuation<Void, Never>?) in
            let id = s.nextID
            s.nextID += 1
            s.queue.append(Queued(id: id, entry: entry, then: store == nil ? nil : then))
            defer { s.wake = nil }
            return (id, s.wake)
        }
        wake?.resume()
        return id
    }

    /// Entries not stored yet.
    public var pending: Int { state.withLock { $0.queue.count - $0.head } }

    /// Waits until entry `id` is settled; `false` when `timeout` passes first (it stays queued).
    public func waitStored(_ id: Int, timeout: Duration = .seconds(5)) async -> Bool {
        if store == nil { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withCheckedContinuation { c in
                    let done = self.state.withLock { s -> Bool in
                        if s.storedThrough >= id { return true }
                        s.waiters.append((id, c))
                        return false
                    }
                    if done { c.resume(returning: true) }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            if !first { self.release(id) }
            return first
        }
    }

    /// Resumes a timed-out waiter so its task can finish.
    private func release(_ id: Int) {
        let ws = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
            let mine = s.waiters.filter { $0.id == id }.map(\.continuation)
            s.waiters.removeAll { $0.id == id }
            return mine
        }
        for w in ws { w.resume(returning: false) }
    }

    /// Writes entries until ``finish()``; then stores what it can within `flushTimeout` and spills
    /// the rest.
    public func run() async {
        var backoff = options.initialBackoff
        var attempts = 0
        while true {
            // Cancelled (the gateway is stopping): a stop like finish(), bounded by the flush
            // timeout. Writes and pauses run in tasks of their own, so they still work.
            if Task.isCancelled { finish() }
            let (next, deadline) = state.withLock { s -> (Queued?, ContinuousClock.Instant?) in
                (s.head < s.queue.count ? s.queue[s.head] : nil, s.finishDeadline)
            }
            pendingGauge.record(pending)
            guard let next else {
                if deadline != nil { return }
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                        let ready = state.withLock { s -> Bool in
                            if s.head < s.queue.count || s.finishDeadline != nil { return true }
                            s.wake = c
                            return false
                        }
                        if ready { c.resume() }
                    }
                } onCancel: {
                    self.finish()
                }
                continue
            }
            // A stop that passed its bound: keep what is left durable and return.
            if let deadline, ContinuousClock.now >= deadline {
                spillRemaining()
                return
            }
            let failure = await attempt(next.entry)
            guard let failure else {
                settle(next)
                backoff = options.initialBackoff
                attempts = 0
                continue
            }
            failures.increment()
            attempts += 1
            let kind: AccountWriteFailure = failure is FlushTimeout ? .transient : AccountWriteFailure(failure)
            let refusal: String?
            switch kind {
            case .refused(let reason): refusal = reason
            case .unclassified where attempts >= options.unclassifiedAttempts: refusal = "\(failure) (after \(attempts) attempts)"
            case .transient, .unclassified: refusal = nil
            }
            if let refusal, await deadLetter(next.entry, reason: refusal) {
                settle(next)
                backoff = options.initialBackoff
                attempts = 0
                continue
            }
            logger.warning(
                "account store write failed; retrying",
                metadata: ["error": "\(failure)", "queued": "\(pending)", "retry_in": "\(backoff)", "attempt": "\(attempts)"])
            var pause = backoff
            if let deadline { pause = min(pause, max(.zero, deadline - .now)) }
            // Not cancelled with the caller: a cancelled stop still waits between attempts.
            await Task { try? await Task.sleep(for: pause) }.value
            backoff = min(backoff * 2, options.maxBackoff)
        }
    }

    /// Marks the head entry settled: runs its `then` (so a fill is published before its order's
    /// answer), advances the queue, wakes its waiters.
    private func settle(_ q: Queued) {
        q.then?()
        let ws = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
            s.head += 1
            s.storedThrough = q.id
            if s.head > 1024 {
                s.queue.removeFirst(s.head)
                s.head = 0
            }
            let ready = s.waiters.filter { $0.id <= q.id }.map(\.continuation)
            s.waiters.removeAll { $0.id <= q.id }
            return ready
        }
        for w in ws { w.resume(returning: true) }
    }

    /// Keeps a refused entry in `journal_dead_letters`; false when that write failed too (the entry
    /// is then retried like any other).
    private func deadLetter(_ entry: Entry, reason: String) async -> Bool {
        guard let store else { return true }
        let kind = JournalCoding.kind(entry)
        let payload = JournalCoding.encode(entry)
        do {
            try await store.deadLetter(StoredDeadLetter(time: .now(), kind: kind, payload: payload, error: reason))
        } catch {
            logger.error("dead-lettering a refused account entry failed", metadata: ["kind": "\(kind)", "error": "\(error)"])
            return false
        }
        logger.error(
            "account store refused an entry; kept in journal_dead_letters and moved on",
            metadata: ["kind": "\(kind)", "reason": "\(reason)", "payload": "\(payload.prefix(2000))"])
        Counter(label: "services_journal_dead_letters_total", dimensions: [("kind", kind)]).increment()
        return true
    }

    private struct FlushTimeout: Error, CustomStringConvertible {
        var description: String { "the stop's flush timeout passed during the write" }
    }

    /// One write that gives up at the stop's deadline, also when ``finish()`` comes while it runs (a
    /// stop must not wait on a database that does not answer). The write runs in its own task,
    /// cancelled at the deadline; a write that ignores cancellation is left to finish on its own (it
    /// is idempotent, and the process is stopping).
    private func attempt(_ entry: Entry) async -> (any Error)? {
        let first = FirstResult()
        let writer = Task {
            do {
                try await self.write(entry)
                first.finish(nil)
            } catch {
                first.finish(error)
            }
        }
        Task {
            while !first.isDone {
                if let deadline = self.state.withLock({ $0.finishDeadline }), ContinuousClock.now >= deadline {
                    writer.cancel()
                    first.finish(FlushTimeout())
                    return
                }
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        return await first.value()
    }

    /// The first result given, to whoever waits for it (before or after it is given).
    private final class FirstResult: Sendable {
        private struct State {
            var waiting: CheckedContinuation<(any Error)?, Never>?
            var result: (any Error)??
        }
        private let state = Mutex(State())

        var isDone: Bool { state.withLock { $0.result != nil } }

        func finish(_ result: (any Error)?) {
            let c = state.withLock { s -> CheckedContinuation<(any Error)?, Never>? in
                guard s.result == nil else { return nil }
                s.result = .some(result)
                defer { s.waiting = nil }
                return s.waiting
            }
            c?.resume(returning: result)
        }

        func value() async -> (any Error)? {
            await withCheckedContinuation { c in
                let ready = state.withLock { s -> (any Error)?? in
                    if let r = s.result { return .some(r) }
                    s.waiting = c
                    return nil
                }
                if let ready { c.resume(returning: ready) }
            }
        }
    }

    /// Lets ``run()`` return: at once when everything queued is stored, else after `flushTimeout`
    /// with the rest spilled.
    public func finish() {
        let w = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.finishDeadline == nil { s.finishDeadline = .now + options.flushTimeout }
            defer { s.wake = nil }
            return s.wake
        }
        w?.resume()
    }

    /// Appends what is still queued to the spill file (or logs it in full when there is none).
    private func spillRemaining() {
        let left = state.withLock { s -> [Queued] in
            let rest = Array(s.queue[s.head...])
            s.head = s.queue.count
            return rest
        }
        guard !left.isEmpty else { return }
        let lines = left.map { JournalCoding.encode($0.entry) }
        if let path = options.spillPath {
            do {
                try Self.append(lines, to: path)
                Counter(label: "services_journal_spilled_total").increment(by: lines.count)
                logger.error(
                    "account store unavailable at stop: entries spilled, stored at the next start",
                    metadata: ["entries": "\(lines.count)", "spill": "\(path)"])
                return
            } catch {
                logger.critical("spilling account entries failed", metadata: ["spill": "\(path)", "error": "\(error)"])
            }
        }
        Counter(label: "services_journal_unstored_total").increment(by: lines.count)
        logger.critical("account store unavailable at stop: entries not stored (logged here in full)", metadata: ["entries": "\(lines.count)"])
        for line in lines { logger.critical("unstored account entry", metadata: ["entry": "\(line)"]) }
    }

    static func append(_ lines: [String], to path: String) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((lines.joined(separator: "\n") + "\n").utf8))
        try handle.synchronize()
    }

    /// Stores what an earlier stop spilled, in order, before anything new (call before loading the
    /// accounts). Refused entries go to the dead letters; a transient failure throws and keeps the
    /// entries not yet stored in the file for the next try.
    public func replaySpill() async throws {
        guard let store, let path = options.spillPath, FileManager.default.fileExists(atPath: path) else { return }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        guard !lines.isEmpty else {
            try? FileManager.default.removeItem(atPath: path)
            return
        }
        for (i, line) in lines.enumerated() {
            do {
                let entry = try JournalCoding.decode(line)
                do {
                    try await write(entry)
                } catch {
                    switch AccountWriteFailure(error) {
                    case .refused(let reason):
                        if await !deadLetter(entry, reason: reason) { throw error }
                    case .transient, .unclassified:
                        throw error
                    }
                }
            } catch let error as JournalCoding.DecodingError {
                logger.error("spilled account entry cannot be read; dead-lettered", metadata: ["line": "\(i + 1)", "error": "\(error)"])
                try await store.deadLetter(StoredDeadLetter(time: .now(), kind: "unreadable", payload: line, error: error.description))
            } catch {
                // Keep what is not stored yet for the next start.
                try (lines[i...].joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
                throw error
            }
        }
        try FileManager.default.removeItem(atPath: path)
        logger.notice("stored the account entries spilled at the last stop", metadata: ["entries": "\(lines.count)", "spill": "\(path)"])
    }

    private func write(_ entry: Entry) async throws {
        guard let store else { return }
        switch entry {
        case .user(let u): _ = try await store.createUser(u)
        case .ledger(let l): try await store.commit(l)
        case .preTrade(let p): try await store.logPreTrade(p)
        case .mood(let m): try await store.logMood(m)
        case .agent(let a): try await store.saveAgent(a)
        case .agentRemoved(let id): try await store.removeAgent(id: id)
        }
    }
}
