//! HTTP/2 frames (RFC 9113 4, 6): the nine-octet head every frame starts
//! with, the error codes, and the frames the client writes.

use bytes::Bytes;

/// Frame types (6).
pub(super) const DATA: u8 = 0x0;
pub(super) const HEADERS: u8 = 0x1;
pub(super) const PRIORITY: u8 = 0x2;
pub(super) const RST_STREAM: u8 = 0x3;
pub(super) const SETTINGS: u8 = 0x4;
pub(super) const PUSH_PROMISE: u8 = 0x5;
pub(super) const PING: u8 = 0x6;
pub(super) const GOAWAY: u8 = 0x7;
pub(super) const WINDOW_UPDATE: u8 = 0x8;
pub(super) const CONTINUATION: u8 = 0x9;

/// Flags.
pub(super) const END_STREAM: u8 = 0x1;
pub(super) const ACK: u8 = 0x1;
pub(super) const END_HEADERS: u8 = 0x4;
pub(super) const PADDED: u8 = 0x8;
pub(super) const PRIORITY_FLAG: u8 = 0x20;

/// Settings (6.5.2).
pub(super) const HEADER_TABLE_SIZE: u16 = 0x1;
pub(super) const ENABLE_PUSH: u16 = 0x2;
pub(super) const MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub(super) const INITIAL_WINDOW_SIZE: u16 = 0x4;
pub(super) const MAX_FRAME_SIZE: u16 = 0x5;
pub(super) const MAX_HEADER_LIST_SIZE: u16 = 0x6;

/// The frame size both sides start with, and the most we take (we never
/// announce more).
pub(super) const DEFAULT_MAX_FRAME: usize = 16_384;
/// 6.5.2: the largest SETTINGS_MAX_FRAME_SIZE.
pub(super) const LARGEST_MAX_FRAME: u32 = (1 << 24) - 1;

pub(super) const HEAD_LEN: usize = 9;

/// A frame's head (4.1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Head {
    pub len: usize,
    pub kind: u8,
    pub flags: u8,
    /// Without the reserved bit.
    pub stream: u32,
}

impl Head {
    pub(super) fn parse(bytes: &[u8; HEAD_LEN]) -> Head {
        Head {
            len: u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]) as usize,
            kind: bytes[3],
            flags: bytes[4],
            stream: u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) & !(1 << 31),
        }
    }

    pub(super) fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// Appends a frame head; `len` is below 2^24 (frames are cut to the
