// Process bookkeeping for bench/run: every process the bench starts gets its own process group,
// is tracked here and ended by PID (endGroup from scripts/stack.mjs), also on failure and Ctrl-C.
import { spawn } from "node:child_process";
import { appendFileSync, mkdtempSync, existsSync, readFileSync, readdirSync, writeFileSync, rmSync } from "node:fs";
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
export async function startJsWorker({ origin, logDir, readyMs = 180000, config = "bench/js-worker/wrangler.toml" }) {
  const port = await freePort();
  const logFile = join(logDir, `js-worker-${port}.log`);
  const persist = mkdtempSync(join(tmpdir(), "bench-js-state-"));
  const args = ["dev", "--config", config, "--ip", "127.0.0.1", "--port", String(port),
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

/**
 * CPU seconds (user + system) used so far by every process in group `pgid` (a `wrangler dev`:
 * its node process and its workerd). Read from /proc (Linux); null where there is none. The
 * difference over a load run divided by the responses is the CPU time per response of the whole
 * local stack, the closest thing to CPU time per request that `wrangler dev` exposes.
 */
export function groupCpu(pgid) {
  const by = groupCpuByName(pgid);
  return by === null ? null : Object.values(by).reduce((a, b) => a + b, 0);
}

/**
 * The processes of group `pgid` from /proc: `{ pid, name, cmd, cpu }` (cpu: user + system
 * seconds so far; cmd: the command line, NUL-separated); null off Linux.
 */
export function groupProcs(pgid) {
  if (!existsSync("/proc/self/stat")) return null;
  const out = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    let s, cmd;
    try {
      s = readFileSync(`/proc/${d}/stat`, "utf8");
      cmd = readFileSync(`/proc/${d}/cmdline`, "utf8");
    } catch {
      continue;
    }
    const f = s.slice(s.lastIndexOf(")") + 2).split(" "); // f[0] is field 3 (state)
    if (Number(f[2]) !== pgid) continue; // field 5: process group
    const name = s.slice(s.indexOf("(") + 1, s.lastIndexOf(")"));
    out.push({ pid: Number(d), name, cmd, cpu: (Number(f[11]) + Number(f[12])) / 100 }); // fields 14, 15: utime, stime (USER_HZ 100)
  }
  return out;
}

/** CPU seconds (user + system) by process name in process group `pgid`; null off Linux. */
export function groupCpuByName(pgid) {
  const procs = groupProcs(pgid);
  if (procs === null) return null;
  const out = {};
  for (const p of procs) out[p.name] = (out[p.name] ?? 0) + p.cpu;
  return out;
}

/**
 * CPU seconds (user + system) of group `pgid` by role: `worker`, the workerd that runs the worker
 * itself (wrangler 4 starts it with `--socket-addr=entry=127.0.0.1:0`); `proxy`, wrangler's own
 * workerd in front of it (its entry socket is the public port); `node`, wrangler's Node processes;
 * `other`. The worker's share is the one a worker's code changes; the others serve every worker
 * alike. null off Linux.
 */
export function groupCpuByRole(pgid) {
  const procs = groupProcs(pgid);
  if (procs === null) return null;
  const out = { worker: 0, proxy: 0, node: 0, other: 0 };
  for (const p of procs) {
    const own = p.cmd.split("\0").includes("--socket-addr=entry=127.0.0.1:0");
    out[p.name === "workerd" ? (own ? "worker" : "proxy") : p.name === "node" ? "node" : "other"] += p.cpu;
  }
  return out;
}

const assetConfigs = new Set();
/**
 * A config for the JS worker with an [assets] directory and run_worker_first (edgecache's setup
 * before it carried its dashboard in its bundle): `wrangler dev` then puts its asset router in
 * front of the worker. bench/run reports what that costs.
 * Written beside the JS worker's own config; removed when this process exits.
 */
export function jsAssetsConfig() {
  const src = readFileSync(join(ROOT, "bench", "js-worker", "wrangler.toml"), "utf8") +
    `\n[assets]\ndirectory = "../../www"\nbinding = "ASSETS"\nrun_worker_first = true\n`;
  const path = join(ROOT, "bench", "js-worker", `.wrangler-assets-${process.pid}-${assetConfigs.size}.toml`);
  writeFileSync(path, src);
  assetConfigs.add(path);
  return path;
}
process.on("exit", () => {
  for (const f of assetConfigs) rmSync(f, { force: true });
});

/**
 * bench/paired.mjs for `secs` s: one keep-alive connection to each of `urlA` and `urlB`, requests
 * alternating between them. Its JSON result ({ a, b, errors, duration }); throws when it failed.
 */
export async function runPaired(urlA, urlB, secs) {
  const args = [join(ROOT, "bench", "paired.mjs"), urlA, urlB, "--duration", String(secs)];
  const { code, out } = await runToEnd("paired", process.execPath, args);
  const line = out.trim().split("\n").filter((l) => l.startsWith("{")).at(-1);
  if (code !== 0 || !line) throw new Error(`bench/paired.mjs failed (${code}): ${out.slice(-500)}`);
  return JSON.parse(line);
}

/**
 * bench/alternate.mjs: `urlA` and `urlB` loaded in alternating segments (ABBA ...) of `segment` s,
 * `segments` in all, at `connections`; `pgids` (optional, [a, b]) for CPU per response. Its JSON
 * result ({ a, b, segments, segment }); throws when it failed.
 */
export async function runAlternate(urlA, urlB, { segments = 16, segment = 1, connections = 32, pgids = null } = {}) {
  const args = [join(ROOT, "bench", "alternate.mjs"), urlA, urlB, "--segments", String(segments), "--segment", String(segment),
    "--connections", String(connections), ...(pgids ? ["--pgid", String(pgids[0]), String(pgids[1])] : [])];
  const { code, out } = await runToEnd("alternate", process.execPath, args);
  const line = out.trim().split("\n").filter((l) => l.startsWith("{")).at(-1);
  if (code !== 0 || !line) throw new Error(`bench/alternate.mjs failed (${code}): ${out.slice(-500)}`);
  return JSON.parse(line);
}
