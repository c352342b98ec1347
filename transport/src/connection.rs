//! The client side of the wire: where the gateway is, TLS, and connections
//! that speak HTTP/1.1 or HTTP/2 over TCP, or HTTP/3 over QUIC. A TCP
//! connection records when it first writes to its socket after the starting
//! gate opens, the honest "first byte sent" of a burst; a QUIC connection
//! records when its first request is handed to quinn, whose endpoint task
//! then sends the datagram.
//!
//! A TCP connection can also *hold* its writes: a burst's first request
//! goes through HTTP/2 (HPACK, framing), TLS and the rest before the
//! instant, its bytes kept in memory, and the one who opens the gate then
//! [releases](Connection::release) them with one `write` on the socket —
//! nothing else is left to do at the instant.

use crate::h1::H1;
use crate::h2::{H2, Outgoing};
use crate::io::Io;
use crate::{Answer, Fields, Protocol, TransportError, Trust, client_config};
use bytes::Bytes;
use http::{Method, Request, Uri};
use rustls::pki_types::ServerName;
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A QUIC connection that hears nothing for this long is dead; the
/// keep-alive below keeps connections warmed long before the start open.
const QUIC_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const QUIC_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Where and how to connect.
#[derive(Clone)]
pub struct Target {
    pub url: String,
    pub protocol: Protocol,
    addr: SocketAddr,
    /// `https://host:port` or `http://host:port`, prefixed to request paths.
    base: String,
    /// `host:port` as written in the URL.
    authority: String,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    /// HTTP/3 only.
    quic: Option<Arc<QuicClient>>,
}

/// The QUIC side of a target: configuration, server name, and a few UDP
/// sockets (quinn endpoints) that all connections share round-robin. A
/// socket per connection would cost the load generator more than the
/// gateway (measured: ~1 ms of client CPU per connection, mostly in the
/// kernel); connections still have their own ids, keys and streams.
struct QuicClient {
    config: quinn::ClientConfig,
    name: String,
    endpoints: Vec<quinn::Endpoint>,
    next: std::sync::atomic::AtomicUsize,
}

impl QuicClient {
    fn new(
        config: quinn::ClientConfig,
        name: String,
        server: SocketAddr,
    ) -> Result<Self, TransportError> {
        let local = SocketAddr::new(
            if server.is_ipv4() {
                std::net::Ipv4Addr::UNSPECIFIED.into()
            } else {
                std::net::Ipv6Addr::UNSPECIFIED.into()
            },
            0,
        );
        // Enough sockets that each endpoint task has a share of a core.
        let sockets = std::thread::available_parallelism().map_or(4, |n| n.get() * 4);
        let endpoints = (0..sockets)
            .map(|_| quinn::Endpoint::client(local))
            .collect::<Result<_, _>>()?;
        Ok(QuicClient {
            config,
            name,
            endpoints,
            next: Default::default(),
        })
    }

    fn endpoint(&self) -> &quinn::Endpoint {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        &self.endpoints[i % self.endpoints.len()]
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} over {}", self.url, self.protocol.name())
    }
}

