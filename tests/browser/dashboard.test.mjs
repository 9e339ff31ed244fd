// The operator dashboard in headless Chromium against the real stack (demo origin + edgecache under
// wrangler dev): login, live stats without reload, purge through the form, explain, screenshots.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startStack, runningGroups, DEV_SECRETS, ROOT } from "../../scripts/stack.mjs";

const SHOTS = join(process.env.EDGECACHE_ARTIFACTS ?? join(ROOT, "artifacts"), "screenshots");
const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

let stack;
let browser;
let page;
let w = "";
const pageErrors = [];

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  stack = await startStack();
  w = stack.worker.url;
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  page = await newPage(LAPTOP);
}, { timeout: 600_000 });

after(async () => {
  if (page) await page.screenshot({ path: join(SHOTS, "dashboard-last-state.png"), fullPage: true }).catch(() => {});
  if (browser) await browser.close().catch(() => {});
  if (stack) await stack.stop();
  const left = runningGroups();
  if (left.length) throw new Error(`process groups left running: ${left.join(", ")}`);
});

async function newPage(viewport) {
  const ctx = await browser.newContext({ viewport, colorScheme: "light" });
  const p = await ctx.newPage();
  p.setDefaultTimeout(15_000);
  p.on("pageerror", (e) => pageErrors.push(e.message));
  // Console errors too (a missing asset, a CSP violation); the wrong-token login's 401 is expected.
  p.on("console", (m) => {
    if (m.type() === "error" && !/\b401\b/.test(m.text())) pageErrors.push(`console: ${m.text()}`);
  });
  p.on("dialog", (d) => d.dismiss());
  return p;
}

async function login(p, token) {
  await p.fill("#token", token);
  await p.click("#login-submit");
}

/** The page's current numbers: total requests (data-value) and hit ratio (text, e.g. "90.0%"). */
async function readKpis(p) {
  return p.evaluate(() => ({
    requests: Number(document.getElementById("requests-total").dataset.value ?? "0"),
    requestsText: document.getElementById("requests-total").textContent,
    ratioText: document.getElementById("hit-ratio").textContent,
  }));
}

test("a wrong token shows the login error and stays on the login form", async () => {
  await page.goto(`${w}/__edgecache/`);
  await page.waitForSelector("#login-form", { state: "visible" });
  await login(page, "not-the-token");
  await page.waitForSelector("#login-error", { state: "visible" });
  assert.match(await page.textContent("#login-error"), /wrong token/i);
  assert.equal(await page.isVisible("#login-form"), true);
  assert.equal(await page.isVisible("#app-view"), false);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
});

test("the right token opens the dashboard and keeps the token in sessionStorage", async () => {
  await login(page, DEV_SECRETS.ADMIN_TOKEN);
  await page.waitForSelector("#app-view", { state: "visible" });
  assert.equal(await page.isVisible("#login-form"), false);
  assert.equal(await page.isVisible("#login-error"), false);
  const stored = await page.evaluate(() => Object.values({ ...sessionStorage }));
  assert.deepEqual(stored, [DEV_SECRETS.ADMIN_TOKEN]);
  await page.waitForSelector("#policy-rules li.rule");
});

