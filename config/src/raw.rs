//! The configuration file as written: every field documented and defaulted,
//! so an empty file is a working embedded setup.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawConfig {
    /// This node's id, unique among all gateways: it makes submission ids
    /// unique across gateways and breaks ranking ties.
    pub node_id: u16,
    /// Where embedded databases, the self-signed certificate and outboxes live.
    pub data_dir: PathBuf,
    pub gateway: GatewaySection,
    pub queue: QueueSection,
    pub store: StoreSection,
    /// Province codes accepted; default: every Italian province.
    pub provinces: Option<Vec<String>>,
    /// The click-day calendar; empty = one "demo" click day open for 24 h.
    pub click_days: Vec<ClickDaySection>,
    pub persister: PersisterSection,
    pub receipts: ReceiptsSection,
    pub ledger: LedgerSection,
    pub email: EmailSection,
    pub portal: PortalSection,
    /// The portal's application models; empty = the built-in three.
    pub application_models: Vec<clickday_forms::ApplicationModel>,
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            node_id: 1,
            data_dir: PathBuf::from("./clickday-data"),
            gateway: GatewaySection::default(),
            queue: QueueSection::default(),
            store: StoreSection::default(),
            provinces: None,
            click_days: Vec::new(),
            persister: PersisterSection::default(),
            receipts: ReceiptsSection::default(),
            ledger: LedgerSection::default(),
            email: EmailSection::default(),
            portal: PortalSection::default(),
            application_models: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewaySection {
    /// TCP address for HTTP/1.1 and HTTP/2 (the same port over UDP for HTTP/3).
    pub listen: SocketAddr,
    /// `false` serves plain HTTP: only for tests and behind a TLS terminator.
    pub tls: bool,
    /// HTTP/3 over QUIC on the same port number over UDP (needs `tls`).
    pub http3: bool,
    /// PEM certificate chain; with `tls_key`, or neither for a self-signed pair.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key matching `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Largest accepted body; bigger ones are cut off while reading (413).
    pub body_limit_bytes: usize,
    /// The whole body must arrive within this time, or the request gets 408.
    pub body_read_timeout_ms: u64,
    /// HTTP/1.1 request headers must arrive within this time.
    pub header_read_timeout_ms: u64,
    pub rate_limit: RateLimitSection,
    /// How often new and revoked keys are picked up from the store.
    pub key_refresh_interval_ms: u64,
    /// On shutdown, in-flight requests get this long to finish.
    pub shutdown_grace_ms: u64,
    /// Open connections per transport: TCP beyond it waits in the listen
    /// backlog, QUIC beyond it is refused.
    pub max_connections: usize,
    /// Open connections from one client address (an IPv6 /64), per
    /// transport; past it that address's new connections are closed at once.
    pub max_connections_per_ip: usize,
    /// From accept to the first request's headers, TLS handshake included.
    pub first_request_timeout_ms: u64,
    /// A connection with no request for this long is closed (HTTP/2 and
    /// HTTP/3 pings do not count).
    pub idle_timeout_ms: u64,
    /// TLS handshakes in progress at once; more wait (within
    /// `first_request_timeout_ms`) so a handshake storm cannot take the CPU
    /// established connections need.
    pub max_concurrent_handshakes: usize,
    /// HTTP/2 and HTTP/3 streams (concurrent requests) per connection.
    pub max_concurrent_streams: u32,
    /// With more QUIC handshakes than this in progress, a new client must
    /// first prove its address with a Retry (one more round trip); 0 = always.
    pub quic_retry_above_handshakes: usize,
    /// An enqueue that takes longer than this is answered 503.
    pub enqueue_timeout_ms: u64,
    /// `Retry-After` seconds sent with 503 `unavailable`.
    pub retry_after_secs: u64,
    /// Bytes of stamped submissions held at once (bodies plus 1 KiB each)
    /// while they are verified and made durable. Past it a submission is
    /// answered 503 with an admission ticket that keeps its stamp.
    pub admission_buffer_bytes: usize,
    /// Stamped submissions held at once, whatever their size: keep it
    /// within what the queue makes durable in `enqueue_timeout_ms`. Past
    /// it, 503 with an admission ticket.
    pub admission_max_held: usize,
    /// Bodies one client address may have in reading at once; more are
    /// answered 503 before their body (the only 503 without a ticket).
    pub max_unread_bodies_per_ip: usize,
    /// The deployment's admission-ticket secrets (PROTOCOL v1.1): one
    /// base64url 32-byte key per line, the current one first, earlier ones
    /// still accepted. Shared by every gateway of a deployment; default
    /// `<data_dir>/ticket-key`, generated on first start.
    pub ticket_key_file: Option<PathBuf>,
    /// Tickets are honoured until their click day's `closes_at` plus this
    /// many seconds; the persister ranks a click day only after that.
    pub ticket_valid_after_close_secs: u64,
    /// The claim on `node_id` in the queue lasts this long unless renewed
    /// (every third of it): a second live gateway with the same node id is
    /// refused; a killed one's claim lapses after this.
    pub node_lease_ms: u64,
    /// Warn when this gateway's clock is further than this from the
    /// queue server's (the common reference); 0 = never measured.
    pub clock_offset_warn_ms: u64,
    /// Every TCP connection starts with a PROXY protocol v2 header (from
    /// a layer-4 balancer) naming the real client, which per-address
    /// limits then count; a connection without one is refused.
    pub proxy_protocol: bool,
}

