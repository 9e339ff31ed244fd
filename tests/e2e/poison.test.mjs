// Issue 14: cache poisoning and web cache deception through the real stack. The demo origin's
// /reflect route believes every forwarding header it is sent (as naive frameworks do) and says
// `public, max-age=60`; these tests act as the attacker, then as the next visitor.
//
// Node's fetch normalises URLs (dot-segments, %2e), so requests whose exact target matters are
// sent with node:http and a raw path.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { useStack, uniq, originCount, originStats, ours, isHit, request } from "./helpers.mjs";

const h = useStack();
const T = { timeout: 30_000 };
const req = (path, init) => request(h.w, path, init);

/** The dump the reflect page embeds. */
function dump(r) {
  const m = /<script type="application\/json" id="reflect">(.*?)<\/script>/s.exec(r.text);
  assert.ok(m, `no reflect dump: ${r.why}`);
  return JSON.parse(m[1]);
}

/** A raw HTTP/1.1 request to the worker: the path goes out byte for byte. */
function raw(path, { method = "GET", headers = {}, body } = {}) {
  const u = new URL(h.w);
  return new Promise((resolve, reject) => {
    const r = http.request({ host: u.hostname, port: u.port, method, path, headers, timeout: 12_000 }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const cs = res.headers["cache-status"] ?? "";
        resolve({ status: res.statusCode, headers: new Headers(res.headers), text, cs, why: `${method} ${path}: status=${res.statusCode} cache-status=${JSON.stringify(cs)} body=${JSON.stringify(text.slice(0, 200))}` });
      });
    });
    r.on("timeout", () => r.destroy(new Error(`${method} ${path}: timeout`)));
    r.on("error", reject);
    if (body != null) r.write(body);
    r.end();
  });
}

// Each family with a value an attacker would send. The reflect origin turns each of these into
// a script host, a scheme, a prefix, a target or a method in the page it returns.
const FAMILIES = {
  "x-forwarded-host": "evil.example",
  "x-host": "evil.example",
  "x-forwarded-server": "evil.example",
  "x-original-host": "evil.example",
  "x-http-host-override": "evil.example",
  forwarded: 'for=203.0.113.9;host="evil.example";proto=http',
  "x-forwarded-proto": "http",
  "x-forwarded-scheme": "nothttps",
  "x-forwarded-ssl": "on",
  "x-forwarded-port": "1337",
  "x-forwarded-prefix": "/evil",
  "x-original-url": "/admin",
  "x-rewrite-url": "/admin",
  "x-forwarded-for": "203.0.113.9",
  "x-requested-with": "XMLHttpRequest",
  "user-agent": "<script>alert(1)</script>",
  referer: "https://evil.example/",
  origin: "https://evil.example",
  "x-custom-anything": "evil",
};

test("no unkeyed header reaches the origin on a cacheable request; the next visitor gets a clean page", T, async () => {
  for (const [name, value] of Object.entries(FAMILIES)) {
    const p = uniq("/reflect/poison");
    const attack = await req(p, { headers: { [name]: value } });
    assert.equal(attack.status, 200, attack.why);
    assert.match(ours(attack), /fwd=uri-miss; fwd-status=200;.*\bstored\b/, `${name}: ${attack.why}`);
    const seen = dump(attack);
    assert.equal(seen.headers[name], undefined, `${name} reached the origin: ${JSON.stringify(seen.headers)}`);
    assert.doesNotMatch(attack.text, /evil|1337|alert/, `${name} reflected: ${attack.text.slice(0, 400)}`);
    assert.equal(seen.target, p, `${name}: target`);
    // The next visitor: served from the cache, and not poisoned.
    const victim = await req(p);
    assert.ok(isHit(victim), `${name}: ${victim.why}`);
    assert.equal(victim.text, attack.text);
    assert.equal(await originCount(h, p), 1, name);
  }
});

test("content negotiation and the Host reach the origin; the Host is the key's", T, async () => {
  const p = uniq("/reflect/negotiation");
  const r = await req(p, { headers: { "accept-language": "fr", accept: "text/html" } });
  const seen = dump(r);
  assert.equal(seen.headers["accept-language"], "fr");
  assert.equal(seen.headers.accept, "text/html");
  // What the origin reads as its host cannot be chosen by the client: it is the worker's host
  // (the key's) or the origin's own, never a forwarding header.
  const workerHost = new URL(h.w).host;
  const originHost = new URL(h.o).host;
  assert.ok([workerHost, originHost].includes(seen.effectiveHost), `effective host ${seen.effectiveHost}`);
  assert.equal(seen.effectiveHost, seen.host);
});

test("a GET with a method override is never served from or stored into the cache", T, async () => {
  for (const name of ["x-http-method-override", "x-http-method", "x-method-override"]) {
    const p = uniq("/reflect/override");
    const o = await req(p, { headers: { [name]: "DELETE" } });
    assert.match(ours(o), /fwd=bypass.*detail=method-override/, `${name}: ${o.why}`);
    assert.equal(dump(o).effectiveMethod, "DELETE", "a bypass is forwarded untouched");
    const clean = await req(p);
    assert.ok(!isHit(clean), `${name}: the overridden answer was stored: ${clean.why}`);
    assert.equal(dump(clean).effectiveMethod, "GET");
    // ... and a cached entry is not served to an override either.
    const again = await req(p, { headers: { [name]: "DELETE" } });
    assert.ok(!isHit(again), again.why);
    assert.equal(await originCount(h, p), 3, name);
  }
});

