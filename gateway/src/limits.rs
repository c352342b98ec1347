//! The limits every connection lives under, whatever its transport. TCP
//! (HTTP/1.1, HTTP/2) and QUIC (HTTP/3) are both configured from this one
//! value, so a client cannot get more from the server by switching protocol.

use clickday_config::{ConnectionLimits, GatewayConfig};
use std::time::Duration;

/// Room for a request's header block on top of the body in a stream's
/// receive window, and the largest header block accepted.
const MAX_HEADER_BYTES: u32 = 16 * 1024;
/// A connection's receive window: what one client may have in flight
/// towards the gateway across all its streams at once.
const CONNECTION_WINDOW: u32 = 1024 * 1024;

#[derive(Debug, Clone)]
pub(crate) struct EdgeLimits {
    /// Open connections per transport, in total and per client address;
    /// beyond the total TCP clients wait in the listen backlog and QUIC
    /// clients are refused (they fall back to TCP). Also the first-request
    /// and idle deadlines.
    pub connections: ConnectionLimits,
    /// TLS handshakes in progress at once.
    pub max_concurrent_handshakes: usize,
    /// Concurrent requests (HTTP/2 and HTTP/3 streams) per connection.
    pub streams_per_connection: u32,
    /// One request stream may have this many bytes unread: the largest
    /// accepted body plus its headers, so an oversized body is refused
    /// (413) rather than buffered.
    pub stream_window: u32,
    pub connection_window: u32,
    /// Largest request header block (HTTP/2 header list, HTTP/3 field section).
    pub max_header_bytes: u32,
    /// An idle connection is probed this often, so warm connections opened
    /// well before the opening instant survive until it.
    pub keep_alive_interval: Duration,
    /// A probed peer that has not answered within this is dropped.
    pub keep_alive_timeout: Duration,
    /// A request's header block must arrive within this.
    pub header_read_timeout: Duration,
    /// QUIC handshakes in progress beyond which new clients get a Retry.
    pub quic_retry_above_handshakes: usize,
}

impl EdgeLimits {
    pub fn new(cfg: &GatewayConfig) -> Self {
        let body = u32::try_from(cfg.body_limit).unwrap_or(u32::MAX);
        EdgeLimits {
            connections: cfg.connections,
            max_concurrent_handshakes: cfg.max_concurrent_handshakes,
            streams_per_connection: cfg.max_concurrent_streams,
            stream_window: body.saturating_add(MAX_HEADER_BYTES),
            connection_window: CONNECTION_WINDOW.max(body.saturating_add(MAX_HEADER_BYTES)),
            max_header_bytes: MAX_HEADER_BYTES,
            keep_alive_interval: Duration::from_secs(30),
            keep_alive_timeout: Duration::from_secs(20),
            header_read_timeout: cfg.header_read_timeout,
            quic_retry_above_handshakes: cfg.quic_retry_above_handshakes,
        }
    }

    /// QUIC's idle timeout: the moment an HTTP/2 connection whose keep-alive
    /// probe went unanswered is dropped (probe interval plus its timeout).
    pub fn idle_timeout(&self) -> Duration {
        self.keep_alive_interval + self.keep_alive_timeout
    }
}
