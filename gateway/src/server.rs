//! Start-up of both listeners, and the TCP side: a deep backlog, TLS
//! handshakes, HTTP/1.1 and HTTP/2 on one port (hyper-util's auto builder),
//! connection budgets (in total and per address), first-request and idle
//! deadlines, `Alt-Svc` pointing at HTTP/3, and a graceful drain.

use crate::limits::EdgeLimits;
use crate::linger::LingeringStream;
use crate::quic::QuicListener;
use crate::{Gateway, GatewayError, proxy, tls};
use clickday_config::Config;
use clickday_edge::{Accepted, Activity, ConnectionBudget, Deadlines, Listener, Slot, drive};
use clickday_store::Store;
use http::HeaderValue;
use http::header::ALT_SVC;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::future::Future as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tokio_rustls::{LazyConfigAcceptor, TlsAcceptor};
use tokio_util::sync::CancellationToken;

/// Pending connections the kernel may hold: at T0 they arrive all at once.
const BACKLOG: u32 = 8192;
/// How long clients may remember that HTTP/3 is offered (`Alt-Svc: ma`).
const ALT_SVC_MAX_AGE_SECS: u32 = 86_400;
/// How often idle rate-limiter buckets are dropped.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// A started gateway.
pub struct Running {
    /// The bound address (the real port when the configuration said 0).
    pub local_addr: SocketAddr,
    /// The UDP address serving HTTP/3 (same port number), when it is on.
    pub quic_addr: Option<SocketAddr>,
    pub gateway: Arc<Gateway>,
    /// The certificate served, when TLS is on: clients may trust it as CA.
    pub cert_path: Option<PathBuf>,
    done: JoinHandle<()>,
}

impl Running {
    /// Resolves once shutdown was requested and the drain has finished.
    pub async fn wait(self) {
        let _ = self.done.await;
    }

    /// Runs `last` after the drain, before [`Running::wait`] resolves.
    pub(crate) fn then(self, last: impl Future<Output = ()> + Send + 'static) -> Running {
        let done = self.done;
        Running {
            done: tokio::spawn(async move {
                let _ = done.await;
                last.await;
            }),
            ..self
        }
    }
}

pub(crate) async fn start(
    cfg: &Config,
    gateway: Arc<Gateway>,
    store: Arc<dyn Store>,
    shutdown: CancellationToken,
) -> Result<Running, GatewayError> {
    let limits = EdgeLimits::new(&cfg.gateway);
    let material = if cfg.gateway.tls {
        let (cert, key) = match &cfg.gateway.tls_files {
            Some(files) => files.clone(),
            None => tls::ensure_self_signed(&cfg.data_dir)?,
        };
        Some((tls::TlsMaterial::load(&cert, &key)?, cert))
    } else {
        tracing::warn!("TLS is off: plain HTTP, and no HTTP/3; for tests and benchmarks only");
        None
    };
    let acceptor = match &material {
        Some((material, _)) => Some(TlsAcceptor::from(material.tcp_config()?)),
        None => None,
    };
    let addr = cfg.gateway.listen;
    let quic_tls = match &material {
        Some((material, _)) if cfg.gateway.http3 => Some(material.quic_config()?),
        _ => None,
    };
    let (listener, quic) = bind_listeners(addr, quic_tls, &limits, &gateway)?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| GatewayError::Bind { addr, source })?;
    let quic_addr = match &quic {
        Some(quic) => Some(
            quic.local_addr()
                .map_err(|source| GatewayError::Bind { addr, source })?,
        ),
        None => None,
    };
    let alt_svc = quic_addr.and_then(|a| {
        HeaderValue::try_from(format!("h3=\":{}\"; ma={ALT_SVC_MAX_AGE_SECS}", a.port())).ok()
    });

    tokio::spawn(gateway.keys.clone().refresh_loop(
        store,
        cfg.gateway.key_refresh_interval,
        shutdown.clone(),
    ));
    tokio::spawn(prune_loop(gateway.clone(), shutdown.clone()));

    let accept = AcceptLoop {
        listener: Listener::new(
            listener,
            ConnectionBudget::new(
                limits.connections.max_connections,
                limits.connections.max_connections_per_ip,
            ),
        ),
        acceptor,
        builder: http_builder(&limits),
        gateway: gateway.clone(),
        handshakes: Arc::new(Semaphore::new(limits.max_concurrent_handshakes)),
        deadlines: Deadlines {
            first_request: limits.connections.first_request_timeout,
            idle: limits.connections.idle_timeout,
            grace: cfg.gateway.shutdown_grace,
        },
        alt_svc,
        proxy_protocol: cfg.gateway.proxy_protocol,
    };
    if cfg.gateway.proxy_protocol && quic_addr.is_some() {
        tracing::warn!(
            "proxy_protocol covers TCP only: HTTP/3 clients are counted by their UDP source address, so the balancer must preserve it (or set http3 = false)"
        );
    }
    let tcp = tokio::spawn(accept.run(shutdown.clone()));
    let udp = quic.map(|quic| tokio::spawn(quic.run(shutdown, cfg.gateway.shutdown_grace)));
    let done = tokio::spawn(async move {
        let _ = tcp.await;
        if let Some(udp) = udp {
            let _ = udp.await;
        }
    });
    tracing::info!(listen = %local_addr, tls = cfg.gateway.tls, http3 = quic_addr.is_some(), "gateway listening");
    Ok(Running {
        local_addr,
        quic_addr,
        gateway,
        cert_path: material.map(|(_, cert)| cert),
        done,
    })
}

