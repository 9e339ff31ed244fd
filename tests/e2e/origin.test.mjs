// Issue 18: same-zone origin mode through `wrangler dev`. With ORIGIN empty, edgecache sends the
// origin request to the request's own URL with the client's Host, as on a Cloudflare route where
// a Worker's subrequest to its own zone's hostname goes to the zone's origin server.
//
// Locally, `wrangler dev --local-upstream <site> --upstream-protocol http` plays the zone: the
// worker sees every request as addressed to `http://<site>/…` (Host: <site>) and its subrequests
// to that URL reach the demo origin at that address, as a proxied DNS record would. The site is
// `localhost:<origin port>` when `localhost` resolves to 127.0.0.1 here (a name distinct from the
// address the origin listens on), else `127.0.0.1:<origin port>`.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { lookup } from "node:dns/promises";
import { startOrigin, startWorker, runningGroups, DEV_SECRETS } from "../../scripts/stack.mjs";
import { uniq, lab, request, ours, originCount } from "./helpers.mjs";

const h = { w: "", o: "", site: "" };
let origin, worker;
before(async () => {
  origin = await startOrigin();
  const port = new URL(origin.url).port;
  const local = await lookup("localhost", { family: 4 }).catch(() => null);
  h.site = `${local?.address === "127.0.0.1" ? "localhost" : "127.0.0.1"}:${port}`;
  worker = await startWorker({
    origin: "", // ORIGIN empty: same-zone mode
    vars: { ...DEV_SECRETS, EDGECACHE_DEBUG: "1" },
    args: ["--local-upstream", h.site, "--upstream-protocol", "http"],
  });
  Object.assign(h, { w: worker.url, o: origin.url });
}, { timeout: 600_000 });
after(async () => {
  await worker?.stop();
  await origin?.stop();
  const left = runningGroups();
  if (left.length) throw new Error(`process groups left running: ${left.join(", ")}`);
});

const T = { timeout: 20_000 };
const req = (path, init) => request(h.w, path, init);
const admin = { authorization: `Bearer ${DEV_SECRETS.ADMIN_TOKEN}` };

test("without ORIGIN the origin request goes to the request's own URL, and the origin sees the site's Host", T, async () => {
  const path = uniq("/lab/same-zone");
  const u = lab(path, { headers: { "Cache-Control": "max-age=300" }, q: "1" });
  const r1 = await req(u);
  assert.equal(r1.status, 200, r1.why);
  assert.match(ours(r1), /^edgecache; fwd=uri-miss; fwd-status=200(;.*)?; stored/, r1.why);
  const seen = r1.json();
  assert.equal(seen.headers.host, h.site, "the origin saw the site's Host");
  assert.equal(seen.path, path, "same path");
  assert.deepEqual(seen.query.q, ["1"], "same query");
  assert.match(r1.headers.get("x-edgecache-debug") ?? "", new RegExp(`key=https://${h.site.replace(".", "\\.")}${path}`));
  const r2 = await req(u);
  assert.match(ours(r2), /^edgecache; hit;/, r2.why);
  assert.equal(await originCount(h, path), 1, "one origin request, then hits");
});

test("a bypassed request (POST) goes the same way, with its body", T, async () => {
  const path = uniq("/lab/same-zone-post");
  const r = await req(path, { method: "POST", headers: { "content-type": "text/plain" }, body: "hello" });
  assert.equal(r.status, 200, r.why);
  assert.match(ours(r), /fwd=method/, r.why);
  const seen = r.json();
  assert.equal(seen.method, "POST");
  assert.equal(seen.body, "hello");
  assert.equal(seen.headers.host, h.site);
});

test("the demo site works through its own URL", T, async () => {
  const r = await req("/");
  assert.equal(r.status, 200, r.why);
  assert.match(r.text, /<html/i);
});

test("explain and the dashboard API show the same-zone mode", T, async () => {
  const x = await req(`/__edgecache/api/explain?url=${encodeURIComponent("/articles/1")}`, { headers: admin });
  assert.equal(x.status, 200, x.why);
  const j = x.json();
  assert.equal(j.origin_mode, "same-zone");
  assert.equal(j.origin_url, `http://${h.site}/articles/1`);
  assert.equal(j.origin_host, h.site);
  assert.match(j.text, /origin {6}same-zone: GET/);
  const p = await req("/__edgecache/api/policy", { headers: admin });
  assert.equal(p.status, 200, p.why);
  assert.equal(p.json().origin.mode, "same-zone");
  assert.match(p.json().origin.describe, /request's own URL/);
});