test("traffic shows up live (request count and hit ratio) without a reload", async () => {
  await page.evaluate(() => { window.__sameDocument = true; });
  const before = await readKpis(page);
  for (let i = 0; i < 20; i++) await (await fetch(`${w}/articles/3`)).arrayBuffer();
  for (const p of ["/", "/articles/1", "/articles/2", "/articles/1"]) await (await fetch(`${w}${p}`)).arrayBuffer();
  await (await fetch(`${w}/account`, { headers: { cookie: "sessionid=abc" } })).arrayBuffer();

  // Then a light trickle, as on a live site (the workers flush their counters every few seconds).
  let trickling = true;
  const trickle = (async () => {
    while (trickling) {
      try {
        await (await fetch(`${w}/articles/3`)).arrayBuffer();
      } catch {}
      await new Promise((r) => setTimeout(r, 700));
    }
  })();
  try {
    await page.waitForFunction((prev) => {
      const req = Number(document.getElementById("requests-total").dataset.value ?? "0");
      const ratio = parseFloat(document.getElementById("hit-ratio").textContent);
      return req > prev && ratio > 0;
    }, before.requests, { timeout: 30_000, polling: 250 }); // generous: CI is a noisy 2-core machine
  } finally {
    trickling = false;
    await trickle;
  }

  assert.equal(await page.evaluate(() => window.__sameDocument), true, "the page was reloaded");
  const now = await readKpis(page);
  assert.match(now.ratioText, /^\d{1,3}\.\d%$/);
  assert.ok(parseFloat(now.ratioText) > 0);
  assert.match(now.requestsText, /^[\d,]+$/);
  assert.equal(Number(now.requestsText.replace(/,/g, "")), now.requests);
  assert.ok(await page.locator("#chart svg rect.bar").count() > 0, "the chart has bars");
  assert.ok(await page.locator("#rules-table tbody th").count() > 0, "the rules table has rows");
  await page.screenshot({ path: join(SHOTS, "dashboard-laptop.png") });
});

test("purging tag article-3 with the form makes the next /articles/3 a miss", async () => {
  const warm = await fetch(`${w}/articles/3`);
  await warm.arrayBuffer();
  assert.match(warm.headers.get("cache-status") ?? "", /;\s*hit/, "article 3 is cached before the purge");

  await page.fill("#purge-tags", "article-3");
  await page.click("#purge-submit");
  await page.waitForFunction(() => /recorded/i.test(document.getElementById("purge-result").textContent));
  const result = await page.textContent("#purge-result");
  const id = /Purge (\S+) recorded/.exec(result)?.[1];
  assert.ok(id, `purge result names the purge: ${result}`);

  const after = await fetch(`${w}/articles/3`);
  await after.arrayBuffer();
  const cs = after.headers.get("cache-status") ?? "";
  assert.match(cs, /fwd=/, `after the purge: ${cs}`);
  assert.doesNotMatch(cs, /;\s*hit/, `after the purge: ${cs}`);

  await page.waitForFunction((pid) => document.getElementById("purge-log").textContent.includes(pid), id);
});

test("explain shows that /account with a session cookie bypasses the cache", async () => {
  await page.fill("#explain-url", `${w}/account`);
  await page.selectOption("#explain-method", "GET");
  await page.fill("#explain-cookie", "sessionid=abc");
  await page.click("#explain-submit");
  await page.waitForSelector("#explain-result .decision");
  assert.equal((await page.textContent("#explain-result .decision")).trim(), "bypass");
  await page.evaluate(() => window.scrollTo(0, 0)); // the sticky header then sits at the top of the image
  await page.screenshot({ path: join(SHOTS, "dashboard-laptop-full.png"), fullPage: true });
});

test("phone layout: no horizontal scrolling, all sections readable", async () => {
  const phone = await newPage(PHONE);
  try {
    await phone.goto(`${w}/__edgecache/`);
    await login(phone, DEV_SECRETS.ADMIN_TOKEN);
    await phone.waitForSelector("#app-view", { state: "visible" });
    await phone.waitForFunction(() => Number(document.getElementById("requests-total").dataset.value ?? "0") > 0);
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the phone`);
    await phone.screenshot({ path: join(SHOTS, "dashboard-phone.png") });
    await phone.screenshot({ path: join(SHOTS, "dashboard-phone-full.png"), fullPage: true });
    await phone.click("#logout");
    await phone.waitForSelector("#login-form", { state: "visible" });
    assert.equal(await phone.evaluate(() => sessionStorage.length), 0);
  } finally {
    await phone.context().close();
  }
});

test("no script or console errors on the page", () => {
  assert.deepEqual(pageErrors, []);
});
