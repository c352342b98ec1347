//! A private `redis-server` with AOF `appendfsync always`, killable and
//! restartable on the same port and directory; and a private Redis Cluster
//! of such servers (see [`RedisCluster`]).

use crate::{free_port, wait_until};
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

pub struct RedisServer {
    port: u16,
    dir: TempDir,
    /// Settings beyond the common ones (cluster mode), kept for restarts.
    extra: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> Self {
        Self::start_with(free_port(), Vec::new())
    }

    fn start_with(port: u16, extra: Vec<String>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = RedisServer {
            port,
            dir,
            extra,
            child: None,
        };
        server.spawn();
        server
    }

    /// A replica of `primary`, started once the primary sees it in sync
    /// (so `WAIT 1` there can succeed).
    pub fn replica_of(primary: &RedisServer) -> Self {
        let replica = Self::start_with(
            free_port(),
            vec![
                "--replicaof".into(),
                "127.0.0.1".into(),
                primary.port.to_string(),
            ],
        );
        wait_until("the replica to be in sync", Duration::from_secs(20), || {
            primary.info("replication").contains("state=online")
        });
        replica
    }

    /// `INFO section`, as text.
    pub fn info(&self, section: &str) -> String {
        cli(self.port, &["INFO", section])
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", &self.dir.path().display().to_string()])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .args(["--logfile", "redis.log"])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (.ci/run installs it)");
        self.child = Some(child);
        let port = self.port;
        wait_until(
            "redis-server to answer PING",
            Duration::from_secs(20),
            || ping(port),
        );
    }

    /// SIGKILL: no shutdown, no final fsync beyond what AOF already did.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP: the server holds its connections and answers nothing, as a
    /// Redis stalled on a slow disk does, until [`RedisServer::resume`].
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT after [`RedisServer::pause`].
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status()
                .expect("kill(1)");
            assert!(status.success(), "kill {signal} redis-server");
        }
    }

    /// Starts again from the same directory, replaying the AOF.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    // "-LOADING" while the AOF replays; only "+PONG" means ready.
    matches!(stream.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A private Redis Cluster on loopback: 3 primaries, each with a replica,
/// AOF always, a short `cluster-node-timeout` so a dead primary's replica
/// takes over in seconds. Node `i` of [`RedisCluster::nodes`] may be killed
/// and restarted like a lone [`RedisServer`].
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

/// Milliseconds before the cluster calls a silent node failed.
const NODE_TIMEOUT_MS: u32 = 1_000;

impl RedisCluster {
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..6)
            .map(|_| {
                let (port, bus) = (free_port(), free_port());
                RedisServer::start_with(
                    port,
                    [
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        &NODE_TIMEOUT_MS.to_string(),
                        "--cluster-port",
                        &bus.to_string(),
                    ]
                    .map(String::from)
                    .to_vec(),
                )
            })
            .collect();
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for node in &nodes {
            create.arg(format!("127.0.0.1:{}", node.port));
        }
        let out = create
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli must be installed with redis-server");
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = RedisCluster { nodes };
        cluster.wait_healthy();
        cluster
    }

    /// `redis+cluster://` with every node as a seed.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis+cluster://{}", seeds.join(","))
    }

    pub fn nodes(&mut self) -> &mut [RedisServer] {
        &mut self.nodes
    }

    /// Empties every primary (replicas follow).
    pub fn flush(&mut self) {
        for node in self.live() {
            if cli(node.port, &["ROLE"]).starts_with("master") {
                cli(node.port, &["FLUSHALL"]);
            }
        }
    }

    /// Waits until every live node sees all slots served and every primary
    /// has a replica in sync (so `WAIT 1` can succeed): connected is not
    /// enough, a replica still loading its first copy acknowledges nothing.
    pub fn wait_healthy(&self) {
        wait_until(
            "the Redis Cluster to be healthy",
            Duration::from_secs(60),
            || {
                let live: Vec<&RedisServer> = self.live().collect();
                live.iter()
                    .all(|n| cli(n.port, &["CLUSTER", "INFO"]).contains("cluster_state:ok"))
                    && live
                        .iter()
                        .filter(|n| cli(n.port, &["ROLE"]).starts_with("master"))
                        .all(|n| {
                            let replication = cli(n.port, &["INFO", "replication"]);
                            replication.contains("connected_slaves:1")
                                && replication.contains("state=online")
                        })
            },
        );
    }

    fn live(&self) -> impl Iterator<Item = &RedisServer> {
        self.nodes.iter().filter(|n| n.child.is_some())
    }

    /// The index of the node serving `key` as primary, as the cluster sees
    /// it now.
    pub fn primary_of(&self, key: &str) -> usize {
        let asker = self.live().next().expect("a live node");
        let slot: u32 = cli(asker.port, &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .expect("CLUSTER KEYSLOT answers a number");
        let table = cli(asker.port, &["CLUSTER", "NODES"]);
        for line in table.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let serves = fields.iter().skip(8).any(|range| {
                let mut ends = range.split('-').map(|e| e.parse::<u32>());
                match (ends.next(), ends.next()) {
                    (Some(Ok(a)), Some(Ok(b))) => (a..=b).contains(&slot),
                    (Some(Ok(a)), None) => a == slot,
                    _ => false,
                }
            });
            if serves && fields.get(2).is_some_and(|f| f.contains("master")) {
                let port: u16 = fields[1]
                    .split(['@', ':'])
                    .nth(1)
                    .and_then(|p| p.parse().ok())
                    .expect("node address host:port@bus");
                return self
                    .nodes
                    .iter()
                    .position(|n| n.port == port)
                    .expect("a node of this cluster");
            }
        }
        panic!("no primary serves slot {slot} of {key}:\n{table}");
    }

    /// Moves `key`'s slot to another primary the way `redis-cli --cluster
    /// reshard` does — IMPORTING/MIGRATING, the keys `MIGRATE`d one at a
    /// time, then the new owner announced to every primary — so clients
    /// meet `ASK`, `TRYAGAIN` and `MOVED` on the way. Returns the new
    /// owner's index.
    pub fn move_slot_of(&self, key: &str) -> usize {
        let from = self.primary_of(key);
        let port = self.nodes[from].port;
        let slot = cli(port, &["CLUSTER", "KEYSLOT", key]).trim().to_string();
        let to = self
            .live()
            .position(|n| n.port != port && cli(n.port, &["ROLE"]).starts_with("master"))
            .expect("another primary");
        let to_port = self.nodes[to].port;
        let id = |p: u16| cli(p, &["CLUSTER", "MYID"]).trim().to_string();
        let (from_id, to_id) = (id(port), id(to_port));
        let ok = |out: String, what: &str| assert!(out.starts_with("OK"), "{what}: {out}");
        ok(
            cli(
                to_port,
                &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from_id],
            ),
            "IMPORTING",
        );
        ok(
            cli(port, &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to_id]),
            "MIGRATING",
        );
        loop {
            let keys = cli(port, &["CLUSTER", "GETKEYSINSLOT", &slot, "1"]);
            let Some(next) = keys.lines().next().filter(|k| !k.is_empty()) else {
                break;
            };
            let moved = cli(
                port,
                &[
                    "MIGRATE",
                    "127.0.0.1",
                    &to_port.to_string(),
                    next,
                    "0",
                    "5000",
                ],
            );
            assert!(
                moved.starts_with("OK") || moved.starts_with("NOKEY"),
                "MIGRATE {next}: {moved}"
            );
            // Clients get a moment between keys: half the slot here, half there.
            std::thread::sleep(Duration::from_millis(50));
        }
        for node in self.live() {
            if cli(node.port, &["ROLE"]).starts_with("master") {
                ok(
                    cli(node.port, &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id]),
                    "SETSLOT NODE",
                );
            }
        }
        to
    }

    /// Waits until `key`'s slot is served by a live primary other than
    /// node `dead` (the replica was promoted) and the cluster is ok again.
    pub fn wait_for_failover(&self, key: &str, dead: usize) {
        wait_until(
            "a replica to take over the dead primary's slots",
            Duration::from_secs(60),
            || {
                let live: Vec<&RedisServer> = self.live().collect();
                live.iter()
                    .all(|n| cli(n.port, &["CLUSTER", "INFO"]).contains("cluster_state:ok"))
                    && self.primary_of(key) != dead
            },
        );
    }
}

/// One `redis-cli` command against the node on `port`: its output, empty
/// when the node does not answer.
fn cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-p", &port.to_string(), "--raw"])
        .args(args)
        .stderr(Stdio::null())
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default()
}
