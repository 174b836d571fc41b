import ExchangeSimulator
import Foundation
import MarketCore
import Storage
import Synchronization
import Testing
import _TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Ingest failover with the real binary (issue 21): one `nats-server` with JetStream, two
/// `gateway serve` ingest processes for the same venue with `ingest_lease_ttl: 2s`, both fed by one
/// exchange simulator and both storing into one PostgreSQL database, and an edge process with a
/// websocket client. The leader is SIGKILLed mid-stream; the standby takes over.
@Suite("gateway serve: ingest failover", .serialized)
struct IngestFailoverTests {
    static let ttl = Duration.seconds(2)
    static let trades = "trades.binance.BTC-USDT"
    static let book = "book.binance.BTC-USDT"

    /// Every process the test starts; `killAll()` (in a `defer`) SIGKILLs those still running.
    final class Processes: @unchecked Sendable {
        private let list = Mutex<[Process]>([])
        func add(_ p: Process) { list.withLock { $0.append(p) } }
        func killAll() {
            for p in list.withLock({ $0 }) where p.isRunning {
                kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
            }
        }
    }

    struct Node {
        let name: String
        let process: Process
        let port: Int
        let output: () throws -> (out: String, err: String)
        var stderr: String { (try? output().err) ?? "" }
    }

    /// One data frame as the client received it.
    struct Seen: Sendable {
        let at: ContinuousClock.Instant
        let ch: String
        let seq: Int
        let epoch: String
        let type: String
        let payload: [UInt8]
        /// The frame's `data` object (parsed again on each use).
        var data: [String: Any] { ((try? JSONSerialization.jsonObject(with: Data(payload))) as? [String: Any])?["data"] as? [String: Any] ?? [:] }
        var tradeID: String? { data["id"] as? String }
    }

    /// Reads the client's frames on a thread until `stop()`, answering pings.
    final class Reader: @unchecked Sendable {
        private let frames = Mutex<[Seen]>([])
        private let stopped = Mutex(false)
        private let finished = Mutex(false)
        init(_ ws: RawWebSocket) {
            Thread.detachNewThread { [self] in
                while !stopped.withLock({ $0 }) {
                    guard let f = ws.readFrame(timeout: 0.2) else { continue }
                    let at = ContinuousClock.now
                    if f.opcode == 0x9 {
                        _ = ws.sendFrame(opcode: 0xA, payload: f.payload)
                        continue
                    }
                    if f.opcode == 0x8 { break }
                    guard f.opcode == 0x1, let o = (try? JSONSerialization.jsonObject(with: Data(f.payload))) as? [String: Any],
                        let ch = o["ch"] as? String, let seq = (o["seq"] as? NSNumber)?.intValue, let epoch = o["epoch"] as? String,
                        let type = o["type"] as? String
                    else { continue }
                    frames.withLock { $0.append(Seen(at: at, ch: ch, seq: seq, epoch: epoch, type: type, payload: f.payload)) }
                }
                finished.withLock { $0 = true }
            }
        }
        var all: [Seen] { frames.withLock { $0 } }
        func on(_ ch: String) -> [Seen] { all.filter { $0.ch == ch } }
        /// Ends the thread's loop without waiting (a failing test's `defer`).
        func halt() { stopped.withLock { $0 = true } }
        func stop() async {
            stopped.withLock { $0 = true }
            _ = await waitUntil(seconds: 5) { self.finished.withLock { $0 } }
        }
    }

