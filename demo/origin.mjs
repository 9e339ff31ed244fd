#!/usr/bin/env node
// Demo origin for edgecache: a small news site + CMS + programmable test endpoints.
// Plain Node 20, no dependencies. See demo/README.md.
//
//   node demo/origin.mjs --port 0 --host 127.0.0.1 [--edgecache URL]
//        [--purge-secret whsec_...|--purge-token TOKEN] [--ready-file PATH] [--quiet]
//
// Library use: `import { startOrigin } from './origin.mjs'` →
//   `const { url, port, close } = await startOrigin({ port: 0, host: '127.0.0.1' })`.

import http from 'node:http';
import https from 'node:https';
import crypto from 'node:crypto';
import fs from 'node:fs';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

// ---------------------------------------------------------------------------
// Static content
// ---------------------------------------------------------------------------

const SECTIONS = ['news', 'world', 'business', 'tech', 'sport', 'culture'];
const SUBJECTS = [
  'City council', 'Local bakery', 'Harbour authority', 'University lab', 'River festival',
  'Night trains', 'Library', 'Cycling club', 'Weather service', 'Open-source project',
];
const VERBS = ['approves', 'unveils', 'postpones', 'celebrates', 'rethinks', 'expands', 'tests', 'wins'];
const OBJECTS = [
  'new tram line', 'record harvest', 'quiet-hours plan', 'solar rooftops', 'late-night menu',
  'flood defences', 'reading marathon', 'cache invalidation strategy', 'summer timetable', 'market square redesign',
];
const SENTENCES = [
  'Officials said the decision followed months of consultation with residents.',
  'Critics argue the timeline is optimistic, but supporters point to early results.',
  'The first phase is expected to be completed before the end of the year.',
  'Local businesses have welcomed the move, citing an increase in foot traffic.',
  'A spokesperson declined to comment on the projected costs.',
  'Residents can follow the progress on the project website, which is updated weekly.',
  'Similar schemes in neighbouring towns have had mixed success.',
  'Volunteers spent the weekend preparing the site for visitors.',
  'The plan will be reviewed again in the spring, according to the committee.',
  'Observers noted that attendance was higher than at any previous meeting.',
  'Engineers say the remaining work is mostly a matter of careful scheduling.',
  'Several readers wrote in to share their own experiences.',
];
const ARTICLE_COUNT = 20;
/** Base publish time of the seeded articles: 2024-01-01T08:00:00Z. */
const BASE_PUBLISHED = Date.UTC(2024, 0, 1, 8, 0, 0) / 1000;

const CSS = `/* site.css */
body{font:16px/1.5 Georgia,serif;margin:0;color:#222;background:#fafaf7}
header{background:#1d3557;color:#fff;padding:.8em 1.2em}header a{color:#fff;text-decoration:none}
main{max-width:46em;margin:1.5em auto;padding:0 1em}article h1{font-size:1.8em;margin-bottom:.2em}
.meta{color:#777;font-size:.9em}ul.articles{list-style:none;padding:0}ul.articles li{margin:.6em 0}
.tag{display:inline-block;background:#e9ecef;border-radius:3px;padding:0 .4em;font-size:.8em}
`;
const JS = `// app.js
document.addEventListener('DOMContentLoaded', function () {
  var el = document.querySelector('[data-now]');
  if (el) el.textContent = new Date().toLocaleString();
});
`;
const hash8 = (s) => crypto.createHash('sha256').update(s).digest('hex').slice(0, 8);
/** Immutable, content-hashed assets: path → { body, type }. */
export const ASSETS = {
  [`/assets/site.${hash8(CSS)}.css`]: { body: CSS, type: 'text/css; charset=utf-8' },
  [`/assets/app.${hash8(JS)}.js`]: { body: JS, type: 'text/javascript; charset=utf-8' },
};
const CSS_PATH = Object.keys(ASSETS)[0];
const JS_PATH = Object.keys(ASSETS)[1];

/** Small deterministic PRNG (mulberry32); the bench's trace generator uses it too. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function seedArticles() {
  const articles = new Map();
  for (let id = 1; id <= ARTICLE_COUNT; id++) {
    const rnd = prng(id * 7919);
    const pick = (arr) => arr[Math.floor(rnd() * arr.length)];
    const title = `${SUBJECTS[(id - 1) % SUBJECTS.length]} ${VERBS[(id * 3) % VERBS.length]} ${OBJECTS[(id * 7) % OBJECTS.length]}`;
    const paragraphs = [];
    for (let p = 0; p < 3; p++) {
      const s = [];
      for (let k = 0; k < 3; k++) s.push(pick(SENTENCES));
      paragraphs.push(s.join(' '));
    }
    articles.set(id, {
      id,
      section: SECTIONS[(id - 1) % SECTIONS.length],
      title,
      body: paragraphs.join('\n\n'),
      version: 1,
      lastModified: BASE_PUBLISHED + id * 6 * 3600,
      // True when the last two publishes fell in the same second: Last-Modified then cannot tell
      // the versions apart, so If-Modified-Since never yields 304 (always the safe full answer).
      lmAmbiguous: false,
    });
  }
  return articles;
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const esc = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const httpDate = (unixSecs) => new Date(unixSecs * 1000).toUTCString();
const sha = (s) => crypto.createHash('sha256').update(s).digest('hex');

function clampInt(v, dflt, min, max) {
  if (v == null || v === '') return dflt;
  const n = Number.parseInt(v, 10);
  if (!Number.isFinite(n)) return dflt;
  return Math.min(max, Math.max(min, n));
}

/**
 * Parses an If-None-Match value: `'*'`, or the list of opaque tags (quoted, without `W/`).
 * Malformed (unquoted) members are skipped: they never match.
 */
