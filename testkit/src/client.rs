//! A minimal HTTP/1.1, HTTP/2 (over TLS or plain TCP) and HTTP/3 (over
//! QUIC) client for tests, with full control of the protocol and of how the
//! body is sent. Every protocol answers through the same [`Client`] calls,
//! so one test body runs over all three.

use anyhow::{Context as _, bail};
use bytes::{Buf as _, Bytes, BytesMut};
use futures_util::future::BoxFuture;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full, StreamBody};
use hyper::body::Frame;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

pub type Body = BoxBody<Bytes, std::io::Error>;

/// The protocol enum of the client side, the same as loadgen's and the
/// mini-client's (`clickday_transport::Protocol`), under the short name the
/// tests use.
pub use clickday_transport::Protocol as Proto;

type H3Sender = h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>;

enum Sender {
    H1(http1::SendRequest<Body>),
    H2(http2::SendRequest<Body>),
    H3(H3Sender),
}

pub struct Client {
    sender: Sender,
    addr: SocketAddr,
    tls: bool,
}

/// A whole response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// The problem `code`, for error answers.
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_string()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Client {
    /// Connects with TLS when `ca` is given (trusting only that certificate)
    /// and plain TCP otherwise. HTTP/3 goes to the same port number over
    /// UDP and needs `ca`: QUIC has no plain-text mode.
    pub async fn connect(
        addr: SocketAddr,
        proto: Proto,
        ca: Option<&CertificateDer<'static>>,
    ) -> anyhow::Result<Self> {
        if proto == Proto::Http3 {
            let ca = ca.context("HTTP/3 needs TLS: give the gateway's certificate")?;
            return Self::connect_quic(addr, tls_config(ca, proto)?).await;
        }
        let tcp = TcpStream::connect(addr).await.context("connect")?;
        Self::over_tcp(tcp, addr, proto, ca).await
    }

    /// HTTP/1.1 or HTTP/2 (with TLS when `ca` is given) over a TCP
    /// connection the test opened, and perhaps wrote to, itself (e.g. a
    /// balancer's PROXY header).
    pub async fn over_tcp(
        tcp: TcpStream,
        addr: SocketAddr,
        proto: Proto,
        ca: Option<&CertificateDer<'static>>,
    ) -> anyhow::Result<Self> {
        tcp.set_nodelay(true)?;
        let Some(ca) = ca else {
            return Self::handshake(TokioIo::new(tcp), proto, addr, false).await;
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config(ca, proto)?));
        let tls = connector
            .connect(ServerName::try_from("localhost")?, tcp)
            .await
            .context("TLS handshake")?;
        let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        if negotiated.as_deref() != Some(proto.alpn()) {
            bail!(
                "server negotiated ALPN {negotiated:?}, wanted {:?}",
                proto.alpn()
            );
        }
        Self::handshake(TokioIo::new(tls), proto, addr, true).await
    }

    async fn connect_quic(addr: SocketAddr, tls: rustls::ClientConfig) -> anyhow::Result<Self> {
        let local: SocketAddr = if addr.is_ipv4() {
            "127.0.0.1:0".parse()?
        } else {
            "[::1]:0".parse()?
        };
        let mut endpoint = quinn::Endpoint::client(local)?;
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)?;
        endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
        let connection = endpoint
            .connect(addr, "localhost")?
            .await
            .context("QUIC handshake")?;
        Self::h3(connection, Some(endpoint)).await
    }

    /// HTTP/3 over a QUIC connection the test opened itself (with its own
    /// TLS or transport settings); the test keeps its endpoint alive.
    pub async fn over_quic(connection: quinn::Connection) -> anyhow::Result<Self> {
        Self::h3(connection, None).await
    }

    async fn h3(
        connection: quinn::Connection,
        endpoint: Option<quinn::Endpoint>,
    ) -> anyhow::Result<Self> {
        let addr = connection.remote_address();
        let (mut driver, sender) = h3::client::new(h3_quinn::Connection::new(connection))
            .await
            .context("HTTP/3 set-up")?;
        tokio::spawn(async move {
            let _endpoint = endpoint; // lives as long as the connection
            let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
        });
        Ok(Client {
            sender: Sender::H3(sender),
            addr,
            tls: true,
        })
    }

    async fn handshake<T>(
        io: TokioIo<T>,
        proto: Proto,
        addr: SocketAddr,
        tls: bool,
    ) -> anyhow::Result<Self>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let sender = match proto {
            Proto::Http1 => {
                let (sender, conn) = http1::handshake(io).await?;
                tokio::spawn(conn);
                Sender::H1(sender)
            }
            Proto::Http2 => {
                let (sender, conn) = http2::handshake(TokioExecutor::new(), io).await?;
                tokio::spawn(conn);
                Sender::H2(sender)
            }
            Proto::Http3 => bail!("HTTP/3 runs over QUIC, not TCP"),
        };
        Ok(Client { sender, addr, tls })
    }

    /// Another handle on the same HTTP/2 or HTTP/3 connection (a new
    /// stream each request).
    pub fn clone_multiplexed(&self) -> Client {
        let sender = match &self.sender {
            Sender::H2(s) => Sender::H2(s.clone()),
            Sender::H3(s) => Sender::H3(s.clone()),
            Sender::H1(_) => panic!("HTTP/1.1 connections cannot be shared"),
        };
        Client {
            sender,
            addr: self.addr,
            tls: self.tls,
        }
    }

    pub fn uri(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let host = if self.tls {
            "localhost".to_string()
        } else {
            self.addr.to_string()
        };
        format!("{scheme}://{host}{path}")
    }

    /// Sends a request with a body that is already whole.
    pub async fn send(&mut self, req: Request<Bytes>) -> anyhow::Result<Reply> {
        let req = req.map(|b| Full::new(b).map_err(|never| match never {}).boxed());
        self.send_body(req).await
    }

    pub async fn get(&mut self, path: &str) -> anyhow::Result<Reply> {
        let req = Request::get(self.uri(path)).body(Bytes::new())?;
        self.send(req).await
    }

    /// A POST /v1/submissions signed by `applicant`.
    pub async fn submit(
        &mut self,
        applicant: &crate::Applicant,
        body: &[u8],
    ) -> anyhow::Result<Reply> {
        let req = self
            .submission(applicant, body)
            .body(Bytes::copy_from_slice(body))?;
        self.send(req).await
    }

    /// The request builder for a signed submission, for tests that tamper.
    pub fn submission(&self, applicant: &crate::Applicant, body: &[u8]) -> http::request::Builder {
        Request::post(self.uri("/v1/submissions"))
            .header("content-type", "application/json")
            .header("clickday-key", applicant.key_id())
            .header("clickday-signature", applicant.sign(body))
    }

    /// A submission with exactly the given headers, for tests that tamper.
    pub fn raw_submission(
        &self,
        key: Option<&str>,
        signature: Option<&str>,
        content_type: &str,
        body: &[u8],
    ) -> Request<Bytes> {
        let mut builder =
            Request::post(self.uri("/v1/submissions")).header("content-type", content_type);
        if let Some(key) = key {
            builder = builder.header("clickday-key", key);
        }
        if let Some(signature) = signature {
            builder = builder.header("clickday-signature", signature);
        }
        builder
            .body(Bytes::copy_from_slice(body))
            .expect("valid request")
    }

    /// Sends `req` whose body chunks are pushed through the returned sender.
    pub fn send_streaming(
        &mut self,
        req: http::request::Builder,
    ) -> anyhow::Result<(
        mpsc::Sender<Bytes>,
        impl Future<Output = anyhow::Result<Reply>> + use<>,
    )> {
        let (tx, rx) = mpsc::channel::<Bytes>(8);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            let chunk = rx.recv().await?;
            Some((Ok::<_, std::io::Error>(Frame::data(chunk)), rx))
        });
        let req = req.body(StreamBody::new(stream).boxed())?;
        Ok((tx, self.dispatch(req)))
    }

    pub async fn send_body(&mut self, req: Request<Body>) -> anyhow::Result<Reply> {
        // HTTP/1.1 reuses the connection only once the last exchange is done.
        if let Sender::H1(s) = &mut self.sender {
            s.ready().await?;
        }
        self.dispatch(req).await
    }

    /// Starts the exchange now; the returned future completes it.
    fn dispatch(&mut self, req: Request<Body>) -> BoxFuture<'static, anyhow::Result<Reply>> {
        match &mut self.sender {
            Sender::H1(s) => {
                let sent = s.send_request(req);
                Box::pin(async move { collect(sent.await?).await })
            }
            Sender::H2(s) => {
                let sent = s.send_request(req);
                Box::pin(async move { collect(sent.await?).await })
            }
            Sender::H3(s) => {
                // Started now, like hyper's senders, not when first polled.
                let exchange = tokio::spawn(exchange_h3(s.clone(), req));
                Box::pin(async move { exchange.await? })
            }
        }
    }
}