    /// A node's configuration. The simulator replays 2024's times while a `serve` process's
    /// receive clock is the wall clock: with the default grace every clock tick would close the
    /// open candle and each later trade amend it (a new revision per tick, so the two ingest
    /// processes' revisions would not be comparable). A grace longer than that distance lets
    /// buckets close by the next bucket's first trade, as on a live feed (revision 0).
    /// - Parameter history: with the history streams, so the ingest nodes publish acked (docs/nats.md "Acked publishes").
    static func yaml(node: String, roles: String, nats: String, store: String, dir: URL, sim: ExchangeSimulator, history: Bool) -> String {
        """
        log_level: notice
        venues:
          binance:
            symbols: [BTC-USDT]
            ws_url: \(sim.wsURL(venue: .binance, path: "ws"))
            rest_url: \(sim.restBaseURL(venue: .binance))
            stale_after: 5s
        storage:
          url: \(store)
          spill_dir: \(dir.path)/spill-\(node)
        server:
          port: 0
        cluster:
          nats: [\(nats)]
          roles: [\(roles)]
          node: \(node)
        \(roles == "ingest" ? "  ingest_lease_ttl: 2s" : "")
        \(history ? "  history_max_age: 10m\n  history_max_bytes: 67108864" : "")
        normalizer:
          grace: 3650d
        """
    }

    /// Starts `gateway serve --config` for each (name, yaml) at once; waits for every API port.
    static func serve(_ nodes: [(String, String)], binary: String, in dir: URL, processes: Processes) async throws -> [Node] {
        var launched: [(String, Process, () throws -> (out: String, err: String))] = []
        for (name, yaml) in nodes {
            let config = dir.appendingPathComponent("\(name).yaml")
            try yaml.write(to: config, atomically: true, encoding: .utf8)
            let (p, output) = try RecordReplayTests.launch(binary, ["serve", "--config", config.path], in: dir)
            processes.add(p)
            launched.append((name, p, output))
        }
        var out: [Node] = []
        for (name, p, output) in launched {
            var port: Int?
            let deadline = ContinuousClock.now + .seconds(40)
            while port == nil, ContinuousClock.now < deadline, p.isRunning {
                let err = (try? output().err) ?? ""
                if let r = err.range(of: "API listening on http://127.0.0.1:") { port = Int(err[r.upperBound...].prefix { $0.isNumber }) }
                if port == nil { try await Task.sleep(for: .milliseconds(50)) }
            }
            guard let port else { throw TestFailure("\(name) printed no port: \((try? output().err.suffix(2000)) ?? "")") }
            out.append(Node(name: name, process: p, port: port, output: output))
        }
        return out
    }

