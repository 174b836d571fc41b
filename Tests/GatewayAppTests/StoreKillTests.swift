import Feeds
import Foundation
import Logging
import MarketCore
import Storage
import Testing
import _TestSupport

#if canImport(Glibc)
import Glibc
#endif

private let postgresConfigured = ProcessInfo.processInfo.environment["MARKETGATEWAY_TEST_POSTGRES_URL"] != nil
private let skipReason = "MARKETGATEWAY_TEST_POSTGRES_URL is not set; run `bash scripts/test.sh`"

@Suite("Store writer killed", .enabled(if: postgresConfigured, Comment(rawValue: skipReason)))
struct StoreKillTests {
    /// `gateway replay --store` with the database down spills rows; SIGKILL the process; start
    /// the database; the next run with the same spill directory stores them, and each trade is in
    /// the table once.
    /// On plain PostgreSQL and on TimescaleDB.
    @Test(.timeLimit(.minutes(3)), arguments: [false, true])
    func spilledRowsSurviveSigkill(timescaleDB: Bool) async throws {
        if timescaleDB { _ = try await TestServer.requireTimescaleDB() }
        let binary = try #require(ReplayTests.gatewayBinary(), "gateway binary not built next to the tests")
        let lines = try String(contentsOfFile: gunzip(Fixtures.repository("feeds/binance-spot-btcusdt-2024-08-08.jsonl.gz")), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: true)
        let work = try makeTempDirectory("marketgateway-kill")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let firstHalf = "\(work)/first.jsonl"
        let secondHalf = "\(work)/second.jsonl"
        let half = lines.count / 2
        try (lines[..<half].joined(separator: "\n") + "\n").write(toFile: firstHalf, atomically: true, encoding: .utf8)
        try (lines[half...].joined(separator: "\n") + "\n").write(toFile: secondHalf, atomically: true, encoding: .utf8)
        // The capture delivers some trades on two connections, so the halves share a few: the
        // table must hold the union, each once.
        let expected = try ReplayedEvents(paths: [firstHalf], emit: [.trades]).distinctTradeKeys
            .union(ReplayedEvents(paths: [secondHalf], emit: [.trades]).distinctTradeKeys).count

        let cluster = try OwnCluster(timescaleDB: timescaleDB)
        defer { cluster.destroy() }
        try cluster.stop()
        let spill = "\(work)/spill"
        let storeArgs = ["--emit", "trades", "--store", cluster.url, "--spill-dir", spill, "--store-timeout", "1"]

        // 1. The writer process reads the first half from a FIFO that stays open, so it is still
        //    running (and its rows are only in the spill files) when it is killed.
        let fifo = "\(work)/feed.fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        // Open our end first (O_RDWR does not wait for a reader), so the child's open does not
        // block inside posix_spawn, which waits for the child to exec.
        let writeFD = open(fifo, O_RDWR)
        #expect(writeFD >= 0)
        let feed = FileHandle(fileDescriptor: writeFD, closeOnDealloc: true)
        let pid = try Command.spawn(
            [binary, "replay", "-"] + storeArgs, stdinPath: fifo, stdoutPath: "\(work)/out1", stderrPath: "\(work)/err1")
        feed.write(Data(try String(contentsOfFile: firstHalf, encoding: .utf8).utf8))

        // Wait until the spilled trade rows stop growing (every trade of the first half spilled).
        let spillFile = "\(spill)/trades.spill"
        var lastCount = -1
        var stableSince = ContinuousClock.now
        while ContinuousClock.now - stableSince < .seconds(2) {
            try await Task.sleep(for: .milliseconds(200))
            let count = (try? String(contentsOfFile: spillFile, encoding: .utf8))?.split(separator: "\n").count ?? 0
            if count != lastCount || count == 0 {
                lastCount = count
                stableSince = .now
            }
        }
        let spilledRows = lastCount
        #expect(spilledRows > 0)
        kill(pid, SIGKILL)
        #expect(Command.wait(pid) == 128 + SIGKILL)
        try? feed.close()

        // 2. Database back; a new run with the same spill directory stores the spilled rows first.
        try cluster.start()
        let second = try Command.run([binary, "replay", secondHalf] + storeArgs)
        #expect(second.status == 0, "second run: \(second.stderr)")
        // The start-up line names the backend.
        #expect(second.stderr.contains("store: backend: \(timescaleDB ? "timescaledb" : "postgresql")"), "\(second.stderr)")
        let spillSize = (try? FileManager.default.attributesOfItem(atPath: spillFile)[.size] as? Int) ?? -1
        #expect(spillSize == 0, "spill file not emptied")

        let store = PostgresStore(configuration: try PostgresConfiguration(url: cluster.url))
        let stored = try await store.count(.trades)
        await store.close()
        // Every trade of both halves, once: the first half came only from the spill file.
        print("figure: SIGKILL during a database outage (\(timescaleDB ? "timescaledb" : "postgresql")): \(expected) trades sent, \(stored) stored, \(spilledRows) rows were in the spill file")
        #expect(stored == expected, "stored \(stored), expected \(expected); \(spilledRows) rows were spilled")
    }

