// The market page: venue and instrument picker, 1m/5m candles (history from the store through
// GET /api/v1/market/ohlcv, live from /ws), the order book ladder (top 20, valid or resyncing), the
// trade tape, and with a user token (#token=… or the token field) the paper-trading panel.
"use strict";

const MAX_CANDLES = 90;
const MAX_TRADES = 50;
const LEVELS = 20;

const view = {
  venue: null,
  symbol: null,
  interval: "1m",
  intervals: ["1m", "5m"],
  instruments: [],
  candles: new Map(), // start -> candle
  channels: [],
  book: null,
  bookState: "waiting",
  trades: [],
  token: null,
  user: null,
  fills: new Map(), // fill_id -> execution
  socket: null,
  drawPending: false,
};

const $ = (id) => document.getElementById(id);

// MARK: instrument picker

function instrumentChannels() {
  const v = view.venue, s = view.symbol;
  return [`candles.${view.interval}.${v}.${s}`, `book.${v}.${s}`, `trades.${v}.${s}`, `status.${v}`];
}

function fillPickers() {
  const venues = [...new Set(view.instruments.map((i) => i.venue))];
  fill("venue", venues.map((v) => el("option", { value: v, selected: v === view.venue }, v)));
  const symbols = view.instruments.filter((i) => i.venue === view.venue).map((i) => i.symbol);
  fill("symbol", symbols.map((s) => el("option", { value: s, selected: s === view.symbol }, s)));
  fill(
    "intervals",
    view.intervals.map((i) =>
      el("button", { type: "button", class: i === view.interval ? "ok" : "", "data-interval": i, onclick: () => select(view.venue, view.symbol, i) }, i)
    )
  );
}

async function select(venue, symbol, interval) {
  if (view.channels.length) view.socket.unsubscribe(view.channels);
  view.venue = venue;
  view.symbol = symbol;
  view.interval = interval;
  view.candles = new Map();
  view.book = null;
  view.bookState = "waiting";
  view.trades = [];
  const query = new URLSearchParams({ venue, symbol, interval });
  history.replaceState(null, "", "?" + query.toString() + location.hash);
  fillPickers();
  renderBook();
  renderTrades();
  drawChart();
  view.channels = instrumentChannels();
  view.socket.subscribe(view.channels);
  try {
    const r = await api(`/api/v1/market/ohlcv/${encodeURIComponent(symbol)}?` + new URLSearchParams({ venue, interval, limit: MAX_CANDLES }));
    if (view.venue !== venue || view.symbol !== symbol || view.interval !== interval) return;
    // Live updates that arrived first are newer than the store's rows.
    for (const c of r.candles) if (!view.candles.has(c.start)) view.candles.set(c.start, Object.assign(c, { source: "store" }));
    setText($("chart-note"), "history: " + r.candles.length + " stored candles (GET /api/v1/market/ohlcv); live: /ws " + view.channels[0]);
    drawChart();
  } catch (e) {
    setText($("chart-note"), "history unavailable: " + e.message);
  }
}

// MARK: candles

function drawChart() {
  if (view.drawPending) return;
  view.drawPending = true;
  requestAnimationFrame(() => {
    view.drawPending = false;
    const candles = [...view.candles.values()].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0)).slice(-MAX_CANDLES);
    drawCandles($("chart"), candles);
    setText($("chart-title"), `${view.venue} ${view.symbol} ${view.interval} · ${candles.length} candles`);
  });
}

function onCandle(c) {
  if (c.venue !== view.venue || c.symbol !== view.symbol || c.interval !== view.interval) return;
  view.candles.set(c.start, Object.assign(c, { source: "live" }));
  if (view.candles.size > MAX_CANDLES * 2) {
    const keep = [...view.candles.keys()].sort().slice(-MAX_CANDLES);
    view.candles = new Map(keep.map((k) => [k, view.candles.get(k)]));
  }
  drawChart();
}

// MARK: book and trades

