//! What the HTTP/1.1 and HTTP/2 clients share below the protocol: the
//! socket they speak over and the buffer they read into.

use bytes::{Buf as _, Bytes, BytesMut};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A socket, plain or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 16 * 1024;

/// Bytes read and not consumed yet, at the front of a buffer whose free
/// tail stays initialised: a read goes into it without zeroing it first
/// (zeroing the room for each read was 6 % of a lane's time; without
/// `unsafe`, a read needs initialised memory). What is taken is split off,
/// not copied: an answer's head and body are views of this buffer, whose
/// room is taken back once they are all dropped, so reading an answer
/// allocates nothing.
#[derive(Default)]
pub(crate) struct Unread {
    /// `buf[..end]` is unread; `buf[end..]` is initialised free room.
    buf: BytesMut,
    end: usize,
}

impl std::ops::Deref for Unread {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.buf[..self.end]
    }
}

impl Unread {
    pub(crate) fn advance(&mut self, n: usize) {
        let n = n.min(self.end);
        self.buf.advance(n);
        self.end -= n;
    }

    /// The first `n` bytes, consumed.
    pub(crate) fn take(&mut self, n: usize) -> Bytes {
        let n = n.min(self.end);
        self.end -= n;
        self.buf.split_to(n).freeze()
    }

    pub(crate) fn poll_fill(
        &mut self,
        io: &mut Box<dyn Io>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        if self.buf.len() - self.end < READ_CHUNK / 2 {
            // Takes back the room of answers already dropped, or grows,
            // and initialises the room once for the reads to come.
            self.buf.truncate(self.end);
            self.buf.reserve(READ_CHUNK);
            self.buf.resize(self.buf.capacity(), 0);
        }
        let mut room = ReadBuf::new(&mut self.buf[self.end..]);
        let polled = Pin::new(io).poll_read(cx, &mut room);
        let n = room.filled().len();
        self.end += n;
        polled.map_ok(|()| n)
    }
}