/// peer's maximum, itself at most that).
pub(super) fn put_head(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    let len = (len as u32).to_be_bytes();
    out.extend_from_slice(&[len[1], len[2], len[3], kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
}

/// An error code (7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reason(pub u32);

impl Reason {
    pub(super) const PROTOCOL_ERROR: Reason = Reason(0x1);
    pub(super) const FLOW_CONTROL_ERROR: Reason = Reason(0x3);
    pub(super) const FRAME_SIZE_ERROR: Reason = Reason(0x6);
    pub(super) const CANCEL: Reason = Reason(0x8);
    pub(super) const COMPRESSION_ERROR: Reason = Reason(0x9);
    pub(super) const ENHANCE_YOUR_CALM: Reason = Reason(0xb);
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const NAMES: [&str; 14] = [
            "NO_ERROR",
            "PROTOCOL_ERROR",
            "INTERNAL_ERROR",
            "FLOW_CONTROL_ERROR",
            "SETTINGS_TIMEOUT",
            "STREAM_CLOSED",
            "FRAME_SIZE_ERROR",
            "REFUSED_STREAM",
            "CANCEL",
            "COMPRESSION_ERROR",
            "CONNECT_ERROR",
            "ENHANCE_YOUR_CALM",
            "INADEQUATE_SECURITY",
            "HTTP_1_1_REQUIRED",
        ];
        match NAMES.get(self.0 as usize) {
            Some(name) => f.write_str(name),
            None => write!(f, "error code {:#x}", self.0),
        }
    }
}

/// A frame the client writes, in the order it was queued. A request's
/// header block is encoded when the request is queued (`hpack`).
pub(super) enum Out {
    /// Ours: (identifier, value) pairs.
    Settings(&'static [(u16, u32)]),
    SettingsAck,
    WindowUpdate {
        stream: u32,
        increment: u32,
    },
    Reset {
        stream: u32,
        reason: Reason,
    },
    Pong([u8; 8]),
    /// We take no stream from the server: the last is always 0.
    GoAway(Reason),
    Data {
        stream: u32,
        end_stream: bool,
        payload: Bytes,
    },
    Headers {
        stream: u32,
        end_stream: bool,
        block: Bytes,
    },
}

impl Out {
    /// Appends the frame; a header block larger than `max_frame` goes on
    /// in CONTINUATION frames (6.10).
    pub(super) fn encode(&self, out: &mut Vec<u8>, max_frame: usize) {
        match self {
            Out::Settings(settings) => {
                put_head(out, settings.len() * 6, SETTINGS, 0, 0);
                for (id, value) in *settings {
                    out.extend_from_slice(&id.to_be_bytes());
                    out.extend_from_slice(&value.to_be_bytes());
                }
            }
            Out::SettingsAck => put_head(out, 0, SETTINGS, ACK, 0),
            Out::WindowUpdate { stream, increment } => {
                put_head(out, 4, WINDOW_UPDATE, 0, *stream);
                out.extend_from_slice(&increment.to_be_bytes());
            }
            Out::Reset { stream, reason } => {
                put_head(out, 4, RST_STREAM, 0, *stream);
                out.extend_from_slice(&reason.0.to_be_bytes());
            }
            Out::Pong(payload) => {
                put_head(out, 8, PING, ACK, 0);
                out.extend_from_slice(payload);
            }
            Out::GoAway(reason) => {
                put_head(out, 8, GOAWAY, 0, 0);
                out.extend_from_slice(&0u32.to_be_bytes());
                out.extend_from_slice(&reason.0.to_be_bytes());
            }
            Out::Data {
                stream,
                end_stream,
                payload,
            } => {
                let flags = if *end_stream { END_STREAM } else { 0 };
                put_head(out, payload.len(), DATA, flags, *stream);
                out.extend_from_slice(payload);
            }
            Out::Headers {
                stream,
                end_stream,
                block,
            } => {
                let mut kind = HEADERS;
                let mut flags = if *end_stream { END_STREAM } else { 0 };
                let mut chunks = block.chunks(max_frame).peekable();
                if chunks.peek().is_none() {
                    return put_head(out, 0, kind, flags | END_HEADERS, *stream);
                }
                while let Some(chunk) = chunks.next() {
                    if chunks.peek().is_none() {
                        flags |= END_HEADERS;
                    }
                    put_head(out, chunk.len(), kind, flags, *stream);
                    out.extend_from_slice(chunk);
                    (kind, flags) = (CONTINUATION, 0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_round_trip_without_the_reserved_bit() {
        let mut out = Vec::new();
        put_head(&mut out, 0x12_3456, HEADERS, END_HEADERS, 7);
        let mut bytes: [u8; HEAD_LEN] = out[..].try_into().unwrap();
        bytes[5] |= 0x80; // the reserved bit, set by a careless peer
        let head = Head::parse(&bytes);
        assert_eq!(
            head,
            Head {
                len: 0x12_3456,
                kind: HEADERS,
                flags: END_HEADERS,
                stream: 7
            }
        );
        assert!(head.has(END_HEADERS) && !head.has(END_STREAM));
    }

    /// A block larger than the peer's frames: HEADERS, then CONTINUATION,
    /// END_HEADERS on the last only; END_STREAM stays on HEADERS.
    #[test]
    fn a_large_header_block_continues() {
        let block = Bytes::from(vec![7u8; 40_000]);
        let mut out = Vec::new();
        let headers = Out::Headers {
            stream: 3,
            end_stream: true,
            block,
        };
        headers.encode(&mut out, DEFAULT_MAX_FRAME);
        let mut heads = Vec::new();
        let mut rest = &out[..];
        while !rest.is_empty() {
            let head = Head::parse(rest[..HEAD_LEN].try_into().unwrap());
            rest = &rest[HEAD_LEN + head.len..];
            heads.push((head.kind, head.flags, head.len));
        }
        assert_eq!(
            heads,
            [
                (HEADERS, END_STREAM, 16_384),
                (CONTINUATION, 0, 16_384),
                (CONTINUATION, END_HEADERS, 40_000 - 2 * 16_384)
            ]
        );
    }

    #[test]
    fn reasons_read_as_the_rfc_names_them() {
        assert_eq!(Reason::CANCEL.to_string(), "CANCEL");
        assert_eq!(Reason(0xd).to_string(), "HTTP_1_1_REQUIRED");
        assert_eq!(Reason(0x42).to_string(), "error code 0x42");
    }
}
