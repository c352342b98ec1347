//! The accepted submission and the answer that acknowledges it: the two
//! shapes every crate downstream of the gateway shares.
//!
//! - [`Submission`]: what the gateway accepted — the application's header
//!   fields, who sent it with which key, the arrival stamp, the exact body
//!   bytes with their digest and signature. The queue encodes it, the store
//!   persists it, receipts sign it.
//! - [`Acknowledgement`]: the `202`/`200` document of PROTOCOL.md, built by
//!   the gateway and read back by loadgen and the mini-client.

use crate::stamp::ArrivalStamp;
use crate::submission::Application;
use crate::time::{format_rfc3339_nanos, parse_rfc3339};
use bytes::Bytes;

/// A submission the gateway accepted, exactly as it travels from the queue
/// to the store, the receipt and the ranking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// Derived from the stamp by the gateway; the store's primary key.
    pub submission_id: String,
    /// The account owning `key_id`.
    pub account_id: String,
    pub key_id: String,
    /// The header fields read from the body.
    pub application: Application,
    /// Arrival instant, gateway node and per-gateway sequence: the ranking
    /// key `(received_at, node, seq)`.
    pub stamp: ArrivalStamp,
    /// The exact body bytes as received (what the signature covers).
    pub body: Bytes,
    pub body_sha256: [u8; 32],
    pub signature: [u8; 64],
}

impl Submission {
    /// Arrival instant, Unix nanoseconds UTC.
    pub fn received_at(&self) -> u64 {
        self.stamp.unix_nanos
    }

    /// Whether `body_sha256` really is the digest of `body` (a record damaged
    /// on its way is dead-lettered, never stored).
    pub fn digest_matches(&self) -> bool {
        crate::body_digest(&self.body) == self.body_sha256
    }
}

/// The answer to an accepted submission: `202` when new, `200` with the
/// original id and stamp when the same bytes were accepted before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    pub submission_id: String,
    /// The arrival instant kept for the submission, Unix nanoseconds UTC.
    pub received_at: u64,
    pub duplicate: bool,
}

/// The wire document; `status` is always `"queued"`. Its strings are
/// borrowed from the body when read, unless an escape forces a copy.
#[derive(serde::Serialize, serde::Deserialize)]
struct Wire<'a> {
    #[serde(borrow)]
    submission_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    received_at: std::borrow::Cow<'a, str>,
    #[serde(default = "queued", borrow)]
    status: std::borrow::Cow<'a, str>,
    #[serde(default)]
    duplicate: bool,
}

fn queued() -> std::borrow::Cow<'static, str> {
    "queued".into()
}

/// Why an answer is not an acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcknowledgementError {
    /// Not the JSON document of PROTOCOL.md.
    #[error("not an acknowledgement document: {0}")]
    NotADocument(String),
    /// `submission_id` empty, too long or not URL-safe.
    #[error("submission_id {0:?} is not 1 to 40 URL-safe characters")]
    BadId(String),
    /// `received_at` not an RFC 3339 instant.
    #[error("received_at: {0}")]
    BadInstant(String),
}

impl Acknowledgement {
    /// The HTTP status that carries it.
    pub fn status(&self) -> u16 {
        if self.duplicate { 200 } else { 202 }
    }

    /// `received_at` as the protocol writes it (RFC 3339, nine digits, `Z`).
    pub fn received_at_text(&self) -> String {
        format_rfc3339_nanos(self.received_at)
    }

    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        let wire = Wire {
            submission_id: self.submission_id.as_str().into(),
            received_at: self.received_at_text().into(),
            status: queued(),
            duplicate: self.duplicate,
        };
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// Reads an answer body: only a document with a usable id and instant
    /// counts (a client must never take garbage for an acknowledgement).
    pub fn parse(body: &[u8]) -> Result<Self, AcknowledgementError> {
        let wire: Wire<'_> = serde_json::from_slice(body)
            .map_err(|e| AcknowledgementError::NotADocument(e.to_string()))?;
        let id = wire.submission_id.as_ref();
        let url_safe = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
        if id.is_empty() || id.len() > 40 || !id.bytes().all(url_safe) {
            return Err(AcknowledgementError::BadId(id.to_string()));
        }
        let received_at =
            parse_rfc3339(&wire.received_at).map_err(AcknowledgementError::BadInstant)?;
        Ok(Acknowledgement {
            submission_id: wire.submission_id.into_owned(),
            received_at,
            duplicate: wire.duplicate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acknowledgement_round_trips_through_its_document() {
        let ack = Acknowledgement {
            submission_id: "20110131T070000051234567Z-00001".into(),
            received_at: 1_296_457_200_051_234_567,
            duplicate: true,
        };
        let json = ack.to_json();
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(value["received_at"], "2011-01-31T07:00:00.051234567Z");
        assert_eq!(value["status"], "queued");
        assert_eq!(Acknowledgement::parse(&json).unwrap(), ack);
        assert_eq!(ack.status(), 200);
        // Strings are borrowed from the body; an escaped one is copied.
        let escaped = br#"{"submission_id":"a\u002db","received_at":"2011-01-31T07:00:00Z"}"#;
        assert_eq!(
            Acknowledgement::parse(escaped).unwrap().submission_id,
            "a-b"
        );
    }

    #[test]
    fn garbage_is_never_an_acknowledgement() {
        for body in [
            &b"<html>"[..],
            br#"{"received_at":"2011-01-31T07:00:00Z"}"#,
            br#"{"submission_id":"","received_at":"2011-01-31T07:00:00Z"}"#,
            br#"{"submission_id":"../x","received_at":"2011-01-31T07:00:00Z"}"#,
            br#"{"submission_id":"a","received_at":"yesterday"}"#,
        ] {
            assert!(Acknowledgement::parse(body).is_err(), "{body:?}");
        }
    }
}
