// Builds the worker into build/ (index.js + index_bg.wasm, which wrangler.toml's `main` loads):
// the steps `worker-build --release` (0.8.7) performed, with the tools scripts/setup.sh installs,
// so no `cargo install worker-build` (6 minutes on 2 cores) is needed. Usage (scripts/build.sh):
//   node scripts/build-worker.mjs
// Tools: WASM_BINDGEN_BIN (wasm-bindgen-cli, the version in Cargo.lock), WASM_OPT_BIN (binaryen
// from npm), ESBUILD_BIN (esbuild from npm); each defaults to its name on PATH.
//
// 1. cargo build --lib --release --target wasm32-unknown-unknown
// 2. wasm-bindgen --target module --out-name index, with the reset-state function and the abort
//    handler that the entry's panic recovery uses (scripts/worker-entry.mjs)
// 3. wasm-opt with [package.metadata.wasm-pack.profile.release] wasm-opt from Cargo.toml, and the
//    feature set workerd accepts
// 4. the wasm's custom sections: no `name` section (function names, ~55 KB gzip: worker-build asked
//    wasm-opt to keep them with --debuginfo, and scripts/strip-names.mjs removed them afterwards;
//    without --debuginfo wasm-opt writes the very same bytes less that section); `producers` is
//    kept as written (worker-build added `sdk: workers-rs`; the worker crate is no longer linked).
//    KEEP_NAMES=1 keeps the names (wasm-opt --debuginfo), for a CPU profile (bench/profile.mjs);
//    NO_MINIFY=1 leaves index.js readable
// 5. the entry module (scripts/worker-entry.mjs + the wasm exports, and the dashboard's files from
//    www/ served as env.ASSETS: scripts/dashboard.mjs) bundled with wasm-bindgen's JS and its
//    snippets by esbuild into index.js; the wasm stays a separate module
// Everything is written to build/.staging first and moved into build/ at the end, so a failed
// build leaves the previous one in place.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { exportedNames } from "./worker-entry.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = join(ROOT, "build");
const STAGING = join(OUT, ".staging");
const tool = (env, name) => process.env[env] || name;

// The features binaryen may use: rustc's wasm32-unknown-unknown defaults plus exception handling
// (wasm-bindgen's catch wrappers); explicit so that no newer encoding reaches workerd.
const WASM_FEATURES = ["mutable-globals", "sign-ext", "nontrapping-float-to-int", "bulk-memory", "multivalue", "reference-types", "exception-handling"];

