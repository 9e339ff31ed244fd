// The admin API under /__edgecache/ through the real stack (demo origin + edgecache under wrangler dev):
// auth on every endpoint, the shape of /api/stats and its numbers against real traffic (per-rule
// hits/misses, bypass reasons, origin fetches vs the origin's own count), /api/explain (same text as
// the CLI), /api/policy (the rules of the embedded policy file in order), the dashboard's static files and
// the /__edgecache prefix boundary.
//
// Counters are per isolate and flushed to the MetricsHub Durable Object; the stats endpoint
// flushes its own isolate first, and wrangler dev runs one isolate, so a stats call right after
// the traffic must already see it. Numbers are compared as deltas between two stats calls.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { useStack, uniq, lab, originStats, sleep, request } from "./helpers.mjs";
import { DEV_SECRETS, ROOT, TEST_POLICY } from "../../scripts/stack.mjs";

const h = useStack();
const T = { timeout: 60_000 }; // generous: CI is a noisy 2-core machine
const TOKEN = DEV_SECRETS.ADMIN_TOKEN;
const AUTH = { authorization: `Bearer ${TOKEN}` };
const MAX60 = { "Cache-Control": "public, max-age=60" };

const req = (path, init) => request(h.w, path, init);

/** An admin API call with the right token. */
const admin = (path, init = {}) => req(path, { ...init, headers: { ...AUTH, ...(init.headers ?? {}) } });

/** GET /__edgecache/api/stats (authorised), parsed. */
async function stats() {
  const r = await admin("/__edgecache/api/stats");
  assert.equal(r.status, 200, r.why);
  return r.json();
}

/** The counters of rule `name` in a stats document (all zero when the rule has none yet). */
function ruleOf(s, name) {
  const zero = { requests: 0, hits_fresh: 0, hits_stale: 0, misses: 0, bypasses: 0, origin_fetches: 0, origin_errors: 0, revalidations: 0 };
  return { ...zero, ...(s.rules.find((r) => r.name === name) ?? {}) };
}

/** `after - before` for every numeric field of two flat objects. */
function delta(before, after) {
  const d = {};
  for (const [k, v] of Object.entries(after)) if (typeof v === "number") d[k] = v - (before[k] ?? 0);
  return d;
}

/** Sum of the series buckets (requests, hits, misses, bypasses). */
function seriesSum(s) {
  const t = { requests: 0, hits: 0, misses: 0, bypasses: 0 };
  for (const b of s.series) for (const k of Object.keys(t)) t[k] += b[k];
  return t;
}

const API = ["/__edgecache/api/stats", "/__edgecache/api/explain?url=/articles/1", "/__edgecache/api/policy", "/__edgecache/purges"];

