// RFC 9111 shared-cache behaviour through the real stack, on /lab/** (rule "lab": respect mode,
// heuristics off, no edge-configured TTL or stale windows). Each test asks the lab origin for
// specific response headers and checks what a second client gets.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useStack, uniq, lab, originCount, originStats, ours, isHit, request, sleep } from "./helpers.mjs";

const h = useStack();
const T = { timeout: 60_000 }; // generous: CI is a noisy 2-core machine

const req = (path, init) => request(h.w, path, init);
const ttlOf = (r) => Number(/; ttl=(-?\d+)/.exec(ours(r))?.[1] ?? NaN);
function assertHit(r, msg = "") {
  assert.match(ours(r), /^edgecache; hit(;|$)/, `expected a hit ${msg}: ${r.why}`);
  assert.match(r.headers.get("age") ?? "", /^\d+$/, `a hit carries Age (§5.1): ${r.why}`);
}
function assertForwarded(r, msg = "") {
  assert.ok(!isHit(r), `expected no hit ${msg}: ${r.why}`);
  assert.match(ours(r), /^edgecache; fwd=[a-z-]+/, `expected fwd= ${msg}: ${r.why}`);
}
const httpDate = (secsFromNow) => new Date(Date.now() + secsFromNow * 1000).toUTCString();

/**
 * Two plain GETs of a lab URL with these response headers: the second must go to the origin.
 * `mustNotStore`: the first response must not even be stored (a MUST NOT of the RFC, or Vary: *);
 * otherwise storing is allowed (e.g. an already stale response) as long as it is not reused.
 */
async function assertNotReused(name, q, { mustNotStore = false } = {}) {
  const p = uniq(`/lab/rfc-${name}`);
  const u = lab(p, q);
  const r1 = await req(u);
  assert.equal(r1.status, 200, r1.why);
  if (mustNotStore) assert.doesNotMatch(ours(r1), /; stored/, `${name}: not stored: ${r1.why}`);
  const r2 = await req(u);
  assertForwarded(r2, `(${name})`);
  assert.equal(r2.json().count, 2, `${name}: the second client got a new response`);
  assert.equal(await originCount(h, p), 2);
}
/** Two plain GETs: the second is a hit. */
async function assertReused(name, q) {
  const p = uniq(`/lab/rfc-${name}`);
  const u = lab(p, q);
  const r1 = await req(u);
  assert.equal(r1.status, 200, r1.why);
  const r2 = await req(u);
  assertHit(r2, `(${name})`);
  assert.equal(r2.text, r1.text);
  assert.equal(await originCount(h, p), 1);
  return r2;
}

test("s-maxage takes precedence over max-age in a shared cache (§5.2.2.10)", T, async () => {
  await assertNotReused("smaxage0", { headers: { "Cache-Control": "max-age=60, s-maxage=0" } });
  await assertReused("smaxage60", { headers: { "Cache-Control": "max-age=0, s-maxage=60" } });
});

test("no-store is never stored (§5.2.2.5)", T, async () => {
  await assertNotReused("nostore", { headers: { "Cache-Control": "public, max-age=60, no-store" } }, { mustNotStore: true });
});

test("private is never stored by a shared cache (§5.2.2.7)", T, async () => {
  await assertNotReused("private", { headers: { "Cache-Control": "private, max-age=60" } }, { mustNotStore: true });
});

test("no-cache is stored but revalidated before every reuse (§5.2.2.4)", T, async () => {
  const p = uniq("/lab/rfc-nocache");
  const u = lab(p, { etag: "nc1", headers: { "Cache-Control": "public, max-age=60, no-cache" } });
  const r1 = await req(u);
  assert.equal(r1.status, 200);
  const s0 = await originStats(h);
  for (let i = 2; i <= 3; i++) {
    const r = await req(u);
    assert.equal(r.status, 200, r.why);
    assert.ok(!isHit(r), `revalidated, not a plain hit: ${r.why}`);
    assert.match(ours(r), /fwd-status=304/, r.why);
    assert.equal(r.text, r1.text, "the stored body after a 304");
    assert.equal(await originCount(h, p), i);
  }
  const s1 = await originStats(h);
  assert.equal(s1.conditional304 - s0.conditional304, 2, "both revalidations were conditional (the response was stored)");
});

