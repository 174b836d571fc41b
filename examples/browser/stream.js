// A minimal browser client of the gateway's /ws stream: subscribe, show each event, notice gaps.
// The protocol is docs/asyncapi.yaml; the same page works against `gateway demo` or `gateway serve`.
"use strict";

const params = new URLSearchParams(location.search);
const url = params.get("ws") || "ws://127.0.0.1:8080/ws";
const channels = (params.get("channels") || "trades.binance.BTC-USDT,candles.1m.binance.BTC-USDT,book.binance.BTC-USDT").split(",");
const seen = {}; // event type -> count
const lastSeq = {}; // channel -> seq
let frames = 0;
let gaps = 0;

function show(text, cls) {
  const row = document.createElement("tr");
  const cell = document.createElement("td");
  cell.textContent = text;
  if (cls) cell.className = cls;
  row.append(cell);
  const body = document.getElementById("events");
  body.prepend(row);
  while (body.children.length > 100) body.lastChild.remove();
}

function describe(f) {
  const d = f.data;
  switch (f.type) {
    case "trade": return `${f.ch} trade ${d.side} ${d.qty} @ ${d.price}`;
    case "candle": return `${f.ch} candle ${d.start} O ${d.open} H ${d.high} L ${d.low} C ${d.close}${d.closed ? " (closed)" : ""}`;
    case "book_snapshot": return `${f.ch} book bid ${d.best_bid} / ask ${d.best_ask}, spread ${d.spread}`;
    case "status": return `${f.ch} status ${d.event}: ${d.detail}`;
    default: return `${f.ch} ${f.type}`;
  }
}

const ws = new WebSocket(url);
ws.onopen = () => {
  document.getElementById("state").textContent = "open";
  ws.send(JSON.stringify({ op: "subscribe", id: 1, channels }));
};
ws.onmessage = (message) => {
  const f = JSON.parse(message.data);
  if (f.type === "error") {
    show(`error ${f.code}: ${f.message}`, "sell");
    document.body.dataset.error = f.code;
    return;
  }
  if (f.type === "ack") {
    for (const c of f.channels || []) if (c.seq !== undefined) lastSeq[c.ch] = c.seq;
    show("subscribed: " + (f.channels || []).map((c) => c.ch).join(", "));
    document.body.dataset.subscribed = "true";
    return;
  }
  if (!f.ch) return;
  // seq grows by one per channel; a jump (other than a conflated book or candle) is a gap.
  if (lastSeq[f.ch] !== undefined && f.seq > lastSeq[f.ch] + 1 && !f.conflated) gaps += 1;
  lastSeq[f.ch] = f.seq;
  frames += 1;
  seen[f.type] = (seen[f.type] || 0) + 1;
  show(describe(f), f.type === "trade" ? f.data.side : "");
  document.getElementById("count").textContent = String(frames);
  document.body.dataset.frames = String(frames);
  document.body.dataset.types = Object.keys(seen).sort().join(",");
  document.body.dataset.gaps = String(gaps);
};
ws.onclose = (e) => {
  document.getElementById("state").textContent = "closed (" + e.code + ")";
  document.body.dataset.closed = String(e.code);
};