const times = []; // [step, seconds], printed at the end
let mark = performance.now();
function lap(step) {
  const now = performance.now();
  times.push(`${step} ${((now - mark) / 1000).toFixed(1)} s`);
  mark = now;
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ["ignore", "inherit", "inherit"], cwd: ROOT, ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args[0] ?? ""} failed (${r.signal ?? `exit ${r.status}`})`);
  return r;
}

function main() {
  const meta = JSON.parse(run("cargo", ["metadata", "--no-deps", "--format-version", "1"], { stdio: ["ignore", "pipe", "inherit"], maxBuffer: 64 << 20 }).stdout);
  const pkg = meta.packages.find((p) => p.manifest_path === join(ROOT, "Cargo.toml"));
  if (!pkg) throw new Error("Cargo.toml: package not found by cargo metadata");

  // 1. The wasm. WASM_BINDGEN_USE_JS_SYS is what worker-build set for the build.
  const built = run("cargo", ["build", "--lib", "--release", "--target", "wasm32-unknown-unknown", "--message-format=json-render-diagnostics"], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, WASM_BINDGEN_USE_JS_SYS: "1" },
    maxBuffer: 64 << 20,
  });
  const wasmIn = String(built.stdout)
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l))
    .filter((m) => m.reason === "compiler-artifact" && m.package_id === pkg.id && m.target.kind.includes("cdylib"))
    .flatMap((m) => m.filenames)
    .find((f) => f.endsWith(".wasm"));
  if (!wasmIn) throw new Error("cargo build: no .wasm artifact for the lib");
  lap("cargo");

  rmSync(STAGING, { recursive: true, force: true });
  mkdirSync(STAGING, { recursive: true });

  // 2. JS bindings.
  run(tool("WASM_BINDGEN_BIN", "wasm-bindgen"), [
    wasmIn, "--out-dir", STAGING, "--no-typescript", "--target", "module", "--out-name", "index",
    "--experimental-reset-state-function", "--force-enable-abort-handler",
  ]);
  const wasm = join(STAGING, "index_bg.wasm");
  lap("wasm-bindgen");

  // 3. wasm-opt (`wasm-opt = false` in the metadata skips it; absent means -O, as wasm-pack).
  let optArgs = pkg.metadata?.["wasm-pack"]?.profile?.release?.["wasm-opt"];
  if (optArgs === undefined || optArgs === true) optArgs = ["-O"];
  if (process.env.KEEP_NAMES && Array.isArray(optArgs)) optArgs = [...optArgs, "--debuginfo"];
  if (Array.isArray(optArgs)) {
    const tmp = join(STAGING, "index_bg.wasm-opt.wasm");
    run(tool("WASM_OPT_BIN", "wasm-opt"), [wasm, "-o", tmp, ...optArgs, ...WASM_FEATURES.map((f) => `--enable-${f}`)]);
    renameSync(tmp, wasm);
  }
  lap("wasm-opt");

  // 4. Custom sections (the name section is still there when wasm-opt was skipped).
  // No SDK entry: the worker crate is not linked (the adapter binds the runtime itself).
  const { bytes } = rewriteCustomSections(readFileSync(wasm), { dropNames: !process.env.KEEP_NAMES });
  writeFileSync(wasm, bytes);

  // 5. The entry, bundled.
  const glue = join(STAGING, "index.js");
  // wasm-bindgen names a snippet module once per function the wasm imports from it directly
  // (src/worker/task.js); the imports object needs it once.
  const seen = new Set();
  writeFileSync(glue, readFileSync(glue, "utf8").replace(/^\s*("\.\/snippets\/[^"]+"): [\w$]+,?\n/gm,
    (line, key) => (seen.has(key) ? "" : (seen.add(key), line))));
  const { functions, classes } = exportedNames(readFileSync(glue, "utf8"));
  if (!functions.includes("fetch")) throw new Error(`${glue}: no fetch export (is src/worker/mod.rs's #[wasm_bindgen] fetch gone?)`);
  writeFileSync(join(STAGING, "entry.js"), entrySource(functions, classes));
  writeFileSync(join(STAGING, "dashboard-files.js"), filesModule(join(ROOT, "www")));
  const esbuildArgs = ["--external:./index_bg.wasm", "--external:cloudflare:*", "--format=esm", "--bundle", "./entry.js", "--outfile=index.js", "--allow-overwrite"];
  if (!process.env.NO_MINIFY) esbuildArgs.push("--minify");
  run(tool("ESBUILD_BIN", "esbuild"), [...esbuildArgs, "--log-level=warning"], { cwd: STAGING });
  // wasm-bindgen imports the module with the source-phase syntax; wrangler's bundler wants a plain import.
  writeFileSync(glue, readFileSync(glue, "utf8").replace("import source ", "import "));
  rmSync(join(STAGING, "entry.js"));
  rmSync(join(STAGING, "dashboard-files.js"));
  rmSync(join(STAGING, "snippets"), { recursive: true, force: true });
  writeFileSync(join(STAGING, "package.json"), packageJson(pkg));

  // Into place. build/worker/ held worker-build's re-export of index.js; nothing uses it now.
  rmSync(join(OUT, "worker"), { recursive: true, force: true });
  for (const f of ["index_bg.wasm", "package.json", "index.js"]) renameSync(join(STAGING, f), join(OUT, f));
  rmSync(STAGING, { recursive: true, force: true });
  lap("sections, esbuild");
  console.log(`edgecache build: build/index.js + build/index_bg.wasm, ${bytes.length} bytes (${times.join(", ")})`);
}

/**
 * The entry module: the wasm-bindgen exports wrapped by scripts/worker-entry.mjs, on an entry
 * point whose `env` also serves the dashboard's files (scripts/dashboard.mjs).
 */
function entrySource(functions, classes) {
  const runtime = JSON.stringify(join(ROOT, "scripts", "worker-entry.mjs"));
  const dashboard = JSON.stringify(join(ROOT, "scripts", "dashboard.mjs"));
  // A handler object, not a WorkerEntrypoint class (see `plain` in worker-entry.mjs): the worker
  // exports no RPC methods, and a class costs an instance per request.
  const lines = [
    `import * as wasm from "./index.js";`,
    `import { workerExports } from ${runtime};`,
    `import { withDashboard } from ${dashboard};`,
    `import files from "./dashboard-files.js";`,
    `const entry = workerExports(wasm, null, ${JSON.stringify({ functions, classes })}, { plain: true, wrapEnv: (env) => withDashboard(env, files) });`,
    `export default entry.default;`,
    ...classes.map((c) => `export const ${c} = entry.${c};`),
  ];
  return lines.join("\n") + "\n";
}

/** The dashboard's content types by extension (the ones www/ uses, and a few it may). */
const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
};

