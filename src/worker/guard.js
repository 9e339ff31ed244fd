// The body stream guard of src/worker/io.rs (issue 17), in JavaScript so that no chunk goes through
// the wasm. Pumping every chunk of an origin body through Rust streams (wasm-streams) twice (the
// client's copy and the stored copy) took seconds of CPU per 64 MB under `wrangler dev` and held
// every other request of the isolate meanwhile; the runtime's own `tee()` let the faster branch
// run ahead and buffered the slower one's backlog. Here one reader feeds both branches in step (a
// chunk is read only when every branch has taken the last one: memory stays at a chunk or two
// whatever the body size), and a byte stream is read into large buffers (few turns of JavaScript
// for a fast body). wasm-bindgen bundles this file with the worker (`#[wasm_bindgen(module)]`);
// scripts/guard.test.mjs drives it on Node.

/** Why a guarded stream ends early (the client sees these as the stream's error). */
export const CUT_GAP = "edgecache: the origin body stalled (no data within origin_timeout)";
export const CUT_SHORT = "edgecache: the origin body ended before its Content-Length";
export const CUT_LARGE = "edgecache: the body exceeds max_body_size (not stored)";

/** The buffer a byte stream is read into. */
const READ_BYTES = 256 * 1024;

/**
 * Splits `body` into up to two guarded streams, `{ client, store }` (each present when asked
 * for with `wantClient` / `wantStore`), fed in step from one reader: chunks pass on untouched.
 *
 * Checks (each a number, or undefined for none): `gapMs`, no chunk for that long (a stalled body
 * is cut, never a complete-looking response); `expect`, the body ends short of that many bytes;
 * `limit` (store only), the body exceeds that many bytes. An error of `body` is a failure too.
 *
 * On a failure the client's stream ERRORS (the client sees the connection closed before the
 * end), and the store's stream sets `flag.failed = true` and ENDS cleanly: an errored body can
 * leave `cache.put` pending for good, a cleanly ended one settles, and whoever stored it deletes
 * the copy it knows is not whole. Past `limit` only the store's stream is ended (flagged); the
 * client still gets every byte. A branch that is cancelled (the client went away, a put gave up)
 * drops out and the other goes on; `body` is cancelled when no branch is left or on a failure.
 */