test("a GET with a body is never served from or stored into the cache", T, async () => {
  const p = uniq("/reflect/fatget");
  const fat = await raw(p, { headers: { "content-type": "application/x-www-form-urlencoded", "content-length": "13" }, body: "callback=evil" });
  assert.match(fat.cs, /fwd=bypass.*detail=get-body/, fat.why);
  const clean = await req(p);
  assert.ok(!isHit(clean), clean.why);
  assert.match(ours(clean), /stored/, clean.why);
  const fat2 = await raw(p, { headers: { "transfer-encoding": "chunked" }, body: "x" });
  assert.match(fat2.cs, /fwd=bypass.*detail=get-body/, fat2.why);
  assert.equal(await originCount(h, p), 3);
});

test("the origin is sent the key's path and query, whatever the client wrote", T, async () => {
  const p = uniq("/reflect/target");
  const cases = [
    // [raw target, what the origin must receive]
    [`${p}/%61bc`, `${p}/abc`],
    [`${p}/x/%2e%2E/abc`, `${p}/abc`],
    [`${p}/x/../abc`, `${p}/abc`],
    [`${p}/abc?b=2&utm_source=%3Cscript%3E&a=1`, `${p}/abc?a=1&b=2`],
    [`${p}/abc?__ec_vary=forged&a=1&b=2`, `${p}/abc?a=1&b=2`],
    [`${p}/a%2fb`, `${p}/a%2Fb`],
    [`${p}/%4%41`, `${p}/%254A`],
  ];
  for (const [target, want] of cases) {
    const r = await raw(target);
    assert.equal(r.status, 200, r.why);
    const seen = dump(r);
    assert.equal(seen.url, want, `${target} → ${seen.url}`);
  }
  // The spellings of one resource share one entry, fetched once per distinct key: `/abc` (three
  // spellings) and `/abc?a=1&b=2` (two).
  const byUrl = (await originStats(h)).byUrl;
  assert.equal(byUrl[`${p}/abc`]?.GET, 1, JSON.stringify(byUrl[`${p}/abc`]));
  assert.equal(byUrl[`${p}/abc?a=1&b=2`]?.GET, 1);
  const again = await raw(`${p}/./abc`);
  assert.ok(isHit({ cs: again.cs }), again.why);
});

test("deception armor: HTML under a .css URL is not stored; turned off per rule, it is", T, async () => {
  for (const suffix of ["/profile.css", ";x.css", "/avatar.png"]) {
    const p = uniq("/reflect/account") + suffix;
    const r1 = await raw(p);
    assert.equal(r1.status, 200, r1.why);
    assert.match(r1.headers.get("content-type"), /text\/html/);
    assert.match(r1.cs, /detail=content-type-mismatch/, r1.why);
    assert.doesNotMatch(r1.cs, /stored/, r1.why);
    const r2 = await raw(p);
    assert.ok(!isHit({ cs: r2.cs }), `served a deceptive page from the cache: ${r2.why}`);
  }
  // JSON for a .css is refused too (a JSON API behind a static-looking URL).
  const pj = uniq("/reflect/api") + "/me.css?type=json";
  const j = await raw(pj);
  assert.match(j.cs, /detail=content-type-mismatch/, j.why);
  // The lab-noarmor rule turns the armor off: the same answer is stored and served.
  const q = uniq("/reflect/noarmor") + "/profile.css";
  const n1 = await raw(q);
  assert.match(n1.cs, /stored/, n1.why);
  const n2 = await raw(q);
  assert.ok(isHit({ cs: n2.cs }), n2.why);
});

test("a bypassed request goes to the origin untouched", T, async () => {
  // A bypass cookie: every header reaches the origin, as the client sent it.
  const p = uniq("/reflect/bypass");
  const r = await req(p, { headers: { cookie: "sessionid=abc", "x-forwarded-host": "partner.example", "x-custom-anything": "1" } });
  assert.match(ours(r), /fwd=bypass.*detail=cookie/, r.why);
  const seen = dump(r);
  assert.equal(seen.headers["x-forwarded-host"], "partner.example");
  assert.equal(seen.headers["x-custom-anything"], "1");
  assert.equal(seen.headers.cookie, "sessionid=abc");
});

test("explain shows what would be forwarded and what is keyed", T, async () => {
  const { DEV_SECRETS } = await import("../../scripts/stack.mjs");
  const qs = new URLSearchParams({ url: `${h.w}/reflect/x/../y?utm_source=a&q=1`, method: "GET" });
  qs.append("header", "X-Forwarded-Host: evil.example");
  qs.append("header", "Accept-Language: fr");
  const r = await req(`/__edgecache/api/explain?${qs}`, { headers: { authorization: `Bearer ${DEV_SECRETS.ADMIN_TOKEN}` } });
  assert.equal(r.status, 200, r.why);
  const j = r.json();
  assert.equal(j.origin_target, "/reflect/y?q=1");
  assert.ok(j.not_forwarded.includes("x-forwarded-host (unkeyed input)"), JSON.stringify(j));
  assert.ok(j.forwarded.includes("accept-language (negotiation)"), JSON.stringify(j));
  assert.ok(j.keyed.includes("host"), JSON.stringify(j));
});