export function parseEtagList(value) {
  const v = String(value).trim();
  if (v === '*') return '*';
  const out = [];
  let i = 0;
  while (i < v.length) {
    while (i < v.length && (v[i] === ' ' || v[i] === '\t' || v[i] === ',')) i++;
    if (i >= v.length) break;
    if (v.startsWith('W/', i)) i += 2;
    if (v[i] !== '"') {
      const j = v.indexOf(',', i);
      i = j < 0 ? v.length : j;
      continue;
    }
    const j = v.indexOf('"', i + 1);
    if (j < 0) break;
    out.push(v.slice(i, j + 1));
    i = j + 1;
  }
  return out;
}

const opaque = (etag) => (etag.startsWith('W/') ? etag.slice(2) : etag);

/**
 * RFC 9110 §13.2.2 evaluation for GET/HEAD of If-None-Match (weak comparison, §13.1.2) then,
 * only when If-None-Match is absent, If-Modified-Since (§13.1.3). Returns true when the answer
 * should be 304 Not Modified.
 */
export function notModified(req, etag, lastModifiedSecs) {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const inm = req.headers['if-none-match'];
  if (inm !== undefined) {
    if (!etag) return parseEtagList(inm) === '*';
    const list = parseEtagList(inm);
    if (list === '*') return true;
    return list.some((t) => opaque(t) === opaque(etag));
  }
  const ims = req.headers['if-modified-since'];
  if (ims !== undefined && lastModifiedSecs != null) {
    const t = Date.parse(ims);
    if (Number.isNaN(t)) return false; // invalid HTTP-date: ignore the field
    return lastModifiedSecs <= Math.floor(t / 1000);
  }
  return false;
}

