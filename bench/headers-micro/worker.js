// A microbenchmark inside workerd (bench/headers-micro.mjs runs it): what reading a stored
// entry's header fields costs, the ways the adapter could read them (src/worker/fields.js).
// workerd's clock only moves across I/O, so each timing spans N calls between two timer waits.
const NAMES = ["cache-control", "age", "vary", "cache-status", "x-edgecache-debug", "x-edgecache-meta", "cache-tag",
  "surrogate-key", "content-length", "x-edgecache-stored", "content-range", "accept-ranges"];
// The same loop as src/worker/fields.js `allFields`.
function allFields(h) {
  let s = "";
  for (const [k, v] of h) s += s === "" ? `${k},${v}` : `\n${k},${v}`;
  return s;
}
function pick(h, names) {
  let s = "";
  for (let i = 0; i < names.length; i++) {
    const v = h.get(names[i]);
    if (v !== null) s += s === "" ? `${names[i]},${v}` : `\n${names[i]},${v}`;
  }
  return s;
}
const tick = () => new Promise((r) => setTimeout(r, 0));
async function time(n, f) {
  await tick();
  const t = Date.now();
  for (let i = 0; i < n; i++) f();
  await tick();
  return Math.round(((Date.now() - t) * 1000 * 100) / n) / 100; // µs per call
}
export default {
  async fetch(req) {
    if (new URL(req.url).pathname === "/__edgecache/health") return new Response("ok");
    // An entry like the demo's /articles/1 as edgecache stores it.
    const meta = JSON.stringify({ v: 3, key: "https://example.com/articles/1", rule: "articles", status: 200,
      stored_at_ms: 1796161387165, response_time: 1796161387165, initial_age: 0, fresh_for: 300, swr: 60, sie: 600,
      must_revalidate: false, no_cache: false, etag: '"18fbb26239db2aadd7c2"', last_modified: "Mon, 01 Jan 2024 14:00:00 GMT",
      tags: ["article-1", "section-news"], vary: [], fetch_ms: 3, size: 1503, origin_cc: "public, max-age=0, s-maxage=300" });
    await caches.default.put("http://bench.invalid/k", new Response("body", { headers: {
      "cache-control": "public, s-maxage=300", "cache-tag": "article-1,section-news", "content-length": "4",
      "content-type": "text/html; charset=utf-8", date: "Tue, 01 Dec 2026 21:39:33 GMT", etag: '"18fbb26239db2aadd7c2"',
      "last-modified": "Mon, 01 Jan 2024 14:00:00 GMT", "x-edgecache-meta": meta } }));
    const h = (await caches.default.match("http://bench.invalid/k")).headers;
    const n = 20000;
    const rows = [];
    for (let round = 1; round <= 3; round++) {
      rows.push({
        round,
        all_fields_us: await time(n, () => allFields(h)),
        get_12_names_us: await time(n, () => pick(h, NAMES)),
        get_meta_us: await time(n, () => h.get("x-edgecache-meta")),
      });
    }
    return Response.json(rows);
  },
};
