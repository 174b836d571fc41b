#!/usr/bin/env python3
"""Checks a running gateway's /ws against docs/asyncapi.yaml: every frame it sends must match the
schema of its message, and every request this script sends must match the document too.

    python scripts/check-asyncapi.py --base http://127.0.0.1:8080 --token "$DEMO_TOKEN" --user demo

It sends good and bad requests (ping, broken JSON, an unknown op, a bad channel, a private channel
before auth, auth, subscriptions to every public kind and the user's private channels), places one
small paper order over the HTTP API so an execution arrives, listens for --seconds, and prints a
JSON summary. Exit status 1 when a frame or request does not match, or an expected kind never came.
Needs PyYAML, jsonschema_rs (both come with schemathesis) and websockets.
"""

import argparse
import asyncio
import json
import sys
import urllib.request

import jsonschema_rs
import websockets
import yaml

EXPECTED = {"pong", "error", "ack", "authAck", "trade", "candle", "bookSnapshot", "execution"}
DATA = {
    "trade": "Trade", "candle": "Candle", "book_snapshot": "BookSnapshot", "ticker": "Ticker", "status": "Status",
    "execution": "Execution", "mood_update": "MoodUpdate", "signal": "Signal",
}


def validators(doc):
    """One validator per message of components.messages; refs resolve inside the document."""
    out = {}
    for name in doc["components"]["messages"]:
        schema = {"$ref": f"#/components/messages/{name}/payload", "components": doc["components"]}
        out[name] = jsonschema_rs.Draft202012Validator(schema, validate_formats=True)
    return out


def message_of(frame):
    kind = frame.get("type")
    if kind == "ack":
        return "AuthAck" if "user" in frame else "Ack"
    if kind in ("error", "pong", "session"):
        return kind.capitalize()
    return DATA.get(kind)


async def run(args, doc):
    checks = validators(doc)
    problems = []
    seen = {}
    codes = set()

    async def send(ws, message, name):
        # name None: a deliberately bad request, which the document does not describe.
        errors = [e.message for e in checks[name].iter_errors(message)] if name else []
        if errors:
            problems.append(f"request {message} does not match {name}: {errors}")
        await ws.send(message if isinstance(message, str) else json.dumps(message))

    ws_url = args.base.replace("http://", "ws://").replace("https://", "wss://") + "/ws"
    async with websockets.connect(ws_url, max_size=2**22) as ws:
        await send(ws, {"op": "ping", "id": 1}, "Ping")
        await send(ws, "this is not JSON", None)
        await send(ws, {"op": "dance", "id": 2}, None)
        await send(ws, {"op": "subscribe", "id": 3, "channels": ["nonsense.binance.BTC-USDT"]}, None)
        await send(ws, {"op": "subscribe", "id": 4, "channels": [f"mood.{args.user}"]}, "Subscribe")  # before auth
        await send(ws, {"op": "auth", "id": 5, "token": args.token}, "Auth")
        await send(ws, {"op": "subscribe", "id": 6, "channels": [
            "trades.*.*", "book.*.*", "candles.1m.*.*", "ticker.*.*", "status.*", "signals.*.*",
            f"executions.{args.user}", f"mood.{args.user}"]}, "Subscribe")
        await send(ws, {"op": "subscribe", "id": 7, "channels": ["mood.someone-else"]}, "Subscribe")

        async def order():
            await asyncio.sleep(2)
            body = json.dumps({"venue": "binance", "symbol": "BTC-USDT", "side": "buy", "type": "market",
                               "quantity": "0.0005"}).encode()
            request = urllib.request.Request(args.base + "/api/v1/trading/execute", data=body, method="POST", headers={
                "Authorization": "Bearer " + args.token, "Content-Type": "application/json"})
            try:
                await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=10).read())
            except Exception as e:  # the frame check below reports the missing execution
                problems.append(f"order failed: {e!r}")

        placing = asyncio.create_task(order())
        deadline = asyncio.get_running_loop().time() + args.seconds
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            try:
                text = await asyncio.wait_for(ws.recv(), left)
            except asyncio.TimeoutError:
                break
            frame = json.loads(text)
            name = message_of(frame)
            if name is None:
                problems.append(f"frame of no documented message: {text[:300]}")
                continue
            errors = [e.message for e in checks[name].iter_errors(frame)]
            if errors:
                problems.append(f"{name} frame does not match: {errors[:3]} in {text[:300]}")
            key = name[0].lower() + name[1:]
            seen[key] = seen.get(key, 0) + 1
            if name == "Error":
                codes.add(frame["code"])
        await send(ws, {"op": "unsubscribe", "id": 8, "channels": ["trades.*.*"]}, "Unsubscribe")
        await placing

    # A private channel before auth is `unauthorized`; another user's is `forbidden`.
    for want in ("bad_json", "unknown_op", "bad_channel", "unauthorized", "forbidden"):
        if want not in codes:
            problems.append(f"no {want} error came back")
    missing = EXPECTED - set(seen)
    if missing:
        problems.append(f"never received: {sorted(missing)}")
    print(json.dumps({"seen": seen, "error_codes": sorted(codes), "problems": problems}, indent=1))
    return 1 if problems else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--doc", default="docs/asyncapi.yaml")
    parser.add_argument("--base", required=True, help="the gateway's HTTP base, e.g. http://127.0.0.1:8080")
    parser.add_argument("--token", required=True, help="a user's JWT")
    parser.add_argument("--user", required=True, help="that user's id")
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    with open(args.doc) as f:
        doc = yaml.safe_load(f)
    return asyncio.run(run(args, doc))


if __name__ == "__main__":
    sys.exit(main())
