//! Lingering close for TCP connections.
//!
//! An answer given before the request body was read (413 on the declared
//! length, a shed 503) ends an HTTP/1.1 connection with bytes still
//! arriving. Closing a socket with unread bytes makes the kernel answer
//! with RST, and a client still uploading then fails its write and never
//! reads the answer waiting for it. So a connection's socket outlives the
//! connection briefly: its write half is shut (the client sees the end of
//! the answer), and what the client still sends is read and discarded
//! until it stops, as nginx's `lingering_close` does.

use clickday_edge::Slot;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// The longest a closed connection's socket is kept to drain the client.
const LINGER_AT_MOST: Duration = Duration::from_secs(5);
/// A client silent this long is not sending anything more.
const LINGER_IDLE: Duration = Duration::from_secs(1);

/// A TCP stream that lingers when dropped; it also holds the connection's
/// slot, so a lingering socket still counts against the connection budget.
pub(crate) struct LingeringStream {
    /// `None` only once dropped.
    stream: Option<TcpStream>,
    slot: Option<Slot>,
}

impl LingeringStream {
    pub(crate) fn new(stream: TcpStream, slot: Slot) -> Self {
        LingeringStream {
            stream: Some(stream),
            slot: Some(slot),
        }
    }

    fn stream(&mut self) -> Pin<&mut TcpStream> {
        Pin::new(self.stream.as_mut().expect("taken only on drop"))
    }
}

impl Drop for LingeringStream {
    fn drop(&mut self) {
        let Some(stream) = self.stream.take() else {
            return;
        };
        // The usual end: the client closed first and nothing is unread.
        if matches!(stream.try_read(&mut [0; 1]), Ok(0)) {
            return;
        }
        let slot = self.slot.take();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                drain(stream).await;
                drop(slot);
            });
        }
    }
}

async fn drain(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let mut discard = [0u8; 16 * 1024];
    let _ = tokio::time::timeout(LINGER_AT_MOST, async {
        while let Ok(Ok(n)) = tokio::time::timeout(LINGER_IDLE, stream.read(&mut discard)).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

impl AsyncRead for LingeringStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut().stream().poll_read(cx, buf)
    }
}

impl AsyncWrite for LingeringStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().stream().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().stream().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().stream().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().stream().poll_shutdown(cx)
    }
}
