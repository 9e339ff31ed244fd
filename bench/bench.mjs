// The benchmark suite behind `bench/run` (issue 8). Run it through bench/run, which loads the
// toolchain and builds the worker first. Everything is on 127.0.0.1; every process started here
// (demo origin, two `wrangler dev`, nginx when installed, the load generator, cargo bench, the
// wasm timing) runs in its own process group and is ended by PID, also on failure and Ctrl-C.
//
// Parts (each is independent: one failing is reported and the others still run):
//   1. hit path     demo origin vs edgecache vs a minimal JS worker (vs nginx): autocannon, same
//                   duration and connections on a warm hit, alternating rounds, medians reported
//   2. hit ratio    a seeded Zipf trace (bench/trace.mjs) replayed against edgecache and the JS
//                   worker: hits, origin requests, personal-page leaks (must be 0)
//   3. core cost    cargo bench --bench decision (criterion medians)
//   4. size/start   build/index_bg.wasm raw/gzip, compile + instantiate time
//   5. stampede     origin fetches and client latency for a herd on a cold and on an expired key
//   6. purge        KV reads per hit (1000 hits on 50 tagged entries, 50 at a time) and local
//                   purge-to-miss latency (moved here from the e2e suite: figures are not tests)
//   8. kv reads     KV reads per 1000 hits (purge state) at 50 req/s and at 1 req/s, paced, on 50
//                   entries with 10 tags each, counted by edgecache's own metrics (one isolate)
//   7. streaming    (issue 17) time to first byte on a miss (2 MB at ~400 KB/s) from the origin,
//                   edgecache and the JS worker; 4 concurrent misses of large bodies (64 MB with
//                   Content-Length, stored; 256 MB chunked, over max_body_size) with peak RSS
//
// Settings (environment): BENCH_DURATION=4 (s per load run), BENCH_CONNECTIONS=32, BENCH_ROUNDS=10,
// BENCH_TRACE_N=12000, BENCH_TRACE_PAGES=300, BENCH_TRACE_CONCURRENCY=16, BENCH_HERD=200, BENCH_PARTS=1,2,3,4,5,6,7,8.
// BENCH_STREAM_MB=64,256 (part 7 body sizes), BENCH_STREAM_ROUNDS=5 (part 7 TTFB rounds), BENCH_KV_FAST_SECS=20 (part 8 at 50 req/s),
// BENCH_KV_SLOW_SECS=120 (part 8 at 1 req/s).
// BENCH_SINGLE_ROUNDS=6, BENCH_SINGLE_DURATION=4 (the 1-connection runs), BENCH_PAIRED_SECS=60 (1 connection
// to each worker, requests alternating between them: bench/paired.mjs; 0 skips it), BENCH_ALT_ROUNDS=12,
// BENCH_ALT_SEGMENTS=16, BENCH_ALT_SEGMENT=1 (the ratio's rounds: edgecache and the JS worker loaded in
// alternating segments of 1 s, ABBA, bench/alternate.mjs; 0 rounds skips them), BENCH_WARMUP=4 (s of unmeasured
// load per part 1 target before its rounds: both runtimes tier up their hot code). Part 1 compares like with like:
// neither edgecache nor the JS worker has an [assets] section (edgecache carries its dashboard in its
// bundle, scripts/dashboard.mjs), so neither sits behind wrangler's asset router; it also runs the JS
// worker behind that router ([assets] with run_worker_first, as edgecache was configured before) to
// show what the router costs, and reads each `wrangler dev` group's CPU time from /proc around every
// run (CPU per response: the whole group, and the worker's own workerd process alone).
import { mkdirSync, rmSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { cpus, loadavg } from "node:os";
import { execFileSync } from "node:child_process";
import { ROOT, DEV_SECRETS, startOrigin, startWorker, runningGroups } from "../scripts/stack.mjs";
import { runToEnd, runPaired, runAlternate, startJsWorker, stopAll, running, groupCpu, groupCpuByRole, jsAssetsConfig } from "./procs.mjs";
import { get, postJson, replay, herd, isEdgecacheHit, ourStatus } from "./client.mjs";
import { generateTrace } from "./trace.mjs";
import { nginxPath, startNginx } from "./nginx.mjs";

// CPU µs per response of the worker's own workerd process in group `pid` since `before`
// (groupCpuByRole), or null.
function workerCpuUs(pid, before, responses) {
  const after = pid ? groupCpuByRole(pid) : null;
  return before && after ? r1(((after.worker - before.worker) / Math.max(1, responses)) * 1e6, 0) : null;
}

const env = (k, d) => (process.env[k] !== undefined && process.env[k] !== "" ? Number(process.env[k]) : d);
const S = {
  duration: env("BENCH_DURATION", 4),
  connections: env("BENCH_CONNECTIONS", 32),
  rounds: env("BENCH_ROUNDS", 10),
  traceN: env("BENCH_TRACE_N", 12000),
  tracePages: env("BENCH_TRACE_PAGES", 300),
  traceConcurrency: env("BENCH_TRACE_CONCURRENCY", 16),
  herd: env("BENCH_HERD", 200),
  kvFastSecs: env("BENCH_KV_FAST_SECS", 20),
  kvSlowSecs: env("BENCH_KV_SLOW_SECS", 120),
  streamRounds: env("BENCH_STREAM_ROUNDS", 5),
  singleRounds: env("BENCH_SINGLE_ROUNDS", 6),
  singleDuration: env("BENCH_SINGLE_DURATION", 4),
  warmup: env("BENCH_WARMUP", 4),
  pairedSecs: env("BENCH_PAIRED_SECS", 60),
  stalePairs: env("BENCH_STALE_PAIRS", 500),
  altRounds: env("BENCH_ALT_ROUNDS", 12),
  altSegments: env("BENCH_ALT_SEGMENTS", 16),
  altSegment: env("BENCH_ALT_SEGMENT", 1),
  hitPath: "/articles/1",
};
const PARTS = new Set((process.env.BENCH_PARTS ?? "1,2,3,4,5,6,7,8").split(",").map((s) => s.trim()));
const T0 = Number(process.env.BENCH_T0_MS ?? Date.now());
const T_NODE = Date.now();
const OUT = join(ROOT, "bench", "out");
const LOGS = join(OUT, "logs");
rmSync(LOGS, { recursive: true, force: true });
mkdirSync(LOGS, { recursive: true });

const say = (msg) => console.log(`[bench +${String(Math.round((Date.now() - T0) / 1000)).padStart(3)}s] ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = xs.filter((x) => x != null).sort((a, b) => a - b);
  if (!s.length) return null;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const r1 = (x, d = 1) => (x == null ? null : Math.round(x * 10 ** d) / 10 ** d);

const results = {
  date: new Date().toISOString(),
  commit: (() => {
    try {
      return execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
    } catch {
      return null;
    }
  })(),
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? null, node: process.version },
  settings: S,
  parts: {},
  errors: [],
  notes: [],
};

// ---------------------------------------------------------------------------------------------
// Processes: everything ends by PID in `cleanup`, also on Ctrl-C / SIGTERM.
// ---------------------------------------------------------------------------------------------
const live = { origin: null, edgecache: null, js: null, jsAssets: null, nginx: null };
const live_logs = {};
let cleaning = null;
function cleanup() {
  return (cleaning ??= (async () => {
    for (const k of ["nginx", "jsAssets", "js", "edgecache", "origin"]) {
      if (live[k]) await live[k].stop().catch(() => {});
      live[k] = null;
    }
    await stopAll();
  })());
}
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, async () => {
    console.error(`\nbench: ${sig}, stopping everything it started`);
    await cleanup();
    process.exit(130);
  });
}

async function part(name, fn) {
  if (!PARTS.has(name.slice(0, 1))) return;
  const t = Date.now();
  try {
    await fn();
  } catch (e) {
    results.errors.push(`part ${name}: ${e.stack ?? e}`);
    say(`part ${name} FAILED: ${e.message ?? e}`);
  }
  say(`part ${name} done in ${Math.round((Date.now() - t) / 1000)} s`);
}

const originStats = async () => JSON.parse((await get(`${live.origin.url}/__origin/stats`)).body);
const originReset = () => postJson(`${live.origin.url}/__origin/reset`, {});
const originCount = async (path) => Object.values((await originStats()).paths[path] ?? {}).reduce((a, b) => a + b, 0);

async function load(url, { duration = S.duration, connections = S.connections } = {}) {
  const args = [join(ROOT, "bench", "load.mjs"), url, "--duration", String(duration), "--connections", String(connections)];
  const { code, out } = await runToEnd("autocannon", process.execPath, args);
  const line = out.trim().split("\n").filter((l) => l.startsWith("{")).at(-1);
  if (code !== 0 || !line) throw new Error(`load generator failed (${code}): ${out.slice(-500)}`);
  return JSON.parse(line);
}

// ---------------------------------------------------------------------------------------------
// 3. Core decision cost (first: no servers running yet, so it has the machine to itself)
// ---------------------------------------------------------------------------------------------
await part("3 core decision cost", async () => {
  say("part 3: cargo bench --bench decision (criterion)");
  const { code, out } = await runToEnd("cargo-bench", "cargo", ["bench", "--quiet", "--bench", "decision", "--", "--noplot"], { logFile: join(LOGS, "cargo-bench.log") });
  if (code !== 0) throw new Error(`cargo bench exited ${code}: ${out.slice(-800)}`);
  const est = (rel) => {
    const f = join(ROOT, "target", "criterion", rel, "new", "estimates.json");
    if (!existsSync(f)) return null;
    return JSON.parse(readFileSync(f, "utf8")).median.point_estimate; // ns
  };
  const perDecision = (rel) => (est(rel) == null ? null : est(rel) / 8); // each iteration runs 8 requests
  results.parts.core = {
    unit: "ns (criterion median)",
    match_rule_10: perDecision("match_rule/compiled/10"),
    match_rule_100: perDecision("match_rule/compiled/100"),
    match_rule_1000: perDecision("match_rule/compiled/1000"),
    match_rule_1000_linear: perDecision("match_rule/linear/1000"),
    find_bypass_cookie: est("cookies/find_bypass_cookie"),
    filter_cookie_header: est("cookies/filter_cookie_header"),
    normalize_path: est("cache_key/normalize_path"),
    cache_key_tracking_params: est("cache_key/default_rule_tracking_params"),
    cache_key_vary: est("cache_key/vary_accept_language"),
    embedded_decode_10: est("embedded_policy_decode/10"),
    embedded_decode_1000: est("embedded_policy_decode/1000"),
  };
});

// ---------------------------------------------------------------------------------------------
// 4. Size and start-up
// ---------------------------------------------------------------------------------------------
await part("4 size and start-up", async () => {
  say("part 4: wasm size, compile + instantiate (median of 20)");
  const { code, out } = await runToEnd("wasm-startup", process.execPath, [join(ROOT, "bench", "wasm-startup.mjs"), join(ROOT, "build", "index_bg.wasm"), "20"]);
  const line = out.trim().split("\n").filter((l) => l.startsWith("{")).at(-1);
  if (code !== 0 || !line) throw new Error(`wasm-startup failed (${code}): ${out.slice(-500)}`);
  results.parts.wasm = JSON.parse(line);
  if (results.parts.wasm.error) results.notes.push(`wasm start-up timing unavailable: ${results.parts.wasm.error}`);
});

// ---------------------------------------------------------------------------------------------
// Servers for parts 1, 2, 5, 6, 7
// ---------------------------------------------------------------------------------------------
const needServers = ["1", "2", "5", "6", "7", "8"].some((p) => PARTS.has(p));
try {
  if (needServers) {
    say("starting the demo origin, edgecache (wrangler dev) and the JS worker (wrangler dev)");
    const t = Date.now();
    live.origin = await startOrigin({ logDir: LOGS });
    const [e, j, ja] = await Promise.allSettled([
      startWorker({ origin: live.origin.url, logDir: LOGS, vars: { ...DEV_SECRETS, EDGECACHE_DEBUG: "0" }, devtools: false }),
      startJsWorker({ origin: live.origin.url, logDir: LOGS }),
      // The same JS worker behind wrangler's asset router ([assets] with run_worker_first, as
      // edgecache was configured before it carried its dashboard): what the router costs.
      PARTS.has("1") ? startJsWorker({ origin: live.origin.url, logDir: LOGS, config: jsAssetsConfig() }) : Promise.resolve(null),
    ]);
    if (e.status === "fulfilled") live.edgecache = e.value;
    if (j.status === "fulfilled") live.js = j.value;
    if (ja.status === "fulfilled") live.jsAssets = ja.value;
    else results.notes.push(`the JS worker with [assets] did not start: ${ja.reason?.message ?? ja.reason}`);
    live_logs.edgecache = live.edgecache?.logFile;
    live_logs.js = live.js?.logFile;
    if (e.status === "rejected" || j.status === "rejected") throw (e.reason ?? j.reason);
    const ngx = nginxPath();
    if (ngx) {
      try {
        live.nginx = await startNginx({ bin: ngx, origin: live.origin.url, logDir: LOGS });
        results.notes.push(`nginx: ${live.nginx.version} (proxy_cache, proxy_cache_lock, background update)`);
      } catch (err) {
        results.notes.push(`nginx found at ${ngx} but did not start: ${err.message}`);
      }
    } else {
      results.notes.push("nginx not installed (command -v nginx): the nginx proxy_cache rows are skipped");
    }
    say(`servers ready in ${Math.round((Date.now() - t) / 1000)} s: origin ${live.origin.url}, edgecache ${live.edgecache.url}, js ${live.js.url}${live.nginx ? `, nginx ${live.nginx.url}` : ""}`);
  }

  const targets = () => [
    { name: "edgecache", url: live.edgecache.url, pid: live.edgecache.pid, hit: isEdgecacheHit, status: (h) => ourStatus(h) },
    { name: "js-worker", url: live.js.url, pid: live.js.pid, hit: (h) => h["cf-cache-status"] === "HIT", status: (h) => `cf-cache-status: ${h["cf-cache-status"] ?? "-"}` },
    ...(live.nginx ? [{ name: "nginx", url: live.nginx.url, hit: (h) => /^(HIT|STALE|UPDATING|REVALIDATED)$/.test(h["x-cache-status"] ?? ""), status: (h) => `x-cache-status: ${h["x-cache-status"] ?? "-"}` }] : []),
  ];

  // -------------------------------------------------------------------------------------------
  // 1. Hit path
  // -------------------------------------------------------------------------------------------
  if (needServers) await part("1 hit path", async () => {
    const ts = [...targets()];
    if (live.jsAssets) ts.splice(2, 0, { name: "js+assets", url: live.jsAssets.url, pid: live.jsAssets.pid, hit: (h) => h["cf-cache-status"] === "HIT", status: (h) => `cf-cache-status: ${h["cf-cache-status"] ?? "-"}` });
    const load0 = loadavg();
    const warm = {};
    for (const t of ts) {
      let last;
      for (let i = 0; i < 3; i++) last = await get(t.url + S.hitPath);
      warm[t.name] = { status: last.status, cache: t.status(last.headers), hit: t.hit(last.headers) };
      if (!warm[t.name].hit) results.notes.push(`hit path: ${t.name} did not report a hit after warming ${S.hitPath}: ${warm[t.name].cache}`);
    }
    say(`part 1: warm ${S.hitPath}: ${Object.entries(warm).map(([k, v]) => `${k} → ${v.cache}`).join("; ")}`);
    // Steady state, not start-up: V8 first runs wasm and JavaScript through its baseline
    // compilers and tiers hot functions up while they run, so the first seconds under load
    // measure compilation. Each target gets the same unmeasured load first.
    if (S.warmup > 0) {
      for (const t of ts) await load(t.url + S.hitPath, { duration: S.warmup });
      say(`part 1: warm-up: ${S.warmup} s of load on each target, not measured`);
    }
    const runs = { origin: [] };
    for (const t of ts) runs[t.name] = [];
    const o = await load(live.origin.url + S.hitPath);
    runs.origin.push(o);
    say(`part 1: origin direct: ${o.rps} req/s, p50 ${o.p50} ms, p99 ${o.p99} ms`);
    for (let r = 0; r < S.rounds; r++) {
      const order = r % 2 === 0 ? ts : [...ts].reverse();
      for (const t of order) {
        await sleep(500);
        const before = (await originStats()).total;
        const c0 = t.pid ? groupCpu(t.pid) : null;
        const w0 = t.pid ? groupCpuByRole(t.pid) : null;
        const x = await load(t.url + S.hitPath);
        x.cpu_us = c0 == null ? null : r1(((groupCpu(t.pid) - c0) / Math.max(1, x.ok)) * 1e6, 0);
        x.worker_cpu_us = workerCpuUs(t.pid, w0, x.ok);
        x.origin_requests = (await originStats()).total - before;
        if (!x.ok) {
          x.failed = true; // nothing answered: left out of the medians, reported
          results.notes.push(`hit path: round ${r + 1} ${t.name}: no successful response (${JSON.stringify(x)})`);
        }
        runs[t.name].push(x);
        say(`part 1: round ${r + 1} ${t.name}: ${x.rps} req/s, p50 ${x.p50} ms, p99 ${x.p99} ms, CPU ${x.cpu_us ?? "n/a"} µs/response, in the worker's workerd ${x.worker_cpu_us ?? "n/a"} µs (non-2xx ${x.non2xx}, errors ${x.errors}, origin requests ${x.origin_requests})`);
      }
    }
    const summary = {};
    for (const [name, all] of Object.entries(runs)) {
      const xs = all.filter((x) => !x.failed);
      summary[name] = {
        rps: r1(median(xs.map((x) => x.rps))), p50: r1(median(xs.map((x) => x.p50)), 2), p99: r1(median(xs.map((x) => x.p99)), 2),
        cpu_us: r1(median(xs.map((x) => x.cpu_us)), 0), worker_cpu_us: r1(median(xs.map((x) => x.worker_cpu_us)), 0), runs: xs.length, failed_runs: all.length - xs.length, non2xx: xs.reduce((a, x) => a + x.non2xx + x.errors + x.timeouts, 0),
        origin_requests: xs.reduce((a, x) => a + (x.origin_requests ?? 0), 0),
      };
    }
    // The machine is shared and noisy: compare each round's two back-to-back runs, then take the
    // median over rounds (a slow spell then hits both sides of a pair alike).
    const pairs = [];
    for (let r = 0; r < S.rounds; r++) {
      const e = runs.edgecache[r], j = runs["js-worker"][r];
      const ja = runs["js+assets"]?.[r];
      if (e && j && !e.failed && !j.failed) {
        pairs.push({
          ratio: e.rps / j.rps, p99: e.p99 - j.p99, p50: e.p50 - j.p50,
          cpu: e.cpu_us != null && j.cpu_us != null ? e.cpu_us - j.cpu_us : null,
          worker_cpu: e.worker_cpu_us != null && j.worker_cpu_us != null ? e.worker_cpu_us - j.worker_cpu_us : null,
          ratio_assets: ja && !ja.failed ? e.rps / ja.rps : null,
          assets_ratio: ja && !ja.failed ? ja.rps / j.rps : null,
        });
      }
    }
    // The ratio (issue 16's goal): edgecache and the JS worker loaded in alternating segments of
    // 1 s (ABBA, bench/alternate.mjs), each round's req/s over its 8 s a side. A slow spell of the
    // shared machine then falls on both sides alike; the separate 4 s runs above spread 0.79–1.25
    // a pair on this machine (README "The hit path"), so their median moves by run, not by code.
    const alt = [];
    {
      const ec = ts.find((t) => t.name === "edgecache");
      const js = ts.find((t) => t.name === "js-worker");
      for (let r = 0; ec && js && r < S.altRounds; r++) {
        const x = await runAlternate(ec.url + S.hitPath, js.url + S.hitPath,
          { segments: S.altSegments, segment: S.altSegment, connections: S.connections, pgids: [ec.pid, js.pid] });
        const round = {
          ratio: x.a.rps / x.b.rps, edgecache: x.a, "js-worker": x.b,
          worker_cpu: x.a.worker_cpu_us != null && x.b.worker_cpu_us != null ? x.a.worker_cpu_us - x.b.worker_cpu_us : null,
          cpu: x.a.cpu_us != null && x.b.cpu_us != null ? x.a.cpu_us - x.b.cpu_us : null,
        };
        if (!x.a.ok || !x.b.ok) results.notes.push(`hit path: alternating round ${r + 1}: no successful response (${JSON.stringify(x)})`);
        else alt.push(round);
        say(`part 1: alternating round ${r + 1} (${S.altSegments} × ${S.altSegment} s): edgecache ${x.a.rps} · JS worker ${x.b.rps} req/s (ratio ${r1(round.ratio, 3)}), p50 ${x.a.p50} · ${x.b.p50} ms, p99 ${x.a.p99} · ${x.b.p99} ms, CPU in the worker's workerd ${x.a.worker_cpu_us ?? "n/a"} · ${x.b.worker_cpu_us ?? "n/a"} µs/response (errors ${x.a.errors} · ${x.b.errors})`);
      }
    }
    // Latency without queueing: one connection, so the difference is edgecache's own time per hit.
    const single = { edgecache: [], "js-worker": [] };
    for (let r = 0; r < S.singleRounds; r++) {
      for (const t of (r % 2 === 0 ? ts : [...ts].reverse()).filter((x) => x.name in single)) {
        await sleep(300);
        const c0 = groupCpu(t.pid);
        const w0 = groupCpuByRole(t.pid);
        const x = await load(t.url + S.hitPath, { duration: S.singleDuration, connections: 1 });
        x.cpu_us = c0 == null ? null : r1(((groupCpu(t.pid) - c0) / Math.max(1, x.ok)) * 1e6, 0);
        x.worker_cpu_us = workerCpuUs(t.pid, w0, x.ok);
        single[t.name].push(x);
        say(`part 1: 1 connection, round ${r + 1} ${t.name}: ${x.rps} req/s, p50 ${x.p50} ms, p99 ${x.p99} ms, CPU ${x.cpu_us ?? "n/a"} µs/response, in the worker's workerd ${x.worker_cpu_us ?? "n/a"} µs`);
      }
    }
    const singlePairs = single.edgecache.map((e, i) => ({ p50: e.p50 - single["js-worker"][i].p50, p99: e.p99 - single["js-worker"][i].p99, ratio: e.rps / single["js-worker"][i].rps, cpu: e.cpu_us - single["js-worker"][i].cpu_us, worker_cpu: e.worker_cpu_us == null || single["js-worker"][i].worker_cpu_us == null ? null : e.worker_cpu_us - single["js-worker"][i].worker_cpu_us }));
    const one = (xs) => ({ rps: r1(median(xs.map((x) => x.rps))), p50: r1(median(xs.map((x) => x.p50)), 2), p99: r1(median(xs.map((x) => x.p99)), 2), cpu_us: r1(median(xs.map((x) => x.cpu_us)), 0), worker_cpu_us: r1(median(xs.map((x) => x.worker_cpu_us)), 0) });
    const singleSummary = {
      edgecache: one(single.edgecache), "js-worker": one(single["js-worker"]),
      p50_added_ms: r1(median(singlePairs.map((p) => p.p50)), 2), p99_added_ms: r1(median(singlePairs.map((p) => p.p99)), 2),
      ratio_rps: r1(median(singlePairs.map((p) => p.ratio)), 3), cpu_added_us: r1(median(singlePairs.map((p) => p.cpu)), 0),
      worker_cpu_added_us: r1(median(singlePairs.map((p) => p.worker_cpu)), 0),
      rounds_p99_added_ms: singlePairs.map((p) => r1(p.p99, 2)), runs: single,
    };
    // The same added latency request by request (bench/paired.mjs): one connection to each worker,
    // requests alternating between them, so a slow spell of the machine falls on both alike.
    const ec = ts.find((t) => t.name === "edgecache");
    const js = ts.find((t) => t.name === "js-worker");
    let interleaved = null;
    if (ec && js && S.pairedSecs > 0) {
      const x = await runPaired(ec.url + S.hitPath, js.url + S.hitPath, S.pairedSecs);
      const blocks = (x.blocks ?? []).filter((b) => b.a.n && b.b.n).map((b) => r1(b.a.p99 - b.b.p99, 2));
      interleaved = {
        seconds: S.pairedSecs, errors: x.errors, edgecache: x.a, "js-worker": x.b,
        p50_added_ms: r1(x.a.p50 - x.b.p50, 2), p99_added_ms: r1(x.a.p99 - x.b.p99, 2),
        // The median over equal stretches of the run (bench/paired.mjs): a stall of the machine
        // that lands on one side's tail moves one block, not the figure.
        blocks_p99_added_ms: blocks, p99_added_block_median_ms: blocks.length ? r1(median(blocks), 2) : null,
        blocks: x.blocks,
      };
      say(`part 1: 1 connection, interleaved for ${S.pairedSecs} s: edgecache ${x.a.n} hits, p50 ${x.a.p50} ms, p99 ${x.a.p99} ms; JS worker ${x.b.n} hits, p50 ${x.b.p50} ms, p99 ${x.b.p99} ms (errors ${x.errors}); p99 added by block: ${blocks.join(", ")} ms`);
    }
    results.parts.hit_path = {
      single_connection: singleSummary,
      single_connection_interleaved: interleaved,
      path: S.hitPath, duration_s: S.duration, connections: S.connections, rounds: S.rounds, warm, summary,
      ratio_rps: r1(median(pairs.map((p) => p.ratio)), 3), p99_added_ms: r1(median(pairs.map((p) => p.p99)), 2),
      alternating: alt.length ? {
        rounds: alt.length, segments: S.altSegments, segment_s: S.altSegment,
        ratio_rps: r1(median(alt.map((p) => p.ratio)), 3), rounds_ratio: alt.map((p) => r1(p.ratio, 3)),
        worker_cpu_added_us: r1(median(alt.map((p) => p.worker_cpu)), 0), cpu_added_us: r1(median(alt.map((p) => p.cpu)), 0),
        worker_cpu_us: { edgecache: r1(median(alt.map((p) => p.edgecache.worker_cpu_us)), 0), "js-worker": r1(median(alt.map((p) => p["js-worker"].worker_cpu_us)), 0) },
        runs: alt,
      } : null,
      p50_added_ms: r1(median(pairs.map((p) => p.p50)), 2),
      cpu_added_us: r1(median(pairs.map((p) => p.cpu)), 0),
      worker_cpu_added_us: r1(median(pairs.map((p) => p.worker_cpu)), 0),
      ratio_rps_vs_js_assets: r1(median(pairs.map((p) => p.ratio_assets)), 3),
      ratio_js_assets_vs_js: r1(median(pairs.map((p) => p.assets_ratio)), 3),
      load_before: load0.map((x) => r1(x, 2)), load_after: loadavg().map((x) => r1(x, 2)),
      rounds_ratio: pairs.map((p) => r1(p.ratio, 3)), rounds_p99_added_ms: pairs.map((p) => r1(p.p99, 2)), runs,
    };
  });

  // -------------------------------------------------------------------------------------------
  // 2. Hit ratio on a trace
  // -------------------------------------------------------------------------------------------
  if (needServers) await part("2 hit ratio", async () => {
    const { events, summary } = generateTrace({ n: S.traceN, pages: S.tracePages });
    say(`part 2: trace of ${summary.requests} requests over ${summary.pages} pages (Zipf ${summary.zipf_s}, seed ${summary.seed}), ${summary.publishes} publishes; ideal hit ratio ${summary.ideal_hit_ratio}`);
    const out = { trace: summary, concurrency: S.traceConcurrency };
    const purges = [];
    for (const t of targets().filter((x) => x.name !== "nginx")) {
      await originReset();
      const onPublish = t.name === "edgecache"
        ? async (tags) => {
            const r = await postJson(`${t.url}/__edgecache/purge`, { tags }, { Authorization: `Bearer ${DEV_SECRETS.PURGE_TOKEN}` });
            purges.push({ tags, status: r.status });
            if (r.status >= 300) results.notes.push(`trace: purge ${tags} answered ${r.status}: ${r.body.slice(0, 200)}`);
          }
        : async () => {}; // the naive worker has no purge (it serves the old page until s-maxage runs out)
      const r = await replay(t.url, events, { concurrency: S.traceConcurrency, hit: t.hit, onPublish });
      const origin = (await originStats()).total;
      out[t.name] = {
        requests: r.requests, hits: r.hits, hit_ratio: r1(r.hits / r.requests, 4), origin_requests: origin,
        offload: r1(1 - origin / r.requests, 4), own_session_seen: r.ownSessions, errors: r.errors, error_samples: r.errorSamples, leaks: r.leaks, leak_samples: r.leakSamples,
        seconds: r1(r.ms / 1000), req_per_s: r1(r.requests / (r.ms / 1000)),
      };
      if (summary.logged_in && !r.ownSessions) results.notes.push(`trace: no logged-in response through ${t.name} showed its own sessionid: the leak check cannot see sessions`);
      say(`part 2: ${t.name}: hit ratio ${out[t.name].hit_ratio} (Cache-Status), origin requests ${origin} (offload ${out[t.name].offload}), leaks ${r.leaks}, errors ${r.errors}, ${out[t.name].seconds} s`);
    }
    out.purges = purges;
    results.parts.trace = out;
  });

  // -------------------------------------------------------------------------------------------
  // 5. Stampede
  // -------------------------------------------------------------------------------------------
  if (needServers) await part("5 stampede", async () => {
    const out = { herd: S.herd };
    const run = `${process.pid}-${Date.now().toString(36)}`;
    for (const t of targets()) {
      // Cold key: nothing cached, the origin takes 1 s.
      const cold = `/slow/bench-${run}-${t.name}`;
      const h1 = await herd(`${t.url}${cold}?ms=1000`, S.herd, { hit: t.hit });
      await sleep(300);
      const coldFetches = await originCount(cold);
      // Expired key: fresh for 1 s, origin takes 1 s to answer. edgecache: the lab-swr rule (edge_ttl
      // 1s, stale_while_revalidate 30s). Others: the origin's s-maxage=1; nginx serves stale while
      // updating by its config. No stale-while-revalidate in the origin's header: miniflare's local
      // Cache API keeps such entries for the whole window and serves them as HIT without ever
      // refetching, which is not what the Cache API does in production.
      const swrPath = `/lab/swr/bench-${run}-${t.name}`;
      const swrUrl = `${t.url}${swrPath}?delay=1000&h=${encodeURIComponent("Cache-Control:public, s-maxage=1")}`;
      const w = await get(swrUrl);
      await sleep(300);
      const w2 = await get(swrUrl); // stored?
      await sleep(1600); // now expired (age > 1 s) but within the stale window
      const before = await originCount(swrPath);
      const h2 = await herd(swrUrl, S.herd, { hit: t.hit });
      await sleep(1500); // let a background revalidation (1 s at the origin) finish
      const expiredFetches = (await originCount(swrPath)) - before;
      out[t.name] = {
        cold: { origin_fetches: coldFetches, ...h1 },
        expired: { origin_fetches: expiredFetches, warm: [t.status(w.headers), t.status(w2.headers)], ...h2 },
      };
      say(`part 5: ${t.name}: cold key → ${coldFetches} origin fetches (p50 ${h1.p50} ms, p99 ${h1.p99} ms); expired key → ${expiredFetches} (p50 ${h2.p50} ms, p99 ${h2.p99} ms)`);
    }
    // Stale hit vs fresh hit, one request at a time through edgecache, interleaved: two entries of
    // the same rule, one fresh (origin: max-age=600) and one stale (max-age=3 with
    // stale-while-revalidate=60, its one background revalidation held up at the origin by its fail
    // switch: hang, so every request for it is served stale). Requests alternate between them (F S,
    // then S F, ...; BENCH_STALE_PAIRS pairs), so a slow spell of the machine falls on both series
    // alike; two series one after the other, 100 each, put the p99 (then their largest sample) on
    // whichever a stall hit.
    const e = targets().find((t) => t.name === "edgecache");
    if (e) {
      const path = `/lab/bench-${run}-latency`;
      const cc = (v) => `?h=${encodeURIComponent(`Cache-Control:${v}`)}`;
      const urls = [
        `${e.url}/lab/bench-${run}-fresh${cc("public, max-age=600")}`,
        `${e.url}${path}${cc("public, max-age=3, stale-while-revalidate=60")}`,
      ];
      const agent = new (await import("node:http")).Agent({ keepAlive: true, maxSockets: 1 });
      for (const u of urls) await get(u, {}, agent, 20000);
      await postJson(`${live.origin.url}/__origin/fail`, { paths: [path], mode: "hang" });
      await sleep(3300);
      const xs = [[], []];
      const kinds = [new Set(), new Set()];
      for (let i = 0; i < S.stalePairs; i++) {
        for (const k of i % 2 === 0 ? [0, 1] : [1, 0]) {
          const r = await get(urls[k], {}, agent, 20000);
          xs[k].push(r.ms);
          kinds[k].add(ourStatus(r.headers).replace(/ttl=-?\d+/, "ttl=N"));
        }
      }
      await postJson(`${live.origin.url}/__origin/fail`, { paths: [path], mode: null });
      agent.destroy();
      const stats = (v, ks) => {
        const s = [...v].sort((a, b) => a - b);
        const q = (p) => Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))] * 100) / 100;
        return { n: s.length, p50: q(0.5), p99: q(0.99), kinds: [...ks] };
      };
      const fresh = stats(xs[0], kinds[0]);
      const stale = stats(xs[1], kinds[1]);
      out.stale_vs_fresh = { fresh, stale, p99_added_ms: Math.round((stale.p99 - fresh.p99) * 100) / 100 };
      say(`part 5: stale vs fresh hit (1 connection, ${S.stalePairs} interleaved pairs): fresh p50 ${fresh.p50} p99 ${fresh.p99} ms ${fresh.kinds.join(" | ")}; stale p50 ${stale.p50} p99 ${stale.p99} ms ${stale.kinds.join(" | ")}`);
    }
    results.parts.stampede = out;
  });

  // -------------------------------------------------------------------------------------------
  // 6. Purge: KV reads per hit, purge-to-miss latency
  // -------------------------------------------------------------------------------------------
  if (needServers) await part("6 purge", async () => {
    const base = live.edgecache.url;
    const admin = { authorization: `Bearer ${DEV_SECRETS.ADMIN_TOKEN}` };
    const stats = async () => JSON.parse((await get(`${base}/__edgecache/api/stats`, admin)).body);
    const purge = (tags) => postJson(`${base}/__edgecache/purge`, { tags }, { authorization: `Bearer ${DEV_SECRETS.PURGE_TOKEN}` });
    const run = `${process.pid}-${Date.now().toString(36)}`;
    const tagged = (path, tag) => `${path}?h=${encodeURIComponent("Cache-Control:max-age=300")}&h=${encodeURIComponent(`Cache-Tag:${tag}`)}`;
    const agent = new (await import("node:http")).Agent({ keepAlive: true, maxSockets: 50 });
    const us = Array.from({ length: 50 }, (_, i) => tagged(`/lab/kv/bench-${run}-${i}`, `kv-${run}-${i}`));
    for (const u of us) await get(base + u, {}, agent);
    const s0 = await stats();
    const t0 = performance.now();
    let hits = 0;
    let errors = 0;
    for (let round = 0; round < 20; round++) {
      const rs = await Promise.all(us.map((u) => get(base + u, {}, agent, 30000)));
      hits += rs.filter((r) => isEdgecacheHit(r.headers)).length;
      errors += rs.filter((r) => r.status !== 200).length;
    }
    const secs = (performance.now() - t0) / 1000;
    const s1 = await stats();
    const reads = s1.kv_reads - s0.kv_reads;
    agent.destroy();
    const lat = [];
    for (let i = 0; i < 5; i++) {
      const tag = `lat-${run}-${i}`;
      const u = base + tagged(`/lab/lat/bench-${run}-${i}`, tag);
      await get(u);
      await get(u);
      const p = await purge([tag]);
      if (p.status !== 202) throw new Error(`purge refused: ${p.status} ${p.body}`);
      const r = await get(u);
      lat.push({ ms: r.ms, purged: /detail=purged/.test(ourStatus(r.headers)) });
    }
    const ms = lat.map((x) => x.ms).sort((a, b) => a - b);
    results.parts.purge = {
      kv: { hits, errors, requests: 1000, kv_reads: reads, seconds: Math.round(secs * 10) / 10, reads_per_hit: hits ? Math.round((reads / hits) * 1000) / 1000 : null },
      purge_to_miss: { runs: lat.length, missed_at_once: lat.filter((x) => x.purged).length, median_ms: Math.round(ms[2]), ms: ms.map((x) => Math.round(x)) },
    };
    say(`part 6: KV reads per hit ${results.parts.purge.kv.reads_per_hit} (${reads} reads, ${hits} hits, ${errors} errors, ${secs.toFixed(1)} s); purge-to-miss: ${results.parts.purge.purge_to_miss.missed_at_once}/5 at once, median ${Math.round(ms[2])} ms`);
  });

  // -------------------------------------------------------------------------------------------
  // 7. Streaming (issue 17)
  // -------------------------------------------------------------------------------------------
  if (needServers) await part("7 streaming", async () => {
    const { streamGet, groupRss, biggestRss } = await import("./stream.mjs");
    const out = {};
    const run = `${process.pid}-${Date.now().toString(36)}`;
    const cacheable = `h=${encodeURIComponent("Cache-Control:public, max-age=600")}`;
    // One small miss per worker first: the first request of an isolate also pays for its start
    // (wasm compile, policy decode), which is not what this part measures.
    for (const base of [live.edgecache.url, live.js.url]) await streamGet(`${base}/lab/bench-warm-${run}?bytes=10&${cacheable}`);
    // TTFB on a miss: 2 MB at ~400 KB/s (16 KB every 40 ms: ≥ 4.9 s at the origin), cacheable.
    const q = `bytes=2000000&chunk=16384&every=40&${cacheable}`;
    const ttfb = {};
    for (let round = 0; round < S.streamRounds; round++) {
      for (const [name, base] of [["origin", live.origin.url], ["edgecache", live.edgecache.url], ["js-worker", live.js.url]]) {
        const r = await streamGet(`${base}/lab/bench-ttfb-${run}-${round}-${name}?${q}`);
        (ttfb[name] ??= []).push(r);
        if (r.bytes !== 2_000_000) results.notes.push(`part 7: ${name} round ${round}: ${r.bytes} bytes (${r.error ?? "no error"})`);
      }
    }
    for (const [name, rs] of Object.entries(ttfb)) {
      out[name] = { ttfb_ms: r1(median(rs.map((r) => r.ttfb)), 0), total_ms: r1(median(rs.map((r) => r.total)), 0) };
      out[name].rounds_ttfb_ms = rs.map((r) => r1(r.ttfb, 0));
      say(`part 7: miss, 2 MB at ~400 KB/s: ${name} first byte ${out[name].ttfb_ms} ms (rounds: ${out[name].rounds_ttfb_ms.join(", ")}), last ${out[name].total_ms} ms (median of ${rs.length})`);
    }
    out.ttfb_added_ms = r1(out.edgecache.ttfb_ms - out.origin.ttfb_ms, 0);
    // 4 concurrent misses of large bodies: does the worker's memory follow the body size?
    // workerd has no 128 MB isolate limit locally: its process RSS (all isolates, the local Cache
    // API included) is sampled every 50 ms instead. Bodies: 64 MB with Content-Length under the lab
    // rule's 100 MB max_body_size (streamed to the client and stored through the tee) and 256 MB
    // chunked (streamed, the store branch cut at 100 MB).
    const sizes = (process.env.BENCH_STREAM_MB ?? "64,256").split(",").map(Number).filter((n) => n > 0);
    out.large = [];
    for (const [name, t] of [["edgecache", live.edgecache], ["js-worker", live.js]]) {
      for (const mb of sizes) {
        const chunked = mb > 100;
        const base = groupRss(t.pid);
        const baseAll = groupRss(t.pid, "");
        const baseOne = biggestRss(t.pid);
        let peak = base;
        let peakAll = baseAll;
        let peakOne = baseOne;
        const sample = () => {
          peak = Math.max(peak, groupRss(t.pid));
          peakAll = Math.max(peakAll, groupRss(t.pid, ""));
          peakOne = Math.max(peakOne, biggestRss(t.pid));
        };
        const timer = setInterval(sample, 50);
        // Meanwhile, one request at a time to the worker's health path: how long the isolate
        // leaves other requests waiting while it moves the bodies.
        // (A request that gets no answer within 20 s is counted apart: under this load `wrangler
        // dev` leaves the odd request unanswered, the JS worker's as well as edgecache's.)
        let busy = true;
        const health = [];
        let unanswered = 0;
        const prober = (async () => {
          while (busy) {
            const h0 = performance.now();
            const r = await streamGet(`${t.url}/__edgecache/health`, { timeoutMs: 20000 });
            if (r.status === 200) health.push(performance.now() - h0);
            else unanswered += 1;
            await sleep(100);
          }
        })();
        const t0 = performance.now();
        const rs = await Promise.all([0, 1, 2, 3].map((i) => streamGet(`${t.url}/lab/bench-large-${run}-${name}-${mb}-${i}?bytes=${mb * 1024 * 1024}${chunked ? "&chunked=1" : ""}&${cacheable}`, { keep: false, timeoutMs: 300000 })));
        const seconds = (performance.now() - t0) / 1000;
        busy = false;
        await prober;
        clearInterval(timer);
        await sleep(1000); // the stores finish in wait_until
        sample();
        const ok = rs.filter((r) => r.status === 200 && r.bytes === mb * 1024 * 1024 && !r.error).length;
        const hs = health.sort((a, b) => a - b);
        const row = {
          target: name, mb, chunked, ok, of: 4, seconds: r1(seconds),
          rss_before_mb: r1(base / 1048576, 0), rss_peak_mb: r1(peak / 1048576, 0),
          one_rss_before_mb: r1(baseOne / 1048576, 0), one_rss_peak_mb: r1(peakOne / 1048576, 0),
          all_rss_before_mb: r1(baseAll / 1048576, 0), all_rss_peak_mb: r1(peakAll / 1048576, 0),
          health_n: hs.length, health_unanswered: unanswered, health_p50_ms: r1(median(hs), 0), health_max_ms: r1(hs.at(-1) ?? null, 0),
          errors: rs.map((r) => r.error).filter(Boolean).slice(0, 2),
        };
        out.large.push(row);
        say(`part 7: ${name}: 4 × ${mb} MB ${chunked ? "chunked" : "with Content-Length"} misses at once: ${ok}/4 complete in ${row.seconds} s; largest workerd RSS ${row.one_rss_before_mb} → peak ${row.one_rss_peak_mb} MB (all workerd ${row.rss_before_mb} → ${row.rss_peak_mb}, with wrangler's Node side ${row.all_rss_before_mb} → ${row.all_rss_peak_mb} MB); health meanwhile p50 ${row.health_p50_ms} ms, max ${row.health_max_ms} ms (${row.health_n} answered, ${row.health_unanswered} not within 20 s)${row.errors.length ? `; errors: ${row.errors.join(" | ")}` : ""}`);
      }
    }
    // The figure the issue asks for: the largest body size tried that 4 concurrent misses served whole.
    out.largest_mb = Math.max(0, ...out.large.filter((x) => x.target === "edgecache" && x.ok === 4).map((x) => x.mb));
    results.parts.streaming = out;
  });

  // -------------------------------------------------------------------------------------------
  // 8. KV reads per 1000 hits at paced rates (the purge state: issue 16)
  // -------------------------------------------------------------------------------------------
  if (needServers) await part("8 kv reads", async () => {
    const e = live.edgecache.url;
    const auth = { authorization: `Bearer ${DEV_SECRETS.ADMIN_TOKEN}` };
    const kvReads = async () => JSON.parse((await get(`${e}/__edgecache/api/stats`, auth)).body).kv_reads;
    const run = `${process.pid}-${Date.now().toString(36)}`;
    // 50 entries with 10 tags each: the per-record path would read 13 keys per entry per memo period.
    const urls = Array.from({ length: 50 }, (_, i) => {
      const tags = Array.from({ length: 10 }, (_, j) => `kvb-${run}-${i}-${j}`).join(",");
      return `${e}/lab/kvb-${run}-${i}?h=${encodeURIComponent("Cache-Control:max-age=3600")}&h=${encodeURIComponent(`Cache-Tag:${tags}`)}`;
    });
    for (const u of urls) await get(u);
    const agent = new (await import("node:http")).Agent({ keepAlive: true, maxSockets: 8 });
    const paced = async (rate, secs) => {
      const n = Math.round(rate * secs);
      const k0 = await kvReads();
      const t0 = performance.now();
      const pending = [];
      let hits = 0;
      const ms = [];
      for (let i = 0; i < n; i++) {
        const due = t0 + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        pending.push(get(urls[i % urls.length], {}, agent).then((r) => {
          if (isEdgecacheHit(r.headers)) hits++;
          ms.push(r.ms);
        }));
      }
      await Promise.all(pending);
      await sleep(500); // a background refresh started by the last hits is counted too
      const reads = (await kvReads()) - k0;
      ms.sort((a, b) => a - b);
      const q = (p) => r1(ms[Math.min(ms.length - 1, Math.floor(p * ms.length))], 2);
      return { rate, seconds: secs, requests: n, hits, kv_reads: reads, per_1000_hits: hits ? r1((reads * 1000) / hits, 1) : null, p50: q(0.5), p99: q(0.99) };
    };
    const fast = await paced(50, S.kvFastSecs);
    say(`part 8: 50 req/s for ${S.kvFastSecs} s: ${fast.hits} hits, ${fast.kv_reads} KV reads (${fast.per_1000_hits} per 1000 hits), p50 ${fast.p50} ms, p99 ${fast.p99} ms`);
    const slow = await paced(1, S.kvSlowSecs);
    say(`part 8: 1 req/s for ${S.kvSlowSecs} s: ${slow.hits} hits, ${slow.kv_reads} KV reads (${slow.per_1000_hits} per 1000 hits), p50 ${slow.p50} ms, p99 ${slow.p99} ms`);
    agent.destroy();
    results.parts.kv_reads = { tags_per_entry: 10, entries: urls.length, fast, slow };
  });
} catch (e) {
  results.errors.push(`servers: ${e.stack ?? e}`);
  say(`FAILED: ${e.message ?? e}`);
} finally {
  await cleanup();
}

