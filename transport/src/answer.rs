//! What a request gets back, on every protocol: status, header fields and
//! the whole body.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};

/// A whole answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: Headers,
    pub body: Bytes,
}

/// An answer's header fields, looked up by name in any case.
///
/// HTTP/2 and HTTP/3 answers arrive as decoded fields and are kept in a
/// map. An HTTP/1.1 answer keeps its head as it was read, already checked
/// whole, and parses it again only when a field is asked for: a client
/// asks for none on most answers (loadgen reads the status and the body),
/// and building a map for every answer was a quarter of its work per
/// HTTP/1.1 request.
#[derive(Debug, Clone)]
pub struct Headers(Kept);

#[derive(Debug, Clone)]
enum Kept {
    Map(HeaderMap),
    /// An HTTP/1.1 answer's head, status line to blank line, that
    /// `httparse` parsed whole with at most [`MAX_FIELDS`] fields.
    Head(Bytes),
}

/// The most fields an HTTP/1.1 answer head may have.
pub(crate) const MAX_FIELDS: usize = 64;

impl Headers {
    /// An HTTP/1.1 head that parsed whole with at most [`MAX_FIELDS`].
    pub(crate) fn head(head: Bytes) -> Headers {
        Headers(Kept::Head(head))
    }

    /// The first value of field `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.get_all(name).next()
    }

    /// The first value of field `name` when it is visible ASCII, as
    /// [`HeaderValue::to_str`] reads it.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        let value = self.get(name)?;
        let visible = value
            .iter()
            .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b));
        visible.then(|| std::str::from_utf8(value).ok()).flatten()
    }

    /// The first value of field `name` as a [`HeaderValue`], sharing the
    /// answer's bytes: for sending it back, as a ticket is.
    pub fn value(&self, name: &str) -> Option<HeaderValue> {
        match &self.0 {
            Kept::Map(map) => map.get(name).cloned(),
            Kept::Head(head) => {
                let value = self.get(name)?;
                let start = value.as_ptr() as usize - head.as_ptr() as usize;
                HeaderValue::from_maybe_shared(head.slice(start..start + value.len())).ok()
            }
        }
    }

    /// Every value of field `name`, in the order they came.
    pub fn get_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]> + 'a {
        let values: Vec<&[u8]> = match &self.0 {
            Kept::Map(map) => map
                .get_all(name)
                .iter()
                .map(HeaderValue::as_bytes)
                .collect(),
            Kept::Head(head) => {
                let mut slots = [httparse::EMPTY_HEADER; MAX_FIELDS];
                let mut parsed = httparse::Response::new(&mut slots);
                // It parsed whole when it was read: an error here would be
                // a bug, and reads as no field.
                let _ = parsed.parse(head);
                values(parsed.headers, name).collect()
            }
        };
        values.into_iter()
    }
}

/// The values of the parsed `fields` named `name` (in any case), in the
/// order they came: for `Headers` and for the HTTP/1.1 client's framing.
pub(crate) fn values<'f, 'b>(
    fields: &'f [httparse::Header<'b>],
    name: &'f str,
) -> impl Iterator<Item = &'b [u8]> + 'f {
    fields
        .iter()
        .filter(move |field| field.name.eq_ignore_ascii_case(name))
        .map(|field| field.value)
}

impl From<HeaderMap> for Headers {
    fn from(map: HeaderMap) -> Headers {
        Headers(Kept::Map(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both() -> [Headers; 2] {
        let mut map = HeaderMap::new();
        map.append("retry-after", HeaderValue::from_static("3"));
        map.append("set-cookie", HeaderValue::from_static("a=1"));
        map.append("set-cookie", HeaderValue::from_static("b=2"));
        map.append("x-bin", HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap());
        let head = Bytes::from_static(
            b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3\r\nset-cookie: a=1\r\n\
              SET-COOKIE: b=2\r\nx-bin: caf\xc3\xa9\r\n\r\n",
        );
        [Headers::from(map), Headers::head(head)]
    }

    #[test]
    fn fields_are_found_by_name_in_any_case_whichever_way_they_are_kept() {
        for headers in both() {
            assert_eq!(headers.get("retry-after"), Some(&b"3"[..]));
            assert_eq!(headers.get("Retry-After"), Some(&b"3"[..]));
            assert_eq!(headers.get_str("retry-after"), Some("3"));
            assert_eq!(headers.get("missing"), None);
            let cookies: Vec<&[u8]> = headers.get_all("set-cookie").collect();
            assert_eq!(cookies, [&b"a=1"[..], b"b=2"]);
            // Not visible ASCII: there as bytes, not as text.
            assert_eq!(headers.get("x-bin"), Some("café".as_bytes()));
            assert_eq!(headers.get_str("x-bin"), None);
            assert_eq!(headers.value("retry-after").unwrap(), "3");
        }
    }

    #[test]
    fn a_value_taken_from_a_head_shares_its_bytes() {
        let [_, headers] = both();
        let value = headers.value("set-cookie").unwrap();
        let Kept::Head(head) = &headers.0 else {
            unreachable!()
        };
        let within = head.as_ptr_range();
        assert!(within.contains(&value.as_bytes().as_ptr()));
    }
}
