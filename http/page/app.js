// coffee's customer page: the menu, the top 3, sign up, charge and order.
// Plain browser JavaScript, served by coffee itself; it talks only to the
// API of the server that served it. Each customer signed up on this browser
// keeps the token its sign-up answered (shown once by the server) in
// localStorage, by customer id; the page sends the current customer's token
// as Authorization: Bearer on that customer's routes (none when the server
// gave none: --auth off), offers a new token (the old one stops working at
// once), and explains a refused token (401, 403) in words. Every other
// error is shown with the API's own message.
"use strict";

const KEY_ID = "coffee.customerId";         // the current customer
const KEY_TOKENS = "coffee.tokens";         // { customerId: token or null }
const KEY_OLD_TOKEN = "coffee.token";       // the page's earlier one-token key
const REFRESH_MS = 2000;

const $ = (id) => document.getElementById(id);
let menus = [];
let orderKey = null;        // Idempotency-Key of the order being placed

// A v4 UUID: crypto.randomUUID where the browser has it (secure contexts,
// localhost included), else the same from crypto.getRandomValues.
function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// Shows a message for a few seconds; kind is "ok" or "error".
function say(text, kind) {
  const box = $("message");
  box.textContent = text;
  box.className = `show ${kind}`;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => { box.className = ""; }, kind === "error" ? 8000 : 4000);
}

// The tokens of the customers signed up on this browser.
function tokens() {
  try {
    const t = JSON.parse(localStorage.getItem(KEY_TOKENS) || "{}");
    return t && typeof t === "object" ? t : {};
  } catch (e) {
    return {};
  }
}

function saveTokens(t) { localStorage.setItem(KEY_TOKENS, JSON.stringify(t)); }

function currentId() { return localStorage.getItem(KEY_ID); }

function currentToken() {
  const id = currentId();
  return id ? tokens()[id] || null : null;
}

// A page saved before tokens were kept per customer had one token key.
function migrate() {
  const old = localStorage.getItem(KEY_OLD_TOKEN);
  const id = currentId();
  if (id && !(id in tokens())) saveTokens({ ...tokens(), [id]: old || null });
  localStorage.removeItem(KEY_OLD_TOKEN);
}

// What a refused credential means to the customer (the API's own message
// is for developers).
function refusal(status, id) {
  if (status === 401) {
    return "your token was not accepted: it may have been replaced by a new token on another " +
           "device. Forget this customer and sign up again, or use that new token.";
  }
  return `this browser's token is not ${id}'s, so it cannot act for ${id}.`;
}

// Calls the API. Resolves to the parsed JSON body of a 2xx answer; rejects
// with an Error whose message is the API's message (or what went wrong; a
// refused token in words). With asCustomer the current customer's token
// goes with the request.
async function api(method, path, body, headers = {}, asCustomer = false) {
  const h = { Accept: "application/json", ...headers };
  const token = asCustomer ? currentToken() : null;
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined) h["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new Error("The server cannot be reached; check that coffee is running.");
  }
  let json = null;
  try { json = await res.json(); } catch (e) { json = null; }
  if (!res.ok) {
    let text = json && json.message ? json.message : `${res.status} ${res.statusText}`;
    if (asCustomer && (res.status === 401 || res.status === 403)) text = refusal(res.status, currentId());
    const err = new Error(text);
    err.status = res.status;
    err.code = json && json.code;
    throw err;
  }
  return json;
}

// Shows who is signed up on this browser, and the others to switch to.
function showWho() {
  const id = currentId();
  const all = Object.keys(tokens()).sort();
  $("who").textContent = id ? `Signed up as ${id}` : "Not signed up yet.";
  $("token-state").textContent = !id ? ""
    : currentToken() ? "Your token is kept on this browser only; it proves you are you."
    : "This server asks for no token.";
  $("charge-button").disabled = !id;
  $("order-button").disabled = !id;
  $("new-token").disabled = !currentToken();
  const pick = $("customers");
  pick.replaceChildren();
  for (const c of all) {
    const o = document.createElement("option");
    o.value = c; o.textContent = c; o.selected = c === id;
    pick.append(o);
  }
  $("switch").style.display = all.length < 2 ? "none" : "";   // (the style sheet's display beats hidden)
}

// The menu with a quantity per line.
function renderMenu() {
  const body = $("menu").tBodies[0];
  body.replaceChildren();
  for (const m of menus) {
    const tr = document.createElement("tr");
    const name = document.createElement("td");
    name.textContent = m.menuNm;
    const price = document.createElement("td");
    price.className = "num";
    price.textContent = m.menuPrice.toLocaleString();
    const qty = document.createElement("td");
    const input = document.createElement("input");
    input.type = "number"; input.min = "0"; input.max = "100"; input.step = "1"; input.value = "0";
    input.dataset.menuId = m.menuId;
    input.setAttribute("aria-label", `quantity of ${m.menuNm}`);
    input.addEventListener("input", () => { orderKey = null; renderTotal(); });
    qty.append(input);
    tr.append(name, price, qty);
    body.append(tr);
  }
  renderTotal();
}

// The order lines the customer picked.
function picked() {
  return [...document.querySelectorAll("#menu input")]
    .map((i) => ({ menuId: i.dataset.menuId, qy: Number(i.value) }))
    .filter((l) => Number.isInteger(l.qy) && l.qy > 0);
}

