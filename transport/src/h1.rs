//! A lean HTTP/1.1 client connection. The request is encoded into one
//! buffer and written by the caller's own task, and the answer is parsed
//! in place from the same task: no dispatch channel and no connection task
//! between the caller and the socket (hyper's client has both, and they
//! were most of loadgen's cost per HTTP/1.1 request). One exchange at a
//! time. The answer is read while the upload is still going on, so an
//! answer given on the declared length alone (413, a shed 503) reaches the
//! caller; the connection is then not used again.

use crate::answer::{Headers, MAX_FIELDS, values};
use crate::io::{Io, Unread};
use crate::{Answer, TransportError};
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Request, StatusCode};
use std::future::poll_fn;
use std::io::{self, Write as _};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;

/// An answer's head may not be larger: the peer is not trusted to be sane.
const MAX_HEAD: usize = 64 * 1024;
/// Nor its body: the protocol's answers are small JSON documents.
const MAX_BODY: usize = 16 << 20;

pub(crate) struct H1 {
    io: Box<dyn Io>,
    /// The `host` header for requests whose URI has no authority.
    host: String,
    /// Read from the socket and not consumed yet.
    read: Unread,
    /// The request being written, and how much of it is out.
    out: Vec<u8>,
    sent: usize,
    /// False once the connection can carry no more exchanges: closed,
    /// failed, cut short (the caller dropped an exchange midway), or told
    /// so by the peer.
    reusable: bool,
}

