// Starts and stops the local stack: the demo origin (+ CMS) and edgecache under `wrangler dev`.
// Used by ./dev (as a CLI) and by the e2e and browser tests (as a module). Every process it starts
// runs in its own process group and is ended by PID, also on failure and Ctrl-C.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync, rmSync, appendFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Local secrets the tests and ./dev use (./dev copies .dev.vars.example for wrangler itself). */
export const DEV_SECRETS = {
  PURGE_TOKEN: "dev-purge-token",
  PURGE_SECRET: "whsec_ZGV2LXNpZ25pbmctc2VjcmV0LWZvci1lZGdlY2FjaGU=",
  ADMIN_TOKEN: "dev-admin-token",
};

const started = new Set(); // process groups we started and have not yet ended

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released). */
export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** Whether a TCP port on 127.0.0.1 can be bound now. */
export function portIsFree(port) {
  return new Promise((res) => {
    const s = createServer();
    s.unref();
    s.on("error", () => res(false));
    s.listen(port, "127.0.0.1", () => s.close(() => res(true)));
  });
}

function launch(name, cmd, args, { env = {}, logFile, echo = false } = {}) {
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    detached: true, // own process group: we end it, and all its children, with one kill(-pid)
    stdio: ["ignore", "pipe", "pipe"],
  });
  started.add(child.pid);
  const sink = (chunk) => {
    if (logFile) appendFileSync(logFile, chunk);
    if (echo) process.stdout.write(chunk.toString().replace(/^(?=.)/gm, `[${name}] `));
  };
  child.stdout.on("data", sink);
  child.stderr.on("data", sink);
  child.on("exit", () => started.delete(child.pid));
  return child;
}

