// Removes the `name` custom section (function names for stack traces, ~48 KB gzip) from the
// wasm that worker-build wrote. worker-build always asks wasm-opt to keep it, and `strip = true`
// in Cargo.toml would also drop `target_features`, which wasm-bindgen needs to pick the
// reference-types / multi-value ABI. Usage: node scripts/strip-names.mjs build/index_bg.wasm
import { readFileSync, writeFileSync } from 'node:fs';

const file = process.argv[2];
const wasm = readFileSync(file);
if (wasm.readUInt32LE(0) !== 0x6d736100) throw new Error(`${file}: not a wasm module`);

function leb(buf, at) {
  let value = 0, shift = 0, pos = at;
  for (;;) {
    const b = buf[pos++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) return [value, pos];
  }
}

const kept = [wasm.subarray(0, 8)];
let at = 8, dropped = 0;
while (at < wasm.length) {
  const start = at;
  const id = wasm[at];
  const [size, body] = leb(wasm, at + 1);
  at = body + size;
  if (id === 0) {
    const [len, name] = leb(wasm, body);
    if (wasm.toString('utf8', name, name + len) === 'name') { dropped += at - start; continue; }
  }
  kept.push(wasm.subarray(start, at));
}
if (at !== wasm.length) throw new Error(`${file}: truncated section table`);
writeFileSync(file, Buffer.concat(kept));
console.log(`edgecache build: removed ${dropped} bytes of function names from ${file}`);
