// Browser test of coffee's page and console: headless Debian chromium
// driven by playwright-core (pinned in tools/browser/). Starts its own
// `coffee serve` on a free loopback port with an admin token file, then:
//   /        sign up (the token kept in localStorage for that customer) ->
//            charge -> order (double click: one order) -> the order counted
//            in the top 3; an API error shown in words; the server refuses
//            the history without the customer's token; "New token" kills
//            the old one; a refused token (401) and another customer's
//            token (403) explained in words; a second customer on the same
//            browser with its own token, and switching between them;
//   /console no numbers without the admin token (said in words), then the
//            admin token, the pools and their lanes, the edge's refused and
//            cut connections, a wrong token refused in words, the
//            order pool resized from the page and the new count shown;
//   and, on a second coffee with --auth off (the original open API), the
//   page signs up and charges, and the history reads without a token.
// Screenshots go to ARTIFACTS (default: a new temp dir); their paths are
// printed. Usage: node page.test.js COFFEE_BIN [ARTIFACTS]
"use strict";

const { spawn } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");
const crypto = require("node:crypto");

const root = path.resolve(__dirname, "..", "..");
const { chromium } = require(path.join(root, "tools", "browser", "node_modules", "playwright-core"));

const STEP_MS = 15000;              // longest wait for one thing on the page
const START_MS = 30000;             // longest wait for coffee to answer /health
const TEST_MS = 240000;             // the whole test

const bin = process.argv[2];
const artifacts = process.argv[3] || fs.mkdtempSync(path.join(os.tmpdir(), "coffee-browser-"));
if (!bin) {
  console.error("usage: node page.test.js COFFEE_BIN [ARTIFACTS]");
  process.exit(2);
}

// A TCP port free on 127.0.0.1 right now.
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// fetch with a timeout.
async function get(url, init = {}) {
  return fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
}

