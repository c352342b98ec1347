//! The UDP side: HTTP/3 over QUIC (quinn + h3) on the TCP listener's port
//! number, under the same [`EdgeLimits`]. Requests go through the very same
//! [`Gateway::handle`] as HTTP/1.1 and HTTP/2; this module only adapts h3's
//! streams to `http` requests and responses.

use crate::limits::EdgeLimits;
use crate::{Gateway, GatewayError};
use bytes::{Buf as _, Bytes};
use clickday_edge::{Activity, ConnectionBudget};
use h3::error::Code;
use h3::server::RequestStream;
use http_body::{Body, Frame};
use http_body_util::BodyExt as _;
use quinn::crypto::rustls::QuicServerConfig;
use quinn::{IdleTimeout, TransportConfig, VarInt};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The UDP receive buffer asked for: at the opening instant thousands of
/// Initial packets arrive at once, and a packet dropped here costs its
/// sender a retransmission timeout (a second or more) on the clock that
/// decides the ranking. The kernel caps it at `net.core.rmem_max`.
const UDP_RECEIVE_BUFFER: usize = 16 << 20;
/// Below this (about 1,800 full-size Initial packets) a warning names the
/// sysctl to raise.
const UDP_RECEIVE_BUFFER_WARN: usize = 4 << 20;
/// Unidirectional streams a client may open: HTTP/3's control stream and
/// the two QPACK streams, with room for reserved (grease) types.
const UNI_STREAMS: u32 = 8;
/// Time given to CONNECTION_CLOSE frames to leave after the drain.
const CLOSE_LINGER: Duration = Duration::from_millis(500);

/// A bound QUIC endpoint, not yet accepting.
pub(crate) struct QuicListener {
    endpoint: quinn::Endpoint,
    gateway: Arc<Gateway>,
    limits: EdgeLimits,
    /// Open QUIC connections, in total and per address, as on the TCP side.
    budget: Arc<ConnectionBudget>,
    /// Handshakes in progress: past the limit, clients must prove their
    /// address before the gateway spends a key exchange on them.
    handshaking: Arc<AtomicUsize>,
}

