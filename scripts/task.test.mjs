// src/worker/task.js on Node: the JavaScript side of the adapter's executor (src/worker/task.rs).
// Run by ./test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setSettle, whenSettled, afterMs, cancelTimer, promiseFor, settlePromise } from "../src/worker/task.js";

const tick = () => new Promise((r) => setTimeout(r, 5));

test("whenSettled: the slot and outcome reach the callback, once per promise", async () => {
  const got = [];
  setSettle((slot, ok, v) => got.push([slot, ok, v instanceof Error ? v.message : v]));
  whenSettled(Promise.resolve("a"), 1);
  whenSettled(Promise.reject(new Error("b")), 2);
  await tick();
  assert.deepEqual(got, [[1, true, "a"], [2, false, "b"]]);
});

test("a promise of a replaced instance settles into that instance's callback, not the new one", async () => {
  const old = [], now = [];
  setSettle((slot) => old.push(slot));
  let resolve;
  whenSettled(new Promise((r) => (resolve = r)), 7);
  setSettle((slot) => now.push(slot));
  resolve();
  await tick();
  assert.deepEqual(old, [7]);
  assert.deepEqual(now, [], "slot 7 of the old instance means nothing to the new one");
});

test("afterMs settles its slot; a cleared timer never does", async () => {
  const got = [];
  setSettle((slot, ok) => got.push([slot, ok]));
  afterMs(1, 3);
  cancelTimer(afterMs(1, 4));
  await tick();
  assert.deepEqual(got, [[3, true]]);
});

test("promiseFor: settled by number, resolved or rejected; unknown numbers are ignored", async () => {
  setSettle(() => {});
  const a = promiseFor(1), b = promiseFor(2);
  settlePromise(1, true, "yes");
  settlePromise(2, false, new Error("no"));
  settlePromise(99, true, "nobody");
  assert.equal(await a, "yes");
  await assert.rejects(b, /no/);
});

test("a new instance rejects the promises the old one left unsettled", async () => {
  setSettle(() => {});
  const p = promiseFor(5);
  setSettle(() => {});
  await assert.rejects(p, /started again/);
  settlePromise(5, true, "late");
});
