// A CPU profile of the worker isolate serving warm hits under load (a measuring tool for issue 16,
// not part of ./test), taken through wrangler dev's inspector (the DevTools protocol's Profiler):
// prints the isolate's busy time per request and the functions with the most self and inclusive
// time, and writes the profile to bench/out/profile-NAME.cpuprofile (open it in Chrome DevTools).
//
//   KEEP_NAMES=1 NO_MINIFY=1 EDGECACHE_POLICY=tests/edgecache.test.toml bash scripts/build.sh
//   cp -r build bench/out/variants/NAME && node bench/profile.mjs bench/out/variants/NAME
//
// KEEP_NAMES keeps the wasm's function names (scripts/build-worker.mjs), so Rust functions are
// named in the profile. One origin and one wrangler dev on 127.0.0.1, 3 s of warm-up then 6 s at
// 32 connections; both are ended by PID, also on failure. The profiler and wrangler's DevTools
// proxy add their own cost: compare builds profiled alike, not with bench/run's figures.
import { readFileSync, writeFileSync, rmSync, readdirSync, existsSync, statSync, copyFileSync } from "node:fs";
import { join, relative } from "node:path";
import WebSocket from "ws";
import { ROOT, DEV_SECRETS, startOrigin, startWorker } from "../scripts/stack.mjs";
import { runToEnd } from "./procs.mjs";
const dir = process.argv[2];
// PROFILE_CONNECTIONS: the load's connections (32 by default; 1 for a hit's time without queueing).
const conns = String(process.env.PROFILE_CONNECTIONS ?? 32);
if (!dir) {
  console.error("usage: node bench/profile.mjs DIR   (DIR: a copy of build/, see the top of this file)");
  process.exit(2);
}
// "js": the hand-written JS worker (bench/js-worker), profiled alike for comparison. Either way a
// config of our own (startWorker removes the config it was given when it stops).
const cfgPath = join(ROOT, `.wrangler-prof-${process.pid}.toml`);
writeFileSync(cfgPath, dir === "js"
  ? readFileSync(join(ROOT, "bench", "js-worker", "wrangler.toml"), "utf8").replace(/^main = "(.*)"$/m, (_, m) => `main = "${relative(ROOT, join(ROOT, "bench", "js-worker", m))}"`)
  : readFileSync(join(ROOT, "wrangler.toml"), "utf8")
    .replace(/^main = .*$/m, `main = "${relative(ROOT, join(ROOT, dir, "index.js"))}"`)
    .replace(/^command = .*$/m, 'command = ""').replace(/^watch_dir = .*$/m, ""));
const origin = await startOrigin({});
let w;
try {
  w = await startWorker({ origin: origin.url, frozen: false, devtools: true, vars: { ...DEV_SECRETS, EDGECACHE_DEBUG: "0" }, config: cfgPath });
  for (let i = 0; i < 3; i++) await fetch(w.url + "/articles/1").then((r) => r.text());
  // The inspector port startWorker gave wrangler.
  const cmd = readFileSync(`/proc/${w.pid}/cmdline`, "utf8").split("\0");
  const port = cmd[cmd.indexOf("--inspector-port") + 1];
  const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const target = list.find((t) => /edgecache|core:user/.test(t.id + t.title)) ?? list[0];
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((r) => ws.on("open", r));
  let id = 0; const pending = new Map();
  ws.on("message", (m) => { const j = JSON.parse(m); if (j.id && pending.has(j.id)) { pending.get(j.id)(j); pending.delete(j.id); } });
  const send = (method, params = {}) => new Promise((r) => { const i = ++id; pending.set(i, r); ws.send(JSON.stringify({ id: i, method, params })); });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: 50 });
  // warm
  await runToEnd("warm", process.execPath, [join(ROOT, "bench", "load.mjs"), w.url + "/articles/1", "--duration", "3", "--connections", conns]);
  await send("Profiler.start");
  const { out } = await runToEnd("load", process.execPath, [join(ROOT, "bench", "load.mjs"), w.url + "/articles/1", "--duration", "6", "--connections", conns]);
  console.log(out.trim().split("\n").at(-1).slice(0, 200));
  const { result } = await send("Profiler.stop");
  const name = dir.split("/").filter(Boolean).pop();
  writeFileSync(join(ROOT, `bench/out/profile-${name}.cpuprofile`), JSON.stringify(result.profile));
  // The script the profile's index.js lines refer to: wrangler's bundle, removed when it stops.
  const tmp = join(ROOT, ".wrangler", "tmp");
  const bundles = readdirSync(tmp).filter((d) => d.startsWith("dev-")).map((d) => join(tmp, d, "index.js"))
    .filter((f) => existsSync(f)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (bundles[0]) copyFileSync(bundles[0], join(ROOT, `bench/out/profile-${name}.bundle.js`));
  const p = result.profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = p.timeDeltas; let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i]); const d = dt[i] ?? 0; total += d;
    const k = `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.split("/").pop()}:${n.callFrame.lineNumber + 1}:${n.callFrame.columnNumber + 1}`;
    self.set(k, (self.get(k) ?? 0) + d);
  }
  // inclusive
  const parent = new Map(); for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const incl = new Map();
  for (let i = 0; i < p.samples.length; i++) {
    const seen = new Set(); let id2 = p.samples[i];
    while (id2 !== undefined) { const n = byId.get(id2); const k = `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.split("/").pop()}:${n.callFrame.lineNumber}`; if (!seen.has(k)) { seen.add(k); incl.set(k, (incl.get(k) ?? 0) + (dt[i] ?? 0)); } id2 = parent.get(id2); }
  }
  const idle = [...self].filter(([k]) => k.startsWith("(idle)")).reduce((a, [, v]) => a + v, 0);
  const reqs = JSON.parse(out.trim().split("\n").filter((l) => l.startsWith("{")).at(-1)).ok;
  console.log(`total sampled ${Math.round(total / 1000)} ms, idle ${Math.round(idle / 1000)} ms, busy per request ${((total - idle) / reqs).toFixed(0)} µs (${reqs} requests)`);
  console.log("--- self");
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`${(v / total * 100).toFixed(1).padStart(5)}%  ${k}`);
  console.log("--- inclusive");
  for (const [k, v] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`${(v / total * 100).toFixed(1).padStart(5)}%  ${k}`);
  ws.close();
} finally {
  await w?.stop(); await origin.stop(); rmSync(cfgPath, { force: true });
}
