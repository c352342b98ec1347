#!/usr/bin/env python3
"""Gateway end to end, loadgen on the same 2-core machine.

For the queue backends Redis (private redis-server, AOF appendfsync always)
and the embedded SQLite inbox, runs `clickday gateway` over TLS (HTTP/2)
and steps an open-model rate up until p99 latency (from the intended send
instant) passes 20 ms or requests stop being acknowledged: the highest
sustained accepted rate. Measures the gateway's CPU time per accepted
submission and, in the same run, the plain hyper echo server's per request.

    python3 benches/gateway_e2e.py [--rates 4000,8000,...] [--seconds 10]
        [--backends redis,sqlite]   (redis:N sets queue.redis_max_batch = N)
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchkit import free_port, gateway_config, import_accounts, redis_server, wait_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def loadgen(*args):
    out = subprocess.run([f"{BIN}/clickday-loadgen", *args, "--quiet"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"loadgen failed: {out.stderr[-2000:]}")


def step(url, ca, seed, accounts, rate, seconds, pid, out):
    before = cpu_seconds(pid)
    loadgen("rate", "--target", url, "--ca", ca, "--protocol", "h2", "--connections", "64",
            "--streams", "64", "--seed", str(seed), "--accounts", str(accounts),
            "--rate", str(rate), "--duration", f"{seconds}s", "--in", "3s", "--out", out)
    cpu = cpu_seconds(pid) - before
    r = json.load(open(out))
    t = r["totals"]
    return {
        "rate": rate,
        "acknowledged_per_s": round(t["acknowledged_per_second"]),
        "accepted": t["accepted"],
        "refused": t["refused"],
        "gave_up": t["gave_up"],
        "late_sends": t["late_sends"],
        "p50_ms": r["latency"]["p50_us"] / 1000,
        "p99_ms": r["latency"]["p99_us"] / 1000,
        "cpu_us_per_accepted": round(cpu / max(t["accepted"], 1) * 1e6, 1),
        "resends": r["resends"],
    }


def gateway_run(backend, rates, seconds, accounts):
    # "redis:N" = Redis with queue.redis_max_batch = N (1: a script call
    # per submission), to compare batching in one run.
    kind, _, max_batch = backend.partition(":")
    work = tempfile.mkdtemp(prefix=f"gw-e2e-{kind}-")
    procs = []
    try:
        queue_url = f"sqlite://{work}/queue.db"
        if kind == "redis":
            redis, queue_url = redis_server(work)
            procs.append(redis)
        port = free_port()
        queue = f'[queue]\nurl = "{queue_url}"\nredis_connections = 4\n'
        if max_batch:
            queue += f"redis_max_batch = {max_batch}\n"
        config = gateway_config(work, port, queue)
        env = dict(os.environ, RUST_LOG="warn")
        for i, _ in enumerate(rates):
            import_accounts(BIN, config, work, 100 + i, accounts, env)
        gw = subprocess.Popen([f"{BIN}/clickday", "gateway", "--config", config], env=env,
                              stderr=subprocess.DEVNULL)
        procs.append(gw)
        wait_port(port)
        time.sleep(1)
        url, ca = f"https://localhost:{port}", os.path.join(work, "tls", "cert.pem")
        results = []
        for i, rate in enumerate(rates):
            r = step(url, ca, 100 + i, accounts, rate, seconds, gw.pid, os.path.join(work, f"r{i}.json"))
            results.append(r)
            ok = r["p99_ms"] <= 20 and r["gave_up"] == 0 and r["refused"] == 0
            print(f"  {backend:6} rate {rate:>6}/s: acknowledged {r['acknowledged_per_s']:>6}/s, "
                  f"p50 {r['p50_ms']:7.2f} ms, p99 {r['p99_ms']:8.2f} ms, late sends {r['late_sends']}, "
                  f"gateway CPU {r['cpu_us_per_accepted']} µs/accepted {'OK' if ok else 'over'}", flush=True)
            if not ok:
                break
        return results
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


def echo_cpu(seconds, tls, rate=10000):
    """The plain hyper echo server's CPU per request, over TLS like the
    gateway (its certificate and settings) or plain HTTP/2."""
    port = free_port()
    work = tempfile.mkdtemp(prefix="echo-")
    args = ["--tls", work] if tls else []
    echo = subprocess.Popen([f"{BIN}/examples/echo-server", f"127.0.0.1:{port}", *args], stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        out = os.path.join(work, "r.json")
        target = (["--target", f"https://localhost:{port}", "--ca", os.path.join(work, "tls", "cert.pem")] if tls
                  else ["--target", f"http://127.0.0.1:{port}"])
        before = cpu_seconds(echo.pid)
        loadgen("rate", *target, "--protocol", "h2", "--connections", "64",
                "--streams", "64", "--seed", "1", "--accounts", "1000", "--rate", str(rate),
                "--duration", f"{seconds}s", "--in", "2s", "--out", out)
        cpu = cpu_seconds(echo.pid) - before
        n = json.load(open(out))["totals"]["acknowledged"]
        shutil.rmtree(work, ignore_errors=True)
        return cpu / n * 1e6
    finally:
        echo.terminate()
        echo.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="4000,8000,12000,16000,20000,25000,30000")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--accounts", type=int, default=20000)
    ap.add_argument("--backends", default="redis,sqlite")
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "clickday", "-p", "clickday-loadgen", "--bins",
                    "--example", "echo-server"], cwd=ROOT, check=True)
    rates = [int(r) for r in a.rates.split(",")]
    plain = echo_cpu(a.seconds, tls=False)
    echo = echo_cpu(a.seconds, tls=True)
    print(f"plain hyper echo: {echo:.1f} µs CPU per request over TLS like the gateway "
          f"(the ratio below is to this), {plain:.1f} µs over plain HTTP/2")
    for backend in a.backends.split(","):
        results = gateway_run(backend, rates, a.seconds, a.accounts)
        good = [r for r in results if r["p99_ms"] <= 20 and r["gave_up"] == 0 and r["refused"] == 0]
        if good:
            best = good[-1]
            print(f"{backend}: highest sustained rate with p99 <= 20 ms: {best['acknowledged_per_s']}/s "
                  f"(ratio to the 25,000/s target: {best['acknowledged_per_s'] / 25000:.2f}); "
                  f"gateway CPU {best['cpu_us_per_accepted']} µs per accepted = "
                  f"{best['cpu_us_per_accepted'] / echo:.1f}x the echo's per request")
        else:
            print(f"{backend}: no step met p99 <= 20 ms")


if __name__ == "__main__":
    main()
