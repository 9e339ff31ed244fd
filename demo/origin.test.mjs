// Tests for the demo origin: `node --test demo/origin.test.mjs`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startOrigin, parseEtagList, ASSETS } from './origin.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** Raw HTTP request (no client magic): resolves {status, headers, rawHeaders, body}. */
function req(base, pathAndQuery, { method = 'GET', headers = {}, body, timeout } = {}) {
  return new Promise((resolve, reject) => {
    const r = http.request(base + pathAndQuery, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    if (timeout) r.setTimeout(timeout, () => r.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    r.on('error', reject);
    r.end(body);
  });
}
const getJson = async (base, p) => JSON.parse((await req(base, p)).body);
const postJson = (base, p, obj) => req(base, p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(obj) });

let origin;
let U;
before(async () => {
  origin = await startOrigin({ port: 0, host: '127.0.0.1', log: false });
  U = origin.url;
});
after(() => origin.close());

test('startOrigin picks a free port and returns its URL', () => {
  assert.match(U, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(origin.port > 0);
});

test('home page: cache headers, tags for home, section-news and every article', async () => {
  const r = await req(U, '/');
  assert.equal(r.status, 200);
  assert.equal(r.headers['cache-control'], 'public, max-age=0, s-maxage=60');
  const tags = r.headers['cache-tag'].split(',');
  assert.ok(tags.includes('home') && tags.includes('section-news'));
  for (let i = 1; i <= 20; i++) assert.ok(tags.includes(`article-${i}`), `article-${i}`);
  assert.match(r.headers.etag, /^"[0-9a-f]+"$/);
  assert.ok(r.headers['last-modified'] && r.headers.date);
  assert.match(r.headers['content-type'], /^text\/html/);
  assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body));
  assert.match(r.body, /href="\/articles\/7"/);
});

test('article: headers, deterministic content, strong ETag', async () => {
  const a = await req(U, '/articles/7');
  const b = await req(U, '/articles/7');
  assert.equal(a.status, 200);
  assert.equal(a.headers['cache-control'], 'public, max-age=0, s-maxage=300');
  assert.match(a.headers['cache-tag'], /^article-7,section-[a-z]+$/);
  assert.match(a.headers.etag, /^"[0-9a-f]{20}"$/);
  assert.equal(a.body, b.body);
  assert.equal(a.headers.etag, b.headers.etag);
  assert.notEqual(a.headers.etag, (await req(U, '/articles/8')).headers.etag);
});

test('If-None-Match (weak comparison, lists) answers 304 with validators and no body', async () => {
  const a = await req(U, '/articles/2');
  const before = await getJson(U, '/__origin/stats');
  for (const inm of [a.headers.etag, `W/${a.headers.etag}`, `"x", ${a.headers.etag}`, '*']) {
    const r = await req(U, '/articles/2', { headers: { 'if-none-match': inm } });
    assert.equal(r.status, 304, inm);
    assert.equal(r.body, '');
    assert.equal(r.headers.etag, a.headers.etag);
    assert.equal(r.headers['last-modified'], a.headers['last-modified']);
    assert.equal(r.headers['cache-control'], a.headers['cache-control']);
    assert.equal(r.headers['cache-tag'], a.headers['cache-tag']);
  }
  const s = await getJson(U, '/__origin/stats');
  assert.equal(s.conditional304 - before.conditional304, 4);
  assert.equal(s.bodyBytes, before.bodyBytes, '304s transfer no body');
  const miss = await req(U, '/articles/2', { headers: { 'if-none-match': '"nope", unquoted' } });
  assert.equal(miss.status, 200);
});

test('If-Modified-Since: 304 when not modified, ignored when If-None-Match is present or invalid', async () => {
  const a = await req(U, '/articles/4');
  const lm = a.headers['last-modified'];
  assert.equal((await req(U, '/articles/4', { headers: { 'if-modified-since': lm } })).status, 304);
  const earlier = new Date(Date.parse(lm) - 1000).toUTCString();
  assert.equal((await req(U, '/articles/4', { headers: { 'if-modified-since': earlier } })).status, 200);
  assert.equal((await req(U, '/articles/4', { headers: { 'if-modified-since': 'not a date' } })).status, 200);
  const both = await req(U, '/articles/4', { headers: { 'if-modified-since': lm, 'if-none-match': '"other"' } });
  assert.equal(both.status, 200);
});

test('unknown article ids and other paths are 404 with public max-age=60', async () => {
  for (const p of ['/articles/0', '/articles/21', '/articles/abc', '/no/such/page']) {
    const r = await req(U, p);
    assert.equal(r.status, 404, p);
    assert.equal(r.headers['cache-control'], 'public, max-age=60');
    assert.match(r.headers['content-type'], /^text\/html/);
  }
});

