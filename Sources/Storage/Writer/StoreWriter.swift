public import Logging
public import MarketCore
import Metrics
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Tuning for ``StoreWriter``.
public struct StoreWriterOptions: Sendable {
    /// A table's batch is written once it has this many rows (larger backlogs go in batches of
    /// this size)…
    public var batchRows = 20_000
    /// …or once its oldest row has waited this long.
    public var flushInterval: Duration = .milliseconds(250)
    /// Events held in memory before the backlog goes to the spill files instead.
    public var memoryBound = 200_000
    /// Events queued beyond this are dropped and counted (`store_rows_dropped_total`). Only
    /// reachable when the writer cannot even keep up with appending to the spill files.
    public var hardLimit = 4_000_000
    /// Where the spill files live (created when missing).
    public var spillDirectory: String
    /// First retry delay after a failed write; doubles per failure up to ``retryMax``, with jitter.
    public var retryInitial: Duration = .milliseconds(250)
    public var retryMax: Duration = .seconds(10)
    /// A database call that takes longer than this counts as failed (its rows are spilled).
    /// While the server is down the connection pool keeps retrying rather than failing, so this
    /// is also how long an outage takes to be noticed.
    public var writeTimeout: Duration = .seconds(10)
    /// Bytes read from a spill file per stored chunk when replaying it.
    public var spillChunkBytes = 4 << 20
    /// How long ``StoreWriter/run()`` keeps trying to store the backlog after ``StoreWriter/finish()``
    /// before it leaves the rest in the spill files for the next start.
    public var shutdownGrace: Duration = .seconds(15)
    /// Idle wake-up period of the writer loop.
    public var pollInterval: Duration = .milliseconds(5)
    /// The `store` dimension on every metric, telling writers of one process apart.
    public var metricsName = "default"
    /// Where the writer's metrics go; nil means the process-wide `MetricsSystem.factory`. Tests
    /// pass their own, because the process-wide one can be bootstrapped only once per process.
    public var metricsFactory: (any MetricsFactory)?
    /// Write ahead: every row goes to its table's spill file (the write-ahead log) within one
    /// loop turn of arriving, before the database sees it, and is marked stored once the database
    /// has it. A process killed at any moment then loses only the rows of that turn (milliseconds),
    /// not the batches it was holding (up to ``flushInterval`` or ``batchRows`` of them); the next
    /// start stores what the log still holds. Appends are not fsynced (a killed process loses
    /// nothing the kernel has; a power cut may lose the last moments), the stored offset is.
    public var writeAhead = false
    /// In write-ahead mode, bytes in the log that make a database write due before ``flushInterval``.
    public var writeAheadBatchBytes = 2 << 20

    public init(spillDirectory: String) { self.spillDirectory = spillDirectory }
}

/// What the writer has done so far (also exported as metrics).
public struct StoreWriterStats: Sendable, Hashable {
    /// Rows stored, per table.
    public var rowsWritten: [StoreTable: Int] = [:]
    /// Rows appended to spill files, per table.
    public var rowsSpilled: [StoreTable: Int] = [:]
    /// Spilled rows later stored from the spill files.
    public var rowsReplayedFromSpill = 0
    public var rowsDropped = 0
    public var batchesWritten = 0
    public var writeErrors = 0
    public var lastError: String?
    /// Events queued in memory right now.
    public var queueDepth = 0
    /// Bytes waiting in spill files right now because the database failed (or the backlog
    /// outgrew memory); in write-ahead mode the log's normal content is ``writeAheadBytes``.
    public var spillBytes = 0
    /// Bytes in the write-ahead log not yet stored (write-ahead mode, database healthy).
    public var writeAheadBytes = 0
    /// Events handed to ``StoreWriter/submit(_:)``.
    public var submitted = 0
}

