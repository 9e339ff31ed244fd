// Runs the microbenchmark bench/headers-micro/worker.js under `wrangler dev` on 127.0.0.1 and prints
// its figures (µs per call, three rounds). A measuring tool for issue 16, not part of ./test; the
// worker is ended by PID, also on failure.
//   node bench/headers-micro.mjs
import { tmpdir } from "node:os";
import { startJsWorker, stopAll } from "./procs.mjs";

let w;
try {
  w = await startJsWorker({ origin: "http://127.0.0.1:9", logDir: tmpdir(), config: "bench/headers-micro/wrangler.toml" });
  const rows = await (await fetch(w.url + "/", { signal: AbortSignal.timeout(120000) })).json();
  console.table(rows);
} finally {
  await w?.stop();
  await stopAll();
}
