#!/usr/bin/env python3
"""A websocket client that subscribes and then never reads (the load tests' slow consumer).

    python3 load-tests/slow-client/slow_client.py --port P [--channel trades.bench.BTC-USDT] [--hold 60]

Sends the upgrade and one masked subscribe frame on a socket with a small receive buffer, then
sleeps for --hold seconds without reading; prints how the connection ended (the server's 4008
close frame is only seen by reading, so this reports whether the socket was closed under it).
"""
import argparse, base64, json, os, socket, struct, time

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--channel", default="trades.bench.BTC-USDT")
p.add_argument("--hold", type=float, default=60)
a = p.parse_args()

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", a.port))
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
resp = b""
while b"\r\n\r\n" not in resp:
    resp += s.recv(1)
payload = json.dumps({"op": "subscribe", "id": 1, "channels": [a.channel]}).encode()
mask = os.urandom(4)
s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
print("slow client subscribed; not reading", flush=True)
time.sleep(a.hold)
# Now read what is left, to see the close code.
s.settimeout(5)
data = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    pass
i = data.rfind(b"\x88")
code = struct.unpack(">H", data[i + 2:i + 4])[0] if i >= 0 and len(data) >= i + 4 else None
print(json.dumps({"bytes_after_hold": len(data), "close_code": code}))
