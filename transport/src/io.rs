//! What the HTTP/1.1 and HTTP/2 clients share below the protocol: the
//! socket they speak over and the buffer they read into.

use bytes::Bytes;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A socket, plain or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 16 * 1024;

/// Bytes read and not consumed yet, in a buffer that stays initialised:
/// a read goes into its free tail without zeroing it first (zeroing 16 KiB
/// per answer was 6 % of a lane's time).
#[derive(Default)]
pub(crate) struct Unread {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl std::ops::Deref for Unread {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
}

impl Unread {
    pub(crate) fn advance(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
    }

    /// The first `n` bytes, consumed.
    pub(crate) fn take(&mut self, n: usize) -> Bytes {
        let taken = Bytes::copy_from_slice(&self[..n]);
        self.advance(n);
        taken
    }

    pub(crate) fn poll_fill(
        &mut self,
        io: &mut Box<dyn Io>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        if self.buf.len() - self.end < READ_CHUNK / 2 {
            // Room at the front first; grow only when the unread bytes
            // themselves need it.
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
            if self.buf.len() - self.end < READ_CHUNK / 2 {
                self.buf.resize(self.end + READ_CHUNK, 0);
            }
        }
        let mut buf = ReadBuf::new(&mut self.buf[self.end..]);
        let polled = Pin::new(io).poll_read(cx, &mut buf);
        let n = buf.filled().len();
        self.end += n;
        polled.map_ok(|()| n)
    }
}
