#!/usr/bin/env python3
"""scripts/faults/load.py — the client every fault row runs: it writes while
a fault is injected and then proves what the fault cost.

  load.py run URL STATE_DIR [--threads N] [--seconds S] [--read-url URL]
      N threads, each with a customer of its own (made and charged first),
      send POST /order one after another, each with a fresh Idempotency-Key
      and the customer's own token (Authorization: Bearer, from its POST
      /customer answer; none when the server gives none),
      plus a GET of the display (--read-url, default URL) every 10th step;
      runs S seconds or until STATE_DIR/stop exists. Every request is
      logged to STATE_DIR/log.jsonl: time, thread, kind, key, body, status
      (0 = no answer: refused, reset or timed out), orderNo.
  load.py verify URL STATE_DIR --collector FILE [--admin-token-file F]
                 [--reconcile CMD...]
      After the fault is over: every request without an answer is retried
      with its own key, body and token until it is answered (a retry of work that
      did commit gets its first answer back, so nothing is guessed; those
      are counted as unanswered_that_had_committed); then
      each customer's balance must equal its charges minus the prices of
      its acknowledged (200) orders, its USE history rows (read page by page
      with the cursor) must be exactly those orders, every acknowledged
      order must be readable by its customer, no request may have been
      refused for its credentials (401/403: tokens live in the command
      store and must outlive any fault), and every
      acknowledged order must be in the collector FILE (JSON lines with
      orderNo). Prints the figures as one JSON line and exits 1 when any
      promise is broken. --fault-start/--fault-end (epoch seconds) add how
      long after the fault ended the first write succeeded, and the
      statuses of the writes sent meanwhile. --reconcile runs a command that must exit 0
      (`coffee reconcile …`: the display counts equal the command store)
      once the event logs drained, again every half second until it does,
      within --drain-seconds; its last output goes to stderr when it never
      does.
      /metrics (the drain check) is read with the admin token of
      --admin-token-file, the operator's credential.

Standard library only; talks to 127.0.0.1 only.
"""
import argparse, concurrent.futures, http.client, json, os, subprocess, sys, threading, time, urllib.parse

MENU_PRICE = {"MENU-00000001": 4200, "MENU-00000002": 4200, "MENU-00000003": 4500,
              "MENU-00000004": 4500, "MENU-00000005": 4500}
CHARGE = 100_000_000
TIMEOUT_S = 6.0
VERIFY_THREADS = 8