/** The dashboard's files (scripts/dashboard.mjs): the source of a module whose default export maps `/name` to `{ type, body }` for `dir`'s files. */
export function filesModule(dir) {
  const files = {};
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (!statSync(path).isFile() || !(extname(name) in TYPES)) continue;
    files[`/${name}`] = { type: TYPES[extname(name)], body: readFileSync(path, "utf8") };
  }
  return `export default ${JSON.stringify(files)};\n`;
}

/** The package.json worker-build wrote beside the output (wrangler reads `type` and `sideEffects`). */
function packageJson(pkg) {
  const p = { name: pkg.name, type: "module" };
  if (pkg.authors?.length) p.collaborators = pkg.authors;
  if (pkg.description) p.description = pkg.description;
  p.version = pkg.version;
  if (pkg.license) p.license = pkg.license;
  if (pkg.repository) p.repository = { type: "git", url: pkg.repository };
  p.files = ["index_bg.wasm", "index.js", "index.d.ts"];
  p.main = "index.js";
  if (pkg.homepage) p.homepage = pkg.homepage;
  p.sideEffects = ["./index.js"];
  if (pkg.keywords?.length) p.keywords = pkg.keywords;
  // Keys sorted, as worker-build's serde_json wrote them.
  return JSON.stringify(Object.fromEntries(Object.entries(p).sort(([a], [b]) => (a < b ? -1 : 1))), null, 2);
}

// ---- wasm custom sections (https://webassembly.github.io/spec/core/binary/modules.html#custom-section;
// producers: https://github.com/WebAssembly/tool-conventions/blob/main/ProducersSection.md) ----

function readLeb(buf, at) {
  let value = 0;
  let shift = 0;
  for (let pos = at; pos < buf.length && shift < 35; shift += 7) {
    const b = buf[pos++];
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [value, pos];
  }
  throw new Error("wasm: bad LEB128 at " + at);
}
function leb(n) {
  const out = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return Buffer.from(out);
}
const wasmName = (s) => Buffer.concat([leb(Buffer.byteLength(s)), Buffer.from(s)]);

/**
 * `wasm` with the `name` section removed (`dropNames`) and `[field, name, version]` added to the
 * `producers` section unless that field already lists that name: in place when there is one,
 * else appended at the end (worker-build's producers.rs does the same).
 */
export function rewriteCustomSections(wasm, { dropNames, producer }) {
  if (wasm.length < 8 || wasm.readUInt32LE(0) !== 0x6d736100 || wasm.readUInt32LE(4) !== 1) throw new Error("not a wasm module");
  const parts = [wasm.subarray(0, 8)];
  let dropped = 0;
  let producersDone = false;
  let at = 8;
  while (at < wasm.length) {
    const start = at;
    const id = wasm[at];
    const [size, body] = readLeb(wasm, at + 1);
    at = body + size;
    if (at > wasm.length) throw new Error("wasm: truncated section");
    if (id === 0) {
      const [len, nameAt] = readLeb(wasm, body);
      const name = wasm.toString("utf8", nameAt, nameAt + len);
      if (name === "name" && dropNames) {
        dropped += at - start;
        continue;
      }
      if (name === "producers" && producer && !producersDone) {
        parts.push(producersSection(parseProducers(wasm.subarray(nameAt + len, at)), producer));
        producersDone = true;
        continue;
      }
    }
    parts.push(wasm.subarray(start, at));
  }
  if (producer && !producersDone) parts.push(producersSection([], producer));
  return { bytes: Buffer.concat(parts), dropped };
}

function parseProducers(content) {
  const entries = [];
  const str = (at) => {
    const [len, s] = readLeb(content, at);
    if (s + len > content.length) throw new Error("wasm: bad producers section");
    return [content.toString("utf8", s, s + len), s + len];
  };
  let [fields, at] = readLeb(content, 0);
  for (; fields > 0; fields--) {
    let field, count, name, version;
    [field, at] = str(at);
    [count, at] = readLeb(content, at);
    for (; count > 0; count--) {
      [name, at] = str(at);
      [version, at] = str(at);
      entries.push([field, name, version]);
    }
  }
  if (at !== content.length) throw new Error("wasm: bad producers section");
  return entries;
}

function producersSection(entries, add) {
  if (!entries.some(([f, n]) => f === add[0] && n === add[1])) entries = [...entries, add];
  const fields = [...new Set(entries.map(([f]) => f))];
  const content = [leb(fields.length)];
  for (const field of fields) {
    const values = entries.filter(([f]) => f === field);
    content.push(wasmName(field), leb(values.length));
    for (const [, name, version] of values) content.push(wasmName(name), wasmName(version));
  }
  const payload = Buffer.concat([wasmName("producers"), ...content]);
  return Buffer.concat([Buffer.from([0]), leb(payload.length), payload]);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (e) {
    console.error(`edgecache build: ${e.message}`);
    process.exit(1);
  }
}
