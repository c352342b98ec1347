//! Starts a real in-process gateway on 127.0.0.1:0 with TLS, a temporary
//! SQLite store holding test applicants, a chosen queue backend and a wall
//! clock the test sets.

#![allow(dead_code, unused_macros, unused_imports, clippy::unwrap_used)] // each test file uses a part

use clickday_config::Config;
use clickday_core::Clock;
use clickday_core::PublicKey;
use clickday_core::Submission;
use clickday_core::time::parse_rfc3339;
use clickday_gateway::Running;
use clickday_queue::{MemoryQueue, Queue, RedisQueue, SqliteInbox};
use clickday_store::{NewAccount, SqliteStore, Store};
use clickday_testkit::{Applicant, Client, Proto, RedisServer};
use rustls::pki_types::CertificateDer;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

pub const DAY: &str = "2011-01-31";

/// One template, three protocols: a module `$name` holding one test per
/// protocol (`h1`, `h2`, `h3`), each running the same body, given as a
/// closure from the protocol to the test's future.
macro_rules! over_every_protocol {
    ($name:ident => $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn h1() {
                ($body)(clickday_testkit::Proto::Http1).await;
            }

            #[tokio::test]
            async fn h2() {
                ($body)(clickday_testkit::Proto::Http2).await;
            }

            #[tokio::test]
            async fn h3() {
                ($body)(clickday_testkit::Proto::Http3).await;
            }
        }
    };
}
pub(crate) use over_every_protocol;

/// 51 ms after the opening of the test click day.
pub fn open_instant() -> u64 {
    parse_rfc3339("2011-01-31T08:00:00.051+01:00").unwrap()
}

