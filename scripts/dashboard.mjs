// The dashboard's files (www/) served from the worker's own bundle, as the ASSETS binding the
// admin routes fetch from (src/worker/admin.rs), instead of a wrangler `[assets]` directory.
//
// Why: with `[assets]`, every request reaches the worker through wrangler's asset router (a
// router worker, plus an RPC proxy in `wrangler dev`), also every cache hit, which costs a hop
// per request whatever `run_worker_first` says (a route list only picks which requests the
// router sends on first). The dashboard is six small files; carried in index.js (not in the
// wasm, so outside the wasm size budget) they cost nothing on the hit path.
//
// scripts/build-worker.mjs writes the files into a module (its `filesModule`) and wraps the entry
// so that `env.ASSETS` is a `Fetcher` over them (`withDashboard`) when no ASSETS binding exists.
// Bundled into the worker: no Node imports here.

/**
 * Serves `files` like the asset binding's `fetch`: GET or HEAD of a known path → 200 with its
 * content type, `/` → `/index.html`, anything else → 404. Named `Fetcher` (kept through
 * minification below): the `worker` crate checks a binding's constructor name.
 */
export class Fetcher {
  #files;
  constructor(files) {
    this.#files = files;
  }
  async fetch(input, init) {
    const req = input instanceof Request && init === undefined ? input : new Request(input, init);
    const path = new URL(req.url).pathname;
    const f = this.#files[path === "/" ? "/index.html" : path];
    if (!f || (req.method !== "GET" && req.method !== "HEAD")) {
      return new Response("not found\n", { status: 404, headers: { "content-type": "text/plain; charset=utf-8" } });
    }
    return new Response(req.method === "HEAD" ? null : f.body, { headers: { "content-type": f.type } });
  }
}

Object.defineProperty(Fetcher, "name", { value: "Fetcher" });

const wrapped = new WeakMap();
// The runtime passes the same `env` object to every request of an isolate: the last one answers
// without a WeakMap lookup.
let last = null;
let lastWrapped = null;
/**
 * `env` with `ASSETS` serving `files`, unless it has an ASSETS binding already. The runtime's
 * `env` is the prototype (every binding reads through), built once per `env` object.
 */
export function withDashboard(env, files) {
  if (env === last) return lastWrapped;
  if (env == null || typeof env !== "object" || env.ASSETS !== undefined) return env;
  let e = wrapped.get(env);
  if (e === undefined) {
    e = Object.create(env, { ASSETS: { value: new Fetcher(files), enumerable: true } });
    wrapped.set(env, e);
  }
  last = env;
  lastWrapped = e;
  return e;
}
