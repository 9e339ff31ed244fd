// A minimal hand-written cache worker, the baseline edgecache is compared with (bench/run).
// It follows Cloudflare's Cache API examples: the full request URL is the cache key, a hit is
// returned as is, a miss is fetched from ORIGIN and a clone is put in caches.default (which
// honours the origin's Cache-Control: s-maxage / max-age, private, no-store, Set-Cookie).
// Naive on purpose: any Cookie bypasses the cache, tracking parameters stay in the key, there is
// no purge, no stale serving and no request coalescing.
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/__edgecache/health") return new Response("ok\n"); // bench readiness probe
    const originUrl = env.ORIGIN.replace(/\/+$/, "") + url.pathname + url.search;
    const cacheable = (request.method === "GET" || request.method === "HEAD") && !request.headers.has("cookie") && !request.headers.has("authorization");
    if (!cacheable) return fetch(new Request(originUrl, request));

    const cache = caches.default;
    const hit = await cache.match(request);
    if (hit) return hit;
    const fetched = await fetch(new Request(originUrl, request));
    const response = new Response(fetched.body, fetched); // mutable headers
    if (request.method === "GET" && response.status === 200) ctx.waitUntil(cache.put(request, response.clone()));
    return response;
  },
};
