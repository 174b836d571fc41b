import Feeds
import Foundation
public import Logging
import MarketCore
public import Storage

/// `gateway replay … --store URL`: replays as usual and stores what it prints through the
/// batching ``StoreWriter`` (trades, closed candles, and book snapshots when `books` is emitted).
extension ReplayRun {
    /// Exit status 3: the replay finished but rows are still in the spill files (the database was
    /// unreachable); they are stored by the next run with the same spill directory.
    public static let exitRowsLeftInSpill: Int32 = 3

    public func run(storingTo location: StoreLocation, writerOptions: StoreWriterOptions, logger: Logger) async -> Int32 {
        let spillDirectory = writerOptions.spillDirectory
        let store: any MarketStore
        do {
            store = try await location.open(logger: logger)
        } catch {
            FileHandleStderr.write("gateway replay: cannot open store \(location): \(error)\n")
            return 1
        }
        // Migrations run inside the writer, so a database that is down at start does not stop the
        // replay: rows go to the spill files until it answers.
        let writer = StoreWriter(store: store, options: writerOptions, logger: logger)
        let loop = Task { try await writer.run() }

        // SIGINT/SIGTERM: stop reading, store what is queued (or spill it), then exit 130/143.
        // A second signal exits at once; rows already in the spill files are safe either way.
        let interrupt = ShutdownSignals()
        // The replay is synchronous file reading and parsing: keep it off the concurrency pool.
        let replayStatus: Int32 = await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(
                    returning: self.run(observer: { writer.submit($0) }, shouldStop: { interrupt.received != nil }))
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        let status = interrupt.received.map { 128 + $0 } ?? replayStatus
        if let signal = interrupt.received {
            FileHandleStderr.write("gateway replay: signal \(signal): storing what is queued before exit\n")
        }
        writer.finish()
        do {
            try await loop.value
        } catch {
            FileHandleStderr.write("gateway replay: store writer failed: \(error)\n")
            await store.close()
            return 1
        }
        await store.close()
        let stats = writer.stats
        let written = stats.rowsWritten.values.reduce(0, +)
        FileHandleStderr.write(
            "gateway replay: stored \(written) rows in \(location) (\(store.backend.rawValue)); \(stats.writeErrors) failed writes\n")
        if stats.spillBytes > 0 {
            FileHandleStderr.write(
                "gateway replay: \(stats.spillBytes) bytes of rows wait in \(spillDirectory); they are stored on the next run with --spill-dir \(spillDirectory)\n")
            return status == 0 ? Self.exitRowsLeftInSpill : status
        }
        return status
    }
}