test('hashed assets: immutable, correct type, hash matches content, wrong hash 404', async () => {
  const paths = Object.keys(ASSETS);
  assert.equal(paths.length, 2);
  for (const p of paths) {
    const r = await req(U, p);
    assert.equal(r.status, 200);
    assert.equal(r.headers['cache-control'], 'public, max-age=31536000, immutable');
    const hash = crypto.createHash('sha256').update(r.body).digest('hex').slice(0, 8);
    assert.ok(p.includes(`.${hash}.`), `${p} vs ${hash}`);
    assert.match(r.headers['content-type'], p.endsWith('.css') ? /^text\/css/ : /^text\/javascript/);
  }
  assert.equal((await req(U, '/assets/site.00000000.css')).status, 404);
  assert.equal((await req(U, '/assets/app.00000000.js')).status, 404);
});

test('JSON API: list and item with max-age=30, Vary, ETag, conditional', async () => {
  const list = await req(U, '/api/articles');
  assert.equal(list.headers['cache-control'], 'public, max-age=30');
  assert.equal(list.headers.vary, 'Accept-Encoding');
  assert.equal(JSON.parse(list.body).length, 20);
  const item = await req(U, '/api/articles/5');
  assert.equal(JSON.parse(item.body).id, 5);
  assert.ok(item.headers.etag);
  assert.equal((await req(U, '/api/articles/5', { headers: { 'if-none-match': item.headers.etag } })).status, 304);
  assert.equal((await req(U, '/api/articles/55')).status, 404);
});

test('HEAD: headers and Content-Length, no body, counted as HEAD', async () => {
  const g = await req(U, '/articles/9');
  const h = await req(U, '/articles/9', { method: 'HEAD' });
  assert.equal(h.status, 200);
  assert.equal(h.body, '');
  assert.equal(h.headers['content-length'], g.headers['content-length']);
  assert.ok((await getJson(U, '/__origin/stats')).paths['/articles/9'].HEAD >= 1);
});

