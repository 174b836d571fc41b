// The live ops page: polls GET /api/v1/ops once a second and shows every figure in an element
// with data-metric="NAME" (plus data-venue / data-type / data-table / data-code / data-kind /
// data-state for its labels) whose text is the current value. Counts carry their /metrics names;
// rates are <what>_per_second over the last 5 seconds; `clients` is gateway_ws_clients.
"use strict";

const HISTORY = 300;
let report = null;
// Rate history per key (name|label=value), oldest first, at most HISTORY points.
const rateHistory = new Map();

function labelKey(name, labels) {
  const parts = Object.entries(labels || {}).sort().map(([k, v]) => k + "=" + v);
  return name + "|" + parts.join(",");
}

function matches(series, name, labels) {
  return series.name === name && Object.entries(labels || {}).every(([k, v]) => series.labels[k] === v);
}

/** The sum of a /metrics family's series with these labels; null when it has none. */
function metric(name, labels) {
  let total = null;
  for (const s of report.metrics) if (matches(s, name, labels)) total = (total || 0) + s.value;
  return total;
}

function rate(name, labels) {
  let total = null;
  for (const s of report.rates) if (matches(s, name, labels)) total = (total || 0) + s.value;
  return total;
}

/** Distinct values of `label` among a family's series. */
function labelValues(name, label, from) {
  const values = new Set();
  for (const s of from || report.metrics) if (s.name === name && s.labels[label] !== undefined) values.add(s.labels[label]);
  return [...values].sort();
}

/** A figure: <span data-metric=name data-…=labels>value</span> and an optional hint. */
function figure(name, value, labels, hint, digits) {
  const attrs = { class: "num", "data-metric": name };
  for (const [k, v] of Object.entries(labels || {})) attrs["data-" + k] = v;
  const text = value === null || value === undefined ? "0" : typeof value === "number" ? numberText(value, digits) : value;
  const span = el("span", attrs, text);
  return hint ? [span, " ", el("span", { class: "hint" }, hint)] : [span];
}

function spark(name, labels) {
  return sparkline(rateHistory.get(labelKey(name, labels)) || []);
}

function kv(dl, rows) {
  fill(dl, rows.flatMap(([term, ...value]) => [el("dt", {}, term), el("dd", {}, ...value)]));
}

function renderVenues() {
  fill(
    "venues",
    report.venues.map((v) => {
      const venue = { venue: v.venue };
      return el(
        "tr",
        {},
        el("td", {}, v.venue, " ", el("span", { class: "hint" }, v.symbols.length + " symbols")),
        el("td", {}, el("span", { class: "badge " + v.state, "data-metric": "state", "data-venue": v.venue }, v.state)),
        el("td", {}, figure("frames_per_second", rate("frames_per_second", venue), venue)),
        el("td", {}, spark("frames_per_second", venue)),
        el("td", {}, figure("feed_last_frame_age_seconds", v.last_frame_age_seconds === null ? "–" : v.last_frame_age_seconds, venue, "s", 1)),
        el("td", {}, figure("feed_frames_total", metric("feed_frames_total", venue), venue)),
        el("td", {}, figure("feed_reconnects_total", metric("feed_reconnects_total", venue), venue)),
        el("td", {}, figure("normalizer_resyncs_total", metric("normalizer_resyncs_total", venue), venue)),
        el("td", {}, figure("normalizer_gaps_total", metric("normalizer_gaps_total", venue), venue)),
        el("td", {}, figure("normalizer_checksum_failures_total", metric("normalizer_checksum_failures_total", venue), venue)),
        el("td", {}, figure("feed_rest_requests_total", metric("feed_rest_requests_total", { venue: v.venue, kind: "trades" }), { venue: v.venue, kind: "trades" })),
        el("td", {}, figure("feed_rest_requests_total", metric("feed_rest_requests_total", { venue: v.venue, kind: "depth" }), { venue: v.venue, kind: "depth" })),
        el(
          "td",
          {},
          figure("normalizer_books", metric("normalizer_books", { venue: v.venue, state: "valid" }), { venue: v.venue, state: "valid" }),
          " / ",
          figure("normalizer_books", metric("normalizer_books", { venue: v.venue, state: "invalid" }), { venue: v.venue, state: "invalid" })
        )
      );
    })
  );
}

