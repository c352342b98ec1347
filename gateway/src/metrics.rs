//! Prometheus metrics of the gateway, served at `GET /metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `accepted`, `duplicate`, or the problem code of the refusal.
    pub outcome: &'static str,
    /// `h1`, `h2` or `h3`.
    pub protocol: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProtocolLabels {
    /// `h1`, `h2` or `h3` (`cleartext` for a TCP connection without TLS,
    /// whose protocol is only known per request).
    pub protocol: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClosedLabels {
    /// `per_ip_cap` (refused at accept), `proxy_header_refused` (no or a
    /// bad PROXY v2 header where one is required), `first_request_timeout`,
    /// `idle_timeout`, `tls_handshake_failed` or `shutdown`.
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TicketLabels {
    /// `issued` (with a 503), `honoured` (a resend kept its stamp) or
    /// `expired` (a resend was stamped anew).
    pub event: &'static str,
}

type HistogramFamily = Family<ProtocolLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 20))
}

pub struct Metrics {
    registry: Registry,
    /// Every answered submission, by outcome: the accept/refuse ledger.
    pub submissions: Family<OutcomeLabels, Counter>,
    /// Time spent making a submission durable in the queue.
    pub enqueue_seconds: Histogram,
    /// Requests being handled right now.
    pub in_flight: Gauge,
    /// Open client connections, by protocol.
    pub connections: Family<ProtocolLabels, Gauge>,
    /// Time from a submission's headers to its answer, by protocol.
    pub submission_seconds: HistogramFamily,
    /// TLS handshakes being worked on by the server (TCP: key exchange and
    /// signature); at most `max_concurrent_handshakes`.
    pub tls_handshakes: Gauge,
    /// Connections the gateway closed for a cause, by reason.
    pub connections_closed: Family<ClosedLabels, Counter>,
    /// QUIC connection attempts told to prove their address first (Retry).
    pub quic_retries: Counter,
    /// QUIC connection attempts refused at `max_connections`.
    pub quic_refused: Counter,
    /// Keys loaded in memory.
    pub keys: Gauge,
    /// The queue server's clock minus this gateway's (Redis only).
    pub clock_offset_seconds: Gauge<f64, AtomicU64>,
    /// Half the round trip of that measurement: its uncertainty.
    pub clock_offset_uncertainty_seconds: Gauge<f64, AtomicU64>,
    /// Admission tickets issued, honoured and found expired.
    pub tickets: Family<TicketLabels, Counter>,
    /// Buckets held by the per-IP and per-key limiters (memory watch).
    pub limiter_entries: Family<Vec<(&'static str, &'static str)>, Gauge>,
    /// Other components of this process (the persister under `serve`)
    /// whose metrics this endpoint also shows.
    extra: std::sync::RwLock<Vec<MetricsSource>>,
}

/// Renders a component's metrics in the Prometheus text format.
pub type MetricsSource = Box<dyn Fn() -> String + Send + Sync>;

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("clickday_gateway");
        let submissions = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "submissions",
            "Answered submissions by outcome",
            submissions.clone(),
        );
        let enqueue_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 18));
        registry.register(
            "enqueue_seconds",
            "Time to make a submission durable",
            enqueue_seconds.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "requests_in_flight",
            "Requests being handled",
            in_flight.clone(),
        );
        let connections = Family::<ProtocolLabels, Gauge>::default();
        registry.register(
            "connections",
            "Open client connections by protocol",
            connections.clone(),
        );
        let submission_seconds: HistogramFamily = Family::new_with_constructor(latency_histogram);
        registry.register(
            "submission_seconds",
            "Time from a submission's headers to its answer, by protocol",
            submission_seconds.clone(),
        );
        let tls_handshakes = Gauge::default();
        registry.register(
            "tls_handshakes",
            "TLS handshakes being computed over TCP (at most max_concurrent_handshakes)",
            tls_handshakes.clone(),
        );
        let connections_closed = Family::<ClosedLabels, Counter>::default();
        registry.register(
            "connections_closed",
            "Connections the gateway closed for a cause: over the per-address cap, no first request in time, idle, failed TLS handshake, shutdown",
            connections_closed.clone(),
        );
        let quic_retries = Counter::default();
        registry.register(
            "quic_retries",
            "QUIC connection attempts asked to prove their address (Retry) during a handshake flood",
            quic_retries.clone(),
        );
        let quic_refused = Counter::default();
        registry.register(
            "quic_refused",
            "QUIC connection attempts refused at max_connections",
            quic_refused.clone(),
        );
        let keys = Gauge::default();
        registry.register("keys", "Registered keys loaded in memory", keys.clone());
        let clock_offset_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "clock_offset_seconds",
            "The queue server's clock (the deployment's reference) minus this gateway's, NTP-style",
            clock_offset_seconds.clone(),
        );
        let clock_offset_uncertainty_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "clock_offset_uncertainty_seconds",
            "Half the round trip of the clock offset measurement",
            clock_offset_uncertainty_seconds.clone(),
        );
        let tickets = Family::default();
        registry.register(
            "tickets",
            "Admission tickets issued with a 503, honoured on a resend, or found expired",
            tickets.clone(),
        );
        let limiter_entries = Family::default();
        registry.register(
            "rate_limiter_entries",
            "Buckets tracked by the rate limiters",
            limiter_entries.clone(),
        );
        Metrics {
            registry,
            submissions,
            enqueue_seconds,
            in_flight,
            connections,
            submission_seconds,
            tls_handshakes,
            connections_closed,
            quic_retries,
            quic_refused,
            keys,
            clock_offset_seconds,
            clock_offset_uncertainty_seconds,
            tickets,
            limiter_entries,
            extra: std::sync::RwLock::default(),
        }
    }
}

impl Metrics {
    pub fn count(&self, outcome: &'static str, protocol: &'static str) {
        self.submissions
            .get_or_create(&OutcomeLabels { outcome, protocol })
            .inc();
    }

    /// Counts a TLS handshake in progress until the guard is dropped.
    pub fn tls_handshake(&self) -> GaugeHeld {
        self.tls_handshakes.inc();
        GaugeHeld(self.tls_handshakes.clone())
    }

    /// Counts a connection the gateway closed for `reason`.
    pub fn connection_closed(&self, reason: &'static str) {
        self.connections_closed
            .get_or_create(&ClosedLabels { reason })
            .inc();
    }

    /// Counts a connection open until the returned guard is dropped.
    pub fn connection_opened(&self, protocol: &'static str) -> GaugeHeld {
        let gauge = self
            .connections
            .get_or_create(&ProtocolLabels { protocol })
            .clone();
        gauge.inc();
        GaugeHeld(gauge)
    }

    /// Adds another component's metrics to this endpoint.
    pub fn add_source(&self, source: MetricsSource) {
        self.extra
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(source);
    }

    /// The Prometheus text exposition, other components' first (each ends
    /// before the single `# EOF` line of this one).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for source in self.extra.read().unwrap_or_else(|p| p.into_inner()).iter() {
            out.push_str(source().trim_end().trim_end_matches("# EOF").trim_end());
            out.push('\n');
        }
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// One unit of a gauge (an open connection, a handshake in progress),
/// given back when dropped.
pub struct GaugeHeld(Gauge);

impl Drop for GaugeHeld {
    fn drop(&mut self) {
        self.0.dec();
    }
}
