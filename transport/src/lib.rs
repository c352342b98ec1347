//! clickday-transport: the client side of PROTOCOL.md's transports, shared
//! by loadgen, the mini-client `clickday-client` and the tests. Where the
//! gateway is and how it is trusted ([`Target`], [`Trust`]), connections
//! that speak HTTP/1.1 or HTTP/2 over TCP+TLS (clients of our own, see
//! `h1` and `h2`), or HTTP/3 over QUIC
//! ([`Connection`]), header fields encoded before the request is sent
//! ([`Fields`]), early answers read on every protocol, and when to send
//! the same bytes again ([`retry`]).

mod answer;
mod connection;
mod fields;
mod h1;
mod h2;
mod hpack;
mod io;
pub mod retry;
mod trust;

pub use answer::{Answer, Headers};
pub use connection::{Connection, Gate, Target};
pub use fields::Fields;
pub use trust::{Trust, client_config};

/// The HTTP version spoken on every connection of a run.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
pub enum Protocol {
    #[serde(rename = "h1")]
    #[value(name = "h1")]
    Http1,
    #[serde(rename = "h2")]
    #[value(name = "h2")]
    Http2,
    #[serde(rename = "h3")]
    #[value(name = "h3")]
    Http3,
}

impl Protocol {
    /// All three, for tests that run one body per protocol.
    pub const ALL: [Protocol; 3] = [Protocol::Http1, Protocol::Http2, Protocol::Http3];

    /// The ALPN identifier offered in TLS.
    pub fn alpn(self) -> &'static [u8] {
        match self {
            Protocol::Http1 => b"http/1.1",
            Protocol::Http2 => b"h2",
            Protocol::Http3 => b"h3",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http1 => "HTTP/1.1",
            Protocol::Http2 => "HTTP/2",
            Protocol::Http3 => "HTTP/3",
        }
    }

    /// The label the gateway's metrics and reports use.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Http1 => "h1",
            Protocol::Http2 => "h2",
            Protocol::Http3 => "h3",
        }
    }

    /// True when one connection carries many requests at once.
    pub fn multiplexed(self) -> bool {
        self != Protocol::Http1
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("target {0:?} must be an http:// or https:// URL with a host")]
    BadUrl(String),
    #[error("cannot resolve {0}: {1}")]
    Resolve(String, std::io::Error),
    #[error(
        "{0} is an https:// target: give --ca FILE (e.g. /etc/ssl/certs/ca-certificates.crt) or --insecure"
    )]
    NoTrust(String),
    #[error("CA file {0}: {1}")]
    CaFile(String, String),
    #[error("connect: {0}")]
    Connect(#[from] std::io::Error),
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("the server chose ALPN {got:?}, wanted {want}")]
    Alpn {
        got: Option<String>,
        want: &'static str,
    },
    #[error("HTTP/1.1: {0}")]
    H1(&'static str),
    #[error("the connection was closed {0}")]
    Closed(&'static str),
    #[error("HTTP/2: {0}")]
    H2(String),
    #[error("{0} is not an https:// target: HTTP/3 runs over QUIC, which is always encrypted")]
    QuicNeedsTls(String),
    #[error("QUIC: {0}")]
    Quic(String),
    #[error("HTTP/3: {0}")]
    H3(String),
    #[error("building the request: {0}")]
    Request(#[from] http::Error),
}
