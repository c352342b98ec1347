#!/usr/bin/env python3
"""HTTP/3 against HTTP/2 on one gateway, in the same run.

Starts `clickday gateway` (embedded SQLite inbox, TLS, HTTP/3 on) and, in
alternating rounds so that the machine's noise falls on both protocols:

1. accepted submissions per second and latency: a closed-model run
   (`connections x streams` senders, each sending when its last answer
   came) of fresh applications over each protocol, with the gateway's CPU
   time per accepted submission;
2. connection set-up rate on loopback: `clickday-loadgen handshakes` (new
   connection, TLS or QUIC handshake, one GET /v1/time, close, again), where
   round trips cost nothing and CPU decides;
3. the same through `delay-proxy` (loadgen's example) adding `--rtt-ms`
   of round trip, as on an office or mobile line, where round trips decide:
   TCP + TLS 1.3 + a request take three, QUIC + a request two.

Prints medians over the rounds and the HTTP/3 / HTTP/2 ratios. Loadgen and
the gateway share the machine's cores, as in the other gateway benchmarks.

    python3 benches/http3_vs_http2.py [--rounds 3] [--accounts 10000] [--rtt-ms 40]
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchkit import free_port, gateway_config, import_accounts, wait_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")
TICK = os.sysconf("SC_CLK_TCK")
PROTOCOLS = ["h2", "h3"]


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def loadgen(*args):
    out = subprocess.run([f"{BIN}/clickday-loadgen", *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"loadgen {args[0]} failed: {out.stderr[-2000:]}")
    return out.stdout


def submissions(url, ca, proto, seed, accounts, per_account, pid, out):
    before = cpu_seconds(pid)
    loadgen("closed", "--target", url, "--ca", ca, "--protocol", proto, "--connections", "64",
            "--streams", "16", "--seed", str(seed), "--accounts", str(accounts),
            "--per-account", str(per_account), "--out", out, "--quiet")
    cpu = cpu_seconds(pid) - before
    r = json.load(open(out))
    t = r["totals"]
    if t["gave_up"] or t["refused"]:
        sys.exit(f"{proto}: {t['gave_up']} given up, {t['refused']} refused")
    return {
        "accepted_per_s": t["acknowledged_per_second"],
        "p50_ms": r["latency"]["p50_us"] / 1000,
        "p99_ms": r["latency"]["p99_us"] / 1000,
        "cpu_us_per_accepted": cpu / max(t["accepted"], 1) * 1e6,
        "resends": sum(r["resends"].values()) if isinstance(r["resends"], dict) else r["resends"],
    }


def handshakes(url, ca, proto, seconds, out):
    loadgen("handshakes", "--target", url, "--ca", ca, "--protocol", proto,
            "--concurrency", "32", "--duration", f"{seconds}s", "--out", out)
    r = json.load(open(out))
    if r["failed"]:
        sys.exit(f"{proto}: {r['failed']} set-ups failed: {r['last_error']}")
    return {"per_s": r["per_second"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"]}


def median(rows, key):
    return statistics.median(r[key] for r in rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--accounts", type=int, default=10000)
    ap.add_argument("--per-account", type=int, default=2)
    ap.add_argument("--handshake-seconds", type=int, default=10)
    ap.add_argument("--rtt-ms", type=int, default=40)
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "clickday", "-p", "clickday-loadgen",
                    "--example", "delay-proxy"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="h3-vs-h2-")
    gw = proxy = None
    try:
        port = free_port()
        config = gateway_config(work, port)
        env = dict(os.environ, RUST_LOG="warn")
        seeds = {(proto, i): 1000 + 10 * i + n for i in range(a.rounds) for n, proto in enumerate(PROTOCOLS)}
        for seed in seeds.values():
            import_accounts(BIN, config, work, seed, a.accounts, env)
        gw = subprocess.Popen([f"{BIN}/clickday", "gateway", "--config", config], env=env,
                              stderr=subprocess.DEVNULL)
        wait_port(port)
        time.sleep(1)
        url, ca = f"https://localhost:{port}", os.path.join(work, "tls", "cert.pem")
        proxy_port = free_port()
        proxy = subprocess.Popen([f"{BIN}/examples/delay-proxy", f"127.0.0.1:{proxy_port}",
                                  f"127.0.0.1:{port}", str(a.rtt_ms // 2)])
        wait_port(proxy_port)
        far = f"https://localhost:{proxy_port}"
        sent, setup, setup_far = ({p: [] for p in PROTOCOLS} for _ in range(3))
        for i in range(a.rounds):
            for proto in PROTOCOLS:
                r = submissions(url, ca, proto, seeds[(proto, i)], a.accounts, a.per_account, gw.pid,
                                os.path.join(work, f"s-{proto}-{i}.json"))
                sent[proto].append(r)
                print(f"  round {i + 1} {proto}: accepted {r['accepted_per_s']:8.0f}/s, p50 {r['p50_ms']:7.2f} ms, "
                      f"p99 {r['p99_ms']:7.2f} ms, gateway CPU {r['cpu_us_per_accepted']:6.1f} µs/accepted",
                      flush=True)
            for proto in PROTOCOLS:
                h = handshakes(url, ca, proto, a.handshake_seconds, os.path.join(work, f"h-{proto}-{i}.json"))
                setup[proto].append(h)
                print(f"  round {i + 1} {proto}: {h['per_s']:8.0f} new connections/s, set-up p50 {h['p50_ms']:6.2f} ms, "
                      f"p99 {h['p99_ms']:6.2f} ms", flush=True)
            for proto in PROTOCOLS:
                h = handshakes(far, ca, proto, a.handshake_seconds, os.path.join(work, f"f-{proto}-{i}.json"))
                setup_far[proto].append(h)
                print(f"  round {i + 1} {proto} over {a.rtt_ms} ms RTT: {h['per_s']:6.0f} new connections/s, "
                      f"set-up p50 {h['p50_ms']:6.2f} ms, p99 {h['p99_ms']:6.2f} ms", flush=True)
        print(f"medians of {a.rounds} rounds, {a.accounts * a.per_account} submissions per run, "
              f"64 connections x 16 streams; handshakes with 32 workers:")
        for proto in PROTOCOLS:
            print(f"  {proto}: accepted {median(sent[proto], 'accepted_per_s'):.0f}/s, "
                  f"p99 {median(sent[proto], 'p99_ms'):.2f} ms, "
                  f"gateway CPU {median(sent[proto], 'cpu_us_per_accepted'):.1f} µs/accepted; "
                  f"set-up {median(setup[proto], 'per_s'):.0f}/s, p99 {median(setup[proto], 'p99_ms'):.2f} ms; "
                  f"over {a.rtt_ms} ms RTT {median(setup_far[proto], 'per_s'):.0f}/s, "
                  f"p50 {median(setup_far[proto], 'p50_ms'):.1f} ms")
        accepted = median(sent["h3"], "accepted_per_s") / median(sent["h2"], "accepted_per_s")
        p99 = median(sent["h3"], "p99_ms") / median(sent["h2"], "p99_ms")
        set_up = median(setup["h3"], "per_s") / median(setup["h2"], "per_s")
        set_up_far = median(setup_far["h3"], "per_s") / median(setup_far["h2"], "per_s")
        print(f"HTTP/3 / HTTP/2: accepted rate {accepted:.2f} (target >= 0.5), p99 {p99:.2f}, "
              f"set-up rate {set_up:.2f} on loopback and {set_up_far:.2f} over {a.rtt_ms} ms RTT (target > 1)")
    finally:
        for p in (proxy, gw):
            if p:
                p.terminate()
                p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
