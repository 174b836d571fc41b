import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
import _TestSupport

/// `gateway demo` split over NATS, the real binary three times: one ingest node (simulator,
/// feeds, store, publish) and two edges. Clients on both edges see the same frames (same channel,
/// seq, epoch and bytes), numbered by the ingest node, not by the edges.
@Suite("gateway demo as a cluster", .serialized)
struct DemoClusterTests {
    /// Starts `gateway demo ARGS --port 0` and waits for the printed port.
    /// One test's cluster: the gateway binary, a scratch directory, a started `nats-server` and the
    /// demo arguments every node shares. `tearDown()` stops the server and removes the directory.
    struct Cluster {
        let binary: String
        let dir: URL
        let nats: NATSServerProcess
        let common: [String]

        init(name: String, seconds: Int, jetStream: Bool = false) throws {
            binary = try #require(ReplayTests.gatewayBinary(), "gateway binary not built next to the tests")
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("demo-cluster-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            nats = try NATSServerProcess(name: name, jetStream: jetStream)
            try nats.start()
            common = [
                "--duration", "\(seconds)", "--data-dir", dir.appendingPathComponent("data").path, "--feeds", Fixtures.repository("feeds"),
                "--nats", nats.url,
            ]
        }

        func tearDown() {
            nats.stop()
            try? FileManager.default.removeItem(at: dir)
        }
    }