/// The store's write path: the feed calls ``submit(_:)`` (never blocks), and ``run()`` batches
/// rows per table by size and time into ``MarketStore/write(_:)``.
///
/// When a write fails or times out, the batch goes to that table's spill file and every later row
/// follows it there (so rows reach the database in order); the writer retries with exponential
/// backoff and jitter, replays the spill files chunk by chunk when the database answers, and then
/// writes directly again. A backlog beyond ``StoreWriterOptions/memoryBound`` is also moved to
/// the spill files rather than held in memory. Spill files found at start are replayed first.
/// Store writes are idempotent, so a chunk re-sent after a crash duplicates nothing.
public final class StoreWriter: Sendable {
    public let store: any MarketStore
    public let options: StoreWriterOptions
    private let logger: Logger

    private struct Shared {
        var queue: [MarketEvent] = []
        var finishing = false
        var stats = StoreWriterStats()
    }
    private let shared = Mutex(Shared())

    private let queueGauge: Gauge
    private let spillGauge: Gauge
    private let writeAheadGauge: Gauge
    private let droppedCounter: Counter

    /// Whether ``run()`` applies the migrations before its first write (retried like a write
    /// when the database is down at start).
    public let migratesFirst: Bool

    public init(store: any MarketStore, options: StoreWriterOptions, migratesFirst: Bool = true, logger: Logger) {
        self.store = store
        self.options = options
        self.migratesFirst = migratesFirst
        self.logger = logger
        let store = [("store", options.metricsName)]
        let factory = options.metricsFactory ?? MetricsSystem.factory
        queueGauge = Gauge(label: "store_queue_depth", dimensions: store, factory: factory)
        spillGauge = Gauge(label: "store_spill_bytes", dimensions: store, factory: factory)
        writeAheadGauge = Gauge(label: "store_write_ahead_bytes", dimensions: store, factory: factory)
        droppedCounter = Counter(label: "store_rows_dropped_total", dimensions: store, factory: factory)
    }

    /// Queues an event for storage; O(1), never waits on I/O. Events the store does not keep
    /// (tickers, statuses, open candles) are ignored by the writer loop.
    public func submit(_ event: MarketEvent) {
        let dropped: Int? = shared.withLock { s in
            s.stats.submitted += 1
            guard s.queue.count < options.hardLimit else {
                s.stats.rowsDropped += 1
                return s.stats.rowsDropped
            }
            s.queue.append(event)
            return nil
        }
        if let dropped {
            droppedCounter.increment()
            if dropped == 1 || dropped % 10_000 == 0 {
                logger.error("store queue full: events dropped", metadata: ["dropped": "\(dropped)"])
            }
        }
    }

    /// Asks ``run()`` to store what is queued and return.
    public func finish() {
        shared.withLock { $0.finishing = true }
    }

    public var stats: StoreWriterStats { shared.withLock { $0.stats } }

    /// The writer loop; returns after ``finish()`` once everything is stored or spilled.
    public func run() async throws(SpillError) {
        var loop = try WriterLoop(writer: self)
        try await loop.run()
    }

    // MARK: loop-side access to the shared state

    fileprivate func takeQueue() -> (events: [MarketEvent], finishing: Bool) {
        shared.withLock { s in
            let events = s.queue
            s.queue = []
            s.queue.reserveCapacity(min(events.count, 1 << 16))
            return (events, s.finishing)
        }
    }

    fileprivate var queueDepth: Int { shared.withLock { $0.queue.count } }

    fileprivate func update(_ body: (inout StoreWriterStats) -> Void) {
        let (depth, spill, ahead) = shared.withLock { s in
            body(&s.stats)
            s.stats.queueDepth = s.queue.count
            return (s.stats.queueDepth, s.stats.spillBytes, s.stats.writeAheadBytes)
        }
        queueGauge.record(depth)
        spillGauge.record(spill)
        writeAheadGauge.record(ahead)
    }

    fileprivate var log: Logger { logger }
}

