//! A lean HTTP/2 client connection (RFC 9113). A request's frames are
//! written by the caller's own task, and whichever caller is waiting reads
//! the socket and hands every answer that comes to its stream: no
//! connection task between the callers and the socket (the h2 crate's
//! client task, its stream store and its wake-ups were most of loadgen's
//! cost per HTTP/2 request).
//!
//! The last caller to find the socket empty is the one its readiness
//! wakes; a caller whose answer is complete, or who gives up, wakes another
//! waiting caller to take over. Frames are read in place from the
//! connection's read buffer (`frame`), and header blocks decoded and
//! encoded by our own HPACK (`hpack`): an answer that fits one DATA frame
//! is a view of the buffer, and a field the server's table serves again
//! costs two clones (the h2 crate's framing and decoding were most of what
//! was left of loadgen's cost per HTTP/2 request). Everything is written
//! through one outbox, in order. What a peer can make the client hold is
//! bounded: header blocks 128 KiB, header lists 64 KiB, bodies 16 MiB,
//! the flow control windows, and the answers to its frames it does not
//! read (64 Ki).

mod frame;

use crate::fields::{is_connection_specific, remove_connection_owned};
use crate::hpack;
use crate::io::{Io, Unread};
use crate::{Answer, Fields, TransportError};
use bytes::{Buf as _, Bytes, BytesMut};
use frame::{Head, Out, Reason};
use http::{HeaderMap, Request, StatusCode};
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncWrite as _, AsyncWriteExt as _};

/// Past this much unwritten, no more queued frames go to the outbox until
/// the socket takes some (a server that does not read).
const OUTBOX_HIGH: usize = 256 * 1024;
/// Frames that may wait for the outbox. Past it the server is sending what
/// calls for answers (PING, SETTINGS) faster than it reads them, and the
/// connection ends rather than holding the answers without end.
const MAX_QUEUED: usize = 64 * 1024;

/// A request: built the ordinary way, or with its fields encoded before.
pub(crate) enum Outgoing<'a> {
    Request(Request<Bytes>),
    Encoded {
        method: &'a http::Method,
        uri: &'a http::Uri,
        fields: &'a Fields,
        body: Bytes,
    },
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An answer's header list may not be larger, nor its body; a header
/// block (HEADERS and its CONTINUATION frames) past `MAX_BLOCK` ends the
/// connection, as it cannot be decoded without holding it.
const MAX_HEADER_LIST: usize = 64 * 1024;
const MAX_BLOCK: usize = 128 * 1024;
const MAX_BODY: usize = 16 << 20;
/// Our receive windows: a stream's (the protocol's answers are small),
/// and the connection's, shared by all its streams.
const STREAM_WINDOW: u32 = 1 << 20;
const CONNECTION_WINDOW: u32 = 1 << 24;
/// RFC 9113 6.9.1: no window may exceed this.
const MAX_WINDOW: i64 = (1 << 31) - 1;
const DEFAULT_WINDOW: i64 = 65_535;
/// What we announce: no push, our stream window, our header list limit.
const OUR_SETTINGS: &[(u16, u32)] = &[
    (frame::ENABLE_PUSH, 0),
    (frame::INITIAL_WINDOW_SIZE, STREAM_WINDOW),
    (frame::MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST as u32),
];

