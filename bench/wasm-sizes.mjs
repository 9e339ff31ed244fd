// Body sizes of a wasm's functions by name (the name section), for bench/footprint.mjs --sizes: how
// many bytes of code a hit touches. Reads the binary directly: imports, code section, names.
import { readFileSync } from "node:fs";

export function functionSizes(file) {
  const b = readFileSync(file);
  let p = 8;
  const u = () => {
    let r = 0, s = 0, x;
    do { x = b[p++]; r += (x & 0x7f) * 2 ** s; s += 7; } while (x & 0x80);
    return r;
  };
  const str = () => { const n = u(); const t = b.toString("utf8", p, p + n); p += n; return t; };
  let imported = 0;
  const sizes = [];
  const names = new Map();
  while (p < b.length) {
    const id = b[p++];
    const len = u();
    const end = p + len;
    if (id === 2) {
      for (let n = u(), i = 0; i < n; i++) {
        str(); str();
        const kind = b[p++];
        if (kind === 0) { u(); imported++; }
        else if (kind === 1) { p++; const f = b[p++]; u(); if (f & 1) u(); }
        else if (kind === 2) { const f = b[p++]; u(); if (f & 1) u(); }
        else if (kind === 3) { p += 2; }
        else if (kind === 4) { p++; u(); }
      }
    } else if (id === 10) {
      for (let n = u(), i = 0; i < n; i++) { const s = u(); sizes.push(s); p += s; }
    } else if (id === 0) {
      const name = str();
      if (name === "name") {
        while (p < end) {
          const sub = b[p++]; const sl = u(); const se = p + sl;
          if (sub === 1) for (let n = u(), i = 0; i < n; i++) { const idx = u(); names.set(idx, str()); }
          p = se;
        }
      }
    }
    p = end;
  }
  const byName = new Map();
  sizes.forEach((s, i) => byName.set(names.get(i + imported) ?? `${i + imported}`, s));
  return byName;
}
