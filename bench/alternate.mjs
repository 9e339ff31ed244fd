// Throughput of two servers compared in alternating short segments (bench/run part 1, bench/ab.mjs
// --alternate): autocannon loads A for S s, then B for S s, then B, then A (ABBA ...), with the
// same connections, in one process that does nothing else while a segment runs. A slow spell of the
// shared machine lasting a few seconds then falls on both sides alike, which back-to-back runs of
// 4 s each cannot promise: their pair ratios spread 0.79–1.25 on this machine (README "The hit
// path"). Prints one JSON line with each side's totals over all its segments:
//   { a: { ok, seconds, rps, p50, p99, cpu_us, worker_cpu_us }, b: { ... }, segments, errors }
// rps is responses ÷ seconds summed over the side's segments; cpu_us and worker_cpu_us are the CPU
// time per response of the side's whole process group and of its worker's own workerd (from /proc,
// Linux; null without --pgid).
//   node bench/alternate.mjs URL_A URL_B --segments 16 --segment 1 --connections 32 [--pgid A B]
import autocannon from "autocannon";
import { groupCpuByRole } from "./procs.mjs";

const argv = process.argv.slice(2);
const urls = [argv[0], argv[1]];
const opt = { segments: 16, segment: 1, connections: 32 };
const pgids = [null, null];
for (let i = 2; i < argv.length; i++) {
  const a = argv[i];
  if (a === "--pgid") {
    pgids[0] = Number(argv[++i]);
    pgids[1] = Number(argv[++i]);
  } else if (a.startsWith("--") && a.slice(2) in opt) opt[a.slice(2)] = Number(argv[++i]);
  else throw new Error(`unknown argument ${a}`);
}
if (!(opt.segments >= 2 && opt.segments % 2 === 0)) throw new Error("--segments: an even number ≥ 2 (each side gets half)");

const sides = urls.map(() => ({ times: [], seconds: 0, cpu: 0, worker: 0, errors: 0 }));
const cpuOf = (i) => (pgids[i] == null ? null : groupCpuByRole(pgids[i]));
// ABBA ABBA ...: each side runs first in half of the pairs and the order's own drift cancels.
for (let k = 0; k < opt.segments; k++) {
  const i = [0, 1, 1, 0][k % 4];
  const s = sides[i];
  const c0 = cpuOf(i);
  const inst = autocannon({ url: urls[i], duration: opt.segment, connections: opt.connections, pipelining: 1, timeout: 10 });
  inst.on("response", (_client, status, _bytes, ms) => {
    if (status >= 200 && status < 300) s.times.push(ms);
  });
  const r = await inst;
  const c1 = cpuOf(i);
  s.seconds += r.duration;
  s.errors += r.errors + r.timeouts + r.non2xx;
  if (c0 && c1) {
    s.cpu += Object.keys(c1).reduce((a, k2) => a + c1[k2] - c0[k2], 0);
    s.worker += c1.worker - c0.worker;
  }
}
const summary = (s, i) => {
  const t = [...s.times].sort((x, y) => x - y);
  const q = (p) => (t.length ? Math.round(t[Math.min(t.length - 1, Math.floor(p * t.length))] * 1000) / 1000 : null);
  const per = (sec) => (pgids[i] == null || !t.length ? null : Math.round((sec / t.length) * 1e6));
  return {
    ok: t.length, seconds: Math.round(s.seconds * 100) / 100, rps: Math.round((t.length / Math.max(0.01, s.seconds)) * 10) / 10,
    p50: q(0.5), p99: q(0.99), cpu_us: per(s.cpu), worker_cpu_us: per(s.worker), errors: s.errors,
  };
};
console.log(JSON.stringify({ a: summary(sides[0], 0), b: summary(sides[1], 1), segments: opt.segments, segment: opt.segment }));
