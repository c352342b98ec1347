//! Admission tickets (PROTOCOL v1.1): a place kept across overload.
//!
//! When the gateway has read and stamped a body but cannot finish it now
//! (the queue cannot make it durable), it answers `503` with a ticket that
//! binds the key, the SHA-256 of the exact bytes and the arrival stamp. A
//! resend carrying the ticket keeps that stamp. Tickets are authenticated
//! with HMAC-SHA256 under a deployment-wide secret, so any gateway of the
//! deployment accepts any of its tickets, and checking one costs a hash,
//! not a signature; the tag is compared in constant time.
//!
//! Layout, then base64url without padding (143 characters):
//! `version (1) | key_id (16) | body_sha256 (32) | unix_nanos (8) | node (2)
//! | seq (8) | expires_at (8) | HMAC-SHA256 of all before (32)`, numbers
//! big-endian.

use crate::keys::KeyId;
use crate::stamp::ArrivalStamp;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

const VERSION: u8 = 1;
const PAYLOAD: usize = 1 + 16 + 32 + 8 + 2 + 8 + 8;
const TAG: usize = 32;

/// What a ticket keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub key_id: KeyId,
    pub body_sha256: [u8; 32],
    /// The arrival stamp of the attempt that was turned away.
    pub stamp: ArrivalStamp,
    /// Unix nanoseconds after which the ticket is ignored.
    pub expires_at: u64,
}

/// Why a ticket is refused (`bad_ticket`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// Not base64url of a ticket's length and version.
    #[error("the ticket is not one this deployment issues")]
    Malformed,
    /// The tag does not verify under any of the deployment's keys.
    #[error("the ticket was not issued by this deployment")]
    Forged,
}

/// The deployment's ticket secrets: the first issues, every one verifies
/// (so tickets issued before a rotation stay good until they expire).
#[derive(Clone)]
pub struct TicketKeys {
    keys: Vec<[u8; 32]>,
}

impl std::fmt::Debug for TicketKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TicketKeys({} keys)", self.keys.len())
    }
}

impl TicketKeys {
    /// `current` issues; `previous` still verify.
    pub fn new(current: [u8; 32], previous: impl IntoIterator<Item = [u8; 32]>) -> Self {
        let mut keys = vec![current];
        keys.extend(previous);
        TicketKeys { keys }
    }

