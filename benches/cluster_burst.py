#!/usr/bin/env python3
"""Many gateways and persisters on a Redis Cluster, all on this machine
(issue 15). It proves the topology works and measures what a failover
costs; two cores shared by everything cannot show the topology's speed.

    python3 benches/cluster_burst.py [--accounts 20000] [--rate 1500] [--seconds 20] [--keep]

1. Throughput, same run: one burst of `--accounts` applications through
   1 gateway + 1 persister on a single Redis (AOF always), then through
   2 gateways + 2 persisters on a 3+3 Redis Cluster (AOF always,
   replica_acks = 1), loadgen spreading its connections over both
   (`--target` twice): acknowledged/s of each and their ratio.
2. Failover, with replica_acks = 1 and then 0: a steady `--rate` through
   both gateways for `--seconds`; a third of the way in, the primary owning
   shard 0 is SIGKILLed; once its replica has taken over it is started
   again (as systemd's Restart= would) and rejoins as a replica. Reported:
   the cluster's takeover time, the longest stretch in which fewer than
   half the offered submissions were acknowledged, the 503s, and the
   audit — acknowledged lost and duplicated.
"""
import argparse, json, os, re, shutil, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchkit import (free_port, postgres, primary_of, redis_cluster, redis_server, start_node,  # noqa: E402
                      wait_cluster_ok, wait_port)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")
SEED = 1500


def write_config(work, queue_url, store, replica_acks):
    config = os.path.join(work, "clickday.toml")
    with open(config, "w") as f:
        f.write(f"""data_dir = "{work}/data"
[gateway]
# Every simulated client comes from 127.0.0.1.
max_connections_per_ip = 1000000
max_unread_bodies_per_ip = 1000000
node_lease_ms = 2000
[gateway.rate_limit]
per_ip_per_second = 0
per_key_per_second = 0
[queue]
url = "{queue_url}"
shards = 4
replica_acks = {replica_acks}
replica_ack_timeout_ms = 500
[store]
url = "{store}"
[[click_days]]
id = "cluster"
opens_at = "2020-01-01T00:00:00Z"
closes_at = "2100-01-01T00:00:00Z"
categories = ["lavoro-subordinato", "lavoro-domestico"]
""")
    return config


class Deployment:
    """`gateways` gateway processes (node ids 1..) and `persisters`
    persister processes on one queue and one store."""

    def __init__(self, work, queue_url, replica_acks, gateways, persisters, accounts):
        self.work, self.stops = work, []
        self.pg_port, pg_stop = postgres(work)
        self.stops.append(pg_stop)
        self.store = f"postgres://postgres@127.0.0.1:{self.pg_port}/postgres"
        self.config = write_config(work, queue_url, self.store, replica_acks)
        self.env = dict(os.environ, RUST_LOG="warn")
        subprocess.run([f"{BIN}/clickday", "accounts", "import", accounts, "--config", self.config],
                       check=True, env=self.env, capture_output=True)
        self.ports = []
        for node in range(1, gateways + 1):
            port = free_port()
            self.spawn("gateway", f"gateway-{node}", CLICKDAY_NODE_ID=str(node),
                       CLICKDAY_GATEWAY__LISTEN=f"127.0.0.1:{port}")
            wait_port(port)
            self.ports.append(port)
        for n in range(1, persisters + 1):
            self.spawn("persister", f"persister-{n}", CLICKDAY_PERSISTER__CONSUMER=f"p{n}")

    def spawn(self, role, name, **env):
        proc = subprocess.Popen([f"{BIN}/clickday", role, "--config", self.config], env=dict(self.env, **env),
                                stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.work, f"{name}.log"), "w"))
        self.stops.insert(0, lambda: (proc.terminate(), proc.wait()))

    def loadgen(self, mode, name, *args):
        report = os.path.join(self.work, f"{name}.json")
        targets = [a for port in self.ports for a in ("--target", f"https://localhost:{port}")]
        lg = subprocess.run([f"{BIN}/clickday-loadgen", mode, "--quiet", *targets, "--ca",
                             f"{self.work}/data/tls/cert.pem", "--seed", str(SEED), "--timeout", "10s",
                             "--max-attempts", "200", "--out", report, *args], capture_output=True, text=True)
        if lg.returncode:
            sys.exit(f"loadgen failed: {lg.stderr[-1500:]}")
        return json.load(open(report)), report

    def audit(self, report):
        # The persisters may still be draining: the audit waits for what it needs.
        deadline = time.time() + 120
        while True:
            out = subprocess.run([f"{BIN}/clickday-loadgen", "audit", "--report", report, "--store", self.store],
                                 capture_output=True, text=True).stdout
            nums = {k: int(v) for k, v in re.findall(r"(lost|duplicated|mismatched) (\d+)", out)}
            if nums.get("lost", 1) == 0 or time.time() > deadline:
                return nums, out.strip()
            time.sleep(2)

    def stop(self):
        for stop in self.stops:
            try:
                stop()
            except Exception:
                pass