function renderBook() {
  const state = $("book-state");
  state.className = "badge " + view.bookState;
  setText(state, view.bookState);
  const b = view.book;
  if (!b) {
    fill("asks");
    fill("bids");
    setText($("book-mid"), view.bookState === "resyncing" ? "book resyncing" : "waiting for the book");
    return;
  }
  const row = (side, [price, qty]) => el("tr", { "data-side": side, "data-price": price, "data-qty": qty }, el("td", { class: side }, price), el("td", {}, qty));
  fill("asks", b.asks.slice(0, LEVELS).reverse().map((l) => row("ask", l)));
  fill("bids", b.bids.slice(0, LEVELS).map((l) => row("bid", l)));
  setText($("book-mid"), `spread ${b.spread}  ·  mid ${b.mid}  ·  ${clockText(b.ts)}`);
}

function onBook(b) {
  if (b.venue !== view.venue || b.symbol !== view.symbol) return;
  view.book = b;
  view.bookState = b.valid === false ? "resyncing" : "valid";
  renderBook();
}

function onStatus(s) {
  // Book resets and resyncs of this instrument (or the whole venue) make the ladder untrustworthy
  // until the next snapshot; the ladder says so instead of showing a stale book as valid.
  if (s.symbol && s.symbol !== view.symbol) return;
  if (["book_reset", "resync", "gap", "checksum_failed", "crossed", "disconnected", "stale"].includes(s.event)) {
    view.bookState = "resyncing";
    renderBook();
  }
}

function renderTrades() {
  fill(
    "trades",
    view.trades.map((t) =>
      el("tr", { "data-trade-id": t.id }, el("td", {}, clockText(t.ts)), el("td", { class: t.side }, t.side), el("td", { class: t.side }, t.price), el("td", {}, t.qty))
    )
  );
}

function onTrade(t) {
  if (t.venue !== view.venue || t.symbol !== view.symbol) return;
  view.trades.unshift(t);
  if (view.trades.length > MAX_TRADES) view.trades.length = MAX_TRADES;
  renderTrades();
}

// MARK: paper trading

async function useToken(token) {
  const user = tokenSubject(token);
  if (!user) {
    setText($("order-result"), "that is not a JWT");
    return;
  }
  view.token = token;
  view.user = user;
  sessionStorage.setItem("gateway-token", token);
  $("trading").hidden = false;
  setText($("trading-user"), "user " + user);
  view.socket.token = token;
  await view.socket.request({ op: "auth", token });
  view.socket.subscribe([`executions.${user}`, `mood.${user}`]);
  await Promise.all([loadExecutions(), refreshAccount(), loadMood(), loadAgents()]);
}

function reportError(target, e) {
  const failed = (e.body && e.body.error && e.body.error.checks ? e.body.error.checks : []).filter((c) => !c.passed);
  fill(target, el("span", { class: "error" }, (e.code ? e.code + ": " : "") + e.message), failed.length ? el("ul", {}, failed.map((c) => el("li", {}, c.check + ": " + c.detail))) : null);
}

async function placeOrder(event) {
  event.preventDefault();
  const type = $("order-type").value;
  const body = { venue: view.venue, symbol: view.symbol, side: $("order-side").value, type, quantity: $("order-qty").value.trim() };
  if (type === "limit") body.limit_price = $("order-price").value.trim();
  setText($("order-result"), "placing…");
  try {
    const r = await api("/api/v1/trading/execute", { method: "POST", token: view.token, body });
    for (const f of r.fills) addExecution(f);
    fill("order-result", el("span", { class: "ok", "data-order-id": r.order_id, "data-status": r.status }, `${r.status}: order ${r.order_id}, ${r.fills.length} fill(s)`));
    refreshAccount();
  } catch (e) {
    reportError("order-result", e);
  }
}

function addExecution(x) {
  if (view.fills.has(x.fill_id)) return;
  view.fills.set(x.fill_id, x);
  renderExecutions();
}

