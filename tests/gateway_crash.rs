//! The real `clickday gateway` process killed with SIGKILL while clients are
//! sending: after a restart every acknowledged submission is in the queue
//! exactly once with its original stamp, and resends get it back.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use clickday_queue::{Queue, RedisQueue, SqliteInbox};
use clickday_testkit::{Applicant, Client, Proto, RedisServer, free_port};
use common::{clickday, import_applicants, wait_ready};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const APPLICANTS: u64 = 40;
const PER_APPLICANT: usize = 30;

fn write_config(dir: &Path, port: u16, queue_url: Option<&str>) -> std::path::PathBuf {
    let queue = queue_url
        .map(|u| format!("[queue]\nurl = \"{u}\"\nshards = 2\n"))
        .unwrap_or_default();
    let text = format!(
        r#"node_id = 7
data_dir = "{dir}"
[gateway]
listen = "127.0.0.1:{port}"
key_refresh_interval_ms = 200
# The killed gateway's claim on node 7 lapses soon: the restart waits less.
node_lease_ms = 1000
[gateway.rate_limit]
per_ip_per_second = 0
{queue}
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

fn spawn_gateway(config: &Path) -> Child {
    clickday(config, &["gateway"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// (account, application) → (submission id, received_at) as acknowledged.
type Acks = HashMap<(String, String), (String, String)>;

async fn kill_mid_burst_then_audit(redis: Option<&RedisServer>) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port, redis.map(|r| r.url()).as_deref());
    assert!(
        import_applicants(&config, APPLICANTS).contains(&format!("imported {APPLICANTS} keys"))
    );

    let mut gateway = spawn_gateway(&config);
    let cert_path = dir.path().join("tls/cert.pem");
    let ca = wait_ready(port, &cert_path).await;
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();

    // Every applicant sends its applications one after another over its own
    // HTTP/2 connection; the kill lands somewhere in the middle.
    let acked = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for n in 1..=APPLICANTS {
        let (ca, acked) = (ca.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let applicant = Applicant::new(n);
            let mut acks = Acks::new();
            let Ok(mut c) = Client::connect(addr, Proto::Http2, Some(&ca)).await else {
                return acks;
            };
            for i in 0..PER_APPLICANT {
                let app = format!("app-{i}");
                let Ok(reply) = c
                    .submit(&applicant, &clickday_testkit::signer::body(&app, "cd"))
                    .await
                else {
                    break;
                };
                assert!(
                    reply.status == 202,
                    "unexpected {}: {:?}",
                    reply.status,
                    reply.body
                );
                let j = reply.json();
                acks.insert(
                    (applicant.account_id.clone(), app),
                    (
                        j["submission_id"].as_str().unwrap().into(),
                        j["received_at"].as_str().unwrap().into(),
                    ),
                );
                acked.fetch_add(1, Ordering::SeqCst);
            }
            acks
        }));
    }
    let total = APPLICANTS as usize * PER_APPLICANT;
    while acked.load(Ordering::SeqCst) < total / 3 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    gateway.kill().unwrap(); // SIGKILL
    gateway.wait().unwrap();
    let mut acks = Acks::new();
    for task in tasks {
        acks.extend(task.await.unwrap());
    }
    assert!(
        acks.len() >= total / 3 && acks.len() < total,
        "the kill landed mid-burst: {} of {total}",
        acks.len()
    );

    let mut gateway = spawn_gateway(&config);
    let ca = wait_ready(port, &cert_path).await;
    let queue: Arc<dyn Queue> = match redis {
        Some(r) => Arc::new(RedisQueue::connect(&r.url(), 2, 1, 64).await.unwrap()),
        None => Arc::new(
            SqliteInbox::open(&dir.path().join("queue.db"), 8)
                .await
                .unwrap(),
        ),
    };
    let mut stored: HashMap<(String, String), Vec<(String, u64)>> = HashMap::new();
    for shard in 0..queue.shards() {
        for r in queue.all_submissions(shard).await.unwrap() {
            let received_at = r.received_at();
            stored
                .entry((r.account_id, r.application.application_id))
                .or_default()
                .push((r.submission_id, received_at));
        }
    }
    for (key, (id, at)) in &acks {
        let entries = stored
            .get(key)
            .unwrap_or_else(|| panic!("acknowledged {key:?} was lost"));
        assert_eq!(entries.len(), 1, "{key:?} stored once");
        assert_eq!(&entries[0].0, id);
        assert_eq!(clickday_core::time::format_rfc3339_nanos(entries[0].1), *at);
    }
    // Resends after the restart get the original id and stamp back.
    let mut c = Client::connect(addr, Proto::Http1, Some(&ca))
        .await
        .unwrap();
    for ((account, app), (id, at)) in acks.iter().take(20) {
        let n: u64 = account.trim_start_matches("acct-").parse().unwrap();
        let reply = c
            .submit(
                &Applicant::new(n),
                &clickday_testkit::signer::body(app, "cd"),
            )
            .await
            .unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(
            (
                reply.json()["submission_id"].as_str().unwrap(),
                reply.json()["received_at"].as_str().unwrap()
            ),
            (id.as_str(), at.as_str())
        );
    }
    gateway.kill().unwrap();
    gateway.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_sigkill_on_sqlite_loses_nothing_acknowledged() {
    kill_mid_burst_then_audit(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_sigkill_on_redis_loses_nothing_acknowledged() {
    let redis = RedisServer::start();
    kill_mid_burst_then_audit(Some(&redis)).await;
}