def throughput(a, accounts):
    rates = {}
    for name in ("single", "cluster"):
        work = tempfile.mkdtemp(prefix=f"cluster-{name}-")
        os.chmod(work, 0o755)
        redis_stops = []
        try:
            if name == "single":
                proc, url = redis_server(work)
                redis_stops.append(proc.terminate)
                d = Deployment(work, url, 0, 1, 1, accounts)
            else:
                nodes, url = redis_cluster(work)
                redis_stops += [n["proc"].terminate for n in nodes]
                d = Deployment(work, url, 1, 2, 2, accounts)
            r, report = d.loadgen("burst", f"burst-{name}", "--accounts", str(a.accounts), "--per-account", "1",
                                  "--connections", "400", "--streams", "8", "--in", "5s")
            t = r["totals"]
            rates[name] = t["acknowledged_per_second"]
            audit, _ = d.audit(report)
            print(f"{name:8} {len(d.ports)} gateway(s): {t['acknowledged']:,} acknowledged in "
                  f"{t['duration_seconds']:.1f} s = {t['acknowledged_per_second']:,.0f}/s; audit {audit}", flush=True)
            d.stop()
        finally:
            for stop in redis_stops:
                stop()
            if not a.keep:
                shutil.rmtree(work, ignore_errors=True)
    print(f"2 gateways on the cluster / 1 on a single Redis: {rates['cluster'] / rates['single']:.2f}", flush=True)


def failover(a, accounts, replica_acks):
    work = tempfile.mkdtemp(prefix=f"cluster-failover-{replica_acks}-")
    os.chmod(work, 0o755)
    nodes, url = redis_cluster(work)
    try:
        d = Deployment(work, url, replica_acks, 2, 2, accounts)
        victim = primary_of(nodes, "{clickday:0}:stream")
        kill_after = a.seconds / 3
        result = {}

        def chaos():
            time.sleep(5 + kill_after)  # loadgen starts 5 s after launch
            victim["proc"].kill()
            killed = time.time()
            while primary_of(nodes, "{clickday:0}:stream") in (None, victim):
                time.sleep(0.05)
            result["takeover"] = time.time() - killed
            start_node(victim)
            wait_cluster_ok(nodes)
            result["rejoined"] = time.time() - killed

        t = threading.Thread(target=chaos)
        t.start()
        r, report = d.loadgen("rate", f"failover-{replica_acks}", "--accounts", str(int(a.rate * a.seconds)),
                              "--rate", str(a.rate), "--duration", f"{a.seconds}s", "--connections", "200",
                              "--streams", "8", "--in", "5s")
        t.join()
        tl = r["timeline"]
        per_bucket = a.rate * tl["bucket_ms"] / 1000
        low = longest = 0
        for acked in tl["acknowledged"][: int(a.seconds * 1000 / tl["bucket_ms"])]:
            low = low + 1 if acked < per_bucket / 2 else 0
            longest = max(longest, low)
        audit, text = d.audit(report)
        resends = r["resends"]
        print(f"replica_acks = {replica_acks}: takeover {result.get('takeover', float('nan')):.1f} s, rejoined "
              f"{result.get('rejoined', float('nan')):.1f} s after the kill; longest stretch under half the "
              f"offered rate {longest * tl['bucket_ms'] / 1000:.1f} s; {r['totals']['acknowledged']:,} acknowledged; "
              f"resends {resends}; acknowledged lost {audit.get('lost')}, duplicated {audit.get('duplicated')}, "
              f"mismatched {audit.get('mismatched')}", flush=True)
        if audit.get("lost") or audit.get("duplicated"):
            print(text)
        d.stop()
    finally:
        for n in nodes:
            n["proc"].terminate()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=20_000, help="applications of the throughput burst")
    ap.add_argument("--rate", type=float, default=1_500, help="submissions/s offered during the failover")
    ap.add_argument("--seconds", type=int, default=20, help="length of each failover run")
    ap.add_argument("--keep", action="store_true", help="keep the working folders")
    ap.add_argument("--only", choices=["throughput", "failover"])
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "clickday", "-p", "clickday-loadgen"],
                   cwd=ROOT, check=True)
    pool = tempfile.mkdtemp(prefix="cluster-accounts-")
    accounts = os.path.join(pool, "accounts.jsonl")
    subprocess.run([f"{BIN}/clickday-loadgen", "accounts", "--seed", str(SEED), "--accounts",
                    str(max(a.accounts, int(a.rate * a.seconds))), "--out", accounts], check=True)
    try:
        if a.only != "failover":
            throughput(a, accounts)
        if a.only != "throughput":
            for replica_acks in (1, 0):
                failover(a, accounts, replica_acks)
    finally:
        shutil.rmtree(pool, ignore_errors=True)


if __name__ == "__main__":
    main()
