#!/usr/bin/env python3
"""Records what a real nats-server sends to a client, for the parser's drip-feed tests.

    python3 capture.py PORT > server-session.bin

Start the server first: `nats-server -a 127.0.0.1 -p PORT`. The script speaks the client side by
hand (verbose mode, so the server answers +OK), publishes plain, empty, reply-to and header
messages to its own subscriptions, asks a subject nobody serves (no-responders status 503), and
ends with an unknown operation so the server answers -ERR and closes.
"""
import socket
import sys
import time



def hpub(subject, reply, headers, payload):
    head = b"HPUB " + subject + (b" " + reply if reply else b"")
    return head + b" %d %d\r\n" % (len(headers), len(headers) + len(payload)) + headers + payload + b"\r\n"


port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(2)
lines = [
    b'CONNECT {"verbose":true,"pedantic":false,"headers":true,"no_responders":true,"protocol":1,"lang":"python","version":"capture"}\r\n',
    b"SUB md.trades.binance.BTC-USDT 1\r\n",
    b"SUB md.> q1 2\r\n",
    b"SUB _INBOX.capture.* 3\r\n",
    b"PUB md.trades.binance.BTC-USDT 11\r\nhello world\r\n",
    b"PUB md.empty 0\r\n\r\n",
    b"PUB md.reply _INBOX.capture.r1 5\r\nquery\r\n",
    hpub(b"md.headers", None, b"NATS/1.0\r\nNats-Msg-Id: abc-1\r\nX-Multi: a\r\nX-Multi: b\r\n\r\n", b"bytes"),
    b"PUB md.binary 4\r\n\x00\r\n\xff\r\n",
    hpub(b"nobody.home", b"_INBOX.capture.r2", b"NATS/1.0\r\n\r\n", b""),
    b"PING\r\n",
]
for line in lines:
    s.sendall(line)
    time.sleep(0.05)
time.sleep(0.3)
s.sendall(b"BOGUS\r\n")
received = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        received += chunk
except socket.timeout:
    pass
sys.stdout.buffer.write(received)
