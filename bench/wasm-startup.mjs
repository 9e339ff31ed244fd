// Size and start-up cost of the worker's wasm (bench/run, part 4). Prints one JSON line:
//   { raw, gzip, engine, compile_ms, instantiate_ms, total_ms, runs }   (medians over `runs`)
// Each run compiles a fresh copy (WebAssembly.compile) and instantiates it (new WebAssembly.Instance)
// with stub imports generated from WebAssembly.Module.imports(): functions that throw if called.
//
// Engine: the worker's wasm uses exception handling with exnref (try_table), which Node 20's V8
// cannot compile, so the timing runs in headless Chromium (a current V8, like workerd's) when
// /usr/bin/chromium exists (./test installs it for the browser tests); otherwise in this Node,
// and if Node cannot compile it either, the timing is reported as unavailable.
import { readFileSync, existsSync } from "node:fs";
import { gzipSync } from "node:zlib";

const path = process.argv[2] ?? "build/index_bg.wasm";
const runs = Number(process.argv[3] ?? 20);
const bytes = readFileSync(path);

// Runs in the engine (Node or the page): must be self-contained.
async function measure(b64OrBytes, runs) {
  const bytes = typeof b64OrBytes === "string" ? Uint8Array.from(atob(b64OrBytes), (c) => c.charCodeAt(0)) : b64OrBytes;
  const stubImports = (module) => {
    const imports = {};
    for (const { module: m, name, kind } of WebAssembly.Module.imports(module)) {
      imports[m] ??= {};
      if (kind === "function") imports[m][name] = () => { throw new Error(`stub import ${m}.${name} called`); };
      else if (kind === "memory") imports[m][name] = new WebAssembly.Memory({ initial: 17 });
      else if (kind === "table") imports[m][name] = new WebAssembly.Table({ initial: 0, element: "anyfunc" });
      else if (kind === "tag") imports[m][name] = WebAssembly.JSTag; // wasm-bindgen's __wbindgen_jstag
      else if (kind === "global") imports[m][name] = new WebAssembly.Global({ value: "i32", mutable: false }, 0);
    }
    return imports;
  };
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const compile = [], inst = [], total = [];
  let imports = 0;
  for (let i = 0; i < runs; i++) {
    const copy = new Uint8Array(bytes);
    const t0 = performance.now();
    const module = await WebAssembly.compile(copy);
    const t1 = performance.now();
    new WebAssembly.Instance(module, stubImports(module));
    const t2 = performance.now();
    compile.push(t1 - t0);
    inst.push(t2 - t1);
    total.push(t2 - t0);
    imports = WebAssembly.Module.imports(module).length;
  }
  return { compile_ms: median(compile), instantiate_ms: median(inst), total_ms: median(total), imports };
}

const out = { raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length, runs, engine: null };
const chromiumPath = "/usr/bin/chromium";
try {
  if (existsSync(chromiumPath)) {
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
    try {
      const page = await browser.newPage();
      Object.assign(out, await page.evaluate(`(${measure.toString()})(${JSON.stringify(bytes.toString("base64"))}, ${runs})`));
      out.engine = `Chromium ${browser.version()}`;
    } finally {
      await browser.close();
    }
  } else {
    Object.assign(out, await measure(new Uint8Array(bytes), runs));
    out.engine = `Node ${process.version} (V8 ${process.versions.v8})`;
  }
} catch (e) {
  out.error = String(e.message ?? e).split("\n")[0];
}
for (const k of ["compile_ms", "instantiate_ms", "total_ms"]) if (out[k] != null) out[k] = Math.round(out[k] * 1000) / 1000;
console.log(JSON.stringify(out));
