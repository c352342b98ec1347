//! A test applicant: an account with an Ed25519 key that signs bodies.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clickday_core::KeyId;
use ed25519_dalek::{Signer as _, SigningKey};

pub struct Applicant {
    pub account_id: String,
    pub email: String,
    key: SigningKey,
}

impl Applicant {
    /// Deterministic from `n`, so failures reproduce.
    pub fn new(n: u64) -> Self {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&n.to_le_bytes());
        seed[31] = 0xcd;
        Applicant {
            account_id: format!("acct-{n}"),
            email: format!("acct-{n}@example.it"),
            key: SigningKey::from_bytes(&seed),
        }
    }

    pub fn key_id(&self) -> String {
        KeyId::of(&self.key.verifying_key().to_bytes()).to_string()
    }

    pub fn public_key_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.verifying_key().as_bytes())
    }

    /// The `Clickday-Signature` header value for `body`.
    pub fn sign(&self, body: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.key.sign(body).to_bytes())
    }

    /// A line of the `clickday accounts import` file.
    pub fn import_line(&self) -> String {
        serde_json::json!({
            "account_id": self.account_id,
            "email": self.email,
            "public_key": self.public_key_b64(),
        })
        .to_string()
    }
}

/// A valid body for `application_id` on `click_day`.
pub fn body(application_id: &str, click_day: &str) -> Vec<u8> {
    serde_json::json!({
        "application_id": application_id,
        "click_day": click_day,
        "category": "lavoro-domestico",
        "province": "RM",
        "form": "LD-2011",
        "data": {"worker": {"name": "Ana", "surname": "Pop"}, "hours": 30},
    })
    .to_string()
    .into_bytes()
}
