// A/B of worker variants on the warm hit path (a measuring tool for issue 16, not part of ./test):
// each variant runs under its own `wrangler dev`, all in front of one demo origin; rounds alternate
// the order; every run reports req/s, p50/p99 and the CPU time the variant's whole `wrangler dev`
// process group (node + workerd) spent per response (from /proc, so Linux only).
//
//   node bench/ab.mjs [--rounds 3] [--duration 5] [--connections 32] [--path /articles/1] VARIANT...
//
// VARIANT is NAME=SPEC:
//   js                  bench/js-worker (the hand-written baseline)
//   jsdir:DIR           another JS worker: DIR/wrangler.toml (an experiment)
//   js-assets           the same with an [assets] directory and run_worker_first = true
//   ec:DIR              edgecache from the build in DIR (a copy of build/: index.js and index_bg.wasm, e.g. made with
//                       `cp -r build bench/out/variants/a`), wrangler.toml's bindings
//   ec-assets:DIR       the same behind wrangler's asset router ([assets] www/, run_worker_first),
//                       as edgecache was configured before it carried the dashboard in its bundle
// --perf 1 samples each variant's process group with Linux `perf record` (1 kHz, user and kernel of
// our own processes: perf_event_paranoid ≤ 2) during its load and splits the CPU per response by
// where it ran: code V8 generated at run time ("jit": the wasm and the JavaScript glue), the
// runtime's own code (workerd), the kernel, node. Sampled CPU, steadier than req/s on a noisy
// machine; `perf` must be installed.
// --warmup S loads each variant for S s, unmeasured, before the rounds (at --warmup-connections N
// if given, else at --connections: e.g. 32 before rounds at 1, as bench/run's part 1 does).
// --paired S then measures the first variant against each other one interleaved at one connection
// for S s (bench/paired.mjs); --rounds 0 skips the rounds.
// --alternate N then measures the first variant against each other one in N rounds of bench/alternate.mjs
// (--segments 16 segments of --segment 1 s, ABBA, at --connections): a round's ratio is its req/s
// over all its segments ÷ the first variant's; the median over rounds is printed.
// --show 1 prints a hit's status, fields and body length per variant first.
// --idle N then measures each worker process's CPU over N s without traffic (ms per second).
// Everything is on 127.0.0.1; every process started is ended by PID (also on Ctrl-C).
import { writeFileSync, readFileSync, mkdirSync, rmSync } from "node:fs";
import { spawn, execFileSync } from "node:child_process";
import { join, relative } from "node:path";
import { ROOT, DEV_SECRETS, startOrigin, startWorker } from "../scripts/stack.mjs";
import { runToEnd, runPaired, runAlternate, startJsWorker, stopAll, groupCpu, groupCpuByRole, groupProcs, jsAssetsConfig } from "./procs.mjs";
import { get } from "./client.mjs";

const argv = process.argv.slice(2);
const opt = { rounds: 3, duration: 5, connections: 32, path: "/articles/1" };
const variants = [];
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a.startsWith("--")) opt[a.slice(2)] = a === "--path" ? argv[++i] : Number(argv[++i]);
  else {
    const [name, spec] = a.split("=");
    variants.push({ name, spec });
  }
}
const OUT = join(ROOT, "bench", "out", "ab");
mkdirSync(OUT, { recursive: true });
const configs = [];

function ecConfig(name, dir, assets) {
  let src = readFileSync(join(ROOT, "wrangler.toml"), "utf8")
    .replace(/^main = .*$/m, `main = "${relative(ROOT, join(dir, "index.js"))}"`)
    .replace(/^command = .*$/m, 'command = ""')
    .replace(/^watch_dir = .*$/m, "");
  if (assets) src += `\n[assets]\ndirectory = "www"\nbinding = "ASSETS"\nrun_worker_first = true\n`;
  const path = join(ROOT, `.wrangler-ab-${process.pid}-${name}.toml`);
  writeFileSync(path, src);
  configs.push(path);
  return path;
}

const live = [];
async function cleanup() {
  for (const w of live) await w.stop().catch(() => {});
  await stopAll();
  for (const c of configs) rmSync(c, { force: true });
}
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, async () => { await cleanup(); process.exit(130); });