/** Ends one process group: SIGTERM, then SIGKILL after `graceMs`. */
export async function endGroup(pid, graceMs = 3000) {
  if (!pid) return;
  try {
    process.kill(-pid, "SIGTERM");
  } catch {
    started.delete(pid);
    return;
  }
  const t0 = Date.now();
  while (Date.now() - t0 < graceMs) {
    try {
      process.kill(-pid, 0);
    } catch {
      started.delete(pid);
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  try {
    process.kill(-pid, "SIGKILL");
  } catch {}
  started.delete(pid);
}

// Last resort: whatever exits this process, nothing it started stays behind.
process.on("exit", () => {
  for (const pid of started) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {}
  }
});

async function waitFor(what, fn, timeoutMs, child, logFile) {
  const t0 = Date.now();
  let exited = null;
  child?.on("exit", (code, sig) => (exited = `exited (${code ?? sig})`));
  while (Date.now() - t0 < timeoutMs) {
    if (exited) break;
    try {
      const v = await fn();
      if (v) return v;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  const tail = logFile && existsSync(logFile) ? readFileSync(logFile, "utf8").split("\n").slice(-30).join("\n") : "";
  throw new Error(`${what} not ready after ${Math.round((Date.now() - t0) / 1000)} s${exited ? `: ${exited}` : ""}\n${tail}`);
}

/** Starts the demo origin; resolves to `{ url, pid, stop }`. */
export async function startOrigin({ port = 0, edgecacheUrl, logDir, echo = false, secrets = DEV_SECRETS } = {}) {
  const dir = logDir ?? mkdtempSync(join(tmpdir(), "edgecache-origin-"));
  const ready = join(dir, `origin-${process.pid}-${Date.now()}.url`);
  const logFile = join(dir, "origin.log");
  const args = ["demo/origin.mjs", "--host", "127.0.0.1", "--port", String(port), "--ready-file", ready];
  if (edgecacheUrl) args.push("--edgecache", edgecacheUrl);
  if (secrets.PURGE_SECRET) args.push("--purge-secret", secrets.PURGE_SECRET);
  const child = launch("origin", process.execPath, args, { logFile, echo });
  const url = await waitFor("demo origin", () => existsSync(ready) && readFileSync(ready, "utf8").trim(), 15000, child, logFile);
  return { url, pid: child.pid, logFile, stop: () => endGroup(child.pid) };
}

/**
 * Starts edgecache under `wrangler dev` on 127.0.0.1; resolves to `{ url, pid, stop }`.
 * `vars` are passed with --var (ORIGIN, secrets); `persistDir` holds the local Cache API and KV.
 */
export async function startWorker({ port, origin, vars = {}, persistDir, logDir, echo = false, readyMs = 600000 } = {}) {
  port ??= await freePort();
  const dir = logDir ?? mkdtempSync(join(tmpdir(), "edgecache-worker-"));
  const logFile = join(dir, `wrangler-${port}.log`);
  const persist = persistDir ?? mkdtempSync(join(tmpdir(), "edgecache-state-"));
  const allVars = { ORIGIN: origin, ...vars };
  const args = ["dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(await freePort()),
    "--persist-to", persist, "--show-interactive-dev-session=false", "--log-level", "info"];
  for (const [k, v] of Object.entries(allVars)) if (v !== undefined) args.push("--var", `${k}:${v}`);
  const bin = join(ROOT, "node_modules", ".bin", "wrangler");
  const child = launch(`wrangler:${port}`, bin, args, { logFile, echo, env: { WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1", FORCE_COLOR: "0" } });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`wrangler dev on ${url}`, async () => {
    const r = await fetch(`${url}/__edgecache/health`, { signal: AbortSignal.timeout(2000) });
    return r.status === 200;
  }, readyMs, child, logFile);
  return { url, pid: child.pid, logFile, persist, stop: () => endGroup(child.pid, 5000) };
}

/** Origin + worker wired together (the worker's ORIGIN is the origin; the CMS purges through the worker). */
export async function startStack({ workerPort, originPort = 0, echo = false, logDir, persistDir, vars = {} } = {}) {
  workerPort ??= await freePort();
  const workerUrl = `http://127.0.0.1:${workerPort}`;
  const origin = await startOrigin({ port: originPort, edgecacheUrl: workerUrl, echo, logDir });
  try {
    const worker = await startWorker({ port: workerPort, origin: origin.url, echo, logDir, persistDir, vars: { ...DEV_SECRETS, EDGECACHE_DEBUG: "1", ...vars } });
    return {
      origin, worker,
      stop: async () => { await worker.stop(); await origin.stop(); },
    };
  } catch (e) {
    await origin.stop();
    throw e;
  }
}

/** Groups still running that this process started (the tests assert this is empty at the end). */
export function runningGroups() {
  return [...started];
}

// CLI: `node scripts/stack.mjs dev` — what ./dev runs after setup.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const mode = process.argv[2] ?? "dev";
  if (mode !== "dev") {
    console.error(`usage: node scripts/stack.mjs dev`);
    process.exit(2);
  }
  const wantWorker = Number(process.env.EDGECACHE_PORT ?? 8787);
  const wantOrigin = Number(process.env.ORIGIN_PORT ?? 8788);
  const workerPort = (await portIsFree(wantWorker)) ? wantWorker : await freePort();
  const originPort = (await portIsFree(wantOrigin)) ? wantOrigin : await freePort();
  let stack;
  let stopping = false;
  const shutdown = async (code) => {
    if (stopping) return;
    stopping = true;
    console.log("\nstopping the demo origin and wrangler dev...");
    if (stack) await stack.stop();
    process.exit(code);
  };
  process.on("SIGINT", () => shutdown(0));
  process.on("SIGTERM", () => shutdown(0));
  const persistDir = join(ROOT, ".wrangler", "state");
  try {
    console.log("starting the demo origin and wrangler dev (the first build takes a minute)...");
    stack = await startStack({ workerPort, originPort, echo: true, persistDir });
  } catch (e) {
    console.error(`dev: ${e.message}`);
    await shutdown(1);
  }
  const w = stack.worker.url;
  console.log(`
  edgecache is running.
    site (through edgecache)  ${w}/
    dashboard                 ${w}/__edgecache/         (token: ${DEV_SECRETS.ADMIN_TOKEN})
    CMS (publish → purge)     ${stack.origin.url}/cms
    origin (direct)           ${stack.origin.url}/       stats: ${stack.origin.url}/__origin/stats
  Ctrl-C stops everything.
`);
  // Stay up until Ctrl-C or until a child dies.
  const { pid: wp } = stack.worker;
  const timer = setInterval(() => {
    if (stopping) return clearInterval(timer);
    try { process.kill(-wp, 0); } catch { console.error("dev: wrangler dev exited"); clearInterval(timer); shutdown(1); }
  }, 1000);
}
