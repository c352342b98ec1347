//! Header fields encoded once, before they are sent: loadgen prepares its
//! applications' fields (key, signature, content type) with their
//! signatures, so at the instant a request is bytes copied into the
//! socket's buffer, not a header map built, hashed and HPACK-encoded.
//!
//! For HTTP/1.1 the fields are their `name: value` lines; for HTTP/2 they
//! are HPACK representations that need no state (RFC 7541 6.2.2 literals
//! without indexing, 6.2.3 never-indexed for sensitive values, strings
//! without Huffman coding): any connection can carry them at any moment,
//! and a server decodes them without touching its dynamic table. HTTP/3's
//! fields go through its own encoder, from the map.

use crate::Protocol;
use bytes::{BufMut as _, Bytes, BytesMut};
use http::{HeaderMap, Method, Request, Uri};

/// A request's header fields, and their wire form for one protocol.
#[derive(Debug, Clone)]
pub struct Fields {
    map: HeaderMap,
    protocol: Protocol,
    wire: Bytes,
}

/// RFC 9113 8.2.2: fields HTTP/2 forbids (`host` is `:authority` there).
pub(crate) const CONNECTION_SPECIFIC: [&str; 6] = [
    "connection",
    "host",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

impl Fields {
    /// Encodes `map` for `protocol`. Fields the connection owns (framing,
    /// `host`, connection-specific ones) are left out.
    pub fn encode(mut map: HeaderMap, protocol: Protocol) -> Fields {
        // `content-length` too: the connection frames the body.
        for name in CONNECTION_SPECIFIC.into_iter().chain(["content-length"]) {
            map.remove(name);
        }
        let mut wire = BytesMut::new();
        for (name, value) in &map {
            match protocol {
                Protocol::Http1 => {
                    wire.put_slice(name.as_str().as_bytes());
                    wire.put_slice(b": ");
                    wire.put_slice(value.as_bytes());
                    wire.put_slice(b"\r\n");
                }
                Protocol::Http2 => {
                    let sensitive = value.is_sensitive();
                    let name = Name::New(name.as_str());
                    hpack_literal(&mut wire, name, value.as_bytes(), sensitive);
                }
                Protocol::Http3 => {}
            }
        }
        Fields {
            map,
            protocol,
            wire: wire.freeze(),
        }
    }

    /// The fields themselves (for a request built the ordinary way, e.g.
    /// with one more field).
    pub fn map(&self) -> &HeaderMap {
        &self.map
    }

    /// A request with these fields, built the ordinary way.
    pub fn request(&self, method: &Method, uri: &Uri, body: Bytes) -> Request<Bytes> {
        let mut request = Request::new(body);
        *request.method_mut() = method.clone();
        *request.uri_mut() = uri.clone();
        *request.headers_mut() = self.map.clone();
        request
    }

    /// Their wire form, if it was made for `protocol`.
    pub(crate) fn wire(&self, protocol: Protocol) -> Option<&Bytes> {
        (self.protocol == protocol && protocol != Protocol::Http3).then_some(&self.wire)
    }
}

/// RFC 7541 6.2.2 / 6.2.3: a literal field that is not added to the
/// dynamic table, its name by static table index or as a string, its
/// value a string; never indexed (by us or any intermediary) if
/// `sensitive`.
pub(crate) fn hpack_literal(out: &mut BytesMut, name: Name<'_>, value: &[u8], sensitive: bool) {
    let flags = if sensitive { 0x10 } else { 0x00 };
    match name {
        Name::Static(index) => hpack_integer(out, flags, 4, index),
        Name::New(name) => {
            out.put_u8(flags);
            hpack_string(out, name.as_bytes());
        }
    }
    hpack_string(out, value);
}

/// A literal field's name: an index into the static table, or a string.
pub(crate) enum Name<'a> {
    Static(usize),
    New(&'a str),
}

/// RFC 7541 6.1: a field wholly in the static table.
pub(crate) fn hpack_indexed(out: &mut BytesMut, index: usize) {
    hpack_integer(out, 0x80, 7, index);
}

/// RFC 7541 5.2, without Huffman coding.
fn hpack_string(out: &mut BytesMut, bytes: &[u8]) {
    hpack_integer(out, 0x00, 7, bytes.len());
    out.put_slice(bytes);
}

/// RFC 7541 5.1: `value` with an N-bit prefix, `flags` in the first
/// byte's other bits.
fn hpack_integer(out: &mut BytesMut, flags: u8, prefix_bits: u32, mut value: usize) {
    let max = (1usize << prefix_bits) - 1;
    if value < max {
        out.put_u8(flags | value as u8);
        return;
    }
    out.put_u8(flags | max as u8);
    value -= max;
    while value >= 128 {
        out.put_u8((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.put_u8(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7541 C.1: integers on a prefix, from the RFC's own examples.
    #[test]
    fn integers_are_encoded_as_rfc_7541_shows() {
        let mut out = BytesMut::new();
        hpack_integer(&mut out, 0, 5, 10);
        hpack_integer(&mut out, 0, 5, 1337);
        hpack_integer(&mut out, 0, 8, 42);
        assert_eq!(&out[..], &[0x0a, 0x1f, 0x9a, 0x0a, 0x2a]);
    }

    /// RFC 7541 C.2.2: a literal field without indexing, its name by
    /// static index; and a new name, never indexed.
    #[test]
    fn literals_are_encoded_as_rfc_7541_shows() {
        let mut out = BytesMut::new();
        hpack_literal(&mut out, Name::Static(4), b"/sample/path", false);
        assert_eq!(&out[..2], &[0x04, 0x0c]);
        assert_eq!(&out[2..], b"/sample/path");
        let mut out = BytesMut::new();
        hpack_literal(&mut out, Name::New("password"), b"secret", true);
        assert_eq!(&out[..], b"\x10\x08password\x06secret");
    }

    #[test]
    fn connection_owned_fields_are_left_out_and_lines_kept_in_order() {
        let mut map = HeaderMap::new();
        map.insert("clickday-key", "k".parse().unwrap());
        map.insert(http::header::CONTENT_LENGTH, "9".parse().unwrap());
        map.insert(http::header::HOST, "elsewhere".parse().unwrap());
        map.insert("keep-alive", "5".parse().unwrap());
        let fields = Fields::encode(map, Protocol::Http1);
        assert_eq!(fields.wire(Protocol::Http1).unwrap(), "clickday-key: k\r\n");
        assert_eq!(fields.map().len(), 1);
        assert!(fields.wire(Protocol::Http2).is_none());
    }
}