test("every API endpoint refuses a missing or wrong token with 401 JSON and answers the right one", T, async () => {
  for (const p of API) {
    for (const [label, headers] of [
      ["no token", {}],
      ["wrong token", { authorization: "Bearer not-the-token" }],
      ["token with a suffix", { authorization: `Bearer ${TOKEN}x` }],
      ["token prefix", { authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
      ["not a bearer", { authorization: TOKEN }],
    ]) {
      const r = await req(p, { headers });
      assert.equal(r.status, 401, `${label}: ${r.why}`);
      assert.match(r.headers.get("content-type") ?? "", /application\/json/, `${label}: ${r.why}`);
      const j = r.json();
      assert.equal(typeof j.error, "string", `${label}: error field: ${r.why}`);
      assert.ok(j.error.length > 0);
      assert.equal(typeof j.detail, "string", `${label}: detail field: ${r.why}`);
      assert.doesNotMatch(r.text, new RegExp(TOKEN), "the token never appears in an error");
    }
    const ok = await admin(p);
    assert.equal(ok.status, 200, `right token: ${ok.why}`);
    assert.match(ok.headers.get("content-type") ?? "", /application\/json/, ok.why);
    ok.json();
  }
  // An unknown API endpoint is a JSON 404, not the dashboard.
  const nf = await admin("/__edgecache/api/nope");
  assert.equal(nf.status, 404, nf.why);
  assert.equal(nf.json().error, "not_found");
});

test("/api/stats has the documented shape", T, async () => {
  await req("/articles/2"); // something counted, so rules and series are not empty
  const s = await stats();
  assert.equal(s.bucket_secs, 10);
  assert.equal(typeof s.now_ms, "number");
  assert.ok(Math.abs(s.now_ms - Date.now()) < 60_000, `now_ms is the current time: ${s.now_ms}`);
  const fields = ["requests", "hits_fresh", "hits_stale", "misses", "bypasses", "origin_fetches", "origin_errors", "revalidations", "bytes_cache", "bytes_origin", "purges"];
  for (const f of fields) assert.equal(typeof s.totals[f], "number", `totals.${f}`);
  assert.ok(s.hit_ratio === null || (s.hit_ratio >= 0 && s.hit_ratio <= 1), `hit_ratio ${s.hit_ratio}`);
  assert.equal(typeof s.kv_reads, "number");

  assert.ok(Array.isArray(s.series) && s.series.length > 0, "series");
  let prev = -1;
  for (const b of s.series) {
    assert.deepEqual(Object.keys(b).sort(), ["bypasses", "hits", "misses", "requests", "t"], JSON.stringify(b));
    assert.equal(b.t % (s.bucket_secs * 1000), 0, `bucket start is aligned: ${b.t}`);
    assert.ok(b.t > prev, "series is oldest first, one entry per bucket");
    assert.ok(b.t <= s.now_ms);
    prev = b.t;
  }
  const sum = seriesSum(s);
  assert.equal(sum.requests, s.totals.requests, "the series (stack younger than an hour) sums to the totals");
  assert.equal(sum.hits, s.totals.hits_fresh + s.totals.hits_stale);
  assert.equal(sum.misses, s.totals.misses);
  assert.equal(sum.bypasses, s.totals.bypasses);

  assert.ok(Array.isArray(s.rules) && s.rules.length > 0, "rules");
  for (const r of s.rules) {
    assert.equal(typeof r.name, "string");
    for (const f of fields) assert.equal(typeof r[f], "number", `rules[${r.name}].${f}`);
    assert.ok(r.hit_ratio === null || typeof r.hit_ratio === "number");
  }
  assert.ok(s.rules.some((r) => r.name === "articles"), "the articles rule is listed");
  for (const f of fields) {
    assert.equal(s.rules.reduce((a, r) => a + r[f], 0), s.totals[f], `totals.${f} is the sum over rules`);
  }
  assert.equal(typeof s.bypass_reasons, "object");
  assert.ok(!Array.isArray(s.bypass_reasons));
  for (const [k, v] of Object.entries(s.bypass_reasons)) assert.equal(typeof v, "number", `bypass_reasons.${k}`);
});

test("10 requests to one fresh URL count 1 miss + 9 hits for its rule", T, async () => {
  const p = uniq("/lab/api-count"); // rule "lab"; no other test here uses /lab
  const u = lab(p, { headers: MAX60 });
  const s0 = await stats();
  const o0 = await originStats(h);
  for (let i = 0; i < 10; i++) {
    const r = await req(u);
    assert.equal(r.status, 200, r.why);
  }
  const s1 = await stats();
  const o1 = await originStats(h);
  const d = delta(ruleOf(s0, "lab"), ruleOf(s1, "lab"));
  assert.equal(d.requests, 10, `lab delta ${JSON.stringify(d)}`);
  assert.equal(d.misses, 1, `lab delta ${JSON.stringify(d)}`);
  assert.equal(d.hits_fresh, 9, `lab delta ${JSON.stringify(d)}`);
  assert.equal(d.hits_stale, 0);
  assert.equal(d.bypasses, 0);
  assert.equal(d.origin_fetches, 1);
  assert.equal(d.origin_errors, 0);
  assert.ok(d.bytes_origin > 0, "origin bytes counted");
  assert.equal(d.bytes_cache, 9 * d.bytes_origin, "each hit serves the stored body");
  assert.equal(o1.total - o0.total, 1, "the origin saw one request");
  const dt = delta(s0.totals, s1.totals);
  assert.equal(dt.requests, 10, `totals delta ${JSON.stringify(dt)}`);
  assert.equal(dt.misses, 1);
  assert.equal(dt.hits_fresh, 9);
  const ds = delta(seriesSum(s0), seriesSum(s1));
  assert.deepEqual(ds, { requests: 10, hits: 9, misses: 1, bypasses: 0 }, "the series sees the same traffic");
  const lr = s1.rules.find((r) => r.name === "lab");
  assert.ok(lr.hit_ratio > 0 && lr.hit_ratio <= 1, `hit_ratio ${lr.hit_ratio}`);
});

test("bypasses are counted by reason", T, async () => {
  const s0 = await stats();
  const c = await req(lab(uniq("/lab/api-bypass"), { headers: MAX60 }), { headers: { cookie: "sessionid=api1" } });
  assert.equal(c.status, 200, c.why);
  assert.match(c.headers.get("cache-status") ?? "", /fwd=bypass.*detail=cookie/, c.why);
  const s1 = await stats();
  assert.equal((s1.bypass_reasons.cookie ?? 0) - (s0.bypass_reasons.cookie ?? 0), 1, `cookie: ${JSON.stringify(s1.bypass_reasons)}`);
  assert.equal((s1.bypass_reasons.method ?? 0) - (s0.bypass_reasons.method ?? 0), 0);
  const dl = delta(ruleOf(s0, "lab"), ruleOf(s1, "lab"));
  assert.equal(dl.requests, 1, `lab delta ${JSON.stringify(dl)}`);
  assert.equal(dl.bypasses, 1);
  assert.equal(dl.misses + dl.hits_fresh + dl.hits_stale, 0);
  assert.equal(dl.origin_fetches, 1, "a bypass is an origin fetch");

  const post = await req(lab(uniq("/lab/api-post")), { method: "POST", body: "x=1", headers: { "content-type": "application/x-www-form-urlencoded" } });
  assert.ok(post.status < 500, post.why);
  const s2 = await stats();
  assert.equal((s2.bypass_reasons.method ?? 0) - (s1.bypass_reasons.method ?? 0), 1, `method: ${JSON.stringify(s2.bypass_reasons)}`);
  assert.equal((s2.bypass_reasons.cookie ?? 0) - (s1.bypass_reasons.cookie ?? 0), 0);
  const dl2 = delta(ruleOf(s1, "lab"), ruleOf(s2, "lab"));
  assert.equal(dl2.bypasses, 1, `lab delta ${JSON.stringify(dl2)}`);
  assert.equal(dl2.requests, 1);

  const rr = await req("/login");
  assert.equal(rr.status, 200, rr.why);
  const s3 = await stats();
  assert.equal((s3.bypass_reasons.rule ?? 0) - (s2.bypass_reasons.rule ?? 0), 1, `rule: ${JSON.stringify(s3.bypass_reasons)}`);
  assert.equal(ruleOf(s3, "login").bypasses - ruleOf(s2, "login").bypasses, 1);
  assert.equal(s3.totals.bypasses - s2.totals.bypasses, 1);
  const sumReasons = (s) => Object.values(s.bypass_reasons).reduce((a, b) => a + b, 0);
  assert.equal(sumReasons(s3), s3.totals.bypasses, "every bypass has exactly one reason");
});

test("origin_fetches agree with the origin's own count", T, async () => {
  const s0 = await stats();
  const o0 = await originStats(h);
  // A mix: misses, hits, a bypass, a POST, an uncacheable response, a 404 from the default rule.
  await req("/articles/3");
  await req("/articles/3");
  await req("/articles/3?utm_source=api");
  await req("/account", { headers: { cookie: "sessionid=api2" } });
  await req(lab(uniq("/lab/api-mix"), { headers: { "Cache-Control": "no-store" } }));
  await req(lab(uniq("/lab/api-mix")), { method: "POST", body: "a" });
  await req(`/no-such-page-${process.pid}-${Date.now()}`);
  const s1 = await stats();
  const o1 = await originStats(h);
  const ours = s1.totals.origin_fetches - s0.totals.origin_fetches;
  const theirs = o1.total - o0.total;
  assert.equal(ours, theirs, `origin_fetches delta ${ours} vs origin requests ${theirs}`);
  assert.ok(theirs >= 5, `the origin saw the non-hits (${theirs})`);
  // Since the stack started (a fresh state directory per file) the two counts agree as well.
  assert.equal(s1.totals.origin_fetches, o1.total, "absolute origin_fetches = origin requests");
});

test("/api/explain: bypass for a session cookie on /account", T, async () => {
  const r = await admin(`/__edgecache/api/explain?url=${encodeURIComponent("/account")}&cookie=${encodeURIComponent("sessionid=abc")}`);
  assert.equal(r.status, 200, r.why);
  const x = r.json();
  assert.equal(x.decision, "bypass");
  assert.equal(x.rule, "account");
  assert.equal(x.key, "");
  assert.match(x.reason, /^rule: "account" has bypass = true|^cookie: /, x.reason);
  assert.match(x.text, /decision\s+bypass/);

  // On a cacheable path the cookie itself is the reason.
  const r2 = await admin(`/__edgecache/api/explain?url=${encodeURIComponent("/articles/1")}&cookie=${encodeURIComponent("_ga=1; sessionid=abc")}`);
  assert.equal(r2.status, 200, r2.why);
  const x2 = r2.json();
  assert.equal(x2.decision, "bypass");
  assert.equal(x2.rule, "articles");
  assert.match(x2.reason, /^cookie: .*sessionid/, x2.reason);

  // method=POST → bypass by method.
  const r3 = await admin(`/__edgecache/api/explain?url=${encodeURIComponent("/articles/1")}&method=POST`);
  assert.equal(r3.status, 200, r3.why);
  assert.equal(r3.json().decision, "bypass");
  assert.match(r3.json().reason, /^method: POST/);
});

test("/api/explain: a cacheable article, key without tracking params, text identical to the CLI", T, async () => {
  const host = new URL(h.w).host;
  const target = `${h.w}/articles/1?utm_source=x`;
  for (const url of [target, "/articles/1?utm_source=x"]) {
    const r = await admin(`/__edgecache/api/explain?url=${encodeURIComponent(url)}`);
    assert.equal(r.status, 200, r.why);
    const x = r.json();
    assert.equal(x.decision, "cache", url);
    assert.equal(x.rule, "articles");
    assert.equal(x.rule_index, 4);
    assert.doesNotMatch(x.key, /utm_/, x.key);
    assert.match(x.key, new RegExp(`^https?://${host.replace(/\./g, "\\.")}/articles/1$`), x.key);
    assert.equal(x.mode, "cap");
    assert.equal(x.edge_ttl, "10m");
    assert.equal(x.swr, "5m");
    assert.equal(x.sie, "1d");
    for (const f of ["reason", "browser_ttl", "cookies", "text"]) assert.equal(typeof x[f], "string", f);
    // The worker's ORIGIN is the demo origin: the origin request goes there, with its Host.
    assert.equal(x.origin_mode, "origin");
    assert.equal(x.origin_url, `${h.o}/articles/1?utm_source=x`);
    assert.equal(x.origin_host, new URL(h.o).host);
    const cli = execFileSync("cargo", ["run", "-q", "--bin", "edgecache", "--", "explain", TEST_POLICY, target, "--origin", h.o], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 120_000,
    });
    assert.equal(x.text, cli, `the API's text is the CLI's output (for url=${url})`);
  }
  // Headers given as `Name: value` lines are used (Authorization bypasses).
  const a = await admin(`/__edgecache/api/explain?url=/articles/1&header=${encodeURIComponent("Authorization: Basic eA==")}`);
  assert.equal(a.status, 200, a.why);
  assert.equal(a.json().decision, "bypass");
  assert.match(a.json().reason, /^authorization/);
}, { timeout: 180_000 });

test("/api/explain: 400 with a detail for a missing url, a bad header line, a bad URL or method", T, async () => {
  for (const [q, re] of [
    ["", /url/],
    ["url=", /url/],
    ["url=/articles/1&header=NoColonHere", /header/],
    [`url=/articles/1&header=${encodeURIComponent("Bad Name: x")}`, /header/],
    ["url=ftp://example.com/x", /scheme|url/],
    ["url=http://", /url/],
    [`url=/articles/1&method=${encodeURIComponent("GE T")}`, /method/],
  ]) {
    const r = await admin(`/__edgecache/api/explain?${q}`);
    assert.equal(r.status, 400, `?${q}: ${r.why}`);
    const j = r.json();
    assert.equal(j.error, "bad_request", `?${q}`);
    assert.equal(typeof j.detail, "string");
    assert.match(j.detail, re, `?${q}: ${j.detail}`);
  }
});

test("/api/policy lists the rules of the test policy in order, then the default", T, async () => {
  const r = await admin("/__edgecache/api/policy");
  assert.equal(r.status, 200, r.why);
  const p = r.json();
  assert.equal(p.file, TEST_POLICY, "the worker under test embeds the test policy");
  const src = readFileSync(join(ROOT, TEST_POLICY), "utf8");
  // Each [[rules]] table's own `name = "..."` line (comments may sit between the header and it).
  const names = src
    .split(/^\[\[rules\]\][ \t]*$/m)
    .slice(1)
    .map((t) => /^name\s*=\s*"([^"]+)"/m.exec(t.split(/^\[/m)[0])?.[1]);
  assert.ok(names.length >= 5, `parsed names: ${names}`);
  // The CLI's table agrees with the regex.
  const table = execFileSync("cargo", ["run", "-q", "--bin", "edgecache", "--", "check", TEST_POLICY], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
  const cliNames = table.split("\n").filter((l) => /^\d+\s/.test(l)).map((l) => l.split(/\s+/)[1]);
  assert.deepEqual(cliNames, names);
  assert.deepEqual(p.rules.map((x) => x.name), [...names, "default"]);
  p.rules.forEach((x, i) => {
    assert.equal(x.index, i, `${x.name} index`);
    for (const f of ["match", "mode", "edge_ttl", "browser_ttl", "swr", "sie"]) assert.equal(typeof x[f], "string", `${x.name}.${f}`);
    assert.equal(typeof x.bypass, "boolean");
  });
  const by = Object.fromEntries(p.rules.map((x) => [x.name, x]));
  assert.equal(by.cms.bypass, true);
  assert.equal(by.articles.bypass, false);
  assert.equal(by.articles.edge_ttl, "10m");
  assert.equal(by.articles.mode, "cap");
  assert.equal(by.articles.match, "/articles/*");
});

test("/__edgecache redirects to /__edgecache/; the dashboard is served with no-store", T, async () => {
  const r = await req("/__edgecache");
  assert.ok([301, 302, 307, 308].includes(r.status), r.why);
  assert.equal(new URL(r.headers.get("location"), h.w).pathname, "/__edgecache/");
  const q = await req("/__edgecache?x=1");
  assert.ok([301, 302, 307, 308].includes(q.status), q.why);
  assert.equal(new URL(q.headers.get("location"), h.w).pathname, "/__edgecache/");

  const idx = await req("/__edgecache/");
  assert.equal(idx.status, 200, idx.why);
  assert.match(idx.headers.get("content-type") ?? "", /text\/html/);
  assert.equal(idx.headers.get("cache-control"), "no-store");
  assert.match(idx.text, /<html/i);
  assert.match(idx.text, /app\.js/, "the page loads app.js");
  assert.equal(idx.headers.get("cache-status"), null, "the dashboard never goes through the cache");

  const js = await req("/__edgecache/app.js");
  assert.equal(js.status, 200, js.why);
  assert.match(js.headers.get("content-type") ?? "", /javascript/);
  assert.equal(js.headers.get("cache-control"), "no-store");
  assert.equal(js.text, readFileSync(join(ROOT, "www/app.js"), "utf8"));

  // The dashboard needs no token (its API calls do).
  const head = await req("/__edgecache/", { method: "HEAD" });
  assert.equal(head.status, 200, head.why);
  const post = await req("/__edgecache/", { method: "POST", body: "" });
  assert.equal(post.status, 405, post.why);
});

test("a site path that only starts with __edgecache goes to the origin", T, async () => {
  const before = await originStats(h);
  for (const p of ["/__edgecachex", "/__edgecache-api/stats", "/__edgecacheapi/stats"]) {
    const r = await req(p, { headers: AUTH });
    assert.equal(r.status, 404, r.why);
    assert.match(r.headers.get("cache-status") ?? "", /edgecache/, `went through the cache path: ${r.why}`);
    assert.doesNotMatch(r.text, /"error"\s*:\s*"(unauthorized|not_found)"/, "not an admin answer");
  }
  const after = await originStats(h);
  assert.equal(after.paths["/__edgecachex"]?.GET ?? 0, (before.paths["/__edgecachex"]?.GET ?? 0) + 1, "the origin saw /__edgecachex");
});

test("counts flushed in the background (every 2 s) are in the next stats call", { timeout: 60_000 }, async () => {
  // After 2 s without a flush, the next site request sends its isolate's counts to the hub
  // through wait_until. A stats call right behind it must still see them.
  for (let round = 0; round < Number(process.env.API_BG_ROUNDS ?? 3); round++) {
    const s0 = await stats();
    await sleep(2_100);
    const p = uniq("/lab/api-bg");
    const r = await req(lab(p, { headers: MAX60 }));
    assert.equal(r.status, 200, r.why);
    const s1 = await stats();
    const d = delta(ruleOf(s0, "lab"), ruleOf(s1, "lab"));
    assert.equal(d.requests, 1, `round ${round}: lab delta ${JSON.stringify(d)}`);
    assert.equal(d.misses, 1, `round ${round}: lab delta ${JSON.stringify(d)}`);
    assert.equal(d.origin_fetches, 1, `round ${round}: lab delta ${JSON.stringify(d)}`);
  }
});

const setFail = (paths, mode) =>
  fetch(`${h.o}/__origin/fail`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ paths, mode }) }).then((r) => r.json());

