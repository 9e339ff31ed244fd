// Deterministic, seeded request trace for the hit-ratio benchmark (bench/run, part 2).
//
// Article-like pages under /lab/bench/ (the demo origin's lab echoes the request, and the query's
// `h=` parameters become response headers), so no policy change is needed: the `lab` rule of
// tests/edgecache.test.toml (RFC 9111 "respect" mode) caches them from the origin's own headers,
//   Cache-Control: public, max-age=0, s-maxage=300      Cache-Tag: article-<i>,section-<s>
// which is what the demo's real /articles/<id> send.
//
// Mix (fractions of requests, each drawn independently from a seeded PRNG):
//   popularity     Zipf(s) over `pages` pages (rank 1 most popular)
//   tracking       30 % carry 1-3 of utm_source/utm_medium/utm_campaign/gclid/fbclid, with
//                  per-click values, inserted at random positions of the query string
//   consent cookie 50 % carry analytics/consent cookies (_ga, _gid, cookieconsent) in random order
//   logged in      5 % carry sessionid=<user> (one of `users`); their responses are personal
//                  (the lab echo contains the request's Cookie header)
//   publishes      `publishes` events spread evenly over the trace, each purging the tags of a
//                  popular page (article-<i>) and "home", like the demo CMS does
//
//   node bench/trace.mjs [--n 12000] [--pages 300] [--seed 42]     prints the trace's summary as JSON
//
// generateTrace() returns { events, summary }; an event is
//   { kind: "req", path, cookie, user }   (cookie: Cookie header or null; user: id or null)
//   { kind: "publish", tags: [...] }

// The demo origin's mulberry32: small, fast, deterministic.
import { prng } from "../demo/origin.mjs";
export { prng };

const SECTIONS = ["news", "world", "business", "tech", "sport", "culture"];
const TRACKING = ["utm_source", "utm_medium", "utm_campaign", "gclid", "fbclid"];

/** The canonical URL (path + query) of page `i` (1-based), as the site links to it. */
export function pageUrl(i) {
  const q = new URLSearchParams();
  q.append("h", "Cache-Control:public, max-age=0, s-maxage=300");
  q.append("h", `Cache-Tag:article-${i},section-${SECTIONS[(i - 1) % SECTIONS.length]}`);
  return `/lab/bench/article-${i}?${q}`;
}

/** Zipf sampler over ranks 1..n with exponent s (inverse CDF, binary search). */
function zipf(n, s, rnd) {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / Math.pow(i + 1, s);
  for (let i = 0; i < n; i++) cdf[i] /= sum;
  return () => {
    const u = rnd();
    let lo = 0, hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo + 1;
  };
}

/** Builds the trace. Same options → same trace, byte for byte. */
export function generateTrace({ n = 12000, pages = 300, zipfS = 1.1, seed = 42, tracking = 0.3, consent = 0.5, loggedIn = 0.05, users = 200, publishes = 4 } = {}) {
  const rnd = prng(seed);
  const pick = zipf(pages, zipfS, rnd);
  const shuffle = (a) => {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  };
  const hex = (len) => Array.from({ length: len }, () => Math.floor(rnd() * 16).toString(16)).join("");
  const events = [];
  const publishAt = new Set(Array.from({ length: publishes }, (_, k) => Math.floor(((k + 1) * n) / (publishes + 1))));
  const seen = new Set();
  let nTracking = 0, nConsent = 0, nLogged = 0, nPublishes = 0, refills = 0;
  const dirtyAfterPublish = new Set(); // pages purged and not yet requested again (anonymously)
  for (let r = 0; r < n; r++) {
    if (publishAt.has(r)) {
      const page = 1 + Math.floor(rnd() * 10); // one of the 10 most popular pages
      events.push({ kind: "publish", tags: [`article-${page}`, "home"] });
      if (seen.has(page)) dirtyAfterPublish.add(page);
      nPublishes++;
    }
    const page = pick();
    let path = pageUrl(page);
    if (rnd() < tracking) {
      nTracking++;
      const [base, qs] = path.split("?");
      const parts = qs.split("&");
      const names = shuffle([...TRACKING]).slice(0, 1 + Math.floor(rnd() * 3));
      for (const name of names) {
        const value = name.startsWith("utm_") ? ["newsletter", "social", "spring", "cpc", "mail"][Math.floor(rnd() * 5)] : hex(16);
        parts.splice(Math.floor(rnd() * (parts.length + 1)), 0, `${name}=${value}`);
      }
      path = `${base}?${parts.join("&")}`;
    }
    const cookies = [];
    if (rnd() < consent) {
      nConsent++;
      cookies.push(`_ga=GA1.2.${Math.floor(rnd() * 1e9)}.${1700000000 + Math.floor(rnd() * 1e7)}`, `_gid=GA1.2.${Math.floor(rnd() * 1e9)}`, "cookieconsent=1");
      shuffle(cookies);
    }
    let user = null;
    if (rnd() < loggedIn) {
      nLogged++;
      user = `u${1 + Math.floor(rnd() * users)}`;
      cookies.splice(Math.floor(rnd() * (cookies.length + 1)), 0, `sessionid=${user}`);
    } else if (!seen.has(page) || dirtyAfterPublish.has(page)) {
      if (seen.has(page)) refills++;
      seen.add(page);
      dirtyAfterPublish.delete(page);
    }
    events.push({ kind: "req", path, cookie: cookies.length ? cookies.join("; ") : null, user });
  }
  const anonymous = n - nLogged;
  // Best case for a shared cache keyed on the page (tracking params and consent cookies ignored,
  // logged-in users bypass): one miss per page seen, plus one per page purged then requested again.
  const idealMisses = seen.size + refills;
  return {
    events,
    summary: {
      requests: n, pages, zipf_s: zipfS, seed, distinct_pages: seen.size, tracking: nTracking, consent_cookie: nConsent,
      logged_in: nLogged, publishes: nPublishes, ideal_hits: anonymous - idealMisses,
      ideal_hit_ratio: Math.round(((anonymous - idealMisses) / n) * 10000) / 10000,
    },
  };
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const opt = {};
  for (let i = 2; i < process.argv.length; i += 2) opt[process.argv[i].replace(/^--/, "")] = Number(process.argv[i + 1]);
  const { events, summary } = generateTrace(opt);
  console.log(JSON.stringify(summary, null, 2));
  console.log(JSON.stringify(events.filter((e) => e.kind === "req").slice(0, 5), null, 1));
}