/// HTTP/1.1 and HTTP/2 under the edge limits (QUIC's are in `quic.rs`).
fn http_builder(limits: &EdgeLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.streams_per_connection)
        .initial_stream_window_size(limits.stream_window)
        .initial_connection_window_size(limits.connection_window)
        .max_header_list_size(limits.max_header_bytes)
        .keep_alive_interval(Some(limits.keep_alive_interval))
        .keep_alive_timeout(limits.keep_alive_timeout);
    builder
}

/// Binds TCP, and UDP for HTTP/3 on the same port number, which is what
/// `Alt-Svc` promises. With port 0 the kernel picks the TCP port, which
/// something may hold over UDP: then both are tried again elsewhere.
fn bind_listeners(
    addr: SocketAddr,
    quic_tls: Option<Arc<rustls::ServerConfig>>,
    limits: &EdgeLimits,
    gateway: &Arc<Gateway>,
) -> Result<(TcpListener, Option<QuicListener>), GatewayError> {
    const ATTEMPTS_ON_PORT_ZERO: usize = 32;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let listener = bind(addr).map_err(|source| GatewayError::Bind { addr, source })?;
        let Some(tls) = &quic_tls else {
            return Ok((listener, None));
        };
        let local = listener
            .local_addr()
            .map_err(|source| GatewayError::Bind { addr, source })?;
        match QuicListener::bind(local, tls.clone(), limits, gateway.clone()) {
            Ok(quic) => return Ok((listener, Some(quic))),
            Err(GatewayError::Bind { .. })
                if addr.port() == 0 && attempt < ATTEMPTS_ON_PORT_ZERO => {}
            Err(e) => return Err(e),
        }
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

async fn prune_loop(gateway: Arc<Gateway>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(PRUNE_EVERY) => gateway.limiters.prune(),
        }
    }
}

struct AcceptLoop {
    /// Open connections, in total and per client address: beyond the total,
    /// clients wait in the backlog instead of exhausting file descriptors.
    listener: Listener,
    acceptor: Option<TlsAcceptor>,
    builder: auto::Builder<TokioExecutor>,
    gateway: Arc<Gateway>,
    /// TLS handshakes in progress: a storm of them waits here, and the CPU
    /// stays with the connections already established.
    handshakes: Arc<Semaphore>,
    deadlines: Deadlines,
    /// Sent on every answer when HTTP/3 is on.
    alt_svc: Option<HeaderValue>,
    /// Connections start with a balancer's PROXY v2 header: charged to the
    /// client it names, not to the balancer.
    proxy_protocol: bool,
}

impl AcceptLoop {
    async fn run(self, shutdown: CancellationToken) {
        loop {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = self.listener.next(|_| !self.proxy_protocol) => accepted,
            };
            let (stream, peer, slot) = match accepted {
                Some(Accepted::Admitted { stream, peer, slot }) => (stream, peer, slot),
                Some(Accepted::OverShare(peer)) => {
                    self.gateway.metrics.connection_closed("per_ip_cap");
                    tracing::debug!(client.addr = %peer, "connection refused: address at max_connections_per_ip");
                    continue;
                }
                None => break,
            };
            let _ = stream.set_nodelay(true);
            let connection = Connection {
                gateway: self.gateway.clone(),
                builder: self.builder.clone(),
                acceptor: self.acceptor.clone(),
                handshakes: self.handshakes.clone(),
                deadlines: self.deadlines,
                activity: Activity::new(),
                alt_svc: self.alt_svc.clone(),
            };
            let shutdown = shutdown.clone();
            let proxied = self.proxy_protocol;
            tokio::spawn(async move {
                let (stream, peer, slot) = if proxied {
                    match connection.client_behind_balancer(stream, peer, slot).await {
                        Some(real) => real,
                        None => return,
                    }
                } else {
                    (stream, peer, slot)
                };
                connection
                    .serve(LingeringStream::new(stream, slot), peer, &shutdown)
                    .await;
            });
        }
        let budget = self.listener.budget().clone();
        drop(self.listener);
        tracing::info!("gateway stopped accepting; draining in-flight requests");
        // Every connection was told to close by the cancelled token; each
        // gives its slot back when its socket is finally closed.
        match budget.drain(self.deadlines.grace).await {
            true => tracing::info!("gateway drained"),
            false => {
                tracing::warn!(grace = ?self.deadlines.grace, "drain deadline passed; closing")
            }
        }
    }
}