async function load(url, connections, duration) {
  const { code, out } = await runToEnd("autocannon", process.execPath,
    [join(ROOT, "bench", "load.mjs"), url, "--duration", String(duration), "--connections", String(connections)]);
  const line = out.trim().split("\n").filter((l) => l.startsWith("{")).at(-1);
  if (code !== 0 || !line) throw new Error(`load failed: ${out.slice(-300)}`);
  return JSON.parse(line);
}
// `perf record` on group `pgid` for `secs`; resolves to samples by where they ran.
function perfSample(pgid, secs) {
  const file = join(OUT, `perf-${pgid}.data`);
  const child = spawn("perf", ["record", "-F", "1000", "-p", (groupProcs(pgid) ?? []).map((p) => p.pid).join(","), "-o", file, "--", "sleep", String(secs)], { stdio: "ignore" });
  return new Promise((res) => child.on("exit", () => {
    const by = { jit: 0, workerd: 0, kernel: 0, node: 0, other: 0 };
    try {
      const rep = execFileSync("perf", ["report", "-i", file, "--no-children", "--sort", "comm,dso", "-n", "-q"], { encoding: "utf8", maxBuffer: 1 << 26, stdio: ["ignore", "pipe", "ignore"] });
      for (const line of rep.split("\n")) {
        const m = line.match(/^\s*[\d.]+%\s+(\d+)\s+(\S+(?: \S+)?)\s+(.*)$/);
        if (!m) continue;
        const [n, comm, dso] = [Number(m[1]), m[2], m[3].trim()];
        const k = dso.startsWith("[JIT]") ? "jit" : dso.includes("kernel") ? "kernel" : comm === "node" || dso === "node" ? "node" : dso === "workerd" ? "workerd" : "other";
        by[k] += n;
      }
    } catch {}
    // AB_PERF_KEEP=1 keeps each sample file (bench/out/ab/perf-PGID-N.data) for `perf report`.
    if (process.env.AB_PERF_KEEP) {
      const kept = file.replace(/\.data$/, `-${Date.now()}.data`);
      try { execFileSync("mv", [file, kept]); console.log(`perf samples kept: ${kept}`); } catch {}
    } else rmSync(file, { force: true });
    res(by);
  }));
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

try {
  const origin = await startOrigin({ logDir: OUT });
  live.push(origin);
  for (const v of variants) {
    const [kind, dir] = v.spec.split(":");
    if (kind === "js") v.w = await startJsWorker({ origin: origin.url, logDir: OUT });
    else if (kind === "jsdir") v.w = await startJsWorker({ origin: origin.url, logDir: OUT, config: join(dir, "wrangler.toml") });
    else if (kind === "js-assets") {
      v.w = await startJsWorker({ origin: origin.url, logDir: OUT, config: jsAssetsConfig() });
    } else if (kind === "ec" || kind === "ec-assets") {
      const cfg = ecConfig(v.name, join(ROOT, dir), kind === "ec-assets");
      // startWorker's own frozen copy is of wrangler.toml: start wrangler directly with ours.
      v.w = await startWorker({ origin: origin.url, logDir: OUT, frozen: false, devtools: false, vars: { ...DEV_SECRETS, EDGECACHE_DEBUG: "0" }, config: cfg });
    } else throw new Error(`unknown variant ${v.spec}`);
    live.push(v.w);
    for (let i = 0; i < 3; i++) await get(v.w.url + opt.path);
    // A build instrumented by bench/count-calls.mjs says how many calls into JS a hit made.
    for (let i = 0; i < 3; i++) {
      const calls = (await get(v.w.url + opt.path)).headers["x-wasm-calls"];
      if (calls) console.log(`${v.name}: wasm→JS calls for one hit: ${calls}`);
    }
    v.runs = [];
    console.log(`${v.name}: ${v.w.url} (pid ${v.w.pid})`);
    // --show 1: a hit's status, header fields and body length, as the client gets them.
    if (opt.show) {
      const r = await get(v.w.url + opt.path);
      console.log(`${v.name}: hit ${r.status}, body ${Buffer.byteLength(r.body)} bytes, ${JSON.stringify(r.headers)}`);
    }
  }
  // --warmup S: S seconds of unmeasured load on each variant first (at --connections).
  if (opt.warmup) for (const v of variants) await load(v.w.url + opt.path, opt["warmup-connections"] ?? opt.connections, opt.warmup);
  for (let r = 0; r < opt.rounds; r++) {
    const order = r % 2 ? [...variants].reverse() : variants;
    for (const v of order) {
      await new Promise((res) => setTimeout(res, 300));
      const c0 = groupCpu(v.w.pid);
      const r0 = groupCpuByRole(v.w.pid);
      const sampled = opt.perf ? perfSample(v.w.pid, Math.max(1, opt.duration - 1)) : null;
      const x = await load(v.w.url + opt.path, opt.connections, opt.duration);
      x.cpu_us = Math.round(((groupCpu(v.w.pid) - c0) / Math.max(1, x.ok)) * 1e6);
      // The worker's own workerd process alone (see groupCpuByRole): what a worker's code changes.
      const r1 = groupCpuByRole(v.w.pid);
      x.worker_us = r0 && r1 ? Math.round(((r1.worker - r0.worker) / Math.max(1, x.ok)) * 1e6) : null;
      if (sampled) {
        // Samples at 1 kHz over (duration − 1) s, per response at the run's rate: µs per response.
        const by = await sampled;
        const per = (n) => Math.round((n * 1000) / (x.rps * Math.max(1, opt.duration - 1)));
        x.perf_us = Object.fromEntries(Object.entries(by).map(([k, n]) => [k, per(n)]));
      }
      v.runs.push(x);
      console.log(`round ${r + 1} ${v.name}: ${x.rps} req/s, p50 ${x.p50} ms, p99 ${x.p99} ms, cpu ${x.cpu_us} µs/resp, worker ${x.worker_us} µs/resp (non2xx ${x.non2xx}, errors ${x.errors})${x.perf_us ? ` perf µs/resp ${JSON.stringify(x.perf_us)}` : ""}`);
    }
  }
  // --idle N: each variant's worker process, N s without traffic after the rounds: CPU it spends
  // on its own (timers, background work), in ms per second. A constant cost shows here and not
  // only divided among responses.
  if (opt.idle) {
    for (const v of variants) {
      await new Promise((res) => setTimeout(res, 1000));
      const r0 = groupCpuByRole(v.w.pid);
      await new Promise((res) => setTimeout(res, opt.idle * 1000));
      const r1 = groupCpuByRole(v.w.pid);
      v.idle = r0 && r1 ? Math.round(((r1.worker - r0.worker) / opt.idle) * 1e4) / 10 : null;
      console.log(`${v.name}: idle for ${opt.idle} s after the rounds: worker process ${v.idle} ms CPU per second`);
    }
  }
  // --paired S: the first variant against each other one, one connection to each, requests
  // alternating between them for S s (bench/paired.mjs, as bench/run's part 1): the latency a
  // variant adds request by request, a slow spell of the machine falling on both alike.
  if (opt.paired) {
    for (const v of variants.slice(1)) {
      const x = await runPaired(variants[0].w.url + opt.path, v.w.url + opt.path, opt.paired);
      const d = (k) => Math.round((x.b[k] - x.a[k]) * 1000) / 1000;
      const blocks = x.blocks.filter((b) => b.a.n && b.b.n).map((b) => Math.round((b.b.p99 - b.a.p99) * 1000) / 1000);
      console.log(`paired ${opt.paired} s, ${variants[0].name} · ${v.name} (${x.a.n} · ${x.b.n} hits): p50 ${x.a.p50} · ${x.b.p50} ms, p90 ${x.a.p90} · ${x.b.p90} ms, p99 ${x.a.p99} · ${x.b.p99} ms, max ${x.a.max} · ${x.b.max} ms; ${v.name} − ${variants[0].name}: p50 ${d("p50")} ms, p99 ${d("p99")} ms, p99 by block ${blocks.join(" ")} (median ${median(blocks)}) ms (errors ${x.errors})`);
    }
  }
  if (opt.alternate) {
    for (const v of variants.slice(1)) {
      const xs = [];
      for (let r = 0; r < opt.alternate; r++) {
        const x = await runAlternate(variants[0].w.url + opt.path, v.w.url + opt.path,
          { segments: opt.segments ?? 16, segment: opt.segment ?? 1, connections: opt.connections, pgids: [variants[0].w.pid, v.w.pid] });
        xs.push(x);
        console.log(`alternate round ${r + 1}, ${variants[0].name} · ${v.name}: ${x.a.rps} · ${x.b.rps} req/s (ratio ${(x.b.rps / x.a.rps).toFixed(3)}), p50 ${x.a.p50} · ${x.b.p50} ms, p99 ${x.a.p99} · ${x.b.p99} ms, worker ${x.a.worker_cpu_us} · ${x.b.worker_cpu_us} µs/resp, cpu ${x.a.cpu_us} · ${x.b.cpu_us} µs/resp (errors ${x.a.errors} · ${x.b.errors})`);
      }
      const ratios = xs.map((x) => x.b.rps / x.a.rps);
      console.log(`alternate ${v.name} ÷ ${variants[0].name}: ratio ${median(ratios).toFixed(3)} (rounds ${ratios.map((q) => q.toFixed(3)).join(" ")}), worker µs/resp added ${median(xs.map((x) => x.b.worker_cpu_us - x.a.worker_cpu_us))}, cpu added ${median(xs.map((x) => x.b.cpu_us - x.a.cpu_us))}`);
    }
  }
  if (opt.rounds) {
    const base = variants[0];
    console.log(`\nmedians over ${opt.rounds} rounds, ${opt.connections} connections, ${opt.duration} s each; ratio = per-round req/s ÷ ${base.name}'s`);
    for (const v of variants) {
      const ratio = median(v.runs.map((x, i) => x.rps / base.runs[i].rps));
      const rounds = v.runs.map((x, i) => (x.rps / base.runs[i].rps).toFixed(3)).join(" ");
      const perf = opt.perf ? `  perf µs/resp (median): ${Object.keys(v.runs[0].perf_us ?? {}).map((k) => `${k} ${median(v.runs.map((x) => x.perf_us[k]))}`).join(", ")}` : "";
      console.log(`${v.name.padEnd(14)} ${median(v.runs.map((x) => x.rps))} req/s  ratio ${ratio.toFixed(3)} (rounds ${rounds})  p50 ${median(v.runs.map((x) => x.p50))} ms  p99 ${median(v.runs.map((x) => x.p99))} ms  cpu ${median(v.runs.map((x) => x.cpu_us))} µs/resp  worker ${median(v.runs.map((x) => x.worker_us))} µs/resp${perf}`);
    }
  }
} finally {
  await cleanup();
}
