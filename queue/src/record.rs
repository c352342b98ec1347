//! The queued record: a [`Submission`] encoded for a stream entry or an
//! inbox row, with everything the store and the ranking need, including the
//! exact body bytes and signature so it can be re-verified.

use bytes::Bytes;
use clickday_core::{Application, ArrivalStamp, Submission};

/// The stream field holding an encoded record.
pub(crate) const FIELD: &str = "r1";

/// Version byte of the encoding below; a new layout gets a new byte.
const VERSION: u8 = 1;

/// One compact binary value per stream entry (version byte, then each
/// text field as u32-LE length + UTF-8, the numbers little-endian, the
/// body length-prefixed, digest and signature fixed-size): a batch of
/// 1,000 entries is 3,000 RESP values to build and parse, not 29,000.
pub(crate) fn encode(s: &Submission) -> Vec<u8> {
    let app = &s.application;
    let texts = [
        &s.submission_id,
        &s.account_id,
        &s.key_id,
        &app.application_id,
        &app.click_day,
        &app.category,
        &app.province,
        &app.form,
    ];
    let mut out = Vec::with_capacity(
        1 + 8 * 4 + texts.iter().map(|t| t.len()).sum::<usize>() + 26 + 4 + s.body.len() + 96,
    );
    out.push(VERSION);
    for text in texts {
        out.extend_from_slice(&(text.len() as u32).to_le_bytes());
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(&s.stamp.unix_nanos.to_le_bytes());
    out.extend_from_slice(&s.stamp.node.to_le_bytes());
    out.extend_from_slice(&s.stamp.seq.to_le_bytes());
    out.extend_from_slice(&(s.body.len() as u32).to_le_bytes());
    out.extend_from_slice(&s.body);
    out.extend_from_slice(&s.body_sha256);
    out.extend_from_slice(&s.signature);
    out
}

/// Decodes [`encode`]'s output, naming what is wrong.
pub(crate) fn decode(bytes: &[u8]) -> Result<Submission, String> {
    let mut r = Reader { bytes, at: 0 };
    let version = r.take(1)?[0];
    if version != VERSION {
        return Err(format!("unknown record version {version}"));
    }
    let mut text = || -> Result<String, String> {
        let len = u32::from_le_bytes(r.array()?) as usize;
        String::from_utf8(r.take(len)?.to_vec())
            .map_err(|_| "a text field is not UTF-8".to_string())
    };
    let (submission_id, account_id, key_id, application_id) = (text()?, text()?, text()?, text()?);
    let (click_day, category, province, form) = (text()?, text()?, text()?, text()?);
    let received_at = u64::from_le_bytes(r.array()?);
    let node = u16::from_le_bytes(r.array()?);
    let seq = u64::from_le_bytes(r.array()?);
    let body_len = u32::from_le_bytes(r.array()?) as usize;
    let body = Bytes::copy_from_slice(r.take(body_len)?);
    let body_sha256 = r.array()?;
    let signature = r.array()?;
    if r.at != bytes.len() {
        return Err(format!("{} bytes after the record", bytes.len() - r.at));
    }
    Ok(Submission {
        submission_id,
        account_id,
        key_id,
        application: Application {
            application_id,
            click_day,
            category,
            province,
            form,
        },
        stamp: ArrivalStamp {
            unix_nanos: received_at,
            node,
            seq,
        },
        body,
        body_sha256,
        signature,
    })
}

/// What a resend is compared against and what a duplicate answers with.
pub(crate) fn dedupe_value(s: &Submission) -> String {
    format!(
        "{} {} {}",
        hex::encode(s.body_sha256),
        s.submission_id,
        s.received_at()
    )
}

/// A bounds-checked cursor over an encoded record.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or("record truncated")?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let slice = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }
}

/// Parses a dedupe value against a new record's digest.
pub(crate) fn judge_previous(
    previous: &str,
    submission: &Submission,
) -> Result<crate::Enqueued, crate::QueueError> {
    let mut parts = previous.split(' ');
    let (Some(sha), Some(id), Some(at)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(crate::QueueError::Protocol(format!(
            "bad dedupe value {previous:?}"
        )));
    };
    if sha != hex::encode(submission.body_sha256) {
        return Ok(crate::Enqueued::Conflict);
    }
    let received_at = at.parse().map_err(|_| {
        crate::QueueError::Protocol(format!("bad stamp in dedupe value {previous:?}"))
    })?;
    Ok(crate::Enqueued::Duplicate {
        submission_id: id.to_string(),
        received_at,
    })
}

/// `shard = FNV-1a-64(account) mod shards`: stable across processes,
/// versions and machines, so every gateway picks the same shard.
pub fn shard_of(account_id: &str, shards: u16) -> u16 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in account_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % u64::from(shards.max(1))) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_garbage_is_named() {
        let record = Submission {
            submission_id: "20110131T070000051234567Z-00001".into(),
            account_id: "mario.rossi".into(),
            key_id: "k".repeat(32),
            application: Application {
                application_id: "domanda-1".into(),
                click_day: "2011-01-31".into(),
                category: "lavoro-domestico".into(),
                province: "RM".into(),
                form: "LD".into(),
            },
            stamp: ArrivalStamp {
                unix_nanos: 1_296_457_200_051_234_567,
                node: 7,
                seq: 42,
            },
            body: Bytes::from_static(b"{\"a\":\"\xc3\xa8\"}"),
            body_sha256: [3; 32],
            signature: [4; 64],
        };
        let bytes = encode(&record);
        assert_eq!(decode(&bytes), Ok(record));
        assert_eq!(
            decode(&bytes[..bytes.len() - 1]).unwrap_err(),
            "record truncated"
        );
        assert!(decode(&[9, 0, 0]).unwrap_err().contains("version"));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).unwrap_err().contains("after the record"));
        assert!(decode(&[]).is_err());
    }

    #[test]
    fn shards_are_stable_and_spread() {
        assert_eq!(shard_of("acct-1", 1), 0);
        assert_eq!(shard_of("acct-1", 8), shard_of("acct-1", 8));
        let used: std::collections::BTreeSet<u16> = (0..200)
            .map(|i| shard_of(&format!("acct-{i}"), 8))
            .collect();
        assert_eq!(used.len(), 8);
    }
}