// A worker rebuilt or reloaded mid-run (someone edited build/ or src/ in this tree) makes the
// numbers after that point meaningless: say so.
for (const [name, f] of [["edgecache", live_logs.edgecache], ["js-worker", live_logs.js]]) {
  if (!f || !existsSync(f)) continue;
  const log = readFileSync(f, "utf8");
  const after = log.slice(Math.max(0, log.indexOf("Ready on")));
  const m = after.match(/^.*(Reloading|updated and ready|Command failed|custom build|Detected changes).*$/im);
  if (m) results.notes.push(`WARNING: ${name}'s wrangler dev rebuilt or reloaded during the run ("${m[0].replace(/\x1b\[[0-9;]*m/g, "").trim().slice(0, 120)}"): results after that point are not valid; rerun on a quiet tree`);
}

// ---------------------------------------------------------------------------------------------
// Table
// ---------------------------------------------------------------------------------------------
const rows = [];
const row = (partName, what, value, goal = "", verdict = "") => rows.push({ part: partName, what, value: String(value ?? "n/a"), goal, verdict });
const ok = (c) => (c == null ? "" : c ? "ok" : "MISS");
const fmtNs = (ns) => (ns == null ? "n/a" : ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`);

const hp = results.parts.hit_path;
if (hp) {
  row("1 hit path", "load average (1 min) before · after part 1", `${hp.load_before[0]} · ${hp.load_after[0]} (${results.machine.cpus} CPUs)`);
  for (const [name, s] of Object.entries(hp.summary)) {
    row("1 hit path", `${name}: req/s · p50 · p99 · CPU/response`, `${s.rps} · ${s.p50} ms · ${s.p99} ms · ${s.cpu_us ?? "n/a"} µs`, "", s.non2xx ? `${s.non2xx} errors` : "");
  }
  const al = hp.alternating;
  if (al) {
    row("1 hit path", `edgecache / JS worker req/s, ${hp.connections} conn., alternating ${al.segment_s} s segments (median of ${al.rounds} rounds of ${al.segments / 2} s a side)`, `${al.ratio_rps} (rounds: ${al.rounds_ratio.join(", ")})`, "≥ 0.95", ok(al.ratio_rps >= 0.95));
    row("1 hit path", "alternating: CPU per hit in the worker's own workerd: edgecache · JS worker · added (median of rounds)", `${al.worker_cpu_us.edgecache} µs · ${al.worker_cpu_us["js-worker"]} µs · ${al.worker_cpu_added_us ?? "n/a"} µs`);
  }
  row("1 hit path", `edgecache / JS worker req/s, ${hp.connections} conn., separate ${hp.duration_s} s runs (median of ${hp.rounds_ratio.length} rounds)`, `${hp.ratio_rps} (rounds: ${hp.rounds_ratio.join(", ")})`, al ? "" : "≥ 0.95", al ? "" : ok(hp.ratio_rps >= 0.95));
  if (hp.ratio_rps_vs_js_assets != null) {
    row("1 hit path", "JS worker behind the asset router / JS worker req/s", hp.ratio_js_assets_vs_js);
    row("1 hit path", "edgecache / JS worker behind the asset router req/s", hp.ratio_rps_vs_js_assets);
  }
  row("1 hit path", "CPU per hit added by edgecache (wrangler dev group, /proc)", `${hp.cpu_added_us ?? "n/a"} µs`);
  const wc = (n) => hp.summary[n]?.worker_cpu_us ?? "n/a";
  row("1 hit path", "CPU per hit in the worker's own workerd: edgecache · JS worker · added (median of pairs)", `${wc("edgecache")} µs · ${wc("js-worker")} µs · ${hp.worker_cpu_added_us ?? "n/a"} µs`);
  const sc = hp.single_connection;
  row("1 hit path", "1 connection: edgecache p50 · p99", `${sc.edgecache.p50} ms · ${sc.edgecache.p99} ms`);
  row("1 hit path", "1 connection: JS worker p50 · p99", `${sc["js-worker"].p50} ms · ${sc["js-worker"].p99} ms`);
  row("1 hit path", `1 connection: added by edgecache p50 · p99 (median of ${sc.rounds_p99_added_ms.length} rounds)`, `${sc.p50_added_ms} ms · ${sc.p99_added_ms} ms (p99 rounds: ${sc.rounds_p99_added_ms.join(", ")})`, "p99 ≤ 1 ms", ok(sc.p99_added_ms <= 1));
  const il = hp.single_connection_interleaved;
  if (il) {
    row("1 hit path", `1 connection, interleaved (${il.seconds} s, ${il.edgecache.n} · ${il["js-worker"].n} hits): edgecache · JS worker p50 · p99`, `${il.edgecache.p50} · ${il["js-worker"].p50} ms · ${il.edgecache.p99} · ${il["js-worker"].p99} ms`);
    row("1 hit path", "1 connection, interleaved: added by edgecache p50 · p99 (whole run)", `${il.p50_added_ms} ms · ${il.p99_added_ms} ms`, il.p99_added_block_median_ms == null ? "p99 ≤ 1 ms" : "", il.p99_added_block_median_ms == null ? ok(il.p99_added_ms <= 1) : "");
    if (il.p99_added_block_median_ms != null) {
      row("1 hit path", `1 connection, interleaved: p99 added by edgecache (median of ${il.blocks_p99_added_ms.length} blocks of ${r1(il.seconds / il.blocks_p99_added_ms.length, 0)} s)`, `${il.p99_added_block_median_ms} ms (blocks: ${il.blocks_p99_added_ms.join(", ")})`, "≤ 1 ms", ok(il.p99_added_block_median_ms <= 1));
    }
  }
  row("1 hit path", "1 connection: edgecache / JS worker req/s · CPU added per hit (group · worker's workerd)", `${sc.ratio_rps} · ${sc.cpu_added_us} µs · ${sc.worker_cpu_added_us ?? "n/a"} µs`);
  // Reported, not a goal: issue 16's p99 goal is at one connection. At 32 the p99 is queueing
  // (70–110 ms on this machine) and moves by ±10 ms between rounds of the same worker.
  row("1 hit path", `p99 added by edgecache at ${hp.connections} conn. (median of rounds; queueing, the goal is at 1 conn.)`, `${hp.p99_added_ms} ms (rounds: ${hp.rounds_p99_added_ms.join(", ")})`);
}
const tr = results.parts.trace;
if (tr) {
  row("2 hit ratio", `trace: ${tr.trace.requests} req, ${tr.trace.pages} pages, Zipf ${tr.trace.zipf_s}`, `ideal ${(tr.trace.ideal_hit_ratio * 100).toFixed(1)} %`);
  for (const name of ["edgecache", "js-worker"]) {
    const x = tr[name];
    if (!x) continue;
    const goal = name === "edgecache" ? "≥ 90 %" : "";
    row("2 hit ratio", `${name}: hit ratio · origin req`, `${(x.hit_ratio * 100).toFixed(1)} % · ${x.origin_requests} (offload ${(x.offload * 100).toFixed(1)} %)`, goal, name === "edgecache" ? ok(x.hit_ratio >= 0.9) : "");
    row("2 hit ratio", `${name}: personal-page leaks`, x.leaks, "0", ok(x.leaks === 0));
  }
}
const core = results.parts.core;
if (core) {
  row("3 core", "match rule, 10 / 100 rules", `${fmtNs(core.match_rule_10)} / ${fmtNs(core.match_rule_100)}`);
  row("3 core", "match rule, 1000 rules (compiled)", fmtNs(core.match_rule_1000), "≤ 1 µs", ok(core.match_rule_1000 != null && core.match_rule_1000 <= 1000));
  row("3 core", "match rule, 1000 rules (linear scan)", fmtNs(core.match_rule_1000_linear));
  row("3 core", "cookies: find bypass · filter", `${fmtNs(core.find_bypass_cookie)} · ${fmtNs(core.filter_cookie_header)}`);
  row("3 core", "key: normalise path · tracking params · vary", `${fmtNs(core.normalize_path)} · ${fmtNs(core.cache_key_tracking_params)} · ${fmtNs(core.cache_key_vary)}`);
  row("3 core", "embedded policy decode (once per isolate), 10 / 1000 rules", `${fmtNs(core.embedded_decode_10)} / ${fmtNs(core.embedded_decode_1000)}`);
}
const wz = results.parts.wasm;
if (wz) {
  row("4 size", "index_bg.wasm raw · gzip (zlib level 9)", `${(wz.raw / 1024).toFixed(1)} KB · ${(wz.gzip / 1024).toFixed(1)} KB`, "≤ 250 KB gzip", ok(wz.gzip <= 250 * 1024));
  row("4 start-up", `compile + instantiate (${wz.engine ?? "n/a"})`, wz.total_ms == null ? "n/a" : `${wz.total_ms} ms (${wz.compile_ms} + ${wz.instantiate_ms})`);
}
const st = results.parts.stampede;
if (st) {
  for (const [name, x] of Object.entries(st)) {
    if (name === "herd" || name === "stale_vs_fresh") continue;
    const expect = name === "edgecache" ? "1" : "";
    row("5 stampede", `${name}: cold key, herd of ${st.herd} → origin fetches`, `${x.cold.origin_fetches} (p50 ${x.cold.p50} ms, p99 ${x.cold.p99} ms)`, expect, name === "edgecache" ? ok(x.cold.origin_fetches === 1) : "");
    row("5 stampede", `${name}: expired key (SWR) → origin fetches`, `${x.expired.origin_fetches} (p50 ${x.expired.p50} ms, p99 ${x.expired.p99} ms)`, expect, name === "edgecache" ? ok(x.expired.origin_fetches === 1) : "");
  }
}

const sm = results.parts.streaming;
if (sm) {
  for (const name of ["origin", "edgecache", "js-worker"]) {
    if (sm[name]) row("7 streaming", `miss, 2 MB at ~400 KB/s: ${name} first byte · last byte`, `${sm[name].ttfb_ms} ms · ${sm[name].total_ms} ms`);
  }
  row("7 streaming", "first byte on a miss: edgecache − origin", `${sm.ttfb_added_ms} ms`, "a few ms", ok(sm.ttfb_added_ms != null && sm.ttfb_added_ms <= 50));
  for (const x of sm.large ?? []) {
    row("7 streaming", `${x.target}: 4 concurrent misses × ${x.mb} MB${x.chunked ? " chunked" : ""}`, `${x.ok}/4 whole in ${x.seconds} s; worker's workerd RSS ${x.one_rss_before_mb} → ${x.one_rss_peak_mb} MB`, x.target === "edgecache" ? "4/4" : "", x.target === "edgecache" ? ok(x.ok === 4) : "");
    row("7 streaming", `${x.target}: health request meanwhile p50 · max`, `${x.health_p50_ms} ms · ${x.health_max_ms} ms (${x.health_n} answered, ${x.health_unanswered} not within 20 s)`);
  }
  row("7 streaming", "largest body served whole to 4 concurrent misses (sizes tried)", `${sm.largest_mb} MB (${[...new Set((sm.large ?? []).map((x) => x.mb))].join(", ")})`);
}

