// The code a hit runs, counted (a measuring tool for issue 16): instruments a build of bench/wasm-core
// with binaryen's --log-execution (a call at every function entry, loop and return), runs one call
// of each measured step after a warm-up, and prints the distinct functions it entered, its
// function calls and its allocations, then the distinct functions by crate.
// cold.mjs times the same steps; a step's cold time follows its distinct functions closely, see the
// README, "The hit path".
//   node bench/wasm-core/footprint.mjs [WASM] [--list STEP]   (WASM built with names: wasm-opt -g)
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";

const args = process.argv.slice(2);
const list = args.includes("--list") ? Number(args[args.indexOf("--list") + 1]) : null;
const input = args.find((a, i) => !a.startsWith("--") && args[i - 1] !== "--list") ??
  new URL("target/wasm32-unknown-unknown/release/edgecache_wasm_core.wasm", import.meta.url).pathname;
const bin = new URL("../../node_modules/.bin/", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "ec-footprint-"));
try {
  const feats = ["--enable-bulk-memory", "--enable-nontrapping-float-to-int"];
  execFileSync(`${bin}wasm-opt`, ["-g", ...feats, "--log-execution", input, "-o", `${dir}/log.wasm`]);
  execFileSync(`${bin}wasm-dis`, [`${dir}/log.wasm`, "-o", `${dir}/log.wat`]);
  const mod = new WebAssembly.Module(readFileSync(`${dir}/log.wasm`));
  const logImport = WebAssembly.Module.imports(mod).find((i) => i.name === "log_execution");
  // Which function each logging point is in; a function's first point is its entry.
  const wat = readFileSync(`${dir}/log.wat`, "utf8").split("\n");
  const logFn = wat.find((l) => l.includes(`"log_execution"`)).match(/\(func (\$\S+)/)[1];
  const owner = new Map(), entry = new Map();
  let fn = null;
  for (let i = 0; i < wat.length; i++) {
    const l = wat[i];
    if (l.startsWith(" (func ")) fn = l.split(" ")[2];
    else if (fn && l.includes(`(call ${logFn}`)) {
      const id = Number((l + wat[i + 1]).match(/i32\.const (\d+)/)[1]);
      owner.set(id, fn);
      if (!entry.has(fn)) entry.set(fn, id);
    }
  }
  let on = false;
  const seen = new Map();
  const imports = {};
  for (const i of WebAssembly.Module.imports(mod)) {
    imports[i.module] ??= {};
    imports[i.module][i.name] = () => { throw new Error(`import ${i.name} called`); };
  }
  imports[logImport.module].log_execution = (id) => { if (on) seen.set(id, (seen.get(id) ?? 0) + 1); };
  const { setup, run } = new WebAssembly.Instance(mod, imports).exports;
  setup();
  const steps = ["hit", "meta_decode", "url_parse", "request_fields", "first_step"];
  const demangle = (names) => {
    try { return execFileSync("c++filt", { input: names.join("\n") }).toString().split("\n"); } catch { return names; }
  };
  for (const [what, name] of steps.entries()) {
    if (list !== null && list !== what) continue;
    run(20, what);
    seen.clear(); on = true; run(1, what); on = false;
    const calls = new Map();
    for (const [id, n] of seen) {
      const f = owner.get(id);
      calls.set(f, (calls.get(f) ?? 0) + (entry.get(f) === id ? n : 0));
    }
    const fns = [...calls.keys()];
    const names = demangle(fns.map((f) => f.slice(1).replace(/^"|"$/g, "")));
    const total = [...calls.values()].reduce((a, b) => a + b, 0);
    const mallocs = fns.filter((f, i) => /dlmalloc.*\bmalloc\b|Dlmalloc.*6malloc/.test(names[i] + f)).reduce((a, f) => a + calls.get(f), 0);
    console.log(`${name}: ${fns.length} distinct functions, ${total} function calls, ${mallocs} mallocs`);
    const crates = new Map();
    names.forEach((n) => {
      const c = (n.match(/^<*(?:&(?:mut )?)?([a-z_][a-z0-9_]*)(?:\[[0-9a-f]+\])?::/) ?? [, n.startsWith("$") ? "(glue)" : "(other)"])[1];
      crates.set(c, (crates.get(c) ?? 0) + 1);
    });
    console.log("   by crate: " + [...crates].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(", "));
    if (list === what) {
      const rows = fns.map((f, i) => [calls.get(f), names[i].replace(/\[[0-9a-f]+\]/g, "").replace(/::h[0-9a-f]{16}$/, "")]);
      for (const [n, f] of rows.sort((a, b) => b[0] - a[0])) console.log(`${String(n).padStart(6)}  ${f}`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