/// The state owned by the single writer task.
private struct WriterLoop {
    let writer: StoreWriter
    var options: StoreWriterOptions { writer.options }
    var encoder = StoreRowEncoder()
    /// Encoded rows not yet written or spilled, per table, with when the oldest arrived.
    var pending: [StoreTable: (batch: RowBatch, since: ContinuousClock.Instant)] = [:]
    let spills: [StoreTable: SpillFile]
    /// While true every row goes through the spill files (the database failed, or the backlog
    /// outgrew memory); cleared when the spill files are fully stored. Always true when writing ahead.
    var spilling: Bool
    /// A database write failed and none has succeeded since.
    var failing = false
    /// The database came back after failing: the log is still a spill until it is stored.
    var recovering = false
    /// Write-ahead mode: when the log last went from empty to holding rows.
    var loggedSince: ContinuousClock.Instant?
    var retryDelay: Duration
    var nextAttempt: ContinuousClock.Instant
    var migrated: Bool
    let clock = ContinuousClock()

    init(writer: StoreWriter) throws(SpillError) {
        self.writer = writer
        try Self.makeDirectory(writer.options.spillDirectory)
        var spills: [StoreTable: SpillFile] = [:]
        for table in StoreTable.allCases {
            spills[table] = try SpillFile(directory: writer.options.spillDirectory, table: table)
        }
        self.spills = spills
        spilling = writer.options.writeAhead || spills.values.contains { $0.hasPending }
        retryDelay = writer.options.retryInitial
        nextAttempt = clock.now
        migrated = !writer.migratesFirst
        if spilling {
            let bytes = spills.values.reduce(0) { $0 + $1.pendingBytes }
            writer.log.notice(
                "store: replaying spill files left by an earlier run",
                metadata: ["bytes": "\(bytes)", "dir": "\(writer.options.spillDirectory)"])
        }
        updateSpillStats()
    }

    mutating func run() async throws(SpillError) {
        var finishDeadline: ContinuousClock.Instant?
        while true {
            let (events, finishing) = writer.takeQueue()
            encodePending(events)
            let backlog = writer.queueDepth + pending.values.reduce(0) { $0 + $1.batch.rows }
            if !spilling && backlog > options.memoryBound {
                writer.log.warning("store: backlog over the memory bound; spilling to disk", metadata: ["rows": "\(backlog)"])
                spilling = true
            }
            if finishing && finishDeadline == nil { finishDeadline = clock.now.advanced(by: options.shutdownGrace) }

            var didWork = !events.isEmpty
            if spilling {
                try spillPending()
                if (clock.now >= nextAttempt || finishing) && drainIsDue(finishing: finishing) {
                    didWork = await drainSpills() || didWork
                }
            } else {
                didWork = try await writeDueBatches(force: finishing) || didWork
            }

            if finishing {
                let empty = pending.isEmpty && writer.queueDepth == 0
                // In write-ahead mode the log is always "spilling"; an empty log is done.
                if empty && (!spilling || spills.values.allSatisfy({ $0.pendingBytes == 0 })) { return }
                if empty, let deadline = finishDeadline, clock.now >= deadline {
                    writer.log.warning(
                        "store: shutting down with rows left in the spill files; they are stored on the next start",
                        metadata: ["bytes": "\(spills.values.reduce(0) { $0 + $1.pendingBytes })"])
                    return
                }
            }
            if !didWork {
                let pause = spilling && !finishing ? min(options.pollInterval * 20, nextAttempt - clock.now) : options.pollInterval
                try? await Task.sleep(for: max(pause, options.pollInterval))
            }
        }
    }

    /// Encodes queued events into the per-table pending batches.
    mutating func encodePending(_ events: [MarketEvent]) {
        for event in events {
            guard let (table, line) = encoder.encode(event) else { continue }
            if pending[table] == nil { pending[table] = (RowBatch(table: table), clock.now) }
            pending[table]!.batch.append(line: line)
        }
    }

