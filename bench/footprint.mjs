// The code one hit runs in the whole worker (adapter, core, glue), counted in the real runtime: a
// build's wasm is instrumented with binaryen's --log-execution (a call at every function entry, loop
// and return) and run under Miniflare (workerd, its Cache API, KV and Durable Objects) in front of an
// origin on 127.0.0.1; after a miss and a warm-up, each of a few hits is logged on its own, and the
// distinct functions, calls and allocations of the smallest are printed. A measuring tool for issue 16,
// not part of ./test; counts, not times, so the machine's load does not move them.
//
//   node bench/footprint.mjs [DIR] [--list]     DIR: a build (index.js + index_bg.wasm), default build/
//
// Function names need a build that keeps them: `KEEP_NAMES=1 EDGECACHE_POLICY=tests/edgecache.test.toml
// bash scripts/build.sh` (the names section only; the code is the same). Without names the counts hold
// and the list shows indices.
//
// bench/wasm-core/footprint.mjs counts the core's steps alone; bench/wasm-core/cold.mjs times them.
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { instrument, callsOf, readable, summary } from "./log-execution.mjs";
import { functionSizes } from "./wasm-sizes.mjs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Miniflare } from "miniflare";

const args = process.argv.slice(2);
const dir = resolve(args.find((a, i) => !a.startsWith("--") && args[i - 1] !== "--callers" && args[i - 1] !== "--seq") ?? "build");
const list = args.includes("--list");
// --sizes: each touched function's wasm body size too, and their sum: the code a hit runs through.
const sizes = args.includes("--sizes");
// --callers RE: for each call of a function matching RE, the edgecache function entered last before it.
const callersRe = args.includes("--callers") ? new RegExp(args[args.indexOf("--callers") + 1]) : null;
// --seq FILE (with --callers): every function entry of that hit in order, one name a line, to FILE.
const seqFile = args.includes("--seq") ? args[args.indexOf("--seq") + 1] : null;
const tmp = mkdtempSync(join(tmpdir(), "ec-footprint-"));
let mf = null, origin = null;
try {
  // The features the build enables (scripts/build-worker.mjs WASM_FEATURES).
  const feats = ["mutable-globals", "sign-ext", "nontrapping-float-to-int", "bulk-memory", "multivalue",
    "reference-types", "exception-handling"].map((f) => `--enable-${f}`);
  const log = instrument(join(dir, "index_bg.wasm"), `${tmp}/index_bg.wasm`, feats);
  const { logModule, owner, entry } = log;
  // The bundle: every instance gets the log import; /__fp/on and /__fp/off (answered in
  // JavaScript, never reaching the wasm) start and stop the log, off returns it.
  let js = readFileSync(join(dir, "index.js"), "utf8");
  const pre = `const __fpSeen=new Map();const __fpSeq=[];let __fpOn=false;const __fpReal=WebAssembly.Instance;` +
    `WebAssembly.Instance=function(m,o){o[${JSON.stringify(logModule)}]={...(o[${JSON.stringify(logModule)}]||{}),log_execution(id){if(__fpOn){__fpSeen.set(id,(__fpSeen.get(id)||0)+1);__fpSeq.push(id)}}};return new __fpReal(m,o)};\n`;
  const m = /export\{([^}]*?)(?<![\w$])([\w$]+) as default(?![\w$])([^}]*)\}/.exec(js);
  if (!m) throw new Error("default export not found");
  js = pre + js.slice(0, m.index) +
    `const __fpDefault={...${m[2]},fetch(r,e,c){const p=new URL(r.url).pathname;` +
    `if(p==="/__fp/on"){__fpSeen.clear();__fpSeq.length=0;__fpOn=true;return new Response("on")}` +
    `if(p==="/__fp/off"){__fpOn=false;return Response.json(p.endsWith("off")&&r.headers.get("x-seq")?__fpSeq:[...__fpSeen])}` +
    `return ${m[2]}.fetch(r,e,c)}};export{${m[1]}__fpDefault as default${m[3]}}` +
    js.slice(m.index + m[0].length);
  writeFileSync(`${tmp}/index.js`, js);

  // The origin: one cacheable page.
  origin = createServer((req, res) => {
    res.writeHead(200, {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "public, max-age=600",
      etag: '"a1"',
      "last-modified": "Wed, 01 Jan 2025 00:00:00 GMT",
      "cache-tag": "article-1,author-7",
    });
    res.end("x".repeat(1024));
  });
  await new Promise((r) => origin.listen(0, "127.0.0.1", r));
  mf = new Miniflare({
    modules: true,
    scriptPath: `${tmp}/index.js`,
    modulesRoot: tmp,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2026-04-01",
    bindings: { ORIGIN: `http://127.0.0.1:${origin.address().port}`, EDGECACHE_DEBUG: "0" },
    kvNamespaces: ["PURGE_KV"],
    durableObjects: {
      PURGE_LEDGER: { className: "PurgeLedger", useSQLite: true },
      METRICS_HUB: { className: "MetricsHub", useSQLite: true },
    },
    cache: true,
  });
  const base = "http://127.0.0.1:8787";
  const get = async (path) => {
    const r = await mf.dispatchFetch(base + path, { headers: { "user-agent": "autocannon" } });
    const body = await r.text();
    return { r, body };
  };
  await get("/articles/1");
  for (let i = 0; i < 300; i++) await get("/articles/1");
  const runs = [];
  for (let k = 0; k < 5; k++) {
    await new Promise((r) => setTimeout(r, 50));
    await get("/__fp/on");
    const { r } = await get("/articles/1");
    const seen = JSON.parse((await get("/__fp/off")).body);
    const status = r.headers.get("cache-status") ?? "";
    if (!/hit/.test(status)) throw new Error(`not a hit: ${r.status} ${status}`);
    runs.push(seen);
  }
  const counted = runs.map((seen) => callsOf(seen, log));
  counted.sort((a, b) => a.size - b.size);
  const calls = counted[0];
  const fns = [...calls.keys()];
  const names = readable(fns);
  const sum = summary(calls, names);
  console.log(`one hit in the worker's wasm: ${sum.functions} distinct functions, ${sum.calls} function calls, ${sum.allocs} allocations` +
    ` (the smallest of ${counted.length} hits: ${counted.map((c) => c.size).join(", ")} functions)`);
  console.log("   by crate: " + sum.byCrate);
  if (callersRe) {
    await get("/__fp/on");
    await get("/articles/1");
    const r = await mf.dispatchFetch(base + "/__fp/off", { headers: { "x-seq": "1" } });
    const seq = await r.json();
    const ids = [...new Set(seq.map((id) => owner.get(id)))];
    const dm = readable(ids);
    const nameOf = new Map(ids.map((f, i) => [f, dm[i]]));
    let last = "?";
    const by = new Map();
    const order = [];
    for (const id of seq) {
      const f = owner.get(id);
      if (entry.get(f) !== id) continue;
      const n = nameOf.get(f);
      order.push(n);
      if (callersRe.test(n)) by.set(last, (by.get(last) ?? 0) + 1);
      else if (/edgecache::/.test(n)) last = n;
    }
    for (const [k, v] of [...by].sort((a, b) => b[1] - a[1])) console.log(`${String(v).padStart(6)}  ${k}`);
    if (seqFile) writeFileSync(seqFile, order.join("\n") + "\n");
  }
  if (list) {
    const rows = fns.map((f, i) => [calls.get(f), names[i]]);
    for (const [n, f] of rows.sort((a, b) => b[0] - a[0])) console.log(`${String(n).padStart(6)}  ${f}`);
  }
  if (sizes) {
    const by = functionSizes(join(dir, "index_bg.wasm"));
    const rows = fns.map((f, i) => [by.get(f.slice(1).replace(/^"|"$/g, "")) ?? 0, calls.get(f), names[i]]);
    const total = rows.reduce((a, r) => a + r[0], 0);
    console.log(`code bytes of the touched functions (wasm bodies): ${total} in ${rows.length} functions`);
    for (const [s, n, f] of rows.sort((a, b) => b[0] - a[0])) console.log(`${String(s).padStart(7)} ${String(n).padStart(5)}  ${f}`);
  }
} finally {
  await mf?.dispose();
  origin?.close();
  rmSync(tmp, { recursive: true, force: true });
}