test('login sets a session cookie; /account is private and greets by session id', async () => {
  const login = await req(U, '/login', { method: 'POST', body: 'user=a', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(login.status, 303);
  assert.equal(login.headers.location, '/account');
  const cookie = login.headers['set-cookie'][0];
  assert.match(cookie, /^sessionid=[0-9a-f]{32}; Path=\/; HttpOnly$/);
  const sid = cookie.split(';')[0].split('=')[1];
  const acct = await req(U, '/account', { headers: { cookie: `theme=dark; sessionid=${sid}` } });
  assert.equal(acct.headers['cache-control'], 'private, no-store');
  assert.ok(acct.body.includes(`Hello, user ${sid}`));
  const anon = await req(U, '/account');
  assert.equal(anon.status, 200);
  assert.equal(anon.headers['cache-control'], 'private, no-store');
  assert.ok(anon.body.includes('Please log in'));
  assert.equal((await req(U, '/login')).status, 200);
});

test('/slow waits, then serves public s-maxage=60 with a growing counter', async () => {
  const t0 = Date.now();
  const a = await req(U, '/slow/t1?ms=150');
  assert.ok(Date.now() - t0 >= 140);
  assert.equal(a.headers['cache-control'], 'public, s-maxage=60');
  const b = await req(U, '/slow/t1?ms=0');
  const n = (r) => Number(/this path: (\d+)/.exec(r.body)[1]);
  assert.equal(n(a), 1);
  assert.equal(n(b), 2);
  assert.notEqual(a.body, b.body);
});

test('/fail: 5xx modes, reset destroys the socket, hang never answers', async () => {
  for (const m of ['500', '502', '503', '504']) {
    const r = await req(U, `/fail?mode=${m}`);
    assert.equal(r.status, Number(m));
    assert.ok(r.body.length > 0 && r.body.length < 200);
  }
  assert.equal((await req(U, '/fail/anything')).status, 500);
  await assert.rejects(req(U, '/fail/x?mode=reset'), (e) => ['ECONNRESET', 'ECONNREFUSED'].includes(e.code) || /socket hang up/.test(e.message));
  await assert.rejects(req(U, '/fail/y?mode=hang', { timeout: 200 }), (e) => e.code === 'TIMEOUT');
});

test('POST /__origin/fail switches exact and prefix paths into a failure mode and back', async () => {
  assert.equal((await req(U, '/lab/sie/x')).status, 200);
  let r = await postJson(U, '/__origin/fail', { paths: ['/lab/sie/x', '/lab/pre/*'], mode: '502' });
  assert.equal(r.status, 200);
  assert.equal((await req(U, '/lab/sie/x')).status, 502);
  assert.equal((await req(U, '/lab/sie/x?q=1')).status, 502);
  assert.equal((await req(U, '/lab/pre/abc')).status, 502);
  assert.equal((await req(U, '/lab/sie/y')).status, 200);
  await postJson(U, '/__origin/fail', { paths: ['/lab/sie/x'], mode: null });
  assert.equal((await req(U, '/lab/sie/x')).status, 200);
  assert.equal((await req(U, '/lab/pre/abc')).status, 502);
  await postJson(U, '/__origin/fail', { paths: ['/lab/pre/*'], mode: 'reset' });
  await assert.rejects(req(U, '/lab/pre/abc'));
  await postJson(U, '/__origin/fail', { mode: null }); // clears everything
  assert.equal((await req(U, '/lab/pre/abc')).status, 200);
  r = await postJson(U, '/__origin/fail', { paths: ['/x'], mode: 'bogus' });
  assert.equal(r.status, 400);
});

test('lab: status, repeated h= headers, body with {count}, age', async () => {
  const q = '?status=404&h=Cache-Control:public,%20max-age=60&h=Vary:Accept-Language&h=Set-Cookie:a=b&h=Set-Cookie:c=d&age=7&body=hit%20{count}';
  const a = await req(U, `/lab/h1${q}`);
  assert.equal(a.status, 404);
  assert.equal(a.headers['cache-control'], 'public, max-age=60');
  assert.equal(a.headers.vary, 'Accept-Language');
  assert.deepEqual(a.headers['set-cookie'], ['a=b', 'c=d']);
  assert.equal(a.headers.age, '7');
  assert.equal(a.body, 'hit 1');
  assert.equal((await req(U, `/lab/h1${q}`)).body, 'hit 2');
  assert.equal((await req(U, '/lab/h1?h=Bad%20Name:x')).status, 400);
});

test('lab: Date control (explicit and none)', async () => {
  const d = 'Wed, 21 Oct 2015 07:28:00 GMT';
  assert.equal((await req(U, `/lab/d1?date=${encodeURIComponent(d)}`)).headers.date, d);
  const none = await req(U, '/lab/d2?date=none');
  assert.ok(!none.rawHeaders.some((h) => h.toLowerCase() === 'date'));
  assert.ok((await req(U, '/lab/d3')).headers.date);
});

test('lab: default JSON echoes method, query, all request headers and the request body', async () => {
  const r = await req(U, '/lab/echo?a=1&a=2', {
    method: 'PUT',
    headers: { cookie: 'sid=1; other=2', authorization: 'Bearer abc', 'content-type': 'text/plain' },
    body: 'hello body',
  });
  const j = JSON.parse(r.body);
  assert.equal(j.path, '/lab/echo');
  assert.equal(j.method, 'PUT');
  assert.deepEqual(j.query, { a: ['1', '2'] });
  assert.equal(j.headers.cookie, 'sid=1; other=2');
  assert.equal(j.headers.authorization, 'Bearer abc');
  assert.equal(j.body, 'hello body');
  assert.equal(j.count, 1);
  assert.equal(JSON.parse((await req(U, '/lab/echo', { method: 'DELETE' })).body).count, 2);
});

test('lab: etag= and lm= answer conditionals with 304 carrying the h= headers', async () => {
  const lm = 'Wed, 21 Oct 2015 07:28:00 GMT';
  const q = `?etag=v1&lm=${encodeURIComponent(lm)}&h=Cache-Control:max-age=5&h=X-Version:1`;
  const a = await req(U, `/lab/c1${q}`);
  assert.equal(a.headers.etag, '"v1"');
  const b = await req(U, `/lab/c1${q}`, { headers: { 'if-none-match': 'W/"v1"' } });
  assert.equal(b.status, 304);
  assert.equal(b.body, '');
  assert.equal(b.headers['x-version'], '1');
  assert.equal(b.headers['cache-control'], 'max-age=5');
  assert.equal((await req(U, `/lab/c1${q}`, { headers: { 'if-modified-since': lm } })).status, 304);
  assert.equal((await req(U, `/lab/c1${q}`, { headers: { 'if-none-match': '"v2"' } })).status, 200);
});

test('lab: bytes= streams n bytes (Content-Length, or chunked=1), delay= waits', async () => {
  const a = await req(U, '/lab/big?bytes=300000');
  assert.equal(a.headers['content-length'], '300000');
  assert.equal(Buffer.byteLength(a.body), 300000);
  const b = await req(U, '/lab/big2?bytes=1000&chunked=1');
  assert.equal(b.headers['transfer-encoding'], 'chunked');
  assert.equal(b.body.length, 1000);
  const t0 = Date.now();
  await req(U, '/lab/slow?delay=120');
  assert.ok(Date.now() - t0 >= 110);
});

test('stats count per path/method and per URL; control endpoints uncounted; reset zeroes', async () => {
  await postJson(U, '/__origin/reset', {});
  await req(U, '/articles/1?utm_source=x');
  await req(U, '/articles/1');
  await req(U, '/articles/1', { method: 'HEAD' });
  await req(U, '/lab/s', { method: 'POST', body: 'x' });
  await req(U, '/__origin/fail');
  const s = await getJson(U, '/__origin/stats');
  assert.equal(s.total, 4);
  assert.deepEqual(s.paths['/articles/1'], { GET: 2, HEAD: 1 });
  assert.equal(s.paths['/lab/s'].POST, 1);
  assert.equal(s.byUrl['/articles/1?utm_source=x'].GET, 1);
  assert.ok(s.bodyBytes > 0);
  assert.ok(!Object.keys(s.paths).some((p) => p.startsWith('/__origin')));
  await postJson(U, '/__origin/reset', {});
  assert.deepEqual(await getJson(U, '/__origin/stats'), { total: 0, paths: {}, byUrl: {}, conditional304: 0, bodyBytes: 0 });
});

test('wrong methods on site pages get 405 with Allow', async () => {
  const r = await req(U, '/articles/1', { method: 'DELETE' });
  assert.equal(r.status, 405);
  assert.equal(r.headers.allow, 'GET, HEAD');
});

test('CMS pages list every article with edit links and an edit form', async () => {
  const idx = await req(U, '/cms');
  assert.equal((idx.body.match(/href="\/cms\/edit\/\d+"/g) ?? []).length, 20);
  const edit = await req(U, '/cms/edit/3');
  assert.match(edit.body, /<form method="post" action="\/cms\/publish\/3">/);
  assert.match(edit.body, /name="title"/);
  assert.match(edit.body, /name="body"/);
});

test('parseEtagList handles *, weak tags, lists and junk', () => {
  assert.equal(parseEtagList(' * '), '*');
  assert.deepEqual(parseEtagList('W/"a", "b,c" ,"d"'), ['"a"', '"b,c"', '"d"']);
  assert.deepEqual(parseEtagList('abc, "x'), []);
  assert.deepEqual(parseEtagList(''), []);
});

// --- CMS publish + purge webhook -----------------------------------------------------------

/** A fake edgecache recording purge calls and answering with `status`. */
async function fakeEdgecache(status = 200) {
  const calls = [];
  const server = http.createServer((rq, rs) => {
    const chunks = [];
    rq.on('data', (c) => chunks.push(c));
    rq.on('end', () => {
      calls.push({ method: rq.method, url: rq.url, headers: rq.headers, body: Buffer.concat(chunks).toString('utf8') });
      rs.writeHead(status, { 'content-type': 'application/json' });
      rs.end(JSON.stringify({ purged: status === 200 }));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, calls, close: () => new Promise((r) => server.close(r)) };
}

test('publish (JSON) changes the article and calls the signed purge webhook', async () => {
  const edge = await fakeEdgecache(200);
  const secretBytes = crypto.randomBytes(24);
  const o = await startOrigin({ edgecacheUrl: edge.url, purgeSecret: `whsec_${secretBytes.toString('base64')}`, log: false });
  try {
    const before = await req(o.url, '/articles/6');
    const r = await postJson(o.url, '/cms/publish/6', { title: 'Breaking: cache purged', body: 'Fresh words.' });
    const j = JSON.parse(r.body);
    assert.equal(j.ok, true);
    assert.equal(j.article.version, 2);
    assert.equal(j.purge.status, 200);
    assert.match(j.purge.body, /purged/);
    assert.equal(edge.calls.length, 1);
    const c = edge.calls[0];
    assert.equal(c.method, 'POST');
    assert.equal(c.url, '/__edgecache/purge');
    assert.deepEqual(JSON.parse(c.body), { tags: ['article-6', 'home'], soft: false });
    assert.match(c.headers['webhook-id'], /^msg_/);
    assert.ok(Math.abs(Number(c.headers['webhook-timestamp']) - Date.now() / 1000) < 10);
    const expected = crypto.createHmac('sha256', secretBytes).update(`${c.headers['webhook-id']}.${c.headers['webhook-timestamp']}.${c.body}`).digest('base64');
    assert.equal(c.headers['webhook-signature'], `v1,${expected}`);
    assert.equal(c.headers.authorization, undefined);
    const after = await req(o.url, '/articles/6');
    assert.notEqual(after.headers.etag, before.headers.etag);
    assert.ok(Date.parse(after.headers['last-modified']) > Date.parse(before.headers['last-modified']));
    assert.ok(after.body.includes('Breaking: cache purged') && after.body.includes('Fresh words.'));
    // Old validator no longer matches.
    assert.equal((await req(o.url, '/articles/6', { headers: { 'if-none-match': before.headers.etag } })).status, 200);
    assert.ok((await req(o.url, '/')).body.includes('Breaking: cache purged'));
  } finally {
    await o.close();
    await edge.close();
  }
});

test('publish (form) with a bearer token shows the webhook answer; non-2xx is logged', async () => {
  const edge = await fakeEdgecache(404);
  const lines = [];
  const o = await startOrigin({ edgecacheUrl: edge.url, purgeToken: 'tok123', log: (l) => lines.push(l) });
  try {
    const r = await req(o.url, '/cms/publish/2', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'title=Form+title&body=Form+body' });
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^text\/html/);
    assert.match(r.body, /answered <strong>404<\/strong>/);
    assert.equal(edge.calls[0].headers.authorization, 'Bearer tok123');
    assert.equal(edge.calls[0].headers['webhook-signature'], undefined);
    assert.ok(lines.some((l) => l.startsWith(`cms: purge webhook ${edge.url}/__edgecache/purge answered 404: `)), lines.join('\n'));
    assert.ok((await req(o.url, '/articles/2')).body.includes('Form title'));
  } finally {
    await o.close();
    await edge.close();
  }
});

test('publish still succeeds when edgecache is unreachable', async () => {
  const edge = await fakeEdgecache();
  await edge.close(); // now nothing listens on that port
  const lines = [];
  const o = await startOrigin({ edgecacheUrl: edge.url, log: (l) => lines.push(l) });
  try {
    const j = JSON.parse((await postJson(o.url, '/cms/publish/1', { body: 'New body' })).body);
    assert.equal(j.ok, true);
    assert.equal(j.purge.status, null);
    assert.match(j.purge.error, /unreachable/);
    assert.ok(lines.some((l) => l.startsWith('cms: would call purge webhook (edgecache unreachable)')));
    assert.ok((await req(o.url, '/articles/1')).body.includes('New body'));
    assert.equal((await req(o.url, '/cms/publish/42', { method: 'POST', body: '' })).status, 404);
  } finally {
    await o.close();
  }
});

test('request log: one line per request, marks conditional 304s', async () => {
  const lines = [];
  const o = await startOrigin({ log: (l) => lines.push(l) });
  try {
    const a = await req(o.url, '/articles/3');
    await req(o.url, '/articles/3', { headers: { 'if-none-match': a.headers.etag } });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(lines.length, 2);
    assert.match(lines[0], /^GET \/articles\/3 200 \d+B/);
    assert.match(lines[1], /^GET \/articles\/3 304 0B .*conditional 304$/);
  } finally {
    await o.close();
  }
});

test('close() ends hanging and delayed requests promptly', async () => {
  const o = await startOrigin({ log: false });
  const hung = req(o.url, '/fail?mode=hang').catch((e) => e);
  const slow = req(o.url, '/slow/x?ms=30000').catch((e) => e);
  await new Promise((r) => setTimeout(r, 50));
  const t0 = Date.now();
  await o.close();
  assert.ok(Date.now() - t0 < 1000);
  assert.ok((await hung) instanceof Error);
  assert.ok((await slow) instanceof Error);
});

test('CLI: --port 0 --ready-file, prints the listening line, exits 0 on SIGTERM', async () => {
  const ready = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'origin-')), 'ready');
  const child = spawn(process.execPath, [path.join(HERE, 'origin.mjs'), '--port', '0', '--host', '127.0.0.1', '--ready-file', ready], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  try {
    const t0 = Date.now();
    while (!fs.existsSync(ready) || !fs.readFileSync(ready, 'utf8')) {
      assert.ok(Date.now() - t0 < 5000, 'ready file not written');
      await new Promise((r) => setTimeout(r, 25));
    }
    const url = fs.readFileSync(ready, 'utf8').trim();
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await req(url, '/')).status, 200);
    assert.ok(out.includes(`origin listening on ${url}\n`));
  } finally {
    const code = await new Promise((r) => {
      child.on('exit', (c) => r(c));
      child.kill('SIGTERM');
    });
    assert.equal(code, 0);
  }
  assert.match(out, /GET \/ 200 \d+B/);
});
