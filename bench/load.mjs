// One fixed-duration load run with autocannon, in its own process so the load generator does not
// share an event loop with the bench's bookkeeping. Prints one JSON line:
//   { rps, p50, p90, p99, max (ms, from every response's own timing, not autocannon's integer-ms
//     histogram), requests, non2xx, errors, timeouts }
//   node bench/load.mjs URL --duration 8 --connections 32 [--header 'name: value']...
import autocannon from "autocannon";

const argv = process.argv.slice(2);
const url = argv[0];
let duration = 8;
let connections = 32;
const headers = {};
for (let i = 1; i < argv.length; i++) {
  if (argv[i] === "--duration") duration = Number(argv[++i]);
  else if (argv[i] === "--connections") connections = Number(argv[++i]);
  else if (argv[i] === "--header") {
    const [k, ...v] = argv[++i].split(":");
    headers[k.trim()] = v.join(":").trim();
  } else throw new Error(`unknown argument ${argv[i]}`);
}

const times = [];
const inst = autocannon({ url, duration, connections, headers, pipelining: 1, timeout: 10 });
inst.on("response", (_client, status, _bytes, ms) => {
  if (status >= 200 && status < 300) times.push(ms);
});
const r = await inst;
times.sort((a, b) => a - b);
const q = (p) => (times.length ? times[Math.min(times.length - 1, Math.floor(p * times.length))] : null);
const round = (x) => (x == null ? null : Math.round(x * 1000) / 1000);
console.log(JSON.stringify({
  rps: Math.round((times.length / r.duration) * 10) / 10,
  p50: round(q(0.5)), p90: round(q(0.9)), p99: round(q(0.99)), max: round(times.at(-1)),
  requests: r.requests.total, ok: times.length, non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts,
  duration: r.duration,
}));