if (st?.stale_vs_fresh) {
  const { fresh, stale, p99_added_ms } = st.stale_vs_fresh;
  row("5 stale hit", `edgecache, 1 connection, ${fresh.n} interleaved pairs: fresh hit p50 · p99`, `${fresh.p50} ms · ${fresh.p99} ms`);
  row("5 stale hit", "edgecache, 1 connection: stale hit (SWR) p50 · p99", `${stale.p50} ms · ${stale.p99} ms`);
  row("5 stale hit", "p99 stale − p99 fresh", `${p99_added_ms} ms`, "≤ 1 ms", ok(p99_added_ms <= 1));
}

const pg = results.parts.purge;
if (pg) {
  row("6 purge", `KV reads per hit (${pg.kv.hits} hits on 50 tagged entries, 50 at a time, ${pg.kv.seconds} s)`, `${pg.kv.reads_per_hit} (${pg.kv.kv_reads} reads)`, "< 1", ok(pg.kv.reads_per_hit != null && pg.kv.reads_per_hit < 1));
  row("6 purge", "requests answered (of 1000)", `${pg.kv.requests - pg.kv.errors}`, "1000", ok(pg.kv.errors === 0));
  row("6 purge", "purge-to-miss (local): first request after the 202 is a miss", `${pg.purge_to_miss.missed_at_once}/${pg.purge_to_miss.runs}, median ${pg.purge_to_miss.median_ms} ms`, "all", ok(pg.purge_to_miss.missed_at_once === pg.purge_to_miss.runs));
}
const kr = results.parts.kv_reads;
if (kr) {
  for (const x of [kr.fast, kr.slow]) {
    row("8 kv reads", `KV reads per 1000 hits at ${x.rate} req/s (${x.hits} hits, ${kr.tags_per_entry} tags/entry)`, `${x.per_1000_hits} (${x.kv_reads} reads; p50 ${x.p50} ms, p99 ${x.p99} ms)`, "≤ 50", ok(x.per_1000_hits != null && x.per_1000_hits <= 50));
  }
}