function renderNormalizer() {
  const types = new Set([...labelValues("normalizer_events_total", "type"), ...labelValues("events_per_second", "type", report.rates)]);
  fill(
    "events",
    [...types].sort().map((type) =>
      el(
        "tr",
        {},
        el("td", {}, type),
        el("td", {}, figure("events_per_second", rate("events_per_second", { type }), { type })),
        el("td", {}, spark("events_per_second", { type })),
        el("td", {}, figure("normalizer_events_total", metric("normalizer_events_total", { type }), { type }))
      )
    )
  );
  kv(document.getElementById("normalizer"), [
    ["records/s", ...figure("records_per_second", rate("records_per_second"))],
    ["books valid", ...figure("normalizer_books", metric("normalizer_books", { state: "valid" }), { state: "valid" })],
    ["books invalid", ...figure("normalizer_books", metric("normalizer_books", { state: "invalid" }), { state: "invalid" })],
    ["candle revisions", ...figure("normalizer_candle_revisions_total", metric("normalizer_candle_revisions_total"))],
    ["parse errors", ...figure("normalizer_parse_errors_total", metric("normalizer_parse_errors_total"))],
  ]);
}

function renderFanOut() {
  const bytes = rate("delivered_bytes_per_second");
  kv(document.getElementById("fanout"), [
    ["clients", ...figure("clients", metric("gateway_ws_clients"))],
    ["subscriptions", ...figure("gateway_ws_subscriptions", metric("gateway_ws_subscriptions"))],
    ["delivered msgs/s", ...figure("delivered_per_second", rate("delivered_per_second")), " ", spark("delivered_per_second")],
    ["delivered bytes/s", ...figure("delivered_bytes_per_second", bytes, {}, bytesHint(bytes) + "/s", 0), " ", spark("delivered_bytes_per_second")],
    ["delivered msgs", ...figure("gateway_ws_frames_sent_total", metric("gateway_ws_frames_sent_total"))],
    ["delivered bytes", ...figure("gateway_ws_bytes_sent_total", metric("gateway_ws_bytes_sent_total"), {}, bytesHint(metric("gateway_ws_bytes_sent_total")))],
    ["conflated", ...figure("gateway_ws_frames_conflated_total", metric("gateway_ws_frames_conflated_total"))],
    ["dropped", ...figure("gateway_ws_frames_dropped_total", metric("gateway_ws_frames_dropped_total"))],
    ["slow-consumer closes", ...figure("gateway_ws_slow_disconnects_total", metric("gateway_ws_slow_disconnects_total"))],
    ["queued frames", ...figure("gateway_ws_queued_frames", metric("gateway_ws_queued_frames"))],
    ["connections accepted", ...figure("gateway_ws_connections_total", metric("gateway_ws_connections_total"))],
    ["connections refused", ...figure("gateway_ws_rejected_connections_total", metric("gateway_ws_rejected_connections_total"))],
  ]);
  const codes = labelValues("gateway_ws_closes_total", "code");
  fill(
    "closes",
    codes.length
      ? codes.map((code) => el("tr", {}, el("td", {}, code), el("td", {}, figure("gateway_ws_closes_total", metric("gateway_ws_closes_total", { code }), { code }))))
      : [el("tr", {}, el("td", { class: "hint" }, "none yet"), el("td", {}, figure("gateway_ws_closes_total", 0)))]
  );
  const errors = labelValues("gateway_ws_client_errors_total", "code");
  fill(
    "client-errors",
    errors.length
      ? errors.map((code) =>
          el("tr", {}, el("td", {}, code), el("td", {}, figure("gateway_ws_client_errors_total", metric("gateway_ws_client_errors_total", { code }), { code })))
        )
      : [el("tr", {}, el("td", { class: "hint" }, "none yet"), el("td", {}, figure("gateway_ws_client_errors_total", 0)))]
  );
}