struct Connection {
    gateway: Arc<Gateway>,
    builder: auto::Builder<TokioExecutor>,
    acceptor: Option<TlsAcceptor>,
    handshakes: Arc<Semaphore>,
    deadlines: Deadlines,
    activity: Arc<Activity>,
    alt_svc: Option<HeaderValue>,
}

impl Connection {
    /// Reads the balancer's PROXY header within the first request's
    /// deadline and charges the connection to the client it names (the
    /// balancer's own connections, `LOCAL`, stay uncounted). `None`: the
    /// connection is closed — no header, a bad one, or a client already
    /// holding its share.
    async fn client_behind_balancer(
        &self,
        mut stream: TcpStream,
        balancer: SocketAddr,
        slot: Slot,
    ) -> Option<(TcpStream, SocketAddr, Slot)> {
        let metrics = &self.gateway.metrics;
        let read = proxy::read_header(&mut stream);
        let client = match tokio::time::timeout(self.deadlines.first_request, read).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                metrics.connection_closed("proxy_header_refused");
                tracing::debug!(balancer = %balancer, error = %e, "connection refused: PROXY protocol required");
                return None;
            }
            Err(_) => {
                metrics.connection_closed("first_request_timeout");
                return None;
            }
        };
        let Some(client) = client else {
            return Some((stream, balancer, slot));
        };
        match slot.charge(client.ip()) {
            Some(slot) => Some((stream, client, slot)),
            None => {
                metrics.connection_closed("per_ip_cap");
                tracing::debug!(client.addr = %client, "connection refused: address at max_connections_per_ip");
                None
            }
        }
    }

    async fn serve(self, stream: LingeringStream, peer: SocketAddr, shutdown: &CancellationToken) {
        let gateway = self.gateway.clone();
        let alt_svc = self.alt_svc;
        let activity = self.activity.clone();
        let service = service_fn(move |req| {
            let gateway = gateway.clone();
            let alt_svc = alt_svc.clone();
            let busy = activity.request();
            async move {
                let mut response = gateway.handle(req, peer.ip()).await;
                if let Some(alt_svc) = alt_svc {
                    response.headers_mut().insert(ALT_SVC, alt_svc);
                }
                drop(busy);
                Ok::<_, Infallible>(response)
            }
        });
        let (ended, result) = match self.acceptor {
            Some(acceptor) => {
                // The handshake, and the wait for room to do it, count
                // against the first request's deadline.
                let handshake = tls_handshake(&acceptor, stream, &self.handshakes, &self.gateway);
                match tokio::time::timeout(self.deadlines.first_request, handshake).await {
                    Ok(Ok(tls)) => {
                        let protocol = match tls.get_ref().1.alpn_protocol() {
                            Some(b"h2") => "h2",
                            _ => "h1",
                        };
                        let _open = self.gateway.metrics.connection_opened(protocol);
                        let conn = self
                            .builder
                            .serve_connection(TokioIo::new(tls), service)
                            .into_owned();
                        drive(conn, &self.activity, self.deadlines, shutdown).await
                    }
                    Ok(Err(e)) => {
                        self.gateway
                            .metrics
                            .connection_closed("tls_handshake_failed");
                        tracing::debug!(client.addr = %peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        self.gateway
                            .metrics
                            .connection_closed("first_request_timeout");
                        tracing::debug!(client.addr = %peer, "TLS handshake timed out");
                        return;
                    }
                }
            }
            None => {
                let _open = self.gateway.metrics.connection_opened("cleartext");
                let conn = self
                    .builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                drive(conn, &self.activity, self.deadlines, shutdown).await
            }
        };
        if let Some(reason) = ended.reason() {
            self.gateway.metrics.connection_closed(reason);
        }
        if let Err(e) = result {
            tracing::debug!(client.addr = %peer, error = %e, "connection ended with an error");
        }
    }
}

/// The TLS handshake, with `slots` bounding the server's own work on it.
/// Waiting for the ClientHello holds nothing: a stalled client costs one
/// socket, bounded per address and by the first-request deadline, and never
/// delays anyone else. Processing the ClientHello — the key exchange and
/// the signature, all done in the first poll of the accept, which then
/// waits for the client's Finished — holds a slot: a storm of complete
/// ClientHellos queues for the CPU instead of taking it from the
/// connections already established.
async fn tls_handshake(
    acceptor: &TlsAcceptor,
    stream: LingeringStream,
    slots: &Semaphore,
    gateway: &Gateway,
) -> std::io::Result<TlsStream<LingeringStream>> {
    let hello = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream).await?;
    let mut accept = hello.into_stream(acceptor.config().clone());
    let first = {
        let _slot = slots
            .acquire()
            .await
            .map_err(|_| std::io::Error::other("the gateway is stopping"))?;
        let _counted = gateway.metrics.tls_handshake();
        std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut accept).poll(cx))).await
    };
    match first {
        Poll::Ready(done) => done,
        Poll::Pending => accept.await,
    }
}