impl Target {
    pub async fn new(
        url: &str,
        protocol: Protocol,
        trust: Option<&Trust>,
    ) -> Result<Target, TransportError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| TransportError::BadUrl(url.into()))?;
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
            return Err(TransportError::BadUrl(url.into()));
        };
        let tls = match scheme {
            "https" => true,
            "http" => false,
            _ => return Err(TransportError::BadUrl(url.into())),
        };
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let addr = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| TransportError::Resolve(host.clone(), e))?
            .next()
            .ok_or_else(|| {
                TransportError::Resolve(host.clone(), std::io::ErrorKind::NotFound.into())
            })?;
        let config = if tls {
            let trust = trust.ok_or_else(|| TransportError::NoTrust(url.into()))?;
            let mut config = client_config(trust)?;
            config.alpn_protocols = vec![protocol.alpn().to_vec()];
            Some(config)
        } else if protocol == Protocol::Http3 {
            return Err(TransportError::QuicNeedsTls(url.into()));
        } else {
            None
        };
        let (tls, quic) = match config {
            Some(config) if protocol == Protocol::Http3 => (
                None,
                Some(Arc::new(QuicClient::new(
                    quic_client_config(config)?,
                    host.clone(),
                    addr,
                )?)),
            ),
            Some(config) => {
                let name = ServerName::try_from(host.clone())
                    .map_err(|_| TransportError::BadUrl(url.into()))?;
                (
                    Some((tokio_rustls::TlsConnector::from(Arc::new(config)), name)),
                    None,
                )
            }
            None => (None, None),
        };
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or(&host);
        Ok(Target {
            url: url.into(),
            protocol,
            addr,
            base: format!("{scheme}://{authority}"),
            authority: authority.to_string(),
            tls,
            quic,
        })
    }

    /// The absolute URI of `path` on this target.
    pub fn uri(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Opens one connection; `gate` says when writes start to count.
    pub async fn connect(&self, gate: Arc<Gate>) -> Result<Connection, TransportError> {
        if let Some(quic) = &self.quic {
            return self.connect_quic(quic, WriteProbe::new(gate, None)).await;
        }
        let tcp = TcpStream::connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        // Shared with whoever releases held writes; std's socket stays
        // non-blocking, readiness comes from tokio's reactor. `new` is
        // deprecated for types whose descriptor may close under it (tokio
        // #8587); a std TcpStream owns its descriptor until it is dropped,
        // and `register`, its replacement, is `unsafe`.
        #[allow(deprecated)]
        let socket = Arc::new(AsyncFd::new(tcp.into_std()?)?);
        let probe = WriteProbe::new(gate, Some(socket));
        let io = ProbedIo {
            probe: probe.clone(),
        };
        let sender = match &self.tls {
            None => self.handshake(io).await?,
            Some((connector, name)) => {
                let stream = connector.connect(name.clone(), io).await?;
                let got = stream.get_ref().1.alpn_protocol();
                if got != Some(self.protocol.alpn()) {
                    return Err(TransportError::Alpn {
                        got: got.map(|g| String::from_utf8_lossy(g).into_owned()),
                        want: self.protocol.name(),
                    });
                }
                self.handshake(stream).await?
            }
        };
        Ok(Connection { sender, probe })
    }

    /// One QUIC connection, with HTTP/3 set up on it.
    async fn connect_quic(
        &self,
        client: &QuicClient,
        probe: Arc<WriteProbe>,
    ) -> Result<Connection, TransportError> {
        let quic = client
            .endpoint()
            .connect_with(client.config.clone(), self.addr, &client.name)
            .map_err(|e| TransportError::Quic(e.to_string()))?
            .await
            .map_err(|e| TransportError::Quic(e.to_string()))?;
        let (mut driver, sender) = h3::client::new(h3_quinn::Connection::new(quic))
            .await
            .map_err(|e| TransportError::H3(e.to_string()))?;
        let watched = probe.clone();
        tokio::spawn(async move {
            let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
            watched.closed.store(true, Ordering::Relaxed);
        });
        Ok(Connection {
            sender: Sender::H3(sender),
            probe,
        })
    }

    async fn handshake<T>(&self, io: T) -> Result<Sender, TransportError>
    where
        T: Io + 'static,
    {
        Ok(match self.protocol {
            Protocol::Http1 => Sender::H1(Arc::new(tokio::sync::Mutex::new(H1::new(
                Box::new(io),
                self.authority.clone(),
            )))),
            Protocol::Http2 => {
                let scheme = match self.tls {
                    Some(_) => http::uri::Scheme::HTTPS,
                    None => http::uri::Scheme::HTTP,
                };
                Sender::H2(Arc::new(
                    H2::handshake(Box::new(io), scheme, &self.authority).await?,
                ))
            }
            Protocol::Http3 => unreachable!("HTTP/3 connects over QUIC, not TCP"),
        })
    }
}

