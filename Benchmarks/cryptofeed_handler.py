#!/usr/bin/env python3
"""cryptofeed's own Binance handler over the frames of a gateway capture (docs/performance.md
"Against cryptofeed, same run"). Each `ws` frame goes through `Binance.message_handler` (JSON
parse with Decimal floats, the aggTrade → Trade normalization, the callback dispatch) with a
callback that does nothing, as its feed loop would call it. The symbol table is set locally
(no network). Prints the CPU seconds of the handler loop alone and of the whole process.

usage: cryptofeed_handler.py CAPTURE.jsonl
"""
import asyncio
import json
import resource
import sys
import time

from cryptofeed.defines import TRADES
from cryptofeed.exchanges import Binance
from cryptofeed.symbols import Symbols


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def main(path):
    frames = []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r.get("kind") == "ws":
                frames.append((r["frame"], r["recv_ns"] / 1e9))
    Symbols.set(Binance.id, {"BTC-USDT": "BTCUSDT"}, {"tick_size": {}, "instrument_type": {"BTC-USDT": "spot"}})
    seen = 0

    async def trade(t, receipt):
        nonlocal seen
        seen += 1

    feed = Binance(symbols=["BTC-USDT"], channels=[TRADES], callbacks={TRADES: trade})
    start_cpu, start_wall = cpu(), time.perf_counter()
    for frame, ts in frames:
        await feed.message_handler(frame, None, ts)
    handler_cpu, wall = cpu() - start_cpu, time.perf_counter() - start_wall
    print(json.dumps({"frames": len(frames), "trades": seen, "handler_cpu_s": round(handler_cpu, 3),
                      "handler_wall_s": round(wall, 3), "process_cpu_s": round(cpu(), 3)}))


asyncio.run(main(sys.argv[1]))
