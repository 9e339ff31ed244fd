// Issue 18: the zone purge accelerator through the real stack. edgecache runs with CF_API_TOKEN,
// CF_ZONE_ID and CF_API_BASE pointing at a local fake of Cloudflare's purge API
// (tests/e2e/fake-cf-api.mjs). Every accepted purge is recorded in KV first, then the purge
// ledger's alarm calls the API, chunked to the documented per-call limits, retrying 429 and 5xx,
// and logs each outcome; a refused token or an API that is down never loses the KV record.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { useZoneStack, uniq, lab, request, ours } from "./helpers.mjs";
import { DEV_SECRETS } from "../../scripts/stack.mjs";

const { h, zone } = useZoneStack();
const TOKEN = zone.token;

const T = { timeout: 120_000 };
const req = (path, init) => request(h.w, path, init);

async function purgeOk(body) {
  const r = await req("/__edgecache/purge", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${DEV_SECRETS.PURGE_TOKEN}` },
    body: JSON.stringify(body),
  });
  assert.equal(r.status, 202, r.why);
  return r.json();
}

/**
 * The purge log entry `id`, once `pred(entry.zone)` holds (polled; bounded). A read the ledger
 * did not answer in time is a 504 JSON error (admin::OBJECT_READ_TIMEOUT_MS), polled again like
 * the dashboard does; at most one such per call, and it is reported.
 */
async function logEntry(id, pred = () => true, ms = 60_000) {
  const t0 = Date.now();
  let last;
  let cut = 0;
  while (Date.now() - t0 < ms) {
    const r = await req("/__edgecache/purges", { headers: { authorization: `Bearer ${DEV_SECRETS.ADMIN_TOKEN}` } });
    if (r.status === 504 && cut++ === 0) {
      assert.equal(r.json().error, "object_timeout", r.why);
      console.log(`purge log read cut after ${Math.round(r.ms)} ms; polling again`);
      continue;
    }
    assert.equal(r.status, 200, r.why);
    last = r.json().purges.find((e) => e.id === id);
    if (last && pred(last.zone ?? {})) return last;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`purge log entry ${id}: condition not met after ${ms} ms; last: ${JSON.stringify(last)}`);
}

/** The tag every stored copy of a URL carries (purge::zone::url_tag): sha256 of the key, 16 bytes. */
const urlTag = (key) => `__ec_url_${createHash("sha256").update(key).digest("hex").slice(0, 32)}`;

const tagged = (path, tag) => lab(path, { headers: { "Cache-Control": "max-age=300", "Cache-Tag": tag } });

async function prime(u) {
  const r1 = await req(u);
  assert.match(ours(r1), /fwd=uri-miss; fwd-status=200(;.*)?; stored/, r1.why);
  const r2 = await req(u);
  assert.match(ours(r2), /^edgecache; hit;/, r2.why);
  assert.equal(r2.headers.get("cache-tag"), null, "Cache-Tag never reaches the browser");
}

test("tags, URLs and prefixes reach the API in documented shapes, split to 100 per call", T, async () => {
  zone.fake.reset();
  const run = randomBytes(3).toString("hex");
  const tags = Array.from({ length: 100 }, (_, i) => `z-${run}-${i}`);
  const urls = Array.from({ length: 30 }, (_, i) => `/lab/zone/${run}/${i}?utm_source=x`);
  const out = await purgeOk({ tags, urls, prefixes: [`/lab/zone-p/${run}/`] });
  assert.equal(out.zone_purge, "queued");
  const keys = out.recorded.urls;
  assert.equal(keys.length, 30);

  const calls = await zone.fake.waitFor((cs) => cs.filter((c) => c.status === 200).length >= 4);
  await new Promise((r) => setTimeout(r, 300)); // nothing more may follow
  assert.equal(calls.length, 4, JSON.stringify(calls.map((c) => c.body)));
  for (const c of calls) {
    assert.equal(c.auth, `Bearer ${TOKEN}`);
    assert.equal(c.zone, zone.fake.zoneId);
    assert.equal(Object.keys(c.body).length, 1, "one kind per call");
  }
  const [files, tags1, tags2, prefixes] = calls.map((c) => c.body);
  assert.deepEqual(files.files, keys, "URLs are sent as their cache keys");
  assert.ok(keys.every((k) => k.startsWith("https://") && !k.includes("utm_")), `${keys[0]}`);
  assert.deepEqual(tags1.tags, tags, "the first 100 tags");
  assert.deepEqual(tags2.tags, keys.map(urlTag), "then the 30 URL tags");
  assert.deepEqual(prefixes.prefixes, [`127.0.0.1/lab/zone-p/${run}`], "host/path, no scheme");

  const e = await logEntry(out.id, (z) => z.state === "done");
  assert.deepEqual([e.zone.calls, e.zone.done, e.zone.failed, e.zone.attempts], [4, 4, 0, 4]);
});

test("purge everything is one purge_everything call", T, async () => {
  zone.fake.reset();
  const out = await purgeOk({ everything: true });
  const calls = await zone.fake.waitFor((cs) => cs.length >= 1);
  assert.deepEqual(calls[0].body, { purge_everything: true });
  await logEntry(out.id, (z) => z.state === "done");
});

test("a soft purge stays in KV only: the API can only delete", T, async () => {
  zone.fake.reset();
  const soft = `soft-${randomBytes(3).toString("hex")}`;
  const hard = `hard-${randomBytes(3).toString("hex")}`;
  const s = await purgeOk({ tags: [soft], soft: true });
  assert.equal(s.zone_purge, "kv-only");
  const hd = await purgeOk({ tags: [hard] });
  // The hard purge's call comes after anything the soft one would have queued.
  const calls = await zone.fake.waitFor((cs) => cs.some((c) => c.raw.includes(hard) && c.status === 200));
  assert.ok(!calls.some((c) => c.raw.includes(soft)), "the soft purge never reached the API");
  const e = await logEntry(s.id);
  assert.equal(e.zone.state, "kv-only");
  assert.match(e.zone.detail, /soft/);
  await logEntry(hd.id, (z) => z.state === "done");
});

test("429 with Retry-After and 5xx are retried with backoff until the call succeeds", T, async () => {
  zone.fake.reset();
  zone.fake.script([{ status: 429, retryAfter: 1 }, { status: 503 }, { status: 429, retryAfter: 1 }]);
  const tag = `retry-${randomBytes(3).toString("hex")}`;
  const out = await purgeOk({ tags: [tag] });
  const calls = await zone.fake.waitFor((cs) => cs.some((c) => c.status === 200));
  assert.deepEqual(calls.map((c) => c.status), [429, 503, 429, 200]);
  assert.ok(calls.every((c) => c.raw === JSON.stringify({ tags: [tag] })), "the same call each time");
  assert.ok(calls[1].at - calls[0].at >= 1000, `Retry-After: 1 honoured (${calls[1].at - calls[0].at} ms)`);
  assert.ok(calls[2].at - calls[1].at >= 500, `backoff after the 503 (${calls[2].at - calls[1].at} ms)`);
  const e = await logEntry(out.id, (z) => z.state === "done");
  assert.equal(e.zone.attempts, 4);
});

test("a refused token is logged and not retried; the KV record still purges", T, async () => {
  zone.fake.reset();
  const tag = `refused-${randomBytes(3).toString("hex")}`;
  const u = tagged(uniq("/lab/zone-refused"), tag);
  await prime(u);
  zone.fake.setToken("rotated-elsewhere");
  const out = await purgeOk({ tags: [tag] });
  // KV is the guarantee: the entry is purged whatever the API says.
  const r = await req(u);
  assert.match(ours(r), /^edgecache; fwd=uri-miss; fwd-status=200(;.*)?; detail=purged/, r.why);
  const e = await logEntry(out.id, (z) => z.state === "failed");
  assert.match(e.zone.detail, /403 \[10000\] Authentication error/);
  assert.equal(e.zone.attempts, 1, "a refused token is not retried");
  assert.equal(zone.fake.calls.length, 1);
  zone.fake.reset();
});

test("while the API fails, purges still apply through KV; the call completes once it is back", T, async () => {
  zone.fake.reset();
  zone.fake.script(Array.from({ length: 6 }, () => ({ status: 500 })));
  const tag = `down-${randomBytes(3).toString("hex")}`;
  const u = tagged(uniq("/lab/zone-down"), tag);
  await prime(u);
  const out = await purgeOk({ tags: [tag] });
  const r = await req(u);
  assert.match(ours(r), /^edgecache; fwd=uri-miss; fwd-status=200(;.*)?; detail=purged/, r.why);
  await zone.fake.waitFor((cs) => cs.some((c) => c.status === 500));
  const e = await logEntry(out.id, (z) => z.state === "pending" && /500/.test(z.detail ?? ""));
  assert.equal(e.zone.done, 0);
  zone.fake.reset(); // the API is back: the next retry succeeds
  const done = await logEntry(out.id, (z) => z.state === "done");
  assert.ok(done.zone.attempts >= 2, `retried (${done.zone.attempts} attempts)`);
});