    /// Reads a key file's text: one base64url 32-byte secret per line, the
    /// current one first; blank lines and `#` comments are skipped.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key: [u8; 32] = URL_SAFE_NO_PAD
                .decode(line)
                .ok()
                .and_then(|raw| raw.try_into().ok())
                .ok_or_else(|| format!("line {}: not base64url of 32 bytes", n + 1))?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err("no key in the file".into());
        }
        Ok(TicketKeys { keys })
    }

    /// A new secret as one line of a key file.
    pub fn encode_secret(secret: &[u8; 32]) -> String {
        URL_SAFE_NO_PAD.encode(secret)
    }

    fn mac(key: &[u8; 32]) -> Hmac<Sha256> {
        // HMAC takes a key of any length: this cannot fail.
        <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
    }

    /// The ticket's text, under the current key.
    pub fn issue(&self, ticket: &Ticket) -> String {
        let mut bytes = Vec::with_capacity(PAYLOAD + TAG);
        bytes.push(VERSION);
        bytes.extend_from_slice(ticket.key_id.as_bytes());
        bytes.extend_from_slice(&ticket.body_sha256);
        bytes.extend_from_slice(&ticket.stamp.unix_nanos.to_be_bytes());
        bytes.extend_from_slice(&ticket.stamp.node.to_be_bytes());
        bytes.extend_from_slice(&ticket.stamp.seq.to_be_bytes());
        bytes.extend_from_slice(&ticket.expires_at.to_be_bytes());
        let mut mac = Self::mac(&self.keys[0]);
        mac.update(&bytes);
        bytes.extend_from_slice(&mac.finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Verifies and reads a ticket; whether it fits the request (key, bytes,
    /// expiry) is the caller's check.
    pub fn open(&self, text: &str) -> Result<Ticket, TicketError> {
        if text.len() > 512 {
            return Err(TicketError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| TicketError::Malformed)?;
        if bytes.len() != PAYLOAD + TAG || bytes[0] != VERSION {
            return Err(TicketError::Malformed);
        }
        let (payload, tag) = bytes.split_at(PAYLOAD);
        let genuine = self.keys.iter().any(|key| {
            let mut mac = Self::mac(key);
            mac.update(payload);
            mac.verify_slice(tag).is_ok()
        });
        if !genuine {
            return Err(TicketError::Forged);
        }
        let mut at = 1;
        let mut take = |n: usize| {
            let slice = &payload[at..at + n];
            at += n;
            slice
        };
        let key_id = KeyId::from_raw(take(16).try_into().map_err(|_| TicketError::Malformed)?);
        let body_sha256 = take(32).try_into().map_err(|_| TicketError::Malformed)?;
        let number = |b: &[u8]| -> Result<u64, TicketError> {
            Ok(u64::from_be_bytes(
                b.try_into().map_err(|_| TicketError::Malformed)?,
            ))
        };
        let unix_nanos = number(take(8))?;
        let node = u16::from_be_bytes(take(2).try_into().map_err(|_| TicketError::Malformed)?);
        let seq = number(take(8))?;
        let expires_at = number(take(8))?;
        Ok(Ticket {
            key_id,
            body_sha256,
            stamp: ArrivalStamp {
                unix_nanos,
                node,
                seq,
            },
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> Ticket {
        Ticket {
            key_id: KeyId::of(&[7; 32]),
            body_sha256: [9; 32],
            stamp: ArrivalStamp {
                unix_nanos: 1_296_457_200_051_234_567,
                node: 3,
                seq: 42,
            },
            expires_at: 1_296_500_000_000_000_000,
        }
    }

    #[test]
    fn a_ticket_round_trips_and_fits_the_protocol() {
        let keys = TicketKeys::new([1; 32], []);
        let text = keys.issue(&ticket());
        assert!(text.len() <= 512);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(keys.open(&text), Ok(ticket()));
    }

    #[test]
    fn forged_altered_and_garbled_tickets_are_refused() {
        let keys = TicketKeys::new([1; 32], []);
        let text = keys.issue(&ticket());
        let other = TicketKeys::new([2; 32], []);
        assert_eq!(other.open(&text), Err(TicketError::Forged));
        // One changed byte of the stamp, anywhere in the payload.
        let mut bytes = URL_SAFE_NO_PAD.decode(&text).unwrap();
        bytes[60] ^= 1;
        assert_eq!(
            keys.open(&URL_SAFE_NO_PAD.encode(&bytes)),
            Err(TicketError::Forged)
        );
        for garbage in ["", "!!", "AAAA", &"A".repeat(600), &text[..text.len() - 2]] {
            assert_eq!(
                keys.open(garbage),
                Err(TicketError::Malformed),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn the_previous_key_still_verifies_after_a_rotation() {
        let before = TicketKeys::new([1; 32], []);
        let text = before.issue(&ticket());
        let after = TicketKeys::parse(&format!(
            "# current first\n{}\n\n{}\n",
            TicketKeys::encode_secret(&[2; 32]),
            TicketKeys::encode_secret(&[1; 32])
        ))
        .unwrap();
        assert_eq!(after.open(&text), Ok(ticket()));
        assert_eq!(
            before.open(&after.issue(&ticket())),
            Err(TicketError::Forged)
        );
        assert!(TicketKeys::parse("").is_err());
        assert!(
            TicketKeys::parse("not a key")
                .unwrap_err()
                .contains("line 1")
        );
    }
}