/// A request's header fields: a map, or lines encoded before (`Fields`).
#[derive(Clone, Copy)]
enum Encoding<'a> {
    Map(&'a HeaderMap),
    Lines(&'a [u8]),
}

/// A final answer's head as read: its status, its fields, and what they
/// say of the body and of the connection.
struct ReadHead {
    status: StatusCode,
    headers: Headers,
    framing: Framing,
    keep_alive: bool,
}

/// How an answer's body is delimited (RFC 9112 6.3).
enum Framing {
    Empty,
    Length(usize),
    Chunked,
    UntilClose,
}

impl H1 {
    pub(crate) fn new(io: Box<dyn Io>, host: String) -> H1 {
        H1 {
            io,
            host,
            read: Unread::default(),
            out: Vec::with_capacity(2048),
            sent: 0,
            reusable: true,
        }
    }

    /// False when the connection cannot carry another exchange. Also
    /// notices, without waiting, a peer that closed the idle connection
    /// (or wrote to it unasked), so the caller opens a new one instead of
    /// sending into a dead one.
    pub(crate) fn is_open(&mut self) -> bool {
        if self.reusable {
            let mut cx = Context::from_waker(std::task::Waker::noop());
            match self.poll_fill(&mut cx) {
                Poll::Pending => {}
                Poll::Ready(_) => self.reusable = false,
            }
        }
        self.reusable
    }

    /// Sends `req` and reads the whole answer.
    pub(crate) async fn exchange(&mut self, req: Request<Bytes>) -> Result<Answer, TransportError> {
        let (parts, body) = req.into_parts();
        let fields = Encoding::Map(&parts.headers);
        self.exchange_with(&parts.method, &parts.uri, fields, &body)
            .await
    }

    /// Sends a request whose fields are already `name: value` lines.
    pub(crate) async fn exchange_encoded(
        &mut self,
        method: &Method,
        uri: &http::Uri,
        fields: &[u8],
        body: &[u8],
    ) -> Result<Answer, TransportError> {
        self.exchange_with(method, uri, Encoding::Lines(fields), body)
            .await
    }

    async fn exchange_with(
        &mut self,
        method: &Method,
        uri: &http::Uri,
        fields: Encoding<'_>,
        body: &[u8],
    ) -> Result<Answer, TransportError> {
        if !self.is_open() {
            return Err(TransportError::Closed("before the request"));
        }
        // Set again only when the exchange completes cleanly: an exchange
        // dropped midway (a timeout) leaves the connection unusable.
        self.reusable = false;
        self.encode(method, uri, fields, body);
        let ReadHead {
            status,
            headers,
            framing,
            keep_alive,
        } = poll_fn(|cx| self.poll_head(cx, method)).await?;
        let body = match framing {
            Framing::Empty => Bytes::new(),
            Framing::Length(n) => {
                poll_fn(|cx| self.poll_until(cx, |read| read.len() >= n)).await?;
                self.read.take(n)
            }
            Framing::Chunked => self.chunked().await?,
            Framing::UntilClose => {
                poll_fn(|cx| self.poll_to_end(cx)).await?;
                self.read.take(self.read.len())
            }
        };
        self.reusable = self.sent == self.out.len()
            && self.read.is_empty()
            && !matches!(framing, Framing::UntilClose)
            && keep_alive;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// The request as bytes, origin-form, with `host` and `content-length`.
    fn encode(&mut self, method: &Method, uri: &http::Uri, fields: Encoding<'_>, body: &[u8]) {
        let out = &mut self.out;
        out.clear();
        self.sent = 0;
        out.extend_from_slice(method.as_str().as_bytes());
        out.push(b' ');
        let target = uri.path_and_query().map_or("/", |p| p.as_str());
        out.extend_from_slice(target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        let has_host = match fields {
            Encoding::Map(map) => map.contains_key(http::header::HOST),
            Encoding::Lines(_) => false, // `Fields` leaves `host` out
        };
        if !has_host {
            let host = uri.authority().map_or(&*self.host, |a| a.as_str());
            header(out, b"host", host.as_bytes());
        }
        match fields {
            Encoding::Map(map) => {
                for (name, value) in map {
                    if name != http::header::CONTENT_LENGTH
                        && name != http::header::TRANSFER_ENCODING
                    {
                        header(out, name.as_str().as_bytes(), value.as_bytes());
                    }
                }
            }
            Encoding::Lines(lines) => out.extend_from_slice(lines),
        }
        if !body.is_empty() || !matches!(*method, Method::GET | Method::HEAD) {
            // Formatted straight into the buffer (a Vec never fails a write).
            let _ = write!(out, "content-length: {}\r\n", body.len());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
    }

    /// Uploads and reads at once until a final answer's head has come.
    fn poll_head(
        &mut self,
        cx: &mut Context<'_>,
        method: &Method,
    ) -> Poll<Result<ReadHead, TransportError>> {
        let mut upload_failed = None;
        loop {
            // A failed upload does not end the exchange: the answer may
            // already be on its way (an early 413 after which the peer
            // stopped reading), so reading goes on.
            if upload_failed.is_none()
                && let Err(e) = self.poll_upload(cx)
            {
                upload_failed = Some(e);
            }
            if !self.read.is_empty()
                && let Some(head) = self.parse_head(method)?
            {
                return Poll::Ready(Ok(head));
            }
            if self.read.len() >= MAX_HEAD {
                return Poll::Ready(Err(TransportError::H1("answer head over 64 KiB")));
            }
            match self.poll_fill(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(match upload_failed {
                        Some(e) => e.into(),
                        None => TransportError::Closed("before the answer"),
                    }));
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(upload_failed.unwrap_or(e).into())),
            }
        }
    }

    /// Writes what is left of the request without waiting on the socket.
    fn poll_upload(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        while self.sent < self.out.len() {
            match Pin::new(&mut self.io).poll_write(cx, &self.out[self.sent..]) {
                Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => self.sent += n,
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => return Ok(()),
            }
        }
        match Pin::new(&mut self.io).poll_flush(cx) {
            Poll::Ready(Err(e)) => Err(e),
            _ => Ok(()),
        }
    }

    /// Parses the final answer's head from what was read, consuming it
    /// and any informational heads before it. The fields stay bytes of
    /// the head, read only for what they say of the body and the
    /// connection (see [`Headers`]).
    fn parse_head(&mut self, method: &Method) -> Result<Option<ReadHead>, TransportError> {
        loop {
            let mut slots = [httparse::EMPTY_HEADER; MAX_FIELDS];
            let mut parsed = httparse::Response::new(&mut slots);
            let len = match parsed.parse(&self.read) {
                Ok(httparse::Status::Complete(len)) => len,
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(TransportError::H1("answer with over 64 header fields"));
                }
                Err(_) => return Err(TransportError::H1("malformed answer head")),
            };
            let status = parsed
                .code
                .and_then(|c| StatusCode::from_u16(c).ok())
                .ok_or(TransportError::H1("malformed status code"))?;
            if status.is_informational() {
                self.read.advance(len); // 100 Continue and the like: the answer follows
                continue;
            }
            let framing = framing(method, status, parsed.headers)?;
            let keep_alive = keeps_alive(parsed.version, parsed.headers);
            return Ok(Some(ReadHead {
                status,
                headers: Headers::head(self.read.take(len)),
                framing,
                keep_alive,
            }));
        }
    }

    /// Reads until `enough` says so; the peer closing first is an error.
    fn poll_until(
        &mut self,
        cx: &mut Context<'_>,
        enough: impl Fn(&[u8]) -> bool,
    ) -> Poll<Result<(), TransportError>> {
        while !enough(&self.read) {
            match self.poll_fill(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(TransportError::Closed("mid-answer")));
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Reads until the peer closes (a body delimited by the close).
    fn poll_to_end(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        loop {
            if self.read.len() > MAX_BODY {
                return Poll::Ready(Err(TransportError::H1("answer body over 16 MiB")));
            }
            match self.poll_fill(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
            }
        }
    }

    /// A chunked body, trailers read and dropped.
    async fn chunked(&mut self) -> Result<Bytes, TransportError> {
        let mut body = BytesMut::new();
        loop {
            let mut size = None;
            poll_fn(|cx| {
                self.poll_until(cx, |read| {
                    !matches!(
                        httparse::parse_chunk_size(read),
                        Ok(httparse::Status::Partial)
                    ) || read.len() > 1024
                })
            })
            .await?;
            if let Ok(httparse::Status::Complete((len, n))) = httparse::parse_chunk_size(&self.read)
            {
                self.read.advance(len);
                size = usize::try_from(n).ok();
            }
            let size = size.ok_or(TransportError::H1("malformed chunk size"))?;
            if size == 0 {
                break;
            }
            if body.len() + size > MAX_BODY {
                return Err(TransportError::H1("answer body over 16 MiB"));
            }
            poll_fn(|cx| self.poll_until(cx, |read| read.len() >= size + 2)).await?;
            body.extend_from_slice(&self.read[..size]);
            if &self.read[size..size + 2] != b"\r\n" {
                return Err(TransportError::H1("malformed chunk"));
            }
            self.read.advance(size + 2);
        }
        // Trailer fields, each a line, then an empty line.
        loop {
            let line_end = |read: &[u8]| read.windows(2).position(|w| w == b"\r\n");
            poll_fn(|cx| {
                self.poll_until(cx, |read| line_end(read).is_some() || read.len() > MAX_HEAD)
            })
            .await?;
            let end = line_end(&self.read).ok_or(TransportError::H1("trailer over 64 KiB"))?;
            self.read.advance(end + 2);
            if end == 0 {
                return Ok(body.freeze());
            }
        }
    }

    /// One read from the socket onto `read`; `Ok(0)` is the peer's close.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        self.read.poll_fill(&mut self.io, cx)
    }
}

fn header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn framing(
    method: &Method,
    status: StatusCode,
    fields: &[httparse::Header<'_>],
) -> Result<Framing, TransportError> {
    if *method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(Framing::Empty);
    }
    // The codings are one list over all the fields; chunked must be last.
    if let Some(codings) = values(fields, "transfer-encoding").last() {
        let last = codings.rsplit(|b| *b == b',').next().unwrap_or_default();
        return Ok(if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
            Framing::Chunked
        } else {
            Framing::UntilClose
        });
    }
    let mut lengths = values(fields, "content-length");
    let Some(length) = lengths.next() else {
        return Ok(Framing::UntilClose);
    };
    let n = std::str::from_utf8(length)
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|_| lengths.all(|other| other == length))
        .ok_or(TransportError::H1("malformed content-length"))?;
    if n > MAX_BODY {
        return Err(TransportError::H1("answer body over 16 MiB"));
    }
    Ok(Framing::Length(n))
}

