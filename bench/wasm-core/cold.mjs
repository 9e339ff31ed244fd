// Times the core's hit in V8 (bench/wasm-core, built as its Cargo.toml says): one call at a time, warm
// (right after another) and right after 64 MB were written to evict the CPU's caches; medians of 300.
//   node bench/wasm-core/cold.mjs [WASM]
import { readFileSync } from "node:fs";
const mod = new WebAssembly.Module(readFileSync(process.argv[2] ?? new URL("target/wasm32-unknown-unknown/release/edgecache_wasm_core.wasm", import.meta.url)));
const imports = {};
for (const i of WebAssembly.Module.imports(mod)) { imports[i.module] ??= {}; imports[i.module][i.name] = () => { throw new Error(i.name); }; }
const { setup, run } = new WebAssembly.Instance(mod, imports).exports;
setup();
run(50000, 0); // tiered up
const junk = new Uint8Array(64 << 20);
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
for (const what of (process.env.WHATS ?? "0,1").split(",").map(Number)) {
  const warm = [], cold = [];
  for (let k = 0; k < 300; k++) {
    let t = process.hrtime.bigint(); run(1, what); warm.push(Number(process.hrtime.bigint() - t) / 1000);
    for (let i = 0; i < junk.length; i += 64) junk[i] = k; // evict the caches
    t = process.hrtime.bigint(); run(1, what); cold.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  console.log(`${["hit", "meta_decode", "url_parse", "request_fields", "first_step"][what]}: warm ${med(warm).toFixed(1)} µs, after evicting the caches ${med(cold).toFixed(1)} µs (one call each, median of 300)`);
}
