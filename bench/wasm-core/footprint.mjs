// The code a hit runs, counted (a measuring tool for issue 16): instruments a build of bench/wasm-core
// with binaryen's --log-execution (bench/log-execution.mjs), runs one call of each measured step after
// a warm-up, and prints the distinct functions it entered, its function calls and its allocations,
// then the distinct functions by crate.
// cold.mjs times the same steps; a step's cold time follows its distinct functions closely, see the
// README, "The hit path".
//   node bench/wasm-core/footprint.mjs [WASM] [--list STEP]   (WASM built with names: wasm-opt -g)
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { instrument, callsOf, readable, summary } from "../log-execution.mjs";

const args = process.argv.slice(2);
const list = args.includes("--list") ? Number(args[args.indexOf("--list") + 1]) : null;
const input = args.find((a, i) => !a.startsWith("--") && args[i - 1] !== "--list") ??
  new URL("target/wasm32-unknown-unknown/release/edgecache_wasm_core.wasm", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "ec-footprint-"));
try {
  const log = instrument(input, `${dir}/log.wasm`, ["--enable-bulk-memory", "--enable-nontrapping-float-to-int"]);
  const mod = new WebAssembly.Module(readFileSync(`${dir}/log.wasm`));
  let on = false;
  const seen = new Map();
  const imports = {};
  for (const i of WebAssembly.Module.imports(mod)) {
    imports[i.module] ??= {};
    imports[i.module][i.name] = () => { throw new Error(`import ${i.name} called`); };
  }
  imports[log.logModule].log_execution = (id) => { if (on) seen.set(id, (seen.get(id) ?? 0) + 1); };
  const { setup, run } = new WebAssembly.Instance(mod, imports).exports;
  setup();
  const steps = ["hit", "meta_decode", "url_parse", "request_fields", "first_step"];
  for (const [what, name] of steps.entries()) {
    if (list !== null && list !== what) continue;
    run(20, what);
    seen.clear(); on = true; run(1, what); on = false;
    const calls = callsOf(seen, log);
    const fns = [...calls.keys()];
    const names = readable(fns);
    const sum = summary(calls, names);
    console.log(`${name}: ${sum.functions} distinct functions, ${sum.calls} function calls, ${sum.allocs} mallocs`);
    console.log("   by crate: " + sum.byCrate);
    if (list === what) {
      const rows = fns.map((f, i) => [calls.get(f), names[i]]);
      for (const [n, f] of rows.sort((a, b) => b[0] - a[0])) console.log(`${String(n).padStart(6)}  ${f}`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
