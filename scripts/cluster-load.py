#!/usr/bin/env python3
"""Concurrent analyze load for scripts/cluster-test.sh (Python 3 standard library only).

Clients post inline transactions of six shapes (the rules generator answers) to the
targets in turn, e.g. the balancer and both replicas directly. With --kill-pid, one
process (a replica) is killed with SIGKILL --kill-after seconds into the run; from then
on requests go only to the targets not named by --killed-target. After the run it
checks, and prints the counts of:

  * requests started after the kill at each surviving replica: every one answered 200;
  * requests started through a balancer (--balancer) more than --failover seconds after
    the kill: every one answered 200. Within that window its health check has not yet
    taken the dead replica out: a POST it sent there over a connection that died with
    the replica cannot be retried safely (it may have been processed), so the client
    sees the connection close. Those are counted and printed, not failed;
  * every analysis answered 200, by any target, is stored: its id is in the shared
    database (psql on --database-url);
  * every analysis the killed target answered 200 is readable through --read-url
    (GET /api/v1/analyses/{id} on the surviving replica).

Exit 0 when every check passed, 1 otherwise.
"""
import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

SHAPES = [
    ("CASH_DEPOSIT", "15000.00", "US", False, "COMPLETE"),
    ("WIRE", "5000.00", "IT", False, "COMPLETE"),
    ("WIRE", "9000.00", "CU", False, "COMPLETE"),
    ("ACH", "300.00", "US", True, "COMPLETE"),
    ("CARD", "200.00", "US", False, "PENDING"),
    ("ACH", "250.00", "US", False, "COMPLETE"),
]


def body(run, n):
    kind, amount, country, pep, kyc = SHAPES[n % len(SHAPES)]
    customer = f"CL{n % 40}"
    return json.dumps({
        "transaction": {
            "transaction_id": f"CLUSTER-{run}-{n}", "customer_id": customer, "amount": float(amount),
            "currency": "USD", "transaction_type": kind, "direction": "OUTBOUND",
            "origin_country": "US", "destination_country": country, "timestamp": "2026-03-10T14:20:00Z",
        },
        "customer": {
            "customer_id": customer, "name": "Cluster Tester", "customer_type": "INDIVIDUAL",
            "risk_rating": "LOW", "kyc_status": kyc, "is_pep": pep, "country": "US",
        },
    })


