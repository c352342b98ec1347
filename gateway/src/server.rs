//! The TCP side: listener with a deep backlog, TLS handshakes, HTTP/1.1 and
//! HTTP/2 on one port (hyper-util's auto builder), a connection cap, and a
//! graceful drain on shutdown.

use crate::{Gateway, GatewayError, tls};
use clickday_config::Config;
use clickday_store::Store;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// Pending connections the kernel may hold: at T0 they arrive all at once.
const BACKLOG: u32 = 8192;
/// A client gets this long to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often idle rate-limiter buckets are dropped.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// A started gateway.
pub struct Running {
    /// The bound address (the real port when the configuration said 0).
    pub local_addr: SocketAddr,
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
}

pub(crate) async fn start(
    cfg: &Config,
    gateway: Arc<Gateway>,
    store: Arc<dyn Store>,
    shutdown: CancellationToken,
) -> Result<Running, GatewayError> {
    let (acceptor, cert_path) = if cfg.gateway.tls {
        let (cert, key) = match &cfg.gateway.tls_files {
            Some(files) => files.clone(),
            None => tls::ensure_self_signed(&cfg.data_dir)?,
        };
        (
            Some(TlsAcceptor::from(tls::server_config(&cert, &key)?)),
            Some(cert),
        )
    } else {
        tracing::warn!("TLS is off: plain HTTP, for tests and benchmarks only");
        (None, None)
    };
    let addr = cfg.gateway.listen;
    let listener = bind(addr).map_err(|source| GatewayError::Bind { addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| GatewayError::Bind { addr, source })?;

    tokio::spawn(gateway.keys.clone().refresh_loop(
        store,
        cfg.gateway.key_refresh_interval,
        shutdown.clone(),
    ));
    tokio::spawn(prune_loop(gateway.clone(), shutdown.clone()));

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(cfg.gateway.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(cfg.gateway.max_concurrent_streams)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    let accept = AcceptLoop {
        listener,
        acceptor,
        builder,
        gateway: gateway.clone(),
        slots: Arc::new(Semaphore::new(cfg.gateway.max_connections)),
        grace: cfg.gateway.shutdown_grace,
    };
    let done = tokio::spawn(accept.run(shutdown));
    tracing::info!(listen = %local_addr, tls = cfg.gateway.tls, "gateway listening");
    Ok(Running {
        local_addr,
        gateway,
        cert_path,
        done,
    })
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
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    builder: auto::Builder<TokioExecutor>,
    gateway: Arc<Gateway>,
    /// One permit per open connection: beyond the cap, clients wait in the
    /// backlog instead of exhausting file descriptors.
    slots: Arc<Semaphore>,
    grace: Duration,
}

impl AcceptLoop {
    async fn run(self, shutdown: CancellationToken) {
        let graceful = GracefulShutdown::new();
        loop {
            let permit = tokio::select! {
                () = shutdown.cancelled() => break,
                permit = self.slots.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let (stream, peer) = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                },
            };
            let connection = Connection {
                gateway: self.gateway.clone(),
                builder: self.builder.clone(),
                acceptor: self.acceptor.clone(),
                watcher: graceful.watcher(),
            };
            tokio::spawn(async move {
                let _permit = permit;
                connection.serve(stream, peer).await;
            });
        }
        drop(self.listener);
        tracing::info!("gateway stopped accepting; draining in-flight requests");
        tokio::select! {
            () = graceful.shutdown() => tracing::info!("gateway drained"),
            () = tokio::time::sleep(self.grace) => tracing::warn!(grace = ?self.grace, "drain deadline passed; closing"),
        }
    }
}

struct Connection {
    gateway: Arc<Gateway>,
    builder: auto::Builder<TokioExecutor>,
    acceptor: Option<TlsAcceptor>,
    watcher: hyper_util::server::graceful::Watcher,
}

impl Connection {
    async fn serve(self, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let gateway = self.gateway.clone();
        gateway.metrics.connections.inc();
        let service = service_fn(move |req| {
            let gateway = gateway.clone();
            async move { Ok::<_, Infallible>(gateway.handle(req, peer.ip()).await) }
        });
        let result = match self.acceptor {
            Some(acceptor) => {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        let conn = self
                            .builder
                            .serve_connection(TokioIo::new(tls), service)
                            .into_owned();
                        self.watcher.watch(conn).await
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(client.addr = %peer, error = %e, "TLS handshake failed");
                        Ok(())
                    }
                    Err(_) => {
                        tracing::debug!(client.addr = %peer, "TLS handshake timed out");
                        Ok(())
                    }
                }
            }
            None => {
                let conn = self
                    .builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                self.watcher.watch(conn).await
            }
        };
        if let Err(e) = result {
            tracing::debug!(client.addr = %peer, error = %e, "connection ended with an error");
        }
        self.gateway.metrics.connections.dec();
    }
}
