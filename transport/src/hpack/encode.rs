//! Every request header block on a connection is encoded here, in the
//! order the blocks go out.
//!
//! The dynamic table is used the way a server decodes cheapest and without
//! surprises: the first field of each name goes in ("incremental
//! indexing", while it fits), later fields of that name refer to it, whole
//! when the value is the same (`content-type`, `:authority`, `:path`), by
//! name otherwise (a per-account key). Nothing is ever evicted, so the
//! table never needs modelling beyond "what we put in". Sensitive values
//! (a signature) are never indexed, by us or by an intermediary (6.2.3).
//! Strings go without Huffman coding: the fields are short and mostly
//! base64 or hex, where it saves little and costs both sides.
//!
//! A server that decodes a literal name or value allocates and copies it;
//! one it finds in its table it only clones: the gateway spends about a
//! tenth less per request on a block that refers to its table.

use super::{ENTRY_OVERHEAD, STATIC};
use bytes::{BufMut as _, BytesMut};
use http::HeaderMap;

/// What the table may hold at most, whatever larger size the peer allows:
/// a few names and the values they first came with.
const TABLE_LIMIT: usize = 4096;

/// A field in the table: its name and value, one after the other in
/// `Encoder::strings` from `at`.
#[derive(Debug, Clone, Copy)]
struct Entry {
    at: usize,
    name: usize,
    value: usize,
}

/// Room made when the connection opens, so that the first requests (a
/// burst's) add their entries without allocating: about what an
/// application's fields and pseudo-header fields take.
const ROOM_ENTRIES: usize = 8;
const ROOM_STRINGS: usize = 256;

#[derive(Debug)]
pub(crate) struct Encoder {
    /// Oldest first; the newest is index 62 (RFC 7541 2.3.3).
    entries: Vec<Entry>,
    strings: Vec<u8>,
    size: usize,
    /// The table size the peer's decoder holds us to.
    limit: usize,
    /// A smaller size the peer announced, to signal at the next block.
    owed_update: bool,
}

/// A request's pseudo-header fields (RFC 9113 8.3.1).
pub(crate) struct Pseudo<'a> {
    pub method: &'a http::Method,
    pub scheme: &'a str,
    pub authority: &'a str,
    pub path: &'a str,
}

impl Default for Encoder {
    fn default() -> Encoder {
        Encoder {
            entries: Vec::with_capacity(ROOM_ENTRIES),
            strings: Vec::with_capacity(ROOM_STRINGS),
            size: 0,
            limit: TABLE_LIMIT, // RFC 9113 6.5.2: the initial size
            owed_update: false,
        }
    }
}

impl Encoder {
    /// The peer's SETTINGS_HEADER_TABLE_SIZE. A smaller table than ours
    /// empties it at the next block (4.2); a larger one changes nothing.
    pub(crate) fn peer_table_size(&mut self, size: u32) {
        let size = size as usize;
        if size < self.limit {
            self.limit = size;
            self.owed_update = true;
        }
    }

    /// Writes the header block of a request: pseudo-header fields, then
    /// `fields` (without those the connection owns: `Fields` and
    /// `remove_connection_owned` take them out).
    pub(crate) fn block(&mut self, out: &mut BytesMut, pseudo: &Pseudo<'_>, fields: &HeaderMap) {
        if std::mem::take(&mut self.owed_update) {
            // To 0 empties the table; then the size we keep to.
            integer(out, 0x20, 5, 0);
            self.entries.clear();
            self.strings.clear();
            self.size = 0;
            if self.limit > 0 {
                integer(out, 0x20, 5, self.limit);
            }
        }
        // Appendix A: 2 `:method GET`, 3 `:method POST`, 6 `:scheme http`,
        // 7 `:scheme https`.
        match *pseudo.method {
            http::Method::GET => integer(out, 0x80, 7, 2),
            http::Method::POST => integer(out, 0x80, 7, 3),
            ref other => self.field(out, b":method", other.as_str().as_bytes(), false),
        }
        match pseudo.scheme {
            "http" => integer(out, 0x80, 7, 6),
            "https" => integer(out, 0x80, 7, 7),
            other => self.field(out, b":scheme", other.as_bytes(), false),
        }
        self.field(out, b":authority", pseudo.authority.as_bytes(), false);
        self.field(out, b":path", pseudo.path.as_bytes(), false);
        for (name, value) in fields {
            let sensitive = value.is_sensitive();
            self.field(out, name.as_str().as_bytes(), value.as_bytes(), sensitive);
        }
    }

    /// One field: indexed when the table holds it whole; else a literal,
    /// its name by index when some table holds the name, added to the
    /// table when its name is new there, it is not sensitive and it fits.
    fn field(&mut self, out: &mut BytesMut, name: &[u8], value: &[u8], sensitive: bool) {
        let mut name_index = None;
        for (position, entry) in self.entries.iter().enumerate().rev() {
            let (n, v) = self.strings[entry.at..].split_at(entry.name);
            if n == name {
                let index = 62 + self.entries.len() - 1 - position;
                if v[..entry.value] == *value && !sensitive {
                    return integer(out, 0x80, 7, index); // 6.1
                }
                name_index = Some(index);
                break;
            }
        }
        let added = ENTRY_OVERHEAD + name.len() + value.len();
        // 6.2.1 (with indexing: 2 bits, 0x40), 6.2.2 (without: 4 bits),
        // 6.2.3 (never indexed: 4 bits, 0x10).
        let (flags, prefix) = if sensitive {
            (0x10, 4)
        } else if name_index.is_none() && self.size + added <= self.limit {
            self.entries.push(Entry {
                at: self.strings.len(),
                name: name.len(),
                value: value.len(),
            });
            self.strings.extend_from_slice(name);
            self.strings.extend_from_slice(value);
            self.size += added;
            (0x40, 6)
        } else {
            (0x00, 4)
        };
        match name_index.or_else(|| static_name(name)) {
            Some(index) => integer(out, flags, prefix, index),
            None => {
                out.put_u8(flags);
                string(out, name);
            }
        }
        string(out, value);
    }
}