function renderStore() {
  const up = report.store.up;
  const batch = report.store.batch_seconds_average;
  kv(document.getElementById("store"), [
    ["backend", el("span", { "data-metric": "store_backend" }, report.store.backend)],
    [
      "database",
      el("span", { class: "badge " + (up === null ? "waiting" : up ? "up" : "down") }, up === null ? "checking" : up ? "up" : "down"),
      " ",
      ...figure("store_up", metric("store_up")),
    ],
    ["batch latency", ...figure("store_batch_seconds_average", batch === null ? null : batch * 1000, {}, "ms (average, last 5 s)", 2)],
    ["lag (rows queued)", ...figure("store_queue_depth", metric("store_queue_depth"))],
    ["spill on disk", ...figure("store_spill_bytes", metric("store_spill_bytes"), {}, bytesHint(metric("store_spill_bytes")))],
    ["write-ahead log", ...figure("store_write_ahead_bytes", metric("store_write_ahead_bytes"), {}, bytesHint(metric("store_write_ahead_bytes")))],
    ["write errors", ...figure("store_write_errors_total", metric("store_write_errors_total"))],
    ["rows dropped", ...figure("store_rows_dropped_total", metric("store_rows_dropped_total"))],
  ]);
  const tables = new Set([...labelValues("store_rows_written_total", "table"), ...labelValues("store_rows_spilled_total", "table")]);
  fill(
    "tables",
    [...tables].sort().map((table) =>
      el(
        "tr",
        {},
        el("td", {}, table),
        el("td", {}, figure("rows_per_second", rate("rows_per_second", { table }), { table })),
        el("td", {}, spark("rows_per_second", { table })),
        el("td", {}, figure("store_rows_written_total", metric("store_rows_written_total", { table }), { table })),
        el("td", {}, figure("store_rows_spilled_total", metric("store_rows_spilled_total", { table }), { table }))
      )
    )
  );
}

function renderProcess() {
  const cpu = rate("cpu_seconds_per_second");
  const rss = metric("process_resident_memory_bytes");
  kv(document.getElementById("process"), [
    ["CPU", ...figure("cpu_percent", cpu === null ? null : cpu * 100, {}, "% of one core"), " ", spark("cpu_seconds_per_second")],
    ["CPU time", ...figure("process_cpu_seconds_total", metric("process_cpu_seconds_total"), {}, "s", 2)],
    ["resident memory", ...figure("process_resident_memory_bytes", rss, {}, bytesHint(rss))],
    ["uptime", ...figure("uptime_seconds", report.uptime_seconds, {}, durationHint(report.uptime_seconds))],
    ["started", el("span", { "data-metric": "started" }, report.started)],
    ["version", el("span", {}, report.version)],
  ]);
  const c = report.config;
  kv(document.getElementById("config"), [
    ["venues", c.venues.join(", ")],
    ["store", c.store],
    ["listening on", c.listen],
    ["candle intervals", c.intervals.join(", ")],
    ["book snapshots", c.snapshot_depth + " levels every " + c.snapshot_every_seconds + " s"],
    ["max connections", String(c.max_connections)],
    ["user auth", c.auth_configured ? "JWT configured" : "not configured"],
    ["signal strategies", String(c.signals)],
  ]);
}

function remember(r) {
  for (const s of r.rates) {
    const key = labelKey(s.name, s.labels);
    const list = rateHistory.get(key) || [];
    list.push(s.value);
    if (list.length > HISTORY) list.splice(0, list.length - HISTORY);
    rateHistory.set(key, list);
  }
}

function render() {
  setText(document.getElementById("version"), report.version);
  setText(document.getElementById("uptime"), numberText(report.uptime_seconds, 0));
  setText(document.getElementById("updated"), clockText(report.time));
  renderVenues();
  renderNormalizer();
  renderFanOut();
  renderStore();
  renderProcess();
}

async function poll(first) {
  try {
    const r = await api("/api/v1/ops" + (first ? "?history=" + HISTORY : ""));
    if (first && r.history) {
      for (const s of r.history.series) rateHistory.set(labelKey(s.name, s.labels), s.values.slice(-HISTORY));
    } else {
      remember(r);
    }
    report = r;
    setText(document.getElementById("poll-error"), "");
    render();
    return true;
  } catch (e) {
    setText(document.getElementById("poll-error"), "gateway unreachable: " + e.message);
    return false;
  }
}

(async () => {
  let loaded = await poll(true);
  setInterval(async () => { loaded = (await poll(!loaded)) || loaded; }, 1000);
})();
