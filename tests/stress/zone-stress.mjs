// A hunt for the one flake seen in CI (tests/e2e/zone.test.mjs, "429 with Retry-After and 5xx are
// retried"): a GET /__edgecache/purges sent right after the zone API's 200 got no answer for 30 s,
// until the next request reached the worker. This repeats that test's steps ITER times (default
// 30) in one stack, reading the log at once and then every GAP ms, and fails on any read slower
// than 2 s. Not part of ./test: `node --test tests/stress/zone-stress.mjs` (build/ as for ./test).
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { useZoneStack } from "../e2e/helpers.mjs";
import { DEV_SECRETS } from "../../scripts/stack.mjs";

const { h, zone } = useZoneStack();
const ITER = Number(process.env.ITER ?? 30);
const GAP = Number(process.env.GAP ?? 200);

async function timed(path, init) {
  const t0 = Date.now();
  const r = await fetch(h.w + path, { ...init, signal: AbortSignal.timeout(8000) }).then(
    async (r) => ({ status: r.status, body: await r.text() }),
    (e) => ({ status: 0, body: String(e) }),
  );
  return { ...r, ms: Date.now() - t0 };
}

test("stress", { timeout: 3_600_000 }, async () => {
  const slow = [];
  let n = 0;
  for (let i = 0; i < ITER; i++) {
    zone.fake.reset();
    zone.fake.script([{ status: 429, retryAfter: 1 }, { status: 503 }, { status: 429, retryAfter: 1 }]);
    const tag = `retry-${randomBytes(3).toString("hex")}`;
    const p = await timed("/__edgecache/purge", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${DEV_SECRETS.PURGE_TOKEN}` },
      body: JSON.stringify({ tags: [tag] }),
    });
    assert.equal(p.status, 202, p.body);
    const id = JSON.parse(p.body).id;
    await zone.fake.waitFor((cs) => cs.some((c) => c.status === 200));
    const d = i % 8 * 3;
    if (d) await new Promise((res) => setTimeout(res, d));
    const t0 = Date.now();
    for (;;) {
      const r = await timed("/__edgecache/purges", { headers: { authorization: `Bearer ${DEV_SECRETS.ADMIN_TOKEN}` } });
      n++;
      if (r.ms > 2000 || r.status !== 200) {
        slow.push({ i, d, ms: r.ms, status: r.status, at: new Date().toISOString() });
        console.log("SLOW", JSON.stringify(slow.at(-1)));
      }
      if (r.status === 200) {
        const e = JSON.parse(r.body).purges.find((x) => x.id === id);
        if (e?.zone?.state === "done") break;
      }
      if (Date.now() - t0 > 30000) { console.log("iteration", i, "not done in 30 s"); break; }
      await new Promise((res) => setTimeout(res, GAP));
    }
    console.log(`iter ${i} done in ${Date.now() - t0} ms`);
  }
  console.log(`polls ${n}, slow ${slow.length}`, JSON.stringify(slow));
  assert.equal(slow.length, 0);
});
