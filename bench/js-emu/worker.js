// edgecache's runtime calls on a hit, made from JavaScript with no wasm and no policy (a measuring tool
// for issue 16, run with `node bench/ab.mjs ... emu=jsdir:bench/js-emu`): the request's URL, method and
// every field as one string (`allFields` of src/worker/fields.js, the adapter's own),
// `caches.default.match` with a key string, the stored entry's fields as one string, and the client's
// response built from the stored one in one step (its `storedResponse`: a Headers copy less the
// bookkeeping fields, with Age and Cache-Status appended). What this costs over bench/js-worker is what edgecache's way of using the
// runtime costs; what edgecache costs over this is its wasm: the glue, the adapter and the core.
// A miss fetches from ORIGIN and stores a copy under the key with a small bookkeeping field.
import { allFields, storedResponse } from "../../src/worker/fields.js";

// What the strings are used for is beside the point; kept so no engine can drop the work.
let read = 0;

export default {
  async fetch(request, env, ctx) {
    const method = request.method;
    const fields = allFields(request.headers);
    const url = new URL(request.url);
    read += fields.length + method.length;
    if (url.pathname === "/__edgecache/health") return new Response("ok\n"); // bench readiness probe
    const key = `https://${url.host}${url.pathname}${url.search}`;
    const cache = caches.default;
    const hit = await cache.match(key);
    if (hit) {
      read += allFields(hit.headers).length;
      return storedResponse(hit.headers, hit.status, hit.body, "x-emu-meta\ncache-tag\nage", "age,0\ncache-status,edgecache; hit");
    }
    const fetched = await fetch(env.ORIGIN.replace(/\/+$/, "") + url.pathname + url.search);
    const response = new Response(fetched.body, fetched);
    response.headers.set("x-emu-meta", "{\"v\":1}");
    if (method === "GET" && response.status === 200) ctx.waitUntil(cache.put(key, response.clone()));
    return response;
  },
};