    /// The database is up; the writer holds rows for a batch (here up to 60 s, `--store-flush`).
    /// Killed then, a writer used to lose them; writing ahead, every row is in the spill
    /// directory's log within a loop turn, and the next run stores it: each trade once.
    @Test(.timeLimit(.minutes(3)))
    func rowsHeldForABatchSurviveSigkill() async throws {
        let binary = try #require(ReplayTests.gatewayBinary(), "gateway binary not built next to the tests")
        let lines = try String(contentsOfFile: gunzip(Fixtures.repository("feeds/binance-spot-btcusdt-2024-08-08.jsonl.gz")), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: true)
        let work = try makeTempDirectory("marketgateway-kill-wal")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let firstHalf = "\(work)/first.jsonl"
        let secondHalf = "\(work)/second.jsonl"
        let half = lines.count / 2
        try (lines[..<half].joined(separator: "\n") + "\n").write(toFile: firstHalf, atomically: true, encoding: .utf8)
        try (lines[half...].joined(separator: "\n") + "\n").write(toFile: secondHalf, atomically: true, encoding: .utf8)
        let firstTrades = try ReplayedEvents(paths: [firstHalf], emit: [.trades]).distinctTradeKeys
        let expected = firstTrades.union(try ReplayedEvents(paths: [secondHalf], emit: [.trades]).distinctTradeKeys).count

        let cluster = try OwnCluster(timescaleDB: false)
        defer { cluster.destroy() }
        let spill = "\(work)/spill"
        let storeArgs = ["--emit", "trades", "--store", cluster.url, "--spill-dir", spill]

        let fifo = "\(work)/feed.fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let writeFD = open(fifo, O_RDWR)
        let feed = FileHandle(fileDescriptor: writeFD, closeOnDealloc: true)
        let pid = try Command.spawn(
            [binary, "replay", "-", "--store-flush", "60"] + storeArgs, stdinPath: fifo, stdoutPath: "\(work)/out1",
            stderrPath: "\(work)/err1")
        feed.write(Data(try String(contentsOfFile: firstHalf, encoding: .utf8).utf8))
        // Every trade of the first half reaches the log (none is due for the database for 60 s).
        let log = "\(spill)/trades.spill"
        let inLog = await waitUntil(seconds: 60) {
            ((try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n").count ?? 0) >= firstTrades.count
        }
        #expect(inLog, "the first half's \(firstTrades.count) trades never reached the write-ahead log")
        kill(pid, SIGKILL)
        #expect(Command.wait(pid) == 128 + SIGKILL)
        try? feed.close()

        let second = try Command.run([binary, "replay", secondHalf] + storeArgs)
        #expect(second.status == 0, "second run: \(second.stderr)")
        let store = PostgresStore(configuration: try PostgresConfiguration(url: cluster.url))
        let stored = try await store.count(.trades)
        await store.close()
        print("figure: SIGKILL while the writer holds a batch (write-ahead): \(expected) trades sent, \(stored) stored")
        #expect(stored == expected, "stored \(stored), expected \(expected)")
    }
}
