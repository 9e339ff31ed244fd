// The JavaScript side of the adapter's executor (src/worker/task.rs, src/executor.rs), bundled
// with the wasm glue. A promise the wasm awaits settles into a numbered slot through one
// callback, the same for every promise (`settle`), instead of two closures per await; a task
// whose work outlives its call returns a promise of ours, settled by number.

// The wasm instance's callback: settle(slot, ok, value). Set again by a new instance (after a
// fatal error, scripts/worker-entry.mjs starts the wasm again).
let settle = null;
// Promises handed to the runtime, by number: [resolve, reject].
let pending = new Map();

/** A new wasm instance's callback; the promises of the one before it are rejected. */
export function setSettle(f) {
  settle = f;
  const old = pending;
  pending = new Map();
  for (const [, p] of old) p[1](new Error("edgecache: the wasm instance was started again"));
}

/** Calls the wasm back with `slot` when `p` settles (with that instance's callback). */
export function whenSettled(p, slot) {
  const f = settle;
  p.then((v) => f(slot, true, v), (e) => f(slot, false, e));
}

/** Settles `slot` after `ms` milliseconds: the timer's id, for clearTimeout. */
export function afterMs(ms, slot) {
  const f = settle;
  return setTimeout(() => f(slot, true, undefined), ms);
}

/** clearTimeout(id). */
export function cancelTimer(id) {
  clearTimeout(id);
}

/** A promise for the runtime, settled by `settlePromise(id, ...)`. */
export function promiseFor(id) {
  return new Promise((resolve, reject) => pending.set(id, [resolve, reject]));
}

/** Settles the promise `id` (`ok`: resolved with `v`, else rejected with it). */
export function settlePromise(id, ok, v) {
  const p = pending.get(id);
  if (p === undefined) return;
  pending.delete(id);
  p[ok ? 0 : 1](v);
}