test("Expires/Date give freshness (§4.2.1); an invalid Expires means already expired (§5.3)", T, async () => {
  await assertReused("expires", { date: httpDate(0), headers: { Expires: httpDate(60) } });
  await assertNotReused("expires0", { headers: { Expires: "0" } });
  // Expires − Date = 60 s, but the response is already 120 s old by its Date.
  await assertNotReused("expires-old", { date: httpDate(-120), headers: { Expires: httpDate(-60) } });
  // Date an hour ago, Expires in a minute: lifetime 3660 s, apparent age ~3600 s (§4.2.3).
  const r = await assertReused("expires-date", { date: httpDate(-3600), headers: { Expires: httpDate(60) } });
  assert.ok(ttlOf(r) > 0 && ttlOf(r) <= 61, `remaining freshness ≈ 60 s: ${r.why}`);
  assert.ok(Number(r.headers.get("age")) >= 3599, `Age includes the apparent age: ${r.headers.get("age")}`);
});

test("an upstream Age reduces freshness (§4.2.3)", T, async () => {
  const r = await assertReused("age30", { age: 30, headers: { "Cache-Control": "max-age=60" } });
  assert.ok(Number(r.headers.get("age")) >= 30, `Age ≥ the upstream age: ${r.headers.get("age")}`);
  assert.ok(ttlOf(r) > 0 && ttlOf(r) <= 30, `ttl ≤ 60 − 30: ${r.why}`);
  await assertNotReused("age100", { age: 100, headers: { "Cache-Control": "max-age=60" } });
});

test("without explicit freshness nothing is reused (heuristics off, no fallback TTL on /lab)", T, async () => {
  await assertNotReused("noexplicit", { lm: httpDate(-365 * 86400) });
});

test("Vary: Accept-Language is matched on the request header (§4.1)", T, async () => {
  const p = uniq("/lab/rfc-vary");
  const u = lab(p, { headers: { "Cache-Control": "public, max-age=60", Vary: "Accept-Language" } });
  const en1 = await req(u, { headers: { "accept-language": "en" } });
  assert.equal(en1.json().headers["accept-language"], "en");
  const en2 = await req(u, { headers: { "accept-language": "en" } });
  assertHit(en2, "(same Accept-Language)");
  assert.equal(en2.text, en1.text);
  const fr1 = await req(u, { headers: { "accept-language": "fr" } });
  assertForwarded(fr1, "(different Accept-Language)");
  assert.equal(fr1.json().headers["accept-language"], "fr", "the fr client never gets the en response");
  const fr2 = await req(u, { headers: { "accept-language": "fr" } });
  assertHit(fr2, "(fr, now stored)");
  assert.equal(fr2.json().headers["accept-language"], "fr");
  assert.equal(await originCount(h, p), 2);
});

test("Vary: * is never reused (§4.1)", T, async () => {
  await assertNotReused("varystar", { headers: { "Cache-Control": "public, max-age=60", Vary: "*" } }, { mustNotStore: true });
});

test("request Cache-Control: no-cache (and Pragma: no-cache) forces a trip to the origin (§5.2.1.4, §5.4)", T, async () => {
  const p = uniq("/lab/rfc-reqnc");
  const u = lab(p, { etag: "rq1", headers: { "Cache-Control": "public, max-age=60" } });
  const r1 = await req(u);
  assertHit(await req(u));
  const r3 = await req(u, { headers: { "cache-control": "no-cache" } });
  assert.equal(r3.status, 200, r3.why);
  assert.ok(!isHit(r3), `not answered from the cache: ${r3.why}`);
  assert.equal(await originCount(h, p), 2);
  assert.equal(r3.json().path, p);
  const r4 = await req(u, { headers: { pragma: "no-cache" } });
  assert.ok(!isHit(r4), `Pragma: no-cache without Cache-Control: ${r4.why}`);
  assert.equal(await originCount(h, p), 3);
  const r5 = await req(u);
  assertHit(r5, "(a plain request afterwards)");
  assert.equal(r5.json().path, r1.json().path);
  assert.equal(await originCount(h, p), 3);
});

test("hop-by-hop headers (named in Connection) are neither stored nor forwarded (§3.1)", T, async () => {
  const p = uniq("/lab/rfc-hop");
  const u = lab(p, { headers: { "Cache-Control": "public, max-age=60", Connection: "x-foo", "X-Foo": "1", "X-Bar": "kept" } });
  const r1 = await req(u);
  const r2 = await req(u);
  assertHit(r2);
  for (const [n, r] of [["miss", r1], ["hit", r2]]) {
    assert.equal(r.headers.get("x-foo"), null, `${n}: X-Foo is hop-by-hop here: ${r.why}`);
    assert.equal(r.headers.get("x-bar"), "kept", `${n}: other end-to-end headers are kept`);
  }
});

