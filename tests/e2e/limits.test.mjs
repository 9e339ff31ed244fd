// Issue 5 limits: bodies over the rule's max_body_size stream through and are never stored;
// 206 and Vary: * are not stored.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useStack, uniq, lab, originCount } from "./helpers.mjs";

const h = useStack();

test("a body over max_body_size (64 KB on /lab/big/**) streams through whole and is not stored", async () => {
  const p = uniq("/lab/big/large");
  const u = lab(p, { bytes: 300_000 });
  for (let i = 1; i <= 2; i++) {
    const r = await fetch(`${h.w}${u}`);
    assert.equal(r.status, 200);
    const body = new Uint8Array(await r.arrayBuffer());
    assert.equal(body.length, 300_000, "the whole body arrives");
    assert.match(r.headers.get("cache-status") ?? "", /fwd=uri-miss.*detail=too-large/);
    assert.equal(await originCount(h, p), i, "every request goes to the origin");
  }
});

test("a body under max_body_size on the same rule is stored", async () => {
  const p = uniq("/lab/big/small");
  const u = lab(p, { bytes: 10_000 });
  const a = await fetch(`${h.w}${u}`);
  assert.equal((await a.arrayBuffer()).byteLength, 10_000);
  assert.match(a.headers.get("cache-status") ?? "", /stored/);
  const b = await fetch(`${h.w}${u}`);
  assert.equal((await b.arrayBuffer()).byteLength, 10_000);
  assert.match(b.headers.get("cache-status") ?? "", /; hit/);
  assert.equal(await originCount(h, p), 1);
});

test("a 206 from the origin is passed on and never stored", async () => {
  const p = uniq("/lab/partial");
  const u = lab(p, { status: 206, body: "part", headers: { "Cache-Control": "public, max-age=60", "Content-Range": "bytes 0-3/10" } });
  for (let i = 1; i <= 2; i++) {
    const r = await fetch(`${h.w}${u}`);
    assert.equal(r.status, 206);
    assert.equal(await r.text(), "part");
    assert.doesNotMatch(r.headers.get("cache-status") ?? "", /stored|; hit/);
  }
  assert.equal(await originCount(h, p), 2);
});

test("set_cookie = strip: the fetching client gets its Set-Cookie, the stored copy and everyone else never do", async () => {
  const p = uniq("/lab/strip/c");
  const u = lab(p, { headers: { "Set-Cookie": "visitor=abc123; Path=/" } });
  const a = await fetch(`${h.w}${u}`);
  assert.match(a.headers.get("cache-status") ?? "", /stored/);
  assert.equal(a.headers.get("set-cookie"), "visitor=abc123; Path=/", "the client whose request fetched it");
  const b = await fetch(`${h.w}${u}`);
  assert.match(b.headers.get("cache-status") ?? "", /; hit/);
  assert.equal(b.headers.get("set-cookie"), null, "never from the shared copy");
  assert.equal(await originCount(h, p), 1);
});
