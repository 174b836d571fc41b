#!/usr/bin/env python3
"""Streams market data from a MarketGateway (docs/asyncapi.yaml) and prints one line per event.

    pip install websockets
    python examples/python/stream.py                                   # gateway demo on :8080
    python examples/python/stream.py --url ws://127.0.0.1:8080/ws \\
        --channel trades.binance.BTC-USDT --channel candles.1m.binance.BTC-USDT --count 20
    python examples/python/stream.py --token "$TOKEN" --channel executions.demo

It subscribes, follows each channel's `seq` (a jump means missed events: it resubscribes with
`since`, and the server says whether it could resend them), answers nothing else, and exits after
`--count` data frames (0: never). Exit status 0 when it got them, 1 otherwise.
"""

import argparse
import asyncio
import json
import sys

import websockets


async def stream(url, channels, count, token, timeout):
    seen = 0
    positions = {}  # channel -> {"seq": N, "epoch": "..."}
    async with websockets.connect(url, max_size=2**22) as ws:
        next_id = 1
        if token:
            await ws.send(json.dumps({"op": "auth", "id": next_id, "token": token}))
            next_id += 1
        await ws.send(json.dumps({"op": "subscribe", "id": next_id, "channels": channels}))
        while count == 0 or seen < count:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
            kind = frame.get("type")
            if kind == "error":
                print(f"error {frame['code']}: {frame['message']}", file=sys.stderr)
                return 1
            if kind == "ack":
                for c in frame.get("channels", []):
                    if "seq" in c:
                        positions[c["ch"]] = {"seq": c["seq"], "epoch": c["epoch"]}
                print(f"ack {json.dumps(frame.get('channels', frame.get('user')))}")
                continue
            if kind == "pong" or "ch" not in frame:
                continue
            ch, seq = frame["ch"], frame["seq"]
            last = positions.get(ch)
            if last and last["epoch"] == frame["epoch"] and seq > last["seq"] + 1 and not frame.get("conflated"):
                # Missed events: ask for them (the server resends them, or says recovered: false).
                await ws.send(json.dumps({"op": "subscribe", "id": next_id, "channels": [ch], "since": {ch: last}}))
                next_id += 1
            positions[ch] = {"seq": seq, "epoch": frame["epoch"]}
            print(describe(frame))
            seen += 1
    return 0


def describe(frame):
    d = frame["data"]
    kind = frame["type"]
    where = f"{frame['ch']} #{frame['seq']}"
    if kind == "trade":
        return f"{where} trade {d['side']} {d['qty']} @ {d['price']} ({d['ts']})"
    if kind == "candle":
        state = "closed" if d["closed"] else "open"
        return f"{where} candle {d['start']} O {d['open']} H {d['high']} L {d['low']} C {d['close']} V {d['volume']} {state}"
    if kind == "book_snapshot":
        return f"{where} book bid {d['best_bid']} ask {d['best_ask']} spread {d['spread']} ({len(d['bids'])}x{len(d['asks'])} levels)"
    if kind == "execution":
        return f"{where} execution {d['side']} {d['qty']} {d['symbol']} @ {d['price']} fee {d['fee']} {d['fee_asset']}"
    if kind == "mood_update":
        return f"{where} mood {d['score']} {d['state']}: {d['reason']}"
    if kind == "status":
        return f"{where} status {d['event']} {d['detail']}"
    return f"{where} {kind} {json.dumps(d)}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="ws://127.0.0.1:8080/ws")
    parser.add_argument("--channel", action="append", dest="channels",
                        help="channel or pattern (repeatable); default trades, 1m candles and books of binance BTC-USDT")
    parser.add_argument("--count", type=int, default=0, help="exit after this many data frames (0: run until stopped)")
    parser.add_argument("--token", help="a user's JWT, for executions.<user> and mood.<user>")
    parser.add_argument("--timeout", type=float, default=30, help="seconds to wait for any frame")
    args = parser.parse_args()
    channels = args.channels or ["trades.binance.BTC-USDT", "candles.1m.binance.BTC-USDT", "book.binance.BTC-USDT"]
    try:
        return asyncio.run(stream(args.url, channels, args.count, args.token, args.timeout))
    except (asyncio.TimeoutError, OSError, websockets.WebSocketException) as e:
        print(f"stream failed: {e!r}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
