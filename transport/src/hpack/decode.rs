//! Every answer header block on a connection is decoded here, in the order
//! the blocks came: the blocks of answers no one waits for any more too,
//! or the dynamic table would go out of step with the server's.
//!
//! Fields come out as the connection needs them: `:status` parsed, a
//! header as the `http` types, or `Malformed` for a field no answer may
//! carry (RFC 9113 8.2, 8.3), which fails its answer but not the block. The
//! table keeps fields parsed, so a field it serves again costs two clones.

use super::{ENTRY_OVERHEAD, STATIC, huffman};
use http::{HeaderName, HeaderValue, StatusCode};
use std::collections::VecDeque;

/// The table size we allow the server (SETTINGS_HEADER_TABLE_SIZE, never
/// announced, so the protocol's initial 4,096).
const TABLE_CAPACITY: usize = 4096;

/// An answer's field, decoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Field {
    Status(StatusCode),
    Header(HeaderName, HeaderValue),
    /// A request's pseudo-header, an unknown one, a `:status` that is no
    /// status code, a name in upper case or a value with bytes no field
    /// may hold.
    Malformed,
}

#[derive(Debug)]
struct Entry {
    field: Field,
    /// A malformed field's name, which a later literal may take.
    malformed_name: Option<Box<[u8]>>,
    size: usize,
}

/// Why a block could not be decoded: a connection error
/// (COMPRESSION_ERROR, RFC 9113 4.3), the table now being unknown.
#[derive(Debug, PartialEq)]
pub(crate) struct BadBlock(pub(crate) &'static str);

#[derive(Debug)]
pub(crate) struct Decoder {
    /// Newest first: index 62 is `entries[0]` (RFC 7541 2.3.3).
    entries: VecDeque<Entry>,
    size: usize,
    /// What the server last set the size to, up to `TABLE_CAPACITY`.
    max: usize,
    /// Where a string is decoded before it is parsed.
    scratch: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder {
            entries: VecDeque::new(),
            size: 0,
            max: TABLE_CAPACITY,
            scratch: Vec::with_capacity(128),
        }
    }
}

impl Decoder {
    /// Decodes a whole header block, handing each field and its size (4.1)
    /// to `emit`, in order.
    pub(crate) fn decode(
        &mut self,
        mut block: &[u8],
        mut emit: impl FnMut(Field, usize),
    ) -> Result<(), BadBlock> {
        let mut first = true;
        while let Some(&byte) = block.first() {
            if byte & 0x80 != 0 {
                // 6.1: indexed.
                let index = integer(&mut block, 7)?;
                let (field, size) = self.get(index)?;
                emit(field, size);
            } else if byte & 0xe0 == 0x20 {
                // 6.3: a size update, only before the block's first field.
                let size = integer(&mut block, 5)?;
                if !first || size > TABLE_CAPACITY {
                    return Err(BadBlock("a table size update out of place or over 4096"));
                }
                self.max = size;
                self.evict(0);
                continue;
            } else {
                // 6.2.1 with indexing (01, 6 bits), 6.2.2 without (0000)
                // and 6.2.3 never indexed (0001), 4 bits.
                let indexing = byte & 0x40 != 0;
                let index = integer(&mut block, if indexing { 6 } else { 4 })?;
                let mut scratch = std::mem::take(&mut self.scratch);
                scratch.clear();
                let literal = self.literal(&mut block, index, &mut scratch);
                self.scratch = scratch;
                let entry = literal?;
                if indexing {
                    emit(entry.field.clone(), entry.size);
                    self.insert(entry);
                } else {
                    emit(entry.field, entry.size);
                }
            }
            first = false;
        }
        Ok(())
    }

    /// The field at `index`, static or dynamic, and its size.
    fn get(&self, index: usize) -> Result<(Field, usize), BadBlock> {
        match index {
            0 => Err(BadBlock("index 0")),
            1..=61 => {
                let (name, value) = STATIC[index - 1];
                let size = ENTRY_OVERHEAD + name.len() + value.len();
                Ok((parse(name.as_bytes(), value.as_bytes()), size))
            }
            _ => {
                let entry = self
                    .entries
                    .get(index - 62)
                    .ok_or(BadBlock("an index past the table"))?;
                Ok((entry.field.clone(), entry.size))
            }
        }
    }

