"""Helpers shared by the benchmark scripts: free ports, waiting for a
process to listen, private Redis (single or cluster) and PostgreSQL, a
gateway configuration and accounts for it."""
import glob, os, shutil, socket, subprocess, sys, time


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


def redis_cluster(work, primaries=3, replicas=1, node_timeout_ms=1000):
    """A private Redis Cluster in `work/redis-N`: `primaries` primaries with
    `replicas` replicas each, AOF always. Returns (nodes, redis+cluster://
    URL); each node is a dict with its port, dir and process, and
    `start_node(node)` brings a killed one back."""
    nodes = []
    for i in range((1 + replicas) * primaries):
        d = os.path.join(work, f"redis-{i}")
        os.makedirs(d)
        node = {"port": free_port(), "bus": free_port(), "dir": d}
        start_node(node, node_timeout_ms)
        nodes.append(node)
    subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{n['port']}" for n in nodes],
                    "--cluster-replicas", str(replicas), "--cluster-yes"], check=True, capture_output=True)
    wait_cluster_ok(nodes)
    return nodes, "redis+cluster://" + ",".join(f"127.0.0.1:{n['port']}" for n in nodes)


def start_node(node, node_timeout_ms=1000):
    node["proc"] = subprocess.Popen(
        ["redis-server", "--port", str(node["port"]), "--cluster-port", str(node["bus"]), "--dir", node["dir"],
         "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
         "--cluster-node-timeout", str(node_timeout_ms), "--appendonly", "yes", "--appendfsync", "always",
         "--save", "", "--daemonize", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(node["port"])


def redis_cli(port, *args):
    out = subprocess.run(["redis-cli", "-p", str(port), "--raw", *args], capture_output=True, text=True)
    return out.stdout


def wait_cluster_ok(nodes, limit=60):
    start = time.time()
    while time.time() - start < limit:
        live = [n for n in nodes if n["proc"].poll() is None]
        if all("cluster_state:ok" in redis_cli(n["port"], "CLUSTER", "INFO") for n in live):
            return
        time.sleep(0.1)
    sys.exit("the Redis Cluster did not become ok")


def primary_of(nodes, key):
    """The node serving `key`'s slot as primary, as a live node sees it."""
    asker = next(n for n in nodes if n["proc"].poll() is None)
    slot = int(redis_cli(asker["port"], "CLUSTER", "KEYSLOT", key))
    for line in redis_cli(asker["port"], "CLUSTER", "NODES").splitlines():
        f = line.split()
        if "master" not in f[2] or "fail" in f[2]:
            continue
        for r in f[8:]:
            a, _, b = r.partition("-")
            if a.isdigit() and int(a) <= slot <= int(b or a):
                port = int(f[1].split("@")[0].split(":")[1])
                return next(n for n in nodes if n["port"] == port)
    return None


def as_postgres(args):
    return (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []) + args


def postgres(work):
    """A private PostgreSQL in `work/pg`: (port, stop)."""
    pg_bin = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1].rsplit("/", 1)[0]
    d = os.path.join(work, "pg")
    os.makedirs(d)
    if os.geteuid() == 0:
        shutil.chown(d, "postgres", "postgres")
    port = free_port()
    subprocess.run(as_postgres([f"{pg_bin}/initdb", "-D", f"{d}/data", "-U", "postgres", "-A", "trust",
                                "--no-sync", "-E", "UTF8"]), check=True, capture_output=True)
    opts = f"-p {port} -k {d} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200"
    subprocess.run(as_postgres([f"{pg_bin}/pg_ctl", "-D", f"{d}/data", "-l", f"{d}/log", "-o", opts, "-w",
                                "start"]), check=True, capture_output=True)
    return port, lambda: subprocess.run(as_postgres([f"{pg_bin}/pg_ctl", "-D", f"{d}/data", "-m", "immediate",
                                                     "stop"]), capture_output=True)


def psql(port, sql):
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "postgres",
                          "-tAc", sql], capture_output=True, text=True)
    return out.stdout.strip()


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