class Connections:
    """One keep-alive connection per target for one client thread."""

    def __init__(self, timeout):
        self.timeout = timeout
        self.conns = {}

    def request(self, url, method, path, headers, payload=None):
        parts = urllib.parse.urlsplit(url)
        conn = self.conns.get(url)
        if conn is None:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.timeout)
            self.conns[url] = conn
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            del self.conns[url]
            raise


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--key", required=True, help="API key allowed to analyze and read analyses")
    p.add_argument("--target", action="append", required=True, help="NAME=URL, in rotation order")
    p.add_argument("--clients", type=int, default=6)
    p.add_argument("--seconds", type=float, default=40)
    p.add_argument("--kill-pid", type=int)
    p.add_argument("--kill-after", type=float, default=15)
    p.add_argument("--killed-target", help="the target that dies with --kill-pid")
    p.add_argument("--balancer", action="append", default=[], help="a target that is a load balancer")
    p.add_argument("--failover", type=float, default=3.0,
                   help="seconds a balancer may take to stop sending to the dead replica")
    p.add_argument("--database-url", required=True)
    p.add_argument("--read-url", required=True, help="a surviving replica, to read analyses back")
    args = p.parse_args()

    targets = [tuple(t.split("=", 1)) for t in args.target]
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {args.key}"}
    run = f"{int(time.time())}"
    records = []  # (target, started, finished, status, analysis_id or error)
    lock = threading.Lock()
    counter = [0]
    killed_at = [None]
    start = time.monotonic()
    deadline = start + args.seconds

    def client():
        conns = Connections(timeout=120)
        while time.monotonic() < deadline:
            with lock:
                n = counter[0]
                counter[0] += 1
                live = [t for t in targets if killed_at[0] is None or t[0] != args.killed_target]
            name, url = live[n % len(live)]
            started = time.monotonic()
            try:
                status, raw = conns.request(url, "POST", "/api/v1/analyze", headers, body(run, n))
                detail = json.loads(raw)["analysis_id"] if status == 200 else raw[:200].decode("utf-8", "replace")
            except (OSError, http.client.HTTPException) as e:
                status, detail = 0, f"{type(e).__name__}: {e}"
            with lock:
                records.append((name, started, time.monotonic(), status, detail))

    def killer():
        time.sleep(args.kill_after)
        with lock:
            os.kill(args.kill_pid, signal.SIGKILL)
            killed_at[0] = time.monotonic()
        print(f"cluster-load: killed pid {args.kill_pid} ({args.killed_target}) with SIGKILL at {args.kill_after:.0f} s", flush=True)

    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    if args.kill_pid:
        threads.append(threading.Thread(target=killer))
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    kill = killed_at[0]
    failures = []
    print(f"\n== analyze load: {args.clients} clients for {args.seconds:.0f} s, {len(records)} requests")
    print(f"{'target':<10} {'phase':<13} {'sent':>6} {'200':>6} {'other':>6} {'p50 ms':>8} {'p99 ms':>8}")
    for name, _ in targets:
        phases = [("all", lambda r: True)]
        if kill is not None:
            phases = [("before kill", lambda r: r[2] < kill),
                      ("at the kill", lambda r: r[1] < kill <= r[2])]
            if name in args.balancer:
                phases += [("failover", lambda r: kill <= r[1] < kill + args.failover),
                           ("after kill", lambda r: r[1] >= kill + args.failover)]
            else:
                phases += [("after kill", lambda r: r[1] >= kill)]
        for phase, keep in phases:
            rs = [r for r in records if r[0] == name and keep(r)]
            ok = [r for r in rs if r[3] == 200]
            lat = sorted((r[2] - r[1]) * 1000 for r in ok)
            p50 = f"{statistics.median(lat):.0f}" if lat else "-"
            p99 = f"{lat[min(len(lat) - 1, int(len(lat) * 0.99))]:.0f}" if lat else "-"
            print(f"{name:<10} {phase:<13} {len(rs):>6} {len(ok):>6} {len(rs) - len(ok):>6} {p50:>8} {p99:>8}")
            for detail in sorted({f"{r[3]} {r[4]}"[:160] for r in rs if r[3] != 200})[:3]:
                print(f"{'':<10}   not 200: {detail}")
            if phase == "after kill" and name != args.killed_target:
                if not rs:
                    failures.append(f"no request reached {name} after the kill")
                if len(ok) != len(rs):
                    after = f"more than {args.failover:.0f} s after the kill" if name in args.balancer else "after the kill"
                    failures.append(f"{name}: {len(rs) - len(ok)} of {len(rs)} requests {after} not answered 200")
            if phase == "before kill" and not ok:
                failures.append(f"{name} answered no analysis before the kill")
            if phase == "all" and len(ok) != len(rs):
                failures.append(f"{name}: {len(rs) - len(ok)} requests not answered 200")

    answered = [r for r in records if r[3] == 200]
    # Every analysis answered 200 is in the shared database.
    stored = set(subprocess.run(
        ["psql", "-X", "-q", "-tA", args.database_url, "-c", "SELECT analysis_id FROM analyses"],
        check=True, capture_output=True, text=True).stdout.split())
    missing = [r[4] for r in answered if r[4] not in stored]
    print(f"analyses answered 200: {len(answered)}; in the shared database: {len(answered) - len(missing)}; missing: {len(missing)}")
    if missing:
        failures.append(f"{len(missing)} analyses answered 200 are not stored, e.g. {missing[:3]}")
    # What the killed replica answered is served by the survivor.
    if args.killed_target:
        theirs = [r[4] for r in answered if r[0] == args.killed_target]
        conns = Connections(timeout=60)
        unreadable = []
        for analysis_id in theirs:
            try:
                status, _ = conns.request(args.read_url, "GET", f"/api/v1/analyses/{analysis_id}", headers)
            except (OSError, http.client.HTTPException) as e:
                status = f"{type(e).__name__}: {e}"
            if status != 200:
                unreadable.append((analysis_id, status))
        print(f"analyses answered by {args.killed_target} read back through {args.read_url}: {len(theirs) - len(unreadable)} of {len(theirs)}")
        if unreadable:
            failures.append(f"{len(unreadable)} analyses of {args.killed_target} unreadable, e.g. {unreadable[:3]}")
    if args.kill_pid and kill is None:
        failures.append("the replica was never killed (run shorter than --kill-after)")

    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
