//! Header fields prepared once, before they are sent: loadgen prepares its
//! applications' fields (key, signature, content type) with their
//! signatures, so at the instant a request costs a copy into the socket's
//! buffer, not a header map built and hashed.
//!
//! For HTTP/1.1 the fields are kept as their `name: value` lines. HTTP/2's
//! header blocks depend on the connection's HPACK table, so its connection
//! encodes them from the map as it sends (`hpack`), and so does HTTP/3's.

use crate::Protocol;
use bytes::{BufMut as _, Bytes, BytesMut};
use http::{HeaderMap, Method, Request, Uri};

/// A request's header fields, and their wire form when it is HTTP/1.1.
#[derive(Debug, Clone)]
pub struct Fields {
    map: HeaderMap,
    protocol: Protocol,
    wire: Bytes,
}

/// RFC 9113 8.2.2: fields about one connection, which HTTP/2 does not
/// carry (an answer with one is malformed).
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// Fields the connection owns: the connection-specific ones, `host`
/// (`:authority` in HTTP/2), and `content-length` (the connection frames
/// the body).
const CONNECTION_OWNED: [&str; 7] = {
    let [a, b, c, d, e] = CONNECTION_SPECIFIC;
    [a, b, c, d, e, "host", "content-length"]
};

pub(crate) fn is_connection_specific(name: &http::HeaderName) -> bool {
    CONNECTION_SPECIFIC.contains(&name.as_str())
}

/// Removes the fields the connection owns; looked for before anything is
/// removed, as requests rarely have any.
pub(crate) fn remove_connection_owned(map: &mut HeaderMap) {
    if map
        .keys()
        .any(|name| CONNECTION_OWNED.contains(&name.as_str()))
    {
        for name in CONNECTION_OWNED {
            map.remove(name);
        }
    }
}

impl Fields {
    /// Encodes `map` for `protocol`. Fields the connection owns (framing,
    /// `host`, connection-specific ones) are left out.
    pub fn encode(mut map: HeaderMap, protocol: Protocol) -> Fields {
        remove_connection_owned(&mut map);
        let mut wire = BytesMut::new();
        if protocol == Protocol::Http1 {
            for (name, value) in &map {
                wire.put_slice(name.as_str().as_bytes());
                wire.put_slice(b": ");
                wire.put_slice(value.as_bytes());
                wire.put_slice(b"\r\n");
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

    /// Their wire form, if it was made for `protocol` (HTTP/1.1 only).
    pub(crate) fn wire(&self, protocol: Protocol) -> Option<&Bytes> {
        (self.protocol == protocol && protocol == Protocol::Http1).then_some(&self.wire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