/// The QUIC side of `config`: keep-alives so warm connections survive the
/// wait for the start, and windows no smaller than the gateway's.
fn quic_client_config(config: rustls::ClientConfig) -> Result<quinn::ClientConfig, TransportError> {
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(config)
        .map_err(|e| TransportError::Quic(e.to_string()))?;
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(QUIC_IDLE_TIMEOUT)
                .map_err(|e| TransportError::Quic(e.to_string()))?,
        ))
        .keep_alive_interval(Some(QUIC_KEEP_ALIVE));
    let mut client = quinn::ClientConfig::new(Arc::new(crypto));
    client.transport_config(Arc::new(transport));
    Ok(client)
}

/// Opens once, at the instant the run starts; writes before it are warm-up.
#[derive(Debug)]
pub struct Gate {
    open: AtomicBool,
    /// The run's clock origin: instants are stored as nanoseconds after it.
    pub epoch: Instant,
}

impl Gate {
    pub fn new(epoch: Instant) -> Gate {
        Gate {
            open: AtomicBool::new(false),
            epoch,
        }
    }

    pub fn open(&self) {
        self.open.store(true, Ordering::Release);
    }

    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    pub fn nanos(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_nanos() as u64
    }
}

type Socket = AsyncFd<std::net::TcpStream>;

/// Bytes asked of the socket per read (answers are small documents).
const READ_AT_MOST: usize = 4096;

/// What a connection shares beyond its protocol: its socket (TCP), when
/// it first wrote after the gate, writes held for the gate, whether it
/// closed.
#[derive(Debug)]
struct WriteProbe {
    gate: Arc<Gate>,
    /// Nanoseconds after the gate's epoch of the first write after it
    /// opened; 0 until then.
    first_write: AtomicU64,
    /// Set when an HTTP/3 connection's driver ended (closed by either side).
    closed: AtomicBool,
    /// None over QUIC, where nothing is held.
    socket: Option<Arc<Socket>>,
    /// Bytes written while holding, in order, not on the wire yet; after
    /// a release, what the socket did not take at once.
    held: std::sync::Mutex<Held>,
    /// True while anything is held or holding is on: the only case a
    /// write has to look at `held`.
    holds: AtomicBool,
}

#[derive(Debug, Default)]
struct Held {
    holding: bool,
    bytes: Vec<u8>,
}

impl WriteProbe {
    fn new(gate: Arc<Gate>, socket: Option<Arc<Socket>>) -> Arc<WriteProbe> {
        Arc::new(WriteProbe {
            gate,
            first_write: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            socket,
            held: Default::default(),
            holds: AtomicBool::new(false),
        })
    }

