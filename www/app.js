// edgecache operator dashboard. Plain ES module, no dependencies: login with the admin token (kept in
// sessionStorage, sent as a bearer token), live stats every 2 s, purge, explain, and the policy.
// Every value from the API is inserted as text (textContent), never as HTML.
import {
  num, pct, int, compact, rate, bytes, ago, hitRatio, requestsPerSecond,
  splitTags, splitLines, parseHeaderLines, explainQuery, purgeSummary, ttl,
} from "./format.js";
import { renderChart } from "./chart.js";

const API = "/__edgecache";
const TOKEN_KEY = "edgecache.admin-token";
const POLL_MS = 2000;

const $ = (id) => document.getElementById(id);

/** Builds an element: h("li", { class: "x" }, "text", child, ...). Strings become text nodes. */
function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (k === "style") Object.assign(e.style, v); // CSSOM, so a strict style-src CSP still allows it
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

// ---------------------------------------------------------------- session

const state = { token: null, gen: 0, timer: null, stats: null, policyLoaded: false, failures: 0 };

function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return state.token;
  }
}

function setToken(t) {
  state.token = t;
  try {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {}
}

class Unauthorized extends Error {}

/**
 * Calls the API with the bearer token. Resolves to `{ status, ok, json }` (json null if the body
 * is not JSON). A 401 throws `Unauthorized` after returning to the login form.
 */
async function api(path, { method = "GET", body, token = getToken() } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(`${API}${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store", credentials: "omit",
  });
  let json = null;
  const text = await res.text();
  try {
    json = text ? JSON.parse(text) : null;
  } catch {}
  if (res.status === 401) {
    showLogin("Wrong token — check the admin token and sign in again.");
    throw new Unauthorized();
  }
  return { status: res.status, ok: res.ok, json, text };
}

function showLogin(error) {
  state.gen++;
  clearTimeout(state.timer);
  setToken(null);
  state.stats = null;
  state.policyLoaded = false;
  $("app-view").hidden = true;
  $("nav").hidden = true;
  $("session").hidden = true;
  $("login-view").hidden = false;
  const err = $("login-error");
  err.textContent = error ?? "";
  err.hidden = !error;
  $("token").value = "";
  $("token").focus();
}

function showApp() {
  $("login-view").hidden = true;
  $("login-error").hidden = true;
  $("app-view").hidden = false;
  $("nav").hidden = false;
  $("session").hidden = false;
  const gen = ++state.gen;
  poll(gen);
  loadPolicy();
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const token = $("token").value.trim();
  const err = $("login-error");
  if (!token) {
    err.textContent = "Enter the admin token.";
    err.hidden = false;
    return;
  }
  const btn = $("login-submit");
  btn.disabled = true;
  btn.textContent = "Signing in…";
  try {
    const res = await fetch(`${API}/api/stats`, { headers: { Authorization: `Bearer ${token}`, Accept: "application/json" }, cache: "no-store", credentials: "omit" });
    if (res.status === 401) {
      err.textContent = "Wrong token — check ADMIN_TOKEN and try again.";
      err.hidden = false;
      $("token").select();
      return;
    }
    setToken(token);
    showApp();
  } catch (e) {
    err.textContent = `Could not reach edgecache (${e.message}).`;
    err.hidden = false;
  } finally {
    btn.disabled = false;
    btn.textContent = "Sign in";
  }
});

$("logout").addEventListener("click", () => showLogin(null));

// ---------------------------------------------------------------- live stats

async function poll(gen) {
  if (gen !== state.gen) return;
  try {
    const [stats, purges] = await Promise.all([api("/api/stats"), api("/purges")]);
    if (gen !== state.gen) return;
    if (stats.ok && stats.json) {
      state.stats = stats.json;
      renderStats(stats.json);
      setLive(true);
    } else {
      setLive(false, `Stats unavailable: ${errorText(stats)}`);
    }
    if (purges.ok && purges.json) renderPurgeLog(purges.json, num(stats.json?.now_ms) || Date.now());
    else if (!purges.ok) renderPurgeLogError(purges);
  } catch (e) {
    if (e instanceof Unauthorized) return;
    if (gen === state.gen) setLive(false, `Connection lost (${e.message}) — retrying every ${POLL_MS / 1000} s.`);
  }
  if (gen === state.gen) state.timer = setTimeout(() => poll(gen), POLL_MS);
}

function setLive(ok, message) {
  const banner = $("conn-error");
  $("live-status").classList.toggle("down", !ok);
  $("live-text").textContent = ok ? "Live" : "Offline";
  banner.hidden = ok;
  if (!ok) banner.textContent = message;
  if (ok) $("updated-at").textContent = `Updated ${new Date().toLocaleTimeString()} · every ${POLL_MS / 1000} s`;
}

function errorText(r) {
  if (r.json && (r.json.error || r.json.detail)) return [r.json.error, r.json.detail].filter(Boolean).join(": ");
  return `HTTP ${r.status}`;
}

function setKpi(id, text, value) {
  const e = $(id);
  e.textContent = text;
  if (value !== undefined) e.dataset.value = String(value);
}

function renderStats(s) {
  const t = s.totals ?? {};
  const requests = num(t.requests);
  const ratio = hitRatio(t);
  setKpi("hit-ratio", pct(ratio), ratio ?? "");
  $("hit-ratio").classList.toggle("good", ratio !== null && ratio >= 0.8);
  $("hit-detail").textContent = ratio === null
    ? "no cacheable traffic yet"
    : `${compact(num(t.hits_fresh) + num(t.hits_stale))} hits · ${compact(num(t.misses))} misses`;
  $("hit-detail").title = `${int(t.hits_fresh)} fresh hits, ${int(t.hits_stale)} stale hits, ${int(t.misses)} misses`;

  setKpi("requests-total", int(requests), requests);
  $("rps-detail").textContent = num(t.revalidations) ? `${compact(num(t.revalidations))} revalidations` : "since the worker started";

  const rps = requestsPerSecond(s, 3);
  setKpi("requests-per-sec", rate(rps), rps);
  $("bucket-detail").textContent = `last ${3 * (num(s.bucket_secs) || 10)} s`;

  const byp = num(t.bypasses);
  setKpi("bypass-total", compact(byp), byp);
  $("bypass-detail").textContent = requests ? `${pct(byp / requests)} of requests` : "not in the hit ratio";

  const of = num(t.origin_fetches);
  setKpi("origin-fetches", compact(of), of);
  const oe = num(t.origin_errors);
  $("origin-detail").textContent = oe ? `${compact(oe)} error${oe === 1 ? "" : "s"}` : "no origin errors";
  $("origin-detail").classList.toggle("bad", oe > 0);

  setKpi("bytes-cache", bytes(t.bytes_cache), num(t.bytes_cache));
  $("bytes-detail").textContent = `${bytes(t.bytes_origin)} from origin`;

  const { total } = renderChart($("chart"), s);
  $("chart-empty").hidden = requests > 0 || total > 0;

  renderRules(Array.isArray(s.rules) ? s.rules : []);
  renderBypassReasons(s.bypass_reasons ?? {}, byp);
}

function renderRules(rules) {
  const tbody = $("rules-table").tBodies[0];
  // Rules that saw requests, busiest first (pseudo-rules such as "(purge)" count no requests).
  const rows = rules.filter((r) => r && typeof r === "object" && num(r.requests) > 0).sort((a, b) => num(b.requests) - num(a.requests));
  if (!rows.length) {
    tbody.replaceChildren(h("tr", { class: "empty-row" }, h("td", { colspan: 6 }, "No traffic yet — open ", h("a", { href: "/", target: "_blank", rel: "noopener" }, "the site"), ".")));
    return;
  }
  tbody.replaceChildren(...rows.map((r) => {
    const ratio = hitRatio(r);
    return h("tr", {},
      h("th", { scope: "row" }, String(r.name ?? "—")),
      h("td", { class: "num" }, int(r.requests)),
      h("td", { class: "num" }, h("span", { class: "ratio-cell" },
        h("span", { class: "mini-bar", "aria-hidden": "true" }, h("span", { style: { width: `${ratio === null ? 0 : (ratio * 100).toFixed(1)}%` } })),
        pct(ratio))),
      h("td", { class: "num hide-narrow" }, int(r.bypasses)),
      h("td", { class: num(r.origin_errors) ? "num has-errors" : "num", title: num(r.origin_errors) ? `${int(r.origin_errors)} origin errors` : null }, int(r.origin_fetches), num(r.origin_errors) ? h("span", { class: "bad small hide-narrow", title: "origin errors" }, ` (${int(r.origin_errors)} err)`) : null),
      h("td", { class: "num" }, int(r.hits_stale)));
  }));
}

function renderBypassReasons(reasons, totalBypasses) {
  const list = $("bypass-reasons");
  const entries = Object.entries(reasons ?? {}).map(([k, v]) => [k, num(v)]).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  if (!entries.length) {
    list.replaceChildren(h("li", { class: "empty" }, "No bypassed requests yet. Requests that may not be cached (a session cookie, POST, a bypass rule…) are counted here by reason."));
    return;
  }
  const sum = entries.reduce((s, [, v]) => s + v, 0) || 1;
  const max = entries[0][1];
  list.replaceChildren(...entries.map(([reason, n]) => h("li", {},
    h("span", { class: "bar-label" }, reason),
    h("span", { class: "bar-track", "aria-hidden": "true" }, h("span", { class: "bar-fill", style: { width: `${((n / max) * 100).toFixed(1)}%` } })),
    h("span", { class: "bar-value" }, `${int(n)} `, h("span", { class: "muted" }, `(${pct(n / (totalBypasses || sum), 0)})`)))));
}

function renderPurgeLog(data, nowMs) {
  const list = $("purge-log");
  const purges = (Array.isArray(data.purges) ? data.purges : []).slice().sort((a, b) => num(b.at_ms) - num(a.at_ms)).slice(0, 20);
  if (!purges.length) {
    list.replaceChildren(h("li", { class: "empty" }, "No purges yet — use the form, or publish an article in the CMS."));
    return;
  }
  list.replaceChildren(...purges.map((p) => h("li", {},
    h("div", { class: "log-head" },
      h("code", { class: "log-id" }, String(p.id ?? "?")),
      h("span", { class: `badge ${p.soft ? "soft" : "hard"}` }, p.soft ? "soft" : "hard"),
      p.everything ? h("span", { class: "badge danger" }, "everything") : null,
      h("span", { class: "muted small log-meta" },
        p.actor ? `${p.actor} · ` : "",
        h("time", { datetime: new Date(num(p.at_ms)).toISOString(), title: new Date(num(p.at_ms)).toLocaleString() }, ago(p.at_ms, nowMs)))),
    h("div", { class: "log-what" }, p.everything ? "all cached entries" : purgeSummary({ ...p, soft: false, everything: false }).replace(/ · hard$/, "")))));
}

function renderPurgeLogError(r) {
  const list = $("purge-log");
  if (list.querySelector("li:not(.empty)")) return; // keep the last good list
  list.replaceChildren(h("li", { class: "empty" }, `Purge log unavailable: ${errorText(r)}`));
}

// ---------------------------------------------------------------- purge

$("purge-everything").addEventListener("change", (ev) => {
  $("purge-form").classList.toggle("everything", ev.target.checked);
});

$("purge-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const out = $("purge-result");
  const body = {
    tags: splitTags($("purge-tags").value),
    urls: splitLines($("purge-urls").value),
    prefixes: splitLines($("purge-prefixes").value),
    everything: $("purge-everything").checked,
    soft: $("purge-soft").checked,
  };
  if (!body.everything && !body.tags.length && !body.urls.length && !body.prefixes.length) {
    showResult(out, "error", "Nothing to purge: give a tag, a URL or a prefix (or tick Everything).");
    return;
  }
  if (body.everything && !confirm(`Purge EVERYTHING${body.soft ? " (soft: mark all stale)" : ""}? Every cached page will be fetched from the origin again.`)) {
    showResult(out, "info", "Cancelled: nothing was purged.");
    return;
  }
  const btn = $("purge-submit");
  btn.disabled = true;
  showResult(out, "info", "Purging…");
  try {
    const r = await api("/purge", { method: "POST", body });
    if (r.status === 202 || r.ok) {
      const j = r.json ?? {};
      const id = j.id ?? j.purge?.id ?? j.purge_id ?? "(no id)";
      showResult(out, "ok", `Purge ${id} recorded: ${purgeSummary(body)}.`);
      $("purge-form").reset();
      $("purge-form").classList.remove("everything");
      const gen = state.gen;
      clearTimeout(state.timer);
      poll(gen); // show it in the log now
    } else {
      showResult(out, "error", r.json?.error ? `${r.json.error}${r.json.detail ? `: ${r.json.detail}` : ""}` : `HTTP ${r.status}: ${r.text.slice(0, 200)}`);
    }
  } catch (e) {
    if (!(e instanceof Unauthorized)) showResult(out, "error", `Could not reach edgecache (${e.message}).`);
  } finally {
    btn.disabled = false;
  }
});

function showResult(box, kind, text) {
  box.className = `result ${kind}`;
  box.textContent = text;
}

// ---------------------------------------------------------------- explain

$("explain-url").placeholder = `${location.origin}/articles/3`;

$("explain-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const out = $("explain-result");
  let url = $("explain-url").value.trim();
  if (!url) {
    out.replaceChildren(h("p", { class: "result error" }, "Enter a URL (a full URL, or a path on this site)."));
    $("explain-url").focus();
    return;
  }
  if (url.startsWith("/")) url = `${location.origin}${url}`;
  const { headers, bad } = parseHeaderLines($("explain-headers").value);
  if (bad.length) {
    out.replaceChildren(h("p", { class: "result error" }, `Not a "Name: value" header line: ${bad[0]}`));
    return;
  }
  const qs = explainQuery({ url, method: $("explain-method").value, cookie: $("explain-cookie").value, headers });
  const btn = $("explain-submit");
  btn.disabled = true;
  try {
    const r = await api(`/api/explain?${qs}`);
    if (r.ok && r.json) renderExplain(r.json);
    else out.replaceChildren(h("div", { class: "result error" }, h("strong", {}, r.json?.error ?? `HTTP ${r.status}`), r.json?.detail ? h("div", {}, r.json.detail) : null));
  } catch (e) {
    if (!(e instanceof Unauthorized)) out.replaceChildren(h("p", { class: "result error" }, `Could not reach edgecache (${e.message}).`));
  } finally {
    btn.disabled = false;
  }
});

function renderExplain(j) {
  const decision = String(j.decision ?? "unknown");
  const has = (v) => v !== undefined && v !== null && v !== "";
  // Header lists (forwarded / keyed / not forwarded): "none" when empty, absent from old workers.
  const list = (v) => (Array.isArray(v) ? (v.length ? v.join(", ") : h("span", { class: "muted" }, "none")) : undefined);
  const stale = [has(j.swr) ? `while revalidating ${ttl(j.swr)}` : null, has(j.sie) ? `if error ${ttl(j.sie)}` : null].filter(Boolean).join(" · ");
  const rows = [
    ["Rule", has(j.rule) ? (Number.isInteger(j.rule_index) ? `#${j.rule_index} ${j.rule}` : String(j.rule)) : undefined],
    ["Cache key", has(j.key) ? h("code", {}, String(j.key)) : decision === "bypass" ? h("span", { class: "muted" }, "none — not stored") : undefined],
    ["Edge TTL", has(j.edge_ttl) ? ttl(j.edge_ttl) + (has(j.mode) ? ` (${j.mode})` : "") : undefined],
    ["Browser TTL", has(j.browser_ttl) ? ttl(j.browser_ttl) : undefined],
    ["Serve stale", stale || undefined],
    ["Reason", j.reason],
    ["Cookies", j.cookies],
    ["Origin gets", has(j.origin_target) ? h("code", {}, String(j.origin_target)) : undefined],
    ["Forwarded", list(j.forwarded)],
    ["Keyed", decision === "bypass" ? undefined : list(j.keyed)],
    ["Not forwarded", decision === "bypass" ? undefined : list(j.not_forwarded)],
  ].filter(([, v]) => has(v));
  $("explain-result").replaceChildren(
    h("div", { class: "decision-line" },
      h("span", { class: "decision-label" }, "Decision"),
      h("div", { class: `decision decision-${decision.replace(/[^a-z0-9-]/gi, "")}`, id: "explain-decision" }, decision)),
    h("dl", { class: "kv" }, rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    has(j.text) ? h("pre", { class: "explain-text" }, String(j.text)) : null,
  );
}

// ---------------------------------------------------------------- policy

async function loadPolicy() {
  const list = $("policy-rules");
  try {
    const r = await api("/api/policy");
    if (!r.ok || !r.json) {
      list.replaceChildren(h("li", { class: "empty" }, `Policy unavailable: ${errorText(r)}`));
      return;
    }
    state.policyLoaded = true;
    $("policy-file").textContent = r.json.file ? `from ${r.json.file}` : "";
    const rules = Array.isArray(r.json.rules) ? r.json.rules : [];
    if (!rules.length) {
      list.replaceChildren(h("li", { class: "empty" }, "No rules: everything is forwarded to the origin and its own headers decide. Add rules to edgecache.toml and redeploy."));
      return;
    }
    list.replaceChildren(...rules.map((rule, i) => {
      const facts = (rule.bypass ? [["never cached", ""]] : [
        ["mode", rule.mode], ["edge", rule.edge_ttl], ["browser", rule.browser_ttl],
        ["swr", rule.swr], ["sie", rule.sie],
      ]).filter(([, v]) => v !== undefined && v !== null);
      const isDefault = rule.name === "default" && i === rules.length - 1;
      return h("li", { class: rule.bypass ? "rule bypass" : "rule" },
        h("span", { class: "rule-index" }, String(rule.index ?? i)),
        h("div", { class: "rule-body" },
          h("div", { class: "rule-title" },
            h("strong", {}, String(rule.name ?? `rule ${i}`)),
            rule.bypass ? h("span", { class: "badge danger" }, "bypass") : null,
            isDefault ? h("span", { class: "badge" }, "when no rule matches") : null),
          rule.match ? h("code", { class: "rule-match" }, String(rule.match)) : null,
          facts.length ? h("ul", { class: "chips" }, facts.map(([k, v]) => h("li", {}, h("span", { class: "muted" }, `${k} `), typeof v === "number" ? ttl(v) : String(v)))) : null));
    }));
  } catch (e) {
    if (!(e instanceof Unauthorized)) list.replaceChildren(h("li", { class: "empty" }, `Policy unavailable (${e.message}).`));
  }
}

// ---------------------------------------------------------------- start

let resizeTimer;
new ResizeObserver(() => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => state.stats && renderChart($("chart"), state.stats), 100);
}).observe($("chart"));

if (getToken()) showApp();
else showLogin(null);