test("a 5xx from the origin on a miss counts as an origin error", T, async () => {
  // A miss answered with 500 (rule "lab-short"): one origin fetch, one origin error, no hit.
  const p = uniq("/lab/short/api-err");
  await setFail([p], "500");
  try {
    const s0 = await stats();
    const o0 = await originStats(h);
    const r = await req(p);
    assert.equal(r.status, 500, r.why);
    const s1 = await stats();
    const o1 = await originStats(h);
    const d = delta(ruleOf(s0, "lab-short"), ruleOf(s1, "lab-short"));
    assert.equal(d.requests, 1, `lab-short delta ${JSON.stringify(d)}`);
    assert.equal(d.misses, 1, `lab-short delta ${JSON.stringify(d)}`);
    assert.equal(d.origin_fetches, o1.total - o0.total, `lab-short delta ${JSON.stringify(d)}`);
    assert.equal(d.origin_errors, 1, `a 5xx from the origin is an origin error: ${JSON.stringify(d)}`);
  } finally {
    await setFail([p], null);
  }
});

test("stale-if-error counts a stale hit, a revalidation and an origin error", T, async () => {
  // Rule "lab-sie": fresh 1 s, then stale for an hour when the origin fails.
  const q = uniq("/lab/sie/api-err");
  const first = await req(q);
  assert.equal(first.status, 200, first.why);
  await sleep(2_200);
  await setFail([q], "500");
  try {
    const s0 = await stats();
    const r = await req(q);
    assert.equal(r.status, 200, `served stale: ${r.why}`);
    assert.match(r.headers.get("cache-status") ?? "", /stale-if-error/, r.why);
    assert.equal(r.text, first.text);
    const s1 = await stats();
    const d = delta(ruleOf(s0, "lab-sie"), ruleOf(s1, "lab-sie"));
    assert.equal(d.requests, 1, `lab-sie delta ${JSON.stringify(d)}`);
    assert.equal(d.hits_stale, 1, `lab-sie delta ${JSON.stringify(d)}`);
    assert.equal(d.misses, 0, `lab-sie delta ${JSON.stringify(d)}`);
    assert.equal(d.revalidations, 1, `lab-sie delta ${JSON.stringify(d)}`);
    assert.equal(d.origin_fetches, 1, `lab-sie delta ${JSON.stringify(d)}`);
    assert.equal(d.origin_errors, 1, `lab-sie delta ${JSON.stringify(d)}`);
  } finally {
    await setFail([q], null);
  }
});

