//! Typed configuration: a TOML file plus `CLICKDAY_*` environment
//! overrides, validated once into [`Config`]. Bad values are named by their
//! key in the error, so an operator can fix them without reading code.

mod env;
mod raw;

use clickday_forms::provinces;
pub use clickday_forms::provinces::province_name;

pub use raw::{
    GatewaySection, PersisterSection, QueueSection, QuotaSection, RateLimitSection, RawConfig,
    StoreSection,
};

use clickday_core::time::parse_rfc3339;
use clickday_core::{Calendar, ClickDay};
use clickday_forms::ApplicationModel;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A configuration value that cannot be used; `key` is its dotted path.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Where the queue lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueUrl {
    /// The embedded SQLite inbox file.
    Sqlite(PathBuf),
    /// A Redis (or Redis Cluster entry) URL, passed to the client as is.
    Redis(String),
}

impl QueueUrl {
    /// The URL form the queue crate opens.
    pub fn to_url(&self) -> String {
        match self {
            QueueUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            QueueUrl::Redis(url) => url.clone(),
        }
    }
}

impl StoreUrl {
    /// The URL form the store crate opens.
    pub fn to_url(&self) -> String {
        match self {
            StoreUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            StoreUrl::Postgres(url) => url.clone(),
        }
    }
}

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

/// Token-bucket limit: `per_second` sustained, `burst` at once; `None` = off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub per_second: u32,
    pub burst: u32,
}

/// The validated gateway settings.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub listen: SocketAddr,
    pub tls: bool,
    /// HTTP/3 over UDP on the listen port; only ever true together with `tls`.
    pub http3: bool,
    /// Certificate and key PEM files; `None` = self-signed pair in `data_dir`.
    pub tls_files: Option<(PathBuf, PathBuf)>,
    pub body_limit: usize,
    pub body_read_timeout: Duration,
    pub header_read_timeout: Duration,
    pub per_ip_limit: Option<Limit>,
    pub per_key_limit: Option<Limit>,
    pub key_refresh_interval: Duration,
    pub shutdown_grace: Duration,
    /// Open connections, per transport.
    pub connections: ConnectionLimits,
    pub max_concurrent_handshakes: usize,
    pub max_concurrent_streams: u32,
    pub quic_retry_above_handshakes: usize,
    pub enqueue_timeout: Duration,
    pub retry_after_secs: u64,
    pub admission_buffer_bytes: usize,
    pub admission_max_held: usize,
    pub max_unread_bodies_per_ip: usize,
    /// Admission-ticket secrets (see `clickday.toml`).
    pub ticket_key_file: PathBuf,
    /// How long after a click day closes its tickets are still honoured.
    pub ticket_valid_after_close: Duration,
    /// How long the claim on `node_id` lasts unless renewed.
    pub node_lease: Duration,
    /// Past this offset from the queue server's clock, warn; `None`: off.
    pub clock_offset_warn: Option<Duration>,
    /// TCP connections start with a PROXY protocol v2 header.
    pub proxy_protocol: bool,
}

/// What one listener's connections live under (the gateway's per
/// transport, the portal's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub first_request_timeout: Duration,
    pub idle_timeout: Duration,
}

impl ConnectionLimits {
    fn validate(
        section: &str,
        max_connections: usize,
        max_connections_per_ip: usize,
        first_request_timeout_ms: u64,
        idle_timeout_ms: u64,
    ) -> Result<ConnectionLimits, ConfigError> {
        let key = |name: &str| format!("{section}.{name}");
        Ok(ConnectionLimits {
            max_connections: positive(&key("max_connections"), max_connections)?,
            max_connections_per_ip: positive(
                &key("max_connections_per_ip"),
                max_connections_per_ip,
            )?,
            first_request_timeout: millis(
                &key("first_request_timeout_ms"),
                first_request_timeout_ms,
            )?,
            idle_timeout: millis(&key("idle_timeout_ms"), idle_timeout_ms)?,
        })
    }
}