    /// A literal field: its name by `index` (0: a string before the
    /// value), then its value, both decoded into `scratch`.
    fn literal(
        &self,
        block: &mut &[u8],
        index: usize,
        scratch: &mut Vec<u8>,
    ) -> Result<Entry, BadBlock> {
        if index == 0 {
            string(block, scratch)?;
        }
        let name_len = scratch.len();
        string(block, scratch)?;
        let (name, value) = match index {
            0 => scratch.split_at(name_len),
            1..=61 => (STATIC[index - 1].0.as_bytes(), &scratch[..]),
            _ => {
                let entry = self
                    .entries
                    .get(index - 62)
                    .ok_or(BadBlock("an index past the table"))?;
                match &entry.field {
                    // The common case: the name is parsed already.
                    Field::Header(name, _) => {
                        let size = ENTRY_OVERHEAD + name.as_str().len() + scratch.len();
                        let field = match HeaderValue::from_bytes(scratch) {
                            Ok(value) => Field::Header(name.clone(), value),
                            Err(_) => Field::Malformed,
                        };
                        let malformed_name =
                            (field == Field::Malformed).then(|| name.as_str().as_bytes().into());
                        return Ok(Entry {
                            field,
                            malformed_name,
                            size,
                        });
                    }
                    Field::Status(_) => (&b":status"[..], &scratch[..]),
                    Field::Malformed => (
                        entry.malformed_name.as_deref().unwrap_or_default(),
                        &scratch[..],
                    ),
                }
            }
        };
        let field = parse(name, value);
        Ok(Entry {
            malformed_name: (field == Field::Malformed).then(|| name.into()),
            size: ENTRY_OVERHEAD + name.len() + value.len(),
            field,
        })
    }

    /// 4.4: adds a field, first evicting the oldest until it fits; one
    /// larger than the whole table empties it and is not added.
    fn insert(&mut self, entry: Entry) {
        self.evict(entry.size);
        if entry.size <= self.max {
            self.size += entry.size;
            self.entries.push_front(entry);
        }
    }

    /// Evicts the oldest entries until `room` more fits within `max`.
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max {
            match self.entries.pop_back() {
                Some(entry) => self.size -= entry.size,
                None => break,
            }
        }
    }
}

/// A field from its name and value, as an answer may carry it.
fn parse(name: &[u8], value: &[u8]) -> Field {
    if name == b":status" {
        return match StatusCode::from_bytes(value) {
            Ok(status) if value.len() == 3 => Field::Status(status),
            _ => Field::Malformed,
        };
    }
    match (
        HeaderName::from_lowercase(name),
        HeaderValue::from_bytes(value),
    ) {
        (Ok(name), Ok(value)) => Field::Header(name, value),
        _ => Field::Malformed,
    }
}

/// 5.1: an integer on an `prefix`-bit prefix; larger than any size or
/// index a block can hold is an error.
fn integer(block: &mut &[u8], prefix: u32) -> Result<usize, BadBlock> {
    const TRUNCATED: BadBlock = BadBlock("a truncated integer");
    let max = (1usize << prefix) - 1;
    let (&first, mut rest) = block.split_first().ok_or(TRUNCATED)?;
    let mut value = usize::from(first) & max;
    if value == max {
        let mut shift = 0;
        loop {
            let (&byte, after) = rest.split_first().ok_or(TRUNCATED)?;
            rest = after;
            value += usize::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
            if shift > 21 {
                return Err(BadBlock("an integer over 2^28"));
            }
        }
    }
    *block = rest;
    Ok(value)
}

