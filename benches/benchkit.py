"""Helpers shared by the benchmark scripts: free ports, waiting for a
process to listen, a gateway configuration and accounts for it."""
import os, socket, subprocess, sys, time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, limit=60):
    start = time.time()
    while time.time() - start < limit:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing listening on {port}")


def redis_server(work):
    """A private redis-server in `work`, durable as the gateway expects
    (AOF, fsync on every write): (process, redis:// URL) once it listens."""
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--dir", work, "--appendonly", "yes",
                             "--appendfsync", "always", "--save", "", "--daemonize", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, f"redis://127.0.0.1:{port}/0"


def gateway_config(work, port, extra=""):
    """A clickday.toml in `work`: TLS on 127.0.0.1:`port`, rate limits off."""
    config = os.path.join(work, "clickday.toml")
    with open(config, "w") as f:
        f.write(f"""data_dir = "{work}"
[gateway]
listen = "127.0.0.1:{port}"
# Every simulated client comes from 127.0.0.1.
max_connections_per_ip = 1000000
max_unread_bodies_per_ip = 1000000
[gateway.rate_limit]
per_ip_per_second = 0
per_key_per_second = 0
{extra}""")
    return config


def import_accounts(bin_dir, config, work, seed, accounts, env):
    """loadgen's accounts of `seed`, imported into the gateway's store."""
    accounts_file = os.path.join(work, f"accounts-{seed}.jsonl")
    subprocess.run([f"{bin_dir}/clickday-loadgen", "accounts", "--seed", str(seed), "--accounts", str(accounts),
                    "--out", accounts_file], check=True, capture_output=True)
    subprocess.run([f"{bin_dir}/clickday", "accounts", "import", accounts_file, "--config", config],
                   check=True, capture_output=True, env=env)
