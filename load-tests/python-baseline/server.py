#!/usr/bin/env python3
"""Stand-in fan-out publisher with the `gateway bench-fanout` contract (load-tests/FANOUT.md).

Serves ws://127.0.0.1:PORT/ws, waits until --clients connections subscribed to --channel, waits
0.5 s, publishes --count trade events (~190 bytes, `pub_ns` = CLOCK_REALTIME ns in `data`) at
--rate per second (0 = as fast as possible) with websockets.broadcast, sends every client
{"type":"end","sent":M}, prints its RSS and CPU as one JSON line and exits.
It is also the Python baseline: one asyncio thread, the `websockets` package (pip install websockets).
"""
import argparse
import asyncio
import json
import os
import resource
import time

import websockets
from websockets.asyncio.server import broadcast, serve

EPOCH = "x"


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return None


def cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class Fanout:
    def __init__(self, args):
        self.args = args
        self.subscribers = set()
        self.all_subscribed = asyncio.Event()

    async def handle(self, ws):
        if ws.request.path != "/ws":
            await ws.close(1008, "path")
            return
        try:
            async for message in ws:
                try:
                    msg = json.loads(message)
                except ValueError:
                    await ws.send(json.dumps({"type": "error", "code": "bad_json", "message": "not JSON"}))
                    continue
                if msg.get("op") == "subscribe":
                    channels = [c for c in msg.get("channels", []) if c == self.args.channel]
                    entries = [{"ch": c, "seq": 0, "epoch": EPOCH, "recovered": True} for c in channels]
                    await ws.send(json.dumps({"type": "ack", "id": msg.get("id"), "channels": entries}, separators=(",", ":")))
                    if channels:
                        self.subscribers.add(ws)
                        if len(self.subscribers) >= self.args.clients:
                            self.all_subscribed.set()
                elif msg.get("op") == "ping":
                    await ws.send(json.dumps({"type": "pong", "id": msg.get("id")}))
        except websockets.ConnectionClosed:
            pass  # clients drop the connection once they have the end frame
        finally:
            self.subscribers.discard(ws)

    def frame(self, seq):
        # Built per event, as a real publisher would; pub_ns last so it is taken as late as possible.
        return (
            '{"ch":"%s","seq":%d,"epoch":"%s","type":"trade","data":{"venue":"bench","symbol":"BTC-USDT",'
            '"ts":"2024-08-08T12:00:00.000000Z","id":"%d","price":"61234.5","qty":"0.0123","side":"buy","pub_ns":%d}}'
            % (self.args.channel, seq, EPOCH, seq, time.time_ns())
        )

    async def drain(self):
        # broadcast() buffers without limit; keep every client's buffer small so an unpaced run
        # measures delivery, not buffering.
        while any(ws.transport.get_write_buffer_size() > 1 << 20 for ws in self.subscribers):
            await asyncio.sleep(0.001)

    async def publish(self):
        a = self.args
        await self.all_subscribed.wait()
        await asyncio.sleep(0.5)
        clients = list(self.subscribers)
        rss_subscribed = rss_bytes()
        cpu0, t0 = cpu_seconds(), time.monotonic()
        seq = 0
        while seq < a.count:
            if a.rate > 0:
                due = min(a.count, int((time.monotonic() - t0) * a.rate) + 1)
                while seq < due:
                    seq += 1
                    broadcast(clients, self.frame(seq))
                await asyncio.sleep(max(0.0, t0 + seq / a.rate - time.monotonic()))
            else:
                seq += 1
                broadcast(clients, self.frame(seq))
                if seq % 16 == 0:
                    await self.drain()
                    await asyncio.sleep(0)
        end = json.dumps({"type": "end", "sent": a.count}, separators=(",", ":"))
        broadcast(clients, end)
        await self.drain()
        t1, cpu1 = time.monotonic(), cpu_seconds()
        print(json.dumps({
            "clients": len(clients), "sent": a.count, "publish_s": round(t1 - t0, 3),
            "events_per_s": round(a.count / (t1 - t0), 1) if t1 > t0 else None,
            "rss_subscribed_bytes": rss_subscribed, "rss_end_bytes": rss_bytes(),
            "publish_cpu_s": round(cpu1 - cpu0, 3), "cpu_pct": round((cpu1 - cpu0) / (t1 - t0) * 100, 1) if t1 > t0 else None,
        }), flush=True)


async def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--clients", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--rate", type=float, default=0)
    p.add_argument("--channel", default="trades.bench.BTC-USDT")
    args = p.parse_args()
    fanout = Fanout(args)
    # No compression (the generators do not offer it) and a backlog for 10,000 connects.
    async with serve(fanout.handle, "127.0.0.1", args.port, compression=None, backlog=4096,
                     max_queue=None, ping_interval=None):
        print(json.dumps({"listening": args.port, "pid": os.getpid()}), flush=True)
        await fanout.publish()
        await asyncio.sleep(0.2)  # let the end frames leave before closing


if __name__ == "__main__":
    asyncio.run(main())