/// 5.2: a string, appended to `out`, Huffman-decoded if it is coded.
fn string(block: &mut &[u8], out: &mut Vec<u8>) -> Result<(), BadBlock> {
    let huffman = block.first().is_some_and(|b| b & 0x80 != 0);
    let len = integer(block, 7)?;
    if len > block.len() {
        return Err(BadBlock("a string past the block's end"));
    }
    let (bytes, rest) = block.split_at(len);
    *block = rest;
    if huffman {
        huffman::decode(bytes, out).map_err(|_| BadBlock("a bad Huffman code"))
    } else {
        out.extend_from_slice(bytes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    fn show(field: &Field) -> String {
        match field {
            Field::Status(status) => format!(":status: {}", status.as_u16()),
            Field::Header(name, value) => format!("{name}: {}", value.to_str().unwrap()),
            Field::Malformed => "malformed".into(),
        }
    }

    fn decode(decoder: &mut Decoder, block: &[u8]) -> Result<Vec<String>, BadBlock> {
        let mut fields = Vec::new();
        decoder.decode(block, |field, _| fields.push(show(&field)))?;
        Ok(fields)
    }

    fn table(decoder: &Decoder) -> Vec<String> {
        decoder.entries.iter().map(|e| show(&e.field)).collect()
    }

    /// C.6: three answers with Huffman-coded strings, in a 256-octet
    /// table that evicts as the RFC shows.
    #[test]
    fn rfc_7541_c6_answers_decode_and_evict_in_step() {
        let mut decoder = Decoder {
            max: 256,
            ..Decoder::default()
        };
        let date = "date: Mon, 21 Oct 2013 20:13:21 GMT";
        let location = "location: https://www.example.com";
        let first = hex("4882 6402 5885 aec3 771a 4b61 96d0 7abe
            9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad
            1718 63c7 8f0b 97c8 e9ae 82ae 43d3");
        let fields = decode(&mut decoder, &first).unwrap();
        assert_eq!(
            fields,
            [":status: 302", "cache-control: private", date, location]
        );
        assert_eq!(decoder.size, 222);

        let second = hex("4883 640e ffc1 c0bf");
        let fields = decode(&mut decoder, &second).unwrap();
        assert_eq!(
            fields,
            [":status: 307", "cache-control: private", date, location]
        );
        assert_eq!(decoder.size, 222);

        let third = hex("88c1 6196 d07a be94 1054 d444 a820 0595
            040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2
            e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
            9587 3160 65c0 03ed 4ee5 b106 3d50 07");
        let cookie = "set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
        let fields = decode(&mut decoder, &third).unwrap();
        let newer_date = "date: Mon, 21 Oct 2013 20:13:22 GMT";
        assert_eq!(
            fields,
            [
                ":status: 200",
                "cache-control: private",
                newer_date,
                location,
                "content-encoding: gzip",
                cookie
            ]
        );
        assert_eq!(
            table(&decoder),
            [cookie, "content-encoding: gzip", newer_date]
        );
        assert_eq!(decoder.size, 215);
    }

    /// Fields no answer may carry come out malformed, yet go into the
    /// table and keep it in step; a literal named after one is malformed
    /// only if it is itself.
    #[test]
    fn malformed_fields_keep_the_table_in_step() {
        let mut decoder = Decoder::default();
        let mut block = vec![0x44, 0x01, b'/']; // `:path /`, indexed
        block.extend(b"\x40\x05X-Big\x01v"); // upper case, indexed
        block.extend(b"\x40\x03x-a\x02\x00z"); // a NUL in the value, indexed
        block.extend(b"\x48\x03abc"); // `:status abc`, indexed
        let fields = decode(&mut decoder, &block).unwrap();
        assert_eq!(fields, ["malformed"; 4]);
        assert_eq!(decoder.entries.len(), 4);
        // 62 `:status abc`, 63 x-a, 64 X-Big, 65 :path.
        let mut later = vec![0x80 | 65, 0x0f, 48, 0x02, b'o', b'k'];
        later.extend([0x0f, 47, 0x03, b'2', b'0', b'4']);
        let fields = decode(&mut decoder, &later).unwrap();
        assert_eq!(fields, ["malformed", "x-a: ok", ":status: 204"]);
    }

    /// What leaves the table unknown is a connection error.
    #[test]
    fn blocks_that_cannot_be_decoded_are_refused() {
        let bad: [&[u8]; 8] = [
            &[0x80],                               // index 0
            &[0x80 | 62],                          // past an empty table
            &[0x88, 0x20],                         // a size update after a field
            &[0x3f, 0xe2, 0x1f],                   // a size update to 4097
            &[0x40, 0x05, b'a'],                   // a string past the end
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], // an integer over 2^28
            &[0xff],                               // a truncated integer
            &[0x40, 0x81, 0xff, 0x01, b'v'],       // bad Huffman
        ];
        for block in bad {
            let mut decoder = Decoder::default();
            assert!(decode(&mut decoder, block).is_err(), "{block:x?}");
        }
        // A size update first is fine, and empties the table.
        let mut decoder = Decoder::default();
        decode(&mut decoder, b"\x40\x01a\x01b").unwrap();
        assert_eq!(
            decode(&mut decoder, &[0x20, 0x88]).unwrap(),
            [":status: 200"]
        );
        assert!(decoder.entries.is_empty());
    }
}
