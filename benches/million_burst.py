#!/usr/bin/env python3
"""A burst of 1,000,000 submissions from 200,000 accounts, on the
production path (private Redis with AOF appendfsync always, private
PostgreSQL), gateway + persister in one `clickday serve`, loadgen on the
same 2-core machine over HTTP/2 with TLS.

Targets (issue 4): all acknowledged (with resends) within 90 s of the
instant, all stored within 3 minutes, receipts for all within 10 minutes,
the audit reports 0 lost and 0 duplicated. Prints each figure and its
ratio to the target.

    python3 benches/million_burst.py [--accounts 200000] [--per-account 5]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchkit import free_port, postgres, psql, redis_server, wait_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=200_000)
    ap.add_argument("--per-account", type=int, default=5)
    ap.add_argument("--connections", type=int, default=10_000)
    ap.add_argument("--streams", type=int, default=10)
    ap.add_argument("--lead", type=int, default=75, help="seconds from start to the instant")
    ap.add_argument("--receipts-wait", type=int, default=900,
                    help="seconds after the instant to wait for every receipt (0: stop once stored)")
    a = ap.parse_args()
    total = a.accounts * a.per_account
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "clickday", "-p", "clickday-loadgen"],
                   cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="million-")
    os.chmod(work, 0o755)
    stops = []
    try:
        redis, queue_url = redis_server(work)
        stops.append(redis.terminate)
        pport, pg_stop = postgres(work)
        stops.append(pg_stop)
        store = f"postgres://postgres@127.0.0.1:{pport}/postgres"
        port = free_port()
        t0 = time.time() + a.lead
        at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(t0))) + "Z"
        t0 = float(int(t0))
        config = os.path.join(work, "clickday.toml")
        open(config, "w").write(f"""data_dir = "{work}/data"
[gateway]
listen = "127.0.0.1:{port}"
# Every simulated client comes from 127.0.0.1.
max_connections_per_ip = 1000000
max_unread_bodies_per_ip = 1000000
[gateway.rate_limit]
per_ip_per_second = 0
[queue]
url = "{queue_url}"
shards = 2
[store]
url = "{store}"
[[click_days]]
id = "million"
opens_at = "{at}"
closes_at = "2100-01-01T00:00:00Z"
categories = ["lavoro-subordinato", "lavoro-domestico", "lavoro-stagionale"]
""")
        env = dict(os.environ, RUST_LOG="warn")
        accounts = os.path.join(work, "accounts.jsonl")
        subprocess.run([f"{BIN}/clickday-loadgen", "accounts", "--seed", "1000000", "--accounts",
                        str(a.accounts), "--out", accounts], check=True)
        subprocess.run([f"{BIN}/clickday", "accounts", "import", accounts, "--config", config], check=True, env=env)
        serve = subprocess.Popen([f"{BIN}/clickday", "serve", "--config", config], env=env,
                                 stderr=open(os.path.join(work, "serve.log"), "w"))
        stops.insert(0, lambda: (serve.terminate(), serve.wait()))
        wait_port(port)
        report = os.path.join(work, "million.json")
        print(f"burst of {total:,} from {a.accounts:,} accounts at {at}", flush=True)
        lg = subprocess.run([f"{BIN}/clickday-loadgen", "burst", "--quiet", "--target", f"https://localhost:{port}",
                             "--ca", f"{work}/data/tls/cert.pem", "--seed", "1000000", "--accounts", str(a.accounts),
                             "--per-account", str(a.per_account), "--connections", str(a.connections),
                             "--streams", str(a.streams), "--at", at, "--timeout", "30s", "--max-attempts", "100",
                             "--out", report, "--html", os.path.join(work, "million.html")],
                            capture_output=True, text=True)
        print(lg.stdout, lg.stderr[-1500:] if lg.returncode else "", flush=True)
        r = json.load(open(report))
        acked_s = r["totals"]["duration_seconds"]
        print(f"acknowledged {r['totals']['acknowledged']:,} of {total:,} in {acked_s:.1f} s "
              f"(target 90 s: ratio {acked_s / 90:.2f})", flush=True)
        stored_at = receipts_at = None
        while time.time() - t0 < (a.receipts_wait or 900):
            stored = int(psql(pport, "SELECT count(*) FROM submissions") or 0)
            receipts = int(psql(pport, "SELECT count(*) FROM receipts") or 0)
            if stored_at is None and stored >= r["totals"]["accepted"]:
                stored_at = time.time() - t0
                print(f"all {stored:,} stored {stored_at:.0f} s after the instant "
                      f"(target 180 s: ratio {stored_at / 180:.2f})", flush=True)
                if not a.receipts_wait:
                    break
            if receipts >= r["totals"]["accepted"]:
                receipts_at = time.time() - t0
                print(f"all receipts made {receipts_at:.0f} s after the instant "
                      f"(target 600 s: ratio {receipts_at / 600:.2f})", flush=True)
                break
            time.sleep(2)
        if receipts_at is None:
            print(f"receipts: {receipts:,} of {r['totals']['accepted']:,} after {time.time() - t0:.0f} s; "
                  f"stored {stored:,}")
        audit = subprocess.run([f"{BIN}/clickday-loadgen", "audit", "--report", report, "--store", store],
                               capture_output=True, text=True)
        print(audit.stdout.strip(), audit.stderr.strip()[-500:], flush=True)
        if "--keep" in sys.argv:
            print("kept", work)
    finally:
        for stop in stops:
            try:
                stop()
            except Exception:
                pass
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