function renderExecutions() {
  const list = [...view.fills.values()].sort((a, b) => (a.ts < b.ts ? 1 : a.ts > b.ts ? -1 : 0)).slice(0, 50);
  fill(
    "executions",
    list.map((x) =>
      el(
        "tr",
        { "data-fill-id": x.fill_id, "data-order-id": x.order_id },
        el("td", {}, clockText(x.ts)),
        el("td", {}, x.fill_id),
        el("td", {}, x.venue + " " + x.symbol),
        el("td", { class: x.side }, x.side),
        el("td", {}, x.qty),
        el("td", {}, x.price),
        el("td", {}, x.fee + " " + x.fee_asset),
        el("td", {}, x.realized_pnl === null ? "–" : x.realized_pnl)
      )
    )
  );
}

async function loadExecutions() {
  try {
    const r = await api("/api/v1/trading/history?limit=50", { token: view.token });
    for (const x of r.fills) addExecution(x);
  } catch (e) {
    reportError("order-result", e);
  }
}

async function refreshAccount() {
  if (!view.token) return;
  try {
    const [portfolio, orders] = await Promise.all([
      api("/api/v1/trading/portfolio", { token: view.token }),
      api("/api/v1/trading/orders", { token: view.token }),
    ]);
    fill("balances", portfolio.balances.map((b) => el("tr", {}, el("td", {}, b.asset), el("td", {}, b.amount), el("td", {}, b.available))));
    fill(
      "positions",
      portfolio.positions.map((p) =>
        el("tr", {}, el("td", {}, p.venue + " " + p.symbol), el("td", {}, p.qty), el("td", {}, p.avg_price), el("td", {}, p.realized_pnl), el("td", {}, p.unrealized_pnl === null ? "–" : p.unrealized_pnl))
      )
    );
    setText($("unrealized"), portfolio.unrealized_pnl);
    fill(
      "orders",
      orders.orders.map((o) =>
        el(
          "tr",
          { "data-order-id": o.order_id },
          el("td", {}, o.order_id),
          el("td", { class: o.side }, o.side),
          el("td", {}, o.limit_price),
          el("td", {}, o.remaining),
          el("td", {}, el("button", { type: "button", onclick: () => cancelOrder(o.order_id) }, "cancel"))
        )
      )
    );
  } catch (e) {
    reportError("order-result", e);
  }
}

async function cancelOrder(id) {
  try {
    await api("/api/v1/trading/orders/" + encodeURIComponent(id), { method: "DELETE", token: view.token });
    setText($("order-result"), "canceled " + id);
  } catch (e) {
    reportError("order-result", e);
  }
  refreshAccount();
}

function renderMood(m) {
  const factors = Object.entries(m.factors || {}).map(([k, v]) => el("li", {}, k.replace("_", " ") + ": " + v));
  fill(
    "mood",
    gauge(m.score, m.score),
    el("div", {}, el("span", { class: "badge " + m.state, id: "mood-state" }, m.state), " ", el("span", { class: "hint" }, clockText(m.ts))),
    el("div", { id: "mood-reason" }, m.reason),
    el("ul", { class: "factors" }, factors)
  );
}

async function loadMood() {
  try {
    renderMood(await api("/api/v1/mood/current", { token: view.token }));
  } catch (e) {
    fill("mood", el("span", { class: "hint" }, "no mood yet: " + e.message));
  }
}

async function loadAgents() {
  try {
    const r = await api("/api/v1/agents", { token: view.token });
    fill(
      "agents",
      r.agents.map((a) =>
        el(
          "tr",
          { "data-agent-id": a.id },
          el("td", {}, a.id),
          el("td", {}, a.strategy),
          el("td", {}, a.venue + " " + a.symbol),
          el("td", {}, String(a.orders)),
          el("td", {}, a.last_result || "–"),
          el("td", {}, el("button", { type: "button", onclick: () => disableAgent(a.id) }, "disable"))
        )
      )
    );
  } catch (e) {
    reportError("agent-result", e);
  }
  loadAgentTree();
}

