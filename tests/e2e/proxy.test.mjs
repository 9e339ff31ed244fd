// Issue 3: edgecache forwards to the origin faithfully and says so; an unreachable origin is a clear 502.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useStack, uniq, lab, originCount, refusedPort } from "./helpers.mjs";
import { startWorker, DEV_SECRETS } from "../../scripts/stack.mjs";

const h = useStack();

test("GET passes status, headers and body through, with a Cache-Status", async () => {
  const direct = await fetch(`${h.o}/articles/1`);
  const via = await fetch(`${h.w}/articles/1`);
  assert.equal(via.status, 200);
  assert.equal(await via.text(), await direct.text());
  assert.match(via.headers.get("content-type"), /text\/html/);
  assert.equal(via.headers.get("etag"), direct.headers.get("etag"));
  assert.match(via.headers.get("cache-status") ?? "", /^edgecache; /);
});

test("the query string and the allowed request headers reach the origin", async () => {
  const p = uniq("/lab/proxy");
  const r = await fetch(`${h.w}${p}?b=2&a=1`, { headers: { "x-custom": "hello", accept: "application/json" } });
  assert.equal(r.status, 200);
  const j = await r.json();
  assert.equal(j.path, p);
  assert.deepEqual(j.query, { b: ["2"], a: ["1"] });
  assert.equal(j.url, `${p}?a=1&b=2`, "the origin is sent the key's (sorted) query");
  assert.equal(j.headers.accept, "application/json");
  // A cacheable request carries only the allowlist (issue 14); a bypassed one carries everything.
  assert.equal(j.headers["x-custom"], undefined);
  const b = await fetch(`${h.w}${p}`, { method: "POST", body: "x", headers: { "x-custom": "hello" } });
  assert.equal((await b.json()).headers["x-custom"], "hello");
});

test("POST body and method are forwarded and the response is not cached", async () => {
  const p = uniq("/lab/post");
  for (let i = 0; i < 2; i++) {
    const r = await fetch(`${h.w}${p}`, { method: "POST", body: `payload-${i}`, headers: { "content-type": "text/plain" } });
    assert.equal(r.status, 200);
    const j = await r.json();
    assert.equal(j.method, "POST");
    assert.equal(j.body, `payload-${i}`);
  }
  assert.equal(await originCount(h, p, "POST"), 2);
});

test("PUT and DELETE are forwarded", async () => {
  const p = uniq("/lab/put");
  const r = await fetch(`${h.w}${p}`, { method: "PUT", body: "x" });
  assert.equal((await r.json()).method, "PUT");
  const d = await fetch(`${h.w}${p}`, { method: "DELETE" });
  assert.equal((await d.json()).method, "DELETE");
});

test("a 404 passes through with the origin's body", async () => {
  const r = await fetch(`${h.w}/no/such/page-${Date.now()}`);
  assert.equal(r.status, 404);
  assert.match(await r.text(), /not found/i);
});

test("redirects are passed to the client, not followed", async () => {
  const p = uniq("/lab/redir");
  const r = await fetch(`${h.w}${lab(p, { status: 301, headers: { Location: "/articles/2" } })}`, { redirect: "manual" });
  assert.equal(r.status, 301);
  assert.equal(r.headers.get("location"), "/articles/2");
});

test("origin down → 502 with a short plain-text body and Cache-Status detail", async () => {
  // Not freePort(): an ephemeral port released here can be handed to the worker started next
  // (its inspector), which then answers the "dead" origin's connections (seen once in CI).
  const dead = await refusedPort();
  const w = await startWorker({ origin: `http://127.0.0.1:${dead}`, vars: DEV_SECRETS });
  try {
    const r = await fetch(`${w.url}/articles/1`);
    assert.equal(r.status, 502);
    assert.match(r.headers.get("content-type"), /text\/plain/);
    const body = await r.text();
    assert.ok(body.length < 200, body);
    assert.match(body, /origin/i);
    assert.match(r.headers.get("cache-status"), /^edgecache; fwd=[a-z-]+;.*detail=/);
  } finally {
    await w.stop();
  }
});
