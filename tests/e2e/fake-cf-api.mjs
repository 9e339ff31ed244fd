// A local fake of Cloudflare's zone purge API (`POST /client/v4/zones/{zone_id}/purge_cache`) on
// 127.0.0.1, for the zone purge accelerator's e2e tests. It implements the documented shapes:
//
// - request: `Authorization: Bearer <token>`, a JSON body with exactly one of
//   `{"purge_everything": true}`, `{"files": [url | {url, headers}]}`, `{"tags": [...]}`,
//   `{"hosts": [...]}`, `{"prefixes": ["host/path"]}`; at most 100 items per call (docs, "Purge
//   cache" → "Purge limits": 100 operations per request; 500 URLs on Enterprise), prefixes
//   without scheme, query or fragment (docs, "Purge cache by prefix");
// - answers: the v4 envelope `{"success", "errors": [{"code", "message"}], "messages", "result"}`;
//   200 with `result.id` on success; 400 for a malformed body; 403 `[10000] Authentication error`
//   for a wrong token; 429 with `Retry-After` (seconds) when rate limited (docs, "Rate limits":
//   `retry-after` is only returned when the request has exceeded the limit).
//
// Error codes other than 10000 are illustrative (the client treats every 4xx but 429 as final).
// Tests drive it in-process: `script()` queues canned answers for the next calls, `setToken()`
// rotates the accepted token (a refused token), `calls` records every call received.
import { createServer } from "node:http";
import { randomBytes } from "node:crypto";

export const MAX_ITEMS_PER_CALL = 100;
const KINDS = ["purge_everything", "files", "tags", "hosts", "prefixes"];

function envelope(success, { errors = [], result = null } = {}) {
  return JSON.stringify({ success, errors, messages: [], result });
}

/**
 * Starts the fake on 127.0.0.1 (free port). Resolves to
 * `{ base, zoneId, calls, script(answers), setToken(t), reset(), waitFor(pred, ms), close() }`;
 * `base` is what CF_API_BASE should be (`http://127.0.0.1:<port>/client/v4`).
 */
export async function startFakeCfApi({ zoneId = randomBytes(16).toString("hex"), token = "fake-token" } = {}) {
  let accepted = token;
  const calls = []; // { at, zone, auth, body, status } — every call, in order
  const queue = []; // canned answers: { status, body?, retryAfter? }
  const waiters = new Set();

  const answer = (res, status, body, headers = {}) => {
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(body);
  };

  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const m = /^\/client\/v4\/zones\/([^/]+)\/purge_cache$/.exec(new URL(req.url, "http://x").pathname);
      if (!m || req.method !== "POST") {
        return answer(res, 404, envelope(false, { errors: [{ code: 7000, message: "No route for that URI" }] }));
      }
      let body = null;
      try {
        body = JSON.parse(text);
      } catch {}
      const call = { at: Date.now(), zone: m[1], auth: req.headers.authorization ?? "", body, raw: text, status: 0 };
      calls.push(call);
      const reply = (status, payload, headers) => {
        call.status = status;
        answer(res, status, payload, headers);
        for (const w of waiters) w();
      };
      const auth = /^Bearer (\S+)$/.exec(call.auth);
      if (!auth) {
        return reply(400, envelope(false, { errors: [{ code: 6003, message: "Invalid request headers", error_chain: [{ code: 6111, message: "Invalid format for Authorization header" }] }] }));
      }
      if (auth[1] !== accepted) {
        return reply(403, envelope(false, { errors: [{ code: 10000, message: "Authentication error" }] }));
      }
      if (m[1] !== zoneId) {
        return reply(400, envelope(false, { errors: [{ code: 7003, message: `Could not route to /zones/${m[1]}/purge_cache, perhaps your object identifier is invalid?` }] }));
      }
      const canned = queue.shift();
      if (canned) {
        const headers = canned.retryAfter !== undefined ? { "retry-after": String(canned.retryAfter) } : {};
        const fallback = canned.status === 429
          ? envelope(false, { errors: [{ code: 971, message: "Please wait and consider throttling your request speed" }] })
          : envelope(false, { errors: [{ code: 10001, message: "Service unavailable" }] });
        return reply(canned.status, canned.body ?? fallback, headers);
      }
      const problem = validate(body);
      if (problem) return reply(400, envelope(false, { errors: [problem] }));
      reply(200, envelope(true, { result: { id: randomBytes(16).toString("hex") } }));
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address();
  return {
    base: `http://127.0.0.1:${port}/client/v4`,
    zoneId,
    calls,
    /** Queues canned answers for the next calls (then normal answers resume). */
    script(answers) {
      queue.push(...answers);
    },
    /** Accepts only `t` from now on (the configured token is then refused with 403 / 10000). */
    setToken(t) {
      accepted = t;
    },
    reset() {
      calls.length = 0;
      queue.length = 0;
      accepted = token;
    },
    /** Resolves once `pred(calls)` holds (checked after each call), or rejects after `ms`. */
    waitFor(pred, ms = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pred(calls)) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(calls);
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`fake API: condition not met after ${ms} ms; calls: ${JSON.stringify(calls.map((c) => ({ status: c.status, body: c.body })))}`));
        }, ms);
        if (!check()) waiters.add(check);
      });
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** The documented body rules; `null` when valid, else an `{code, message}` error. */
function validate(body) {
  if (!body || typeof body !== "object" || Array.isArray(body)) {
    return { code: 1012, message: "Request must contain one of \"purge_everything\", \"files\", \"tags\", \"hosts\" or \"prefixes\"" };
  }
  const present = KINDS.filter((k) => k in body);
  if (present.length !== 1) {
    return { code: 1012, message: "Request must contain one of \"purge_everything\", \"files\", \"tags\", \"hosts\" or \"prefixes\"" };
  }
  const kind = present[0];
  if (kind === "purge_everything") {
    return body.purge_everything === true ? null : { code: 1012, message: "purge_everything must be true" };
  }
  const items = body[kind];
  if (!Array.isArray(items) || items.length === 0) return { code: 1012, message: `${kind} must be a non-empty array` };
  if (items.length > MAX_ITEMS_PER_CALL) return { code: 1013, message: `Too many ${kind} in one request (max ${MAX_ITEMS_PER_CALL})` };
  for (const it of items) {
    const v = kind === "files" && it && typeof it === "object" ? it.url : it;
    if (typeof v !== "string" || v === "") return { code: 1012, message: `${kind}: every item must be a non-empty string` };
    if (kind === "files" && !/^https?:\/\//.test(v)) return { code: 1012, message: `files: ${v} is not an absolute URL` };
    if (kind === "prefixes" && (/^[a-z]+:\/\//i.test(v) || /[?#]/.test(v))) return { code: 1012, message: `prefixes: ${v} must be host/path without scheme, query or fragment` };
    if (kind === "tags" && (/[\s,]/.test(v) || v.length > 1024)) return { code: 1012, message: `tags: ${JSON.stringify(v)} is not a valid cache-tag` };
  }
  return null;
}
