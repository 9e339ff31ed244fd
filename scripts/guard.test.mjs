// src/worker/guard.js on Node (issue 17): the body stream guard of the worker, with plain streams.
import { test } from "node:test";
import assert from "node:assert/strict";
import { splitBody, segments, CUT_GAP, CUT_SHORT, CUT_LARGE } from "../src/worker/guard.js";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A source of `chunks` (sizes), `gapMs` apart; `cut` errors it after them; `hang` never ends. */
function source(chunks, { gapMs = 0, cut = false, hang = false, bytes = false } = {}) {
  let i = 0;
  let pulled = 0;
  const s = new ReadableStream({
    type: bytes ? "bytes" : undefined,
    async pull(c) {
      pulled += 1;
      if (i > 0 && gapMs) await sleep(gapMs);
      if (i < chunks.length) return c.enqueue(new Uint8Array(chunks[i++]).fill(7));
      if (cut) return c.error(new Error("origin cut"));
      if (hang) return new Promise(() => {});
      c.close();
      c.byobRequest?.respond(0); // a byte stream hands back a pending reader's buffer
    },
  });
  return { s, pulled: () => pulled };
}

async function drain(s, { slowMs = 0 } = {}) {
  const r = s.getReader();
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await r.read();
      if (done) return { n, error: null };
      n += value.byteLength;
      if (slowMs) await sleep(slowMs);
    }
  } catch (e) {
    return { n, error: e.message };
  }
}

test("both branches get every byte; a whole body sets no flag", async () => {
  for (const bytes of [false, true]) {
    const flag = {};
    const { client, store } = splitBody(source([10, 20, 30], { bytes }).s, 1000, 60, 100, flag, true, true);
    const [a, b] = await Promise.all([drain(client), drain(store)]);
    assert.deepEqual([a, b], [{ n: 60, error: null }, { n: 60, error: null }]);
    assert.equal(flag.failed, undefined);
  }
});

test("a stall cuts the client's stream and flags the stored one (ended cleanly)", async () => {
  const flag = {};
  const { client, store } = splitBody(source([10], { hang: true }).s, 100, undefined, undefined, flag, true, true);
  const [a, b] = await Promise.all([drain(client), drain(store)]);
  assert.deepEqual(a, { n: 10, error: CUT_GAP });
  assert.deepEqual(b, { n: 10, error: null });
  assert.equal(flag.failed, true);
});

test("a slow but steady body is not a stall", async () => {
  const flag = {};
  const { client } = splitBody(source([1, 1, 1, 1, 1], { gapMs: 60 }).s, 150, 5, undefined, flag, true, false);
  assert.deepEqual(await drain(client), { n: 5, error: null });
});

test("a body short of its length, or cut, errors the client and flags the store", async () => {
  for (const [src, want] of [[source([10, 10]).s, CUT_SHORT], [source([10], { cut: true }).s, "origin cut"]]) {
    const flag = {};
    const { client, store } = splitBody(src, 1000, 30, undefined, flag, true, true);
    const [a, b] = await Promise.all([drain(client), drain(store)]);
    assert.equal(a.error, want);
    assert.equal(b.error, null);
    assert.equal(flag.failed, true);
  }
});

test("past the limit only the store is ended (flagged); the client gets every byte", async () => {
  const flag = {};
  const { client, store } = splitBody(source([40, 40, 40]).s, 1000, undefined, 100, flag, true, true);
  const [a, b] = await Promise.all([drain(client), drain(store)]);
  assert.deepEqual(a, { n: 120, error: null });
  assert.deepEqual(b, { n: 80, error: null });
  assert.equal(flag.failed, true);
  void CUT_LARGE;
});

test("in step: the fast branch does not run ahead of the slow one", async () => {
  const src = source(Array(20).fill(10));
  const { client, store } = splitBody(src.s, 5000, undefined, undefined, {}, true, true);
  const fast = drain(client);
  const slow = drain(store, { slowMs: 20 });
  await sleep(100);
  // The slow reader took about 5 chunks; the source was read at most a couple of chunks ahead.
  assert.ok(src.pulled() <= 10, `pulled ${src.pulled()} chunks within 100 ms`);
  assert.deepEqual(await fast, { n: 200, error: null });
  assert.deepEqual(await slow, { n: 200, error: null });
});

test("a cancelled branch drops out; the other goes on; no branch left cancels the source", async () => {
  let cancelled = null;
  const s = new ReadableStream({
    i: 0,
    pull(c) {
      c.enqueue(new Uint8Array(10));
    },
    cancel(r) {
      cancelled = r ?? "cancelled";
    },
  });
  const flag = {};
  const { client, store } = splitBody(s, 1000, undefined, 50, flag, true, true);
  await client.cancel("client gone");
  const b = await drain(store);
  assert.deepEqual(b, { n: 50, error: null }); // ended at the limit, flagged
  assert.equal(flag.failed, true);
  await sleep(10);
  assert.ok(cancelled !== null);
});

test("a slow reader is not a stall: only a read waiting on the source counts", async () => {
  const { client } = splitBody(source([10, 10, 10, 10]).s, 80, 40, undefined, {}, true, false);
  assert.deepEqual(await drain(client, { slowMs: 150 }), { n: 40, error: null });
});

test("release: a store that gave up no longer holds the client back", async () => {
  const flag = {};
  const { client, store } = splitBody(source(Array(10).fill(10)).s, 1000, 100, undefined, flag, true, true);
  void store; // never read, like a put that was refused
  const a = drain(client);
  await sleep(50);
  flag.release();
  assert.deepEqual(await a, { n: 100, error: null });
});

// segments: the body of a range answer (src/worker/io.rs `segments`).
const enc = (t) => new TextEncoder().encode(t);
function chunked(text, sizes) {
  const bytes = enc(text);
  let at = 0, k = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      const n = sizes[k++ % sizes.length];
      c.enqueue(bytes.slice(at, at + n));
      at += n;
    },
  });
}
async function text(stream) {
  return new TextDecoder().decode(await new Response(stream).arrayBuffer());
}

test("segments: ranges of the body in order with the fixed parts between, whatever the chunking", async () => {
  const body = "0123456789abcdefghij";
  for (const sizes of [[1], [3], [7, 2], [20], [4, 1, 9]]) {
    const out = await text(segments(chunked(body, sizes), [enc("<"), [2, 4], enc("|"), [4, 4], enc("|"), [9, 15], enc(">")]));
    assert.equal(out, "<234|4|9abcdef>", `chunks ${sizes}`);
  }
  assert.equal(await text(segments(chunked(body, [6]), [[0, 19]])), body, "the whole body");
  assert.equal(await text(segments(chunked(body, [6]), [[19, 19]])), "j", "the last byte");
});

test("segments: a body that ends before its range errors the stream (a cut, never a short part)", async () => {
  await assert.rejects(text(segments(chunked("0123456789", [4]), [enc("a"), [5, 14]])), /ended before its range/);
});

test("segments: the rest of the body is cancelled once the last segment is sent", async () => {
  let cancelled = false;
  let n = 0;
  const body = new ReadableStream({
    pull(c) { c.enqueue(enc("xxxxxxxxxx")); n++; },
    cancel() { cancelled = true; },
  });
  assert.equal(await text(segments(body, [[0, 2]])), "xxx");
  assert.ok(cancelled, "an endless body is not read to its end");
  assert.ok(n <= 2);
});
