//! The receipt statement: the canonical text the system signs for every
//! stored submission, so anyone can verify a receipt offline.
//!
//! Format (UTF-8, `\n` after every line, no trailing spaces):
//!
//! ```text
//! clickday-receipt-v2
//! submission_id: 20110131T070000051234567Z-00001
//! received_at: 2011-01-31T07:00:00.051234567Z
//! node: 1
//! seq: 42
//! account_id: mario.rossi
//! application_id: domanda-001
//! click_day: 2011-01-31
//! category: lavoro-domestico
//! province: RM
//! form: LD-2011
//! key_id: <32 lowercase hex characters>
//! body_sha256: <64 lowercase hex characters>
//! ```
//!
//! The signature is Ed25519 over exactly those bytes, shown as base64url
//! without padding; the receipt key's id follows the same rule as `key_id`.
//! Version 2 adds what the arrival ledger's leaf holds besides (node, seq
//! and key id), so the leaf can be rebuilt from the receipt alone and its
//! inclusion proof checked; version-1 statements still verify.

use crate::accepted::Submission;
use crate::keys::{KeyId, PublicKey, SignatureError, decode_signature, encode_signature};
use crate::time::format_rfc3339_nanos;
use ed25519_dalek::{Signer as _, SigningKey};

pub const HEADER: &str = "clickday-receipt-v2";
/// Receipts made before the arrival ledger; they still verify.
pub const HEADER_V1: &str = "clickday-receipt-v1";

/// The canonical text signed for `submission`: the facts of its receipt.
pub fn statement_text(submission: &Submission) -> String {
    let app = &submission.application;
    format!(
        "{HEADER}\nsubmission_id: {}\nreceived_at: {}\nnode: {}\nseq: {}\naccount_id: {}\n\
         application_id: {}\nclick_day: {}\ncategory: {}\nprovince: {}\nform: {}\nkey_id: {}\n\
         body_sha256: {}\n",
        submission.submission_id,
        format_rfc3339_nanos(submission.received_at()),
        submission.stamp.node,
        submission.stamp.seq,
        submission.account_id,
        app.application_id,
        app.click_day,
        app.category,
        app.province,
        app.form,
        submission.key_id,
        hex::encode(submission.body_sha256),
    )
}

/// The value of `field` in a statement (`field: value` lines).
pub fn statement_field<'a>(statement: &'a str, field: &str) -> Option<&'a str> {
    statement.lines().find_map(|line| {
        line.strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(": "))
    })
}

/// Signs a statement text; returns the signature as base64url.
pub fn sign_statement(text: &str, key: &SigningKey) -> String {
    encode_signature(&key.sign(text.as_bytes()))
}

/// Verifies `signature` (base64url) over the statement `text` exactly as
/// given, e.g. as extracted from a receipt.
pub fn verify_text(key: &PublicKey, text: &str, signature: &str) -> Result<(), SignatureError> {
    let signature = decode_signature(signature.trim().as_bytes())?;
    key.verify(text.as_bytes(), &signature)
}

/// Finds the statement in extracted receipt text: from the header line to
/// the `body_sha256:` line, each line trimmed of surrounding white space
/// (text extractors add indentation), rejoined with `\n`.
pub fn find_statement(receipt_text: &str) -> Option<String> {
    let lines: Vec<&str> = receipt_text.lines().map(str::trim).collect();
    let start = lines.iter().position(|l| *l == HEADER || *l == HEADER_V1)?;
    let end = start
        + lines[start..]
            .iter()
            .position(|l| l.starts_with("body_sha256: "))?;
    let mut text = lines[start..=end].join("\n");
    text.push('\n');
    Some(text)
}

/// The id under which a receipt key is published.
pub fn receipt_key_id(key: &SigningKey) -> KeyId {
    KeyId::of(&key.verifying_key().to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement() -> String {
        statement_text(&Submission {
            submission_id: "20110131T070000051234567Z-00001".into(),
            account_id: "mario.rossi".into(),
            key_id: "k".into(),
            application: crate::Application {
                application_id: "domanda-001".into(),
                click_day: "2011-01-31".into(),
                category: "lavoro-domestico".into(),
                province: "RM".into(),
                form: "LD-2011".into(),
            },
            stamp: crate::ArrivalStamp {
                unix_nanos: 1_296_457_200_051_234_567,
                node: 1,
                seq: 1,
            },
            body: bytes::Bytes::new(),
            body_sha256: [0xab; 32],
            signature: [0; 64],
        })
    }

    #[test]
    fn signs_the_canonical_text_and_refuses_one_changed_byte() {
        let key = SigningKey::from_bytes(&[4; 32]);
        let public = PublicKey::from_bytes(&key.verifying_key().to_bytes()).unwrap();
        let text = statement();
        assert!(
            text.starts_with(
                "clickday-receipt-v2\nsubmission_id: 20110131T070000051234567Z-00001\n"
            )
        );
        assert!(text.contains("received_at: 2011-01-31T07:00:00.051234567Z\nnode: 1\nseq: 1\n"));
        assert_eq!(statement_field(&text, "key_id"), Some("k"));
        let signature = sign_statement(&text, &key);
        assert_eq!(verify_text(&public, &text, &signature), Ok(()));
        let tampered = text.replacen("RM", "RN", 1);
        assert_eq!(
            verify_text(&public, &tampered, &signature),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn finds_the_statement_in_extracted_text() {
        let text = statement();
        let extracted = format!(
            "Ricevuta di invio\n  Some heading\n{}\n   Firma\n",
            text.replace('\n', "  \n   ")
        );
        assert_eq!(find_statement(&extracted).as_deref(), Some(text.as_str()));
        assert_eq!(find_statement("no statement here"), None);
        // A version-1 receipt (before the ledger) is still found.
        let v1 = "clickday-receipt-v1\nsubmission_id: x\nbody_sha256: ab\n";
        assert_eq!(find_statement(&format!("a\n{v1}b\n")).as_deref(), Some(v1));
    }
}
