//! The edge: signed submissions over HTTP/1.1 and HTTP/2 with TLS, and
//! HTTP/3 over QUIC, all through one request handler.
//!
//! A request flows `http` (routing, body limits) → `submit` (the checks of
//! PROTOCOL.md in order: rate limit, key, signature, body, calendar) →
//! `enqueue` (durable in the queue) → answer. Everything runs in-process
//! behind [`start`], so tests bind port 0 and drive it for real.

mod admission;
mod enqueue;
mod http;
mod ledger;
mod limits;
mod linger;
pub mod metrics;
mod metrics_server;
mod node;
mod proxy;
mod quic;
pub mod ratelimit;
mod server;
mod submit;
mod tickets;
pub mod tls;
pub mod verify;

pub use metrics_server::serve_metrics;
pub use server::Running;

use clickday_config::Config;
use clickday_core::{Calendar, Stamper};
use clickday_queue::Queue;
use clickday_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// TLS material is missing or invalid.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The HTTP/3 endpoint could not be configured.
    #[error("HTTP/3: {0}")]
    Quic(String),
    /// The queue could not be reached at start.
    #[error(transparent)]
    Queue(#[from] clickday_queue::QueueError),
    /// Another live gateway holds this node id.
    #[error(
        "node_id {node} is held by another live gateway ({holder}): give each gateway its own node_id"
    )]
    NodeTaken { node: u16, holder: String },
    /// The admission-ticket secrets could not be read or made.
    #[error("ticket key {}: {reason}", path.display())]
    TicketKey {
        path: std::path::PathBuf,
        reason: String,
    },
}

/// Everything a request handler needs, shared by all connections.
pub struct Gateway {
    /// Click days, categories and provinces: checks 7 and 8.
    calendar: Calendar,
    /// Registered keys, kept fresh by a background task: check 3.
    keys: Arc<verify::KeyRegistry>,
    /// Per-IP and per-key token buckets: checks 1 and 4.
    limiters: ratelimit::Limiters,
    /// Strictly increasing arrival stamps of this node.
    stamper: Stamper,
    /// Where accepted submissions are made durable.
    queue: Arc<dyn Queue>,
    clock: clickday_core::Clock,
    pub metrics: metrics::Metrics,
    body_limit: usize,
    body_read_timeout: Duration,
    enqueue_timeout: Duration,
    /// Room for stamped submissions, in bytes; past it, 503 with a ticket.
    admission: admission::Admission,
    /// Bodies in reading per client address; past it, 503 before the body.
    unread: admission::UnreadBodies,
    /// The deployment's admission-ticket secrets: check 5 and 503s.
    tickets: clickday_core::TicketKeys,
    /// How long after its click day closes a ticket is honoured.
    ticket_valid_after_close: Duration,
    /// Where the arrival ledger is read from, when this gateway serves it.
    ledger: Option<Arc<dyn clickday_store::Ledger>>,
    /// Bounds the ledger's store reads in progress (all addresses).
    ledger_reads: tokio::sync::Semaphore,
}

impl Gateway {
    /// Builds the shared state. The stamper starts above the highest stamp
    /// this node ever queued, so a clock that went back across a restart
    /// cannot repeat a submission id.
    pub async fn new(
        cfg: &Config,
        queue: Arc<dyn Queue>,
        clock: clickday_core::Clock,
    ) -> Result<Self, GatewayError> {
        let floor = queue.last_stamp(cfg.node_id).await?;
        Ok(Gateway {
            calendar: cfg.calendar.clone(),
            keys: Arc::new(verify::KeyRegistry::default()),
            limiters: ratelimit::Limiters::new(cfg.gateway.per_ip_limit, cfg.gateway.per_key_limit),
            stamper: Stamper::new(cfg.node_id, floor),
            queue,
            clock,
            metrics: metrics::Metrics::default(),
            body_limit: cfg.gateway.body_limit,
            body_read_timeout: cfg.gateway.body_read_timeout,
            enqueue_timeout: cfg.gateway.enqueue_timeout,
            admission: admission::Admission::new(
                cfg.gateway.admission_buffer_bytes,
                cfg.gateway.admission_max_held,
                cfg.gateway.retry_after_secs,
            ),
            unread: admission::UnreadBodies::new(cfg.gateway.max_unread_bodies_per_ip),
            tickets: tickets::load_or_create(&cfg.gateway.ticket_key_file)?,
            ticket_valid_after_close: cfg.gateway.ticket_valid_after_close,
            ledger: None,
            ledger_reads: tokio::sync::Semaphore::new(ledger::MAX_CONCURRENT_READS),
        })
    }

    /// Serves the arrival ledger under `/v1/ledger/` from `store`.
    pub fn serving_ledger(mut self, store: Arc<dyn clickday_store::Ledger>) -> Self {
        self.ledger = Some(store);
        self
    }

    pub fn keys(&self) -> &Arc<verify::KeyRegistry> {
        &self.keys
    }

    pub fn limiters(&self) -> &ratelimit::Limiters {
        &self.limiters
    }
}

/// Starts the gateway: loads keys, binds the listener, serves until
/// `shutdown`, then drains in-flight requests within the grace period.
pub async fn start(
    cfg: &Config,
    queue: Arc<dyn Queue>,
    store: Arc<dyn Store>,
    clock: clickday_core::Clock,
    shutdown: CancellationToken,
) -> Result<Running, GatewayError> {
    // Claimed before anything is stamped; kept while serving, released
    // once the last in-flight request has drained.
    let claim =
        Arc::new(node::NodeClaim::take(queue.clone(), cfg.node_id, cfg.gateway.node_lease).await?);
    let gateway = Arc::new(
        Gateway::new(cfg, queue, clock)
            .await?
            .serving_ledger(store.clone()),
    );
    let running = match server::start(cfg, gateway.clone(), store, shutdown.clone()).await {
        Ok(running) => running,
        Err(e) => {
            claim.release().await;
            return Err(e);
        }
    };
    tokio::spawn(claim.clone().keep(shutdown.clone()));
    if let Some(bound) = cfg.gateway.clock_offset_warn {
        tokio::spawn(node::watch_clock(gateway, bound, shutdown));
    }
    Ok(running.then(async move { claim.release().await }))
}