test("a client's If-None-Match on a miss reaches the origin; its 304 answers that client only (§4.3.2)", T, async () => {
  const p = uniq("/lab/rfc-inm-miss");
  const u = lab(p, { etag: "m1", headers: { "Cache-Control": "public, max-age=60" } });
  const r1 = await req(u, { headers: { "if-none-match": '"m1"' } });
  assert.equal(r1.status, 304, `the origin's 304, forwarded: ${r1.why}`);
  assert.equal(r1.headers.get("etag"), '"m1"');
  assert.equal(await originCount(h, p), 1);
  const r2 = await req(u);
  assert.equal(r2.status, 200, r2.why);
  assertForwarded(r2, "(nothing was stored from the 304)");
  assert.equal(await originCount(h, p), 2);
  // fetch() adds `Cache-Control: no-cache` to a conditional request unless it has its own.
  const r3 = await req(u, { headers: { "if-none-match": '"m1"', "cache-control": "max-age=3600" } });
  assert.equal(r3.status, 304, `answered from the stored 200: ${r3.why}`);
  assertHit(r3);
  assert.equal(await originCount(h, p), 2);
});

/** The parts of a multipart/byteranges body (RFC 9110 §14.6): [Content-Range, text]. */
function byteranges(r) {
  const m = /^multipart\/byteranges; boundary=(\S+)$/.exec(r.headers.get("content-type") ?? "");
  assert.ok(m, `multipart/byteranges: ${r.why}`);
  const out = [];
  for (const part of r.text.split(`--${m[1]}`).slice(1)) {
    if (part.startsWith("--")) break;
    const [head, ...rest] = part.split("\r\n\r\n");
    out.push([/Content-Range: (.*)/.exec(head)?.[1], rest.join("\r\n\r\n").replace(/\r\n$/, "")]);
  }
  return out;
}

test("ranges through the real Cache API: 206 on the miss and on hits, multipart/byteranges, 416 (RFC 9110 §14)", T, async () => {
  const body = "abcdefghij".repeat(30); // 300 bytes
  const p = uniq("/lab/rfc-ranges");
  const u = lab(p, { body, headers: { "Cache-Control": "public, max-age=60" } });
  const r1 = await req(u, { headers: { range: "bytes=0-4" } });
  assert.equal(r1.status, 206, `a range of the response being stored: ${r1.why}`);
  assert.equal(r1.text, "abcde");
  assert.equal(r1.headers.get("content-range"), "bytes 0-4/300");
  const r2 = await req(u, { headers: { range: "bytes=-3" } });
  assertHit(r2);
  assert.equal(r2.status, 206, r2.why);
  assert.equal(r2.text, "hij");
  const r3 = await req(u, { headers: { range: "bytes=10-11, 205-207" } });
  assertHit(r3);
  assert.equal(r3.status, 206, r3.why);
  assert.equal(r3.headers.get("content-range"), null, "no Content-Range on a multipart answer");
  assert.deepEqual(byteranges(r3), [["bytes 10-11/300", "ab"], ["bytes 205-207/300", "fgh"]]);
  const r4 = await req(u, { headers: { range: "bytes=300-" } });
  assert.equal(r4.status, 416, r4.why);
  assert.equal(r4.headers.get("content-range"), "bytes */300");
  const r5 = await req(u);
  assert.equal(r5.text, body);
  assert.equal(await originCount(h, p), 1);
  // A range of a large body on its miss: the client gets its 10 bytes, the cache the whole body.
  const big = uniq("/lab/rfc-ranges-big");
  const ub = lab(big, { bytes: 300000, headers: { "Cache-Control": "public, max-age=60" } });
  const b1 = await req(ub, { headers: { range: "bytes=0-9" } });
  assert.equal(b1.status, 206, b1.why);
  assert.equal(b1.text, "edgecache-");
  let b2;
  for (let i = 0; i < 50; i++) { // the store finishes in the background
    b2 = await req(ub);
    if (isHit(b2)) break;
    await sleep(100);
  }
  assertHit(b2, "(stored whole)");
  assert.equal(b2.text.length, 300000);
  assert.equal(await originCount(h, big), 1);
});
