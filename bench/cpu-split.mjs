// Where a warm hit's CPU goes under `wrangler dev`, per process (a measuring tool for issue 16,
// not part of ./test): edgecache and the hand-written JS worker (bench/js-worker) each under their
// own `wrangler dev`, one demo origin; alternating rounds of autocannon at 32 connections; for
// each round the CPU time each process of the target's group spent per response (from /proc, so
// Linux only): workerd (the runtime: the worker's isolate, HTTP, and the local Cache API service)
// and node (wrangler's proxy in front of it).
//
//   node bench/cpu-split.mjs [--rounds 4] [--duration 6]
//
// Everything runs on 127.0.0.1 and is ended by PID, also on failure and Ctrl-C. Build first
// (EDGECACHE_POLICY=tests/edgecache.test.toml bash scripts/build.sh, as bench/run does).
import { join } from "node:path";
import { ROOT, startStack } from "../scripts/stack.mjs";
import { startJsWorker, stopAll, runToEnd, groupCpuByName as cpuByName } from "./procs.mjs";

const argv = process.argv.slice(2);
const opt = { rounds: 4, duration: 6 };
for (let i = 0; i < argv.length; i += 2) opt[argv[i].replace(/^--/, "")] = Number(argv[i + 1]);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const load = async (url, duration) => {
  const { out } = await runToEnd("load", process.execPath, [join(ROOT, "bench", "load.mjs"), url, "--duration", String(duration), "--connections", "32"]);
  return JSON.parse(out.trim().split("\n").filter((l) => l.startsWith("{")).at(-1));
};

let stack, js;
const cleanup = async () => {
  await js?.stop().catch(() => {});
  await stack?.stop().catch(() => {});
  await stopAll();
};
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, async () => { await cleanup(); process.exit(130); });
try {
  stack = await startStack({ vars: { EDGECACHE_DEBUG: "0" } });
  js = await startJsWorker({ origin: stack.origin.url, logDir: stack.worker.persist });
  const targets = [{ name: "edgecache", w: stack.worker, runs: [] }, { name: "js-worker", w: js, runs: [] }];
  for (const t of targets) await load(t.w.url + "/articles/1", 4); // warm-up, not measured
  for (let r = 0; r < opt.rounds; r++) {
    for (const t of r % 2 ? [...targets].reverse() : targets) {
      const a = cpuByName(t.w.pid);
      const x = await load(t.w.url + "/articles/1", opt.duration);
      const b = cpuByName(t.w.pid);
      const per = Object.fromEntries(Object.keys(b).map((k) => [k, Math.round(((b[k] - (a[k] ?? 0)) / Math.max(1, x.ok)) * 1e6)]));
      t.runs.push({ rps: x.rps, ...per });
      console.log(`round ${r + 1} ${t.name}: ${x.rps} req/s, CPU µs per response: ${Object.entries(per).map(([k, v]) => `${k} ${v}`).join(", ")}`);
    }
  }
  console.log(`\nmedians of ${opt.rounds} rounds (32 connections, ${opt.duration} s each):`);
  for (const t of targets) {
    const names = [...new Set(t.runs.flatMap((x) => Object.keys(x)))].filter((k) => k !== "rps");
    console.log(`${t.name.padEnd(10)} ${Math.round(median(t.runs.map((x) => x.rps)) * 10) / 10} req/s; CPU µs per response: ${names.map((k) => `${k} ${median(t.runs.map((x) => x[k] ?? 0))}`).join(", ")}`);
  }
} finally {
  await cleanup();
}
