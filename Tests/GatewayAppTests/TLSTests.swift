import Bus
import FanOut
import Foundation
import Hummingbird
import Logging
import Synchronization
import Testing
@testable import GatewayApp
import _TestSupport

/// TLS on the listener: a self-signed certificate made with openssl in the test, a real client
/// (Python's ssl module, i.e. OpenSSL, with its own websocket handshake) that verifies it, and a
/// reload when the files change.
@Suite("TLS listener", .serialized, .timeLimit(.minutes(1)))
struct TLSTests {
    /// A websocket client over TLS: verifies the server against `cafile` (host 127.0.0.1), checks
    /// the upgrade's Sec-WebSocket-Accept, sends a ping op and prints what it saw as JSON.
    static let client = #"""
        import base64, hashlib, json, os, socket, ssl, sys
        port, cafile = int(sys.argv[1]), sys.argv[2]
        ctx = ssl.create_default_context(cafile=cafile)
        out = {}
        try:
            t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="127.0.0.1")
            out["cn"] = dict(x[0] for x in t.getpeercert()["subject"])["commonName"]
            key = base64.b64encode(os.urandom(16)).decode()
            t.sendall(("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode())
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += t.recv(4096)
            head, buf = buf.split(b"\r\n\r\n", 1)
            out["status"] = head.split(b"\r\n")[0].decode()
            accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
            fields = dict((n.strip().lower(), v.strip()) for n, _, v in (l.partition(b":") for l in head.split(b"\r\n")[1:]))
            out["accept_ok"] = fields.get(b"sec-websocket-accept") == accept
            payload = json.dumps({"op": "ping", "id": "tls"}).encode()
            mask = os.urandom(4)
            t.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
            while len(buf) < 2 or len(buf) < 2 + (buf[1] & 0x7F):
                buf += t.recv(4096)
            out["reply"] = json.loads(buf[2:2 + (buf[1] & 0x7F)])
        except Exception as e:
            out["error"] = type(e).__name__ + ": " + str(e)
        print(json.dumps(out))
        """#

    static func run(port: Int, cafile: String, dir: String) throws -> [String: Any] {
        let script = dir + "/client.py"
        try client.write(toFile: script, atomically: true, encoding: .utf8)
        let r = try Command.run(["/usr/bin/env", "python3", script, "\(port)", cafile])
        return (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any] ?? ["error": r.stderr]
    }

    /// A self-signed certificate for 127.0.0.1 named `cn`, written (via a rename) to the paths.
    static func makeCertificate(cn: String, cert: String, key: String) throws {
        let tmpCert = cert + ".new", tmpKey = key + ".new"
        let r = try Command.run([
            "/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", tmpKey, "-out", tmpCert, "-days", "1", "-subj", "/CN=\(cn)", "-addext", "subjectAltName=IP:127.0.0.1",
        ])
        guard r.status == 0 else { throw CommandError("openssl: \(r.stderr)") }
        _ = rename(tmpKey, key)
        _ = rename(tmpCert, cert)
    }

    @Test func aRealClientSpeaksWebsocketOverTLSAndAChangedCertificateIsLoaded() async throws {
        let dir = try makeTempDirectory("tls")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cert = dir + "/cert.pem", key = dir + "/key.pem"
        try Self.makeCertificate(cn: "gateway-test-1", cert: cert, key: key)

        var configuration = GatewayConfiguration()
        configuration.server.tlsCertPath = cert
        configuration.server.tlsKeyPath = key
        configuration.server.tlsReloadCheck = .milliseconds(100)
        let access = try AccessControl(configuration: configuration, authority: nil, services: nil)
        let tls = try #require(access.tls)
        var logger = Logger(label: "tls-test")
        logger.logLevel = .critical
        let hub = FanOutHub(bus: MarketBus(), venues: ["binance"], intervals: ["1m"], tls: tls, logger: logger)
        let router = Router()
        router.get("/hello") { _, _ in "hi" }
        let port = Mutex<Int?>(nil)
        let app = FanOutServer.makeApplication(
            hub: hub, router: router, host: "127.0.0.1", port: 0, logger: logger, onListening: { p in port.withLock { $0 = p } })
        let server = TestHTTPServer(app, logger: logger)
        #expect(access.services(logger: logger).count == 1)
        let reloader = Task { try await TLSReloadService(tls: tls, every: configuration.server.tlsReloadCheck, logger: logger).run() }
        defer {
            server.stop()
            reloader.cancel()
        }
        #expect(await waitUntil { port.withLock { $0 } != nil })
        let p = try #require(port.withLock { $0 })

        let first = try Self.run(port: p, cafile: cert, dir: dir)
        #expect(first["error"] == nil, "\(first)")
        #expect(first["cn"] as? String == "gateway-test-1")
        #expect(first["status"] as? String == "HTTP/1.1 101 Switching Protocols")
        #expect(first["accept_ok"] as? Bool == true, "\(first)")
        let reply = try #require(first["reply"] as? [String: Any])
        #expect(reply["type"] as? String == "pong" && reply["id"] as? String == "tls")
        // Plain HTTP on the TLS port gets no HTTP answer.
        #expect(try RawHTTP.exchange(port: p, request: RawHTTP.get("/hello"), timeout: 3) == nil)

        // New files: loaded for new connections within the check interval.
        try Self.makeCertificate(cn: "gateway-test-2", cert: cert, key: key)
        #expect(await waitUntil { tls.reloads == 1 }, "the changed certificate was loaded")
        let second = try Self.run(port: p, cafile: cert, dir: dir)
        #expect(second["cn"] as? String == "gateway-test-2", "\(second)")
        #expect((second["reply"] as? [String: Any])?["type"] as? String == "pong")

        // A certificate whose key is not there (a half-finished renewal): the reload fails and
        // the current certificate stays in use.
        let kept = dir + "/kept.pem"
        try FileManager.default.copyItem(atPath: cert, toPath: kept)
        try Self.makeCertificate(cn: "gateway-test-3", cert: cert, key: dir + "/other-key.pem")
        try await Task.sleep(for: .milliseconds(500))
        #expect(tls.reloads == 1)
        let third = try Self.run(port: p, cafile: kept, dir: dir)
        #expect(third["cn"] as? String == "gateway-test-2", "\(third)")
        #expect((third["reply"] as? [String: Any])?["type"] as? String == "pong")
        await hub.shutdown()
    }

    @Test func aKeyThatDoesNotMatchTheCertificateIsRefusedAtStart() throws {
        let dir = try makeTempDirectory("tls-mismatch")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.makeCertificate(cn: "a", cert: dir + "/a.pem", key: dir + "/a-key.pem")
        try Self.makeCertificate(cn: "b", cert: dir + "/b.pem", key: dir + "/b-key.pem")
        #expect(throws: (any Error).self) { try ServerTLS(certificatePath: dir + "/a.pem", keyPath: dir + "/b-key.pem") }
        #expect(throws: (any Error).self) { try ServerTLS(certificatePath: dir + "/missing.pem", keyPath: dir + "/a-key.pem") }
        #expect(try ServerTLS(certificatePath: dir + "/a.pem", keyPath: dir + "/a-key.pem").reloads == 0)
    }
}