/// The validated queue settings.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    pub url: QueueUrl,
    pub shards: u16,
    pub redis_connections: usize,
    pub sqlite_max_batch: usize,
    pub redis_max_batch: usize,
    /// Replicas confirming each Redis write before a 202 (0: none).
    pub replica_acks: u32,
    pub replica_ack_timeout: Duration,
}

/// The validated persister settings.
#[derive(Debug, Clone)]
pub struct PersisterConfig {
    pub consumer: String,
    pub batch_max: usize,
    pub workers_per_shard: usize,
    pub batch_wait: Duration,
    pub claim_idle: Duration,
    pub max_backoff: Duration,
    pub rank_after_close: bool,
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// The validated receipt settings.
#[derive(Debug, Clone)]
pub struct ReceiptsConfig {
    pub key_file: PathBuf,
    pub batch_max: usize,
}

/// The validated arrival-ledger settings.
#[derive(Debug, Clone)]
pub struct LedgerConfig {
    pub key_file: PathBuf,
    pub origin: String,
    pub batch_max: usize,
    pub checkpoint_interval: Duration,
}

/// How confirmation emails leave the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailTransport {
    /// One `.eml` file per message in this directory.
    Files(PathBuf),
    /// An SMTP relay.
    Smtp { host: String, port: u16 },
}

/// The validated email settings.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub transport: EmailTransport,
    pub from: String,
    pub max_backoff: Duration,
}

/// The validated portal settings.
#[derive(Debug, Clone)]
pub struct PortalConfig {
    pub listen: SocketAddr,
    /// Without a trailing slash.
    pub public_url: String,
    pub session_length: Duration,
    pub link_validity: Duration,
    pub login_attempts_per_minute: u32,
    /// Proxies whose forwarding headers are believed (see `clickday.toml`).
    pub trusted_proxies: Vec<IpBlock>,
    pub connections: ConnectionLimits,
    pub request_timeout: Duration,
    pub administration: String,
    pub administration_url: String,
    pub helpdesk: Helpdesk,
    /// The mini-client builds offered for download.
    pub downloads_dir: PathBuf,
    /// Where clients send (the mini-client's settings, the clock advice).
    pub gateway_url: String,
    /// The CA certificate clients must trust for the gateway; `None` = the
    /// system's roots.
    pub client_ca: Option<PathBuf>,
}

/// Help-desk contacts shown on every portal page; empty = not shown.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Helpdesk {
    pub email: String,
    pub phone: String,
    pub hours: String,
}

/// The gateway's self-signed certificate and key under `data_dir`, made
/// when no `gateway.tls_cert` is configured.
pub fn self_signed_paths(data_dir: &std::path::Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// An address block, `10.0.0.0/8` or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpBlock {
    pub base: std::net::IpAddr,
    pub prefix: u8,
}

impl IpBlock {
    /// Parses `ADDR` or `ADDR/PREFIX`, naming what is wrong.
    pub fn parse(text: &str) -> Result<IpBlock, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let base: std::net::IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not an address or a CIDR block"))?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix must be 0 to {max}"))?,
        };
        Ok(IpBlock { base, prefix })
    }

    /// Whether `ip` is in the block (an IPv4-mapped IPv6 address counts as
    /// its IPv4 address).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        // Both families as the top bits of 128: IPv4 in the first 32.
        let bits = |ip: std::net::IpAddr| match ip {
            std::net::IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, true),
            std::net::IpAddr::V6(v6) => (u128::from(v6), false),
        };
        let (base, base_v4) = bits(self.base);
        let (ip, ip_v4) = bits(ip.to_canonical());
        let mask = match self.prefix {
            0 => 0,
            p => u128::MAX << (128 - u32::from(p)),
        };
        base_v4 == ip_v4 && base & mask == ip & mask
    }
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub node_id: u16,
    pub data_dir: PathBuf,
    pub gateway: GatewayConfig,
    pub queue: QueueConfig,
    pub store: StoreUrl,
    pub calendar: Calendar,
    /// No click day was configured: the calendar is the zero-configuration
    /// "demo" day, opening at the `now_nanos` the configuration was
    /// loaded with.
    pub demo_calendar: bool,
    pub persister: PersisterConfig,
    pub receipts: ReceiptsConfig,
    pub ledger: LedgerConfig,
    pub email: EmailConfig,
    pub portal: PortalConfig,
    /// One per category, checked: what the portal's compilation asks.
    pub application_models: Vec<ApplicationModel>,
}