impl Default for GatewaySection {
    fn default() -> Self {
        GatewaySection {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            tls: true,
            http3: true,
            tls_cert: None,
            tls_key: None,
            body_limit_bytes: 64 * 1024,
            body_read_timeout_ms: 10_000,
            header_read_timeout_ms: 10_000,
            rate_limit: RateLimitSection::default(),
            key_refresh_interval_ms: 2_000,
            shutdown_grace_ms: 10_000,
            max_connections: 50_000,
            max_connections_per_ip: 1024,
            first_request_timeout_ms: 10_000,
            idle_timeout_ms: 120_000,
            max_concurrent_handshakes: 512,
            max_concurrent_streams: 256,
            quic_retry_above_handshakes: 1024,
            enqueue_timeout_ms: 5_000,
            retry_after_secs: 1,
            admission_buffer_bytes: 256 * 1024 * 1024,
            admission_max_held: 4096,
            max_unread_bodies_per_ip: 4096,
            ticket_key_file: None,
            ticket_valid_after_close_secs: 900,
            node_lease_ms: 5_000,
            clock_offset_warn_ms: 50,
            proxy_protocol: false,
        }
    }
}

/// Rates are per second with a burst allowance; a rate of 0 turns a limit off.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSection {
    /// Sustained requests per second from one client IP. Generous: offices
    /// and associations send from many PCs behind one address.
    pub per_ip_per_second: u32,
    pub per_ip_burst: u32,
    /// Sustained submissions per second under one key.
    pub per_key_per_second: u32,
    /// Burst under one key: an association sends all its applications at T0.
    pub per_key_burst: u32,
}

