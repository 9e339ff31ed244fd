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
// Everything is on 127.0.0.1; every process started is ended by PID (also on Ctrl-C).
import { writeFileSync, readFileSync, mkdirSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { ROOT, DEV_SECRETS, startOrigin, startWorker } from "../scripts/stack.mjs";
import { runToEnd, startJsWorker, stopAll, groupCpu, jsAssetsConfig } from "./procs.mjs";
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
      v.w = await startWorker({ origin: origin.url, logDir: OUT, frozen: false, vars: { ...DEV_SECRETS, EDGECACHE_DEBUG: "0" }, config: cfg });
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
  }
  for (let r = 0; r < opt.rounds; r++) {
    const order = r % 2 ? [...variants].reverse() : variants;
    for (const v of order) {
      await new Promise((res) => setTimeout(res, 300));
      const c0 = groupCpu(v.w.pid);
      const x = await load(v.w.url + opt.path, opt.connections, opt.duration);
      x.cpu_us = Math.round(((groupCpu(v.w.pid) - c0) / Math.max(1, x.ok)) * 1e6);
      v.runs.push(x);
      console.log(`round ${r + 1} ${v.name}: ${x.rps} req/s, p50 ${x.p50} ms, p99 ${x.p99} ms, cpu ${x.cpu_us} µs/resp (non2xx ${x.non2xx}, errors ${x.errors})`);
    }
  }
  const base = variants[0];
  console.log(`\nmedians over ${opt.rounds} rounds, ${opt.connections} connections, ${opt.duration} s each; ratio = per-round req/s ÷ ${base.name}'s`);
  for (const v of variants) {
    const ratio = median(v.runs.map((x, i) => x.rps / base.runs[i].rps));
    console.log(`${v.name.padEnd(14)} ${median(v.runs.map((x) => x.rps))} req/s  ratio ${ratio.toFixed(3)}  p50 ${median(v.runs.map((x) => x.p50))} ms  p99 ${median(v.runs.map((x) => x.p99))} ms  cpu ${median(v.runs.map((x) => x.cpu_us))} µs/resp`);
  }
} finally {
  await cleanup();
}
