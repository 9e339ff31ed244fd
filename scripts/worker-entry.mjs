// The worker's entry around wasm-bindgen's output: what `scripts/build-worker.mjs` bundles with
// build/index.js. It replaces the shim worker-build (0.8.7) generated, with the same behaviour:
//
// - The default export is a `WorkerEntrypoint` whose event handlers (`fetch`, and `queue`,
//   `scheduled`, `email`, `connect` when the crate exports them) call the wasm export with
//   `(event, env, ctx)`: src/worker/mod.rs exports `fetch(request, env, ctx)` with
//   `#[wasm_bindgen]`. Other exported functions become methods as they are. The exported classes
//   are the Durable Objects (src/worker/objects.rs: `constructor(state, env)`, `fetch`, `alarm`).
//   With `plain` (what scripts/build-worker.mjs asks for: edgecache has no RPC methods), the
//   default export is a handler object `{ fetch(request, env, ctx) }` instead: nothing is
//   constructed per request.
// - Recovery from a fatal wasm error. With panic = "abort" a Rust panic, or any trap, leaves the
//   wasm instance unusable. The adapter's panic hook (src/worker/rt.rs) sets `criticalError` in
//   the state object `__worker_init_state()` returns; a trap reaches JavaScript as a `WebAssembly.RuntimeError`,
//   caught here (also from a returned promise) or by the global `error` listener. Before the next
//   call into the wasm, `__wbg_reset_state()` (wasm-bindgen `--experimental-reset-state-function`)
//   instantiates the module again, and each exported class instance (our Durable Objects) is
//   constructed again, with its original arguments, the next time it is used.
//
// It takes the wasm exports and `WorkerEntrypoint` as arguments, so scripts/worker-entry.test.mjs
// drives it on Node with fakes.

/** Handlers the runtime calls as `handler(event)`; the wasm export also takes `env` and `ctx`. */
const EVENT_HANDLERS = new Set(["fetch", "queue", "scheduled", "email", "connect"]);

/** wasm-bindgen exports that are plumbing, not part of the worker's interface. */
export const SYSTEM_EXPORTS = new Set(["__wbg_reset_state", "__worker_init_state"]);

/**
 * The entry module's exports for the wasm-bindgen module `wasm`: `{ default, [className]: class }`.
 * `functions` and `classes` are the names of its exported functions and classes.
 */
export function workerExports(wasm, WorkerEntrypoint, { functions, classes }, { plain = false, wrapEnv = (env) => env } = {}) {
  Error.stackTraceLimit = 100;
  const state = wasm.__worker_init_state();

  function noteFailure(e) {
    if (e instanceof WebAssembly.RuntimeError) {
      console.error("Critical", e);
      state.criticalError = true;
    }
  }
  function recover() {
    if (!state.criticalError) return;
    console.log("Reinitializing Wasm application");
    wasm.__wbg_reset_state();
    state.criticalError = false;
    state.instanceId++;
  }
  // One call into the wasm: recover first, and note a fatal error however it comes back.
  function call(f, self, args) {
    recover();
    try {
      const out = Reflect.apply(f, self, args);
      if (out instanceof Promise) {
        return out.catch((e) => {
          noteFailure(e);
          throw e;
        });
      }
      return out;
    } catch (e) {
      noteFailure(e);
      throw e;
    }
  }
  if (typeof addEventListener === "function") addEventListener("error", (e) => noteFailure(e.error));

  // `plain`: the default export is a handler object (`{ fetch(request, env, ctx) }`), not a
  // class. The runtime then constructs nothing per request: a `WorkerEntrypoint` class costs an
  // instance per request (its constructor, `super`, the env wrapped for it), about 3 % of the
  // isolate's time on a cache hit in a CPU profile (bench/profile.mjs). Only the event handlers
  // exist on it: exported functions that are not handlers would be RPC methods, which need
  // the class.
  if (plain) {
    const handlers = {};
    for (const name of functions) {
      if (!EVENT_HANDLERS.has(name)) continue;
      const f = wasm[name];
      handlers[name] = (event, env, ctx) => call(f, undefined, [event, wrapEnv(env), ctx]);
    }
    const out = { default: handlers };
    for (const name of classes) out[name] = rebuildable(wasm[name]);
    return out;
  }

  class Entrypoint extends WorkerEntrypoint {
    constructor(...args) {
      try {
        recover();
        super(...args);
      } catch (e) {
        state.criticalError = true;
        throw e;
      }
    }
  }
  for (const name of functions) {
    if (SYSTEM_EXPORTS.has(name)) continue;
    const f = wasm[name];
    Entrypoint.prototype[name] = EVENT_HANDLERS.has(name)
      ? function (event) {
          return call(f, this, [event, this.env, this.ctx]);
        }
      : function (...args) {
          return call(f, this, args);
        };
  }

  const out = { default: Entrypoint };
  for (const name of classes) out[name] = rebuildable(wasm[name]);
  return out;

  // A stand-in for an exported class: it holds the wasm-side object and constructs it again after
  // the wasm instance was reset. Methods and accessors forward to that object.
  function rebuildable(Inner) {
    const held = new WeakMap(); // stand-in -> { inner, instanceId, args }
    function current(self) {
      const h = held.get(self);
      if (h === undefined) throw new TypeError(`not a ${Inner.name}`);
      if (h.instanceId !== state.instanceId) {
        h.inner = Reflect.construct(Inner, h.args);
        h.instanceId = state.instanceId;
      }
      return h.inner;
    }
    const Class = {
      [Inner.name]: class {
        constructor(...args) {
          try {
            recover();
            held.set(this, { inner: Reflect.construct(Inner, args), instanceId: state.instanceId, args });
          } catch (e) {
            state.criticalError = true;
            throw e;
          }
        }
      },
    }[Inner.name];
    for (const key of Reflect.ownKeys(Inner.prototype)) {
      if (key === "constructor") continue;
      const d = Object.getOwnPropertyDescriptor(Inner.prototype, key);
      const forward = { configurable: true, enumerable: d.enumerable };
      if (typeof d.value === "function") {
        const f = d.value;
        forward.writable = true;
        forward.value = function (...args) {
          recover();
          return call(f, current(this), args);
        };
      } else if (d.get || d.set) {
        if (d.get) forward.get = function () { return call(d.get, current(this), []); };
        if (d.set) forward.set = function (v) { call(d.set, current(this), [v]); };
      } else {
        continue;
      }
      Object.defineProperty(Class.prototype, key, forward);
    }
    return Class;
  }
}

/**
 * The names wasm-bindgen's ES module `source` exports: `{ functions, classes }`. It writes one
 * declaration per line: `export function name(`, `export class Name {`, `export { local as name };`.
 */
export function exportedNames(source) {
  const functions = [];
  const classes = [];
  for (const line of source.split("\n")) {
    let m;
    if ((m = /^export (?:async )?function\s*([\w$]+)\s*\(/.exec(line))) functions.push(m[1]);
    else if ((m = /^export class ([\w$]+)\s*\{/.exec(line))) classes.push(m[1]);
    else if ((m = /^export \{\s*[\w$]+ as ([\w$]+)\s*\}/.exec(line))) functions.push(m[1]);
  }
  return { functions, classes };
}