function readBody(req, limit = 10 * 1024 * 1024) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) {
        reject(Object.assign(new Error('request body too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseFormOrJson(req, buf) {
  const ct = String(req.headers['content-type'] || '').toLowerCase();
  const text = buf.toString('utf8');
  if (ct.includes('application/json')) {
    try {
      const v = JSON.parse(text || '{}');
      return { json: true, data: v && typeof v === 'object' ? v : {} };
    } catch {
      return { json: true, data: null };
    }
  }
  return { json: false, data: Object.fromEntries(new URLSearchParams(text)) };
}

function parseCookies(header) {
  const out = {};
  for (const part of String(header || '').split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const k = part.slice(0, i).trim();
    if (!(k in out)) out[k] = part.slice(i + 1).trim();
  }
  return out;
}

/** POSTs `payload` with node:http(s) (not fetch: fetch refuses "bad ports"); resolves {status, text}. */
function postJson(target, headers, payload, timeoutMs) {
  return new Promise((resolve, reject) => {
    const u = new URL(target);
    const lib = u.protocol === 'https:' ? https : http;
    const req = lib.request(u, { method: 'POST', headers: { ...headers, 'Content-Length': Buffer.byteLength(payload) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(payload);
  });
}

function page(title, content) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)} · The Daily Edge</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${CSS_PATH}">
<style>footer{color:#999;font-size:.8em;text-align:center;margin:3em 0 1em}</style>
</head><body>
<header><a href="/"><strong>The Daily Edge</strong></a> · <a href="/account">Account</a> · <a href="/cms">CMS</a></header>
<main>
${content}
</main>
<footer>Rendered by the demo origin · <span data-now></span></footer>
<script src="${JS_PATH}" defer></script>
</body></html>
`;
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

/**
 * Starts the demo origin.
 * @param {object} [opts]
 * @param {number} [opts.port=0] 0 picks a free port.
 * @param {string} [opts.host='127.0.0.1']
 * @param {string} [opts.edgecacheUrl] base URL of edgecache (purge webhook at /__edgecache/purge).
 * @param {string} [opts.purgeSecret] `whsec_<base64>`: sign purge calls Standard-Webhooks style.
 * @param {string} [opts.purgeToken] else send `Authorization: Bearer <token>`.
 * @param {boolean|function} [opts.log=true] true → console.log, false → silent, function → called with each line.
 * @returns {Promise<{url: string, port: number, host: string, server: http.Server, close: () => Promise<void>}>}
 */
export async function startOrigin(opts = {}) {
  const { port = 0, host = '127.0.0.1', edgecacheUrl, purgeSecret, purgeToken } = opts;
  const log = typeof opts.log === 'function' ? opts.log : opts.log === false ? () => {} : (l) => console.log(l);

  const articles = seedArticles();
  const timers = new Set();
  const failRules = new Map(); // path or prefix* → mode
  const labCounts = new Map();
  const reflectCounts = new Map();
  const slowCounts = new Map();
  let slowTotal = 0;
  let stats;
  const resetStats = () => {
    stats = { total: 0, paths: {}, byUrl: {}, conditional304: 0, bodyBytes: 0 };
  };
  resetStats();

  const sleep = (ms) =>
    new Promise((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  const countMethod = (table, key, method) => {
    const e = (table[key] ??= { GET: 0, HEAD: 0 });
    e[method] = (e[method] ?? 0) + 1;
  };

  function send(res, status, headers, body) {
    const buf = body == null ? null : Buffer.isBuffer(body) ? body : Buffer.from(String(body));
    res.statusCode = status;
    for (const [k, v] of Object.entries(headers)) if (v != null) res.setHeader(k, v);
    if (buf && status !== 204 && status !== 304) res.setHeader('Content-Length', buf.length);
    res.end(status === 204 || status === 304 ? undefined : buf ?? undefined);
  }

  /** 304 answer to a conditional request: no body, same validators and cache headers. */
  function send304(res, headers) {
    res.conditional304 = true;
    res.statusCode = 304;
    for (const [k, v] of Object.entries(headers)) {
      if (v == null || /^content-(length|type)$/i.test(k)) continue;
      res.setHeader(k, v);
    }
    res.end();
  }

  function html(res, status, headers, body) {
    send(res, status, { 'Content-Type': 'text/html; charset=utf-8', ...headers }, body);
  }
  function json(res, status, headers, obj) {
    send(res, status, { 'Content-Type': 'application/json; charset=utf-8', ...headers }, JSON.stringify(obj, null, 2) + '\n');
  }
  function notFound(res) {
    html(res, 404, { 'Cache-Control': 'public, max-age=60' }, page('Not found', '<h1>404 · Page not found</h1><p><a href="/">Back to the front page</a></p>'));
  }
  /** Sends a representation with validators, answering conditionals with 304. */
  function represent(req, res, headers, body, lastModified) {
    const etag = headers.ETag;
    if (notModified(req, etag, lastModified)) return send304(res, headers);
    send(res, 200, headers, body);
  }

  // --- Failure modes ------------------------------------------------------

  function failRuleFor(path) {
    if (failRules.has(path)) return failRules.get(path);
    for (const [k, mode] of failRules) if (k.endsWith('*') && path.startsWith(k.slice(0, -1))) return mode;
    return null;
  }
  const FAIL_MODES = new Set(['500', '502', '503', '504', 'reset', 'hang']);
  function fail(req, res, mode) {
    mode = String(mode ?? '500');
    if (mode === 'reset') {
      res.note = 'reset';
      const s = req.socket;
      if (typeof s.resetAndDestroy === 'function') s.resetAndDestroy();
      else s.destroy();
      return;
    }
    if (mode === 'hang') {
      res.note = 'hang';
      return; // never answer; close() destroys the socket
    }
    const status = FAIL_MODES.has(mode) ? Number(mode) : 500;
    const text = { 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' }[status];
    send(res, status, { 'Content-Type': 'text/plain; charset=utf-8', ...(status === 503 ? { 'Retry-After': '1' } : {}) }, `${status} ${text} (simulated by the demo origin)\n`);
  }

  // --- Site ---------------------------------------------------------------

  const articleEtag = (a) => `"${sha(`${a.id}\n${a.version}\n${a.title}\n${a.body}`).slice(0, 20)}"`;
  const sortedArticles = () => [...articles.values()].sort((x, y) => y.lastModified - x.lastModified || x.id - y.id);

  function home(req, res) {
    const list = sortedArticles();
    const items = list
      .map((a) => `<li><a href="/articles/${a.id}">${esc(a.title)}</a> <span class="tag">${a.section}</span> <span class="meta">${httpDate(a.lastModified)}</span></li>`)
      .join('\n');
    const body = page('Front page', `<h1>Today's stories</h1>\n<ul class="articles">\n${items}\n</ul>`);
    const lm = Math.max(...list.map((a) => a.lastModified));
    const tags = ['home', 'section-news', ...list.map((a) => `article-${a.id}`)];
    represent(req, res, {
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'public, max-age=0, s-maxage=60',
      'Cache-Tag': tags.join(','),
      ETag: `"${sha(body).slice(0, 20)}"`,
      'Last-Modified': httpDate(lm),
    }, body, list.some((a) => a.lmAmbiguous) ? null : lm);
  }

  function article(req, res, a) {
    const paras = a.body.split(/\n\s*\n/).map((p) => `<p>${esc(p)}</p>`).join('\n');
    const body = page(a.title, `<article>
<h1>${esc(a.title)}</h1>
<p class="meta">Section <span class="tag">${a.section}</span> · article ${a.id} · version ${a.version} · updated ${httpDate(a.lastModified)}</p>
${paras}
</article>`);
    represent(req, res, {
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'public, max-age=0, s-maxage=300',
      'Cache-Tag': `article-${a.id},section-${a.section}`,
      ETag: articleEtag(a),
      'Last-Modified': httpDate(a.lastModified),
    }, body, a.lmAmbiguous ? null : a.lastModified);
  }

  const apiSummary = (a) => ({
    id: a.id, title: a.title, section: a.section, version: a.version,
    updated: new Date(a.lastModified * 1000).toISOString(), url: `/articles/${a.id}`,
  });

  function api(req, res, obj, lm) {
    const body = JSON.stringify(obj, null, 2) + '\n';
    represent(req, res, {
      'Content-Type': 'application/json; charset=utf-8',
      'Cache-Control': 'public, max-age=30',
      Vary: 'Accept-Encoding',
      ETag: `"${sha(body).slice(0, 20)}"`,
      'Last-Modified': httpDate(lm),
    }, body, lm);
  }

  // --- Lab ----------------------------------------------------------------

  async function lab(req, res, url, path, reqBody) {
    const q = url.searchParams;
    const n = (labCounts.get(path) ?? 0) + 1;
    labCounts.set(path, n);
    const delay = clampInt(q.get('delay'), 0, 0, 60000);
    if (delay) await sleep(delay);
    if (res.destroyed) return;

    const status = clampInt(q.get('status'), 200, 200, 599);
    const headers = new Map(); // lower-case name → [name, [values]]
    const add = (name, value) => {
      const k = name.toLowerCase();
      if (!headers.has(k)) headers.set(k, [name, []]);
      headers.get(k)[1].push(value);
    };
    for (const h of q.getAll('h')) {
      const i = h.indexOf(':');
      if (i <= 0) return send(res, 400, { 'Content-Type': 'text/plain' }, `bad h= parameter (want Name:Value): ${h}\n`);
      add(h.slice(0, i).trim(), h.slice(i + 1).trim());
    }
    let etag = q.get('etag');
    if (etag) {
      if (!etag.startsWith('"') && !etag.startsWith('W/"')) etag = `"${etag}"`;
      add('ETag', etag);
    }
    const lm = q.get('lm');
    let lmSecs = null;
    if (lm) {
      add('Last-Modified', lm);
      const t = Date.parse(lm);
      if (!Number.isNaN(t)) lmSecs = Math.floor(t / 1000);
    }
    const date = q.get('date');
    if (date === 'none') res.sendDate = false;
    else if (date) add('Date', date);
    if (q.get('age') != null) add('Age', q.get('age'));

    let body;
    let type;
    const bytes = q.get('bytes') != null ? clampInt(q.get('bytes'), 0, 0, 1 << 30) : null;
    if (bytes == null) {
      if (q.get('body') != null) {
        body = Buffer.from(q.get('body').replaceAll('{count}', String(n)));
        type = 'text/plain; charset=utf-8';
      } else {
        const query = {};
        for (const [k, v] of q) (query[k] ??= []).push(v);
        const obj = { path, count: n, method: req.method, query, url: req.url, headers: req.headers };
        if (reqBody.length || req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH') obj.body = reqBody.toString('utf8');
        body = Buffer.from(JSON.stringify(obj, null, 2) + '\n');
        type = 'application/json; charset=utf-8';
      }
    }

    try {
      if (!headers.has('content-type')) res.setHeader('Content-Type', bytes != null ? 'application/octet-stream' : type);
      for (const [name, values] of headers.values()) res.setHeader(name, values.length > 1 ? values : values[0]);
    } catch (e) {
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      res.sendDate = true;
      return send(res, 400, { 'Content-Type': 'text/plain' }, `bad header in query: ${e.message}\n`);
    }

    if (status === 200 && notModified(req, etag, lmSecs)) {
      res.removeHeader('Content-Type');
      return send304(res, {});
    }
    if (status === 204 || status === 304 || (status >= 100 && status < 200)) return send(res, status, {}, null);
    if (bytes == null) return send(res, status, {}, body);

    // Streamed body of `bytes` bytes (Content-Length unless chunked=1).
    res.statusCode = status;
    if (q.get('chunked') !== '1') res.setHeader('Content-Length', bytes);
    if (req.method === 'HEAD') return res.end();
    // Pacing (streaming tests): `chunk` bytes per write (default 64 KB), `every` ms between writes,
    // `pause` ms after the first write, `cut` = destroy the socket after that many bytes.
    const size = clampInt(q.get('chunk'), 64 * 1024, 1, 1 << 20);
    const every = clampInt(q.get('every'), 0, 0, 60000);
    const pause = clampInt(q.get('pause'), 0, 0, 60000);
    const cut = q.get('cut') != null ? clampInt(q.get('cut'), 0, 0, bytes) : null;
    const chunk = Buffer.alloc(size, 'edgecache-lab-bytes-');
    let left = cut ?? bytes;
    let writes = 0;
    const pump = async () => {
      while (left > 0) {
        if (res.destroyed) return;
        const c = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= c.length;
        writes += 1;
        const ok = res.write(c);
        const gap = writes === 1 && pause ? pause : every;
        if (gap && left > 0) await sleep(gap);
        else if (!ok) await new Promise((r) => res.once('drain', r));
      }
      if (res.destroyed) return;
      if (cut != null) {
        res.note = 'cut';
        // Let the written bytes leave, then drop the connection mid-body.
        await sleep(50);
        return void res.destroy();
      }
      res.end();
    };
    pump().catch(() => res.destroy());
  }

  // --- Reflect: a naive origin that believes every header it is sent ---------

  /**
   * `/reflect/<anything>` (GET/HEAD): what a framework that trusts forwarding headers would
   * build. The effective host, scheme, port and prefix come from X-Forwarded-* / Forwarded /
   * X-Host, the target from X-Original-URL / X-Rewrite-URL, the method from the method-override
   * headers, and path parameters (`;x`) are ignored as Tomcat/Spring do. The page (HTML, or
   * JSON with `?type=json`) embeds a script URL on the effective host and a dump of everything
   * received, and says `Cache-Control: public, max-age=60`: whatever reaches this origin unkeyed
   * would be cached for everybody.
   */
  function reflect(req, res, url) {
    const h = req.headers;
    const first = (...names) => names.map((n) => h[n]).find((v) => v != null && v !== '');
    const fwd = /(?:^|[;,\s])host=("?)([^;,"]+)\1/i.exec(h.forwarded ?? '')?.[2];
    const fwdProto = /(?:^|[;,\s])proto=("?)([^;,"]+)\1/i.exec(h.forwarded ?? '')?.[2];
    const host = first('x-forwarded-host', 'x-host', 'x-forwarded-server', 'x-original-host', 'x-http-host-override') ?? fwd ?? h.host ?? '';
    const scheme = first('x-forwarded-proto', 'x-forwarded-scheme') ?? fwdProto ?? (h['x-forwarded-ssl'] === 'on' ? 'https' : 'http');
    const port = first('x-forwarded-port');
    const prefix = first('x-forwarded-prefix') ?? '';
    const target = first('x-original-url', 'x-rewrite-url', 'x-original-uri', 'x-forwarded-uri') ?? req.url;
    const method = first('x-http-method-override', 'x-http-method', 'x-method-override') ?? req.method;
    const effectivePath = url.pathname.replace(/;[^/]*/g, '');
    const origin = `${scheme}://${host}${port ? `:${port}` : ''}${prefix}`;
    const dump = {
      path: url.pathname, effectivePath, url: req.url, method: req.method, effectiveMethod: method,
      host: h.host ?? null, effectiveHost: host, target, script: `${origin}/assets/app.js`,
      headers: h, count: (reflectCounts.get(url.pathname) ?? 0) + 1,
    };
    reflectCounts.set(url.pathname, dump.count);
    const headers = { 'Cache-Control': 'public, max-age=60' };
    if (url.searchParams.get('type') === 'json') return json(res, 200, headers, dump);
    const data = JSON.stringify(dump).replaceAll('<', '\\u003c');
    html(res, 200, headers, page('Reflect', `<h1>Hello from ${esc(origin)}</h1>
<script src="${esc(dump.script)}"></script>
<p>Effective request: ${esc(method)} ${esc(target)} (path ${esc(effectivePath)})</p>
<script type="application/json" id="reflect">${data}</script>`));
  }

  // --- CMS ----------------------------------------------------------------

  async function callPurgeWebhook(id, soft) {
    const payload = JSON.stringify({ tags: [`article-${id}`, 'home'], soft: Boolean(soft) });
    if (!edgecacheUrl) {
      log(`cms: would call purge webhook (edgecache not configured): ${payload}`);
      return { url: null, status: null, body: null, auth: 'none', error: 'edgecache not configured' };
    }
    const target = `${edgecacheUrl.replace(/\/+$/, '')}/__edgecache/purge`;
    const headers = { 'Content-Type': 'application/json' };
    let auth = 'none';
    if (purgeSecret) {
      const key = Buffer.from(purgeSecret.replace(/^whsec_/, ''), 'base64');
      const msgId = `msg_${crypto.randomBytes(12).toString('hex')}`;
      const ts = Math.floor(Date.now() / 1000);
      const sig = crypto.createHmac('sha256', key).update(`${msgId}.${ts}.${payload}`).digest('base64');
      Object.assign(headers, { 'webhook-id': msgId, 'webhook-timestamp': String(ts), 'webhook-signature': `v1,${sig}` });
      auth = 'webhook-signature';
    } else if (purgeToken) {
      headers.Authorization = `Bearer ${purgeToken}`;
      auth = 'bearer';
    }
    try {
      const r = await postJson(target, headers, payload, 5000);
      const text = r.text.slice(0, 2000);
      log(`cms: purge webhook ${target} answered ${r.status}: ${text.trim()}`);
      return { url: target, status: r.status, body: text, auth };
    } catch (e) {
      const why = e?.code ?? e?.errors?.[0]?.code ?? e?.message ?? String(e);
      log(`cms: would call purge webhook (edgecache unreachable): POST ${target} ${payload} [${why}]`);
      return { url: target, status: null, body: null, auth, error: `edgecache unreachable: ${why}` };
    }
  }

  function cmsIndex(res) {
    const rows = [...articles.values()]
      .map((a) => `<tr><td>${a.id}</td><td><a href="/articles/${a.id}">${esc(a.title)}</a></td><td>${a.section}</td><td>v${a.version}</td><td><a href="/cms/edit/${a.id}">edit</a></td></tr>`)
      .join('\n');
    html(res, 200, { 'Cache-Control': 'private, no-store' }, page('CMS', `<h1>CMS</h1>
<p>Publishing an article purges tags <code>article-&lt;id&gt;</code> and <code>home</code> via ${edgecacheUrl ? `<code>${esc(edgecacheUrl)}/__edgecache/purge</code>` : 'the edgecache webhook (not configured)'}.</p>
<table><tr><th>id</th><th>title</th><th>section</th><th>version</th><th></th></tr>
${rows}
</table>`));
  }

  function cmsEdit(res, a) {
    html(res, 200, { 'Cache-Control': 'private, no-store' }, page(`Edit ${a.title}`, `<h1>Edit article ${a.id}</h1>
<form method="post" action="/cms/publish/${a.id}">
<p><label>Title<br><input name="title" size="60" value="${esc(a.title)}"></label></p>
<p><label>Body<br><textarea name="body" rows="12" cols="70">${esc(a.body)}</textarea></label></p>
<p><button type="submit">Publish</button></p>
</form>`));
  }

  async function cmsPublish(req, res, a, buf) {
    const { json: isJson, data } = parseFormOrJson(req, buf);
    if (!data) return json(res, 400, { 'Cache-Control': 'no-store' }, { ok: false, error: 'invalid JSON' });
    const nowSecs = Math.floor(Date.now() / 1000);
    if (typeof data.title === 'string' && data.title.trim()) a.title = data.title.trim();
    if (typeof data.body === 'string' && data.body.trim()) a.body = data.body.replace(/\r\n/g, '\n').trim();
    a.lmAmbiguous = nowSecs <= a.lastModified;
    a.lastModified = Math.max(nowSecs, a.lastModified);
    a.version += 1;
    log(`cms: published article ${a.id} v${a.version}`);
    const purge = await callPurgeWebhook(a.id, data.soft === true || data.soft === 'true');
    const result = {
      ok: true,
      article: { id: a.id, version: a.version, title: a.title, etag: articleEtag(a), lastModified: httpDate(a.lastModified), url: `/articles/${a.id}` },
      purge,
    };
    if (isJson) return json(res, 200, { 'Cache-Control': 'no-store' }, result);
    const webhook = purge.status != null
      ? `Purge webhook <code>${esc(purge.url)}</code> answered <strong>${purge.status}</strong>: <pre>${esc(purge.body)}</pre>`
      : `Purge webhook not called: ${esc(purge.error)}.`;
    html(res, 200, { 'Cache-Control': 'no-store' }, page('Published', `<h1>Published article ${a.id} (version ${a.version})</h1>
<p><a href="/articles/${a.id}">View the article</a> · <a href="/cms">Back to the CMS</a></p>
<p>${webhook}</p>`));
  }

  // --- Router -------------------------------------------------------------

  async function route(req, res, url, path, buf) {
    const m = req.method;
    const get = m === 'GET' || m === 'HEAD';
    let mm;

    if (path === '/' && get) return home(req, res);
    if ((mm = /^\/articles\/([^/]+)$/.exec(path)) && get) {
      const a = /^[0-9]+$/.test(mm[1]) ? articles.get(Number(mm[1])) : undefined;
      return a ? article(req, res, a) : notFound(res);
    }
    if (path.startsWith('/assets/') && get) {
      const asset = ASSETS[path];
      if (!asset) return notFound(res);
      return represent(req, res, {
        'Content-Type': asset.type,
        'Cache-Control': 'public, max-age=31536000, immutable',
        ETag: `"${hash8(asset.body)}"`,
        'Last-Modified': httpDate(BASE_PUBLISHED),
      }, asset.body, BASE_PUBLISHED);
    }
    if (path === '/api/articles' && get) {
      const list = sortedArticles();
      return api(req, res, list.map(apiSummary), Math.max(...list.map((a) => a.lastModified)));
    }
    if ((mm = /^\/api\/articles\/([^/]+)$/.exec(path)) && get) {
      const a = /^[0-9]+$/.test(mm[1]) ? articles.get(Number(mm[1])) : undefined;
      if (!a) return json(res, 404, { 'Cache-Control': 'public, max-age=60' }, { error: 'not found' });
      return api(req, res, { ...apiSummary(a), body: a.body }, a.lastModified);
    }
    if (path === '/login' && get) {
      return html(res, 200, { 'Cache-Control': 'private, no-store' }, page('Log in', `<h1>Log in</h1>
<form method="post" action="/login">
<p><label>User name <input name="user" value="reader"></label></p>
<p><label>Password <input name="password" type="password" value="hunter2"></label></p>
<p><button type="submit">Log in</button></p>
</form>`));
    }
    if (path === '/login' && m === 'POST') {
      const sid = crypto.randomBytes(16).toString('hex');
      return html(res, 303, {
        Location: '/account',
        'Set-Cookie': `sessionid=${sid}; Path=/; HttpOnly`,
        'Cache-Control': 'private, no-store',
      }, page('Logged in', '<p>Logged in, see <a href="/account">your account</a>.</p>'));
    }
    if (path === '/account' && get) {
      const sid = parseCookies(req.headers.cookie).sessionid;
      const content = sid
        ? `<h1>Your account</h1><p id="greeting">Hello, user ${esc(sid)}</p><p>This page must never be shared between users.</p>`
        : '<h1>Your account</h1><p id="greeting">Please log in</p><p><a href="/login">Log in</a></p>';
      return html(res, 200, { 'Cache-Control': 'private, no-store' }, page('Account', content));
    }
    if ((path === '/slow' || path.startsWith('/slow/')) && get) {
      const ms = clampInt(url.searchParams.get('ms'), 2000, 0, 30000);
      if (ms) await sleep(ms);
      if (res.destroyed) return;
      slowTotal += 1;
      const n = (slowCounts.get(path) ?? 0) + 1;
      slowCounts.set(path, n);
      return html(res, 200, { 'Cache-Control': 'public, s-maxage=60' }, page('Slow page', `<h1>Slow page</h1>
<p>Waited ${ms} ms.</p>
<p id="counter">served ${slowTotal} times (this path: ${n})</p>`));
    }
    if (path === '/fail' || path.startsWith('/fail/')) return fail(req, res, url.searchParams.get('mode') ?? '500');
    if (path === '/lab' || path.startsWith('/lab/')) return lab(req, res, url, path, buf);
    if (path.startsWith('/reflect/') && get) return reflect(req, res, url);
    if (path === '/cms' && get) return cmsIndex(res);
    if ((mm = /^\/cms\/edit\/([0-9]+)$/.exec(path)) && get) {
      const a = articles.get(Number(mm[1]));
      return a ? cmsEdit(res, a) : notFound(res);
    }
    if ((mm = /^\/cms\/publish\/([0-9]+)$/.exec(path)) && m === 'POST') {
      const a = articles.get(Number(mm[1]));
      return a ? cmsPublish(req, res, a, buf) : notFound(res);
    }
    const knownPath = path === '/' || path === '/login' || path === '/account' || path === '/cms' ||
      /^\/(articles|api\/articles|assets|cms\/edit|cms\/publish)\//.test(path) || path === '/api/articles';
    if (knownPath && !get && !(path === '/login' && m === 'POST')) {
      const allow = path.startsWith('/cms/publish/') ? 'POST' : path === '/login' ? 'GET, HEAD, POST' : 'GET, HEAD';
      return send(res, 405, { 'Content-Type': 'text/plain; charset=utf-8', Allow: allow }, 'Method Not Allowed\n');
    }
    return notFound(res);
  }

  // `POST /lab/upload/<any>`: reads the request body as it arrives (never buffered, no size cap)
  // and reports its size, SHA-256 and when its first and last bytes came (ms after the head).
  async function upload(req, res) {
    const t0 = Date.now();
    const h = crypto.createHash('sha256');
    let n = 0;
    let firstMs = null;
    for await (const c of req) {
      if (firstMs == null) firstMs = Date.now() - t0;
      n += c.length;
      h.update(c);
    }
    return json(res, 200, { 'Cache-Control': 'no-store' }, { bytes: n, sha256: h.digest('hex'), firstMs, lastMs: Date.now() - t0 });
  }

  async function control(req, res, path, buf) {
    const ns = { 'Cache-Control': 'no-store' };
    if (path === '/__origin/stats' && req.method === 'GET') return json(res, 200, ns, stats);
    if (path === '/__origin/reset' && req.method === 'POST') {
      resetStats();
      return json(res, 200, ns, { ok: true });
    }
    if (path === '/__origin/fail') {
      if (req.method === 'GET') return json(res, 200, ns, Object.fromEntries(failRules));
      if (req.method !== 'POST') return send(res, 405, { Allow: 'GET, POST' }, 'Method Not Allowed\n');
      let data;
      try {
        data = JSON.parse(buf.toString('utf8') || '{}');
      } catch {
        return json(res, 400, ns, { ok: false, error: 'invalid JSON' });
      }
      const mode = data.mode == null ? null : String(data.mode);
      if (mode !== null && !FAIL_MODES.has(mode)) return json(res, 400, ns, { ok: false, error: `mode must be one of ${[...FAIL_MODES].join(', ')} or null` });
      const paths = data.paths ?? (mode === null ? [...failRules.keys()] : null);
      if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string')) return json(res, 400, ns, { ok: false, error: 'paths must be an array of strings' });
      for (const p of paths) mode === null ? failRules.delete(p) : failRules.set(p, mode);
      return json(res, 200, ns, { ok: true, rules: Object.fromEntries(failRules) });
    }
    return json(res, 404, ns, { error: 'unknown control endpoint' });
  }

  async function handle(req, res) {
    const started = Date.now();
    let bytes = 0;
    const countBytes = (chunk, enc) => {
      if (chunk == null || typeof chunk === 'function') return;
      if (req.method === 'HEAD' || res.statusCode === 304 || res.statusCode === 204) return;
      bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk, typeof enc === 'string' ? enc : 'utf8') : chunk.length;
    };
    const origWrite = res.write;
    const origEnd = res.end;
    res.write = function (chunk, enc, cb) {
      countBytes(chunk, enc);
      return origWrite.call(this, chunk, enc, cb);
    };
    res.end = function (chunk, enc, cb) {
      countBytes(chunk, enc);
      return origEnd.call(this, chunk, enc, cb);
    };

    let url;
    try {
      url = new URL(req.url, 'http://origin.invalid');
    } catch {
      url = new URL('http://origin.invalid/');
    }
    const path = url.pathname;
    const counted = !path.startsWith('/__origin/');
    if (counted) {
      stats.total += 1;
      countMethod(stats.paths, path, req.method);
      countMethod(stats.byUrl, req.url, req.method);
    }
    res.on('close', () => {
      const status = res.writableFinished ? res.statusCode : res.note ?? 'aborted';
      if (counted) {
        stats.bodyBytes += bytes;
        if (res.conditional304) stats.conditional304 += 1;
      }
      log(`${req.method} ${req.url} ${status} ${bytes}B ${Date.now() - started}ms${res.conditional304 ? ' conditional 304' : ''}`);
    });

    try {
      if (counted && path.startsWith('/lab/upload') && (req.method === 'POST' || req.method === 'PUT')) return await upload(req, res);
      const buf = await readBody(req);
      if (!counted) return await control(req, res, path, buf);
      const rule = failRuleFor(path);
      if (rule) return fail(req, res, rule);
      await route(req, res, url, path, buf);
    } catch (e) {
      if (!res.headersSent && !res.destroyed) {
        send(res, e.status ?? 500, { 'Content-Type': 'text/plain; charset=utf-8' }, `${e.status ? e.message : 'origin error: ' + e.message}\n`);
      } else if (!res.destroyed) res.destroy();
    }
  }

  const server = http.createServer((req, res) => {
    handle(req, res);
  });
  // Longer than the proxy's idle pool (the standard advice for an origin behind a proxy): with
  // Node's 5 s default, a request workerd sent on a pooled connection the server was closing was
  // lost ("Network connection lost" after ~5 s, seen under load in tests/e2e/policy.test.mjs).
  // close() ends idle connections itself (closeAllConnections), so shutdown does not wait for it.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const urlHost = addr.family === 'IPv6' || addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  const baseUrl = `http://${urlHost}:${addr.port}`;
  let closing = null;
  const close = () =>
    (closing ??= new Promise((resolve) => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.close(() => resolve());
      server.closeAllConnections();
    }));
  return { url: baseUrl, port: addr.port, host: addr.address, server, close };
}

