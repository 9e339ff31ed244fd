// Shared by bench/footprint.mjs and bench/wasm-core/footprint.mjs: a wasm instrumented with binaryen's
// --log-execution (a call to an imported `log_execution(id)` at every function entry, loop and return),
// and what its ids mean.
import { readFileSync, rmSync } from "node:fs";
import { execFileSync } from "node:child_process";

const bin = new URL("../node_modules/.bin/", import.meta.url).pathname;

/**
 * Writes `input` instrumented to `output` (names kept) and returns `{ logModule, owner, entry }`: the
 * import module of `log_execution`, the function each id is in, and each function's entry id.
 * `features` are wasm-opt's `--enable-…` flags for the module.
 */
export function instrument(input, output, features) {
  execFileSync(`${bin}wasm-opt`, ["-g", ...features, "--log-execution", input, "-o", output]);
  execFileSync(`${bin}wasm-dis`, [...features, output, "-o", `${output}.wat`]);
  const wat = readFileSync(`${output}.wat`, "utf8").split("\n");
  rmSync(`${output}.wat`);
  const imp = wat.find((l) => l.includes(`"log_execution"`));
  const logModule = imp.match(/\(import "([^"]+)"/)[1];
  const logFn = imp.match(/\(func (\$\S+)/)[1];
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
  return { logModule, owner, entry };
}

/** Calls per function from `[id, times]` pairs: how often each function was entered. */
export function callsOf(seen, { owner, entry }) {
  const calls = new Map();
  for (const [id, n] of seen) {
    const f = owner.get(id);
    calls.set(f, (calls.get(f) ?? 0) + (entry.get(f) === id ? n : 0));
  }
  return calls;
}

/** Readable names for wasm-dis function names (`$name` or `$"name"`), Rust symbols demangled. */
export function readable(fns) {
  let names = fns.map((f) => f.slice(1).replace(/^"|"$/g, ""));
  try { names = execFileSync("c++filt", { input: names.join("\n") }).toString().split("\n"); } catch {}
  return names.map((n) => n.replace(/\[[0-9a-f]+\]/g, "").replace(/::h[0-9a-f]{16}$/, ""));
}

/** Distinct functions, calls and allocations of `calls` (names from `readable`), and a line by crate. */
export function summary(calls, names) {
  const fns = [...calls.keys()];
  const total = [...calls.values()].reduce((a, b) => a + b, 0);
  const allocs = fns.filter((f, i) => /Dlmalloc.*>::malloc$/.test(names[i])).reduce((a, f) => a + calls.get(f), 0);
  const crates = new Map();
  for (const n of names) {
    const c = (n.match(/^<*(?:&(?:mut )?)?([a-z_][a-z0-9_]*)::/) ?? [, "(other)"])[1];
    crates.set(c, (crates.get(c) ?? 0) + 1);
  }
  const byCrate = [...crates].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(", ");
  return { functions: fns.length, calls: total, allocs, byCrate };
}
