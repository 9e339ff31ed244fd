// Part 7 of bench/run (issue 17): a GET timed per chunk, and the resident memory of a process group.
import http from "node:http";
import { readdirSync, readFileSync } from "node:fs";

/**
 * GET `url`, reading the body as it comes; resolves to { status, ttfb, total, bytes, error }
 * (`ttfb`: ms to the first body byte; `error`: the read's failure, e.g. a connection cut before
 * Content-Length). Never rejects. The body is counted, not kept.
 */
export function streamGet(url, { timeoutMs = 60000 } = {}) {
  const t0 = performance.now();
  return new Promise((resolve) => {
    let ttfb = null;
    let bytes = 0;
    let status = 0;
    const done = (error) => resolve({ status, ttfb, total: performance.now() - t0, bytes, error: error ? String(error.message ?? error) : null });
    const req = http.get(url, { agent: false }, (res) => {
      status = res.statusCode;
      res.on("data", (c) => {
        if (ttfb == null) ttfb = performance.now() - t0;
        bytes += c.length;
      });
      res.on("end", () => done(res.complete ? null : new Error("connection closed before the end of the body")));
      res.on("aborted", () => done(new Error("aborted")));
      res.on("error", (e) => done(e));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error("timeout")));
    req.on("error", (e) => done(e));
  });
}

/**
 * Summed resident set size (bytes) of the processes in process group `pgid` whose name starts with
 * `name` ("workerd": the runtime; "" : everything, wrangler's Node side included).
 */
export function groupRss(pgid, name = "workerd") {
  let sum = 0;
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      // pid (comm) state ppid pgrp ...: comm may hold spaces, so split after the last ')'.
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const pgrp = Number(stat.slice(close + 2).split(" ")[2]);
      if (pgrp !== pgid || !comm.startsWith(name)) continue;
      const m = readFileSync(`/proc/${d}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m);
      if (m) sum += Number(m[1]) * 1024;
    } catch {
      // the process ended meanwhile
    }
  }
  return sum;
}

/**
 * The resident set size (bytes) of the largest `workerd` process in process group `pgid`: under
 * `wrangler dev` that is the one running the worker (the other runs wrangler's proxy).
 */
export function biggestRss(pgid) {
  let max = 0;
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const pgrp = Number(stat.slice(close + 2).split(" ")[2]);
      if (pgrp !== pgid || !comm.startsWith("workerd")) continue;
      const m = readFileSync(`/proc/${d}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m);
      if (m) max = Math.max(max, Number(m[1]) * 1024);
    } catch {
      // the process ended meanwhile
    }
  }
  return max;
}