function renderTotal() {
  const price = Object.fromEntries(menus.map((m) => [m.menuId, m.menuPrice]));
  const total = picked().reduce((s, l) => s + price[l.menuId] * l.qy, 0);
  $("total").textContent = `Total ${total.toLocaleString()}`;
}

// The top 3 by orders.
function renderBest(best) {
  const list = $("best");
  list.replaceChildren();
  if (!best.length) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = "No orders yet.";
    list.append(li);
  }
  for (const b of best) {
    const li = document.createElement("li");
    li.dataset.menuId = b.menuId;
    li.textContent = `${b.menuNm} — ${b.orderCnt} ${b.orderCnt === 1 ? "order" : "orders"}`;
    list.append(li);
  }
}

async function loadMenu() {
  try {
    menus = await api("GET", "/display/menu");
    renderMenu();
  } catch (e) {
    say(`Menu: ${e.message}`, "error");
  }
}

async function loadBest() {
  try {
    renderBest(await api("GET", "/display/best"));
  } catch (e) {
    say(`Top 3: ${e.message}`, "error");
  }
}

async function signUp(event) {
  event.preventDefault();
  const button = $("signup-button");
  button.disabled = true;
  try {
    const answer = await api("POST", "/customer", { customerNm: $("name").value });
    saveTokens({ ...tokens(), [answer.customerId]: answer.token || null });
    localStorage.setItem(KEY_ID, answer.customerId);
    $("balance").textContent = "";
    $("last-order").textContent = "";
    showWho();
    say(`Welcome, ${answer.customerId}`, "ok");
  } catch (e) {
    say(`Sign up: ${e.message}`, "error");
  } finally {
    button.disabled = false;
  }
}

async function charge(event) {
  event.preventDefault();
  const button = $("charge-button");
  button.disabled = true;
  try {
    const amount = Number($("amount").value);
    const answer = await api("POST", "/point", { customerId: currentId(), chargeAmt: amount }, {}, true);
    $("balance").textContent = `Balance ${answer.afterChargePoint.toLocaleString()} points`;
    say(`Charged ${answer.chargeAmt.toLocaleString()} points`, "ok");
  } catch (e) {
    say(`Charge: ${e.message}`, "error");
  } finally {
    showWho();
  }
}

// Places the order. The Idempotency-Key is made once per basket and kept
// until the order succeeds or the basket changes, so a double click or a
// retry after a lost answer is the same single order.
async function order() {
  const lines = picked();
  if (!lines.length) {
    say("Order: pick at least one menu", "error");
    return;
  }
  const button = $("order-button");
  if (!orderKey) orderKey = uuid();
  button.disabled = true;
  try {
    const answer = await api("POST", "/order", { customerId: currentId(), menuList: lines },
                             { "Idempotency-Key": orderKey }, true);
    orderKey = null;
    $("last-order").textContent = `Order ${answer.orderNo}: ${answer.orderPrice.toLocaleString()} points`;
    say(`Ordered: ${answer.orderNo}`, "ok");
    for (const i of document.querySelectorAll("#menu input")) i.value = "0";
    renderTotal();
    loadBest();
    loadBalance();
  } catch (e) {
    // A definite answer ends this order; an unknown outcome keeps its key.
    if (e.status && e.status < 500) orderKey = null;
    say(`Order: ${e.message}`, "error");
  } finally {
    showWho();
  }
}

// The current customer's balance (the newest history row is enough: the
// answer's point is always the whole balance).
async function loadBalance() {
  const id = currentId();
  if (!id) return;
  try {
    const answer = await api("GET", `/point/${encodeURIComponent(id)}?limit=1`, undefined, {}, true);
    if (id === currentId()) $("balance").textContent = `Balance ${answer[0].point.toLocaleString()} points`;
  } catch (e) {
    say(`Balance: ${e.message}`, "error");
  }
}

// A new token for the current customer: the old one stops working at once,
// here and on every other device that had it.
async function newToken() {
  const id = currentId();
  const button = $("new-token");
  button.disabled = true;
  try {
    const answer = await api("POST", `/customer/${encodeURIComponent(id)}/token`, undefined, {}, true);
    saveTokens({ ...tokens(), [answer.customerId]: answer.token });
    say("New token issued: the old one no longer works anywhere.", "ok");
  } catch (e) {
    say(`New token: ${e.message}`, "error");
  } finally {
    showWho();
  }
}

// Forgets the current customer (and its token) on this browser; another
// customer signed up here, if any, becomes the current one.
function forget() {
  const t = tokens();
  delete t[currentId()];
  saveTokens(t);
  const rest = Object.keys(t).sort();
  if (rest.length) localStorage.setItem(KEY_ID, rest[0]);
  else localStorage.removeItem(KEY_ID);
  $("balance").textContent = "";
  $("last-order").textContent = "";
  showWho();
  loadBalance();
}

function switchTo() {
  localStorage.setItem(KEY_ID, $("customers").value);
  $("balance").textContent = "";
  $("last-order").textContent = "";
  orderKey = null;
  showWho();
  loadBalance();
}

$("signup").addEventListener("submit", signUp);
$("charge").addEventListener("submit", charge);
$("order-button").addEventListener("click", order);
$("forget").addEventListener("click", forget);
$("new-token").addEventListener("click", newToken);
$("customers").addEventListener("change", switchTo);
migrate();
showWho();
loadMenu();
loadBest();
loadBalance();
setInterval(loadBest, REFRESH_MS);