impl Config {
    /// The model for a click-day category.
    pub fn application_model(&self, category: &str) -> Option<&ApplicationModel> {
        self.application_models
            .iter()
            .find(|m| m.category == category)
    }

    /// Reads `file` (if any), applies `CLICKDAY_*` overrides from `env`, and
    /// validates. `now_nanos` dates the zero-configuration demo click day.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        now_nanos: u64,
    ) -> Result<Config, ConfigError> {
        let text = match file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| ConfigError::new("--config", format!("{}: {e}", path.display())))?,
            None => String::new(),
        };
        Self::from_toml(&text, env, now_nanos)
    }

    pub fn from_toml(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
        now_nanos: u64,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::new("file", e.to_string()))?;
        env::apply_overrides(&mut table, env)?;
        // serde_path_to_error names the key of a value of the wrong type.
        let raw: RawConfig = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| ConfigError::new(e.path().to_string(), e.inner().message().to_string()))?;
        raw.validate(now_nanos)
    }
}

impl RawConfig {
    /// Turns the raw file into typed values, naming the first bad key.
    pub fn validate(self, now_nanos: u64) -> Result<Config, ConfigError> {
        let data_dir = self.data_dir.clone();
        let gateway = self.gateway.validate(&data_dir)?;
        let queue = QueueConfig {
            url: parse_queue_url(self.queue.url.as_deref(), &data_dir)?,
            shards: positive("queue.shards", self.queue.shards)?,
            redis_connections: positive("queue.redis_connections", self.queue.redis_connections)?,
            sqlite_max_batch: positive("queue.sqlite_max_batch", self.queue.sqlite_max_batch)?,
            redis_max_batch: positive("queue.redis_max_batch", self.queue.redis_max_batch)?,
            replica_acks: self.queue.replica_acks,
            replica_ack_timeout: millis(
                "queue.replica_ack_timeout_ms",
                self.queue.replica_ack_timeout_ms,
            )?,
        };
        if queue.replica_acks > 0 && matches!(queue.url, QueueUrl::Sqlite(_)) {
            return Err(ConfigError::new(
                "queue.replica_acks",
                "replica acks need a Redis queue (queue.url = redis://… or redis+cluster://…)",
            ));
        }
        let store = parse_store_url(self.store.url.as_deref(), &data_dir)?;
        if let (QueueUrl::Sqlite(q), StoreUrl::Sqlite(s)) = (&queue.url, &store)
            && q == s
        {
            return Err(ConfigError::new(
                "store.url",
                "the queue and the store need separate SQLite files",
            ));
        }
        let provinces = match self.provinces {
            Some(list) => {
                let mut set = BTreeSet::new();
                for code in list {
                    if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                        return Err(ConfigError::new(
                            "provinces",
                            format!("{code:?} is not two capital letters"),
                        ));
                    }
                    set.insert(code);
                }
                set
            }
            None => provinces::ITALIAN
                .iter()
                .map(|(code, _)| code.to_string())
                .collect(),
        };
        let demo_calendar = self.click_days.is_empty();
        let days = if demo_calendar {
            vec![demo_click_day(now_nanos)]
        } else {
            validate_click_days(self.click_days, &provinces)?
        };
        let p = self.persister;
        let consumer = p
            .consumer
            .unwrap_or_else(|| format!("persister-{}", self.node_id));
        if consumer.is_empty() || consumer.len() > 64 {
            return Err(ConfigError::new(
                "persister.consumer",
                "must be 1 to 64 characters",
            ));
        }
        let receipts = ReceiptsConfig {
            key_file: self
                .receipts
                .key_file
                .unwrap_or_else(|| data_dir.join("receipts").join("receipt-key")),
            batch_max: positive("receipts.batch_max", self.receipts.batch_max)?,
        };
        let origin = self.ledger.origin.trim_end_matches('/').to_string();
        if origin.is_empty()
            || origin.contains("://")
            || !origin.bytes().all(|b| b.is_ascii_graphic() && b != b'+')
        {
            return Err(ConfigError::new(
                "ledger.origin",
                "must be a URL prefix without scheme, spaces or '+' (e.g. clickday.example.it/v1/ledger)",
            ));
        }
        let ledger = LedgerConfig {
            key_file: self
                .ledger
                .key_file
                .unwrap_or_else(|| data_dir.join("ledger").join("log-key")),
            origin,
            batch_max: positive("ledger.batch_max", self.ledger.batch_max)?,
            checkpoint_interval: millis(
                "ledger.checkpoint_interval_ms",
                self.ledger.checkpoint_interval_ms,
            )?,
        };
        let email = EmailConfig {
            transport: parse_email_transport(
                &self.email.transport,
                self.email.outbox_dir,
                &data_dir,
            )?,
            from: match self.email.from.contains('@') {
                true => self.email.from,
                false => {
                    return Err(ConfigError::new(
                        "email.from",
                        "must contain an email address",
                    ));
                }
            },
            max_backoff: millis("email.max_backoff_ms", self.email.max_backoff_ms)?,
        };
        let persister = PersisterConfig {
            consumer,
            batch_max: positive("persister.batch_max", p.batch_max)?,
            workers_per_shard: match (p.workers_per_shard, &store) {
                (Some(n), _) => positive("persister.workers_per_shard", n)?,
                (None, StoreUrl::Postgres(_)) => 8,
                (None, StoreUrl::Sqlite(_)) => 2,
            },
            batch_wait: millis("persister.batch_wait_ms", p.batch_wait_ms)?,
            claim_idle: millis("persister.claim_idle_ms", p.claim_idle_ms)?,
            max_backoff: millis("persister.max_backoff_ms", p.max_backoff_ms)?,
            rank_after_close: p.rank_after_close,
            metrics_listen: p.metrics_listen,
        };
        let application_models = validate_models(self.application_models)?;
        let portal = validate_portal(self.portal, &gateway, &data_dir)?;
        Ok(Config {
            node_id: self.node_id,
            data_dir,
            gateway,
            queue,
            store,
            calendar: Calendar::new(days, provinces),
            demo_calendar,
            persister,
            receipts,
            ledger,
            email,
            portal,
            application_models,
        })
    }
}