/// Appendix A: the static table's first index of a name.
fn static_name(name: &[u8]) -> Option<usize> {
    let at = STATIC.iter().position(|(n, _)| n.as_bytes() == name)?;
    Some(at + 1)
}

/// 5.2, without Huffman coding.
fn string(out: &mut BytesMut, bytes: &[u8]) {
    integer(out, 0x00, 7, bytes.len());
    out.put_slice(bytes);
}

/// 5.1: `value` with an N-bit prefix, `flags` in the first byte's other
/// bits.
fn integer(out: &mut BytesMut, flags: u8, prefix_bits: u32, mut value: usize) {
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

    /// C.1: integers on a prefix, from the RFC's own examples.
    #[test]
    fn integers_are_encoded_as_rfc_7541_shows() {
        let mut out = BytesMut::new();
        integer(&mut out, 0, 5, 10);
        integer(&mut out, 0, 5, 1337);
        integer(&mut out, 0, 8, 42);
        assert_eq!(&out[..], &[0x0a, 0x1f, 0x9a, 0x0a, 0x2a]);
    }

    fn post<'a>(path: &'a str) -> Pseudo<'a> {
        Pseudo {
            method: &http::Method::POST,
            scheme: "http",
            authority: "a.it",
            path,
        }
    }

    fn fields(key: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert("content-type", "application/json".parse().unwrap());
        map.insert("clickday-key", key.parse().unwrap());
        let mut signature = http::HeaderValue::from_static("sig");
        signature.set_sensitive(true);
        map.insert("clickday-signature", signature);
        map
    }

    /// The first block puts each name in the table with its value; the
    /// next refers to them, by whole entry or by name, and never indexes
    /// the signature. Byte for byte, per C.3 and C.4's representations.
    #[test]
    fn later_blocks_refer_to_what_the_first_put_in_the_table() {
        let mut encoder = Encoder::default();
        let mut first = BytesMut::new();
        encoder.block(&mut first, &post("/v1/s"), &fields("k1"));
        let mut expected = vec![0x83, 0x86];
        expected.extend(b"\x41\x04a.it"); // :authority, name 1, indexed
        expected.extend(b"\x44\x05/v1/s"); // :path, name 4
        expected.extend(b"\x5f\x10application/json"); // name 31, indexed
        expected.extend(b"\x40\x0cclickday-key\x02k1");
        expected.extend(b"\x10\x12clickday-signature\x03sig");
        assert_eq!(first[..], expected[..]);
        // Newest first: clickday-key 62, content-type 63, :path 64,
        // :authority 65.
        let mut second = BytesMut::new();
        encoder.block(&mut second, &post("/v1/s"), &fields("k2"));
        let mut expected = vec![0x83, 0x86, 0x80 | 65, 0x80 | 64, 0x80 | 63];
        expected.extend(b"\x0f\x2f\x02k2"); // name 62 without indexing (15 + 47)
        expected.extend(b"\x10\x12clickday-signature\x03sig");
        assert_eq!(second[..], expected[..]);
        // Another path: its name from the table, not added.
        let mut third = BytesMut::new();
        encoder.block(&mut third, &post("/v1/t"), &fields("k1"));
        assert_eq!(third[..5], [0x83, 0x86, 0x80 | 65, 0x0f, 0x31]);
        assert_eq!(&third[5..11], b"\x05/v1/t");
        assert_eq!(third[11..13], [0x80 | 63, 0x80 | 62]);
    }

    /// 4.2: a smaller table from the peer is signalled at the next block,
    /// which empties it; then the table fills again within the new size.
    #[test]
    fn a_smaller_peer_table_is_signalled_and_respected() {
        let mut encoder = Encoder::default();
        let mut block = BytesMut::new();
        encoder.block(&mut block, &post("/v1/s"), &fields("k1"));
        encoder.peer_table_size(80);
        let mut block = BytesMut::new();
        encoder.block(&mut block, &post("/v1/s"), &fields("k1"));
        // To 0, then to 80 (5-bit prefix: 31 + 49).
        assert_eq!(block[..4], [0x20, 0x3f, 49, 0x83]);
        // Only `:authority a.it` (32 + 10 + 4) fits beside nothing else
        // of 80: `:path /v1/s` would make 46 + 42.
        assert_eq!(encoder.entries.len(), 1);
        assert!(encoder.size <= 80);
        encoder.peer_table_size(0);
        let mut block = BytesMut::new();
        encoder.block(&mut block, &post("/v1/s"), &fields("k1"));
        assert_eq!(block[..2], [0x20, 0x83]);
        assert!(encoder.entries.is_empty());
        // A larger table later changes nothing: the peer may keep ours.
        encoder.peer_table_size(4096);
        let mut block = BytesMut::new();
        encoder.block(&mut block, &post("/v1/s"), &fields("k1"));
        assert_eq!(block[0], 0x83);
        assert!(encoder.entries.is_empty());
    }
}
