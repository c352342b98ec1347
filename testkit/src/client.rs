//! A minimal HTTP/1.1 and HTTP/2 client over TLS (or plain TCP) for tests,
//! with full control of the protocol and of how the body is sent.

use anyhow::{Context as _, bail};
use bytes::Bytes;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Http1,
    Http2,
}

enum Sender {
    H1(http1::SendRequest<Body>),
    H2(http2::SendRequest<Body>),
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
    /// and plain TCP otherwise.
    pub async fn connect(
        addr: SocketAddr,
        proto: Proto,
        ca: Option<&CertificateDer<'static>>,
    ) -> anyhow::Result<Self> {
        let tcp = TcpStream::connect(addr).await.context("connect")?;
        tcp.set_nodelay(true)?;
        let Some(ca) = ca else {
            return Self::handshake(TokioIo::new(tcp), proto, addr, false).await;
        };
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![match proto {
            Proto::Http1 => b"http/1.1".to_vec(),
            Proto::Http2 => b"h2".to_vec(),
        }];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tls = connector
            .connect(ServerName::try_from("localhost")?, tcp)
            .await
            .context("TLS handshake")?;
        let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        let expected: &[u8] = if proto == Proto::Http2 {
            b"h2"
        } else {
            b"http/1.1"
        };
        if negotiated.as_deref() != Some(expected) {
            bail!("server negotiated ALPN {negotiated:?}, wanted {expected:?}");
        }
        Self::handshake(TokioIo::new(tls), proto, addr, true).await
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
        };
        Ok(Client { sender, addr, tls })
    }

    /// Another handle on the same HTTP/2 connection (a new stream each request).
    pub fn clone_h2(&self) -> Client {
        match &self.sender {
            Sender::H2(s) => Client {
                sender: Sender::H2(s.clone()),
                addr: self.addr,
                tls: self.tls,
            },
            Sender::H1(_) => panic!("HTTP/1.1 connections cannot be shared"),
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
        let fut = self.dispatch(req);
        Ok((tx, async move { collect(fut?.await?).await }))
    }

    pub async fn send_body(&mut self, req: Request<Body>) -> anyhow::Result<Reply> {
        // HTTP/1.1 reuses the connection only once the last exchange is done.
        if let Sender::H1(s) = &mut self.sender {
            s.ready().await?;
        }
        collect(self.dispatch(req)?.await?).await
    }

    fn dispatch(
        &mut self,
        req: Request<Body>,
    ) -> anyhow::Result<
        impl Future<Output = hyper::Result<http::Response<hyper::body::Incoming>>> + use<>,
    > {
        let fut: std::pin::Pin<Box<dyn Future<Output = _> + Send>> = match &mut self.sender {
            Sender::H1(s) => Box::pin(s.send_request(req)),
            Sender::H2(s) => Box::pin(s.send_request(req)),
        };
        Ok(fut)
    }
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
