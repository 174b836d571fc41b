// Shared helpers of the gateway's pages: DOM building, JSON fetches, number text, the /ws client.
// Plain browser JavaScript (no build step, no modules from a registry): the files are served as they are.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

/** Creates an element: el("td", {class: "num", "data-metric": "x"}, "text", child…). */
function el(tag, attrs, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG_NS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** Replaces the children of `node` (an element or its id). */
function fill(node, ...children) {
  const n = typeof node === "string" ? document.getElementById(node) : node;
  n.replaceChildren(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
  return n;
}

/** Sets an element's text only when it changed (no layout work for unchanged figures). */
function setText(node, text) {
  const t = String(text);
  if (node.textContent !== t) node.textContent = t;
}

/** A JSON request; throws an Error carrying the API's `{"error":{code,message}}` on failure. */
async function api(path, options = {}) {
  const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
  if (options.token) headers.Authorization = "Bearer " + options.token;
  let body;
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  const response = await fetch(path, { method: options.method || "GET", headers, body });
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { /* not JSON */ }
  if (!response.ok) {
    const e = new Error((json && json.error && json.error.message) || response.status + " " + response.statusText);
    e.status = response.status;
    e.code = json && json.error && json.error.code;
    e.body = json;
    throw e;
  }
  return json;
}

/** A rate or count as page text: integers as they are, other numbers with `digits` decimals. */
function numberText(v, digits = 1) {
  if (v === undefined || v === null || Number.isNaN(v)) return "–";
  return Number.isInteger(v) ? String(v) : v.toFixed(digits);
}

function bytesHint(v) {
  if (!(v >= 0)) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return v.toFixed(i ? 1 : 0) + " " + units[i];
}

function durationHint(seconds) {
  if (!(seconds >= 60)) return "";
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return (d ? d + "d " : "") + (d || h ? h + "h " : "") + (d || h || m ? m + "m " : "") + (s % 60) + "s";
}

/** HH:MM:SS (UTC) of an ISO-8601 time. */
function clockText(iso) {
  return iso ? iso.slice(11, 19) : "";
}

/** The `sub` of a JWT (its user), without verifying it: the server does that on every request. */
function tokenSubject(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload + "===".slice((payload.length + 3) % 4))).sub || null;
  } catch (_) {
    return null;
  }
}

/**
 * The gateway's websocket (/ws, docs/asyncapi.yaml): subscribes, re-subscribes after a reconnect
 * (resuming each channel from the last seq seen), and hands data frames to `onData(frame)`.
 */
class GatewaySocket {
  constructor({ onData, onState, token }) {
    this.onData = onData;
    this.onState = onState || (() => {});
    this.token = token || null;
    this.channels = new Set();
    this.positions = {}; // ch -> {seq, epoch}
    this.nextID = 1;
    this.waiting = new Map();
    this.retry = 500;
    this.closed = false;
    this.connect();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(scheme + "//" + location.host + "/ws");
    this.ws = ws;
    this.onState("connecting");
    ws.onopen = () => {
      this.retry = 500;
      this.onState("open");
      if (this.token) this.request({ op: "auth", token: this.token });
      if (this.channels.size) this.sendSubscribe([...this.channels], true);
    };
    ws.onmessage = (m) => this.receive(JSON.parse(m.data));
    ws.onclose = () => {
      this.onState("closed");
      if (this.closed) return;
      setTimeout(() => this.connect(), this.retry);
      this.retry = Math.min(this.retry * 2, 10000);
    };
    // A failed connection also closes; onclose retries.
    ws.onerror = () => {};
  }

  receive(f) {
    if (f.type === "ack" || f.type === "error" || f.type === "pong") {
      const done = this.waiting.get(f.id);
      if (done) {
        this.waiting.delete(f.id);
        done(f);
      }
      if (f.type === "ack") for (const c of f.channels || []) this.positions[c.ch] = { seq: c.seq, epoch: c.epoch };
      return;
    }
    if (f.ch) this.positions[f.ch] = { seq: f.seq, epoch: f.epoch };
    this.onData(f);
  }

  /** Sends a request; resolves with its ack/error/pong. */
  request(message) {
    const id = this.nextID++;
    // Not connected: nothing is sent; the next open authenticates and subscribes again anyway.
    if (this.ws.readyState !== WebSocket.OPEN) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.ws.send(JSON.stringify(Object.assign({ id }, message)));
    });
  }

  sendSubscribe(channels, resume) {
    const message = { op: "subscribe", channels };
    if (resume) {
      const since = {};
      for (const ch of channels) if (this.positions[ch]) since[ch] = this.positions[ch];
      if (Object.keys(since).length) message.since = since;
    }
    return this.request(message);
  }

  subscribe(channels) {
    for (const ch of channels) this.channels.add(ch);
    return this.sendSubscribe(channels, false);
  }

  unsubscribe(channels) {
    for (const ch of channels) {
      this.channels.delete(ch);
      delete this.positions[ch];
    }
    return this.request({ op: "unsubscribe", channels });
  }
}