/// One HTTP/3 exchange. The body is sent from its own task while the answer
/// is awaited: the server may answer (413, 503) before the body is done.
async fn exchange_h3(mut sender: H3Sender, req: Request<Body>) -> anyhow::Result<Reply> {
    let (parts, mut body) = req.into_parts();
    let stream = sender
        .send_request(Request::from_parts(parts, ()))
        .await
        .context("HTTP/3 request")?;
    let (mut send, mut recv) = stream.split();
    let upload = tokio::spawn(async move {
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                send.send_data(data).await?;
            }
        }
        send.finish().await?;
        anyhow::Ok(())
    });
    let response = recv.recv_response().await.context("HTTP/3 response")?;
    let mut whole = BytesMut::new();
    while let Some(mut chunk) = recv.recv_data().await.context("HTTP/3 response body")? {
        whole.extend_from_slice(&chunk.copy_to_bytes(chunk.remaining()));
    }
    upload.abort();
    let (parts, ()) = response.into_parts();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body: whole.freeze(),
    })
}

/// TLS 1.3 trusting only `ca`, offering `proto`'s ALPN.
pub fn tls_config(
    ca: &CertificateDer<'static>,
    proto: Proto,
) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![proto.alpn().to_vec()];
    Ok(config)
}

async fn collect(resp: http::Response<hyper::body::Incoming>) -> anyhow::Result<Reply> {
    let (parts, body) = resp.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// The certificate in the PEM file at `path` (a gateway's CA).
pub fn read_ca(path: &std::path::Path) -> anyhow::Result<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject as _;
    Ok(CertificateDer::from_pem_file(path)?)
}

/// The `/metrics` text of the server at `addr`, read over a new HTTP/1.1
/// connection that trusts `ca` (plain HTTP without).
pub async fn metrics(
    addr: SocketAddr,
    ca: Option<&CertificateDer<'static>>,
) -> anyhow::Result<String> {
    let mut client = Client::connect(addr, Proto::Http1, ca).await?;
    let reply = client.get("/metrics").await?;
    Ok(String::from_utf8_lossy(&reply.body).into_owned())
}

/// The sum of the samples of counter `name` whose labels include `label`
/// (e.g. `outcome="unavailable"`; empty for a metric without labels), over
/// every other label.
pub fn counter(metrics: &str, name: &str, label: &str) -> u64 {
    metrics
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(labelled) => labelled.split_once("} ")?,
                None => ("", rest.strip_prefix(' ')?),
            };
            labels
                .contains(label)
                .then(|| value.trim().parse::<f64>().ok())?
        })
        .sum::<f64>() as u64
}
