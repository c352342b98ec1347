//! The PROXY protocol v2 header a layer-4 balancer (HAProxy `send-proxy-v2`,
//! cloud load balancers) writes at the start of each TCP connection, naming
//! the client it carries: read exactly the header — the TLS bytes after it
//! stay in the socket — and parsed by the `ppp` crate.

use ppp::v2::{Addresses, Command, Header};
use std::net::SocketAddr;
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;

/// The fixed part: 12-byte signature, version and command, family and
/// protocol, and the length of the rest.
const FIXED: usize = 16;
/// The most we read after the fixed part: the longest addresses (two Unix
/// paths, 216 bytes) and room for a balancer's TLVs; longer is refused
/// rather than buffered.
const MAX_REST: usize = 1024;

/// Why a connection's header was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxyHeaderError {
    #[error("no PROXY protocol v2 header")]
    Missing,
    #[error("PROXY header of {0} bytes is longer than allowed")]
    TooLong(usize),
    #[error("malformed PROXY header: {0}")]
    Malformed(String),
    #[error("reading the PROXY header: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads the header from `stream`: `Some(client)` for a proxied TCP
/// connection, `None` for one the balancer opened itself (`LOCAL`, e.g. a
/// health check) or whose client has no IP address (Unix, unspecified).
pub(crate) async fn read_header(
    stream: &mut TcpStream,
) -> Result<Option<SocketAddr>, ProxyHeaderError> {
    let mut buf = vec![0u8; FIXED];
    stream.read_exact(&mut buf).await?;
    if !buf.starts_with(b"\r\n\r\n\0\r\nQUIT\n") {
        return Err(ProxyHeaderError::Missing);
    }
    let rest = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if rest > MAX_REST {
        return Err(ProxyHeaderError::TooLong(FIXED + rest));
    }
    buf.resize(FIXED + rest, 0);
    stream.read_exact(&mut buf[FIXED..]).await?;
    let header =
        Header::try_from(&buf[..]).map_err(|e| ProxyHeaderError::Malformed(e.to_string()))?;
    if header.command == Command::Local {
        return Ok(None);
    }
    Ok(match header.addresses {
        Addresses::IPv4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        Addresses::IPv6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        Addresses::Unix(_) | Addresses::Unspecified => None,
    })
}