const wall = Math.round((Date.now() - T0) / 1000);
results.wall_seconds = wall;
results.bench_seconds = Math.round((Date.now() - T_NODE) / 1000);
results.table = rows;
writeFileSync(join(OUT, "results.json"), JSON.stringify(results, null, 2) + "\n");

const cols = ["part", "what", "value", "goal", "verdict"];
const width = Object.fromEntries(cols.map((c) => [c, Math.max(c.length, ...rows.map((r) => [...r[c]].length))]));
const line = (r) => `| ${cols.map((c) => r[c] + " ".repeat(width[c] - [...r[c]].length)).join(" | ")} |`;
console.log("");
console.log(line(Object.fromEntries(cols.map((c) => [c, c]))));
console.log(`|${cols.map((c) => "-".repeat(width[c] + 2)).join("|")}|`);
for (const r of rows) console.log(line(r));
console.log("");
console.log(`machine: ${results.machine.cpus} × ${results.machine.cpu}, Node ${results.machine.node}; commit ${results.commit}; wall time ${wall} s (setup + build + bench)`);
for (const n of results.notes) console.log(`note: ${n}`);
for (const e of results.errors) console.log(`error: ${e.split("\n")[0]}`);
console.log(`results: ${join("bench", "out", "results.json")}; logs: ${join("bench", "out", "logs")}/`);

const left = [...running(), ...runningGroups()];
if (left.length) console.log(`bench: still running (ending now): ${left.join(", ")}`);
const leaks = (tr?.edgecache?.leaks ?? 0) + (tr?.["js-worker"]?.leaks ?? 0);
if (leaks) console.log(`bench: ${leaks} responses carried another user's session (see results.json leak_samples)`);
process.exit(results.errors.length || leaks ? 1 : 0);
