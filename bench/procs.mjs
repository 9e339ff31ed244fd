// Process bookkeeping for bench/run: every process the bench starts gets its own process group,
// is tracked here and ended by PID (endGroup from scripts/stack.mjs), also on failure and Ctrl-C.
import { spawn } from "node:child_process";
import { appendFileSync, mkdtempSync, existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, endGroup, freePort, NO_DEVTOOLS_ENV } from "../scripts/stack.mjs";

const mine = new Map(); // pid → name

/** Spawns `cmd args` in its own process group; output goes to `logFile` (if given) or `onData`. */
export function launch(name, cmd, args, { env = {}, logFile, onData, stdin = "ignore" } = {}) {
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    detached: true,
    stdio: [stdin, "pipe", "pipe"],
  });
  mine.set(child.pid, name);
  const sink = (chunk) => {
    if (logFile) appendFileSync(logFile, chunk);
    if (onData) onData(chunk);
  };
  child.stdout.on("data", sink);
  child.stderr.on("data", sink);
  child.on("exit", () => mine.delete(child.pid));
  return child;
}

/** Ends one group we started. */
export async function stop(pid, graceMs = 3000) {
  await endGroup(pid, graceMs);
  mine.delete(pid);
}

/** Ends every group still running (SIGTERM then SIGKILL). */
export async function stopAll() {
  await Promise.all([...mine.keys()].map((pid) => stop(pid)));
}

/** Names of the groups still running. */
export function running() {
  return [...mine.values()];
}

process.on("exit", () => {
  for (const pid of mine.keys()) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {}
  }
});

/** Runs a command to completion in its own group; resolves to { code, out } (stdout+stderr). */
export function runToEnd(name, cmd, args, opts = {}) {
  return new Promise((res, rej) => {
    let out = "";
    const child = launch(name, cmd, args, { ...opts, onData: (c) => { out += c; opts.onData?.(c); } });
    child.on("error", rej);
    child.on("exit", (code, sig) => res({ code: code ?? sig, out }));
  });
}

/**
 * Starts the baseline JS worker (bench/js-worker) under its own `wrangler dev`, with the same
 * flags scripts/stack.mjs uses for edgecache (and, like the bench's edgecache, without wrangler's
 * DevTools proxy: NO_DEVTOOLS_ENV). Resolves to { url, pid, logFile, stop }.
 */
export async function startJsWorker({ origin, logDir, readyMs = 180000 }) {
  const port = await freePort();
  const logFile = join(logDir, `js-worker-${port}.log`);
  const persist = mkdtempSync(join(tmpdir(), "bench-js-state-"));
  const args = ["dev", "--config", "bench/js-worker/wrangler.toml", "--ip", "127.0.0.1", "--port", String(port),
    "--inspector-port", String(await freePort()), "--persist-to", persist, "--show-interactive-dev-session=false",
    "--log-level", "info", "--var", `ORIGIN:${origin}`];
  const child = launch("js-worker", join(ROOT, "node_modules", ".bin", "wrangler"), args,
    { logFile, env: { WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1", FORCE_COLOR: "0", ...NO_DEVTOOLS_ENV } });
  let exited = null;
  child.on("exit", (c, s) => (exited = c ?? s));
  const url = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  for (;;) {
    if (exited !== null) throw new Error(`js worker exited (${exited}):\n${tail(logFile)}`);
    if (Date.now() - t0 > readyMs) {
      await stop(child.pid);
      throw new Error(`js worker not ready after ${readyMs} ms:\n${tail(logFile)}`);
    }
    try {
      const r = await fetch(`${url}/__edgecache/health`, { signal: AbortSignal.timeout(2000) });
      if (r.status === 200) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, pid: child.pid, logFile, persist, stop: () => stop(child.pid, 5000) };
}

function tail(f) {
  return f && existsSync(f) ? readFileSync(f, "utf8").split("\n").slice(-20).join("\n") : "";
}