fn validate_portal(
    p: raw::PortalSection,
    gateway: &GatewayConfig,
    data_dir: &std::path::Path,
) -> Result<PortalConfig, ConfigError> {
    let public_url = p.public_url.trim_end_matches('/').to_string();
    if !(public_url.starts_with("https://") || public_url.starts_with("http://")) {
        return Err(ConfigError::new(
            "portal.public_url",
            format!("{public_url:?} is not an http(s) URL"),
        ));
    }
    let hours = |key: &str, n: u64| match n {
        1..=8760 => Ok(Duration::from_secs(n * 3600)),
        _ => Err(ConfigError::new(key, format!("{n} is not 1 to 8760 hours"))),
    };
    Ok(PortalConfig {
        listen: p.listen,
        public_url,
        session_length: hours("portal.session_hours", p.session_hours)?,
        link_validity: hours("portal.link_valid_hours", p.link_valid_hours)?,
        login_attempts_per_minute: positive(
            "portal.login_attempts_per_minute",
            p.login_attempts_per_minute,
        )?,
        trusted_proxies: p
            .trusted_proxies
            .iter()
            .map(|t| IpBlock::parse(t).map_err(|e| ConfigError::new("portal.trusted_proxies", e)))
            .collect::<Result<_, _>>()?,
        connections: ConnectionLimits::validate(
            "portal",
            p.max_connections,
            p.max_connections_per_ip,
            p.first_request_timeout_ms,
            p.idle_timeout_ms,
        )?,
        request_timeout: millis("portal.request_timeout_ms", p.request_timeout_ms)?,
        administration: p.administration,
        administration_url: p.administration_url,
        helpdesk: Helpdesk {
            email: p.helpdesk_email,
            phone: p.helpdesk_phone,
            hours: p.helpdesk_hours,
        },
        downloads_dir: p
            .downloads_dir
            .unwrap_or_else(|| data_dir.join("downloads")),
        gateway_url: match p.gateway_url.trim_end_matches('/') {
            "" => derived_gateway_url(gateway),
            url if url.starts_with("https://") || url.starts_with("http://") => url.to_string(),
            url => {
                return Err(ConfigError::new(
                    "portal.gateway_url",
                    format!("{url:?} is not an http(s) URL"),
                ));
            }
        },
        client_ca: match p.client_ca_file {
            Some(file) => Some(file),
            None if gateway.tls && gateway.tls_files.is_none() => {
                Some(self_signed_paths(data_dir).0)
            }
            None => None,
        },
    })
}

