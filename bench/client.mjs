// HTTP client side of bench/run: single requests, the trace replay (part 2) and herds (part 5).
// node:http with explicit agents (no fetch: we want raw headers, no added Accept-Encoding).
import http from "node:http";

/** GET `url` with `headers`; resolves to { status, headers, body, ms }. Never rejects (status 0 on error). */
export function get(url, headers = {}, agent = undefined, timeoutMs = 30000) {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.get(url, { headers, agent }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString("utf8"), ms: performance.now() - t0 }));
      res.on("error", (e) => resolve({ status: 0, headers: {}, body: String(e), ms: performance.now() - t0 }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve({ status: 0, headers: {}, body: String(e), ms: performance.now() - t0 }));
  });
}

/** POST a JSON body; resolves to { status, body }. */
export function postJson(url, obj, headers = {}) {
  const payload = JSON.stringify(obj);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload), ...headers } }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, body }));
    });
    req.on("error", reject);
    req.end(payload);
  });
}

/** edgecache's member of a Cache-Status field (the last one naming it, RFC 9211 §2), or "". */
export function ourStatus(headers) {
  const cs = String(headers["cache-status"] ?? "");
  return cs.split(",").map((s) => s.trim()).filter((s) => s.startsWith("edgecache")).at(-1) ?? "";
}

/** Whether edgecache says it served from cache (fresh or stale). */
export const isEdgecacheHit = (headers) => /;\s*hit(;|$)/.test(ourStatus(headers));

/** sessionid values found in a response body (the lab echo contains the request's Cookie header). */
export const sessionsIn = (body) => [...body.matchAll(/sessionid=([A-Za-z0-9_-]+)/g)].map((m) => m[1]);

/**
 * Replays a trace against `base` with at most `concurrency` requests in flight. A publish event is
 * a barrier: in-flight requests finish, then `onPublish(tags)` runs, then the replay goes on.
 * Resolves to { requests, hits, errors, errorSamples, ownSessions, leaks, leakSamples, ms }.
 */
export async function replay(base, events, { concurrency = 16, onPublish = async () => {}, hit = () => false } = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const inflight = new Set();
  const out = { requests: 0, hits: 0, errors: 0, errorSamples: [], ownSessions: 0, leaks: 0, leakSamples: [], publishes: 0, ms: 0 };
  const t0 = performance.now();
  const one = async (e) => {
    const headers = e.cookie ? { cookie: e.cookie } : {};
    const r = await get(base + e.path, headers, agent);
    out.requests++;
    if (r.status !== 200) {
      out.errors++;
      if (out.errorSamples.length < 5) out.errorSamples.push({ path: e.path, status: r.status, cacheStatus: r.headers["cache-status"] ?? null, body: r.body.slice(0, 200) });
      return;
    }
    if (hit(r.headers)) out.hits++;
    // Safety: a response may only ever carry the requester's own session (anonymous: none).
    const sessions = sessionsIn(r.body);
    if (e.user && sessions.includes(e.user)) out.ownSessions++; // the check can see sessions at all
    const foreign = sessions.filter((s) => s !== e.user);
    if (foreign.length) {
      out.leaks++;
      if (out.leakSamples.length < 5) out.leakSamples.push({ path: e.path, user: e.user, got: foreign, cacheStatus: r.headers["cache-status"] ?? null });
    }
  };
  for (const e of events) {
    if (e.kind === "publish") {
      await Promise.all(inflight);
      await onPublish(e.tags);
      out.publishes++;
      continue;
    }
    while (inflight.size >= concurrency) await Promise.race(inflight);
    const p = one(e).finally(() => inflight.delete(p));
    inflight.add(p);
  }
  await Promise.all(inflight);
  out.ms = performance.now() - t0;
  agent.destroy();
  return out;
}

/** Fires `n` concurrent GETs of one URL (each its own connection); resolves to { statuses, p50, p99, max, hits }. */
export async function herd(url, n, { hit = () => false } = {}) {
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const rs = await Promise.all(Array.from({ length: n }, () => get(url, {}, agent, 60000)));
  agent.destroy();
  const ms = rs.map((r) => r.ms).sort((a, b) => a - b);
  const q = (p) => Math.round(ms[Math.min(ms.length - 1, Math.floor(p * ms.length))] * 10) / 10;
  const statuses = {};
  for (const r of rs) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
  const kinds = {};
  for (const r of rs) {
    const k = ourStatus(r.headers).replace(/ttl=-?\d+/, "ttl=N").replace(/; (fwd-status|detail)=[^;]*/g, "") || (r.headers["cf-cache-status"] ? `cf-cache-status=${r.headers["cf-cache-status"]}` : "-");
    kinds[k] = (kinds[k] ?? 0) + 1;
  }
  return { statuses, p50: q(0.5), p99: q(0.99), max: q(1), hits: rs.filter((r) => hit(r.headers)).length, cacheStatus: kinds };
}
