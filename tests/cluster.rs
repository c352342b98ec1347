//! Beyond one machine: two real `clickday gateway` processes and two
//! `clickday persister` processes on a Redis Cluster (3 primaries, each
//! with a replica) and PostgreSQL. The primary owning a shard is SIGKILLed
//! in the middle of a burst with `replica_acks = 1`: its replica is
//! promoted, clients see 503s and resend, and afterwards every acknowledged
//! submission is stored exactly once with the stamp it was acknowledged
//! with; the persisters carry on against the new primary.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use clickday_store::RankingFilter;
use clickday_testkit::client::counter;
use clickday_testkit::{Applicant, Client, Postgres, Proto, RedisCluster, free_port};
use common::{KillOnDrop, clickday, import_applicants, wait_ready};
use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const APPLICANTS: u64 = 40;
const PER_APPLICANT: usize = 25;

fn write_config(dir: &Path, queue: &str, store: &str) -> std::path::PathBuf {
    let text = format!(
        r#"node_id = 1
data_dir = "{dir}"
[gateway]
key_refresh_interval_ms = 200
enqueue_timeout_ms = 3000
node_lease_ms = 1000
[gateway.rate_limit]
per_ip_per_second = 0
per_key_per_second = 0
[queue]
url = "{queue}"
shards = 4
replica_acks = 1
replica_ack_timeout_ms = 500
[store]
url = "{store}"
[persister]
batch_max = 100
claim_idle_ms = 1000
max_backoff_ms = 200
[[click_days]]
id = "cd"
opens_at = "2020-01-01T00:00:00Z"
closes_at = "2100-01-01T00:00:00Z"
categories = ["lavoro-domestico"]
"#,
        dir = dir.display()
    );
    let path = dir.join("clickday.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `clickday ROLE` as node `node` (gateways) listening on `port`.
fn spawn(config: &Path, role: &str, env: &[(&str, String)]) -> KillOnDrop {
    let mut cmd = clickday(config, &[role]);
    for (name, value) in env {
        cmd.env(name, value);
    }
    KillOnDrop(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// (account, application) → (submission id, received_at) as acknowledged.
type Acks = HashMap<(String, String), (String, String)>;

/// Sends every application of `applicant` through `gateway`, resending
/// each until it is acknowledged (on 503, and on a broken connection):
/// what the mini-client does. Returns its acks and the 503s it saw.
async fn send_all(
    applicant: Applicant,
    gateway: std::net::SocketAddr,
    ca: rustls::pki_types::CertificateDer<'static>,
    acked: Arc<AtomicUsize>,
) -> (Acks, usize) {
    let mut acks = Acks::new();
    let mut unavailable = 0;
    let mut client: Option<Client> = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    for i in 0..PER_APPLICANT {
        let app = format!("app-{i}");
        let body = clickday_testkit::signer::body(&app, "cd");
        loop {
            assert!(Instant::now() < deadline, "{app} never acknowledged");
            if client.is_none() {
                client = Client::connect(gateway, Proto::Http2, Some(&ca)).await.ok();
            }
            let Some(c) = client.as_mut() else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let reply = match c.submit(&applicant, &body).await {
                Ok(reply) => reply,
                Err(_) => {
                    client = None;
                    continue;
                }
            };
            match reply.status.as_u16() {
                200 | 202 => {
                    let j = reply.json();
                    acks.insert(
                        (applicant.account_id.clone(), app),
                        (
                            j["submission_id"].as_str().unwrap().into(),
                            j["received_at"].as_str().unwrap().into(),
                        ),
                    );
                    acked.fetch_add(1, Ordering::SeqCst);
                    break;
                }
                503 => {
                    unavailable += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => panic!("unexpected {other}: {:?}", reply.body),
            }
        }
    }
    (acks, unavailable)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_killed_mid_burst_through_two_gateways_loses_nothing_acknowledged() {
    let mut cluster = RedisCluster::start();
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &cluster.url(), &pg.url());
    import_applicants(&config, APPLICANTS);

    // Two gateways (nodes 1 and 2; the first makes the shared TLS pair and
    // ticket key), two persisters.
    let ports = [free_port(), free_port()];
    let cert = dir.path().join("tls/cert.pem");
    let mut gateways = Vec::new();
    let mut cas = Vec::new();
    for (node, port) in (1u16..).zip(ports) {
        gateways.push(spawn(
            &config,
            "gateway",
            &[
                ("CLICKDAY_NODE_ID", node.to_string()),
                ("CLICKDAY_GATEWAY__LISTEN", format!("127.0.0.1:{port}")),
            ],
        ));
        cas.push(wait_ready(port, &cert).await);
    }
    let persister_metrics = [free_port(), free_port()];
    let _persisters: Vec<KillOnDrop> = ["p1", "p2"]
        .iter()
        .zip(persister_metrics)
        .map(|(name, port)| {
            spawn(
                &config,
                "persister",
                &[
                    ("CLICKDAY_PERSISTER__CONSUMER", name.to_string()),
                    (
                        "CLICKDAY_PERSISTER__METRICS_LISTEN",
                        format!("127.0.0.1:{port}"),
                    ),
                ],
            )
        })
        .collect();

    // Applicants alternate between the gateways, as a balancer spreads them.
    let acked = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (1..=APPLICANTS)
        .map(|n| {
            let i = (n % 2) as usize;
            let gateway = ([127, 0, 0, 1], ports[i]).into();
            tokio::spawn(send_all(
                Applicant::new(n),
                gateway,
                cas[i].clone(),
                acked.clone(),
            ))
        })
        .collect();
    let total = APPLICANTS as usize * PER_APPLICANT;
    clickday_testkit::eventually(
        "a third acknowledged",
        Duration::from_secs(60),
        async || (acked.load(Ordering::SeqCst) >= total / 3).then_some(()),
    )
    .await;
    let shard_key = "{clickday:0}:stream";
    let victim = cluster.primary_of(shard_key);
    cluster.nodes()[victim].kill(); // SIGKILL, mid-burst
    let at_kill = acked.load(Ordering::SeqCst);
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.wait_for_failover(shard_key, victim);
        // Back as a replica of the promoted one: WAIT 1 can succeed again.
        cluster.nodes()[victim].restart();
        cluster.wait_healthy();
        cluster
    })
    .await
    .unwrap();
    let mut acks = Acks::new();
    let mut unavailable = 0;
    for task in tasks {
        let (some, refused) = task.await.unwrap();
        acks.extend(some);
        unavailable += refused;
    }
    assert!(
        at_kill < total,
        "the kill landed mid-burst ({at_kill} of {total})"
    );
    assert_eq!(
        acks.len(),
        total,
        "every application acknowledged in the end"
    );
    assert!(
        unavailable > 0,
        "clients saw 503s while the shard failed over"
    );
    eprintln!("{unavailable} answers 503 during the failover; killed at {at_kill} of {total}");

    // Every acknowledged submission stored exactly once, with its stamp.
    let store = clickday_store::open(&pg.url()).await.unwrap();
    let rows = clickday_testkit::eventually(
        "the persisters to store everything",
        Duration::from_secs(120),
        async || {
            let rows = store.ranking("cd", &RankingFilter::default()).await.ok()?;
            (rows.len() >= total).then_some(rows)
        },
    )
    .await;
    assert_eq!(rows.len(), total, "no application stored twice");
    let stored: HashMap<(String, String), (String, u64)> = rows
        .into_iter()
        .map(|r| {
            (
                (r.account_id, r.application_id),
                (r.submission_id, r.received_at),
            )
        })
        .collect();
    for (key, (id, at)) in &acks {
        let (stored_id, stored_at) = stored
            .get(key)
            .unwrap_or_else(|| panic!("acknowledged {key:?} was lost"));
        assert_eq!(stored_id, id, "{key:?}");
        assert_eq!(&clickday_core::time::format_rfc3339_nanos(*stored_at), at);
    }
    // Receipts for all, made by both persisters, and both stored rows.
    let per_persister = clickday_testkit::eventually(
        "receipts for every submission",
        Duration::from_secs(180),
        async || {
            let mut counts = Vec::new();
            for port in persister_metrics {
                let text = clickday_testkit::client::metrics(([127, 0, 0, 1], port).into(), None)
                    .await
                    .ok()?;
                counts.push((
                    counter(&text, "clickday_persister_stored_total", ""),
                    counter(&text, "clickday_persister_receipts_total", ""),
                ));
            }
            let receipts: u64 = counts.iter().map(|c| c.1).sum();
            (receipts >= total as u64).then_some(counts)
        },
    )
    .await;
    let stored_by_both: u64 = per_persister.iter().map(|c| c.0).sum();
    assert_eq!(
        stored_by_both, total as u64,
        "each row stored once: {per_persister:?}"
    );
    let made_by_both: u64 = per_persister.iter().map(|c| c.1).sum();
    assert_eq!(
        made_by_both, total as u64,
        "each receipt made once (leased jobs): {per_persister:?}"
    );
    assert!(
        per_persister
            .iter()
            .all(|(stored, receipts)| *stored > 0 && *receipts > 0),
        "both persisters stored rows and made receipts: {per_persister:?}"
    );
    eprintln!("(stored, receipts) per persister: {per_persister:?}");
    // One ranking of both gateways' stamps, by (received_at, node, seq):
    // ranked now, checked against the arrival ledger's leaves.
    let ranked = clickday(&config, &["rank", "cd"]).output().unwrap();
    assert!(
        ranked.status.success(),
        "{}",
        String::from_utf8_lossy(&ranked.stderr)
    );
    let verified = clickday(&config, &["ledger", "verify", "cd"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&verified.stdout);
    assert!(
        verified.status.success() && out.contains("ranking = sorted leaves"),
        "{out}{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    // Both gateways' stamps are in the one ranking.
    let nodes: std::collections::BTreeSet<&str> =
        acks.values().map(|(id, _)| &id[id.len() - 5..]).collect();
    assert_eq!(nodes.len(), 2, "stamps of both gateways: {nodes:?}");
    drop(gateways);
    drop(cluster);
}