function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
  console.log(`ok - ${what}`);
}

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "coffee-browser-run-"));
  const token = crypto.randomBytes(32).toString("base64url");
  const tokenFile = path.join(work, "admin.token");
  fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const log = fs.openSync(path.join(artifacts, "coffee.log"), "w");
  const server = spawn(bin, ["serve", "--bind", "127.0.0.1", "--port", String(port),
                             "--data-dir", path.join(work, "data"), "--admin-token-file", tokenFile,
                             "--order-actors", "2", "--display-refresh-ms", "100"],
                       { stdio: ["ignore", log, log] });
  const openPort = await freePort();
  const openBase = `http://127.0.0.1:${openPort}`;
  const openLog = fs.openSync(path.join(artifacts, "coffee-auth-off.log"), "w");
  const openServer = spawn(bin, ["serve", "--bind", "127.0.0.1", "--port", String(openPort),
                                 "--data-dir", path.join(work, "open-data"), "--auth", "off"],
                           { stdio: ["ignore", openLog, openLog] });
  let browser = null;
  const userData = fs.mkdtempSync(path.join(os.tmpdir(), "coffee-chromium-"));
  try {
    const started = Date.now();
    let up = false;
    while (!up && Date.now() - started < START_MS) {
      try { up = (await get(`${base}/health`)).ok && (await get(`${openBase}/health`)).ok; } catch (e) { await sleep(200); }
    }
    check(up, `coffee answers on ${base}, and with --auth off on ${openBase}`);

    // A new empty profile (playwright passes it as --user-data-dir); with
    // no network here, chromium must not try to look anything up.
    browser = await chromium.launchPersistentContext(userData, {
      executablePath: "/usr/bin/chromium",
      headless: true,
      timeout: START_MS,
      viewport: { width: 1200, height: 760 },
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    const context = browser;
    context.setDefaultTimeout(STEP_MS);
    const page = await context.newPage();
    const posts = [];
    page.on("request", (r) => { if (r.method() === "POST" && r.url().endsWith("/order")) posts.push(r.headers()["idempotency-key"]); });
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));

    // The customer page.
    await page.goto(`${base}/`);
    await page.locator("#menu tbody tr").first().waitFor();
    const menuRows = await page.locator("#menu tbody tr").count();
    check(menuRows >= 4, `the menu shows ${menuRows} items`);

    await page.fill("#name", "Browser Kim");
    await page.click("#signup-button");
    await page.locator("#who", { hasText: "CUST-" }).waitFor();
    const customerId = await page.evaluate(() => localStorage.getItem("coffee.customerId"));
    check(/^CUST-\d{8,}$/.test(customerId || ""), `signed up; localStorage keeps ${customerId}`);
    const tokenOf = (id) => page.evaluate((c) => JSON.parse(localStorage.getItem("coffee.tokens") || "{}")[c], id);
    const firstToken = await tokenOf(customerId);
    check(/^[A-Za-z0-9_-]{43}$/.test(firstToken || ""), "the sign-up's token is kept in localStorage for that customer");
    const bearer = (t) => ({ headers: { Authorization: `Bearer ${t}` } });

    await page.fill("#amount", "50000");
    await page.click("#charge-button");
    await page.locator("#balance", { hasText: "50,000" }).waitFor();
    check(true, "charged 50,000 points");

    // An error in words: far more than the points cover.
    const qty = page.locator("#menu tbody input");
    await qty.nth(0).fill("100");
    await page.click("#order-button");
    await page.locator("#message.error").waitFor();
    const said = await page.locator("#message").textContent();
    check(/^Order: .*포인트가 부족합니다/.test(said), `the API's message is shown: "${said}"`);

    // A double click is one order.
    await qty.nth(0).fill("0");
    await qty.nth(1).fill("2");
    const menuName = (await page.locator("#menu tbody tr").nth(1).locator("td").first().textContent()).trim();
    posts.length = 0;
    await page.dblclick("#order-button");
    await page.locator("#last-order", { hasText: "ORD-" }).waitFor();
    await sleep(500);
    const keys = new Set(posts);
    check(posts.length >= 1 && keys.size === 1 && /^[0-9a-f-]{36}$/.test([...keys][0]),
          `${posts.length} POST /order sent with one Idempotency-Key ${[...keys][0]}`);
    check((await get(`${base}/point/${customerId}`)).status === 401,
          "the server refuses the history without the customer's token (the page sent it)");
    const account = await (await get(`${base}/point/${customerId}`, bearer(firstToken))).json();
    const uses = account[0].pointDetail.filter((d) => d.pointTypeCode === "USE");
    check(uses.length === 1, "the server holds exactly one order for the double click");

    // The order counted in the top 3 (refreshed by the page itself).
    const item = page.locator("#best li", { hasText: `${menuName} — ` });
    await item.waitFor();
    const best = await (await get(`${base}/display/best`)).json();
    const counted = best.find((b) => b.menuNm === menuName);
    check(counted && best.length === 1 && (await item.textContent()) === `${menuName} — ${counted.orderCnt} order${counted.orderCnt === 1 ? "" : "s"}`,
          `the top 3 counts the order: "${await item.textContent()}"`);
    const pageShot = path.join(artifacts, "page.png");
    await page.screenshot({ path: pageShot, fullPage: true });
    console.log(`screenshot: ${pageShot}`);

    // A new token: the page keeps it, the old one is dead at once.
    await page.click("#new-token");
    await page.locator("#message.ok", { hasText: "New token issued" }).waitFor();
    const newToken = await tokenOf(customerId);
    check(/^[A-Za-z0-9_-]{43}$/.test(newToken || "") && newToken !== firstToken,
          "New token: localStorage keeps the new token");
    check((await get(`${base}/point/${customerId}`, bearer(firstToken))).status === 401 &&
          (await get(`${base}/point/${customerId}`, bearer(newToken))).status === 200,
          "the old token is refused (401), the new one works");

    // A refused token in words: one the server does not know (as after a
    // new token made on another device).
    const setToken = (id, t) => page.evaluate(([c, v]) => {
      const all = JSON.parse(localStorage.getItem("coffee.tokens") || "{}");
      all[c] = v;
      localStorage.setItem("coffee.tokens", JSON.stringify(all));
    }, [id, t]);
    await setToken(customerId, firstToken);
    await page.fill("#amount", "1000");
    await page.click("#charge-button");
    const said401 = (await page.locator("#message.error", { hasText: "Charge:" }).textContent());
    check(/^Charge: your token was not accepted/.test(said401), `a 401 is explained: "${said401}"`);

    // Another customer's token (403) in words.
    const other = await (await get(`${base}/customer`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ customerNm: "Other Park" }) })).json();
    await setToken(customerId, other.token);
    await page.click("#charge-button");
    await page.locator("#message.error", { hasText: "is not" }).waitFor();
    const said403 = await page.locator("#message").textContent();
    check(said403 === `Charge: this browser's token is not ${customerId}'s, so it cannot act for ${customerId}.`,
          `a 403 is explained: "${said403}"`);
    await setToken(customerId, newToken);
    const after = await (await get(`${base}/point/${customerId}`, bearer(newToken))).json();
    check(after[0].point === account[0].point, `the refused charges changed nothing (${after[0].point} points)`);

    // A second customer on this browser: its own token; switch back.
    await page.fill("#name", "Browser Lee");
    await page.click("#signup-button");
    await page.locator("#who", { hasText: "CUST-" }).filter({ hasNotText: customerId }).waitFor();
    const secondId = await page.evaluate(() => localStorage.getItem("coffee.customerId"));
    const secondToken = await tokenOf(secondId);
    check(secondId !== customerId && /^[A-Za-z0-9_-]{43}$/.test(secondToken || "") &&
          (await tokenOf(customerId)) === newToken,
          `a second customer ${secondId} has its own token; the first keeps its own`);
    await page.locator("#switch").waitFor();
    await page.selectOption("#customers", customerId);
    await page.locator("#who", { hasText: customerId }).waitFor();
    await page.locator("#balance", { hasText: after[0].point.toLocaleString("en-US") }).waitFor();
    check(true, `switched back to ${customerId}: its balance read with its own token`);

    // The console: nothing without the admin token, said in words.
    await page.goto(`${base}/console`);
    await page.locator("#updated", { hasText: "needs the admin token" }).waitFor();
    check(await page.locator('#pools tr[data-pool="order"]').count() === 0,
          "without the admin token the console shows no metrics and says why");
    await page.fill("#token", token);
    await page.click("#token-button");
    await page.locator('#pools tr[data-pool="order"]').waitFor();
    const actors = page.locator('#pools tr[data-pool="order"] td').nth(1);
    check((await actors.textContent()) === "2", "the console shows the order pool with 2 actors");
    await page.locator('#routes td', { hasText: "POST /order" }).first().waitFor();
    check(true, "the console lists requests per route");
    await page.locator('#bridge tr[data-metric="coffee_outbox_pending"]').waitFor();
    check(true, "the console shows the outbox");
    const lanes = /coffee_actor_lanes\{pool="order"\} (\d+)\n/
      .exec(await (await get(`${base}/metrics`, bearer(token))).text());
    check(lanes !== null
          && (await page.locator('#pools tr[data-pool="order"] td').nth(2).textContent()) === lanes[1],
          `the console shows the order pool's lanes as /metrics has them (${lanes && lanes[1]})`);
    await page.locator('#edge tr[data-metric="coffee_http_connections_refused_total"]').waitFor();
    await page.locator('#edge tr[data-metric="coffee_http_connections_cut_total"]').waitFor();
    check(true, "the console shows the connections the edge refused and cut");

    await page.fill("#token", "not-the-admin-token-at-all");
    await page.click("#token-button");
    const resizeInput = page.locator('#pools tr[data-pool="order"] input');
    await resizeInput.fill("3");
    await page.locator('#pools tr[data-pool="order"] button').click();
    await page.locator("#message.error", { hasText: "admin token is wrong" }).waitFor();
    check((await actors.textContent()) === "2", "a wrong token is refused in words and changes nothing");

    await page.fill("#token", token);
    await page.click("#token-button");
    check(await page.evaluate(() => sessionStorage.getItem("coffee.adminToken") !== null),
          "the admin token is kept in sessionStorage");
    await resizeInput.fill("3");
    await page.locator('#pools tr[data-pool="order"] button').click();
    await page.locator("#message.ok", { hasText: "order pool now has 3 actors" }).waitFor();
    await page.locator('#pools tr[data-pool="order"] td:nth-child(2)', { hasText: /^3$/ }).waitFor();
    check((await get(`${base}/metrics`)).status === 401, "/metrics refuses a request without the admin token");
    const metrics = await (await get(`${base}/metrics`, bearer(token))).text();
    check(/coffee_actor_pool_size\{pool="order"\} 3\n/.test(metrics),
          "resized from the page: the console and /metrics show 3 order actors");
    await sleep(1600);           // one more refresh, so rates and latency show
    const consoleShot = path.join(artifacts, "console.png");
    await page.screenshot({ path: consoleShot, fullPage: true });
    console.log(`screenshot: ${consoleShot}`);

    // --auth off: the original open API; the page asks for no token.
    await page.goto(`${openBase}/`);
    await page.locator("#menu tbody tr").first().waitFor();
    await page.fill("#name", "Open Choi");
    await page.click("#signup-button");
    await page.locator("#who", { hasText: "CUST-" }).waitFor();
    const openId = await page.evaluate(() => localStorage.getItem("coffee.customerId"));
    check(/^CUST-\d{8,}$/.test(openId || ""), `--auth off: signed up as ${openId}`);
    await page.fill("#amount", "7000");
    await page.click("#charge-button");
    await page.locator("#balance", { hasText: "7,000" }).waitFor();
    const open = await (await get(`${openBase}/point/${openId}`)).json();
    check(open[0].point === 7000, "--auth off: charged from the page, and the history reads without a token");
    check(pageErrors.length === 0, `no script errors on the pages ${pageErrors.join("; ")}`);
  } finally {
    if (browser) await browser.close().catch(() => {});
    const stop = (proc) => {
      proc.kill("SIGTERM");
      return new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) { resolve(proc.exitCode); return; }
        const t = setTimeout(() => { proc.kill("SIGKILL"); resolve("killed"); }, 30000);
        proc.once("exit", (c) => { clearTimeout(t); resolve(c); });
      });
    };
    const [code, openCode] = await Promise.all([stop(server), stop(openServer)]);
    console.log(`coffee --auth off stopped (${openCode}); its log: ${path.join(artifacts, "coffee-auth-off.log")}`);
    fs.closeSync(openLog);
    fs.closeSync(log);
    fs.rmSync(userData, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
    console.log(`coffee stopped (${code}); its log: ${path.join(artifacts, "coffee.log")}`);
  }
}

const bound = setTimeout(() => { console.error(`not finished within ${TEST_MS} ms`); process.exit(1); }, TEST_MS);
main().then(() => { clearTimeout(bound); console.log("browser test passed"); },
            (e) => { clearTimeout(bound); console.error(`not ok - ${e.stack || e}`); process.exitCode = 1; });
