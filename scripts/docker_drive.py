#!/usr/bin/env python3
"""docker_drive — drives orders through a running coffee stack over HTTP and
checks what the display and the data collection platform show
(scripts/docker_stack.sh runs it against the containers it started).

    docker_drive.py --order URL [--order URL ...] --display URL --collector URL
                    [--admin-token-file F] [--auth on|off]
                    [--customers N] [--orders N] [--timeout S] [--seed N]

Against fresh databases: waits (bounded) until the display instance lists
the demo menus (they reach it only as menu events), signs up customers and charges them on the order
instances in turn, places orders of seeded random menus through every order
instance (each with an Idempotency-Key, one retried), checks one refused
order (NO_POINT), reads each order and balance back from the other
instance. Every customer request carries that customer's own token from its
sign-up (Authorization: Bearer). With --auth on (the default) it also
checks that credentials work across instances: no token is 401, another
customer's token is 403 on another instance, a token rotated on one
instance is refused at once on the other, and /metrics of every instance
answers the admin token (--admin-token-file) and refuses no token. Then it
waits (bounded) until /display/best on the display instance
shows exactly the top 3 computed from the orders placed, and until the
collector (coffee mock-collector, GET /orders) holds every order once, with
its customer, lines and amount. Prints what it did; exit 0, or 1 with the
first problem.
"""
import argparse
import collections
import json
import random
import sys
import time
import urllib.error
import urllib.request