pub fn config(dir: &std::path::Path, extra: &str) -> String {
    format!(
        r#"
node_id = 3
data_dir = "{dir}"
[gateway]
listen = "127.0.0.1:0"
key_refresh_interval_ms = 100
shutdown_grace_ms = 2000
{extra}
[[click_days]]
id = "{DAY}"
opens_at = "2011-01-31T08:00:00+01:00"
closes_at = "2011-01-31T20:00:00+01:00"
categories = ["lavoro-subordinato", "lavoro-domestico"]
"#,
        dir = dir.display()
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Sqlite,
    Redis,
}

pub struct TestGateway {
    pub running: Option<Running>,
    pub queue: Arc<dyn Queue>,
    pub store: Arc<dyn Store>,
    pub ca: CertificateDer<'static>,
    pub now: Arc<AtomicU64>,
    pub shutdown: CancellationToken,
    pub dir: TempDir,
    pub redis: Option<RedisServer>,
    pub cfg: Config,
    backend: Backend,
}

/// Registers applicants 1..=n in the store.
pub async fn register(store: &dyn Store, range: std::ops::RangeInclusive<u64>) {
    let accounts: Vec<NewAccount> = range
        .map(|n| {
            let a = Applicant::new(n);
            NewAccount {
                account_id: a.account_id.clone(),
                email: a.email.clone(),
                public_key: PublicKey::from_base64(&a.public_key_b64()).unwrap(),
            }
        })
        .collect();
    store.import_accounts(&accounts).await.unwrap();
}

impl TestGateway {
    pub async fn start(backend: Backend, extra_config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let redis = (backend == Backend::Redis).then(RedisServer::start);
        let mut extra = extra_config.to_string();
        if let Some(redis) = &redis {
            extra = format!("{extra}\n[queue]\nurl = \"{}\"\nshards = 2", redis.url());
        }
        let cfg = Config::from_toml(&config(dir.path(), &extra), std::iter::empty(), 0).unwrap();
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&dir.path().join("store.db"))
                .await
                .unwrap(),
        );
        register(&*store, 1..=20).await;
        let queue = open_queue(backend, &cfg).await;
        let now = Arc::new(AtomicU64::new(open_instant()));
        let mut gw = TestGateway {
            running: None,
            queue,
            store,
            ca: CertificateDer::from(Vec::new()),
            now,
            shutdown: CancellationToken::new(),
            dir,
            redis,
            cfg,
            backend,
        };
        gw.boot().await;
        gw
    }

    async fn boot(&mut self) {
        let now = self.now.clone();
        let clock: Clock = Arc::new(move || now.load(Ordering::SeqCst));
        self.shutdown = CancellationToken::new();
        let running = clickday_gateway::start(
            &self.cfg,
            self.queue.clone(),
            self.store.clone(),
            clock,
            self.shutdown.clone(),
        )
        .await
        .unwrap();
        let cert = running.cert_path.clone().unwrap();
        self.ca = clickday_gateway::tls::read_certificate(&cert).unwrap();
        self.running = Some(running);
        // Ready means keys are loaded: wait for it like a load balancer would.
        let mut client = self.operator_client().await;
        clickday_testkit::eventually("the gateway ready", Duration::from_secs(10), async || {
            (client.get("/readyz").await.ok()?.status == 200).then_some(())
        })
        .await;
    }

    /// A connection as the operator's probes make it: behind a balancer
    /// (`proxy_protocol`), the balancer's own, with a `LOCAL` PROXY header.
    async fn operator_client(&self) -> Client {
        let mut tcp = tokio::net::TcpStream::connect(self.addr()).await.unwrap();
        if self.cfg.gateway.proxy_protocol {
            use ppp::v2::{AddressFamily, Builder, Command, Protocol, Version};
            use tokio::io::AsyncWriteExt as _;
            let local = Builder::new(
                Version::Two | Command::Local,
                AddressFamily::Unspecified | Protocol::Unspecified,
            )
            .build()
            .unwrap();
            tcp.write_all(&local).await.unwrap();
        }
        Client::over_tcp(tcp, self.addr(), Proto::Http1, Some(&self.ca))
            .await
            .unwrap()
    }

    /// The gateway's `/metrics` text.
    pub async fn metrics(&self) -> String {
        let reply = self.operator_client().await.get("/metrics").await.unwrap();
        assert_eq!(reply.status, 200);
        String::from_utf8(reply.body.to_vec()).unwrap()
    }

    /// Waits until `requests_in_flight` is `n`: a request is being handled
    /// (e.g. its body is still arriving).
    pub async fn wait_in_flight(&self, n: u64) {
        clickday_testkit::eventually("requests in flight", Duration::from_secs(10), async || {
            let metrics = self.metrics().await;
            let now = clickday_testkit::client::counter(
                &metrics,
                "clickday_gateway_requests_in_flight",
                "",
            );
            (now == n).then_some(())
        })
        .await;
    }

    /// Stops the gateway (drain) and starts a new one on the same data,
    /// reopening the queue as a new process would.
    pub async fn restart(&mut self) {
        self.shutdown.cancel();
        if let Some(running) = self.running.take() {
            running.wait().await;
        }
        if self.backend != Backend::Memory {
            self.queue = open_queue(self.backend, &self.cfg).await;
        }
        self.boot().await;
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.running.as_ref().unwrap().local_addr
    }

    pub async fn client(&self, proto: Proto) -> Client {
        self.try_client(proto).await.unwrap()
    }

    pub async fn try_client(&self, proto: Proto) -> anyhow::Result<Client> {
        Client::connect(self.addr(), proto, Some(&self.ca)).await
    }

    pub fn set_now(&self, rfc3339: &str) {
        self.now
            .store(parse_rfc3339(rfc3339).unwrap(), Ordering::SeqCst);
    }

    pub async fn records(&self) -> Vec<Submission> {
        let mut out = Vec::new();
        for shard in 0..self.queue.shards() {
            out.extend(self.queue.all_submissions(shard).await.unwrap());
        }
        out
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn open_queue(backend: Backend, cfg: &Config) -> Arc<dyn Queue> {
    match (backend, &cfg.queue.url) {
        (Backend::Memory, _) => Arc::new(MemoryQueue::new()),
        (Backend::Sqlite, clickday_config::QueueUrl::Sqlite(path)) => {
            Arc::new(SqliteInbox::open(path, 64).await.unwrap())
        }
        (Backend::Redis, clickday_config::QueueUrl::Redis(url)) => Arc::new(
            RedisQueue::connect(url, cfg.queue.shards, 2, cfg.queue.redis_max_batch)
                .await
                .unwrap(),
        ),
        other => panic!("backend and config disagree: {other:?}"),
    }
}

pub fn body(application_id: &str) -> Vec<u8> {
    clickday_testkit::signer::body(application_id, DAY)
}
