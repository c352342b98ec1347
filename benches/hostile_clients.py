#!/usr/bin/env python3
"""The hostile-client attacks of issue 13 against a real `clickday serve`,
measured from the victim's side, for a before/after comparison of two
builds in the same run:

  python3 benches/hostile_clients.py --bin target/debug/clickday [--new-keys]

F2  one address (127.0.0.2) opens 100 connections to the gateway and
    sends nothing — raw TCP, then TLS with the handshake done;
    `max_connections = 100`. Measured: how long a victim on
    127.0.0.1 takes to get `GET /healthz` over a new TLS connection, and
    how many of the silent connections are still open 12 s later.
F5  `ulimit -n 400`; ten addresses open 380 silent connections to the
    portal. Measured: the victim's `GET /healthz` on the gateway, a
    visitor's `GET /` on the portal, and "Too many open files" in the log.

--new-keys adds the keys that only builds with the hostile-client work
know (`max_connections_per_ip = 20` for F2); without it the configuration
is the one an older build accepts.
"""
import argparse, os, socket, ssl, subprocess, sys, tempfile, time, http.client

sys.path.insert(0, os.path.dirname(__file__))
from benchkit import free_port, wait_port  # noqa: E402


def silent(source, port, n):
    conns = []
    for _ in range(n):
        s = socket.socket()
        s.bind((source, 0))
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        conns.append(s)
    return conns


def silent_tls(source, port, n):
    """Connections that finish the TLS handshake (HTTP/1.1), then say nothing."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    conns = []
    for s in silent(source, port, n):
        try:
            conns.append(ctx.wrap_socket(s, server_hostname="localhost"))
        except OSError:
            s.close()
    return conns


def still_open(conns):
    alive = 0
    for s in conns:
        s.setblocking(False)
        try:
            data = s.recv(1)
            if data:
                alive += 1
        except (BlockingIOError, ssl.SSLWantReadError):
            alive += 1
        except OSError:
            pass
    return alive


def timed(fn, limit=30):
    start = time.time()
    try:
        fn(limit)
        return f"{(time.time() - start) * 1000:.0f} ms"
    except Exception as e:  # the victim failed: say how, and when
        return f"failed after {time.time() - start:.1f} s ({type(e).__name__})"


def https_get(port, path):
    def go(limit):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c = http.client.HTTPSConnection("127.0.0.1", port, timeout=limit, context=ctx)
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        assert r.status == 200, r.status
    return go


def http_get(port, path):
    def go(limit):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=limit)
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        assert r.status == 200, r.status
    return go


def serve(binary, work, config_text, nofile=None):
    config = os.path.join(work, "clickday.toml")
    open(config, "w").write(config_text)
    log = open(os.path.join(work, "serve.log"), "w")
    cmd = [binary, "serve", "--config", config]
    if nofile:
        cmd = ["sh", "-c", f'ulimit -n {nofile} && exec "$0" "$@"'] + cmd
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env=dict(os.environ, RUST_LOG="warn"))
    return proc, os.path.join(work, "serve.log")


def base_config(work, port, pport, extra_gateway="", extra_portal=""):
    return f"""data_dir = "{work}/data"
[gateway]
listen = "127.0.0.1:{port}"
http3 = false
{extra_gateway}
[portal]
listen = "127.0.0.1:{pport}"
public_url = "http://127.0.0.1:{pport}"
{extra_portal}
"""


def f2(binary, new_keys, tls):
    with tempfile.TemporaryDirectory() as work:
        port, pport = free_port(), free_port()
        extra = "max_connections = 100\n" + ("max_connections_per_ip = 20\n" if new_keys else "")
        proc, _ = serve(binary, work, base_config(work, port, pport, extra))
        try:
            wait_port(port)
            time.sleep(1)
            attack = (silent_tls if tls else silent)("127.0.0.2", port, 100)
            time.sleep(1)
            victim = timed(https_get(port, "/healthz"))
            time.sleep(12)
            what = "TLS-handshaken" if tls else "TCP"
            print(f"F2  100 silent {what} connections from one address (max_connections 100): victim GET /healthz {victim}; "
                  f"silent connections still open after 13 s: {still_open(attack)}/{len(attack)}")
        finally:
            proc.kill()
            proc.wait()


def f5(binary, new_keys):
    with tempfile.TemporaryDirectory() as work:
        port, pport = free_port(), free_port()
        proc, log = serve(binary, work, base_config(work, port, pport), nofile=400)
        try:
            wait_port(port)
            wait_port(pport)
            time.sleep(1)
            flood = []
            for host in range(2, 12):
                flood += silent(f"127.0.0.{host}", pport, 38)
            time.sleep(1)
            gateway = timed(https_get(port, "/healthz"))
            portal = timed(http_get(pport, "/"))
            emfile = open(log).read().count("Too many open files")
            print(f"F5  ulimit -n 400, {len(flood)} silent portal connections: gateway GET /healthz {gateway}; "
                  f"portal GET / {portal}; 'Too many open files' in the log: {emfile}")
        finally:
            proc.kill()
            proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--new-keys", action="store_true")
    a = ap.parse_args()
    print(f"== {a.bin}")
    f2(a.bin, a.new_keys, tls=False)
    f2(a.bin, a.new_keys, tls=True)
    f5(a.bin, a.new_keys)


if __name__ == "__main__":
    main()
