// Optional third contender for bench/run: nginx with proxy_cache (+ proxy_cache_lock, background
// update, use_stale updating) in front of the demo origin. Only used when `nginx` is on PATH
// (Debian package `nginx`); bench/run never installs it. Config and cache live in a temp dir.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, mkdirSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../scripts/stack.mjs";
import { launch, stop } from "./procs.mjs";

/** Path of the nginx binary, or null. */
export function nginxPath() {
  try {
    return execFileSync("bash", ["-c", "command -v nginx"], { encoding: "utf8" }).trim() || null;
  } catch {
    return null;
  }
}

/** Starts nginx (one worker process) proxying to `origin`; resolves to { url, pid, stop, version }. */
export async function startNginx({ bin, origin, logDir }) {
  const dir = mkdtempSync(join(tmpdir(), "bench-nginx-"));
  for (const d of ["cache", "tmp"]) mkdirSync(join(dir, d));
  const port = await freePort();
  const userLine = process.getuid?.() === 0 ? "user root;" : "";
  const conf = `${userLine}
worker_processes 1;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  proxy_cache_path ${dir}/cache levels=1:2 keys_zone=bench:10m max_size=200m inactive=10m use_temp_path=off;
  upstream origin { server ${new URL(origin).host}; keepalive 32; }
  server {
    listen 127.0.0.1:${port};
    location = /__edgecache/health { return 200 "ok\\n"; }
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache bench;
      proxy_cache_lock on;
      proxy_cache_lock_timeout 30s;
      proxy_cache_lock_age 30s;
      proxy_cache_use_stale updating error timeout;
      proxy_cache_background_update on;
      proxy_cache_revalidate on;
      add_header X-Cache-Status $upstream_cache_status always;
    }
  }
}
`;
  const confPath = join(dir, "nginx.conf");
  writeFileSync(confPath, conf);
  const v = spawnSync(bin, ["-v"], { encoding: "utf8" }); // nginx prints its version on stderr
  const version = `${v.stdout ?? ""}${v.stderr ?? ""}`.trim() || null;
  const logFile = join(logDir, "nginx.log");
  const child = launch("nginx", bin, ["-p", dir, "-c", confPath, "-g", "daemon off;"], { logFile });
  let exited = null;
  child.on("exit", (c, s) => (exited = c ?? s));
  const url = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  for (;;) {
    if (exited !== null) {
      const err = existsSync(join(dir, "error.log")) ? readFileSync(join(dir, "error.log"), "utf8").slice(-2000) : "";
      throw new Error(`nginx exited (${exited}): ${err}`);
    }
    if (Date.now() - t0 > 15000) {
      await stop(child.pid);
      throw new Error("nginx not ready after 15 s");
    }
    try {
      const r = await fetch(`${url}/__edgecache/health`, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, pid: child.pid, version, dir, stop: () => stop(child.pid) };
}
