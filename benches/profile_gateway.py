#!/usr/bin/env python3
"""Profiles `clickday gateway` under a steady load, for the hot path's top
entries: Redis (AOF appendfsync always), TLS HTTP/2 from loadgen (64
connections x 64 streams) at an open-model rate, `perf record -g` on the
gateway for 8 s in the middle of the run.

    python3 benches/profile_gateway.py [--rate 4000] [--out /tmp/perf.data]
    perf report -i /tmp/perf.data --no-children --sort symbol -g none

Needs the release binaries (`cargo build --release -p clickday -p
clickday-loadgen --bins`) and `perf` (apt-get install linux-perf).
"""
import argparse, os, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchkit import free_port, gateway_config, import_accounts, redis_server, wait_port  # noqa: E402

BIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "target", "release")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=4000)
    ap.add_argument("--out", default="/tmp/perf.data")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="profile-")
    procs = []
    try:
        redis, queue_url = redis_server(work)
        procs.append(redis)
        port = free_port()
        config = gateway_config(work, port, f'[queue]\nurl = "{queue_url}"\n')
        env = dict(os.environ, RUST_LOG="warn")
        import_accounts(BIN, config, work, 100, 20000, env)
        gw = subprocess.Popen([f"{BIN}/clickday", "gateway", "--config", config], env=env,
                              stderr=subprocess.DEVNULL)
        procs.append(gw)
        wait_port(port)
        time.sleep(1)
        load = subprocess.Popen(
            [f"{BIN}/clickday-loadgen", "rate", "--target", f"https://localhost:{port}",
             "--ca", f"{work}/tls/cert.pem", "--protocol", "h2", "--connections", "64", "--streams", "64",
             "--seed", "100", "--accounts", "20000", "--rate", str(a.rate), "--duration", "16s",
             "--in", "3s", "--out", f"{work}/report.json", "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(7)
        subprocess.run(["perf", "record", "-F", "499", "-g", "-p", str(gw.pid), "-o", a.out,
                        "--", "sleep", "8"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        load.wait()
        print(f"profile of the gateway at {a.rate}/s in {a.out}")
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
