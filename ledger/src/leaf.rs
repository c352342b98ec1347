//! The leaf: what the ledger says about one stored submission.
//!
//! One line of text, so an applicant can read and recompute it by hand:
//!
//! ```text
//! clickday-leaf/v1 <click_day> <category> <province> <received_at_ns> <node> <seq> <submission_id> <key_id> <body_sha256_hex>\n
//! ```
//!
//! Text fields are written as they are unless they hold a byte outside
//! printable ASCII, a space or a `%`: those bytes are written `%XX`. The
//! encoding is canonical — decoding accepts only what encoding writes — so
//! a leaf's hash names exactly one record. No personal data: the key id is
//! a pseudonym and the body is only its digest (the applicant, who holds
//! the body, can show that it matches; nobody else learns it).

use clickday_core::{ArrivalStamp, Submission};

const TAG: &str = "clickday-leaf/v1";

/// One stored submission as the ledger records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    pub click_day: String,
    pub category: String,
    pub province: String,
    pub stamp: ArrivalStamp,
    pub submission_id: String,
    pub key_id: String,
    pub body_sha256: [u8; 32],
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LeafError {
    #[error("not a clickday-leaf/v1 line: {0}")]
    Malformed(&'static str),
    #[error("leaf is not in canonical form")]
    NotCanonical,
}

impl Leaf {
    pub fn of(submission: &Submission) -> Self {
        let app = &submission.application;
        Leaf {
            click_day: app.click_day.clone(),
            category: app.category.clone(),
            province: app.province.clone(),
            stamp: submission.stamp,
            submission_id: submission.submission_id.clone(),
            key_id: submission.key_id.clone(),
            body_sha256: submission.body_sha256,
        }
    }

    /// The leaf a version-2 receipt statement describes (`None` for a
    /// version-1 statement or one missing a field): what an applicant
    /// checks the inclusion proof of their receipt against.
    pub fn from_statement(statement: &str) -> Option<Self> {
        use clickday_core::receipt::statement_field as field;
        if statement.lines().next() != Some(clickday_core::receipt::HEADER) {
            return None;
        }
        let mut body_sha256 = [0u8; 32];
        hex::decode_to_slice(field(statement, "body_sha256")?, &mut body_sha256).ok()?;
        Some(Leaf {
            click_day: field(statement, "click_day")?.to_string(),
            category: field(statement, "category")?.to_string(),
            province: field(statement, "province")?.to_string(),
            stamp: ArrivalStamp {
                unix_nanos: clickday_core::time::parse_rfc3339(field(statement, "received_at")?)
                    .ok()?,
                node: field(statement, "node")?.parse().ok()?,
                seq: field(statement, "seq")?.parse().ok()?,
            },
            submission_id: field(statement, "submission_id")?.to_string(),
            key_id: field(statement, "key_id")?.to_string(),
            body_sha256,
        })
    }

    /// The ranking order: arrival instant, then gateway node, then its
    /// sequence.
    pub fn rank_key(&self) -> (u64, u16, u64) {
        (self.stamp.unix_nanos, self.stamp.node, self.stamp.seq)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(200);
        out.push_str(TAG);
        for text in [&self.click_day, &self.category, &self.province] {
            out.push(' ');
            escape_into(text, &mut out);
        }
        out.push_str(&format!(
            " {} {} {} ",
            self.stamp.unix_nanos, self.stamp.node, self.stamp.seq
        ));
        escape_into(&self.submission_id, &mut out);
        out.push(' ');
        escape_into(&self.key_id, &mut out);
        out.push(' ');
        out.push_str(&hex::encode(self.body_sha256));
        out.push('\n');
        out.into_bytes()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LeafError> {
        let text = std::str::from_utf8(bytes).map_err(|_| LeafError::Malformed("not UTF-8"))?;
        let line = text
            .strip_suffix('\n')
            .ok_or(LeafError::Malformed("no final newline"))?;
        let fields: Vec<&str> = line.split(' ').collect();
        let [
            tag,
            click_day,
            category,
            province,
            nanos,
            node,
            seq,
            id,
            key_id,
            digest,
        ] = fields[..]
        else {
            return Err(LeafError::Malformed("expected 10 fields"));
        };
        if tag != TAG {
            return Err(LeafError::Malformed("unknown tag"));
        }
        let number = |s: &str| {
            s.parse::<u64>()
                .map_err(|_| LeafError::Malformed("bad number"))
        };
        let mut body_sha256 = [0u8; 32];
        hex::decode_to_slice(digest, &mut body_sha256)
            .map_err(|_| LeafError::Malformed("bad body digest"))?;
        let leaf = Leaf {
            click_day: unescape(click_day)?,
            category: unescape(category)?,
            province: unescape(province)?,
            stamp: ArrivalStamp {
                unix_nanos: number(nanos)?,
                node: u16::try_from(number(node)?)
                    .map_err(|_| LeafError::Malformed("node out of range"))?,
                seq: number(seq)?,
            },
            submission_id: unescape(id)?,
            key_id: unescape(key_id)?,
            body_sha256,
        };
        if leaf.to_bytes() != bytes {
            return Err(LeafError::NotCanonical);
        }
        Ok(leaf)
    }
}

fn plain(b: u8) -> bool {
    b.is_ascii_graphic() && b != b'%'
}

fn escape_into(text: &str, out: &mut String) {
    for &b in text.as_bytes() {
        if plain(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fn unescape(field: &str) -> Result<String, LeafError> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = field
                .get(i + 1..i + 3)
                .ok_or(LeafError::Malformed("bad escape"))?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| LeafError::Malformed("bad escape"))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| LeafError::Malformed("escape is not UTF-8"))
}

#[cfg(test)]
pub(crate) fn sample(i: u64) -> Leaf {
    Leaf {
        click_day: "2026-flussi".into(),
        category: if i.is_multiple_of(3) {
            "lavoro domestico"
        } else {
            "lavoro-stagionale"
        }
        .into(),
        province: ["RM", "MI", "NA"][(i % 3) as usize].into(),
        stamp: ArrivalStamp {
            unix_nanos: 1_790_000_000_000_000_000 + i * 7919 % 100_003,
            node: (i % 4) as u16,
            seq: i,
        },
        submission_id: format!("20260325T080000{i:09}Z-00001"),
        key_id: format!("{:032x}", i * 0x9e37_79b9),
        body_sha256: [(i % 251) as u8; 32],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_leaf_is_one_readable_line() {
        let leaf = sample(3);
        let text = String::from_utf8(leaf.to_bytes()).unwrap();
        assert!(text.starts_with("clickday-leaf/v1 2026-flussi lavoro%20domestico RM "));
        assert_eq!(text.matches('\n').count(), 1);
        assert_eq!(Leaf::from_bytes(text.as_bytes()), Ok(leaf));
    }

    #[test]
    fn only_the_canonical_form_is_read() {
        let text = String::from_utf8(sample(1).to_bytes()).unwrap();
        for changed in [
            text.replace("lavoro-stagionale", "lavoro%2Dstagionale"),
            text.replacen(" 1 ", " 01 ", 1),
            text.trim_end().to_string(),
            text.replace(' ', "  "),
            text.to_uppercase(),
        ] {
            assert!(Leaf::from_bytes(changed.as_bytes()).is_err(), "{changed:?}");
        }
    }

    proptest! {
        #[test]
        fn any_leaf_reads_back(day in "\\PC{1,20}", cat in "[ -~]{1,20}", n in any::<u64>(), node in any::<u16>()) {
            let mut leaf = sample(n % 1000);
            leaf.click_day = day;
            leaf.category = cat;
            leaf.stamp.unix_nanos = n;
            leaf.stamp.node = node;
            prop_assert_eq!(Leaf::from_bytes(&leaf.to_bytes()), Ok(leaf));
        }
    }
}