    /// The `cluster` object of a node's `/api/v1/health` (nil when it does not answer).
    static func cluster(_ port: Int) async -> [String: Any]? {
        let response: RawHTTP.Response? = await onThread { (try? RawHTTP.exchange(port: port, request: RawHTTP.get("/api/v1/health"), timeout: 2)) ?? nil }
        guard let body = response?.body, let o = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] else {
            return nil
        }
        return o["cluster"] as? [String: Any]
    }

    static func leading(_ port: Int) async -> Bool { await cluster(port)?["leading"] as? Bool == true }

    /// Binance trade ids in the frames the simulator sent, read from the frame JSON (not by the gateway's parser).
    static func sentTradeIDs(_ frames: [EmittedFrame]) -> [String] {
        frames.compactMap { f -> String? in
            guard f.delivery == .sent, f.recipients > 0, f.text.contains("btcusdt@trade"),
                let o = (try? JSONSerialization.jsonObject(with: Data(f.text.utf8))) as? [String: Any],
                let data = o["data"] as? [String: Any], data["e"] as? String == "trade", let t = data["t"] as? NSNumber
            else { return nil }
            return t.stringValue
        }
    }

    /// A book frame's levels as exact decimals.
    static func levels(_ any: Any?) -> [Decimal] {
        ((any as? [Any]) ?? []).compactMap { (($0 as? [Any])?.first as? String).flatMap { Decimal(string: $0, locale: Locale(identifier: "en_US_POSIX")) } }
    }

    /// What `start` set up: the processes, the edge's websocket client and which ingest process leads.
    struct Setup {
        let edge: Node
        let ws: RawWebSocket
        let client: Reader
        let ingests: [Node]
        let leader: Node
        let standby: Node
        /// The epoch the client followed before the failover.
        var oldEpochs: Set<String> = []
        func logs() -> String { ingests.map { "\($0.name): \($0.stderr.suffix(1500))" }.joined(separator: "\n") }
    }

    /// The edge (its client subscribed before any frame exists), then both ingest processes (each
    /// connecting to NATS at its own `ingestNATS` URL); returns once one leads and the stream is under
    /// way: the client follows both channels in the leader's epoch, the standby holds frames back (its
    /// feed is live), and the trades have passed the first minute boundary, so both processes closed
    /// (and stored) their copies of the first 1m and 5m candles.
    static func start(
        binary: String, dir: URL, nats: NATSServerProcess, sim: ExchangeSimulator, store: String, history: Bool, ingestNATS: [String],
        processes: Processes
    ) async throws -> Setup {
        let edge = try await serve(
            [("edge", yaml(node: "edge", roles: "edge", nats: nats.url, store: "sqlite:\(dir.path)/edge.sqlite", dir: dir, sim: sim, history: history))],
            binary: binary, in: dir, processes: processes)[0]
        let ws = try RawWebSocket(port: edge.port)
        _ = ws.send(#"{"op":"subscribe","id":1,"channels":["\#(trades)","\#(book)"]}"#)
        let client = Reader(ws)
        do {
            // Two ingest processes at once, one simulator, one database.
            let ingests = try await serve(
                zip(["ingest-a", "ingest-b"], ingestNATS).map { ($0, yaml(node: $0, roles: "ingest", nats: $1, store: store, dir: dir, sim: sim, history: history)) },
                binary: binary, in: dir, processes: processes)
            var leader: Node?
            var standby: Node?
            let deadline = ContinuousClock.now + .seconds(30)
            while leader == nil, ContinuousClock.now < deadline {
                let a = await leading(ingests[0].port)
                let b = await leading(ingests[1].port)
                #expect(!(a && b), "both ingest processes lead")
                if a != b { (leader, standby) = a ? (ingests[0], ingests[1]) : (ingests[1], ingests[0]) }
                if leader == nil { try await Task.sleep(for: .milliseconds(100)) }
            }
            guard let leader, let standby else {
                throw TestFailure("no ingest process leads: \(ingests.map { "\($0.name): \($0.stderr.suffix(1500))" })")
            }
            let standbyPort = standby.port
            let streaming = await waitUntil(seconds: 30) {
                let standbyFrames = await cluster(standbyPort)?["standby_frames"] as? Int ?? 0
                let minutes = Set(client.on(trades).compactMap { ($0.data["ts"] as? String)?.prefix(16) })
                return minutes.count >= 2 && !client.on(book).isEmpty && standbyFrames > 0
            }
            let setup = Setup(edge: edge, ws: ws, client: client, ingests: ingests, leader: leader, standby: standby)
            guard streaming else { throw TestFailure("no stream before the failover: \(client.all.count) frames; \(setup.logs())") }
            return setup
        } catch {
            client.halt()
            ws.close()
            throw error
        }
    }

    /// A scratch directory, one `nats-server -js`, the simulator with `seconds` recorded seconds of
    /// BTCUSDT (trades, depth, its REST snapshot) at 8×, and a scratch PostgreSQL database for `body`.
    static func withCluster(
        _ name: String, seconds: Int64,
        _ body: @Sendable (_ binary: String, _ dir: URL, _ nats: NATSServerProcess, _ sim: ExchangeSimulator, _ store: String, _ db: PostgresConfiguration) async throws -> Void
    ) async throws {
        let admin = try TestServer.timescale.requireAdmin()
        let binary = try #require(ReplayTests.gatewayBinary(), "gateway binary not built next to the tests")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let nats = try NATSServerProcess(name: name, jetStream: true)
        try nats.start()
        defer { nats.stop() }
        let excerpt = dir.appendingPathComponent("excerpt.jsonl")
        _ = try Fixtures.excerpt("binance/spot-btcusdt-2024-08-08.jsonl.gz", seconds: seconds, to: excerpt.path)
        let sim = ExchangeSimulator(speed: 8)
        try sim.addVenue(.binance, captures: [excerpt.path])
        try await sim.start()
        do {
            try await ScratchDatabase.with(admin: admin) { db in
                try await body(binary, dir, nats, sim, "postgres://postgres@\(db.host):\(db.port)/\(db.database!)", db)
            }
        } catch {
            await sim.stop()
            throw error
        }
        await sim.stop()
    }

    /// The client's frames after a failover: one epoch change per channel (and no frame of the old
    /// epoch after the first of the new one on any channel), seqs one by one within each epoch, only
    /// valid, uncrossed, ordered books, the new epoch's first book frame a snapshot. Returns the
    /// number of book snapshots.
    static func checkClientFrames(_ frames: [Seen], oldEpochs: Set<String>) throws -> Int {
        for ch in [trades, book] {
            let seen = frames.filter { $0.ch == ch }
            let changes = zip(seen, seen.dropFirst()).filter { $0.epoch != $1.epoch }.count
            #expect(changes == 1, "\(ch): \(changes) epoch changes (\(seen.map(\.epoch).reduce(into: [String]()) { if $0.last != $1 { $0.append($1) } }))")
            for (a, b) in zip(seen, seen.dropFirst()) where a.epoch == b.epoch {
                #expect(b.seq == a.seq + 1, "\(ch) \(b.epoch): seq \(a.seq) then \(b.seq)")
            }
        }
        if let firstNew = frames.firstIndex(where: { !oldEpochs.contains($0.epoch) }) {
            let late = frames[firstNew...].filter { oldEpochs.contains($0.epoch) }
            #expect(late.isEmpty, "\(late.count) frames of the old epoch after the new one began (first: \(late.first.map { "\($0.ch) seq \($0.seq)" } ?? ""))")
        }
        let books = frames.filter { $0.ch == book }
        let firstNewBook = try #require(books.first { !oldEpochs.contains($0.epoch) })
        #expect(firstNewBook.type == "book_snapshot", "the new epoch's first book frame is \(firstNewBook.type)")
        var snapshots = 0
        for b in books where b.type == "book_snapshot" {
            snapshots += 1
            let bids = levels(b.data["bids"])
            let asks = levels(b.data["asks"])
            #expect(b.data["valid"] as? Bool == true)
            #expect(!bids.isEmpty && !asks.isEmpty)
            #expect(bids == bids.sorted(by: >) && asks == asks.sorted(), "levels out of order at seq \(b.seq)")
            if let bid = bids.first, let ask = asks.first { #expect(bid < ask, "crossed book at \(b.epoch) seq \(b.seq): \(bid) >= \(ask)") }
        }
        #expect(books.allSatisfy { $0.type == "book_snapshot" }, "\(Set(books.map(\.type)))")
        return snapshots
    }

    /// The store after every ingest process stopped: every trade the simulator sent, once (ids read
    /// from the sent frames' JSON), and each stored 1m and 5m candle counting exactly the stored
    /// trades of its bucket. Returns the sent trade ids, the stored count and the candles.
    static func checkStore(sim: ExchangeSimulator, db: PostgresConfiguration) async throws -> (sent: [String], stored: Int, candles: [String]) {
        let sent = sentTradeIDs(await sim.emittedFrames(venue: .binance))
        #expect(Set(sent).count == sent.count && sent.count > 1000, "\(sent.count) trades sent")
        let counts = try await sqlRows(
            "SELECT count(*)::text, count(DISTINCT (venue, symbol, trade_id))::text FROM trades", on: db)
        let stored = try await sqlRows("SELECT trade_id FROM trades WHERE venue = 'binance' AND symbol = 'BTC-USDT'", on: db).compactMap { $0.first ?? nil }
        #expect(counts.first?[0] == counts.first?[1], "duplicate trade rows: \(counts)")
        #expect(stored.count == sent.count, "\(stored.count) rows for \(sent.count) trades sent")
        let missing = Set(sent).subtracting(stored)
        let extra = Set(stored).subtracting(sent)
        #expect(missing.isEmpty && extra.isEmpty, "missing \(missing.count) (e.g. \(missing.sorted().prefix(5))), extra \(extra.count)")
        // Both processes write candles too (same upsert keys). Every bucket was observed whole by a
        // process that closed it: the first, by the first to connect to the simulator (it got the
        // stream from its first frame), before the failover; the later ones by the survivor. So each
        // stored candle, complete or not, counts exactly the stored trades of its bucket: the
        // partial first candle of the process that connected second must not replace the whole
        // one (it did, in some runs, before the store kept the copy with more trades).
        var candles: [String] = []
        for (table, interval) in [("market_data_1m", "1 minute"), ("market_data_5m", "5 minutes")] {
            let rows = try await sqlRows(
                """
                SELECT c.time::text, c.trades::text, c.complete::text, c.revision::text,
                       (SELECT count(*) FROM trades t WHERE t.venue = c.venue AND t.symbol = c.symbol
                          AND t.time >= c.time AND t.time < c.time + interval '\(interval)')::text AS stored
                FROM \(table) c WHERE c.venue = 'binance' AND c.symbol = 'BTC-USDT' ORDER BY c.time
                """, on: db)
            #expect(!rows.isEmpty, "no \(table) rows")
            for c in rows {
                #expect(c[1] == c[4], "\(table) \(c[0] ?? ""): \(c[1] ?? "") trades, \(c[4] ?? "") stored (complete \(c[2] ?? ""), revision \(c[3] ?? ""))")
                candles.append("\(table.suffix(2)) \(c[1] ?? "")/\(c[4] ?? "") r\(c[3] ?? "") \(c[2] == "true" ? "complete" : "incomplete")")
            }
        }
        return (sent, stored.count, candles)
    }

    /// On the wire: each trade at most once, all of them sent, and within each epoch the client's
    /// trades consecutive in the simulator's order: the only hole is the takeover's (trades sent
    /// while no process published), between the two epochs. Returns the hole's size and the trades.
    static func checkWireTrades(_ frames: [Seen], sent: [String]) -> (hole: Int, onWire: Int) {
        let onWire = frames.filter { $0.ch == trades && $0.type == "trade" }.compactMap(\.tradeID)
        #expect(Set(onWire).count == onWire.count, "a trade reached the client twice")
        #expect(Set(onWire).isSubset(of: Set(sent)))
        let position = Dictionary(uniqueKeysWithValues: sent.enumerated().map { ($1, $0) })
        let wire = frames.filter { $0.ch == trades && $0.type == "trade" }
        var hole = 0
        for (a, b) in zip(wire, wire.dropFirst()) {
            guard let pa = a.tradeID.flatMap({ position[$0] }), let pb = b.tradeID.flatMap({ position[$0] }) else { continue }
            if a.epoch == b.epoch {
                #expect(pb == pa + 1, "\(a.epoch): trade \(a.tradeID ?? "") then \(b.tradeID ?? "")")
            } else {
                hole = pb - pa - 1
            }
        }
        return (hole, onWire.count)
    }

    /// SIGTERM: the process stores what it holds and exits 0.
    static func stop(_ node: Node) async throws {
        node.process.terminate()
        let deadline = ContinuousClock.now + .seconds(30)
        while node.process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!node.process.isRunning, "\(node.name) did not stop on SIGTERM")
    }

    /// The leader is SIGKILLed mid-stream: the standby leads within TTL + TTL/3 (+ 1 s), the client
    /// sees one epoch change per channel and valid books only, and the store holds every trade the
    /// simulator sent, once. Prints the failover time (docs/nats.md "Figures"). About 25 s.
    @Test(.timeLimit(.minutes(2)), arguments: [false, true])
    func theStandbyProcessTakesOverWhenTheLeaderIsKilled(history: Bool) async throws {
        // 160 recorded seconds at 8×: 20 s of stream.
        try await Self.withCluster("failover", seconds: 160) { binary, dir, nats, sim, store, db in
            try await Self.runKill(binary: binary, dir: dir, nats: nats, sim: sim, store: store, db: db, history: history)
        }
    }

    static func runKill(
        binary: String, dir: URL, nats: NATSServerProcess, sim: ExchangeSimulator, store: String, db: PostgresConfiguration, history: Bool
    ) async throws {
        let processes = Processes()
        defer { processes.killAll() }
        var setup = try await start(
            binary: binary, dir: dir, nats: nats, sim: sim, store: store, history: history, ingestNATS: [nats.url, nats.url], processes: processes)
        let (client, leader, standby) = (setup.client, setup.leader, setup.standby)
        defer {
            client.halt()
            setup.ws.close()
        }
        // A few seconds more, so that the leader's writer has stored what it alone received before
        // the standby's feed connected (it flushes every 250 ms).
        try await Task.sleep(for: .seconds(3))
        setup.oldEpochs = Set(client.all.map(\.epoch))
        let oldEpochs = setup.oldEpochs
        #expect(oldEpochs.count == 1, "epochs before the kill: \(oldEpochs)")

        let killed = ContinuousClock.now
        kill(leader.process.processIdentifier, SIGKILL)
        leader.process.waitUntilExit()
        var ledAfter: Duration?
        while ledAfter == nil, ContinuousClock.now - killed < .seconds(15) {
            if await leading(standby.port) { ledAfter = ContinuousClock.now - killed } else { try await Task.sleep(for: .milliseconds(25)) }
        }
        let led = try #require(ledAfter, "the standby never led: \(standby.stderr.suffix(2000))")
        // The lease key expires at most TTL after the dead leader's last renewal (which was before
        // the kill), and the standby tries every TTL/3: TTL + TTL/3 from the kill. The margin (1 s)
        // covers this test's 25 ms health polling, the JetStream request of the standby's attempt
        // and the scheduling of four busy processes (nats-server, two gateways, the test) on two
        // shared cores.
        #expect(led < ttl + ttl / 3 + .seconds(1), "standby led \(led) after the kill")

        // The new epoch reaches the client on both channels; then the rest of the stream.
        let bothMoved = await waitUntil(seconds: 20) {
            [trades, book].allSatisfy { ch in client.on(ch).contains { !oldEpochs.contains($0.epoch) } }
        }
        #expect(bothMoved, "new epoch not seen on both channels: \(Set(client.all.map { "\($0.ch) \($0.epoch)" }))")
        await sim.waitUntilFinished(venue: .binance)
        try await Task.sleep(for: .seconds(1))
        await client.stop()
        if history {
            // The new leader's publishes went through the acked path (ServeRun's wiring), all acked.
            let h = await cluster(standby.port)
            #expect((h?["publish_acked"] as? Int ?? 0) > 0, "new leader: \(h ?? [:])")
            #expect(h?["publish_failures"] as? Int == 0, "new leader: \(h ?? [:])")
        }
        try await stop(standby)
        // A new epoch is not a gap: the edge relayed every frame it was sent in order.
        let edgeHealth = await cluster(setup.edge.port)
        #expect(edgeHealth?["gaps"] as? Int == 0, "edge: \(edgeHealth ?? [:])")
        processes.killAll()
        #expect(standby.process.terminationReason == .exit && standby.process.terminationStatus == 0, "\(standby.stderr.suffix(2000))")

        // Failover time: the kill to the first frame of the new epoch at the client.
        let frames = client.all
        let firstNew = try #require(frames.first { !oldEpochs.contains($0.epoch) })
        let failover = firstNew.at - killed
        // Trades arrive every few milliseconds at this speed: the first frame follows the takeover at once.
        #expect(failover < ttl + ttl / 3 + .seconds(1), "first frame of the new epoch \(failover) after the kill")
        let snapshots = try checkClientFrames(frames, oldEpochs: oldEpochs)
        let (sent, stored, candles) = try await checkStore(sim: sim, db: db)
        let (hole, onWire) = checkWireTrades(frames, sent: sent)
        print(
            "figure: ingest failover (TTL 2 s): standby led \(led) after SIGKILL, first frame of the new epoch at the client \(failover) "
                + "after it (\(firstNew.ch)); \(sent.count) trades sent, \(stored) stored, \(onWire) reached the client "
                + "(\(hole) sent while no process led; the rest before the first lease); \(snapshots) book snapshots; edge gaps \(edgeHealth?["gaps"] ?? "?"); candles (trades/stored) \(candles)")
    }
}