    static func startDemo(
        _ binary: String, _ args: [String], in dir: URL, environment: [String: String] = [:]
    ) async throws -> (Process, Int, () throws -> (out: String, err: String)) {
        let (p, output) = try RecordReplayTests.launch(binary, ["demo", "--port", "0"] + args, in: dir, environment: environment)
        var port: Int?
        for _ in 0..<900 where port == nil {
            let out = (try? output().out) ?? ""
            if let r = out.range(of: "serving ws://127.0.0.1:") { port = Int(out[r.upperBound...].prefix { $0.isNumber }) }
            if !p.isRunning { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        guard let port else {
            if p.isRunning { p.terminate() }
            throw TestFailure("demo \(args) printed no port: \((try? output()) ?? ("", ""))")
        }
        return (p, port, output)
    }

    /// Frames of the trades channels (raw JSON text by channel and seq) until `count` arrived or the time is up.
    static func trades(port: Int, count: Int, seconds: Double) async throws -> [String: [Int: String]] {
        let ws = try RawWebSocket(port: port)
        _ = ws.send(#"{"op":"subscribe","id":1,"channels":["trades.*.*"]}"#)
        return await onThread {
            var out: [String: [Int: String]] = [:]
            var n = 0
            let deadline = Date().addingTimeInterval(seconds)
            while n < count, Date() < deadline {
                guard let f = ws.readFrame(timeout: max(0.1, deadline.timeIntervalSinceNow)) else { break }
                if f.opcode == 0x9 {
                    _ = ws.sendFrame(opcode: 0xA, payload: f.payload)
                    continue
                }
                guard f.opcode == 0x1, let o = (try? JSONSerialization.jsonObject(with: Data(f.payload))) as? [String: Any],
                    let ch = o["ch"] as? String, let seq = (o["seq"] as? NSNumber)?.intValue
                else { continue }
                // Trades and the channel's statuses (a trade-id gap): every numbered frame.
                out[ch, default: [:]][seq] = String(decoding: f.payload, as: UTF8.self)
                if o["type"] as? String == "trade" { n += 1 }
            }
            ws.close()
            return out
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func twoEdgesSendTheIngestNodesFrames() async throws {
        let cluster = try Cluster(name: "demo", seconds: 60)
        defer { cluster.tearDown() }
        let (binary, dir, common) = (cluster.binary, cluster.dir, cluster.common)
        let (edgeA, portA, _) = try await Self.startDemo(binary, common + ["--roles", "edge", "--node", "edge-a"], in: dir)
        defer { if edgeA.isRunning { edgeA.terminate() } }
        let (edgeB, portB, _) = try await Self.startDemo(binary, common + ["--roles", "edge", "--node", "edge-b"], in: dir)
        defer { if edgeB.isRunning { edgeB.terminate() } }
        async let a = Self.trades(port: portA, count: 300, seconds: 60)
        async let b = Self.trades(port: portB, count: 300, seconds: 60)
        let (ingest, _, ingestOutput) = try await Self.startDemo(
            binary, common + ["--roles", "ingest,services", "--node", "ingest", "--speed", "20"], in: dir)
        defer { if ingest.isRunning { ingest.terminate() } }
        let (ra, rb) = try await (a, b)
        let countA = ra.values.reduce(0) { $0 + $1.count }
        let countB = rb.values.reduce(0) { $0 + $1.count }
        // (Counts include a channel's status frames, if any: at least 300 trades each.)
        #expect(countA >= 300 && countB >= 300, "edge a \(countA), edge b \(countB) trades; ingest: \((try? ingestOutput().err.suffix(1500)) ?? "")")
        // Both clients subscribed before the ingest node started: the same frames from seq 1 on.
        #expect(Set(ra.keys) == Set(rb.keys))
        var compared = 0
        for (ch, frames) in ra {
            for (seq, text) in frames {
                guard let other = rb[ch]?[seq] else { continue }
                #expect(other == text, "\(ch) #\(seq)")
                compared += 1
            }
            #expect(frames.keys.min() == 1, "\(ch) starts at \(frames.keys.min() ?? 0) on edge a")
            // Numbered by one publisher: no gaps within what arrived.
            let seqs = frames.keys.sorted()
            #expect(seqs == Array(1...(seqs.last ?? 0)), "\(ch) has gaps on edge a")
        }
        #expect(compared >= 250, "only \(compared) frames on both edges")
        // The epoch is the ingest node's, not an edge's boot id.
        let epochs = Set(ra.values.flatMap(\.values).compactMap { text -> String? in
            ((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any])?["epoch"] as? String
        })
        let edgeEpochs = Set(rb.values.flatMap(\.values).compactMap { text -> String? in
            ((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any])?["epoch"] as? String
        })
        #expect(!epochs.isEmpty && epochs == edgeEpochs)
        // The edge's health says what it relayed.
        let (body, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(portA)/api/v1/health")!)
        let health = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
        let clusterHealth = try #require(health["cluster"] as? [String: Any], "\(health)")
        #expect(clusterHealth["node"] as? String == "edge-a" && clusterHealth["roles"] as? [String] == ["edge"])
        #expect((clusterHealth["relayed"] as? Int ?? 0) >= countA && clusterHealth["gaps"] as? Int == 0 && clusterHealth["caught_up"] as? Bool == true)
        #expect(health["status"] as? String == "ok", "\(health)")
        for p in [ingest, edgeA, edgeB] { p.terminate() }
    }

    /// An edge process is SIGKILLed mid-stream: its client reconnects to the other edge with `since`
    /// for every trades channel it followed and continues with the next seq of each, once, in
    /// order, with the same bytes a client of the surviving edge got.
    @Test(.timeLimit(.minutes(3)))
    func aClientOfAKilledEdgeResumesOnTheOtherEdge() async throws {
        let cluster = try Cluster(name: "demo-kill", seconds: 90)
        defer { cluster.tearDown() }
        let (binary, dir, common) = (cluster.binary, cluster.dir, cluster.common)
        let (edgeA, portA, _) = try await Self.startDemo(binary, common + ["--roles", "edge", "--node", "edge-a"], in: dir)
        defer { if edgeA.isRunning { edgeA.terminate() } }
        let (edgeB, portB, _) = try await Self.startDemo(binary, common + ["--roles", "edge", "--node", "edge-b"], in: dir)
        defer { if edgeB.isRunning { edgeB.terminate() } }
        // The reference: a client of edge B from before the first event.
        async let reference = Self.trades(port: portB, count: 600, seconds: 90)
        let (ingest, _, _) = try await Self.startDemo(binary, common + ["--roles", "ingest,services", "--node", "ingest", "--speed", "10"], in: dir)
        defer { if ingest.isRunning { ingest.terminate() } }

        let ws = try RawWebSocket(port: portA)
        _ = ws.send(#"{"op":"subscribe","id":1,"channels":["trades.*.*"]}"#)
        let before = await onThread { () -> [(ch: String, seq: Int, epoch: String, text: String)] in
            var out: [(ch: String, seq: Int, epoch: String, text: String)] = []
            let deadline = Date().addingTimeInterval(60)
            while out.count < 150, Date() < deadline, let f = ws.readFrame(timeout: 10) {
                guard f.opcode == 0x1, let o = (try? JSONSerialization.jsonObject(with: Data(f.payload))) as? [String: Any],
                    let ch = o["ch"] as? String, let seq = (o["seq"] as? NSNumber)?.intValue, let epoch = o["epoch"] as? String
                else { continue }
                out.append((ch, seq, epoch, String(decoding: f.payload, as: UTF8.self)))
            }
            return out
        }
        #expect(before.count == 150)
        kill(edgeA.processIdentifier, SIGKILL)
        edgeA.waitUntilExit()
        ws.close()
        var last: [String: (seq: Int, epoch: String)] = [:]
        for f in before { last[f.ch] = (f.seq, f.epoch) }

        let again = try RawWebSocket(port: portB)
        let since = last.mapValues { ["seq": $0.seq, "epoch": $0.epoch] as [String: Any] }
        let request = try JSONSerialization.data(withJSONObject: ["op": "subscribe", "id": 2, "channels": Array(last.keys), "since": since] as [String: Any])
        _ = again.send(String(decoding: request, as: UTF8.self))
        let after = await onThread { () -> (ack: [String: Bool], frames: [(ch: String, seq: Int, text: String)]) in
            var ack: [String: Bool] = [:]
            var out: [(ch: String, seq: Int, text: String)] = []
            let deadline = Date().addingTimeInterval(60)
            while out.count < 150, Date() < deadline, let f = again.readFrame(timeout: 10) {
                guard f.opcode == 0x1, let o = (try? JSONSerialization.jsonObject(with: Data(f.payload))) as? [String: Any] else { continue }
                if o["type"] as? String == "ack" {
                    for e in o["channels"] as? [[String: Any]] ?? [] { if let ch = e["ch"] as? String { ack[ch] = e["recovered"] as? Bool } }
                    continue
                }
                guard let ch = o["ch"] as? String, let seq = (o["seq"] as? NSNumber)?.intValue else { continue }
                out.append((ch, seq, String(decoding: f.payload, as: UTF8.self)))
            }
            again.close()
            return (ack, out)
        }
        #expect(after.ack == last.mapValues { _ in true }, "\(after.ack)")
        #expect(after.frames.count == 150)
        // Per channel: the next seq after the last one seen on edge A, then one by one.
        var next = last.mapValues { $0.seq + 1 }
        for f in after.frames {
            #expect(f.seq == next[f.ch], "\(f.ch): got \(f.seq), expected \(next[f.ch] ?? -1)")
            next[f.ch] = f.seq + 1
        }
        // The same bytes as the surviving edge's own client, before and after the kill.
        let ref = try await reference
        var compared = 0
        for f in before.map({ ($0.ch, $0.seq, $0.text) }) + after.frames.map({ ($0.ch, $0.seq, $0.text) }) {
            guard let r = ref[f.0]?[f.1] else { continue }
            #expect(r == f.2, "\(f.0) #\(f.1)")
            compared += 1
        }
        #expect(compared >= 250, "compared \(compared)")
        for p in [ingest, edgeB] { p.terminate() }
    }

    /// Reads trades-channel frames on a thread until `until`, keeping (arrival, channel, seq).
    final class Reader: @unchecked Sendable {
        let frames = Mutex<[(at: Date, ch: String, seq: Int)]>([])
        let done = Mutex(false)
        init(_ ws: RawWebSocket, until: Date) {
            Thread.detachNewThread { [self] in
                while Date() < until, let f = ws.readFrame(timeout: max(0.1, until.timeIntervalSinceNow)) {
                    if f.opcode == 0x9 {
                        _ = ws.sendFrame(opcode: 0xA, payload: f.payload)
                        continue
                    }
                    guard f.opcode == 0x1, let o = (try? JSONSerialization.jsonObject(with: Data(f.payload))) as? [String: Any],
                        let ch = o["ch"] as? String, let seq = (o["seq"] as? NSNumber)?.intValue
                    else { continue }
                    frames.withLock { $0.append((Date(), ch, seq)) }
                }
                done.withLock { $0 = true }
            }
        }
        func count(from: Date, to: Date) -> Int { frames.withLock { $0.filter { $0.at >= from && $0.at < to }.count } }
        var all: [(at: Date, ch: String, seq: Int)] { frames.withLock { $0 } }
    }

    /// Edge A is stopped with SIGSTOP for 10 s: edge B's client keeps receiving at its pace (the
    /// ingest node and the other edge do not wait for it). When A continues, its client receives
    /// again, each channel's seq only going up; a jump is one the edge counted as a gap (its rings
    /// restart, so a resume across it is refused rather than served with a hole).
    @Test(.timeLimit(.minutes(3)))
    func aStoppedEdgeSlowsNobodyAndItsClientsContinueAfterward() async throws {
        let cluster = try Cluster(name: "demo-stop", seconds: 120)
        defer { cluster.tearDown() }
        let (binary, dir, common) = (cluster.binary, cluster.dir, cluster.common)
        let (edgeA, portA, _) = try await Self.startDemo(binary, common + ["--roles", "edge", "--node", "edge-a"], in: dir)
        defer {
            kill(edgeA.processIdentifier, SIGCONT)
            if edgeA.isRunning { edgeA.terminate() }
        }
        let (edgeB, portB, _) = try await Self.startDemo(binary, common + ["--roles", "edge", "--node", "edge-b"], in: dir)
        defer { if edgeB.isRunning { edgeB.terminate() } }
        let wa = try RawWebSocket(port: portA)
        let wb = try RawWebSocket(port: portB)
        for ws in [wa, wb] { _ = ws.send(#"{"op":"subscribe","id":1,"channels":["trades.*.*"]}"#) }
        let end = Date().addingTimeInterval(90)
        let ra = Reader(wa, until: end)
        let rb = Reader(wb, until: end)
        let (ingest, _, _) = try await Self.startDemo(binary, common + ["--roles", "ingest,services", "--node", "ingest", "--speed", "5"], in: dir)
        defer { if ingest.isRunning { ingest.terminate() } }

        #expect(await waitUntil(seconds: 40) { ra.all.count >= 50 && rb.all.count >= 50 })
        try await Task.sleep(for: .seconds(5))
        let stopped = Date()
        kill(edgeA.processIdentifier, SIGSTOP)
        try await Task.sleep(for: .seconds(10))
        let continued = Date()
        kill(edgeA.processIdentifier, SIGCONT)
        let beforeB = rb.count(from: stopped.addingTimeInterval(-5), to: stopped)
        let duringB = rb.count(from: stopped, to: continued)
        // The other edge kept its pace: 10 s while A was stopped vs the 5 s before (×2), with slack for a loaded box.
        #expect(beforeB > 0 && duringB >= beforeB, "edge b: \(beforeB) frames in the 5 s before, \(duringB) in the 10 s stop")
        let aBefore = ra.count(from: .distantPast, to: continued)
        #expect(await waitUntil(seconds: 30) { ra.count(from: continued, to: .distantFuture) >= 20 }, "edge a's client got nothing after SIGCONT")
        // Per channel the seq only goes up on A; every jump is counted by the edge as a gap.
        var last: [String: Int] = [:]
        var jumps = 0
        var backwards = 0
        for f in ra.all {
            if let l = last[f.ch] {
                if f.seq <= l { backwards += 1 }
                if f.seq > l + 1 { jumps += 1 }
            }
            last[f.ch] = f.seq
        }
        #expect(backwards == 0)
        let (body, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(portA)/api/v1/health")!)
        let health = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
        let clusterHealth = try #require(health["cluster"] as? [String: Any], "\(health)")
        let gaps = clusterHealth["gaps"] as? Int ?? -1
        #expect(jumps == 0 || gaps >= 1, "client saw \(jumps) jumps, edge counted \(gaps) gaps: \(clusterHealth)")
        print("SIGSTOP run: edge b \(beforeB) frames in the 5 s before, \(duringB) during the 10 s stop; edge a \(aBefore) before SIGCONT, jumps \(jumps), edge gaps \(gaps), reconnects \(clusterHealth["reconnects"] ?? "?")")
        wa.close()
        wb.close()
        for p in [ingest, edgeA, edgeB] { p.terminate() }
    }

    @Test(.timeLimit(.minutes(1)))
    func unknownRolesAndRolesWithoutNATSAreRefused() throws {
        let binary = try #require(ReplayTests.gatewayBinary(), "gateway binary not built next to the tests")
        let dir = FileManager.default.temporaryDirectory
        let unknown = try RecordReplayTests.run(binary, ["demo", "--nats", "nats://127.0.0.1:4222", "--roles", "ingest,egde"], in: dir)
        #expect(unknown.status != 0)
        #expect(unknown.err.contains("--roles: unknown role 'egde' (roles: ingest, services, edge)"), "\(unknown.err)")
        let noNATS = try RecordReplayTests.run(binary, ["demo", "--roles", "edge"], in: dir)
        #expect(noNATS.status != 0)
        #expect(noNATS.err.contains("--roles needs --nats URL"), "\(noNATS.err)")
        let badURL = try RecordReplayTests.run(binary, ["serve", "--nats", "http://x:1", "--roles", "edge"], in: dir)
        #expect(badURL.status == 2)
        #expect(badURL.err.contains("--nats: URL 1 is not a NATS server URL"), "\(badURL.err)")
    }

    @Test(.timeLimit(.minutes(1)))
    func historyAndLeaseFlagsReachTheConfigurationOrAreRefused() throws {
        let binary = try #require(ReplayTests.gatewayBinary(), "gateway binary not built next to the tests")
        let dir = FileManager.default.temporaryDirectory
        let nats = ["--nats", "nats://127.0.0.1:4222"]
        let printed = try RecordReplayTests.run(
            binary, ["serve", "--print-config"] + nats + ["--history-max-age", "15m", "--history-replicas", "3", "--ingest-lease-ttl", "2s"], in: dir)
        #expect(printed.status == 0, "\(printed.err)")
        for line in ["history_max_age: 15m", "history_replicas: 3", "ingest_lease_ttl: 2s"] {
            #expect(printed.out.contains(line), "\(line) not in \(printed.out)")
        }
        let refused: [([String], String)] = [
            (["demo"] + nats + ["--history-max-age", "ten minutes"], "--history-max-age: 'ten minutes' is not a duration"),
            (["demo"] + nats + ["--history-replicas", "7"], "--history-replicas: must be from 1 to 5 (got 7)"),
            (["demo"] + nats + ["--ingest-lease-ttl", "500ms"], "--ingest-lease-ttl: '500ms' is not a duration of at least 1s"),
            (["demo", "--ingest-lease-ttl", "2s"], "need --nats URL"),
            (["serve", "--history-max-age", "10m"], "need --nats URL"),
        ]
        for (args, message) in refused {
            let r = try RecordReplayTests.run(binary, args, in: dir)
            #expect(r.status != 0, "\(args) was accepted")
            #expect(r.err.contains(message), "\(args): \(r.err)")
        }
    }
}