def http(method, url, body=None, headers=None, timeout=10, token=None, raw_text=False):
    """One request; returns (status, decoded JSON or None); with raw_text
    (status, text). token: sent as Authorization: Bearer."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    if raw_text:
        return status, raw.decode(errors="replace")
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


def expect(cond, what):
    if not cond:
        print("docker_drive: FAILED: %s" % what)
        sys.exit(1)


def ok(method, url, body=None, headers=None, token=None):
    """A request that must answer 200; returns its JSON."""
    status, doc = http(method, url, body, headers, token=token)
    expect(status == 200, "%s %s answered %s %s" % (method, url, status, doc))
    return doc


def refused(method, url, want, body=None, token=None):
    """A request that must be refused for its credentials with status want
    (401 UNAUTHORIZED or 403 FORBIDDEN)."""
    status, doc = http(method, url, body, token=token)
    code = {401: "UNAUTHORIZED", 403: "FORBIDDEN"}[want]
    expect(status == want and isinstance(doc, dict) and doc.get("code") == code,
           "%s %s answered %s %s, expected %d %s" % (method, url, status, doc, want, code))


def poll(what, timeout, probe):
    """Calls probe() until it returns (True, x) or timeout seconds pass."""
    end = time.monotonic() + timeout
    last = None
    while True:
        done, last = probe()
        if done:
            return last
        if time.monotonic() >= end:
            expect(False, "%s within %d s; last seen: %s" % (what, timeout, last))
        time.sleep(0.25)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--order", action="append", required=True, help="an order-role instance")
    ap.add_argument("--display", required=True, help="a display-role instance")
    ap.add_argument("--collector", required=True, help="coffee mock-collector")
    ap.add_argument("--customers", type=int, default=4)
    ap.add_argument("--orders", type=int, default=6, help="orders per customer")
    ap.add_argument("--timeout", type=int, default=120, help="bound of each wait, seconds")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--auth", choices=["on", "off"], default="on",
                    help="on: sign-ups must give tokens, and credentials are checked")
    ap.add_argument("--admin-token-file", help="the instances' admin token (first line)")
    args = ap.parse_args()
    auth = args.auth == "on"
    admin = None
    if args.admin_token_file:
        with open(args.admin_token_file) as f:
            admin = f.readline().strip()
    expect(not auth or admin, "--auth on needs --admin-token-file (for /metrics)")
    rnd = random.Random(args.seed)
    orders_at = args.order
    t0 = time.monotonic()

    # The display store's menus come only from menu events (the order
    # instances create the demo menus as events on first start, the projector
    # applies them), so a fresh stack may show none yet.
    def menus_probe():
        status, doc = http("GET", args.display + "/display/menu")
        return status == 200 and isinstance(doc, list) and len(doc) >= 3, doc
    t = time.monotonic()
    menus = poll("/display/menu listing the demo menus", args.timeout, menus_probe)
    print("docker_drive: /display/menu lists %d menus after %.1f s" % (len(menus), time.monotonic() - t))
    price = {m["menuId"]: m["menuPrice"] for m in menus}
    names = {m["menuId"]: m["menuNm"] for m in menus}
    best = ok("GET", args.display + "/display/best")
    expect(best == [], "fresh databases: /display/best is empty, got %s" % best)

    charge = 1000000
    customers = []
    tokens = {}                         # customerId -> its token, shown once at sign-up

    def sign_up(base, name):
        made = ok("POST", base + "/customer", {"customerNm": name})
        if auth:
            expect(isinstance(made.get("token"), str) and len(made["token"]) == 43,
                   "sign-up answered no 43-character token: %s" % made)
        tokens[made["customerId"]] = made.get("token")
        return made["customerId"]

    for i in range(args.customers):
        base = orders_at[i % len(orders_at)]
        cid = sign_up(base, "docker-%d" % i)
        # charged on the other instance: the token is in the shared store
        got = ok("POST", orders_at[(i + 1) % len(orders_at)] + "/point",
                 {"customerId": cid, "chargeAmt": charge}, token=tokens[cid])
        expect(got == {"beforeChargePoint": 0, "chargeAmt": charge, "afterChargePoint": charge},
               "charge of %s: %s" % (cid, got))
        customers.append(cid)

    placed = {}                         # orderNo -> (customerId, lines, price)
    spent = collections.Counter()
    n = 0
    for k in range(args.orders):
        for cid in customers:
            menu_ids = rnd.sample(sorted(price), rnd.randint(1, 3))
            lines = [{"menuId": m, "qy": rnd.randint(1, 3)} for m in menu_ids]
            total = sum(price[l["menuId"]] * l["qy"] for l in lines)
            body = {"customerId": cid, "menuList": lines}
            key = {"Idempotency-Key": "docker-%d-%d" % (args.seed, n)}
            base = orders_at[n % len(orders_at)]
            got = ok("POST", base + "/order", body, key, token=tokens[cid])
            expect(got["orderPrice"] == total and got["usePoint"] == total,
                   "order %s: price %s, expected %d" % (got, got.get("orderPrice"), total))
            expect(got["orderNo"] not in placed, "order number %s given twice" % got["orderNo"])
            if n == 0:
                # The same request again, through the other instance: the
                # first answer, nothing charged or counted twice.
                again = ok("POST", orders_at[(n + 1) % len(orders_at)] + "/order", body, key,
                           token=tokens[cid])
                expect(again == got, "idempotent retry answered %s, first %s" % (again, got))
            placed[got["orderNo"]] = (cid, lines, total)
            spent[cid] += total
            n += 1

    # A refused order changes nothing.
    poor = sign_up(orders_at[0], "docker-poor")
    first = sorted(price)[0]
    status, doc = http("POST", orders_at[-1] + "/order",
                       {"customerId": poor, "menuList": [{"menuId": first, "qy": 1}]}, token=tokens[poor])
    expect(status == 409 and doc.get("code") == "NO_POINT" and doc.get("shortfall") == price[first],
           "order without points answered %s %s" % (status, doc))

    # Every order and balance reads the same from the other instance.
    for i, (no, (cid, lines, total)) in enumerate(sorted(placed.items())):
        doc = ok("GET", orders_at[(i + 1) % len(orders_at)] + "/order/" + no, token=tokens[cid])
        expect(doc["customerId"] == cid and doc["payAmt"] == total and
               sorted((l["menuId"], l["qy"]) for l in doc["menuList"]) ==
               sorted((l["menuId"], l["qy"]) for l in lines), "GET /order/%s: %s" % (no, doc))
    for i, cid in enumerate(customers + [poor]):
        doc = ok("GET", orders_at[i % len(orders_at)] + "/point/" + cid, token=tokens[cid])
        want = charge - spent[cid] if cid != poor else 0
        expect(doc[0]["point"] == want, "balance of %s: %s, expected %d" % (cid, doc[0]["point"], want))
        expect(sum(d["point"] for d in doc[0]["pointDetail"]) == want,
               "history of %s does not add up to %d" % (cid, want))
    print("docker_drive: %d customers, %d orders through %d order instances (%.1f s)"
          % (len(customers), len(placed), len(orders_at), time.monotonic() - t0))

    if auth:
        # Credentials across instances: the command store holds them.
        a, b = customers[0], customers[1]
        other = orders_at[-1]
        some_order = next(no for no, (cid, _, _) in sorted(placed.items()) if cid == a)
        refused("GET", other + "/point/" + a, 401)
        refused("POST", other + "/order", 401,
                {"customerId": a, "menuList": [{"menuId": first, "qy": 1}]})
        refused("GET", other + "/point/" + a, 403, token=tokens[b])
        refused("GET", other + "/order/" + some_order, 403, token=tokens[b])
        refused("POST", other + "/point", 403, {"customerId": a, "chargeAmt": 1}, token=tokens[b])
        # Rotated on the first instance: the old token is dead on the last at once.
        old = tokens[a]
        new = ok("POST", orders_at[0] + "/customer/" + a + "/token", token=old)
        expect(new.get("customerId") == a and isinstance(new.get("token"), str)
               and len(new["token"]) == 43 and new["token"] != old, "token rotation answered %s" % new)
        tokens[a] = new["token"]
        refused("GET", other + "/point/" + a, 401, token=old)
        ok("GET", other + "/point/" + a, token=tokens[a])
        # The operator's credential: /metrics of every instance.
        for base in orders_at + [args.display]:
            status, _ = http("GET", base + "/metrics", raw_text=True)
            expect(status == 401, "GET %s/metrics without the admin token answered %s" % (base, status))
            status, text = http("GET", base + "/metrics", token=admin, raw_text=True)
            expect(status == 200 and "coffee_http_requests_total" in text,
                   "GET %s/metrics with the admin token answered %s" % (base, status))
        print("docker_drive: credentials hold across instances (401 without, 403 for another's,"
              " a rotated token dead at once elsewhere; /metrics with the admin token only)")

    # The top 3: orders containing each menu (quantity does not count), most
    # first, ties by menuId.
    count = collections.Counter()
    for cid, lines, total in placed.values():
        for menu_id in {l["menuId"] for l in lines}:
            count[menu_id] += 1
    want = [{"menuId": m, "menuNm": names[m], "orderCnt": c}
            for m, c in sorted(count.items(), key=lambda mc: (-mc[1], mc[0]))[:3]]

    def best_probe():
        status, doc = http("GET", args.display + "/display/best")
        return status == 200 and doc == want, doc
    t = time.monotonic()
    poll("/display/best showing %s" % want, args.timeout, best_probe)
    print("docker_drive: /display/best = %s after %.1f s"
          % (", ".join("%s:%d" % (w["menuId"], w["orderCnt"]) for w in want), time.monotonic() - t))

    def collector_probe():
        status, doc = http("GET", args.collector + "/orders")
        if status != 200 or not isinstance(doc, dict):
            return False, doc
        got = {o.get("orderNo"): o for o in doc.get("orders", [])}
        return set(got) == set(placed), (doc.get("count"), len(placed))
    t = time.monotonic()
    poll("the collector holding every order", args.timeout, collector_probe)
    status, doc = http("GET", args.collector + "/orders")
    expect(doc["count"] == len(placed), "collector count %s, placed %d" % (doc["count"], len(placed)))
    for event in doc["orders"]:
        cid, lines, total = placed[event["orderNo"]]
        expect(event["customerId"] == cid and event["payAmt"] == total and
               sorted((l["menuId"], l["qy"]) for l in event["menuList"]) ==
               sorted((l["menuId"], l["qy"]) for l in lines),
               "collector event %s differs from the order placed" % event)
    print("docker_drive: the collector received all %d orders (%d duplicate deliveries) after %.1f s"
          % (doc["count"], doc.get("duplicates", 0), time.monotonic() - t))
    return 0


if __name__ == "__main__":
    sys.exit(main())