test("stale-while-revalidate counts a stale hit and a background revalidation", T, async () => {
  // Rule "lab-swr": fresh 1 s, then served stale for 30 s while one background refetch runs.
  const p = uniq("/lab/swr/api-swr");
  const first = await req(p);
  assert.equal(first.status, 200, first.why);
  await sleep(1_600);
  const s0 = await stats();
  const r = await req(p);
  assert.match(r.headers.get("cache-status") ?? "", /; hit.*stale-while-revalidate/, r.why);
  // The refetch runs after the response (wait_until): wait for its origin fetch to be counted.
  let s1, d;
  const t0 = Date.now();
  for (;;) {
    s1 = await stats();
    d = delta(ruleOf(s0, "lab-swr"), ruleOf(s1, "lab-swr"));
    if (d.origin_fetches >= 1 || Date.now() - t0 > 20_000) break;
    await sleep(100);
  }
  assert.equal(d.requests, 1, `lab-swr delta ${JSON.stringify(d)}`);
  assert.equal(d.hits_stale, 1, `lab-swr delta ${JSON.stringify(d)}`);
  assert.equal(d.misses, 0, `lab-swr delta ${JSON.stringify(d)}`);
  assert.equal(d.origin_fetches, 1, `lab-swr delta ${JSON.stringify(d)}`);
  assert.equal(d.revalidations, 1, `a background revalidation is a revalidation: ${JSON.stringify(d)}`);
});