// ---------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) [a, v] = [a.slice(0, eq), a.slice(eq + 1)];
    const need = () => {
      if (v !== undefined) return v;
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--port': out.port = Number(need()); break;
      case '--host': out.host = need(); break;
      case '--edgecache': out.edgecacheUrl = need(); break;
      case '--purge-secret': out.purgeSecret = need(); break;
      case '--purge-token': out.purgeToken = need(); break;
      case '--ready-file': out.readyFile = need(); break;
      case '--quiet': out.quiet = true; break;
      case '-h':
      case '--help':
        out.help = true;
        break;
      default:
        throw new Error(`unknown argument: ${a}`);
    }
  }
  return out;
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`origin: ${e.message}`);
    process.exit(2);
  }
  if (args.help) {
    console.log('usage: node demo/origin.mjs [--port 0] [--host 127.0.0.1] [--edgecache URL] [--purge-secret whsec_...|--purge-token TOKEN] [--ready-file PATH] [--quiet]');
    return;
  }
  if (args.port !== undefined && (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535)) {
    console.error('origin: --port must be an integer 0..65535');
    process.exit(2);
  }
  const origin = await startOrigin({
    port: args.port ?? 0,
    host: args.host ?? '127.0.0.1',
    edgecacheUrl: args.edgecacheUrl ?? process.env.EDGECACHE_URL ?? undefined,
    purgeSecret: args.purgeSecret ?? process.env.PURGE_SECRET ?? undefined,
    purgeToken: args.purgeToken ?? process.env.PURGE_TOKEN ?? undefined,
    log: !args.quiet,
  });
  console.log(`origin listening on ${origin.url}`);
  if (args.readyFile) fs.writeFileSync(args.readyFile, origin.url);
  const stop = async () => {
    await origin.close();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url))) {
  main().catch((e) => {
    console.error(`origin: ${e.stack ?? e}`);
    process.exit(1);
  });
}