    /// Writes the batches that are full or old enough. Returns whether it wrote anything.
    mutating func writeDueBatches(force: Bool) async throws(SpillError) -> Bool {
        var wrote = false
        let now = clock.now
        for table in StoreTable.allCases {
            guard let entry = pending[table] else { continue }
            let due = force || entry.batch.rows >= options.batchRows || now - entry.since >= options.flushInterval
            guard due else { continue }
            pending[table] = nil
            let parts = entry.batch.split(maxRows: options.batchRows)
            for (n, part) in parts.enumerated() {
                if await store(part) {
                    wrote = true
                    continue
                }
                // Keep order: this batch and everything after it go to the spill files.
                spilling = true
                for rest in parts[n...] { try spill(rest) }
                try spillPending()
                return true
            }
        }
        return wrote
    }

    /// Moves every pending row to its table's spill file.
    mutating func spillPending() throws(SpillError) {
        for (table, entry) in pending {
            try spill(entry.batch)
            pending[table] = nil
        }
    }

    mutating func spill(_ batch: RowBatch) throws(SpillError) {
        // The write-ahead log is not fsynced per append (see StoreWriterOptions.writeAhead); a
        // spill while the database is failing is.
        let logging = options.writeAhead && !failing
        try spills[batch.table]!.append(batch.bytes, sync: !logging)
        if logging {
            if loggedSince == nil { loggedSince = clock.now }
        } else {
            writer.update { $0.rowsSpilled[batch.table, default: 0] += batch.rows }
            Counter(label: "store_rows_spilled_total", dimensions: dimensions(batch.table), factory: metricsFactory).increment(by: batch.rows)
        }
        updateSpillStats()
    }

    /// Whether to store from the spill files now: always for spills of a failure; in write-ahead
    /// mode once the log holds a batch's worth or its oldest row has waited a flush interval.
    func drainIsDue(finishing: Bool) -> Bool {
        guard options.writeAhead, !failing, !finishing else { return true }
        let bytes = spills.values.reduce(0) { $0 + $1.pendingBytes }
        guard bytes > 0 else { return false }
        if bytes >= options.writeAheadBatchBytes { return true }
        return loggedSince.map { clock.now - $0 >= options.flushInterval } ?? true
    }

    /// Stores spill-file chunks, oldest first, until the files are empty or a write fails.
    /// Returns whether it stored anything.
    mutating func drainSpills() async -> Bool {
        var stored = false
        for table in StoreTable.allCases {
            let file = spills[table]!
            while true {
                let chunk: RowBatch?
                do {
                    chunk = try file.readChunk(maxBytes: options.spillChunkBytes)
                } catch {
                    failed(error)
                    return stored
                }
                guard let chunk else { break }
                guard await store(chunk) else { return stored }
                do {
                    try file.markStored(bytes: chunk.bytes.count)
                } catch {
                    failed(error)
                    return true
                }
                stored = true
                writer.update { $0.rowsReplayedFromSpill += chunk.rows }
                updateSpillStats()
                // Let newly queued rows join the spill files between chunks so memory stays bounded.
                encodePending(writer.takeQueue().events)
                do { try spillPending() } catch {
                    failed(error)
                    return true
                }
            }
        }
        if !spills.values.contains(where: { $0.hasPending }) {
            loggedSince = nil
            if !options.writeAhead {
                spilling = false
                writer.log.notice("store: spill files stored; writing directly again")
            } else if stored && recovering {
                writer.log.notice("store: the write-ahead log is stored again")
            }
            recovering = false
            retryDelay = options.retryInitial
        }
        return stored
    }

    /// One database write with a timeout. On failure, schedules the next attempt with backoff.
    mutating func store(_ batch: RowBatch) async -> Bool {
        if !migrated {
            do {
                // The store logs which mode it runs in.
                try await withTimeout(options.writeTimeout) { [store = writer.store] in _ = try await store.migrate() }
                migrated = true
            } catch {
                failed(error)
                return false
            }
        }
        let start = clock.now
        do {
            try await withTimeout(options.writeTimeout) { [store = writer.store] in try await store.write(batch) }
        } catch {
            failed(error)
            return false
        }
        let elapsed = clock.now - start
        let dimensions = dimensions(batch.table)
        Counter(label: "store_rows_written_total", dimensions: dimensions, factory: metricsFactory).increment(by: batch.rows)
        Recorder(label: "store_batch_rows", dimensions: dimensions, factory: metricsFactory).record(batch.rows)
        let (s, atto) = elapsed.components
        Metrics.Timer(label: "store_batch_duration_seconds", dimensions: dimensions, factory: metricsFactory).recordNanoseconds(s * 1_000_000_000 + atto / 1_000_000_000)
        writer.update {
            $0.rowsWritten[batch.table, default: 0] += batch.rows
            $0.batchesWritten += 1
        }
        retryDelay = options.retryInitial
        if failing {
            failing = false
            recovering = true
        }
        return true
    }

