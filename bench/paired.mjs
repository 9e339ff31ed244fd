// Latency added at one connection, measured request by request (bench/run part 1): one keep-alive
// connection to each of two URLs, requests alternating between them (A B, then B A, ...), never two
// in flight. A slow spell of the shared machine then falls on both sides alike, which separate runs
// of a few seconds each cannot promise. Prints one JSON line:
//   { a: { n, p50, p90, p99, max }, b: { ... }, blocks: [{ a: { n, p50, p99 }, b: { ... } }, ...], duration }
// (ms, each response's own time to its last byte). `blocks` are the same requests in --blocks
// consecutive stretches of equal time (6 by default): one stall of the shared machine lasting a
// second or two lands on one side's tail and moves the whole run's p99 by milliseconds; the
// median over blocks of their p99 differences is not moved by it.
//   node bench/paired.mjs URL_A URL_B --duration 20 [--blocks 6]
import http from "node:http";

const argv = process.argv.slice(2);
const urls = [argv[0], argv[1]];
let duration = 20;
let nBlocks = 6;
for (let i = 2; i < argv.length; i++) {
  if (argv[i] === "--duration") duration = Number(argv[++i]);
  else if (argv[i] === "--blocks") nBlocks = Math.max(1, Number(argv[++i]));
  else throw new Error(`unknown argument ${argv[i]}`);
}
const agents = urls.map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }));

function timed(i) {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve) => {
    const req = http.get(urls[i], { agent: agents[i] }, (res) => {
      res.on("data", () => {});
      res.on("end", () => resolve(res.statusCode >= 200 && res.statusCode < 300 ? Number(process.hrtime.bigint() - t0) / 1e6 : null));
      res.on("error", () => resolve(null));
    });
    req.setTimeout(10000, () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve(null));
  });
}

const times = [[], []];
// PAIRED_RAW=FILE: every hit as [side, ms since start, ms] (to look at when the slow ones came).
const raw = process.env.PAIRED_RAW ? [] : null;
const blocks = Array.from({ length: nBlocks }, () => [[], []]);
let errors = 0;
const start = Date.now();
const end = start + duration * 1000;
for (let k = 0; Date.now() < end; k++) {
  const b = blocks[Math.min(nBlocks - 1, Math.floor(((Date.now() - start) / (duration * 1000)) * nBlocks))];
  for (const i of k % 2 === 0 ? [0, 1] : [1, 0]) {
    const ms = await timed(i);
    if (ms == null) errors++;
    else {
      if (raw) raw.push([i, Date.now() - start, ms]);
      times[i].push(ms);
      b[i].push(ms);
    }
  }
}
for (const a of agents) a.destroy();
if (raw) (await import("node:fs")).writeFileSync(process.env.PAIRED_RAW, JSON.stringify(raw));
const summary = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const q = (p) => (s.length ? Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))] * 1000) / 1000 : null);
  return { n: s.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: q(1) };
};
const short = (xs) => {
  const { n, p50, p99 } = summary(xs);
  return { n, p50, p99 };
};
console.log(JSON.stringify({ a: summary(times[0]), b: summary(times[1]), blocks: blocks.map(([a, b]) => ({ a: short(a), b: short(b) })), errors, duration }));