/// The built-in models when none are configured; each model checked, one
/// per category.
fn validate_models(models: Vec<ApplicationModel>) -> Result<Vec<ApplicationModel>, ConfigError> {
    #[derive(serde::Deserialize)]
    struct Builtin {
        application_models: Vec<ApplicationModel>,
    }
    let models = if models.is_empty() {
        toml::from_str::<Builtin>(include_str!("application_models.toml"))
            .map_err(|e| ConfigError::new("application_models (built in)", e.to_string()))?
            .application_models
    } else {
        models
    };
    let mut categories = BTreeSet::new();
    for (i, model) in models.iter().enumerate() {
        let key = format!("application_models[{i}]");
        model.validate().map_err(|e| ConfigError::new(&key, e))?;
        if !categories.insert(model.category.as_str()) {
            return Err(ConfigError::new(
                key,
                format!("a second model for category {}", model.category),
            ));
        }
    }
    Ok(models)
}

/// `https://HOST:PORT` of `gateway.listen`, with `localhost` for an
/// unspecified or loopback address (the name the self-signed certificate
/// carries).
fn derived_gateway_url(gateway: &GatewayConfig) -> String {
    let scheme = if gateway.tls { "https" } else { "http" };
    let ip = gateway.listen.ip();
    let host = if ip.is_unspecified() || ip.is_loopback() {
        "localhost".to_string()
    } else if ip.is_ipv6() {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    format!("{scheme}://{host}:{}", gateway.listen.port())
}

impl GatewaySection {
    fn validate(self, data_dir: &std::path::Path) -> Result<GatewayConfig, ConfigError> {
        let tls_files = match (self.tls_cert, self.tls_key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(ConfigError::new(
                    "gateway.tls_cert",
                    "tls_cert and tls_key go together",
                ));
            }
        };
        if self.body_limit_bytes == 0 || self.body_limit_bytes > 16 << 20 {
            return Err(ConfigError::new(
                "gateway.body_limit_bytes",
                "must be between 1 and 16777216",
            ));
        }
        Ok(GatewayConfig {
            listen: self.listen,
            tls: self.tls,
            // QUIC has no plain-text mode: without TLS there is no HTTP/3.
            http3: self.http3 && self.tls,
            tls_files,
            body_limit: self.body_limit_bytes,
            body_read_timeout: millis("gateway.body_read_timeout_ms", self.body_read_timeout_ms)?,
            header_read_timeout: millis(
                "gateway.header_read_timeout_ms",
                self.header_read_timeout_ms,
            )?,
            per_ip_limit: self.rate_limit.per_ip("gateway.rate_limit")?,
            per_key_limit: self.rate_limit.per_key("gateway.rate_limit")?,
            key_refresh_interval: millis(
                "gateway.key_refresh_interval_ms",
                self.key_refresh_interval_ms,
            )?,
            shutdown_grace: millis("gateway.shutdown_grace_ms", self.shutdown_grace_ms)?,
            connections: ConnectionLimits::validate(
                "gateway",
                self.max_connections,
                self.max_connections_per_ip,
                self.first_request_timeout_ms,
                self.idle_timeout_ms,
            )?,
            max_concurrent_handshakes: positive(
                "gateway.max_concurrent_handshakes",
                self.max_concurrent_handshakes,
            )?,
            max_concurrent_streams: positive(
                "gateway.max_concurrent_streams",
                self.max_concurrent_streams,
            )?,
            quic_retry_above_handshakes: self.quic_retry_above_handshakes,
            enqueue_timeout: millis("gateway.enqueue_timeout_ms", self.enqueue_timeout_ms)?,
            retry_after_secs: positive("gateway.retry_after_secs", self.retry_after_secs)?,
            admission_buffer_bytes: positive(
                "gateway.admission_buffer_bytes",
                self.admission_buffer_bytes,
            )?,
            admission_max_held: positive("gateway.admission_max_held", self.admission_max_held)?,
            max_unread_bodies_per_ip: positive(
                "gateway.max_unread_bodies_per_ip",
                self.max_unread_bodies_per_ip,
            )?,
            ticket_key_file: self
                .ticket_key_file
                .unwrap_or_else(|| data_dir.join("ticket-key")),
            ticket_valid_after_close: Duration::from_secs(self.ticket_valid_after_close_secs),
            node_lease: millis("gateway.node_lease_ms", self.node_lease_ms)?,
            clock_offset_warn: (self.clock_offset_warn_ms > 0)
                .then(|| Duration::from_millis(self.clock_offset_warn_ms)),
            proxy_protocol: self.proxy_protocol,
        })
    }
}

