// Pure helpers of the dashboard: number/byte/duration formatting and the arithmetic on the stats
// JSON (hit ratio, requests per second, input splitting). No DOM here, so Node tests import it.

/** A finite number from `v`, else 0 (missing fields degrade to zero). */
export function num(v) {
  const n = typeof v === "string" ? Number(v) : v;
  return typeof n === "number" && Number.isFinite(n) ? n : 0;
}

/** A ratio in [0, 1] as "90.0%"; `null`/NaN → "—". */
export function pct(ratio, digits = 1) {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return "—";
  return `${(ratio * 100).toFixed(digits)}%`;
}

/** A whole count with thousands separators: 1234 → "1,234". */
export function int(n) {
  return Math.round(num(n)).toLocaleString("en-US");
}

/** A compact count: 950 → "950", 1234 → "1.2k", 3400000 → "3.4M". */
export function compact(n) {
  n = num(n);
  const a = Math.abs(n);
  const fmt = (v, s) => `${v.toFixed(v < 10 ? 1 : 0).replace(/\.0$/, "")}${s}`;
  if (a < 1000) return Number.isInteger(n) ? String(n) : n.toFixed(1).replace(/\.0$/, "");
  if (a < 1e6) return fmt(n / 1e3, "k");
  if (a < 1e9) return fmt(n / 1e6, "M");
  return fmt(n / 1e9, "G");
}

/** A rate: 0 → "0", 0.25 → "0.25", 3.456 → "3.5", 1234 → "1.2k". */
export function rate(n) {
  n = num(n);
  if (n === 0) return "0";
  if (Math.abs(n) < 1) return n.toFixed(2);
  if (Math.abs(n) < 100) return n.toFixed(1).replace(/\.0$/, "");
  return compact(Math.round(n));
}

/** Bytes in binary units: 512 → "512 B", 3565158 → "3.4 MB". */
export function bytes(n) {
  n = num(n);
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  if (i === 0) return `${Math.round(n)} B`;
  return `${n.toFixed(Math.abs(n) < 10 ? 1 : 0)} ${units[i]}`;
}

/** Seconds as a short duration: 0 → "0 s", 90 → "1 min 30 s", 86400 → "1 d". */
export function duration(secs) {
  let s = Math.round(num(secs));
  if (s <= 0) return "0 s";
  const parts = [];
  for (const [unit, len] of [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]]) {
    if (s >= len) {
      parts.push(`${Math.floor(s / len)} ${unit}`);
      s %= len;
    }
    if (parts.length === 2) break;
  }
  return parts.join(" ");
}

/** A TTL as the API gives it: a string ("5m") is shown as is, a number is seconds. Missing → "—". */
export function ttl(v) {
  if (v === null || v === undefined || v === "") return "—";
  if (typeof v === "number") return duration(v);
  return String(v);
}

/** How long ago `ms` was, relative to `nowMs`: "just now", "42 s ago", "3 min ago", "2 h ago", "5 d ago". */
export function ago(ms, nowMs) {
  const s = Math.max(0, Math.round((num(nowMs) - num(ms)) / 1000));
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/**
 * Cache hit ratio of a counters object: (hits_fresh + hits_stale) / (hits_fresh + hits_stale + misses).
 * Bypasses are not cacheable by policy, so they are left out. `null` when nothing was cacheable.
 */
export function hitRatio(c = {}) {
  const hits = num(c.hits_fresh) + num(c.hits_stale);
  const denom = hits + num(c.misses);
  return denom > 0 ? hits / denom : null;
}

/** Hit ratio of one series bucket (`hits` / (`hits` + `misses`)), `null` when it had none. */
export function bucketRatio(b = {}) {
  const denom = num(b.hits) + num(b.misses);
  return denom > 0 ? num(b.hits) / denom : null;
}

/**
 * Requests per second over the last `n` full buckets of `stats.series`. Buckets lie on a grid of
 * `bucket_secs`; the one holding `now_ms` is still filling, so it is left out. Idle buckets the
 * API omits count as zero; the window never starts before the first bucket the API knows. With
 * no full bucket yet: the current bucket's requests over the time elapsed in it. 0 without data.
 */
export function requestsPerSecond(stats = {}, n = 3) {
  const series = Array.isArray(stats.series) ? [...stats.series].sort((a, b) => num(a.t) - num(b.t)) : [];
  if (!series.length) return 0;
  const bucketMs = (num(stats.bucket_secs) || 10) * 1000;
  const lastT = num(series[series.length - 1].t);
  const now = num(stats.now_ms) || lastT + bucketMs;
  const offset = ((lastT % bucketMs) + bucketMs) % bucketMs;
  const currentStart = now - ((((now - offset) % bucketMs) + bucketMs) % bucketMs);
  const from = Math.max(currentStart - n * bucketMs, num(series[0].t));
  if (from < currentStart) {
    const reqs = series.filter((b) => num(b.t) >= from && num(b.t) < currentStart).reduce((s, b) => s + num(b.requests), 0);
    return reqs / ((currentStart - from) / 1000);
  }
  const cur = series.filter((b) => num(b.t) >= currentStart).reduce((s, b) => s + num(b.requests), 0);
  return cur / (Math.max(1000, now - currentStart) / 1000);
}

/** Tags from a textarea: split on commas and newlines, trimmed, empties and duplicates dropped. */
export function splitTags(text = "") {
  return uniq(String(text).split(/[,\n\r]+/));
}

/** URLs or prefixes from a textarea: one per line (also split on spaces), trimmed, deduplicated. */
export function splitLines(text = "") {
  return uniq(String(text).split(/[\s]+/));
}

function uniq(parts) {
  const out = [];
  for (const p of parts.map((s) => s.trim())) if (p && !out.includes(p)) out.push(p);
  return out;
}

/** Header lines ("Name: value", one per line) as `["Name: value", ...]`; a line without a colon is an error. */
export function parseHeaderLines(text = "") {
  const out = [];
  const bad = [];
  for (const raw of String(text).split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    const i = line.indexOf(":");
    if (i <= 0) {
      bad.push(line);
      continue;
    }
    out.push(`${line.slice(0, i).trim()}: ${line.slice(i + 1).trim()}`);
  }
  return { headers: out, bad };
}

/** The explain API's query string for a form's values. */
export function explainQuery({ url = "", method = "GET", cookie = "", headers = [] } = {}) {
  const q = new URLSearchParams();
  q.set("url", url.trim());
  q.set("method", method || "GET");
  if (cookie.trim()) q.set("cookie", cookie.trim());
  for (const h of headers) q.append("header", h);
  return q.toString();
}

/** One-line summary of a purge (request or log entry): "tags article-3, home · hard". */
export function purgeSummary(p = {}) {
  const parts = [];
  const list = (k, label) => {
    const v = Array.isArray(p[k]) ? p[k] : [];
    if (v.length) parts.push(`${label} ${v.join(", ")}`);
  };
  if (p.everything) parts.push("everything");
  list("tags", v(p.tags, "tag", "tags"));
  list("urls", v(p.urls, "URL", "URLs"));
  list("prefixes", v(p.prefixes, "prefix", "prefixes"));
  if (!parts.length) parts.push("nothing");
  parts.push(p.soft ? "soft (mark stale)" : "hard");
  return parts.join(" · ");
}

function v(arr, one, many) {
  return Array.isArray(arr) && arr.length === 1 ? one : many;
}