impl QuicListener {
    pub fn bind(
        addr: SocketAddr,
        tls: Arc<rustls::ServerConfig>,
        limits: &EdgeLimits,
        gateway: Arc<Gateway>,
    ) -> Result<Self, GatewayError> {
        let crypto = QuicServerConfig::try_from(tls)
            .map_err(|e| GatewayError::Quic(format!("TLS configuration: {e}")))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        server.transport_config(Arc::new(transport_config(limits)?));
        let socket = udp_socket(addr).map_err(|source| GatewayError::Bind { addr, source })?;
        let endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(server),
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .map_err(|source| GatewayError::Bind { addr, source })?;
        Ok(QuicListener {
            endpoint,
            gateway,
            limits: limits.clone(),
            budget: ConnectionBudget::new(
                limits.connections.max_connections,
                limits.connections.max_connections_per_ip,
            ),
            handshaking: Arc::default(),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// Accepts until `shutdown`; then every connection is told GOAWAY,
    /// finishes the requests it has, and is closed with `H3_NO_ERROR`,
    /// within `grace`.
    pub async fn run(self, shutdown: CancellationToken, grace: Duration) {
        let connections = TaskTracker::new();
        loop {
            let incoming = tokio::select! {
                () = shutdown.cancelled() => break,
                incoming = self.endpoint.accept() => match incoming {
                    Some(incoming) => incoming,
                    None => break,
                },
            };
            // A flood of Initials from forged addresses would cost a key
            // exchange each; past the limit a Retry makes every client show
            // it can receive at its address first (one more round trip).
            if !incoming.remote_address_validated()
                && self.handshaking.load(Ordering::Relaxed)
                    >= self.limits.quic_retry_above_handshakes
            {
                self.gateway.metrics.quic_retries.inc();
                let _ = incoming.retry();
                continue;
            }
            // Refused at once when full, in total or for this address: the
            // client falls back to TCP (or retries) instead of waiting on a
            // handshake that cannot be served.
            let Some(room) = self.budget.try_room() else {
                tracing::debug!(client.addr = %incoming.remote_address(), "QUIC connection refused: at max_connections");
                self.gateway.metrics.quic_refused.inc();
                incoming.refuse();
                continue;
            };
            let Some(slot) = self
                .budget
                .admit(room, Some(incoming.remote_address().ip()))
            else {
                tracing::debug!(client.addr = %incoming.remote_address(), "QUIC connection refused: address at max_connections_per_ip");
                self.gateway.metrics.connection_closed("per_ip_cap");
                incoming.refuse();
                continue;
            };
            let connection = QuicConnection {
                gateway: self.gateway.clone(),
                limits: self.limits.clone(),
                handshake: Handshaking::start(&self.handshaking),
            };
            let shutdown = shutdown.clone();
            connections.spawn(async move {
                let _slot = slot;
                connection.serve(incoming, shutdown).await;
            });
        }
        // No new connections from here on; the open ones drain themselves.
        self.endpoint.set_server_config(None);
        connections.close();
        tokio::select! {
            () = connections.wait() => tracing::info!("HTTP/3 connections drained"),
            () = tokio::time::sleep(grace) => tracing::warn!(grace = ?grace, "HTTP/3 drain deadline passed; closing"),
        }
        self.endpoint.close(
            Code::H3_NO_ERROR
                .value()
                .try_into()
                .unwrap_or(VarInt::from_u32(0)),
            b"shutdown",
        );
        let _ = tokio::time::timeout(CLOSE_LINGER, self.endpoint.wait_idle()).await;
    }
}

fn transport_config(limits: &EdgeLimits) -> Result<TransportConfig, GatewayError> {
    let idle = IdleTimeout::try_from(limits.idle_timeout())
        .map_err(|e| GatewayError::Quic(format!("idle timeout: {e}")))?;
    let mut transport = TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(VarInt::from_u32(limits.streams_per_connection))
        .max_concurrent_uni_streams(VarInt::from_u32(UNI_STREAMS))
        .stream_receive_window(VarInt::from_u32(limits.stream_window))
        .receive_window(VarInt::from_u32(limits.connection_window))
        .max_idle_timeout(Some(idle))
        .keep_alive_interval(Some(limits.keep_alive_interval));
    Ok(transport)
}

/// A non-blocking UDP socket with the largest receive buffer the kernel
/// grants, bound to `addr`.
fn udp_socket(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    if let Err(e) = socket.set_recv_buffer_size(UDP_RECEIVE_BUFFER) {
        tracing::warn!(error = %e, "cannot size the UDP receive buffer");
    }
    // Linux reports twice what it grants (the other half is bookkeeping).
    let granted = socket.recv_buffer_size().unwrap_or(0) / 2;
    if granted < UDP_RECEIVE_BUFFER_WARN {
        tracing::warn!(
            granted,
            wanted = UDP_RECEIVE_BUFFER,
            "small UDP receive buffer: raise net.core.rmem_max, or a burst of new HTTP/3 connections will see drops"
        );
    }
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

struct QuicConnection {
    gateway: Arc<Gateway>,
    limits: EdgeLimits,
    handshake: Handshaking,
}

/// Counts one handshake in progress until dropped.
struct Handshaking(Arc<AtomicUsize>);

impl Handshaking {
    fn start(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Handshaking(count.clone())
    }
}

impl Drop for Handshaking {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl QuicConnection {
    async fn serve(self, incoming: quinn::Incoming, shutdown: CancellationToken) {
        let QuicConnection {
            gateway,
            limits,
            handshake,
        } = self;
        let peer = incoming.remote_address();
        let connecting = match incoming.accept() {
            Ok(connecting) => connecting,
            Err(e) => {
                tracing::debug!(client.addr = %peer, error = %e, "QUIC connection failed");
                return;
            }
        };
        let activity = Activity::new();
        let connection = match tokio::time::timeout(
            limits.connections.first_request_timeout,
            connecting,
        )
        .await
        {
            Ok(Ok(connection)) => connection,
            Ok(Err(e)) => {
                tracing::debug!(client.addr = %peer, error = %e, "QUIC handshake failed");
                return;
            }
            Err(_) => {
                gateway.metrics.connection_closed("first_request_timeout");
                tracing::debug!(client.addr = %peer, "QUIC handshake timed out");
                return;
            }
        };
        drop(handshake);
        let _open = gateway.metrics.connection_opened("h3");
        let mut h3 = match h3::server::builder()
            .max_field_section_size(u64::from(limits.max_header_bytes))
            .build::<_, Bytes>(h3_quinn::Connection::new(connection))
            .await
        {
            Ok(h3) => h3,
            Err(e) => {
                tracing::debug!(client.addr = %peer, error = %e, "HTTP/3 set-up failed");
                return;
            }
        };
        let requests = TaskTracker::new();
        loop {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => {
                    // GOAWAY names the first request not served: everything
                    // up to the last one taken is answered below, the rest
                    // was never stamped and may be resent elsewhere.
                    if let Err(e) = h3.shutdown(1).await {
                        tracing::debug!(client.addr = %peer, error = %e, "HTTP/3 GOAWAY failed");
                    }
                    break;
                }
                // Pings keep QUIC's own idle timer fresh; this one counts
                // requests only, as on TCP.
                ended = activity.quiet_for(limits.connections.first_request_timeout, limits.connections.idle_timeout) => {
                    if let Some(reason) = ended.reason() {
                        gateway.metrics.connection_closed(reason);
                    }
                    if let Err(e) = h3.shutdown(0).await {
                        tracing::debug!(client.addr = %peer, error = %e, "HTTP/3 GOAWAY failed");
                    }
                    break;
                }
                accepted = h3.accept() => accepted,
            };
            match accepted {
                Ok(Some(resolver)) => {
                    let request = Request {
                        gateway: gateway.clone(),
                        header_read_timeout: limits.header_read_timeout,
                        peer,
                    };
                    let busy = activity.request();
                    requests.spawn(async move {
                        request.serve(resolver).await;
                        drop(busy);
                    });
                }
                Ok(None) => break,
                Err(e) => {
                    if !e.is_h3_no_error() {
                        tracing::debug!(client.addr = %peer, error = %e, "HTTP/3 connection ended with an error");
                    }
                    break;
                }
            }
        }
        requests.close();
        requests.wait().await;
        // Dropping the h3 connection closes it with H3_NO_ERROR.
        drop(h3);
    }
}

type Resolver = h3::server::RequestResolver<h3_quinn::Connection, Bytes>;

struct Request {
    gateway: Arc<Gateway>,
    header_read_timeout: Duration,
    peer: SocketAddr,
}

impl Request {
    async fn serve(self, resolver: Resolver) {
        let (request, stream) = match tokio::time::timeout(
            self.header_read_timeout,
            resolver.resolve_request(),
        )
        .await
        {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => {
                tracing::debug!(client.addr = %self.peer, error = %e, "HTTP/3 request refused");
                return;
            }
            Err(_) => {
                tracing::debug!(client.addr = %self.peer, "HTTP/3 request headers timed out");
                return;
            }
        };
        let (mut send, recv) = stream.split();
        let request = request.map(|()| RequestBody {
            stream: recv,
            ended: false,
            reading: false,
        });
        let response = self.gateway.handle(request, self.peer.ip()).await;
        let (parts, body) = response.into_parts();
        let body = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(never) => match never {},
        };
        let sent = async {
            send.send_response(http::Response::from_parts(parts, ()))
                .await?;
            if !body.is_empty() {
                send.send_data(body).await?;
            }
            send.finish().await
        };
        if let Err(e) = sent.await {
            tracing::debug!(client.addr = %self.peer, error = %e, "HTTP/3 response not delivered");
        }
    }
}

/// A request body read from an h3 stream as an `http_body::Body`, so the
/// shared handler applies its size limit and read deadline unchanged.
struct RequestBody {
    stream: RequestStream<h3_quinn::RecvStream, Bytes>,
    ended: bool,
    /// The last poll returned `Pending`: h3-quinn then holds the stream in
    /// its read future, and its `stop_sending` would panic (0.0.10).
    reading: bool,
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = h3::error::StreamError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        this.reading = true;
        let polled = ready!(this.stream.poll_recv_data(cx));
        this.reading = false;
        match polled {
            Ok(Some(mut chunk)) => Poll::Ready(Some(Ok(Frame::data(
                chunk.copy_to_bytes(chunk.remaining()),
            )))),
            Ok(None) => {
                this.ended = true;
                Poll::Ready(None)
            }
            Err(e) => {
                this.ended = true;
                Poll::Ready(Some(Err(e)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended
    }
}

impl Drop for RequestBody {
    /// A body the handler did not read to its end (refused as too large,
    /// shed, or answered before its body mattered): tell the client to stop
    /// sending it, as HTTP/3 allows once the response is decided.
    fn drop(&mut self) {
        // Mid-read (a body that timed out), dropping the read future drops
        // quinn's stream, which stops it by itself (with code 0).
        if !self.ended && !self.reading {
            self.stream.stop_sending(Code::H3_NO_ERROR);
        }
    }
}
