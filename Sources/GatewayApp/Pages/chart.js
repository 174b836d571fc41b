// The pages' charts, drawn as SVG by this file alone (docs/pages.md says why: no package registry
// for JavaScript is reachable where the gateway is built, and the pages must work offline).
// Prices stay exact decimal strings in data-* attributes and labels; numbers are only pixel positions.
"use strict";

/** A sparkline of `values` (oldest first) in a 120×22 box. */
function sparkline(values) {
  const svg = el("svg:svg", { class: "spark", viewBox: "0 0 120 22", preserveAspectRatio: "none" });
  if (!values || values.length < 2) return svg;
  const max = Math.max(...values), min = Math.min(0, ...values);
  const span = max - min || 1;
  const step = 120 / (values.length - 1);
  const points = values.map((v, i) => (i * step).toFixed(1) + "," + (21 - ((v - min) / span) * 20).toFixed(1));
  svg.append(el("svg:polyline", { points: points.join(" ") }));
  return svg;
}

/** Nice round steps for an axis spanning `span` in about `count` steps. */
function axisStep(span, count) {
  const raw = span / count;
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

/**
 * Candlesticks: `candles` is a list of the API's candle objects (`start`, `open`, `high`, `low`,
 * `close` as decimal strings, `closed`), oldest first. Each candle is a <g class="candle"> carrying
 * its exact values in data-* attributes, so tests and scripts read what is drawn.
 */
function drawCandles(container, candles, { width = 900, height = 520 } = {}) {
  const left = 8, right = 78, top = 10, bottom = 24;
  const svg = el("svg:svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img" });
  if (!candles.length) {
    svg.append(el("svg:text", { x: width / 2, y: height / 2, "text-anchor": "middle", fill: "#8793a1" }, "no candles yet"));
    fill(container, svg);
    return;
  }
  const highs = candles.map((c) => parseFloat(c.high));
  const lows = candles.map((c) => parseFloat(c.low));
  let max = Math.max(...highs), min = Math.min(...lows);
  if (max === min) { max += 1; min -= 1; }
  const pad = (max - min) * 0.05;
  max += pad; min -= pad;
  const plotW = width - left - right, plotH = height - top - bottom;
  const y = (v) => top + ((max - v) / (max - min)) * plotH;
  const slot = plotW / candles.length;
  const axis = el("svg:g", { class: "axis" });
  const step = axisStep(max - min, 6);
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  for (let v = Math.ceil(min / step) * step; v <= max; v += step) {
    axis.append(el("svg:line", { x1: left, x2: width - right, y1: y(v), y2: y(v) }));
    axis.append(el("svg:text", { x: width - right + 6, y: y(v) + 4 }, v.toFixed(decimals)));
  }
  const labelEvery = Math.max(1, Math.ceil(candles.length / 8));
  candles.forEach((c, i) => {
    if (i % labelEvery === 0) {
      axis.append(el("svg:text", { x: left + i * slot + slot / 2, y: height - 6, "text-anchor": "middle" }, c.start.slice(11, 16)));
    }
  });
  svg.append(axis);
  const body = Math.max(1, slot * 0.7);
  candles.forEach((c, i) => {
    const o = parseFloat(c.open), h = parseFloat(c.high), l = parseFloat(c.low), cl = parseFloat(c.close);
    const x = left + i * slot + slot / 2;
    const g = el("svg:g", {
      class: "candle " + (cl >= o ? "up" : "down") + (c.closed ? "" : " open"),
      "data-start": c.start, "data-open": c.open, "data-high": c.high, "data-low": c.low, "data-close": c.close,
      "data-volume": c.volume, "data-closed": c.closed ? "true" : "false", "data-source": c.source,
    });
    g.append(el("svg:title", {}, `${c.start}  O ${c.open}  H ${c.high}  L ${c.low}  C ${c.close}  V ${c.volume}`));
    g.append(el("svg:line", { x1: x, x2: x, y1: y(h), y2: y(l) }));
    const top2 = y(Math.max(o, cl)), bottom2 = y(Math.min(o, cl));
    g.append(el("svg:rect", { x: x - body / 2, y: top2, width: body, height: Math.max(1, bottom2 - top2) }));
    svg.append(g);
  });
  fill(container, svg);
}

/** A half-circle gauge for a 0–100 score. */
function gauge(score, label) {
  const r = 60, cx = 70, cy = 70;
  const v = Math.max(0, Math.min(100, parseFloat(score) || 0));
  const angle = Math.PI * (1 - v / 100);
  const arc = (a) => `${cx + r * Math.cos(a)},${cy - r * Math.sin(a)}`;
  const svg = el("svg:svg", { class: "gauge", viewBox: "0 0 140 80", width: 160, height: 92 });
  svg.append(el("svg:path", { class: "track", d: `M ${arc(Math.PI)} A ${r} ${r} 0 0 1 ${arc(0)}`, fill: "none", "stroke-width": 10 }));
  if (v > 0) {
    svg.append(el("svg:path", { class: "value", d: `M ${arc(Math.PI)} A ${r} ${r} 0 0 1 ${arc(angle)}`, fill: "none", "stroke-width": 10 }));
  }
  svg.append(el("svg:text", { x: cx, y: cy - 6, "text-anchor": "middle" }, label));
  return svg;
}
