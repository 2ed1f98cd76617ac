// coffee's operator console: every actor pool with its size, lanes, queue
// depth and latency, requests per second and errors per route, outbox and
// consumer lag, the connections the edge refused or cut, read from GET
// /metrics every REFRESH_MS; and controls that
// resize a pool (PUT /admin/pools/{pool} with the admin token). The token
// is asked for once and kept in sessionStorage: it ends with the tab.
// /metrics needs the admin token too (unless coffee runs --metrics-public):
// without it the console says so instead of showing numbers.
"use strict";

const KEY_TOKEN = "coffee.adminToken";
const REFRESH_MS = 1500;
const POOLS = ["point", "order", "display"];
// Which pool answers each route (the front answers the rest itself).
const ROUTE_POOL = {
  "/customer": "point", "/point": "point", "/point/{customerId}": "point",
  "/order": "order", "/order/{orderNo}": "order",
  "/display/menu": "display", "/display/best": "display",
};

const $ = (id) => document.getElementById(id);
let last = null;            // the previous sample: { at, routes }

function say(text, kind) {
  const box = $("message");
  box.textContent = text;
  box.className = `show ${kind}`;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => { box.className = ""; }, kind === "error" ? 8000 : 4000);
}

function token() { return sessionStorage.getItem(KEY_TOKEN) || ""; }

function showToken() {
  $("token-state").textContent = token()
    ? "Admin token set for this tab. Resize controls are on."
    : "Enter the admin token (the contents of the --admin-token-file) to read the metrics and resize pools.";
  for (const b of document.querySelectorAll("#pools button")) b.disabled = !token();
}

// Parses Prometheus text into [{ name, labels, value }].
function parse(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)$/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const pair of (m[3] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

// Per route: requests, 4xx, 5xx, latency sum; per name: plain gauges.
function summarize(samples) {
  const routes = {};
  const gauges = {};
  const pools = {};
  for (const s of samples) {
    const key = s.labels.route ? `${s.labels.method} ${s.labels.route}` : null;
    if (key && !routes[key]) routes[key] = { route: s.labels.route, count: 0, c4: 0, c5: 0, sum: 0 };
    if (s.name === "coffee_http_requests_total") {
      routes[key].count += s.value;
      if (s.labels.status >= "400" && s.labels.status < "500") routes[key].c4 += s.value;
      if (s.labels.status >= "500") routes[key].c5 += s.value;
    } else if (s.name === "coffee_http_request_duration_seconds_sum") {
      routes[key].sum += s.value;
    } else if (s.name === "coffee_actor_pool_size" || s.name === "coffee_actor_queue_depth"
               || s.name === "coffee_actor_lanes") {
      pools[s.labels.pool] = pools[s.labels.pool] || {};
      pools[s.labels.pool][s.name] = s.value;
    } else if (!s.labels.route) {
      gauges[s.name] = s.value;
    }
  }
  return { at: performance.now(), routes, gauges, pools };
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  if (text instanceof Node) td.append(text); else td.textContent = text;
  tr.append(td);
  return td;
}

function renderPools(now, prev) {
  const body = $("pools").tBodies[0];
  for (const pool of POOLS) {
    const p = now.pools[pool];
    let tr = body.querySelector(`tr[data-pool="${pool}"]`);
    if (!p || p.coffee_actor_pool_size === undefined) { if (tr) tr.remove(); continue; }
    // Latency: the mean over the last interval of the routes this pool answers.
    let dn = 0, ds = 0;
    for (const [key, r] of Object.entries(now.routes)) {
      if (ROUTE_POOL[r.route] !== pool) continue;
      const o = prev && prev.routes[key];
      dn += r.count - (o ? o.count : 0);
      ds += r.sum - (o ? o.sum : 0);
    }
    const latency = prev && dn > 0 ? `${(ds / dn * 1000).toFixed(1)} ms` : "–";
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.pool = pool;
      for (let i = 0; i < 5; i++) cell(tr, "", i ? "num" : "");
      const form = document.createElement("form");
      form.className = "resize";
      const input = document.createElement("input");
      input.type = "number"; input.min = "1"; input.max = "64"; input.step = "1";
      input.value = String(p.coffee_actor_pool_size);
      input.setAttribute("aria-label", `new size of the ${pool} pool`);
      const button = document.createElement("button");
      button.type = "submit"; button.textContent = "Resize";
      form.append(input, button);
      form.addEventListener("submit", (e) => { e.preventDefault(); resize(pool, input, button); });
      cell(tr, form);
      body.append(tr);
    }
    tr.cells[0].textContent = pool;
    tr.cells[1].textContent = String(p.coffee_actor_pool_size);
    tr.cells[1].dataset.actors = String(p.coffee_actor_pool_size);
    tr.cells[2].textContent = p.coffee_actor_lanes === undefined ? "–" : String(p.coffee_actor_lanes);
    tr.cells[3].textContent = String(p.coffee_actor_queue_depth || 0);
    tr.cells[4].textContent = latency;
  }
}

