// Shared helpers for the e2e suites: one stack (demo origin + edgecache under wrangler dev) per file.
import { before, after } from "node:test";
import diagnostics from "node:diagnostics_channel";
import { randomBytes } from "node:crypto";
import { startStack, runningGroups } from "../../scripts/stack.mjs";
import { startFakeCfApi } from "./fake-cf-api.mjs";

// Where a request that gets no answer is held (issue 12): undici's diagnostics channels note when
// each fetch is created, written to a socket and answered, so a timeout can say whether the
// request never left this process (client pool) or was sent and got no response head (wrangler's
// proxy, workerd or the worker). Keyed by path; only requests in flight are kept.
const inflight = new Map();
const key = (origin, path) => `${origin}${path}`;
diagnostics.channel("undici:request:create").subscribe(({ request }) => {
  inflight.set(key(request.origin, request.path), { created: performance.now(), sent: null, head: null });
});
diagnostics.channel("undici:client:sendHeaders").subscribe(({ request, socket }) => {
  const t = inflight.get(key(request.origin, request.path));
  if (t) Object.assign(t, { sent: performance.now(), port: socket?.localPort });
});
diagnostics.channel("undici:request:headers").subscribe(({ request }) => {
  const t = inflight.get(key(request.origin, request.path));
  if (t) t.head = performance.now();
});
// Answered: forgotten. Failed (a timeout aborts it): kept until `whereHeld` reads it.
diagnostics.channel("undici:request:trailers").subscribe(({ request }) => inflight.delete(key(request.origin, request.path)));
/** Where the request for `url` stands, for an error message. */
function whereHeld(url) {
  const u = new URL(url);
  const k = key(u.origin, `${u.pathname}${u.search}`);
  const t = inflight.get(k);
  inflight.delete(k);
  if (!t) return "no trace";
  const at = (x) => `+${Math.round(x - t.created)} ms`;
  if (t.sent == null) return "never written to a socket (held in the client's pool)";
  if (t.head == null) return `written to the socket (local port ${t.port}) at ${at(t.sent)}, no response head: held by wrangler's proxy, workerd or the worker`;
  return `response head at ${at(t.head)}, body not finished`;
}

/** Starts a stack before the file's tests and stops it after; returns a handle filled in by `before`. */
export function useStack(opts = {}) {
  const h = { worker: null, origin: null, w: "", o: "" };
  before(async () => {
    const s = await startStack(opts);
    Object.assign(h, { stack: s, worker: s.worker, origin: s.origin, w: s.worker.url, o: s.origin.url });
  }, { timeout: 600_000 });
  after(async () => {
    if (h.stack) await h.stack.stop();
    const left = runningGroups();
    if (left.length) throw new Error(`process groups left running: ${left.join(", ")}`);
  });
  return h;
}

/**
 * A stack whose worker calls a local fake of Cloudflare's purge API (fake-cf-api.mjs) for its zone
 * (CF_API_TOKEN, CF_ZONE_ID, CF_API_BASE): `{ h, zone }`; `zone.token` is the token the fake accepts,
 * `zone.fake` the fake, set before the tests run.
 */
export function useZoneStack() {
  const zone = { fake: null, token: `zone-test-${randomBytes(6).toString("hex")}` };
  const opts = { vars: {} };
  before(async () => {
    zone.fake = await startFakeCfApi({ token: zone.token });
    Object.assign(opts.vars, { CF_API_TOKEN: zone.token, CF_ZONE_ID: zone.fake.zoneId, CF_API_BASE: zone.fake.base });
  });
  const h = useStack(opts); // its `before` runs after ours: the vars are set by then
  after(async () => {
    await zone.fake?.close();
  });
  return { h, zone };
}

/** A path no other test uses, so tests never share cache entries. */
let n = 0;
export function uniq(prefix = "/lab/t") {
  return `${prefix}/${process.pid}-${Date.now().toString(36)}-${n++}`;
}

/** Origin request counters (GET /__origin/stats). */
export async function originStats(h) {
  const r = await fetch(`${h.o}/__origin/stats`);
  return r.json();
}

/** How many requests for `path` (any method, or one) reached the origin. */
export async function originCount(h, path, method) {
  const s = await originStats(h);
  const p = s.paths[path];
  if (!p) return 0;
  if (method) return p[method] ?? 0;
  return Object.values(p).reduce((a, b) => a + b, 0);
}

/** Builds a lab URL: `/lab/...?h=Name:Value&...` with headers the origin will send. */
export function lab(path, { headers = {}, ...q } = {}) {
  const sp = new URLSearchParams();
  for (const [k, v] of Object.entries(headers)) sp.append("h", `${k}:${v}`);
  for (const [k, v] of Object.entries(q)) sp.append(k, String(v));
  const qs = sp.toString();
  return qs ? `${path}?${qs}` : path;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Our member of a response's Cache-Status (the last one, RFC 9211 §2); `r.cs` is the header. */
export const ours = (r) => {
  const i = r.cs.lastIndexOf("edgecache");
  return i < 0 ? "" : r.cs.slice(i);
};

/** Whether edgecache answered from its cache. */
export const isHit = (r) => /^edgecache; hit(;|$)/.test(ours(r));

/**
 * GET (or `init.method`) `path` on `base` (absolute URLs are used as they are), never following
 * redirects, bounded to 30 s (generous: CI is a noisy 2-core machine; a test's own timeout is
 * the tighter bound). Resolves to `{ status, headers, text, ms, cs, json(), why }`;
 * `why` describes the response for assertion messages. Network errors become plain Errors
 * (the test runner cannot print DOMException / undici causes).
 */
export async function request(base, path, init = {}) {
  const t0 = performance.now();
  let r, text;
  try {
    r = await fetch(path.startsWith("http") ? path : `${base}${path}`, { redirect: "manual", signal: AbortSignal.timeout(30_000), ...init });
    text = await r.text();
  } catch (e) {
    const url = path.startsWith("http") ? path : `${base}${path}`;
    throw new Error(`${init.method ?? "GET"} ${path}: ${e?.name}: ${e?.message}${e?.cause ? ` (${e.cause.code ?? e.cause.message})` : ""} after ${Math.round(performance.now() - t0)} ms; ${whereHeld(url)}`);
  }
  const out = { status: r.status, headers: r.headers, text, ms: performance.now() - t0, cs: r.headers.get("cache-status") ?? "" };
  out.json = () => {
    try {
      return JSON.parse(text);
    } catch {
      throw new Error(`not JSON (status ${r.status}): ${text.slice(0, 300)}`);
    }
  };
  out.why = `${init.method ?? "GET"} ${path}: status=${r.status} cache-status=${JSON.stringify(out.cs)} debug=${JSON.stringify(r.headers.get("x-edgecache-debug"))} body=${JSON.stringify(text.slice(0, 200))} ${Math.round(out.ms)}ms`;
  return out;
}

/**
 * A loopback port where nothing listens and nothing will: a low port outside the ephemeral
 * range (so no process started by the test, e.g. a wrangler inspector, can be handed it),
 * checked to refuse a connection right now.
 */
export async function refusedPort() {
  const { connect } = await import("node:net");
  for (const port of [1, 7, 9, 11, 13, 17, 19, 21]) {
    const refused = await new Promise((resolve) => {
      const s = connect({ host: "127.0.0.1", port });
      s.once("connect", () => { s.destroy(); resolve(false); });
      s.once("error", (e) => resolve(e.code === "ECONNREFUSED"));
    });
    if (refused) return port;
  }
  throw new Error("no refused low port on 127.0.0.1");
}