/// A connection error: its code, and what the server did.
type ConnectionError = (Reason, &'static str);

/// One HTTP/2 connection, shared by every caller sending on it.
pub(crate) struct H2 {
    conn: Mutex<Conn>,
}

struct Conn {
    io: Box<dyn Io>,
    read: Unread,
    /// Frames encoded for the socket, and how much of them it took.
    out: Vec<u8>,
    sent: usize,
    /// `:scheme` and `:authority` for requests whose URI has none.
    scheme: http::uri::Scheme,
    authority: String,
    /// What waits to go to the outbox, in order.
    queue: VecDeque<Out>,
    /// The outbox holds bytes the socket did not take yet.
    unflushed: bool,
    /// Every request's header block is encoded here, in queue order, into
    /// `blocks`; every answer's is decoded by `decoder`, in the order they
    /// come.
    hpack: hpack::Encoder,
    blocks: BytesMut,
    decoder: hpack::Decoder,
    /// A header block that goes on in CONTINUATION frames: its stream,
    /// whether it ends the stream, and its fragments so far.
    continuing: Option<(u32, bool)>,
    fragments: Vec<u8>,
    streams: HashMap<u32, Stream>,
    /// Streams with body left to send, oldest first.
    uploading: VecDeque<u32>,
    next_id: u32,
    /// The peer's settings.
    max_streams: usize,
    initial_window: i64,
    max_frame: usize,
    /// What we may still send on the connection, and what the peer may
    /// still send us before our next WINDOW_UPDATE.
    send_window: i64,
    recv_window: i64,
    /// The peer's first SETTINGS came.
    settled: bool,
    /// The stream whose caller last found the socket empty: the one its
    /// readiness wakes.
    reader: Option<u32>,
    /// Why no new stream may start (GOAWAY, a failure, the peer's close).
    refused: Option<String>,
    /// The connection failed: every stream ended with it.
    failed: bool,
    /// Callers waiting for a stream slot (the peer's concurrency limit).
    waiting_for_slot: Vec<Waker>,
}

#[derive(Default)]
struct Stream {
    status: Option<StatusCode>,
    headers: HeaderMap,
    body: Body,
    /// The answer's `content-length`, which its body must match (RFC 9113
    /// 8.1.1); none for a HEAD request's answer.
    expected_len: Option<usize>,
    head_request: bool,
    /// The answer is whole (END_STREAM came).
    ended: bool,
    /// The stream ended without a whole answer.
    error: Option<String>,
    /// Request body not sent yet (flow control), sent with END_STREAM last.
    upload: Bytes,
    send_window: i64,
    recv_window: i64,
    waker: Option<Waker>,
}

impl Stream {
    fn done(&self) -> bool {
        self.ended || self.error.is_some()
    }

    fn fail(&mut self, why: String) {
        if !self.done() {
            self.error = Some(why);
        }
        self.upload = Bytes::new();
        self.wake();
    }

    fn wake(&mut self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

/// An answer's body as it comes. One DATA frame's payload is kept as it
/// was read, a view of the read buffer; a second one joins them.
#[derive(Default)]
enum Body {
    #[default]
    Empty,
    One(Bytes),
    Joined(BytesMut),
}

impl Body {
    fn len(&self) -> usize {
        match self {
            Body::Empty => 0,
            Body::One(bytes) => bytes.len(),
            Body::Joined(bytes) => bytes.len(),
        }
    }

    fn push(&mut self, data: Bytes) {
        if data.is_empty() {
            return; // an empty DATA frame, often the one that ends the stream
        }
        *self = match std::mem::take(self) {
            Body::Empty => Body::One(data),
            Body::One(first) => {
                let mut joined = BytesMut::with_capacity(first.len() + data.len());
                joined.extend_from_slice(&first);
                joined.extend_from_slice(&data);
                Body::Joined(joined)
            }
            Body::Joined(mut joined) => {
                joined.extend_from_slice(&data);
                Body::Joined(joined)
            }
        }
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Body::Empty => Bytes::new(),
            Body::One(bytes) => bytes,
            Body::Joined(bytes) => bytes.freeze(),
        }
    }
}

/// Room for a burst's first header blocks, made before the instant:
/// nothing is allocated for them at the instant. (The first split of a
/// buffer allocates its shared header, so it is made here.)
fn room_for_blocks() -> BytesMut {
    let mut blocks = BytesMut::with_capacity(1024);
    drop(blocks.split());
    blocks
}

/// Why no frame came.
enum ReadError {
    Closed,
    Io(std::io::Error),
    TooLarge,
}

impl H2 {
    /// Sends the preface and our settings, and waits for the peer's
    /// settings, so its limits are known before the first request.
    pub(crate) async fn handshake(
        mut io: Box<dyn Io>,
        scheme: http::uri::Scheme,
        authority: &str,
    ) -> Result<H2, TransportError> {
        io.write_all(PREFACE).await?;
        let mut conn = Conn {
            io,
            read: Unread::default(),
            out: Vec::with_capacity(16 * 1024),
            sent: 0,
            scheme,
            authority: authority.to_string(),
            queue: VecDeque::new(),
            unflushed: false,
            hpack: hpack::Encoder::default(),
            blocks: room_for_blocks(),
            decoder: hpack::Decoder::default(),
            continuing: None,
            fragments: Vec::new(),
            streams: HashMap::new(),
            uploading: VecDeque::new(),
            next_id: 1,
            max_streams: usize::MAX,
            initial_window: DEFAULT_WINDOW,
            max_frame: frame::DEFAULT_MAX_FRAME,
            send_window: DEFAULT_WINDOW,
            recv_window: CONNECTION_WINDOW.into(),
            settled: false,
            reader: None,
            refused: None,
            failed: false,
            waiting_for_slot: Vec::new(),
        };
        conn.send(Out::Settings(OUR_SETTINGS));
        conn.send(Out::WindowUpdate {
            stream: 0,
            increment: CONNECTION_WINDOW - DEFAULT_WINDOW as u32,
        });
        poll_fn(|cx| {
            while !conn.settled {
                if let Some(why) = &conn.refused {
                    return Poll::Ready(Err(TransportError::H2(why.clone())));
                }
                if !conn.turn(cx, None) {
                    return Poll::Pending;
                }
            }
            Poll::Ready(Ok(()))
        })
        .await?;
        Ok(H2 {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Conn> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// False once no new request can start on this connection. Also
    /// notices, without waiting, what the peer sent while it was idle (a
    /// GOAWAY, a close), so the caller opens a new one instead.
    pub(crate) fn is_open(&self) -> bool {
        let mut conn = self.lock();
        if conn.refused.is_none() && conn.streams.is_empty() {
            let mut cx = Context::from_waker(Waker::noop());
            while conn.turn(&mut cx, None) {}
        }
        conn.refused.is_none()
    }

    /// Sends `req` and reads the whole answer.
    pub(crate) async fn exchange(&self, req: Outgoing<'_>) -> Result<Answer, TransportError> {
        let mut req = Some(req);
        let id = poll_fn(|cx| self.lock().poll_open(cx, &mut req)).await?;
        let mut pending = PendingStream { h2: self, id };
        let mut first = true;
        let answer = poll_fn(|cx| {
            if std::mem::take(&mut first) && self.lock().has_output() {
                // Once, so that the other callers woken with this one
                // queue their requests too: they then go out together,
                // in one write, as the h2 crate's connection task did.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.lock().poll_answer(cx, id)
        })
        .await;
        pending.id = 0; // poll_answer removed the stream
        answer
    }
}

/// A stream whose caller may give up (a timeout drops the future): it is
/// then reset, and another waiting caller takes over the socket.
struct PendingStream<'a> {
    h2: &'a H2,
    id: u32,
}

impl Drop for PendingStream<'_> {
    fn drop(&mut self) {
        if self.id != 0 {
            let mut conn = self.h2.lock();
            if conn.streams.remove(&self.id).is_some_and(|s| !s.done()) {
                conn.send(Out::Reset {
                    stream: self.id,
                    reason: Reason::CANCEL,
                });
            }
            conn.leave(self.id);
        }
    }
}

impl Conn {
    /// Starts a stream for the request: HEADERS, then as much body as the
    /// windows allow; Pending while the peer's concurrency limit is full.
    fn poll_open(
        &mut self,
        cx: &mut Context<'_>,
        req: &mut Option<Outgoing<'_>>,
    ) -> Poll<Result<u32, TransportError>> {
        if let Some(why) = &self.refused {
            return Poll::Ready(Err(TransportError::H2(why.clone())));
        }
        if self.streams.len() >= self.max_streams {
            if !self
                .waiting_for_slot
                .iter()
                .any(|w| w.will_wake(cx.waker()))
            {
                self.waiting_for_slot.push(cx.waker().clone());
            }
            return Poll::Pending;
        }
        let Some(req) = req.take() else {
            return Poll::Ready(Err(TransportError::H2("request sent twice".into())));
        };
        if i64::from(self.next_id) > MAX_WINDOW {
            self.refused = Some("stream identifiers used up".into());
            return Poll::Ready(Err(TransportError::H2("stream identifiers used up".into())));
        }
        let id = self.next_id;
        self.next_id += 2;
        let (body, head_request) = match req {
            Outgoing::Encoded {
                method,
                uri,
                fields,
                body,
            } => {
                self.queue_headers(id, method, uri, fields.map(), body.is_empty());
                (body, method == http::Method::HEAD)
            }
            Outgoing::Request(request) => {
                let (mut parts, body) = request.into_parts();
                remove_connection_owned(&mut parts.headers);
                let end_stream = body.is_empty();
                self.queue_headers(id, &parts.method, &parts.uri, &parts.headers, end_stream);
                (body, parts.method == http::Method::HEAD)
            }
        };
        if !body.is_empty() {
            self.uploading.push_back(id);
        }
        self.streams.insert(
            id,
            Stream {
                upload: body,
                head_request,
                send_window: self.initial_window,
                recv_window: STREAM_WINDOW.into(),
                ..Stream::default()
            },
        );
        self.push_uploads();
        // Written by the first caller to wait for an answer.
        Poll::Ready(Ok(id))
    }

    /// Queues a request's HEADERS, its block encoded now: blocks are
    /// encoded in the order they go out, as the HPACK table requires.
    fn queue_headers(
        &mut self,
        id: u32,
        method: &http::Method,
        uri: &http::Uri,
        fields: &HeaderMap,
        end_stream: bool,
    ) {
        // An empty path goes as "/"; a URI in origin form takes the
        // connection's scheme and authority.
        let pseudo = hpack::Pseudo {
            method,
            scheme: uri.scheme_str().unwrap_or(self.scheme.as_str()),
            authority: uri.authority().map_or(&self.authority, |a| a.as_str()),
            path: uri
                .path_and_query()
                .map(|p| p.as_str())
                .filter(|p| !p.is_empty())
                .unwrap_or("/"),
        };
        self.hpack.block(&mut self.blocks, &pseudo, fields);
        let block = self.blocks.split().freeze();
        self.queue.push_back(Out::Headers {
            stream: id,
            end_stream,
            block,
        });
    }

    fn has_output(&self) -> bool {
        self.unflushed || !self.queue.is_empty()
    }

    /// The answer on stream `id` once whole; meanwhile this caller writes
    /// and reads for everyone.
    fn poll_answer(
        &mut self,
        cx: &mut Context<'_>,
        id: u32,
    ) -> Poll<Result<Answer, TransportError>> {
        loop {
            let Some(stream) = self.streams.get_mut(&id) else {
                return Poll::Ready(Err(TransportError::H2("stream lost".into())));
            };
            if stream.done() {
                let stream = self.streams.remove(&id).unwrap_or_default();
                if !stream.upload.is_empty() && stream.error.is_none() {
                    // The answer came before the whole body: stop sending it.
                    self.send(Out::Reset {
                        stream: id,
                        reason: Reason::CANCEL,
                    });
                }
                self.leave(id);
                return Poll::Ready(match (stream.status, stream.ended, stream.error) {
                    (_, _, Some(why)) => Err(TransportError::H2(why)),
                    (Some(status), true, None) => Ok(Answer {
                        status,
                        headers: stream.headers.into(),
                        body: stream.body.into_bytes(),
                    }),
                    _ => Err(TransportError::H2("stream ended without an answer".into())),
                });
            }
            if !self.turn(cx, Some(id)) {
                break;
            }
        }
        if let Some(stream) = self.streams.get_mut(&id) {
            match &mut stream.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
        }
        Poll::Pending
    }

    /// Stream `id`'s caller leaves. If the socket's readiness would wake
    /// it, or its writes wait for room, another waiting caller takes over;
    /// frames queued with nobody left to write them (a reset) go now; a
    /// caller waiting for a free slot gets it.
    fn leave(&mut self, id: u32) {
        self.uploading.retain(|u| *u != id);
        if self.reader == Some(id) || self.unflushed {
            self.reader = None;
            if let Some(stream) = self.streams.values_mut().find(|s| s.waker.is_some()) {
                stream.wake();
            }
        }
        // A caller still waiting writes what is queued on its next turn
        // (with whatever the callers woken with it add: one write).
        if self.has_output() && !self.failed && self.streams.values().all(Stream::done) {
            let _ = self.flush(&mut Context::from_waker(Waker::noop()));
        }
        if let Some(waker) = self.waiting_for_slot.pop() {
            waker.wake();
        }
    }

    /// Writes what is pending, then reads and handles every frame that
    /// came, until the socket is empty and its readiness will wake this
    /// caller (`reader`, when it waits for a stream). False when there was
    /// nothing to do.
    fn turn(&mut self, cx: &mut Context<'_>, reader: Option<u32>) -> bool {
        if self.failed {
            return false;
        }
        if let Err(e) = self.flush(cx) {
            self.fail(format!("writing: {e}"));
            return true;
        }
        let mut progress = false;
        loop {
            let (head, payload) = match self.poll_frame(cx) {
                Poll::Pending => break,
                Poll::Ready(Ok(frame)) => frame,
                Poll::Ready(Err(ReadError::Closed)) => {
                    self.fail("the server closed the connection".into());
                    return true;
                }
                Poll::Ready(Err(ReadError::Io(e))) => {
                    self.fail(format!("reading: {e}"));
                    return true;
                }
                Poll::Ready(Err(ReadError::TooLarge)) => {
                    let error = (Reason::FRAME_SIZE_ERROR, "a frame over 16 KiB");
                    self.end_with(cx, error);
                    return true;
                }
            };
            if self.queue.len() >= MAX_QUEUED {
                let why = "the server sends frames that call for answers and does not read them";
                self.fail(why.into());
                return true;
            }
            if let Err(error) = self.handle(head, payload) {
                self.end_with(cx, error);
                return true;
            }
            progress = true;
        }
        self.reader = reader;
        // Acknowledgements and window updates the frames called for.
        if let Err(e) = self.flush(cx) {
            self.fail(format!("writing: {e}"));
            return true;
        }
        progress
    }

    /// The next whole frame: its head, and its payload split off the read
    /// buffer; Pending when the socket has no more yet.
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<(Head, Bytes), ReadError>> {
        loop {
            if let Some(head) = self.read.first_chunk::<{ frame::HEAD_LEN }>() {
                let head = Head::parse(head);
                if head.len > frame::DEFAULT_MAX_FRAME {
                    return Poll::Ready(Err(ReadError::TooLarge));
                }
                if self.read.len() >= frame::HEAD_LEN + head.len {
                    self.read.advance(frame::HEAD_LEN);
                    return Poll::Ready(Ok((head, self.read.take(head.len))));
                }
            }
            match std::task::ready!(self.read.poll_fill(&mut self.io, cx)) {
                Ok(0) => return Poll::Ready(Err(ReadError::Closed)),
                Ok(_) => {}
                Err(e) => return Poll::Ready(Err(ReadError::Io(e))),
            }
        }
    }

    /// A stream we opened: odd, and not above the last we used.
    fn opened(&self, id: u32) -> bool {
        !id.is_multiple_of(2) && id < self.next_id
    }

    /// Ends the connection for what the server did: GOAWAY with the
    /// reason, then every stream fails.
    fn end_with(&mut self, cx: &mut Context<'_>, (reason, why): ConnectionError) {
        self.send(Out::GoAway(reason));
        let _ = self.flush(cx);
        self.fail(format!("connection error {reason}: {why}"));
    }

    /// Queues a frame; it goes out on the next flush.
    fn send(&mut self, frame: Out) {
        self.queue.push_back(frame);
    }

    /// Moves what is queued to the outbox and writes it, without waiting:
    /// what the socket does not take goes on a later turn.
    fn flush(&mut self, cx: &mut Context<'_>) -> std::io::Result<()> {
        while !self.queue.is_empty() {
            if self.out.len() - self.sent >= OUTBOX_HIGH {
                let _ = self.poll_drain(cx)?;
                if self.out.len() - self.sent >= OUTBOX_HIGH {
                    break;
                }
            }
            if let Some(frame) = self.queue.pop_front() {
                frame.encode(&mut self.out, self.max_frame);
            }
        }
        self.unflushed = self.poll_drain(cx)?.is_pending();
        Ok(())
    }

    /// Writes what the outbox holds; Pending (the waker registered) while
    /// the socket has no room.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.sent < self.out.len() {
            match Pin::new(&mut self.io).poll_write(cx, &self.out[self.sent..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => self.sent += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.out.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Ends the connection: every stream fails, no new one starts.
    fn fail(&mut self, why: String) {
        self.failed = true;
        for stream in self.streams.values_mut() {
            stream.fail(why.clone());
        }
        self.refused = Some(why);
        self.uploading.clear();
        self.queue.clear();
        self.waiting_for_slot.drain(..).for_each(Waker::wake);
    }

    /// Resets one stream for what the server sent on it (a stream error,
    /// RFC 9113 5.4.2).
    fn reset(&mut self, id: u32, reason: Reason, why: &str) {
        if let Some(stream) = self.streams.get_mut(&id) {
            stream.fail(why.into());
        }
        self.uploading.retain(|u| *u != id);
        self.send(Out::Reset { stream: id, reason });
    }

    /// One frame from the peer.
    fn handle(&mut self, head: Head, payload: Bytes) -> Result<(), ConnectionError> {
        if self.continuing.is_some() && head.kind != frame::CONTINUATION {
            return Err((
                Reason::PROTOCOL_ERROR,
                "a header block cut by another frame",
            ));
        }
        match head.kind {
            frame::DATA => self.data(head, payload),
            frame::HEADERS => self.headers(head, payload),
            frame::CONTINUATION => self.continuation(head, &payload),
            frame::PRIORITY => match (head.stream, payload.len()) {
                (0, _) => Err((Reason::PROTOCOL_ERROR, "PRIORITY on stream 0")),
                (_, 5) => Ok(()),
                (id, _) => {
                    self.reset(id, Reason::FRAME_SIZE_ERROR, "a bad PRIORITY frame");
                    Ok(())
                }
            },
            frame::RST_STREAM => {
                let reason = control(&head, &payload, 4, false)?;
                let reason = Reason(u32::from_be_bytes(reason));
                if let Some(stream) = self.streams.get_mut(&head.stream) {
                    // After a whole answer, NO_ERROR only stops our upload
                    // (RFC 9113 8.1): the answer stands.
                    stream.fail(format!("the server reset the stream ({reason})"));
                }
                self.uploading.retain(|u| *u != head.stream);
                Ok(())
            }
            frame::SETTINGS => self.settings(head, &payload),
            frame::PUSH_PROMISE => Err((Reason::PROTOCOL_ERROR, "PUSH_PROMISE, push was off")),
            frame::PING => {
                let ping = control(&head, &payload, 8, true)?;
                if !head.has(frame::ACK) {
                    self.send(Out::Pong(ping));
                }
                Ok(())
            }
            frame::GOAWAY => self.go_away(head, &payload),
            frame::WINDOW_UPDATE => {
                let increment = control(&head, &payload, 4, head.stream == 0)?;
                let increment = i64::from(u32::from_be_bytes(increment) & !(1 << 31));
                self.window_update(head.stream, increment)
            }
            // RFC 9113 5.5: unknown frame types are ignored.
            _ => Ok(()),
        }
    }

    fn data(&mut self, head: Head, payload: Bytes) -> Result<(), ConnectionError> {
        let id = head.stream;
        if !self.opened(id) {
            return Err((Reason::PROTOCOL_ERROR, "DATA on a stream we did not open"));
        }
        // Padding counts against the windows too (RFC 9113 6.9.1).
        let len = payload.len() as i64;
        self.recv_window -= len;
        if self.recv_window < 0 {
            return Err((Reason::FLOW_CONTROL_ERROR, "the server overran our window"));
        }
        if self.recv_window < i64::from(CONNECTION_WINDOW) / 2 {
            let used = i64::from(CONNECTION_WINDOW) - self.recv_window;
            self.recv_window = CONNECTION_WINDOW.into();
            self.send(Out::WindowUpdate {
                stream: 0,
                increment: used as u32,
            });
        }
        let data = unpadded(&head, payload)?;
        let Some(stream) = self.streams.get_mut(&id) else {
            return Ok(()); // a stream we gave up
        };
        if stream.done() {
            return Ok(());
        }
        stream.recv_window -= len;
        let end = head.has(frame::END_STREAM);
        let body_len = stream.body.len() + data.len();
        let problem = if stream.status.is_none() {
            Some("DATA before the answer's head")
        } else if stream.recv_window < 0 {
            Some("the server overran the stream's window")
        } else if body_len > MAX_BODY {
            Some("answer body over 16 MiB")
        } else if stream
            .expected_len
            .is_some_and(|n| body_len > n || end && body_len < n)
        {
            Some("an answer body not as long as its content-length")
        } else {
            None
        };
        if let Some(problem) = problem {
            self.reset(id, Reason::PROTOCOL_ERROR, problem);
            return Ok(());
        }
        stream.body.push(data);
        if end {
            stream.ended = true;
            stream.wake();
        } else if stream.recv_window < i64::from(STREAM_WINDOW) / 2 {
            let used = i64::from(STREAM_WINDOW) - stream.recv_window;
            stream.recv_window = STREAM_WINDOW.into();
            self.send(Out::WindowUpdate {
                stream: id,
                increment: used as u32,
            });
        }
        Ok(())
    }

    /// The first fragment of a header block: an answer's head, an
    /// informational head, or trailers.
    fn headers(&mut self, head: Head, payload: Bytes) -> Result<(), ConnectionError> {
        let id = head.stream;
        if !self.opened(id) {
            return Err((
                Reason::PROTOCOL_ERROR,
                "HEADERS on a stream we did not open",
            ));
        }
        let mut fragment = unpadded(&head, payload)?;
        if head.has(frame::PRIORITY_FLAG) {
            if fragment.len() < 5 {
                return Err((
                    Reason::FRAME_SIZE_ERROR,
                    "HEADERS too short for its priority",
                ));
            }
            fragment.advance(5);
        }
        let end_stream = head.has(frame::END_STREAM);
        if head.has(frame::END_HEADERS) {
            return self.header_block(id, end_stream, &fragment);
        }
        self.continuing = Some((id, end_stream));
        self.fragments.clear();
        self.fragments.extend_from_slice(&fragment);
        Ok(())
    }

    fn continuation(&mut self, head: Head, payload: &[u8]) -> Result<(), ConnectionError> {
        let Some((id, end_stream)) = self.continuing else {
            return Err((Reason::PROTOCOL_ERROR, "CONTINUATION without HEADERS"));
        };
        if head.stream != id {
            return Err((
                Reason::PROTOCOL_ERROR,
                "a header block cut by another stream's",
            ));
        }
        if self.fragments.len() + payload.len() > MAX_BLOCK {
            return Err((Reason::ENHANCE_YOUR_CALM, "a header block over 128 KiB"));
        }
        self.fragments.extend_from_slice(payload);
        if head.has(frame::END_HEADERS) {
            self.continuing = None;
            let block = std::mem::take(&mut self.fragments);
            let decoded = self.header_block(id, end_stream, &block);
            self.fragments = block;
            self.fragments.clear();
            self.fragments.shrink_to(frame::DEFAULT_MAX_FRAME);
            return decoded;
        }
        Ok(())
    }

    /// A whole header block, decoded whatever becomes of its stream (the
    /// table must stay in step with the server's), then given to it.
    fn header_block(
        &mut self,
        id: u32,
        end_stream: bool,
        block: &[u8],
    ) -> Result<(), ConnectionError> {
        let mut head = AnswerHead::default();
        self.decoder
            .decode(block, |field, size| head.add(field, size))
            .map_err(|hpack::BadBlock(why)| (Reason::COMPRESSION_ERROR, why))?;
        let Some(stream) = self.streams.get_mut(&id) else {
            return Ok(()); // a stream we gave up
        };
        if stream.done() {
            return Ok(());
        }
        let problem = if let Some(problem) = head.problem {
            Some(problem)
        } else if stream.status.is_some() {
            // Trailers: they must end the stream; their fields are dropped.
            if head.status.is_some() {
                Some("trailers with a :status")
            } else {
                (!end_stream).then_some("a second header block that does not end the stream")
            }
        } else {
            match head.status {
                None => Some("an answer without :status"),
                Some(status) if status.is_informational() => {
                    end_stream.then_some("an informational answer that ends the stream")
                }
                Some(status) => {
                    let no_body = stream.head_request
                        || status == StatusCode::NO_CONTENT
                        || status == StatusCode::NOT_MODIFIED;
                    let length = head.fields.get(http::header::CONTENT_LENGTH);
                    let length = length.map(|l| l.to_str().ok().and_then(|l| l.parse().ok()));
                    stream.status = Some(status);
                    stream.headers = head.fields;
                    match length {
                        Some(None) => Some("an unreadable content-length"),
                        Some(Some(n)) if !no_body => {
                            stream.expected_len = Some(n);
                            (end_stream && n > 0)
                                .then_some("an answer body not as long as its content-length")
                        }
                        _ => None,
                    }
                }
            }
        };
        if let Some(problem) = problem {
            self.reset(id, Reason::PROTOCOL_ERROR, problem);
        } else if end_stream && stream.status.is_some() {
            stream.ended = true;
            stream.wake();
        }
        Ok(())
    }

    fn settings(&mut self, head: Head, payload: &[u8]) -> Result<(), ConnectionError> {
        if head.stream != 0 {
            return Err((Reason::PROTOCOL_ERROR, "SETTINGS on a stream"));
        }
        if head.has(frame::ACK) {
            return match payload.is_empty() {
                true => Ok(()),
                false => Err((Reason::FRAME_SIZE_ERROR, "a SETTINGS ack with a payload")),
            };
        }
        if !payload.len().is_multiple_of(6) {
            return Err((Reason::FRAME_SIZE_ERROR, "SETTINGS not in 6-octet settings"));
        }
        for setting in payload.chunks_exact(6) {
            let id = u16::from_be_bytes([setting[0], setting[1]]);
            let value = u32::from_be_bytes([setting[2], setting[3], setting[4], setting[5]]);
            match id {
                frame::HEADER_TABLE_SIZE => self.hpack.peer_table_size(value),
                frame::ENABLE_PUSH if value != 0 => {
                    return Err((Reason::PROTOCOL_ERROR, "a server may not enable push"));
                }
                frame::MAX_CONCURRENT_STREAMS => self.max_streams = value as usize,
                frame::INITIAL_WINDOW_SIZE => {
                    if i64::from(value) > MAX_WINDOW {
                        return Err((Reason::FLOW_CONTROL_ERROR, "an initial window over 2^31-1"));
                    }
                    let delta = i64::from(value) - self.initial_window;
                    self.initial_window = value.into();
                    for stream in self.streams.values_mut() {
                        stream.send_window += delta;
                        if stream.send_window > MAX_WINDOW {
                            let why = "a stream window over 2^31-1";
                            return Err((Reason::FLOW_CONTROL_ERROR, why));
                        }
                    }
                }
                frame::MAX_FRAME_SIZE => {
                    if !(frame::DEFAULT_MAX_FRAME as u32..=frame::LARGEST_MAX_FRAME)
                        .contains(&value)
                    {
                        return Err((Reason::PROTOCOL_ERROR, "a maximum frame size out of range"));
                    }
                    self.max_frame = value as usize;
                }
                _ => {} // 6.5.2: unknown settings are ignored
            }
        }
        self.settled = true;
        self.send(Out::SettingsAck);
        self.push_uploads();
        self.waiting_for_slot.drain(..).for_each(Waker::wake);
        Ok(())
    }

    fn go_away(&mut self, head: Head, payload: &[u8]) -> Result<(), ConnectionError> {
        if head.stream != 0 {
            return Err((Reason::PROTOCOL_ERROR, "GOAWAY on a stream"));
        }
        let (Some(last), Some(reason)) = (payload.first_chunk::<4>(), payload.get(4..8)) else {
            return Err((Reason::FRAME_SIZE_ERROR, "a GOAWAY under 8 octets"));
        };
        let last = u32::from_be_bytes(*last) & !(1 << 31);
        let reason = Reason(u32::from_be_bytes(reason.try_into().unwrap_or_default()));
        // Streams above `last` were never seen: safe to send again.
        for (_, stream) in self.streams.iter_mut().filter(|(id, _)| **id > last) {
            stream.fail(format!(
                "the server is going away ({reason}) and did not take the request"
            ));
        }
        self.uploading.retain(|u| *u <= last);
        self.refused.get_or_insert_with(|| {
            format!("the server is going away ({reason}) and takes no new request")
        });
        self.waiting_for_slot.drain(..).for_each(Waker::wake);
        Ok(())
    }

    fn window_update(&mut self, id: u32, increment: i64) -> Result<(), ConnectionError> {
        if id == 0 {
            self.send_window += increment;
            if increment == 0 {
                return Err((Reason::PROTOCOL_ERROR, "a connection window update of 0"));
            }
            if self.send_window > MAX_WINDOW {
                return Err((
                    Reason::FLOW_CONTROL_ERROR,
                    "a connection window over 2^31-1",
                ));
            }
        } else if let Some(stream) = self.streams.get_mut(&id) {
            stream.send_window += increment;
            if increment == 0 {
                self.reset(id, Reason::PROTOCOL_ERROR, "a stream window update of 0");
            } else if stream.send_window > MAX_WINDOW {
                self.reset(
                    id,
                    Reason::FLOW_CONTROL_ERROR,
                    "the server broke flow control",
                );
            }
        }
        self.push_uploads();
        Ok(())
    }

    /// DATA frames for waiting bodies, as far as the windows allow.
    fn push_uploads(&mut self) {
        while let Some(&id) = self.uploading.front() {
            let Some(stream) = self.streams.get_mut(&id) else {
                self.uploading.pop_front();
                continue;
            };
            let room = self
                .send_window
                .min(stream.send_window)
                .min(self.max_frame as i64);
            if room <= 0 {
                return;
            }
            let n = stream.upload.len().min(room as usize);
            let payload = stream.upload.split_to(n);
            stream.send_window -= n as i64;
            self.send_window -= n as i64;
            let end_stream = stream.upload.is_empty();
            if end_stream {
                self.uploading.pop_front();
            }
            self.send(Out::Data {
                stream: id,
                end_stream,
                payload,
            });
        }
    }
}

/// A control frame's fixed-size payload; on stream 0 exactly when
/// `on_connection`.
fn control<const N: usize>(
    head: &Head,
    payload: &[u8],
    len: usize,
    on_connection: bool,
) -> Result<[u8; N], ConnectionError> {
    if (head.stream == 0) != on_connection {
        return Err((
            Reason::PROTOCOL_ERROR,
            "a control frame on the wrong stream",
        ));
    }
    match payload.try_into() {
        Ok(bytes) if payload.len() == len => Ok(bytes),
        _ => Err((
            Reason::FRAME_SIZE_ERROR,
            "a control frame of the wrong size",
        )),
    }
}

/// A DATA or HEADERS payload without its padding (RFC 9113 6.1, 6.2).
fn unpadded(head: &Head, mut payload: Bytes) -> Result<Bytes, ConnectionError> {
    if head.has(frame::PADDED) {
        let pad = payload.first().map_or(usize::MAX, |p| usize::from(*p));
        if pad >= payload.len() {
            return Err((Reason::PROTOCOL_ERROR, "padding as long as the frame"));
        }
        payload.advance(1);
        payload.truncate(payload.len() - pad);
    }
    Ok(payload)
}

/// An answer's head as its block is decoded: its status, its fields, and
/// what makes it malformed (RFC 9113 8.1.1, 8.2, 8.3.2).
#[derive(Default)]
struct AnswerHead {
    status: Option<StatusCode>,
    fields: HeaderMap,
    size: usize,
    problem: Option<&'static str>,
}

impl AnswerHead {
    fn add(&mut self, field: hpack::Field, size: usize) {
        self.size += size;
        if self.size > MAX_HEADER_LIST {
            self.problem.get_or_insert("answer head over 64 KiB");
            return;
        }
        match field {
            hpack::Field::Status(status) if self.status.is_none() && self.fields.is_empty() => {
                self.status = Some(status);
            }
            hpack::Field::Status(_) => {
                self.problem.get_or_insert("a second or late :status");
            }
            hpack::Field::Header(name, value) => {
                if is_connection_specific(&name) {
                    self.problem.get_or_insert("a connection-specific field");
                }
                self.fields.append(name, value);
            }
            hpack::Field::Malformed => {
                self.problem.get_or_insert("a malformed field");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Gate, Protocol, Target};
    use bytes::Bytes;
    use http::{Request, Response};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::{TcpListener, TcpStream};

    async fn serve() -> (TcpListener, Target) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let target = Target::new(&url, Protocol::Http2, None).await.unwrap();
        (listener, target)
    }

    async fn connect(target: &Target) -> crate::Connection {
        let gate = Arc::new(Gate::new(Instant::now()));
        target.connect(gate).await.unwrap()
    }

    /// Reads what the client sends until it closes.
    async fn drain(mut socket: TcpStream) {
        let mut rest = Vec::new();
        let _ = socket.read_to_end(&mut rest).await;
    }

    fn post(target: &Target, body: impl Into<Bytes>) -> Request<Bytes> {
        Request::post(target.uri("/v1/submissions"))
            .header("content-type", "application/json")
            .body(body.into())
            .unwrap()
    }

    async fn read_body(body: &mut h2::RecvStream) -> Vec<u8> {
        let mut whole = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.unwrap();
            let _ = body.flow_control().release_capacity(chunk.len());
            whole.extend_from_slice(&chunk);
        }
        whole
    }

    /// The h2 crate's server echoing each body back; `limit` streams at
    /// once. Counts the most streams it saw open together.
    fn echo_server(listener: TcpListener, limit: u32, most: Arc<AtomicUsize>) {
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut conn = h2::server::Builder::new()
                .max_concurrent_streams(limit)
                .handshake::<_, Bytes>(socket)
                .await
                .unwrap();
            let open = Arc::new(AtomicUsize::new(0));
            while let Some(Ok((req, mut respond))) = conn.accept().await {
                let (open, most) = (open.clone(), most.clone());
                tokio::spawn(async move {
                    let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    let body = read_body(&mut req.into_body()).await;
                    // Long enough for the other callers to queue up.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    open.fetch_sub(1, Ordering::SeqCst);
                    let answer = Response::builder().status(202).body(()).unwrap();
                    let mut send = respond.send_response(answer, false).unwrap();
                    send.send_data(body.into(), true).unwrap();
                });
            }
        });
    }

    /// Many callers on one connection, each in its own task: every one gets
    /// its own answer, never more streams open than the server allows, and
    /// the callers hand the socket over to each other as they finish.
    #[tokio::test]
    async fn callers_share_a_connection_within_the_servers_stream_limit() {
        let (listener, target) = serve().await;
        let most = Arc::new(AtomicUsize::new(0));
        echo_server(listener, 3, most.clone());
        let conn = connect(&target).await;
        let callers: Vec<_> = (0..20)
            .map(|i| {
                let (conn, request) = (conn.clone(), post(&target, format!("{{\"n\":{i}}}")));
                tokio::spawn(async move { conn.send(request).await })
            })
            .collect();
        for (i, caller) in callers.into_iter().enumerate() {
            let answer = caller.await.unwrap().unwrap();
            assert_eq!(answer.status, 202);
            assert_eq!(answer.body, format!("{{\"n\":{i}}}"));
        }
        let most = most.load(Ordering::SeqCst);
        assert!((1..=3).contains(&most), "{most} streams open at once");
        assert!(conn.is_open());
    }

    /// An h2 server answering each request with what it saw: method,
    /// URI, each field (its value's first 12 bytes) and the body's length.
    async fn describe_requests(listener: TcpListener) {
        describe_requests_with(listener, h2::server::Builder::new()).await
    }

    async fn describe_requests_with(listener: TcpListener, server: h2::server::Builder) {
        let (socket, _) = listener.accept().await.unwrap();
        let mut conn = server.handshake::<_, Bytes>(socket).await.unwrap();
        while let Some(Ok((req, mut respond))) = conn.accept().await {
            let (parts, mut body) = req.into_parts();
            let mut seen = format!("{} {}", parts.method, parts.uri);
            for (name, value) in &parts.headers {
                let value = value.to_str().unwrap();
                seen += &format!(" {name}={}", &value[..value.len().min(12)]);
            }
            seen += &format!(" body={}", read_body(&mut body).await.len());
            let answer = Response::builder().status(200).body(()).unwrap();
            let mut send = respond.send_response(answer, false).unwrap();
            send.send_data(seen.into(), true).unwrap();
        }
    }

    /// A request URI in origin form, or with no path, goes out with the
    /// connection's scheme and authority and the path `/`.
    #[tokio::test]
    async fn origin_form_and_pathless_uris_take_the_connections_scheme_and_authority() {
        let (listener, target) = serve().await;
        let authority = target.url.trim_start_matches("http://").to_string();
        tokio::spawn(describe_requests(listener));
        let conn = connect(&target).await;
        for (uri, seen) in [
            (
                "/v1/time".to_string(),
                format!("GET http://{authority}/v1/time body=0"),
            ),
            (
                format!("http://{authority}"),
                format!("GET http://{authority}/ body=0"),
            ),
        ] {
            let request = Request::get(uri).body(Bytes::new()).unwrap();
            let answer = conn.send(request).await.unwrap();
            assert_eq!(answer.body, seen);
        }
    }

    /// Requests with fields prepared before and requests built the
    /// ordinary way share the connection's HPACK table (`hpack`): keys and
    /// URIs change, a block too large for one frame goes on in
    /// CONTINUATION frames, and the h2 crate's decoder, as the gateway
    /// runs it, sees each request as it was built, with its default table
    /// and with one too small for all our entries.
    #[tokio::test]
    async fn encoded_fields_reach_the_server_as_built() {
        for table_size in [None, Some(100)] {
            let mut server = h2::server::Builder::new();
            if let Some(size) = table_size {
                server.header_table_size(size);
            }
            requests_reach_the_server_as_built(server).await;
        }
    }

    async fn requests_reach_the_server_as_built(server: h2::server::Builder) {
        use crate::{Fields, Protocol};
        let (listener, target) = serve().await;
        let authority = target.url.trim_start_matches("http://").to_string();
        tokio::spawn(describe_requests_with(listener, server));
        let conn = connect(&target).await;
        let fields = |key: &str, big: usize| {
            let mut map = http::HeaderMap::new();
            map.insert("content-type", "application/json".parse().unwrap());
            map.insert("clickday-key", key.parse().unwrap());
            let mut signature = http::HeaderValue::try_from("s".repeat(big.max(1))).unwrap();
            signature.set_sensitive(true);
            map.insert("clickday-signature", signature);
            map.insert("host", "elsewhere".parse().unwrap()); // left out
            Fields::encode(map, Protocol::Http2)
        };
        let submissions: http::Uri = format!("http://{authority}/v1/submissions")
            .parse()
            .unwrap();
        let origin_form: http::Uri = "/v1/other?x=1".parse().unwrap();
        let post = http::Method::POST;
        let (small, large) = (fields("k1", 86), fields("k2", 20_000));
        let plain = || Request::get("/v1/time").body(Bytes::new()).unwrap();
        let expected_fields = "content-type=application/ clickday-key=";
        let mut answers = Vec::new();
        answers.push(conn.send(plain()).await.unwrap());
        for (uri, fields) in [(&submissions, &small), (&submissions, &small)] {
            let answer = conn.send_encoded(&post, uri, fields, &"{}".into()).await;
            answers.push(answer.unwrap());
        }
        answers.push(conn.send(plain()).await.unwrap());
        answers.push(
            conn.send_encoded(&post, &origin_form, &small, &Bytes::new())
                .await
                .unwrap(),
        );
        answers.push(
            conn.send_encoded(&post, &submissions, &large, &"[]".into())
                .await
                .unwrap(),
        );
        let other_key = fields("k3", 86);
        let body = Bytes::from_static(b"{}");
        let answer = conn.send_encoded(&post, &submissions, &other_key, &body);
        answers.push(answer.await.unwrap());
        let italian = Request::get("/v1/time")
            .header("accept-language", "it")
            .header("connection", "keep-alive") // left out: HTTP/2 forbids it
            .body(Bytes::new())
            .unwrap();
        answers.push(conn.send(italian).await.unwrap());
        let seen: Vec<String> = answers
            .iter()
            .map(|a| String::from_utf8(a.body.to_vec()).unwrap())
            .collect();
        let time = format!("GET http://{authority}/v1/time body=0");
        let encoded = |path: &str, key: &str, body: usize| {
            format!(
                "POST http://{authority}{path} {expected_fields}{key} clickday-signature=ssssssssssss body={body}"
            )
        };
        assert_eq!(
            seen,
            [
                time.clone(),
                encoded("/v1/submissions", "k1", 2),
                encoded("/v1/submissions", "k1", 2),
                time,
                encoded("/v1/other?x=1", "k1", 0),
                encoded("/v1/submissions", "k2", 2),
                encoded("/v1/submissions", "k3", 2),
                format!("GET http://{authority}/v1/time accept-language=it body=0"),
            ]
        );
    }

    /// A body larger than the server's windows waits for its window
    /// updates; an answer given before the whole body (a 413) reaches the
    /// caller, and the connection carries on.
    #[tokio::test]
    async fn large_bodies_follow_flow_control_and_an_early_answer_stands() {
        let (listener, target) = serve().await;
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut conn = h2::server::handshake(socket).await.unwrap();
            while let Some(Ok((req, mut respond))) = conn.accept().await {
                tokio::spawn(async move {
                    let mut body = req.into_body();
                    if req_is_early(&body) {
                        // Refused on sight: the body is never read.
                        let answer = Response::builder().status(413).body(()).unwrap();
                        respond.send_response(answer, true).unwrap();
                        drop(body);
                        return;
                    }
                    let n = read_body(&mut body).await.len();
                    let answer = Response::builder().status(202).body(()).unwrap();
                    let mut send = respond.send_response(answer, false).unwrap();
                    send.send_data(n.to_string().into(), true).unwrap();
                });
            }
        });
        // The server tells the two apart by the first stream (1) or not.
        fn req_is_early(body: &h2::RecvStream) -> bool {
            u32::from(body.stream_id()) == 1
        }
        let conn = connect(&target).await;
        let big = vec![b'x'; 300_000]; // over the 65,535-byte default windows
        let early = conn.send(post(&target, big.clone())).await.unwrap();
        assert_eq!(early.status, 413);
        let answer = conn.send(post(&target, big)).await.unwrap();
        assert_eq!(
            (answer.status.as_u16(), &answer.body[..]),
            (202, &b"300000"[..])
        );
    }

    /// A caller that gives up (a timeout drops its future) resets its
    /// stream; the others on the connection still get their answers, even
    /// though the one who gave up was the one reading the socket.
    #[tokio::test]
    async fn a_caller_giving_up_resets_its_stream_and_the_others_go_on() {
        let (listener, target) = serve().await;
        let (reset_tx, reset_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut conn = h2::server::handshake(socket).await.unwrap();
            let mut reset_tx = Some(reset_tx);
            while let Some(Ok((req, mut respond))) = conn.accept().await {
                let mut body = req.into_body();
                let silent = u32::from(body.stream_id()) == 1;
                let reset_tx = if silent { reset_tx.take() } else { None };
                tokio::spawn(async move {
                    read_body(&mut body).await;
                    if let Some(tx) = reset_tx {
                        // Never answered: wait for the client's reset.
                        let reason = std::future::poll_fn(|cx| respond.poll_reset(cx)).await;
                        let _ = tx.send(reason.map(|r| format!("{r:?}")));
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let answer = Response::builder().status(202).body(()).unwrap();
                    respond.send_response(answer, true).unwrap();
                });
            }
        });
        let conn = connect(&target).await;
        // The first stream is the silent one; the other waits too, and
        // then the silent one's caller polls the socket last (it is the
        // one the socket would wake) before it gives up.
        let silent = conn.clone();
        let silent_request = post(&target, "{}");
        let mut silent = Box::pin(async move { silent.send(silent_request).await });
        assert!(futures_util::poll!(&mut silent).is_pending());
        let other = tokio::spawn({
            let (conn, request) = (conn.clone(), post(&target, "{}"));
            async move { conn.send(request).await }
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
            assert!(futures_util::poll!(&mut silent).is_pending());
        }
        let gave_up = tokio::time::timeout(Duration::from_millis(20), silent).await;
        assert!(gave_up.is_err(), "the silent stream timed out");
        let reason = reset_rx.await.unwrap().unwrap();
        assert!(reason.contains("CANCEL"), "{reason}");
        // Without a hand-over nobody would read the other's answer.
        let other = tokio::time::timeout(Duration::from_secs(10), other)
            .await
            .expect("the other caller was left with nobody reading the socket");
        assert_eq!(other.unwrap().unwrap().status, 202);
        let again = conn.send(post(&target, "{}")).await.unwrap();
        assert_eq!(again.status, 202);
    }

    /// A raw HTTP/2 server, for what a well-behaved one never sends: reads
    /// the client's preface and settings, sends its own, then plays `act`.
    async fn raw_server<F, Fut>(listener: TcpListener, act: F)
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut preface = [0; 24];
            socket.read_exact(&mut preface).await.unwrap();
            socket.write_all(&frame(4, 0, 0, &[])).await.unwrap(); // SETTINGS
            act(socket).await;
        });
    }

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = (payload.len() as u32).to_be_bytes();
        let mut out = vec![len[1], len[2], len[3], kind, flags];
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// Reads frames until `n` HEADERS frames came; their stream ids.
    async fn read_headers(socket: &mut TcpStream, n: usize) -> Vec<u32> {
        let mut ids = Vec::new();
        while ids.len() < n {
            ids.push(next_headers(socket).await.0);
        }
        ids
    }

    /// Reads frames until a HEADERS frame: its stream id and header block.
    async fn next_headers(socket: &mut TcpStream) -> (u32, Vec<u8>) {
        loop {
            let mut head = [0; 9];
            socket.read_exact(&mut head).await.unwrap();
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let mut payload = vec![0; len];
            socket.read_exact(&mut payload).await.unwrap();
            if head[3] == 1 {
                return (
                    u32::from_be_bytes([head[5], head[6], head[7], head[8]]),
                    payload,
                );
            }
        }
    }

    /// GOAWAY: a stream the server never took fails with a reason that
    /// says so (the request may be sent again elsewhere), one it took is
    /// answered, and the connection takes no new request.
    #[tokio::test]
    async fn goaway_fails_the_streams_the_server_did_not_take() {
        let (listener, target) = serve().await;
        raw_server(listener, |mut socket| async move {
            let ids = read_headers(&mut socket, 2).await;
            let mut goaway = ids[0].to_be_bytes().to_vec();
            goaway.extend_from_slice(&0u32.to_be_bytes());
            socket.write_all(&frame(7, 0, 0, &goaway)).await.unwrap();
            // `:status: 200` (static table entry 8), END_STREAM | END_HEADERS.
            socket
                .write_all(&frame(1, 0x5, ids[0], &[0x88]))
                .await
                .unwrap();
            drain(socket).await;
        })
        .await;
        let conn = connect(&target).await;
        let first = tokio::spawn({
            let (conn, request) = (conn.clone(), post(&target, "{}"));
            async move { conn.send(request).await }
        });
        tokio::task::yield_now().await;
        let second = conn.send(post(&target, "{}")).await;
        let e = second.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("did not take the request"), "{e}");
        assert_eq!(first.await.unwrap().unwrap().status, 200);
        assert!(!conn.is_open());
        let refused = conn.send(post(&target, "{}")).await;
        assert!(refused.is_err());
    }

    /// A server that sends an endless header block (CONTINUATION after
    /// CONTINUATION) gets the stream refused at 64 KiB instead of the
    /// client's memory; a frame larger than the client allows ends the
    /// connection.
    #[tokio::test]
    async fn a_hostile_server_cannot_make_the_client_hold_much() {
        let (listener, target) = serve().await;
        raw_server(listener, |mut socket| async move {
            let ids = read_headers(&mut socket, 1).await;
            // `:status: 200`, then literal fields of 16,000 bytes each.
            socket
                .write_all(&frame(1, 0, ids[0], &[0x88]))
                .await
                .unwrap();
            let mut field = vec![0x00, 0x01, b'x', 0x7f];
            let mut n = 16_000 - 127;
            while n >= 128 {
                field.push((n % 128) as u8 | 0x80);
                n /= 128;
            }
            field.push(n as u8);
            field.extend(std::iter::repeat_n(b'y', 16_000));
            for _ in 0..8 {
                if socket
                    .write_all(&frame(9, 0, ids[0], &field))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            let _ = socket.write_all(&frame(9, 0x4, ids[0], &field)).await;
            drain(socket).await;
        })
        .await;
        let conn = connect(&target).await;
        let e = conn.send(post(&target, "{}")).await.err();
        assert!(e.is_some(), "an over-size head must not be an answer");

        let (listener, target) = serve().await;
        raw_server(listener, |mut socket| async move {
            let ids = read_headers(&mut socket, 1).await;
            let huge = vec![0; 20_000]; // over the 16 KiB frames we allow
            let _ = socket.write_all(&frame(0, 0, ids[0], &huge)).await;
            drain(socket).await;
        })
        .await;
        let conn = connect(&target).await;
        let e = conn.send(post(&target, "{}")).await.err();
        assert!(e.is_some());
        assert!(!conn.is_open());
    }

    /// Answers as a server may legally shape them (padding, a priority
    /// block, a table entry used again) are read; malformed ones fail
    /// their stream only, and the table stays in step through them, so the
    /// connection carries on.
    #[tokio::test]
    async fn malformed_answers_fail_their_stream_and_the_connection_carries_on() {
        let (listener, target) = serve().await;
        raw_server(listener, |mut socket| async move {
            let mut answers: Vec<Vec<u8>> = Vec::new();
            // Padded HEADERS with a priority block: `:status 200` and
            // `x-big: b...` (4,000 octets) put in the table; the body in a
            // padded DATA frame and a plain one, then an empty DATA frame
            // that ends the stream.
            let mut block = vec![2, 0, 0, 0, 0, 16, 0x88, 0x40, 5];
            block.extend(b"x-big\x7f");
            let mut n = 4000 - 127;
            while n >= 128 {
                block.push((n % 128) as u8 | 0x80);
                n /= 128;
            }
            block.push(n as u8);
            block.extend([b'b'; 4000]);
            block.extend([0, 0]);
            let mut answer = frame(1, 0x4 | 0x8 | 0x20, 1, &block);
            answer.extend(frame(0, 0x8, 1, b"\x03o\0\0\0"));
            answer.extend(frame(0, 0x0, 1, b"k"));
            answer.extend(frame(0, 0x1, 1, b"")); // the end, empty
            answers.push(answer);
            // A connection-specific field (`connection: close`).
            answers.push(frame(1, 0x5, 3, b"\x88\x00\x0aconnection\x05close"));
            // content-length 5 (static name 28), a body of 3.
            let mut answer = frame(1, 0x4, 5, b"\x88\x0f\x0d\x015");
            answer.extend(frame(0, 0x1, 5, b"abc"));
            answers.push(answer);
            // x-big 17 times by index: a 68 KiB list in a 19-octet block.
            let mut block = vec![0x88];
            block.extend([0x80 | 62; 17]);
            answers.push(frame(1, 0x5, 7, &block));
            // `x-big: ok`, its name from the table: still in step.
            answers.push(frame(1, 0x5, 9, b"\x88\x0f\x2f\x02ok"));
            for (i, answer) in answers.iter().enumerate() {
                let (id, _) = next_headers(&mut socket).await;
                assert_eq!(id, 2 * i as u32 + 1);
                socket.write_all(answer).await.unwrap();
            }
            drain(socket).await;
        })
        .await;
        let conn = connect(&target).await;
        let first = conn.send(post(&target, "{}")).await.unwrap();
        assert_eq!((first.status.as_u16(), &first.body[..]), (200, &b"ok"[..]));
        assert_eq!(first.headers.get("x-big").map(<[u8]>::len), Some(4000));
        for why in [
            "connection-specific",
            "not as long as its content-length",
            "over 64 KiB",
        ] {
            let e = conn.send(post(&target, "{}")).await.err();
            let e = e.map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains(why), "{e}");
        }
        let last = conn.send(post(&target, "{}")).await.unwrap();
        assert_eq!(last.headers.get_str("x-big"), Some("ok"));
        assert!(conn.is_open());
    }

    /// What breaks the connection's framing or its table ends it, with
    /// GOAWAY and a reason naming the error.
    #[tokio::test]
    async fn framing_errors_end_the_connection() {
        let cases: [(Vec<u8>, &str); 4] = [
            // HEADERS without END_HEADERS, then DATA.
            (
                [frame(1, 0, 1, &[0x88]), frame(0, 1, 1, b"x")].concat(),
                "PROTOCOL_ERROR: a header block cut by another frame",
            ),
            // An index past the table.
            (frame(1, 0x5, 1, &[0x80 | 70]), "COMPRESSION_ERROR"),
            // HEADERS on a stream we never opened.
            (
                frame(1, 0x5, 9, &[0x88]),
                "HEADERS on a stream we did not open",
            ),
            // A PING of the wrong size.
            (frame(6, 0, 0, &[0; 4]), "FRAME_SIZE_ERROR"),
        ];
        for (sent, why) in cases {
            let (listener, target) = serve().await;
            let (tx, rx) = tokio::sync::oneshot::channel();
            raw_server(listener, |mut socket| async move {
                next_headers(&mut socket).await;
                socket.write_all(&sent).await.unwrap();
                // The GOAWAY the client sends back, with its code.
                loop {
                    let mut head = [0; 9];
                    socket.read_exact(&mut head).await.unwrap();
                    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
                    let mut payload = vec![0; len];
                    socket.read_exact(&mut payload).await.unwrap();
                    if head[3] == 7 {
                        let _ = tx.send(payload[7]);
                        break;
                    }
                }
                drain(socket).await;
            })
            .await;
            let conn = connect(&target).await;
            let e = conn.send(post(&target, "{}")).await.err();
            let e = e.map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains(why), "{e}");
            assert!(rx.await.unwrap() != 0, "GOAWAY without an error code");
            assert!(!conn.is_open());
        }
    }

    /// A server that shrinks its header table gets the size update at the
    /// start of the next header block (RFC 7541 4.2), though the request's
    /// fields were encoded before; the block after it is ours again.
    #[tokio::test]
    async fn a_smaller_header_table_is_announced_before_encoded_fields() {
        use crate::{Fields, Protocol};
        let (listener, target) = serve().await;
        let (tx, rx) = tokio::sync::oneshot::channel();
        raw_server(listener, |mut socket| async move {
            read_headers(&mut socket, 1).await;
            let table_size_zero = [0x00, 0x01, 0, 0, 0, 0];
            socket
                .write_all(&frame(4, 0, 0, &table_size_zero))
                .await
                .unwrap();
            socket.write_all(&frame(1, 0x5, 1, &[0x88])).await.unwrap(); // 200
            let mut first_bytes = Vec::new();
            for _ in 0..2 {
                let (id, block) = next_headers(&mut socket).await;
                first_bytes.push(block[0]);
                socket.write_all(&frame(1, 0x5, id, &[0x88])).await.unwrap();
            }
            tx.send(first_bytes).unwrap();
            drain(socket).await;
        })
        .await;
        let conn = connect(&target).await;
        let time = Request::get("/v1/time").body(Bytes::new()).unwrap();
        assert_eq!(conn.send(time).await.unwrap().status, 200);
        let mut map = http::HeaderMap::new();
        map.insert("clickday-key", "k".parse().unwrap());
        let fields = Fields::encode(map, Protocol::Http2);
        let uri: http::Uri = "/v1/submissions".parse().unwrap();
        for _ in 0..2 {
            let empty = Bytes::new();
            let answer = conn.send_encoded(&http::Method::POST, &uri, &fields, &empty);
            assert_eq!(answer.await.unwrap().status, 200);
        }
        // 0x20: a size update to 0; 0x83: `:method POST`, our own block.
        assert_eq!(rx.await.unwrap(), [0x20, 0x83]);
    }

    /// A server that floods PINGs and never reads the answers ends the
    /// connection once 64 Ki answers wait, instead of growing the client.
    #[tokio::test]
    async fn a_ping_flood_that_is_not_read_ends_the_connection() {
        let (listener, target) = serve().await;
        raw_server(listener, |mut socket| async move {
            read_headers(&mut socket, 1).await;
            let pings: Vec<u8> = (0..1000).flat_map(|_| frame(6, 0, 0, &[7; 8])).collect();
            // At most 170 MB, then it stops: a client without the bound
            // is then left waiting, and the test fails on its timeout.
            for _ in 0..10_000 {
                if socket.write_all(&pings).await.is_err() {
                    return;
                }
            }
            std::future::pending::<()>().await;
        })
        .await;
        let conn = connect(&target).await;
        let sent = tokio::time::timeout(Duration::from_secs(60), conn.send(post(&target, "{}")));
        let e = sent.await.expect("the flood must end the connection");
        let e = e.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("does not read them"), "{e}");
        assert!(!conn.is_open());
    }
}