impl RateLimitSection {
    fn per_ip(&self, key: &str) -> Result<Option<Limit>, ConfigError> {
        limit(
            &format!("{key}.per_ip"),
            self.per_ip_per_second,
            self.per_ip_burst,
        )
    }

    fn per_key(&self, key: &str) -> Result<Option<Limit>, ConfigError> {
        limit(
            &format!("{key}.per_key"),
            self.per_key_per_second,
            self.per_key_burst,
        )
    }
}

fn limit(key: &str, per_second: u32, burst: u32) -> Result<Option<Limit>, ConfigError> {
    match (per_second, burst) {
        (0, _) => Ok(None),
        (_, 0) => Err(ConfigError::new(
            format!("{key}_burst"),
            "must be at least 1 when the rate is set",
        )),
        (per_second, burst) => Ok(Some(Limit { per_second, burst })),
    }
}

fn positive<T: PartialOrd + Default + Copy>(key: &str, value: T) -> Result<T, ConfigError> {
    if value > T::default() {
        Ok(value)
    } else {
        Err(ConfigError::new(key, "must be greater than zero"))
    }
}

fn millis(key: &str, value: u64) -> Result<Duration, ConfigError> {
    positive(key, value).map(Duration::from_millis)
}

fn parse_queue_url(url: Option<&str>, data_dir: &Path) -> Result<QueueUrl, ConfigError> {
    match url {
        None => Ok(QueueUrl::Sqlite(data_dir.join("queue.db"))),
        Some(url)
            if [
                "redis://",
                "rediss://",
                "redis+cluster://",
                "rediss+cluster://",
            ]
            .iter()
            .any(|scheme| url.starts_with(scheme)) =>
        {
            Ok(QueueUrl::Redis(url.to_string()))
        }
        Some(url) => sqlite_path(url).map(QueueUrl::Sqlite).ok_or_else(|| {
            ConfigError::new(
                "queue.url",
                format!(
                    "{url:?}: expected sqlite://PATH, redis://HOST:PORT/DB \
                     or redis+cluster://HOST:PORT,HOST:PORT,…"
                ),
            )
        }),
    }
}

fn parse_store_url(url: Option<&str>, data_dir: &Path) -> Result<StoreUrl, ConfigError> {
    match url {
        None => Ok(StoreUrl::Sqlite(data_dir.join("store.db"))),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(StoreUrl::Postgres(url.to_string()))
        }
        Some(url) => sqlite_path(url).map(StoreUrl::Sqlite).ok_or_else(|| {
            ConfigError::new(
                "store.url",
                format!("{url:?}: expected sqlite://PATH or postgres://..."),
            )
        }),
    }
}