    fn on_write(&self) {
        if self.first_write.load(Ordering::Relaxed) == 0 && self.gate.is_open() {
            let now = self.gate.nanos(Instant::now()).max(1);
            let _ = self
                .first_write
                .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `bufs` if holding; false when they must go to the socket.
    fn hold_back(&self, bufs: &[std::io::IoSlice<'_>]) -> bool {
        if !self.holds.load(Ordering::Acquire) {
            return false;
        }
        let mut held = self.held();
        if held.holding {
            bufs.iter().for_each(|b| held.bytes.extend_from_slice(b));
        }
        held.holding
    }

    /// Puts what is held after a release on the wire before anything
    /// newer; Pending (write interest registered) while the socket is full.
    fn poll_push_held(&self, socket: &Socket, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.holds.load(Ordering::Acquire) {
            return Poll::Ready(Ok(()));
        }
        let mut held = self.held();
        if held.holding {
            return Poll::Ready(Ok(()));
        }
        while !held.bytes.is_empty() {
            let mut ready = std::task::ready!(socket.poll_write_ready(cx))?;
            match ready.try_io(|s| s.get_ref().write(&held.bytes)) {
                Ok(Ok(n)) => drop(held.bytes.drain(..n)),
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => {}
            }
        }
        self.holds.store(false, Ordering::Release);
        Poll::Ready(Ok(()))
    }
}

/// The socket as the protocol sees it: reads and writes through tokio's
/// readiness, writes noted for the gate and held back while holding.
struct ProbedIo {
    probe: Arc<WriteProbe>,
}

impl ProbedIo {
    fn socket(&self) -> std::io::Result<&Socket> {
        self.probe
            .socket
            .as_deref()
            .ok_or_else(|| std::io::ErrorKind::NotConnected.into())
    }

    fn poll_write_all_of(
        &self,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if self.probe.hold_back(bufs) {
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        let socket = self.socket()?;
        std::task::ready!(self.probe.poll_push_held(socket, cx))?;
        self.probe.on_write();
        let wanted: usize = bufs.iter().map(|b| b.len()).sum();
        loop {
            let mut ready = std::task::ready!(socket.poll_write_ready(cx))?;
            let write = |s: &Socket| match bufs {
                [one] => s.get_ref().write(one), // write(2) is a little cheaper than writev(2)
                _ => s.get_ref().write_vectored(bufs),
            };
            if let Ok(written) = ready.try_io(write) {
                // A short write filled the socket: wait for room to come.
                if written.as_ref().is_ok_and(|n| 0 < *n && *n < wanted) {
                    ready.clear_ready();
                }
                return Poll::Ready(written);
            }
        }
    }
}

impl AsyncRead for ProbedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let socket = self.socket()?;
        // Held bytes a release could not write at once go out first (the
        // one waiting for an answer is the one polling).
        if let Poll::Ready(Err(e)) = self.probe.poll_push_held(socket, cx) {
            return Poll::Ready(Err(e));
        }
        loop {
            let mut ready = std::task::ready!(socket.poll_read_ready(cx))?;
            // Without `unsafe` a read needs initialised memory: a caller
            // handing over uninitialised space (h2's codec) gets at most
            // this much zeroed per read rather than all of it.
            let unfilled = buf.initialize_unfilled_to(buf.remaining().min(READ_AT_MOST));
            let wanted = unfilled.len();
            match ready.try_io(|s| s.get_ref().read(unfilled)) {
                Ok(Ok(n)) => {
                    // A short read drained the socket (edge-triggered):
                    // the next read waits for new data instead of asking.
                    if n > 0 && n < wanted {
                        ready.clear_ready();
                    }
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => {}
            }
        }
    }
}

impl AsyncWrite for ProbedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.poll_write_all_of(cx, &[std::io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.poll_write_all_of(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let socket = self.socket()?;
        self.probe.poll_push_held(socket, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let socket = self.socket()?;
        std::task::ready!(self.probe.poll_push_held(socket, cx))?;
        Poll::Ready(socket.get_ref().shutdown(std::net::Shutdown::Write))
    }
}

#[derive(Clone)]
enum Sender {
    /// One exchange at a time, in the caller's task.
    H1(Arc<tokio::sync::Mutex<H1>>),
    /// Many exchanges at once, each in its caller's task.
    H2(Arc<H2>),
    H3(h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>),
}

/// One open connection. HTTP/2 handles are cheap clones sharing it; an
/// HTTP/1.1 connection carries one exchange at a time.
#[derive(Clone)]
pub struct Connection {
    sender: Sender,
    probe: Arc<WriteProbe>,
}

impl Connection {
    /// Sends `req` and reads the whole answer.
    pub async fn send(&self, req: Request<Bytes>) -> Result<Answer, TransportError> {
        match &self.sender {
            Sender::H1(connection) => connection.lock().await.exchange(req).await,
            Sender::H2(connection) => connection.exchange(Outgoing::Request(req)).await,
            Sender::H3(sender) => {
                let h3 = |e: h3::error::StreamError| TransportError::H3(e.to_string());
                let (parts, body) = req.into_parts();
                self.probe.on_write();
                let mut stream = sender
                    .clone()
                    .send_request(Request::from_parts(parts, ()))
                    .await
                    .map_err(h3)?;
                // The gateway may answer before the request is complete and
                // then stop the upload (RFC 9114 4.1.1: the answer stands),
                // so a failed upload only matters if no answer comes.
                let uploaded = async {
                    if !body.is_empty() {
                        stream.send_data(body).await?;
                    }
                    stream.finish().await
                }
                .await;
                let response = match (stream.recv_response().await, uploaded) {
                    (Ok(response), _) => response,
                    (Err(_), Err(upload)) => return Err(h3(upload)),
                    (Err(e), Ok(())) => return Err(h3(e)),
                };
                let (parts, ()) = response.into_parts();
                let mut whole = bytes::BytesMut::new();
                while let Some(mut chunk) = stream.recv_data().await.map_err(h3)? {
                    use bytes::Buf as _;
                    whole.extend_from_slice(&chunk.copy_to_bytes(chunk.remaining()));
                }
                Ok(Answer {
                    status: parts.status,
                    headers: parts.headers.into(),
                    body: whole.freeze(),
                })
            }
        }
    }

    /// Sends a request whose header fields were prepared before it (see
    /// [`Fields`]): over HTTP/1.1 only bytes are copied; over HTTP/2 the
    /// connection encodes them against its HPACK table. The body is
    /// borrowed: HTTP/1.1 copies it into the request's bytes, and only
    /// the others, which hand it on, take a reference.
    pub async fn send_encoded(
        &self,
        method: &Method,
        uri: &Uri,
        fields: &Fields,
        body: &Bytes,
    ) -> Result<Answer, TransportError> {
        match &self.sender {
            Sender::H1(connection) => match fields.wire(Protocol::Http1) {
                Some(wire) => {
                    let mut connection = connection.lock().await;
                    connection.exchange_encoded(method, uri, wire, body).await
                }
                None => self.send(fields.request(method, uri, body.clone())).await,
            },
            Sender::H2(connection) => {
                let req = Outgoing::Encoded {
                    method,
                    uri,
                    fields,
                    body: body.clone(),
                };
                connection.exchange(req).await
            }
            Sender::H3(_) => self.send(fields.request(method, uri, body.clone())).await,
        }
    }

    /// False once the peer closed the connection or it failed.
    pub fn is_open(&self) -> bool {
        match &self.sender {
            Sender::H1(connection) => connection.try_lock().map_or(true, |mut c| c.is_open()),
            Sender::H2(connection) => connection.is_open(),
            Sender::H3(_) => !self.probe.closed.load(Ordering::Relaxed),
        }
    }

    /// From now until [`Connection::release`], this connection's writes
    /// are kept in memory instead of going to the socket, so a request
    /// can be prepared whole before the gate opens. False (and nothing
    /// held) over QUIC, whose datagrams are not this connection's to hold.
    pub fn hold(&self) -> bool {
        if self.probe.socket.is_none() {
            return false;
        }
        let mut held = self.probe.held();
        held.holding = true;
        self.probe.holds.store(true, Ordering::Release);
        true
    }

    /// Writes what was held with one non-blocking `write`, from the
    /// caller's thread; what the socket does not take at once goes out on
    /// the connection's next read or write. Later writes go straight out.
    pub fn release(&self) {
        let Some(socket) = &self.probe.socket else {
            return;
        };
        let mut held = self.probe.held();
        if !held.holding {
            return;
        }
        held.holding = false;
        if !held.bytes.is_empty() {
            self.probe.on_write();
            match socket.get_ref().write(&held.bytes) {
                Ok(n) => drop(held.bytes.drain(..n)),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                // The connection is broken; its reader finds out.
                Err(_) => held.bytes.clear(),
            }
        }
        if held.bytes.is_empty() {
            self.probe.holds.store(false, Ordering::Release);
        } else if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            // The socket took part of it: the rest goes as soon as there is
            // room (whoever waits for the answer is parked on reading).
            let (probe, socket) = (self.probe.clone(), socket.clone());
            runtime.spawn(std::future::poll_fn(move |cx| {
                probe.poll_push_held(&socket, cx)
            }));
        }
    }

    /// Nanoseconds after the gate's epoch of this connection's first write
    /// after the gate opened, if it wrote since.
    pub fn first_write(&self) -> Option<u64> {
        Some(self.probe.first_write.load(Ordering::Relaxed)).filter(|n| *n != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A burst's first request goes through HTTP/1.1 and TLS before the
    /// gate, its bytes held; nothing reaches the server until the release,
    /// which is the connection's first write after the gate.
    #[tokio::test]
    async fn held_writes_reach_the_socket_only_when_released() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let target = Target::new(&url, Protocol::Http1, None).await.unwrap();
        let gate = Arc::new(Gate::new(Instant::now()));
        let conn = target.connect(gate.clone()).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        assert!(conn.hold());
        let request = Request::post(target.uri("/v1/submissions"))
            .body(Bytes::from_static(b"{}"))
            .unwrap();
        let sending = tokio::spawn({
            let conn = conn.clone();
            async move { conn.send(request).await }
        });
        while conn.probe.held().bytes.is_empty() {
            tokio::task::yield_now().await;
        }
        // The whole request is in memory: none of it can be in flight.
        let mut buf = [0; 1024];
        let early = server.try_read(&mut buf);
        assert!(
            early
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
            "{early:?}"
        );
        gate.open();
        conn.release();
        let n = server.read(&mut buf).await.unwrap();
        let seen = String::from_utf8_lossy(&buf[..n]);
        assert!(
            seen.starts_with("POST /v1/submissions HTTP/1.1\r\n"),
            "{seen}"
        );
        assert!(seen.ends_with("\r\n\r\n{}"), "{seen}");
        server
            .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\nok")
            .await
            .unwrap();
        let answer = sending.await.unwrap().unwrap();
        assert_eq!(
            (answer.status.as_u16(), &answer.body[..]),
            (202, &b"ok"[..])
        );
        assert!(
            conn.first_write().is_some(),
            "the release is the first write"
        );
        // Later requests go straight out.
        let again = Request::get(target.uri("/v1/time"))
            .body(Bytes::new())
            .unwrap();
        let sending = tokio::spawn({
            let conn = conn.clone();
            async move { conn.send(again).await }
        });
        let n = server.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"GET /v1/time HTTP/1.1\r\n"));
        server
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(sending.await.unwrap().unwrap().status, 200);
    }

    #[tokio::test]
    async fn bad_targets_are_refused_with_a_message_naming_them() {
        for url in ["127.0.0.1:8443", "ftp://127.0.0.1", "https://"] {
            let e = Target::new(url, Protocol::Http2, Some(&Trust::Insecure))
                .await
                .err()
                .map(|e| e.to_string());
            assert!(
                e.as_deref().is_some_and(|e| e.contains(url)),
                "{url}: {e:?}"
            );
        }
        let e = Target::new("https://127.0.0.1:8443", Protocol::Http2, None)
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("--ca") && e.contains("--insecure"), "{e}");
        let e = Target::new("http://127.0.0.1:8443", Protocol::Http3, None)
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("HTTP/3") && e.contains("http://127.0.0.1:8443"),
            "{e}"
        );
        // HTTP/3 to an https target needs no listener to be set up.
        let target = Target::new(
            "https://127.0.0.1:8443",
            Protocol::Http3,
            Some(&Trust::Insecure),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(target.uri("/v1/time"), "https://127.0.0.1:8443/v1/time");
    }
}
