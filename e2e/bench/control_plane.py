#!/usr/bin/env python3
"""control_plane.py - what relay heartbeats and tunnel binds cost the control plane and its
PostgreSQL, for the capacity figures in installers/CAPACITY.md. Loopback only, bounded.

    e2e/bench/control_plane.py PG_ADMIN_URL [--relays 50] [--heartbeats 2000] [--binds 300]

Starts `fdt-cloud serve` ($FDT_CLOUD, default the release build in /var/tmp/fdt-target) on a
new database of the PostgreSQL server at PG_ADMIN_URL (dropped at the end), then, from
--concurrency client threads (default 8):

- heartbeats: --relays relays each send heartbeats in turn (load figures, no reports), as a
  fleet does every `heartbeat_secs`;
- token exchanges: agents trade their authtokens for relay tokens and relay lists, as each
  does when it (re)connects;
- binds: free accounts (3 online tunnels each) bind tunnels on those relays, as agents'
  relays ask before binding a name.

For each it prints requests per second, latency p50/p99, and per request: database
transactions, rows written (inserted + updated + deleted) and blocks read and hit, from
pg_stat_database before and after. Standard library only.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

RELAY_SECRET = "bench-relay-secret-0123456789"


def http(method, url, body=None, token=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def psql(url, sql):
    out = subprocess.run(
        ["psql", url, "-XAtc", sql], check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def db_stats(admin_url, db):
    row = psql(
        admin_url,
        "SELECT xact_commit + xact_rollback, tup_inserted + tup_updated + tup_deleted, "
        f"blks_read, blks_hit FROM pg_stat_database WHERE datname = '{db}'",
    )
    return [int(x) for x in row.split("|")]


def run_phase(name, jobs, concurrency, admin_url, db):
    """Runs the callables in `jobs` from `concurrency` threads; returns a result row."""
    # A backend reports its counts to pg_stat_database at most once a second while busy and
    # within 10 s of going idle (PostgreSQL 15): wait for the last phase's to land.
    time.sleep(11)
    before = db_stats(admin_url, db)
    latencies, failures, lock = [], [], threading.Lock()
    it = iter(jobs)

    def worker():
        while True:
            with lock:
                job = next(it, None)
            if job is None:
                return
            t = time.perf_counter()
            ok, what = job()
            dt = time.perf_counter() - t
            with lock:
                latencies.append(dt)
                if not ok:
                    failures.append(what)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    time.sleep(11)
    after = db_stats(admin_url, db)
    n = len(latencies)
    if failures:
        print(f"{name}: {len(failures)} of {n} failed, first: {failures[0]}", file=sys.stderr)
        sys.exit(1)
    q = statistics.quantiles(latencies, n=100)
    d = [a - b for a, b in zip(after, before)]
    return (
        f"| {name} | {n} | {n / wall:.0f} | {q[49] * 1000:.1f} | {q[98] * 1000:.1f} | "
        f"{d[0] / n:.2f} | {d[1] / n:.2f} | {d[2] / n:.2f} | {d[3] / n:.1f} |"
    )


def main():
    p = argparse.ArgumentParser()
    p.add_argument("pg_admin_url")
    p.add_argument("--relays", type=int, default=50)
    p.add_argument("--heartbeats", type=int, default=2000)
    p.add_argument("--binds", type=int, default=300)
    p.add_argument("--concurrency", type=int, default=8)
    a = p.parse_args()
    cloud_bin = os.environ.get("FDT_CLOUD", "/var/tmp/fdt-target/release/fdt-cloud")
    db = f"fdt_bench_{os.getpid()}"
    psql(a.pg_admin_url, f"CREATE DATABASE {db}")
    parts = urllib.parse.urlsplit(a.pg_admin_url)
    db_url = urllib.parse.urlunsplit(parts._replace(path=f"/{db}"))
    work = tempfile.mkdtemp(prefix="fdt-cp-bench-")
    cloud = None
    try:
        config = (
            f'database_url = "{db_url}"\ndata_dir = "{work}/data"\n'
            f'relay_secrets = ["{RELAY_SECRET}"]\n\n'
            "[auth.argon2]\nmemory_kib = 8\niterations = 1\nparallelism = 1\n\n"
            "[auth.register_limit]\nmax_per_ip = 100000\n\n"
            # The relays stay healthy between the phases without background heartbeats,
            # whose database work would be counted against the other operations.
            "[fleet]\nunhealthy_after_secs = 3600\n"
        )
        with open(f"{work}/cloud.toml", "w") as f:
            f.write(config)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FDT_")}
        env["RUST_LOG"] = "warn"
        cloud = subprocess.Popen(
            [cloud_bin, "--config", f"{work}/cloud.toml", "serve", "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=open(f"{work}/cloud.log", "w"),
            text=True,
            env=env,
        )
        base = None
        deadline = time.time() + 60
        while time.time() < deadline:
            line = cloud.stdout.readline()
            if line.startswith("fdt-cloud listening on "):
                base = line.split()[-1].strip()
                break
            if not line and cloud.poll() is not None:
                break
        if not base:
            sys.exit(f"fdt-cloud did not start; log in {work}/cloud.log")

        relays = [f"bench-{i}" for i in range(a.relays)]
        seqs = {r: 0 for r in relays}
        seq_lock = threading.Lock()

        def heartbeat(relay):
            def job():
                with seq_lock:
                    seqs[relay] += 1
                    seq = seqs[relay]
                hb = {
                    "relay_id": relay,
                    "boot_id": f"boot-{relay}",
                    "seq": seq,
                    "region": "eu",
                    "agent_addr": "127.0.0.1:7000",
                    "server_name": "localhost",
                    "version": "0.1.0",
                    "capacity": 10000,
                    "weight": 100,
                    "draining": False,
                    "load": {"sessions": seq % 50, "tunnels": seq % 70, "connections": seq % 90},
                    "ended": [],
                    "usage": [],
                    "replay_results": [],
                }
                s, body = http("POST", f"{base}/v1/relay/heartbeat", hb, RELAY_SECRET)
                return s == 200, f"{s} {body[:200]!r}"

            return job

        # Every relay registers first (its first heartbeat).
        for r in relays:
            ok, what = heartbeat(r)()
            if not ok:
                sys.exit(f"registering {r}: {what}")
        rows = [
            run_phase(
                "heartbeat",
                [heartbeat(relays[i % len(relays)]) for i in range(a.heartbeats)],
                a.concurrency,
                a.pg_admin_url,
                db,
            )
        ]

        accounts, authtokens = [], []
        for i in range((a.binds + 2) // 3):
            email = f"bench{i}@example.com"
            s, _ = http("POST", f"{base}/v1/auth/register", {"email": email, "password": "bench-password-1"})
            s2, body = http("POST", f"{base}/v1/auth/login", {"email": email, "password": "bench-password-1"})
            if s2 != 200:
                sys.exit(f"login {email}: {s} {s2} {body[:200]!r}")
            token = json.loads(body)["access_token"]
            s3, body = http("GET", f"{base}/v1/auth/me", token=token)
            accounts.append(json.loads(body)["id"])
            s4, body = http("POST", f"{base}/v1/authtokens", {"description": "bench"}, token)
            if s4 != 201:
                sys.exit(f"authtoken {email}: {s4} {body[:200]!r}")
            authtokens.append(json.loads(body)["token"])

        def exchange(i):
            def job():
                s, body = http(
                    "POST",
                    f"{base}/v1/agent/sessions",
                    {"region": "eu", "agent_version": "0.1.0"},
                    authtokens[i % len(authtokens)],
                )
                return s == 200, f"{s} {body[:200]!r}"

            return job

        rows.append(
            run_phase(
                "token exchange",
                [exchange(i) for i in range(a.binds)],
                a.concurrency,
                a.pg_admin_url,
                db,
            )
        )

        def bind(i):
            def job():
                relay = relays[i % len(relays)]
                sub = f"b{i}"
                req = {
                    "relay_id": relay,
                    "boot_id": f"boot-{relay}",
                    "account_id": accounts[i // 3],
                    "proto": "http",
                    "subdomain": sub,
                    "public_url": f"http://{sub}.localhost",
                    "agent_version": "0.1.0",
                }
                s, body = http("POST", f"{base}/v1/relay/bindings", req, RELAY_SECRET)
                return s in (200, 201), f"{s} {body[:200]!r}"

            return job

        rows.append(
            run_phase("bind", [bind(i) for i in range(a.binds)], a.concurrency, a.pg_admin_url, db)
        )
        print(
            f"fdt-cloud on PostgreSQL, {a.relays} relays, {a.concurrency} client threads, "
            f"{os.cpu_count()} CPUs (client, cloud and database on one machine)\n"
        )
        print("| operation | n | per s | p50 ms | p99 ms | transactions each | rows written each | blocks read each | blocks hit each |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(r)
    finally:
        if cloud:
            cloud.kill()
            cloud.wait()
        psql(a.pg_admin_url, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