export function splitBody(body, gapMs, expect, limit, flag, wantClient, wantStore) {
  // A runtime byte stream is read into buffers of READ_BYTES: a fast body then comes in a few
  // large chunks instead of many small ones; a slow one still comes as it arrives (a read
  // resolves with what is there, it does not wait to fill the buffer).
  let byob = null;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    // not a byte stream
  }
  const reader = byob ?? body.getReader();
  const read = () => {
    if (!byob) return reader.read();
    return byob.read(new Uint8Array(READ_BYTES)).then((r) => {
      // A small read keeps no large buffer alive.
      if (!r.done && r.value.byteLength < READ_BYTES / 4) return { done: false, value: r.value.slice() };
      return r;
    });
  };

  const branches = [];
  let total = 0;
  let over = false;
  let reading = false;
  const live = () => branches.filter((b) => !b.dead);

  // The stall watchdog: one timer per gap, not one per chunk. Only a read that waits on the
  // origin counts (a reader that is slow to take chunks is not the origin stalling): a read notes
  // when it began; the timer, when it fires, cuts the body if a read has been waiting for `gapMs`,
  // else waits out the rest of the gap.
  let since = Date.now();
  let timer;
  const watch = (ms) => {
    timer = setTimeout(() => {
      if (over) return;
      const idle = reading ? Date.now() - since : 0;
      if (idle >= gapMs) failAll(new Error(CUT_GAP));
      else watch(gapMs - idle);
    }, ms);
  };
  if (gapMs !== undefined) watch(gapMs);

  const end = (b, e) => {
    b.dead = true;
    if (b.store) {
      if (e) flag.failed = true;
      b.ctl.close();
    } else if (e) {
      b.ctl.error(e);
    } else {
      b.ctl.close();
    }
  };
  const stop = (e) => {
    over = true;
    clearTimeout(timer);
    reader.cancel(e).catch(() => {});
  };
  const failAll = (e) => {
    if (over) return;
    stop(e);
    for (const b of live()) end(b, e);
  };
  const got = (r) => {
    reading = false;
    if (over) return;
    if (r.done) {
      if (expect !== undefined && total !== expect) return failAll(new Error(CUT_SHORT));
      over = true;
      clearTimeout(timer);
      for (const b of live()) end(b, null);
      return;
    }
    total += r.value.byteLength;
    for (const b of live()) {
      if (b.store && limit !== undefined && total > limit) end(b, new Error(CUT_LARGE));
      else b.ctl.enqueue(r.value);
    }
    if (live().length === 0) return stop(new Error("edgecache: no reader left"));
    pump();
  };
  // Reads the next chunk once every branch has room for it (in step: none runs ahead).
  const pump = () => {
    if (over || reading) return;
    const ls = live();
    if (ls.length === 0 || ls.some((b) => b.ctl.desiredSize <= 0)) return;
    reading = true;
    since = Date.now();
    read().then(got, (e) => {
      reading = false;
      failAll(e);
    });
  };
  const branch = (store) => {
    const b = { store, dead: false, ctl: null };
    branches.push(b);
    return new ReadableStream({
      start(c) {
        b.ctl = c;
      },
      pull() {
        pump();
      },
      cancel(reason) {
        if (b.dead) return;
        b.dead = true;
        if (live().length === 0) stop(reason);
        else pump();
      },
    });
  };
  const out = {};
  if (wantClient) out.client = branch(false);
  if (wantStore) out.store = branch(true);
  // The store's put settled (stored, or refused without reading to the end): its copy drops out,
  // so the client's never waits for a reader that is gone.
  flag.release = () => {
    for (const b of live()) {
      if (!b.store) continue;
      b.dead = true;
      try {
        b.ctl.close();
      } catch {
        // already closed
      }
    }
    if (live().length === 0) stop(new Error("edgecache: no reader left"));
    else pump();
  };
  return out;
}

/**
 * The body of a range answer (src/worker/io.rs `segments`; RFC 9110 §14.6 multipart/byteranges):
 * `segs` in order, each either a Uint8Array (sent as it is: a part's head or the closing
 * boundary) or `[start, end]`, the inclusive byte range of `body` to send (ranges ascend, so
 * `body` is read once). A body that ends before a range does errors the stream: the client sees
 * a cut, never a short part. Once the last segment is sent the rest of `body` is cancelled.
 */
export function segments(body, segs) {
  const reader = body.getReader();
  let pos = 0; // offset in `body` of `chunk`'s first byte
  let chunk = null; // the chunk of `body` being sent from
  let i = 0; // the next segment
  let cur = null; // [start, end] of the range being sent
  return new ReadableStream({
    async pull(ctrl) {
      for (;;) {
        if (cur === null) {
          if (i >= segs.length) {
            ctrl.close();
            reader.cancel().catch(() => {});
            return;
          }
          const s = segs[i++];
          if (s instanceof Uint8Array) {
            ctrl.enqueue(s);
            return;
          }
          cur = [s[0], s[1]];
          continue;
        }
        if (chunk === null) {
          const { done, value } = await reader.read();
          if (done) {
            ctrl.error(new Error("edgecache: the stored body ended before its range"));
            return;
          }
          chunk = value;
          continue;
        }
        const next = pos + chunk.byteLength;
        const [start, end] = cur;
        if (next <= start) {
          // All of this chunk comes before the range.
          pos = next;
          chunk = null;
          continue;
        }
        const part = chunk.subarray(Math.max(0, start - pos), Math.min(end + 1, next) - pos);
        if (end < next) {
          // The range ends inside this chunk: the next range may start in it too.
          cur = null;
        } else {
          cur = [next, end];
          pos = next;
          chunk = null;
        }
        ctrl.enqueue(part);
        return;
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}
