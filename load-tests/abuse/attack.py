#!/usr/bin/env python3
"""Issue 16 defect 3 against a running gateway, stdlib only (no websocket package needed).

  python3 load-tests/abuse/attack.py PORT made-up [CONNECTIONS] [PER_CONNECTION]
      subscribes to made-up symbols (trades.binance.PH<n>Z) from CONNECTIONS sockets; prints how
      many were acked and refused, and the bus's channel count from /api/v1/health.
  python3 load-tests/abuse/attack.py PORT wildcard-loop [SECONDS]
      one socket that never reads loops subscribe/unsubscribe of book.*.* and candles.*.*.*;
      meanwhile a second socket pings and /metrics is fetched; prints the worst round trips,
      how the attacker's socket ended and the server's peak RSS (with --pid PID).
"""
import base64, json, os, socket, sys, threading, time, urllib.request


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise OSError("closed during the handshake")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    if b" 101 " not in head.split(b"\r\n")[0]:
        raise OSError(head.split(b"\r\n")[0].decode())
    return s, rest


def send(s, text):
    payload = text.encode()
    mask = os.urandom(4)
    n = len(payload)
    header = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126, n >> 8, n & 0xFF]))
    s.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def read_frame(s, buf):
    while True:
        if len(buf) >= 2:
            n, off = buf[1] & 0x7F, 2
            if n == 126 and len(buf) >= 4:
                n, off = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127 and len(buf) >= 10:
                n, off = int.from_bytes(buf[2:10], "big"), 10
            if n < 126 or off > 2:
                if len(buf) >= off + n:
                    return buf[0] & 0x0F, buf[off:off + n], buf[off + n:]
        chunk = s.recv(65536)
        if not chunk:
            return None, b"", buf
        buf += chunk


def rss(pid):
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None


def made_up(port, connections, per):
    counts = {"ack": 0, "error": {}}
    lock = threading.Lock()

    def one(c):
        s, buf = connect(port)
        for i in range(per):
            send(s, json.dumps({"op": "subscribe", "id": i, "channels": ["trades.binance.PH%d_%dZ" % (c, i)]}))
            while True:
                op, payload, buf = read_frame(s, buf)
                if op is None:
                    return
                if op == 1:
                    m = json.loads(payload)
                    with lock:
                        if m.get("type") == "ack":
                            counts["ack"] += 1
                        else:
                            counts["error"][m.get("code")] = counts["error"].get(m.get("code"), 0) + 1
                    if m.get("code") == "rate_limited":
                        time.sleep(0.05)
                    break
        s.close()

    start = time.time()
    threads = [threading.Thread(target=one, args=(c,)) for c in range(connections)]
    for t in threads: t.start()
    for t in threads: t.join()
    health = json.load(urllib.request.urlopen("http://127.0.0.1:%d/api/v1/health" % port))
    print(json.dumps({"scenario": "made-up", "seconds": round(time.time() - start, 1), "acked": counts["ack"],
                      "errors": counts["error"], "bus_channels": health["bus"]["channels"]}))


def wildcard_loop(port, seconds, pid):
    stop = threading.Event()
    worst = {"ping": 0.0, "metrics": 0.0, "unanswered": 0, "samples": 0, "peak_rss": rss(pid) if pid else None}

    def bystander():
        s, buf = connect(port)
        i = 0
        while not stop.is_set():
            i += 1
            t0 = time.time()
            send(s, json.dumps({"op": "ping", "id": i}))
            while True:
                op, payload, buf = read_frame(s, buf)
                if op is None:
                    worst["unanswered"] += 1
                    return
                if op == 1 and json.loads(payload).get("id") == i:
                    break
            worst["ping"] = max(worst["ping"], time.time() - t0)
            t0 = time.time()
            urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=30).read()
            worst["metrics"] = max(worst["metrics"], time.time() - t0)
            worst["samples"] += 1
            if pid:
                worst["peak_rss"] = max(worst["peak_rss"] or 0, rss(pid) or 0)
            time.sleep(0.2)

    b = threading.Thread(target=bystander)
    b.start()
    a = socket.create_connection(("127.0.0.1", port))
    a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    a.close()
    a, _ = connect(port)
    a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    start, sent, ended = time.time(), 0, "still open"
    try:
        while time.time() - start < seconds:
            for ch in (["book.*.*"], ["candles.*.*.*"]):
                send(a, json.dumps({"op": "subscribe", "id": sent, "channels": ch}))
                send(a, json.dumps({"op": "unsubscribe", "id": sent, "channels": ch}))
                sent += 1
    except OSError as e:
        ended = "closed by the server after %.1f s (%s)" % (time.time() - start, type(e).__name__)
    stop.set()
    b.join()
    print(json.dumps({"scenario": "wildcard-loop", "requests_sent": sent * 2, "attacker": ended,
                      "bystander_worst_ping_s": round(worst["ping"], 3), "metrics_worst_s": round(worst["metrics"], 3),
                      "bystander_samples": worst["samples"], "unanswered": worst["unanswered"],
                      "server_peak_rss_mb": round(worst["peak_rss"] / 2**20, 1) if worst["peak_rss"] else None}))


if __name__ == "__main__":
    port, scenario = int(sys.argv[1]), sys.argv[2]
    pid = int(sys.argv[sys.argv.index("--pid") + 1]) if "--pid" in sys.argv else None
    args = [a for a in sys.argv[3:] if a != "--pid" and a != str(pid)]
    if scenario == "made-up":
        made_up(port, int(args[0]) if args else 40, int(args[1]) if len(args) > 1 else 1000)
    else:
        wildcard_loop(port, float(args[0]) if args else 30, pid)
