// Latency added at one connection, measured request by request (bench/run part 1): one keep-alive
// connection to each of two URLs, requests alternating between them (A B, then B A, ...), never two
// in flight. A slow spell of the shared machine then falls on both sides alike, which separate runs
// of a few seconds each cannot promise. Prints one JSON line:
//   { a: { n, p50, p90, p99, max }, b: { ... }, duration } (ms, each response's own time to its last byte)
//   node bench/paired.mjs URL_A URL_B --duration 20
import http from "node:http";

const argv = process.argv.slice(2);
const urls = [argv[0], argv[1]];
let duration = 20;
for (let i = 2; i < argv.length; i++) {
  if (argv[i] === "--duration") duration = Number(argv[++i]);
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
let errors = 0;
const end = Date.now() + duration * 1000;
for (let k = 0; Date.now() < end; k++) {
  for (const i of k % 2 === 0 ? [0, 1] : [1, 0]) {
    const ms = await timed(i);
    if (ms == null) errors++;
    else times[i].push(ms);
  }
}
for (const a of agents) a.destroy();
const summary = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const q = (p) => (s.length ? Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))] * 1000) / 1000 : null);
  return { n: s.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: q(1) };
};
console.log(JSON.stringify({ a: summary(times[0]), b: summary(times[1]), errors, duration }));