def bearer(token):
    """The Authorization header of a token; none without one (a sign-up
    that answered no token: a server that asks for none)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def call(url, method, path, body=None, headers=None, timeout=TIMEOUT_S, token=None):
    """One request on a fresh connection: (status, json or None); status 0
    when no answer came (refused, reset, timed out). token: the customer's
    (or the admin's) bearer token."""
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    hdrs = {"Connection": "close"}
    if body is not None:
        hdrs["Content-Type"] = "application/json"
    hdrs.update(bearer(token))
    hdrs.update(headers or {})
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        return resp.status, parsed
    except (OSError, http.client.HTTPException):
        return 0, None
    finally:
        conn.close()


def until_ok(url, method, path, body=None, headers=None, seconds=120, token=None):
    """Retries until a 200 (setup and verification only)."""
    deadline = time.time() + seconds
    while True:
        status, parsed = call(url, method, path, body, headers, token=token)
        if status == 200:
            return parsed
        if time.time() > deadline:
            raise SystemExit(f"load.py: {method} {path} never answered 200 (last {status})")
        time.sleep(0.2)


def history(url, cid, token):
    """GET /point/{cid} page by page (newest first, nextCursor to the next
    page; a server without paging gives everything at once): (point, every
    pointDetail row)."""
    rows, cursor, point = [], None, None
    for _ in range(10_000):
        path = f"/point/{cid}?limit=1000"
        if cursor:
            path += "&cursor=" + urllib.parse.quote(cursor, safe="")
        page = until_ok(url, "GET", path, token=token)[0]
        if point is None:
            point = page["point"]
        rows.extend(page["pointDetail"])
        cursor = page.get("nextCursor")
        if not cursor:
            return point, rows
    raise SystemExit(f"load.py: the history of {cid} did not end after 10000 pages")


def run(args):
    os.makedirs(args.state, exist_ok=True)
    customers = []
    tokens = {}
    for i in range(args.threads):
        made = until_ok(args.url, "POST", "/customer", json.dumps({"customerNm": f"fault-{i}"}))
        cid = made["customerId"]
        tokens[cid] = made.get("token")         # shown once: kept for every later request
        until_ok(args.url, "POST", "/point",
                 json.dumps({"customerId": cid, "chargeAmt": 1_000_000_000}), token=tokens[cid])
        customers.append(cid)
    # Charges are done once, up front, so the accounting has one charge each.
    # The tokens are the customers' own secrets: the state dir is the row's.
    fd = os.open(os.path.join(args.state, "customers.json"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"customers": customers, "tokens": tokens, "charge": 1_000_000_000}, f)
    log = open(os.path.join(args.state, "log.jsonl"), "a", buffering=1)
    lock = threading.Lock()
    stop_file = os.path.join(args.state, "stop")
    end = time.time() + args.seconds
    read_url = args.read_url or args.url

    def worker(t):
        cid = customers[t]
        token = tokens[cid]
        n = 0
        while time.time() < end and not os.path.exists(stop_file):
            n += 1
            if n % 10 == 0:
                t0 = time.time()
                status, _ = call(read_url, "GET", "/display/best")
                with lock:
                    log.write(json.dumps({"t": t0, "thread": t, "kind": "read", "status": status}) + "\n")
                continue
            menu = f"MENU-0000000{1 + n % 5}"
            qy = 1 + n % 3
            body = json.dumps({"customerId": cid, "menuList": [{"menuId": menu, "qy": qy}]})
            key = f"fault-{t}-{n}-{int(time.time() * 1000)}"
            t0 = time.time()
            status, parsed = call(args.url, "POST", "/order", body, {"Idempotency-Key": key}, token=token)
            rec = {"t": t0, "t_end": time.time(), "thread": t, "kind": "order", "key": key,
                   "body": body, "customer": cid, "price": MENU_PRICE[menu] * qy,
                   "status": status}
            if status == 200 and parsed:
                rec["orderNo"] = parsed.get("orderNo")
            elif parsed:
                rec["code"] = parsed.get("code")
            with lock:
                log.write(json.dumps(rec) + "\n")
            if status != 200:
                time.sleep(0.05)        # no busy loop while the server is down

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(args.threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    log.close()


def verify(args):
    with open(os.path.join(args.state, "customers.json")) as f:
        meta = json.load(f)
    tokens = meta.get("tokens", {})
    admin = None
    if args.admin_token_file:
        with open(args.admin_token_file) as f:
            admin = f.readline().strip() or None
    recs = [json.loads(l) for l in open(os.path.join(args.state, "log.jsonl"))]
    orders = [r for r in recs if r["kind"] == "order"]
    reads = [r for r in recs if r["kind"] == "read"]
    failures = {}
    for r in orders:
        if r["status"] != 200:
            label = str(r["status"]) + (" " + r["code"] if r.get("code") else "")
            failures[label] = failures.get(label, 0) + 1
    read_failures = {}
    for r in reads:
        if r["status"] != 200:
            read_failures[str(r["status"])] = read_failures.get(str(r["status"]), 0) + 1
    # Unknown outcomes (no answer): ask again with the same key and body.
    resolved_committed = 0
    in_flight_committed = 0
    for r in orders:
        if r["status"] == 0:
            retry_at = time.time()
            token = tokens.get(r["customer"])
            parsed = until_ok(args.url, "POST", "/order", r["body"], {"Idempotency-Key": r["key"]},
                              token=token)
            # a replay carries the first commit's time: it committed unanswered
            _, order = call(args.url, "GET", f"/order/{parsed['orderNo']}", token=token)
            if order and order.get("orderedAt", "9") < time.strftime(
                    "%Y-%m-%dT%H:%M:%S", time.gmtime(retry_at - 1)):
                in_flight_committed += 1
            r["orig_status"] = 0
            r["status"] = 200
            r["orderNo"] = parsed["orderNo"]
            r["resolved"] = True
            resolved_committed += 1
    acked = [r for r in orders if r["status"] == 200]
    broken = []
    # Per customer: balance and USE rows equal exactly the acknowledged orders
    for cid in meta["customers"]:
        mine = [r for r in acked if r["customer"] == cid]
        point, details = history(args.url, cid, tokens.get(cid))
        uses = [d for d in details if d["pointTypeCode"] == "USE"]
        want = meta["charge"] - sum(r["price"] for r in mine)
        if point != want:
            broken.append(f"{cid}: balance {point}, expected {want}")
        if len(uses) != len(mine):
            broken.append(f"{cid}: {len(uses)} USE rows for {len(mine)} acknowledged orders")
    # Every acknowledged order is there: one GET each, VERIFY_THREADS at a
    # time (a faster coffee acknowledges more orders in the same load time,
    # and one by one the check alone outgrew test.sh's bound on the rows)
    def is_lost(r):
        status, parsed = call(args.url, "GET", f"/order/{r['orderNo']}", token=tokens.get(r["customer"]))
        return status != 200 or not parsed or parsed.get("orderNo") != r["orderNo"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=VERIFY_THREADS) as pool:
        lost = sum(pool.map(is_lost, acked))
    numbers = [r["orderNo"] for r in acked]
    dup_numbers = len(numbers) - len(set(numbers))
    # Events: every acknowledged order reached the collector
    collected = set()
    drain_from = time.time()
    deadline = drain_from + args.drain_seconds
    while True:
        collected = set()
        if os.path.exists(args.collector):
            for line in open(args.collector, errors="replace"):
                try:
                    collected.add(json.loads(line)["orderNo"])
                except (ValueError, KeyError):
                    pass
        missing = set(numbers) - collected
        if not missing or time.time() > deadline:
            break
        time.sleep(0.5)
    events_lost = len(missing)
    drained_s = round(time.time() - drain_from, 1)
    # The projection must have caught up before the counts are compared
    drain_from = time.time()
    for url in args.drain_url or [args.url]:
        while time.time() < drain_from + args.drain_seconds:
            text = ""
            try:
                u = urllib.parse.urlparse(url)
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=TIMEOUT_S)
                conn.request("GET", "/metrics", headers=bearer(admin))
                text = conn.getresponse().read().decode(errors="replace")
                conn.close()
            except (OSError, http.client.HTTPException):
                pass
            values = dict(l.split(" ", 1) for l in text.splitlines()
                          if l.startswith("coffee_") and " " in l and "{" not in l)
            # A part this role does not run reports up -1 and lag -1: only
            # the parts it runs must have drained.
            owners = {"coffee_outbox_pending": "coffee_bridge_up",
                      "coffee_projection_lag": "coffee_projection_up",
                      "coffee_collector_lag": "coffee_collector_up"}
            gauges = {k: v for k, v in values.items()
                      if k in owners and float(values.get(owners[k], "0")) != -1}
            if text and all(float(v) == 0 for v in gauges.values()):
                break
            time.sleep(0.2)
    display_drain_s = round(time.time() - drain_from, 1)
    # The lag gauges are refreshed every half second, so they can all read
    # 0 a moment before the last events are applied. What is promised is that
    # the display becomes exact: reconcile until it says so, within the
    # drain time. A count applied twice stays above the command store's
    # and a lost one below it, so neither ever passes.
    display_exact = None
    exact_after_s = None
    if args.reconcile:
        exact_from = time.time()
        while True:
            done = subprocess.run(args.reconcile, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
            display_exact = done.returncode == 0
            if display_exact or time.time() > exact_from + args.drain_seconds:
                break
            time.sleep(0.5)
        exact_after_s = round(time.time() - exact_from, 1)
        if not display_exact:
            sys.stderr.write("reconcile, last run:\n" + done.stdout)
    # Recovery: longest gap between one acknowledged write and the next
    times = sorted(r["t_end"] for r in orders if r["status"] == 200 and not r.get("resolved"))
    gap = max((b - a for a, b in zip(times, times[1:])), default=0.0)
    recover = None
    if args.fault_end is not None:
        after = [r["t_end"] for r in orders
                 if r["status"] == 200 and not r.get("resolved") and r["t"] >= args.fault_end]
        if after:
            recover = round(min(after) - args.fault_end, 2)
    during = {}
    if args.fault_start is not None and args.fault_end is not None:
        for r in orders:
            if args.fault_start <= r["t"] <= args.fault_end + (recover or 0):
                label = str(r.get("orig_status", r["status"]))
                during[label] = during.get(label, 0) + 1
    # A customer's own token refused during or after a fault is a broken
    # promise: credentials live in the command store like the points.
    refused = sum(n for label, n in failures.items() if label.split(" ")[0] in ("401", "403"))
    if refused:
        broken.append(f"{refused} orders refused for their credentials")
    figures = {
        "writes_recovered_s": recover, "writes_during_fault": during,
        "orders_sent": len(orders), "acknowledged": len(acked),
        "unanswered_retried": resolved_committed,
        "unanswered_that_had_committed": in_flight_committed,
        "acknowledged_lost": lost, "duplicate_order_numbers": dup_numbers,
        "events_lost": events_lost, "events_drained_after_verify_s": drained_s,
        "display_exact": display_exact, "display_exact_after_s": exact_after_s,
        "log_drained_after_s": display_drain_s,
        "write_gap_s": round(gap, 2), "failed_writes": failures,
        "failed_reads": read_failures, "auth_refused": refused, "accounting_broken": broken,
    }
    print(json.dumps(figures))
    ok = (lost == 0 and events_lost == 0 and not broken and dup_numbers == 0
          and display_exact is not False)
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["run", "verify"])
    p.add_argument("url")
    p.add_argument("state")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--read-url")
    p.add_argument("--collector")
    p.add_argument("--admin-token-file",
                   help="the operator's token (first line), for /metrics")
    p.add_argument("--drain-seconds", type=float, default=60)
    p.add_argument("--drain-url", action="append",
                   help="a coffee whose /metrics gauges must reach 0 first (default URL)")
    p.add_argument("--fault-start", type=float)
    p.add_argument("--fault-end", type=float)
    p.add_argument("--reconcile", nargs=argparse.REMAINDER)
    args = p.parse_args()
    if args.mode == "run":
        run(args)
        return 0
    return verify(args)


if __name__ == "__main__":
    sys.exit(main())