fn parse_email_transport(
    transport: &str,
    outbox: Option<PathBuf>,
    data_dir: &Path,
) -> Result<EmailTransport, ConfigError> {
    if transport == "file" {
        return Ok(EmailTransport::Files(
            outbox.unwrap_or_else(|| data_dir.join("outbox")),
        ));
    }
    let bad = || {
        ConfigError::new(
            "email.transport",
            format!("{transport:?}: expected \"file\" or smtp://HOST:PORT"),
        )
    };
    let rest = transport.strip_prefix("smtp://").ok_or_else(bad)?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
    let port = port.trim_end_matches('/').parse().map_err(|_| bad())?;
    if host.is_empty() {
        return Err(bad());
    }
    Ok(EmailTransport::Smtp {
        host: host.to_string(),
        port,
    })
}

fn sqlite_path(url: &str) -> Option<PathBuf> {
    let path = url.strip_prefix("sqlite://")?;
    (!path.is_empty()).then(|| PathBuf::from(path))
}

fn validate_click_days(
    days: Vec<raw::ClickDaySection>,
    provinces: &BTreeSet<String>,
) -> Result<Vec<ClickDay>, ConfigError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(days.len());
    for (i, day) in days.into_iter().enumerate() {
        let key = format!("click_days[{i}]");
        if day.id.is_empty() || day.id.len() > 64 {
            return Err(ConfigError::new(
                format!("{key}.id"),
                "must be 1 to 64 characters",
            ));
        }
        if !seen.insert(day.id.clone()) {
            return Err(ConfigError::new(
                format!("{key}.id"),
                format!("{:?} appears twice", day.id),
            ));
        }
        let opens_at = parse_rfc3339(&day.opens_at)
            .map_err(|e| ConfigError::new(format!("{key}.opens_at"), e))?;
        let closes_at = parse_rfc3339(&day.closes_at)
            .map_err(|e| ConfigError::new(format!("{key}.closes_at"), e))?;
        if closes_at <= opens_at {
            return Err(ConfigError::new(
                format!("{key}.closes_at"),
                "must be after opens_at",
            ));
        }
        if day.categories.is_empty() {
            return Err(ConfigError::new(
                format!("{key}.categories"),
                "must list at least one category",
            ));
        }
        let categories: BTreeSet<String> = day.categories.into_iter().collect();
        let mut quotas = std::collections::BTreeMap::new();
        for (j, quota) in day.quotas.into_iter().enumerate() {
            let qkey = format!("{key}.quotas[{j}]");
            if !categories.contains(&quota.category) {
                return Err(ConfigError::new(
                    format!("{qkey}.category"),
                    format!("{:?} is not a category of this click day", quota.category),
                ));
            }
            if !provinces.contains(&quota.province) {
                return Err(ConfigError::new(
                    format!("{qkey}.province"),
                    format!("{:?} is not a known province", quota.province),
                ));
            }
            if quotas
                .insert((quota.category, quota.province), quota.places)
                .is_some()
            {
                return Err(ConfigError::new(
                    qkey,
                    "this category and province already have a quota",
                ));
            }
        }
        out.push(ClickDay {
            id: day.id,
            opens_at,
            closes_at,
            categories,
            quotas,
        });
    }
    Ok(out)
}

/// With no calendar configured, `clickday serve` still works out of the box:
/// one click day, "demo", open from the start for 24 hours, with 100 places
/// per category in each of the four largest provinces.
fn demo_click_day(now_nanos: u64) -> ClickDay {
    const DAY: u64 = 24 * 3600 * 1_000_000_000;
    let categories = [
        "lavoro-subordinato",
        "lavoro-domestico",
        "lavoro-stagionale",
    ];
    let quotas = categories
        .iter()
        .flat_map(|c| ["RM", "MI", "NA", "TO"].map(|p| ((c.to_string(), p.to_string()), 100)))
        .collect();
    ClickDay {
        id: "demo".into(),
        opens_at: now_nanos,
        closes_at: now_nanos + DAY,
        categories: categories.iter().map(|c| c.to_string()).collect(),
        quotas,
    }
}

#[cfg(test)]
mod tests;
