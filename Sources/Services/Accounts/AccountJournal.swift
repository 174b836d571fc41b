import Logging
import Metrics
public import Storage
import Synchronization

/// Writes account changes to the store in the order they happened, one at a time.
///
/// The ledger changes in memory under its lock and appends the change here under the same lock, so
/// the store sees changes in ledger order (balances are written as full values: order matters).
/// A failed write is retried with backoff until it succeeds, holding the queue: nothing is lost
/// or reordered while the database is away; callers that want to answer "stored" wait for their
/// entry with a bound.
public final class AccountJournal: Sendable {
    public enum Entry: Sendable {
        case user(StoredUser)
        case ledger(LedgerWrite)
        case preTrade(StoredPreTrade)
        case mood(StoredMood)
    }

    private struct State {
        var queue: [(id: Int, entry: Entry)] = []
        var head = 0
        var nextID = 1
        var storedThrough = 0
        var wake: CheckedContinuation<Void, Never>?
        var waiters: [(id: Int, continuation: CheckedContinuation<Bool, Never>)] = []
        var finished = false
    }

    private let store: (any AccountStore)?
    private let state = Mutex(State())
    private let logger: Logger
    private let failures = Counter(label: "services_store_write_failures_total")

    public init(store: (any AccountStore)?, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Queues an entry; returns its id for ``waitStored(_:timeout:)``.
    @discardableResult
    public func append(_ entry: Entry) -> Int {
        let (id, wake) = state.withLock { s -> (Int, CheckedContinuation<Void, Never>?) in
            let id = s.nextID
            s.nextID += 1
            s.queue.append((id, entry))
            defer { s.wake = nil }
            return (id, s.wake)
        }
        wake?.resume()
        return id
    }

    /// Entries not stored yet.
    public var pending: Int { state.withLock { $0.queue.count - $0.head } }

    /// Waits until entry `id` is stored; `false` when `timeout` passes first (it stays queued).
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

    /// Writes entries until ``finish()`` and the queue is empty.
    public func run() async {
        var backoff = Duration.milliseconds(100)
        while true {
            let (next, finished) = state.withLock { s -> ((id: Int, entry: Entry)?, Bool) in
                (s.head < s.queue.count ? s.queue[s.head] : nil, s.finished)
            }
            guard let next else {
                if finished { return }
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let ready = state.withLock { s -> Bool in
                        if s.head < s.queue.count || s.finished { return true }
                        s.wake = c
                        return false
                    }
                    if ready { c.resume() }
                }
                continue
            }
            do {
                try await write(next.entry)
                backoff = .milliseconds(100)
                let ws = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
                    s.head += 1
                    s.storedThrough = next.id
                    if s.head > 1024 {
                        s.queue.removeFirst(s.head)
                        s.head = 0
                    }
                    let ready = s.waiters.filter { $0.id <= next.id }.map(\.continuation)
                    s.waiters.removeAll { $0.id <= next.id }
                    return ready
                }
                for w in ws { w.resume(returning: true) }
            } catch {
                // Cancelled (the gateway is stopping abruptly): stop, never spin on a failing write.
                if Task.isCancelled {
                    logger.warning("account journal stopped before storing everything", metadata: ["unstored": "\(pending)"])
                    return
                }
                failures.increment()
                logger.error("account store write failed; retrying", metadata: ["error": "\(error)", "queued": "\(pending)"])
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    /// Lets ``run()`` return once everything queued is stored.
    public func finish() {
        let w = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.finished = true
            defer { s.wake = nil }
            return s.wake
        }
        w?.resume()
    }

    private func write(_ entry: Entry) async throws {
        guard let store else { return }
        switch entry {
        case .user(let u): _ = try await store.createUser(u)
        case .ledger(let l): try await store.commit(l)
        case .preTrade(let p): try await store.logPreTrade(p)
        case .mood(let m): try await store.logMood(m)
        }
    }
}