// The hierarchy (GET /api/v1/agents/tree): each agent with its sub-account's balance, earnings and
// open trades, its children nested under it, and the user's whole portfolio.
function agentNode(a) {
  const earned = a.earned === null ? "–" : a.earned + " (" + a.earned_pct + " %)";
  const trades = a.open_trades.map((t) => t.symbol + " " + t.qty + " @ " + t.avg_price).join(", ") || "none";
  return el(
    "li",
    { "data-agent-id": a.id, "data-generation": String(a.generation), "data-parent": a.parent || "" },
    el("span", { class: "agent-name" }, a.id + " · gen " + a.generation + " · " + a.strategy + " " + a.symbol),
    el("span", { class: "hint" },
      " balance " + (a.balance === null ? "(user's)" : a.balance) + " · earned " + earned + " · open " + trades),
    a.children.length ? el("ul", {}, ...a.children.map(agentNode)) : null
  );
}

async function loadAgentTree() {
  try {
    const t = await api("/api/v1/agents/tree", { token: view.token });
    fill("agent-tree", t.agents.map(agentNode));
    setText($("agent-portfolio"), "portfolio " + t.portfolio.value + " " + t.asset + " (unallocated " + t.portfolio.unallocated + ")");
  } catch (e) {
    reportError("agent-result", e);
  }
}

async function enableAgent(event) {
  event.preventDefault();
  try {
    const body = { strategy: $("agent-strategy").value, venue: view.venue, symbol: view.symbol, quote_amount: $("agent-quote").value.trim() };
    const allocation = $("agent-allocation").value.trim();
    if (allocation) body.allocation = allocation;
    const a = await api("/api/v1/agents", { method: "POST", token: view.token, body });
    setText($("agent-result"), "enabled " + a.id);
  } catch (e) {
    reportError("agent-result", e);
  }
  loadAgents();
}

async function disableAgent(id) {
  try {
    await api("/api/v1/agents/" + encodeURIComponent(id), { method: "DELETE", token: view.token });
  } catch (e) {
    reportError("agent-result", e);
  }
  loadAgents();
}

// MARK: the stream

function onData(f) {
  const d = f.data || {};
  switch (f.type) {
    case "candle": onCandle(d); break;
    case "book_snapshot": onBook(d); break;
    case "trade": onTrade(d); break;
    case "status": onStatus(d); break;
    case "execution": addExecution(d); refreshAccount(); break;
    case "mood_update": renderMood(d); break;
  }
}

function onSocketState(state) {
  const badge = $("socket-state");
  badge.className = "badge " + (state === "open" ? "connected" : state === "closed" ? "closed" : "waiting");
  setText(badge, state);
}

(async () => {
  view.socket = new GatewaySocket({ onData, onState: onSocketState });
  $("order-type").addEventListener("change", () => { $("order-price").disabled = $("order-type").value !== "limit"; });
  $("order-form").addEventListener("submit", placeOrder);
  $("agent-form").addEventListener("submit", enableAgent);
  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    useToken($("token").value.trim());
  });
  $("venue").addEventListener("change", () => {
    const first = view.instruments.find((i) => i.venue === $("venue").value);
    select(first.venue, first.symbol, view.interval);
  });
  $("symbol").addEventListener("change", () => select(view.venue, $("symbol").value, view.interval));
  try {
    const r = await api("/api/v1/market/instruments");
    view.instruments = r.instruments;
    view.intervals = r.intervals.length ? r.intervals : view.intervals;
  } catch (e) {
    setText($("chart-note"), "instruments unavailable: " + e.message);
    return;
  }
  const query = new URLSearchParams(location.search);
  const wanted = view.instruments.find((i) => i.venue === query.get("venue") && i.symbol === query.get("symbol"));
  const first = wanted || view.instruments.find((i) => i.symbol === "BTC-USDT") || view.instruments[0];
  if (first) await select(first.venue, first.symbol, view.intervals.includes(query.get("interval")) ? query.get("interval") : view.interval);
  const hashToken = new URLSearchParams(location.hash.slice(1)).get("token");
  const token = hashToken || sessionStorage.getItem("gateway-token");
  if (token) await useToken(token);
  setInterval(() => { if (view.token) { refreshAccount(); loadAgents(); } }, 5000);
})();
