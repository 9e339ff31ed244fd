// The worker entry (scripts/worker-entry.mjs) on Node, with a fake wasm-bindgen module: the calls it
// makes into the wasm, and the recovery after a fatal wasm error (a trap, or a panic the worker
// crate's hook reported). Run by ./test: node --test scripts/worker-entry.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { exportedNames, workerExports } from "./worker-entry.mjs";

class FakeWorkerEntrypoint {
  constructor(ctx, env) {
    this.ctx = ctx;
    this.env = env;
  }
}

/** A stand-in for wasm-bindgen's module: `instance` counts instantiations, `calls` logs calls. */
function fakeWasm() {
  const state = { criticalError: false, instanceId: 1 };
  const w = {
    instance: 1,
    calls: [],
    failNext: null, // an error the next fetch throws (sync) or rejects with (async)
    __worker_init_state: () => state,
    __wbg_reset_state() {
      w.instance++;
    },
    fetch(req, env, ctx) {
      w.calls.push(["fetch", req, env, ctx, w.instance]);
      const e = w.failNext;
      w.failNext = null;
      if (e?.async) return Promise.reject(e.error);
      if (e) throw e.error;
      return Promise.resolve(`response to ${req}`);
    },
    version() {
      return `v${w.instance}`;
    },
    Ledger: class Ledger {
      constructor(storage, env) {
        this.made = w.instance;
        this.args = [storage, env];
        w.calls.push(["new Ledger", storage, env, w.instance]);
      }
      fetch(req) {
        if (w.instance !== this.made) throw new WebAssembly.RuntimeError("stale instance used");
        return Promise.resolve(`${req} by ledger from instance ${this.made}`);
      }
      get size() {
        return this.made * 10;
      }
    },
  };
  return { w, state };
}

const load = (w) => workerExports(w, FakeWorkerEntrypoint, { functions: ["fetch", "version", "__wbg_reset_state", "__worker_init_state"], classes: ["Ledger"] });

test("wasm-bindgen's export lines are read as functions and classes", () => {
  const src = [
    "import source wasmModule from './index_bg.wasm';",
    "export function fetch(req, env, ctx) {",
    "export async function later(x) {",
    "export class PurgeLedger {",
    "export { __wbg_reset_state as __wbg_reset_state };",
    "    export function indented() {", // not a top-level export
    "function __wbg_adapter(a) {",
  ].join("\n");
  assert.deepEqual(exportedNames(src), { functions: ["fetch", "later", "__wbg_reset_state"], classes: ["PurgeLedger"] });
});

test("the default export calls the wasm fetch with (request, env, ctx)", async () => {
  const { w } = fakeWasm();
  const mod = load(w);
  const ep = new mod.default({ id: "ctx" }, { id: "env" });
  assert.equal(await ep.fetch("GET /"), "response to GET /");
  assert.deepEqual(w.calls, [["fetch", "GET /", { id: "env" }, { id: "ctx" }, 1]]);
  assert.equal(ep.version(), "v1", "other exported functions are methods as they are");
  assert.equal(ep.__wbg_reset_state, undefined, "plumbing is not exposed");
});

test("after a trap the next call first instantiates the wasm again, once", async () => {
  const { w, state } = fakeWasm();
  const mod = load(w);
  const ep = new mod.default({}, {});
  w.failNext = { error: new WebAssembly.RuntimeError("unreachable") };
  assert.throws(() => ep.fetch("a"), WebAssembly.RuntimeError);
  assert.equal(state.criticalError, true);
  assert.equal(w.instance, 1, "nothing is reset while nothing calls in");
  assert.equal(await ep.fetch("b"), "response to b");
  assert.equal(await new mod.default({}, {}).fetch("c"), "response to c");
  assert.equal(w.instance, 2);
  assert.deepEqual([state.criticalError, state.instanceId], [false, 2]);
});

test("a trap inside the returned promise, and a panic reported by the hook, lead to a reset too", async () => {
  const { w, state } = fakeWasm();
  const ep = new (load(w).default)({}, {});
  w.failNext = { async: true, error: new WebAssembly.RuntimeError("unreachable") };
  await assert.rejects(ep.fetch("a"), WebAssembly.RuntimeError);
  await ep.fetch("b");
  assert.equal(w.instance, 2);
  state.criticalError = true; // what the adapter's panic hook (src/worker/rt.rs) does
  await ep.fetch("c");
  assert.equal(w.instance, 3);
});

test("an ordinary error is passed on and resets nothing", async () => {
  const { w, state } = fakeWasm();
  const ep = new (load(w).default)({}, {});
  w.failNext = { error: new TypeError("bad header") };
  assert.throws(() => ep.fetch("a"), TypeError);
  w.failNext = { async: true, error: new Error("origin down") };
  await assert.rejects(ep.fetch("b"), /origin down/);
  await ep.fetch("c");
  assert.deepEqual([w.instance, state.criticalError], [1, false]);
});

test("a class instance is constructed again, with its arguments, after the wasm was reset", async () => {
  const { w } = fakeWasm();
  const mod = load(w);
  assert.equal(mod.Ledger.name, "Ledger");
  const ledger = new mod.Ledger("storage", "env");
  assert.equal(await ledger.fetch("r1"), "r1 by ledger from instance 1");
  assert.equal(ledger.size, 10, "accessors forward");
  const ep = new mod.default({}, {});
  w.failNext = { error: new WebAssembly.RuntimeError("unreachable") };
  assert.throws(() => ep.fetch("x"));
  // The next call into the wasm is the ledger's: reset first, then a new inner object.
  assert.equal(await ledger.fetch("r2"), "r2 by ledger from instance 2");
  assert.equal(ledger.size, 20);
  assert.deepEqual(
    w.calls.filter((c) => c[0] === "new Ledger"),
    [["new Ledger", "storage", "env", 1], ["new Ledger", "storage", "env", 2]],
  );
  assert.equal(await ledger.fetch("r3"), "r3 by ledger from instance 2", "built once per instance");
});

test("plain: the default export is a handler object; each call recovers first and gets the wrapped env", async () => {
  const { w, state } = fakeWasm();
  const mod = workerExports(w, null, { functions: ["fetch", "version", "__wbg_reset_state", "__worker_init_state"], classes: ["Ledger"] },
    { plain: true, wrapEnv: (env) => ({ ...env, wrapped: true }) });
  assert.equal(typeof mod.default, "object");
  assert.deepEqual(Object.keys(mod.default), ["fetch"], "only event handlers: no RPC methods without a class");
  assert.equal(await mod.default.fetch("GET /", { id: "env" }, { id: "ctx" }), "response to GET /");
  assert.deepEqual(w.calls, [["fetch", "GET /", { id: "env", wrapped: true }, { id: "ctx" }, 1]]);
  w.failNext = { error: new WebAssembly.RuntimeError("unreachable") };
  await assert.rejects(async () => mod.default.fetch("GET /a", {}, {}), WebAssembly.RuntimeError);
  assert.equal(await mod.default.fetch("GET /b", {}, {}), "response to GET /b");
  assert.equal(w.instance, 2, "the trap reset the wasm once, before the next call");
  assert.equal(state.criticalError, false);
  assert.ok(new mod.Ledger("s", "e"), "Durable Object classes are exported as before");
});