impl Default for RateLimitSection {
    fn default() -> Self {
        RateLimitSection {
            per_ip_per_second: 2_000,
            per_ip_burst: 10_000,
            per_key_per_second: 50,
            per_key_burst: 2_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueSection {
    /// `sqlite://PATH` (embedded inbox), `redis://HOST:PORT/DB` or
    /// `redis+cluster://HOST:PORT,HOST:PORT,…`;
    /// default: `sqlite://<data_dir>/queue.db`.
    pub url: Option<String>,
    /// Number of shards (`hash(account) mod shards`), each its own stream.
    pub shards: u16,
    /// Multiplexed Redis connections shared by all requests of a gateway.
    pub redis_connections: usize,
    /// Most submissions committed in one SQLite transaction (group commit).
    pub sqlite_max_batch: usize,
    /// Most submissions of a shard made durable in one Redis script call;
    /// 1 = a call per submission.
    pub redis_max_batch: usize,
    /// Redis replicas that must confirm each write (`WAIT`) before a 202;
    /// 0 = the primary's own AOF only.
    pub replica_acks: u32,
    /// How long a write waits for those replicas before it is a 503.
    pub replica_ack_timeout_ms: u64,
}

impl Default for QueueSection {
    fn default() -> Self {
        QueueSection {
            url: None,
            shards: 1,
            redis_connections: 4,
            sqlite_max_batch: 512,
            redis_max_batch: 64,
            replica_acks: 0,
            replica_ack_timeout_ms: 1_000,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSection {
    /// `sqlite://PATH` or `postgres://USER@HOST/DB`;
    /// default: `sqlite://<data_dir>/store.db`.
    pub url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickDaySection {
    /// The id clients send as `click_day`.
    pub id: String,
    /// RFC 3339 opening instant (inclusive).
    pub opens_at: String,
    /// RFC 3339 closing instant (exclusive).
    pub closes_at: String,
    /// The quota categories of this click day.
    pub categories: Vec<String>,
    /// Places per category and province; pairs not listed have no places.
    #[serde(default)]
    pub quotas: Vec<QuotaSection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaSection {
    pub category: String,
    pub province: String,
    /// The first `places` arrivals of this (category, province) are within quota.
    pub places: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PersisterSection {
    /// This persister's name in the consumer group; default `persister-<node_id>`.
    /// Keep it stable across restarts of the same persister.
    pub consumer: Option<String>,
    /// Most queue entries stored in one transaction.
    pub batch_max: usize,
    /// Concurrent batches per shard, each its own consumer-group member.
    /// Default: 8 with PostgreSQL (overlapping round trips is what reaches
    /// COPY-like rates), 2 with SQLite (its writes serialize anyway).
    pub workers_per_shard: Option<usize>,
    /// How long a read waits for the first entry of a batch.
    pub batch_wait_ms: u64,
    /// Entries delivered to a consumer and unacknowledged for this long are
    /// taken over (that consumer is presumed dead).
    pub claim_idle_ms: u64,
    /// Longest wait between retries while the database is down.
    pub max_backoff_ms: u64,
    /// Rank each click day automatically once it has closed and the queue drained.
    pub rank_after_close: bool,
    /// Where a standalone persister serves `GET /metrics` (plain HTTP);
    /// under `serve` its metrics are on the gateway's `/metrics` anyway.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

impl Default for PersisterSection {
    fn default() -> Self {
        PersisterSection {
            consumer: None,
            batch_max: 500,
            workers_per_shard: None,
            batch_wait_ms: 50,
            claim_idle_ms: 30_000,
            max_backoff_ms: 5_000,
            rank_after_close: true,
            metrics_listen: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReceiptsSection {
    /// The system's Ed25519 receipt signing key: base64url of the 32-byte
    /// seed. Default `<data_dir>/receipts/receipt-key`, generated on first
    /// start. Every persister of one deployment must use the same key.
    pub key_file: Option<PathBuf>,
    /// Receipts rendered and saved per round.
    pub batch_max: usize,
}

/// The arrival ledger (docs/ledger.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LedgerSection {
    /// The log's signed-note key (`PRIVATE+KEY+name+id+key`). Default
    /// `<data_dir>/ledger/log-key`, generated on first start; every
    /// persister of a deployment must share it.
    pub key_file: Option<PathBuf>,
    /// The logs' URL prefix without scheme: a click day's checkpoint
    /// origin is `<origin>/<click_day>` and its tiles are served below
    /// `https://<origin>/<click_day>/`.
    pub origin: String,
    /// Leaves appended per batch at most.
    pub batch_max: usize,
    /// How often a checkpoint is signed while leaves arrive.
    pub checkpoint_interval_ms: u64,
}

impl Default for LedgerSection {
    fn default() -> Self {
        LedgerSection {
            key_file: None,
            origin: "localhost/v1/ledger".into(),
            batch_max: 2048,
            checkpoint_interval_ms: 1000,
        }
    }
}

impl Default for ReceiptsSection {
    fn default() -> Self {
        ReceiptsSection {
            key_file: None,
            batch_max: 200,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailSection {
    /// `file` writes one `.eml` per message into `outbox_dir` (the embedded
    /// default); `smtp://HOST:PORT` hands messages to an SMTP relay.
    pub transport: String,
    /// Sender address of the confirmations.
    pub from: String,
    /// Where `file` transport writes; default `<data_dir>/outbox`.
    pub outbox_dir: Option<PathBuf>,
    /// Longest wait between retries of a failing message (never dropped).
    pub max_backoff_ms: u64,
}

impl Default for EmailSection {
    fn default() -> Self {
        EmailSection {
            transport: "file".into(),
            from: "Click Day <noreply@clickday.invalid>".into(),
            outbox_dir: None,
            max_backoff_ms: 600_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortalSection {
    /// Address of the web portal and its JSON API (plain HTTP: put the
    /// ministry's TLS terminator in front of it).
    pub listen: SocketAddr,
    /// The address users reach the portal at, for links in emails.
    pub public_url: String,
    /// A signed-in session ends this long after the login.
    pub session_hours: u64,
    /// Confirmation and password-reset links expire after this long.
    pub link_valid_hours: u64,
    /// Failed-or-not login attempts allowed per minute, per client address
    /// and per username.
    pub login_attempts_per_minute: u32,
    /// Addresses or CIDR blocks of the TLS terminators and balancers in
    /// front of the portal: only from them is the client address read from
    /// `X-Forwarded-For` / `Forwarded`; never otherwise.
    pub trusted_proxies: Vec<String>,
    /// Open connections to the portal; past it new ones wait in the backlog.
    pub max_connections: usize,
    /// Open connections from one client address (not counted for trusted
    /// proxies, which carry everyone).
    pub max_connections_per_ip: usize,
    /// From accept to the first request's headers.
    pub first_request_timeout_ms: u64,
    /// A keep-alive connection with no request for this long is closed.
    pub idle_timeout_ms: u64,
    /// A whole request (body included) and its answer must be done within
    /// this, else 408.
    pub request_timeout_ms: u64,
    /// The administration running the click day, in the header and footer.
    pub administration: String,
    pub administration_url: String,
    /// Help-desk contacts on every page; empty ones are not shown.
    pub helpdesk_email: String,
    pub helpdesk_phone: String,
    pub helpdesk_hours: String,
    /// Where the mini-client builds offered for download are; empty =
    /// `<data_dir>/downloads`.
    pub downloads_dir: Option<PathBuf>,
    /// The gateway address clients send to, as they reach it; empty =
    /// derived from `gateway.listen`.
    pub gateway_url: String,
    /// The CA certificate (PEM) clients must trust for the gateway; empty =
    /// the self-signed certificate when the gateway makes one, else none
    /// (the system's trusted roots).
    pub client_ca_file: Option<PathBuf>,
}

impl Default for PortalSection {
    fn default() -> Self {
        PortalSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: "http://127.0.0.1:8080".into(),
            session_hours: 12,
            link_valid_hours: 24,
            login_attempts_per_minute: 10,
            trusted_proxies: Vec::new(),
            max_connections: 1024,
            max_connections_per_ip: 64,
            first_request_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            request_timeout_ms: 30_000,
            administration: "Ministero dell'Interno".into(),
            administration_url: "https://www.interno.gov.it".into(),
            helpdesk_email: String::new(),
            helpdesk_phone: String::new(),
            helpdesk_hours: String::new(),
            downloads_dir: None,
            gateway_url: String::new(),
            client_ca_file: None,
        }
    }
}