    mutating func failed(_ error: any Error) {
        failing = true
        writer.update {
            $0.writeErrors += 1
            $0.lastError = String(reflecting: error)
        }
        Counter(label: "store_write_errors_total", dimensions: [("store", options.metricsName)], factory: metricsFactory).increment()
        // Exponential backoff with ±25 % jitter so many gateways do not retry in lockstep.
        let jitter = Double.random(in: 0.75...1.25)
        nextAttempt = clock.now.advanced(by: retryDelay * jitter)
        writer.log.warning(
            "store write failed; rows go to the spill files",
            metadata: ["error": "\(String(reflecting: error))", "retry_in": "\(retryDelay * jitter)"])
        retryDelay = min(retryDelay * 2, options.retryMax)
    }

    var metricsFactory: any MetricsFactory { options.metricsFactory ?? MetricsSystem.factory }

    func dimensions(_ table: StoreTable) -> [(String, String)] {
        [("store", options.metricsName), ("table", table.rawValue)]
    }

    func updateSpillStats() {
        let bytes = spills.values.reduce(0) { $0 + $1.pendingBytes }
        // In write-ahead mode the log's content is only a spill while the database is failing.
        let spilled = !options.writeAhead || failing || recovering ? bytes : 0
        writer.update {
            $0.spillBytes = spilled
            $0.writeAheadBytes = bytes - spilled
        }
    }

    static func makeDirectory(_ path: String) throws(SpillError) {
        var prefix = ""
        for part in path.split(separator: "/", omittingEmptySubsequences: false) {
            prefix += prefix.isEmpty && path.hasPrefix("/") && part.isEmpty ? "/" : (prefix.isEmpty || prefix == "/" ? "" : "/") + part
            if part.isEmpty { continue }
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw SpillError(path: prefix, operation: "mkdir", errno: errno)
            }
        }
    }
}

/// The store call did not finish in time.
public struct StoreTimeoutError: Error, CustomStringConvertible {
    public let timeout: Duration
    public var description: String { "store call timed out after \(timeout)" }
}

/// Runs `body`, failing with ``StoreTimeoutError`` after `timeout` without waiting for it: the
/// body is cancelled and left to finish on its own (PostgresNIO's pool keeps waiting for a
/// connection while the server is down). For the writer, a write that still lands later is
/// harmless — writes are idempotent and candles never go back to an older revision; for reads
/// (the HTTP API) it turns "the database is down" into a prompt error instead of a hang.
public func withStoreTimeout<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let once = ResumeOnce<T>()
    return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        once.set(continuation)
        let work = Task {
            do {
                once.resume(with: .success(try await body()))
            } catch {
                once.resume(with: .failure(error))
            }
        }
        Task {
            try? await Task.sleep(for: timeout)
            if once.resume(with: .failure(StoreTimeoutError(timeout: timeout))) { work.cancel() }
        }
    }
}

func withTimeout(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> Void) async throws {
    try await withStoreTimeout(timeout, body)
}

/// A continuation resumed by whichever of the body and the timer finishes first.
private final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)

    func set(_ c: CheckedContinuation<T, any Error>) { continuation.withLock { $0 = c } }

    @discardableResult
    func resume(with result: Result<T, any Error>) -> Bool {
        let c = continuation.withLock { c -> CheckedContinuation<T, any Error>? in
            defer { c = nil }
            return c
        }
        c?.resume(with: result)
        return c != nil
    }
}