/// False when the answer says the connection ends with it: `connection:
/// close`, or HTTP/1.0 without `connection: keep-alive`.
fn keeps_alive(version: Option<u8>, fields: &[httparse::Header<'_>]) -> bool {
    let mut tokens = values(fields, "connection")
        .flat_map(|value| value.split(|b| *b == b','))
        .map(<[u8]>::trim_ascii);
    if version == Some(0) {
        tokens.any(|token| token.eq_ignore_ascii_case(b"keep-alive"))
    } else {
        !tokens.any(|token| token.eq_ignore_ascii_case(b"close"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A client on one end of an in-memory pipe, the test as the server.
    fn pair() -> (H1, tokio::io::DuplexStream) {
        let (client, server) = tokio::io::duplex(64 * 1024);
        (H1::new(Box::new(client), "example.test".into()), server)
    }

    fn post(body: &'static str) -> Request<Bytes> {
        let mut req = Request::new(Bytes::from_static(body.as_bytes()));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = http::Uri::from_static("http://gw.test:8080/v1/submissions");
        req.headers_mut()
            .insert("clickday-key", HeaderValue::from_static("k"));
        req
    }

    async fn request_head(server: &mut tokio::io::DuplexStream) -> String {
        let mut seen = Vec::new();
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            let mut byte = [0; 1];
            server.read_exact(&mut byte).await.unwrap();
            seen.push(byte[0]);
        }
        String::from_utf8(seen).unwrap()
    }

    #[tokio::test]
    async fn a_request_is_one_origin_form_write_and_the_answer_is_read_by_its_length() {
        let (mut client, mut server) = pair();
        let serve = tokio::spawn(async move {
            let head = request_head(&mut server).await;
            let mut body = [0; 2];
            server.read_exact(&mut body).await.unwrap();
            server
                .write_all(
                    b"HTTP/1.1 202 Accepted\r\ncontent-length: 4\r\nretry-after: 1\r\n\r\nabcd",
                )
                .await
                .unwrap();
            (head, body, server)
        });
        let answer = client.exchange(post("{}")).await.unwrap();
        let (head, body, _server) = serve.await.unwrap();
        assert_eq!(
            head,
            "POST /v1/submissions HTTP/1.1\r\nhost: gw.test:8080\r\nclickday-key: k\r\n\
             content-length: 2\r\n\r\n"
        );
        assert_eq!(&body, b"{}");
        assert_eq!(answer.status, 202);
        assert_eq!(answer.headers.get_str("retry-after"), Some("1"));
        assert_eq!(&answer.body[..], b"abcd");
        assert!(client.is_open(), "a complete exchange keeps the connection");
    }

    /// Answers are views of the read buffer: ones kept stay intact while
    /// the buffer fills, is replaced, and is reused after drops.
    #[tokio::test]
    async fn answers_kept_or_dropped_stay_whole_while_the_buffer_is_reused() {
        let (mut client, mut server) = pair();
        const ROUNDS: usize = 600; // several 16 KiB buffers of answers
        let serve = tokio::spawn(async move {
            for i in 0..ROUNDS {
                request_head(&mut server).await;
                let mut body = [0; 2];
                server.read_exact(&mut body).await.unwrap();
                let doc = format!("{{\"n\":{i}}}");
                let answer = format!(
                    "HTTP/1.1 202 Accepted\r\nx-n: {i}\r\ncontent-length: {}\r\n\r\n{doc}",
                    doc.len()
                );
                server.write_all(answer.as_bytes()).await.unwrap();
            }
            server
        });
        let mut kept = Vec::new();
        for i in 0..ROUNDS {
            let answer = client.exchange(post("{}")).await.unwrap();
            assert_eq!(answer.headers.get_str("x-n"), Some(i.to_string().as_str()));
            if i % 3 == 0 {
                kept.push((i, answer));
            }
        }
        let _server = serve.await.unwrap();
        for (i, answer) in kept {
            assert_eq!(answer.headers.get_str("x-n"), Some(i.to_string().as_str()));
            assert_eq!(answer.body, format!("{{\"n\":{i}}}").as_bytes());
        }
    }

    /// Fields encoded before are sent as the same bytes the map gives.
    #[tokio::test]
    async fn encoded_fields_send_the_same_request() {
        let (mut client, mut server) = pair();
        let serve = tokio::spawn(async move {
            let mut heads = Vec::new();
            for _ in 0..2 {
                heads.push(request_head(&mut server).await);
                let mut body = [0; 2];
                server.read_exact(&mut body).await.unwrap();
                server
                    .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
                    .await
                    .unwrap();
            }
            heads
        });
        let req = post("{}");
        let fields = crate::Fields::encode(req.headers().clone(), crate::Protocol::Http1);
        let wire = fields.wire(crate::Protocol::Http1).unwrap();
        let (method, uri) = (req.method().clone(), req.uri().clone());
        let encoded = client.exchange_encoded(&method, &uri, wire, b"{}").await;
        assert_eq!(encoded.unwrap().status, 202);
        assert_eq!(client.exchange(req).await.unwrap().status, 202);
        let heads = serve.await.unwrap();
        assert_eq!(heads[0], heads[1]);
        assert!(heads[0].contains("\r\nclickday-key: k\r\n"), "{}", heads[0]);
    }

    #[tokio::test]
    async fn chunked_answers_and_informational_heads_are_read() {
        let (mut client, mut server) = pair();
        let serve = tokio::spawn(async move {
            request_head(&mut server).await;
            server
                .write_all(
                    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
                      3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\ntrailer: x\r\n\r\n",
                )
                .await
                .unwrap();
            server
        });
        let answer = client.exchange(post("")).await.unwrap();
        let _server = serve.await.unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(&answer.body[..], b"abcde");
        assert!(client.is_open());
    }

    #[tokio::test]
    async fn an_answer_before_the_whole_upload_is_read_and_the_connection_is_not_reused() {
        let (client, mut server) = tokio::io::duplex(1024);
        let mut client = H1::new(Box::new(client), "h".into());
        let big: &'static str = Box::leak("x".repeat(1 << 20).into_boxed_str());
        let serve = tokio::spawn(async move {
            request_head(&mut server).await;
            // Answer on the declared length alone, never reading the body.
            server
                .write_all(b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            server
        });
        let answer = client.exchange(post(big)).await.unwrap();
        let _server = serve.await.unwrap();
        assert_eq!(answer.status, 413);
        assert!(!client.is_open());
        assert!(matches!(
            client.exchange(post("{}")).await,
            Err(TransportError::Closed(_))
        ));
    }

    #[tokio::test]
    async fn hostile_answers_are_refused_with_a_reason() {
        for (answer, reason) in [
            (
                &b"HTTP/1.1 200 OK\r\ncontent-length: 99999999999\r\n\r\n"[..],
                "16 MiB",
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
                "content-length",
            ),
            (b"HTTP/1.1 2000 OK\r\n\r\n", "malformed"),
            (b"SMTP ready\r\n\r\n", "malformed"),
        ] {
            let (mut client, mut server) = pair();
            let serve = tokio::spawn(async move {
                request_head(&mut server).await;
                server.write_all(answer).await.unwrap();
                server
            });
            let e = client.exchange(post("")).await.err().map(|e| e.to_string());
            let _server = serve.await.unwrap();
            assert!(e.as_deref().is_some_and(|e| e.contains(reason)), "{e:?}");
            assert!(!client.is_open());
        }
        // A head that never ends is cut at 64 KiB.
        let (mut client, mut server) = pair();
        let serve = tokio::spawn(async move {
            request_head(&mut server).await;
            server.write_all(b"HTTP/1.1 200 OK\r\n").await.unwrap();
            let line = b"x-filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
            while server.write_all(line).await.is_ok() {}
        });
        let e = client.exchange(post("")).await.err().map(|e| e.to_string());
        assert!(e.as_deref().is_some_and(|e| e.contains("64")), "{e:?}");
        drop(client);
        serve.await.unwrap();
    }

    /// The answer to one request, and whether the connection stayed open.
    async fn answered(answer: &'static [u8]) -> (Answer, bool) {
        let (mut client, mut server) = pair();
        let serve = tokio::spawn(async move {
            request_head(&mut server).await;
            server.write_all(answer).await.unwrap();
            server
        });
        let answer = client.exchange(post("")).await.unwrap();
        let _server = serve.await.unwrap();
        (answer, client.is_open())
    }

    #[tokio::test]
    async fn what_the_head_says_of_the_body_and_the_connection_is_read_in_any_case() {
        let (answer, open) = answered(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive, Close\r\n\r\nok",
        )
        .await;
        assert_eq!((&answer.body[..], open), (&b"ok"[..], false));
        let (_, open) = answered(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
        assert!(!open, "HTTP/1.0 closes unless it says keep-alive");
        let (_, open) =
            answered(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\nCONNECTION: Keep-Alive\r\n\r\nok")
                .await;
        assert!(open);
        // The codings are one list over both fields, and chunked is last.
        let (answer, open) = answered(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\ntransfer-encoding: chunked\r\n\r\n\
              2\r\nok\r\n0\r\n\r\n",
        )
        .await;
        assert_eq!((&answer.body[..], open), (&b"ok"[..], true));
        assert_eq!(
            answer
                .headers
                .get_all("transfer-encoding")
                .collect::<Vec<_>>(),
            [&b"identity"[..], b"chunked"]
        );
    }

    #[tokio::test]
    async fn a_peer_that_closed_the_idle_connection_is_noticed_before_sending() {
        let (mut client, server) = pair();
        assert!(client.is_open());
        drop(server);
        assert!(!client.is_open());
        let (mut client, mut server) = pair();
        let serve = tokio::spawn(async move {
            request_head(&mut server).await;
            server
                .write_all(b"HTTP/1.0 200 OK\r\n\r\nuntil close")
                .await
                .unwrap();
        });
        let answer = client.exchange(post("")).await.unwrap();
        serve.await.unwrap();
        assert_eq!(&answer.body[..], b"until close");
        assert!(
            !client.is_open(),
            "a body ended by the close ends the connection"
        );
    }
}
