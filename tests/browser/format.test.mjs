// Unit tests of the dashboard's pure helpers (www/format.js): formatting, hit ratio, requests/s,
// and how the forms' text becomes API input. No browser needed.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  pct, int, compact, rate, bytes, duration, ttl, ago, hitRatio, bucketRatio, requestsPerSecond,
  splitTags, splitLines, parseHeaderLines, explainQuery, purgeSummary, num,
} from "../../www/format.js";

test("numbers are formatted for people", () => {
  assert.equal(pct(0.9), "90.0%");
  assert.equal(pct(1), "100.0%");
  assert.equal(pct(null), "—");
  assert.equal(pct(NaN), "—");
  assert.equal(int(1234567), "1,234,567");
  assert.equal(int(undefined), "0");
  assert.equal(compact(950), "950");
  assert.equal(compact(1234), "1.2k");
  assert.equal(compact(12345), "12k");
  assert.equal(compact(3_400_000), "3.4M");
  assert.equal(rate(0), "0");
  assert.equal(rate(0.25), "0.25");
  assert.equal(rate(3.456), "3.5");
  assert.equal(rate(2), "2");
  assert.equal(bytes(512), "512 B");
  assert.equal(bytes(3.4 * 1024 * 1024), "3.4 MB");
  assert.equal(bytes(354_000_000), "338 MB");
  assert.equal(duration(0), "0 s");
  assert.equal(duration(90), "1 min 30 s");
  assert.equal(duration(86400 + 7200 + 5), "1 d 2 h");
  assert.equal(ttl("5m"), "5m");
  assert.equal(ttl(300), "5 min");
  assert.equal(ttl(undefined), "—");
  assert.equal(ago(1000, 1000), "just now");
  assert.equal(ago(0, 42_000), "42 s ago");
  assert.equal(ago(0, 3 * 60_000), "3 min ago");
  assert.equal(num("7"), 7);
  assert.equal(num({}), 0);
});

test("hit ratio counts fresh and stale hits against misses, never bypasses", () => {
  assert.equal(hitRatio({ hits_fresh: 8, hits_stale: 1, misses: 1, bypasses: 90 }), 0.9);
  assert.equal(hitRatio({ bypasses: 5 }), null);
  assert.equal(hitRatio({}), null);
  assert.equal(bucketRatio({ hits: 3, misses: 1, bypasses: 10 }), 0.75);
  assert.equal(bucketRatio({ bypasses: 2 }), null);
});

test("requests/s uses the last full buckets, not the one still filling", () => {
  const s = {
    now_ms: 100_000 + 4_000, bucket_secs: 10,
    series: [
      { t: 60_000, requests: 10 }, { t: 70_000, requests: 20 }, { t: 80_000, requests: 30 },
      { t: 90_000, requests: 60 }, { t: 100_000, requests: 999 },
    ],
  };
  assert.equal(requestsPerSecond(s, 3), (20 + 30 + 60) / 30);
  // Idle buckets the API leaves out count as zero.
  const gaps = { now_ms: 100_500, bucket_secs: 10, series: [{ t: 50_000, requests: 9 }, { t: 90_000, requests: 30 }] };
  assert.equal(requestsPerSecond(gaps, 3), 1);
  // Traffic that ended long ago gives 0, not its old rate.
  assert.equal(requestsPerSecond({ now_ms: 1_000_000, bucket_secs: 10, series: [{ t: 50_000, requests: 100 }] }), 0);
  // Only the current bucket so far: its requests over the elapsed time.
  assert.equal(requestsPerSecond({ now_ms: 105_000, bucket_secs: 10, series: [{ t: 100_000, requests: 10 }] }), 2);
  assert.equal(requestsPerSecond({}), 0);
  assert.equal(requestsPerSecond({ series: "nope" }), 0);
});

test("form text becomes purge and explain input", () => {
  assert.deepEqual(splitTags("article-3, home\nsection-news,,\n home "), ["article-3", "home", "section-news"]);
  assert.deepEqual(splitTags(""), []);
  assert.deepEqual(splitLines("/articles/3\n https://x.test/a \n\n/articles/3"), ["/articles/3", "https://x.test/a"]);
  assert.deepEqual(parseHeaderLines("Accept-Language:fr\n\n X-Test :  a:b \nbroken"), { headers: ["Accept-Language: fr", "X-Test: a:b"], bad: ["broken"] });
  const q = new URLSearchParams(explainQuery({ url: " https://x.test/account ", method: "POST", cookie: "sessionid=abc; a=b", headers: ["Accept: text/html", "X-A: 1"] }));
  assert.equal(q.get("url"), "https://x.test/account");
  assert.equal(q.get("method"), "POST");
  assert.equal(q.get("cookie"), "sessionid=abc; a=b");
  assert.deepEqual(q.getAll("header"), ["Accept: text/html", "X-A: 1"]);
  assert.equal(new URLSearchParams(explainQuery({ url: "https://x.test/" })).has("cookie"), false);
  assert.equal(purgeSummary({ tags: ["article-3"], urls: [], soft: false }), "tag article-3 · hard");
  assert.equal(purgeSummary({ everything: true, soft: true }), "everything · soft (mark stale)");
});
