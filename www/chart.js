// The live chart: requests per bucket as stacked bars (hits, misses, bypasses) and the hit ratio as
// a line on a 0–100 % scale. Plain SVG drawn at the container's pixel size, so text never stretches.
import { num, bucketRatio, compact, pct } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";

function el(name, attrs = {}, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A "nice" axis maximum ≥ `v`: 4 equal steps, each a whole round number (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k). */
function niceMax(v) {
  const raw = Math.max(1, v / 4);
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (Number.isInteger(m * p) && m * p >= raw) return 4 * m * p;
  return 40 * p;
}

const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });

/**
 * The last `count` buckets up to the one holding `now_ms`, on the API's bucket grid, with the
 * API's counters where it has them and zeros for idle buckets it omitted.
 */
export function timeline(stats, count) {
  const bucketMs = (num(stats.bucket_secs) || 10) * 1000;
  const series = Array.isArray(stats.series) ? stats.series : [];
  const byT = new Map(series.map((b) => [num(b.t), b]));
  const ts = [...byT.keys()].sort((a, b) => a - b);
  const lastT = ts.length ? ts[ts.length - 1] : 0;
  const now = num(stats.now_ms) || lastT || Date.now();
  const offset = ((lastT % bucketMs) + bucketMs) % bucketMs;
  const current = now - ((((now - offset) % bucketMs) + bucketMs) % bucketMs);
  const out = [];
  for (let i = count - 1; i >= 0; i--) {
    const t = current - i * bucketMs;
    const b = byT.get(t) ?? {};
    out.push({ t, requests: num(b.requests), hits: num(b.hits), misses: num(b.misses), bypasses: num(b.bypasses), partial: i === 0 });
  }
  return { buckets: out, bucketMs };
}

/** Draws `stats` into `box` (replacing what was there). */
export function renderChart(box, stats) {
  const width = Math.max(260, Math.floor(box.clientWidth || 600));
  const narrow = width < 520;
  const height = narrow ? 190 : 240;
  const count = narrow ? 24 : 48;
  const { buckets, bucketMs } = timeline(stats, count);
  const pad = { l: 40, r: 44, t: 12, b: 26 };
  const w = width - pad.l - pad.r;
  const h = height - pad.t - pad.b;
  const maxReq = niceMax(Math.max(0, ...buckets.map((b) => Math.max(b.requests, b.hits + b.misses + b.bypasses))));
  const slot = w / buckets.length;
  const barW = Math.max(2, slot * 0.72);
  const y = (v) => pad.t + h - (v / maxReq) * h;
  const yr = (r) => pad.t + h - r * h;

  const svg = el("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart-svg" });
  const total = buckets.reduce((s, b) => s + b.requests, 0);
  svg.append(el("title", {}, `Requests per ${bucketMs / 1000} s bucket and hit ratio, last ${Math.round((count * bucketMs) / 60000)} min`));

  // Grid and left axis (requests per bucket).
  for (let i = 0; i <= 4; i++) {
    const v = (maxReq / 4) * i;
    const yy = Math.round(y(v)) + 0.5;
    svg.append(el("line", { x1: pad.l, x2: pad.l + w, y1: yy, y2: yy, class: i === 0 ? "axis" : "grid" }));
    svg.append(el("text", { x: pad.l - 6, y: yy + 4, class: "tick", "text-anchor": "end" }, compact(v)));
    svg.append(el("text", { x: pad.l + w + 6, y: Math.round(yr(i / 4)) + 4, class: "tick ratio-tick", "text-anchor": "start" }, `${i * 25}%`));
  }

  // Stacked bars: hits at the bottom, then misses, then bypasses.
  buckets.forEach((b, i) => {
    const x = pad.l + i * slot + (slot - barW) / 2;
    let base = 0;
    const g = el("g", { class: b.partial ? "bucket partial" : "bucket" });
    const other = Math.max(0, b.requests - b.hits - b.misses - b.bypasses); // e.g. errors, if the API adds kinds
    for (const [k, v] of [["hits", b.hits], ["misses", b.misses], ["bypasses", b.bypasses], ["other", other]]) {
      if (v <= 0) continue;
      const y0 = y(base);
      const y1 = y(base + v);
      g.append(el("rect", { x: x.toFixed(1), y: y1.toFixed(1), width: barW.toFixed(1), height: Math.max(1, y0 - y1).toFixed(1), class: `bar ${k}` }));
      base += v;
    }
    const r = bucketRatio(b);
    g.append(el("title", {}, `${clock(b.t)}${b.partial ? " (filling)" : ""}: ${b.requests} requests · ${b.hits} hits · ${b.misses} misses · ${b.bypasses} bypasses · hit ratio ${pct(r)}`));
    // A transparent full-height target so the tooltip works on empty buckets too.
    g.prepend(el("rect", { x: (pad.l + i * slot).toFixed(1), y: pad.t, width: slot.toFixed(1), height: h, class: "hover" }));
    svg.append(g);
  });

  // Hit-ratio line over the buckets that had cacheable traffic (gaps where none).
  let d = "";
  let pen = false;
  const dots = [];
  buckets.forEach((b, i) => {
    const r = bucketRatio(b);
    if (r === null) {
      pen = false;
      return;
    }
    const cx = pad.l + i * slot + slot / 2;
    const cy = yr(r);
    d += `${pen ? "L" : "M"}${cx.toFixed(1)},${cy.toFixed(1)} `;
    pen = true;
    dots.push([cx, cy]);
  });
  if (d) svg.append(el("path", { d: d.trim(), class: "ratio-line" }));
  for (const [cx, cy] of dots) svg.append(el("circle", { cx: cx.toFixed(1), cy: cy.toFixed(1), r: narrow ? 2 : 2.5, class: "ratio-dot" }));

  // Time labels: first, middle, last.
  const labelAt = narrow ? [0, buckets.length - 1] : [0, Math.floor(buckets.length / 2), buckets.length - 1];
  for (const i of labelAt) {
    const anchor = i === 0 ? "start" : i === buckets.length - 1 ? "end" : "middle";
    const x = i === 0 ? pad.l : i === buckets.length - 1 ? pad.l + w : pad.l + i * slot + slot / 2;
    svg.append(el("text", { x, y: height - 6, class: "tick", "text-anchor": anchor }, i === buckets.length - 1 ? "now" : clock(buckets[i].t)));
  }

  box.replaceChildren(svg);
  box.dataset.requests = String(total);
  return { total };
}
