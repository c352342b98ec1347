//! The queued record: everything the store and the ranking need, including
//! the exact body bytes and signature so the submission can be re-verified.

use bytes::Bytes;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub submission_id: String,
    pub account_id: String,
    pub key_id: String,
    pub application_id: String,
    pub click_day: String,
    pub category: String,
    pub province: String,
    pub form: String,
    /// Arrival stamp, Unix nanoseconds UTC.
    pub received_at: u64,
    /// Gateway node id and its per-gateway sequence: ranking tie-breakers.
    pub node: u16,
    pub seq: u64,
    /// The exact body bytes as received.
    pub body: Bytes,
    pub body_sha256: [u8; 32],
    pub signature: [u8; 64],
}

/// Field names of a record in a Redis stream entry (short: they are stored
/// once per entry).
pub(crate) mod field {
    pub const SUBMISSION_ID: &str = "sid";
    pub const ACCOUNT_ID: &str = "acct";
    pub const KEY_ID: &str = "kid";
    pub const APPLICATION_ID: &str = "app";
    pub const CLICK_DAY: &str = "day";
    pub const CATEGORY: &str = "cat";
    pub const PROVINCE: &str = "prov";
    pub const FORM: &str = "form";
    pub const RECEIVED_AT: &str = "at";
    pub const NODE: &str = "node";
    pub const SEQ: &str = "seq";
    pub const BODY: &str = "body";
    pub const SHA256: &str = "sha";
    pub const SIGNATURE: &str = "sig";
}

impl Record {
    /// The stream entry's field/value pairs.
    pub(crate) fn to_fields(&self) -> Vec<(&'static str, Vec<u8>)> {
        use field::*;
        vec![
            (SUBMISSION_ID, self.submission_id.as_bytes().to_vec()),
            (ACCOUNT_ID, self.account_id.as_bytes().to_vec()),
            (KEY_ID, self.key_id.as_bytes().to_vec()),
            (APPLICATION_ID, self.application_id.as_bytes().to_vec()),
            (CLICK_DAY, self.click_day.as_bytes().to_vec()),
            (CATEGORY, self.category.as_bytes().to_vec()),
            (PROVINCE, self.province.as_bytes().to_vec()),
            (FORM, self.form.as_bytes().to_vec()),
            (RECEIVED_AT, self.received_at.to_string().into_bytes()),
            (NODE, self.node.to_string().into_bytes()),
            (SEQ, self.seq.to_string().into_bytes()),
            (BODY, self.body.to_vec()),
            (SHA256, self.body_sha256.to_vec()),
            (SIGNATURE, self.signature.to_vec()),
        ]
    }

    /// Rebuilds a record from stream fields, naming what is wrong.
    pub(crate) fn from_fields(get: impl Fn(&str) -> Option<Vec<u8>>) -> Result<Record, String> {
        use field::*;
        let bytes = |name: &str| get(name).ok_or_else(|| format!("field {name} missing"));
        let text = |name: &str| {
            String::from_utf8(bytes(name)?).map_err(|_| format!("field {name} is not UTF-8"))
        };
        let number = |name: &str| -> Result<u64, String> {
            text(name)?
                .parse()
                .map_err(|_| format!("field {name} is not a number"))
        };
        let fixed = |name: &str, len: usize| -> Result<Vec<u8>, String> {
            let value = bytes(name)?;
            if value.len() == len {
                Ok(value)
            } else {
                Err(format!(
                    "field {name} has {} bytes, expected {len}",
                    value.len()
                ))
            }
        };
        Ok(Record {
            submission_id: text(SUBMISSION_ID)?,
            account_id: text(ACCOUNT_ID)?,
            key_id: text(KEY_ID)?,
            application_id: text(APPLICATION_ID)?,
            click_day: text(CLICK_DAY)?,
            category: text(CATEGORY)?,
            province: text(PROVINCE)?,
            form: text(FORM)?,
            received_at: number(RECEIVED_AT)?,
            node: u16::try_from(number(NODE)?)
                .map_err(|_| "field node out of range".to_string())?,
            seq: number(SEQ)?,
            body: Bytes::from(bytes(BODY)?),
            body_sha256: fixed(SHA256, 32)?.try_into().map_err(|_| "sha")?,
            signature: fixed(SIGNATURE, 64)?.try_into().map_err(|_| "sig")?,
        })
    }

    /// What a resend is compared against and what a duplicate answers with.
    pub(crate) fn dedupe_value(&self) -> String {
        format!(
            "{} {} {}",
            hex::encode(self.body_sha256),
            self.submission_id,
            self.received_at
        )
    }
}

/// Parses a dedupe value against a new record's digest.
pub(crate) fn judge_previous(
    previous: &str,
    record: &Record,
) -> Result<crate::Enqueued, crate::QueueError> {
    let mut parts = previous.split(' ');
    let (Some(sha), Some(id), Some(at)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(crate::QueueError::Protocol(format!(
            "bad dedupe value {previous:?}"
        )));
    };
    if sha != hex::encode(record.body_sha256) {
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
    fn shards_are_stable_and_spread() {
        assert_eq!(shard_of("acct-1", 1), 0);
        assert_eq!(shard_of("acct-1", 8), shard_of("acct-1", 8));
        let used: std::collections::BTreeSet<u16> = (0..200)
            .map(|i| shard_of(&format!("acct-{i}"), 8))
            .collect();
        assert_eq!(used.len(), 8);
    }
}