function renderRoutes(now, prev) {
  const body = $("routes").tBodies[0];
  body.replaceChildren();
  const seconds = prev ? (now.at - prev.at) / 1000 : 0;
  for (const key of Object.keys(now.routes).sort()) {
    const r = now.routes[key];
    const o = prev && prev.routes[key];
    const rate = seconds > 0 ? ((r.count - (o ? o.count : 0)) / seconds).toFixed(1) : "–";
    const tr = document.createElement("tr");
    cell(tr, key);
    cell(tr, rate, "num");
    cell(tr, String(r.c4), "num");
    cell(tr, String(r.c5), "num");
    cell(tr, String(r.count), "num");
    body.append(tr);
  }
}

// Fills table id with one row per [label, metric] that /metrics has.
function renderGauges(now, id, rows) {
  const body = $(id).tBodies[0];
  body.replaceChildren();
  for (const [label, name] of rows) {
    if (now.gauges[name] === undefined) continue;
    const tr = document.createElement("tr");
    tr.dataset.metric = name;
    cell(tr, label);
    cell(tr, now.gauges[name] < 0 ? "unknown" : String(now.gauges[name]), "num");
    body.append(tr);
  }
}

function renderBridge(now) {
  renderGauges(now, "bridge", [
    ["Outbox rows not yet published", "coffee_outbox_pending"],
    ["Outbox rows published", "coffee_outbox_published_total"],
    ["Projection lag (events)", "coffee_projection_lag"],
    ["Collector lag (events)", "coffee_collector_lag"],
    ["Collector failures", "coffee_collector_failures_total"],
  ]);
}

function renderEdge(now) {
  renderGauges(now, "edge", [
    ["Connections refused: their address held --max-conns-per-address", "coffee_http_connections_refused_total"],
    ["Connections cut: a request not read whole within --read-timeout-ms", "coffee_http_connections_cut_total"],
  ]);
}

async function refresh() {
  try {
    const headers = token() ? { Authorization: `Bearer ${token()}` } : {};
    const res = await fetch("/metrics", { headers });
    if (res.status === 401 || res.status === 403) {
      throw new Error(token() ? "the admin token is wrong: /metrics refused it"
                              : "/metrics needs the admin token: enter it above");
    }
    if (!res.ok) {
      let why = "";
      try { why = (await res.json()).message || ""; } catch (e) { why = ""; }
      throw new Error(`/metrics answered ${res.status}${why ? `: ${why}` : ""}`);
    }
    const now = summarize(parse(await res.text()));
    renderPools(now, last);
    renderRoutes(now, last);
    renderBridge(now);
    renderEdge(now);
    last = now;
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    showToken();
  } catch (e) {
    $("updated").textContent = `not updated: ${e.message}`;
  }
}

async function resize(pool, input, button) {
  button.disabled = true;
  try {
    const res = await fetch(`/admin/pools/${pool}`, {
      method: "PUT",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token()}` },
      body: JSON.stringify({ actors: Number(input.value) }),
    });
    let json = null;
    try { json = await res.json(); } catch (e) { json = null; }
    if (res.status === 401 || res.status === 403) throw new Error("the admin token is wrong or missing");
    if (!res.ok) throw new Error(json && json.message ? json.message : `${res.status}`);
    say(`${json.pool} pool now has ${json.actors} actors`, "ok");
    await refresh();
  } catch (e) {
    say(`Resize ${pool}: ${e.message}`, "error");
  } finally {
    button.disabled = !token();
  }
}

$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY_TOKEN, $("token").value.trim());
  $("token").value = "";
  showToken();
});
$("logout").addEventListener("click", () => { sessionStorage.removeItem(KEY_TOKEN); showToken(); });
showToken();
refresh();
setInterval(refresh, REFRESH_MS);
