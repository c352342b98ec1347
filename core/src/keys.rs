//! Ed25519 keys, `key_id`s and strict signature verification.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::str::FromStr;

/// `key_id`: the first 16 bytes of SHA-256 over the raw 32-byte public key,
/// shown as 32 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 16]);

impl KeyId {
    pub fn of(public_key: &[u8; 32]) -> Self {
        let digest = Sha256::digest(public_key);
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        KeyId(id)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// A `key_id` from its 16 raw bytes (as carried in a ticket).
    pub fn from_raw(raw: [u8; 16]) -> Self {
        KeyId(raw)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// Why a key or a signature could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The `key_id` is not 32 lowercase hex characters.
    #[error("key id must be 32 lowercase hex characters")]
    BadKeyId,
    /// The public key is not base64url (no padding) of exactly 32 bytes.
    #[error("public key must be base64url without padding of exactly 32 bytes")]
    BadPublicKeyEncoding,
    /// The 32 bytes are not a valid (or are a weak) Ed25519 point.
    #[error("public key is not a valid Ed25519 key")]
    InvalidPublicKey,
    /// The signature header is not base64url (no padding) of exactly 64 bytes.
    #[error("signature must be base64url without padding of exactly 64 bytes")]
    BadSignatureEncoding,
    /// The signature does not verify for these bytes under this key.
    #[error("signature does not verify for the body")]
    Mismatch,
}

impl FromStr for KeyId {
    type Err = SignatureError;

    /// Only the canonical lowercase form is accepted: one key, one spelling.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 32 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(SignatureError::BadKeyId);
        }
        let mut id = [0u8; 16];
        hex::decode_to_slice(s, &mut id).map_err(|_| SignatureError::BadKeyId)?;
        Ok(KeyId(id))
    }
}

/// A registered applicant's public key, decompressed once at load time so
/// that each verification on the hot path does no extra work.
#[derive(Clone, Debug)]
pub struct PublicKey {
    key: VerifyingKey,
    id: KeyId,
}

impl PublicKey {
    pub fn from_bytes(raw: &[u8; 32]) -> Result<Self, SignatureError> {
        let key = VerifyingKey::from_bytes(raw).map_err(|_| SignatureError::InvalidPublicKey)?;
        // Weak (small-order) keys would let anyone forge signatures.
        if key.is_weak() {
            return Err(SignatureError::InvalidPublicKey);
        }
        Ok(PublicKey {
            key,
            id: KeyId::of(raw),
        })
    }

    /// Parses the base64url (no padding) form used by the accounts file and APIs.
    pub fn from_base64(text: &str) -> Result<Self, SignatureError> {
        let raw = URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| SignatureError::BadPublicKeyEncoding)?;
        let raw: [u8; 32] = raw
            .try_into()
            .map_err(|_| SignatureError::BadPublicKeyEncoding)?;
        Self::from_bytes(&raw)
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.as_bytes())
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Strict verification (rejects non-canonical and small-order
    /// signature components) of `signature` over the exact `body` bytes.
    pub fn verify(&self, body: &[u8], signature: &Signature) -> Result<(), SignatureError> {
        self.key
            .verify_strict(body, signature)
            .map_err(|_| SignatureError::Mismatch)
    }
}

/// Decodes a `Clickday-Signature` header value.
pub fn decode_signature(header: &[u8]) -> Result<Signature, SignatureError> {
    let raw = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| SignatureError::BadSignatureEncoding)?;
    let raw: [u8; 64] = raw
        .try_into()
        .map_err(|_| SignatureError::BadSignatureEncoding)?;
    Ok(Signature::from_bytes(&raw))
}

/// Encodes a signature the way `Clickday-Signature` carries it.
pub fn encode_signature(signature: &Signature) -> String {
    URL_SAFE_NO_PAD.encode(signature.to_bytes())
}

/// Verifies many (body, signature, key) triples at once, which costs about
/// half as much CPU per signature as one by one. On failure the caller must
/// fall back to single verification to learn which item is bad.
pub fn verify_batch(
    bodies: &[&[u8]],
    signatures: &[Signature],
    keys: &[VerifyingKey],
) -> Result<(), SignatureError> {
    ed25519_dalek::verify_batch(bodies, signatures, keys).map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer as _, SigningKey};

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    #[test]
    fn key_id_is_sha256_prefix_in_lowercase_hex() {
        let public = key().verifying_key().to_bytes();
        let id = KeyId::of(&public);
        let expected = hex::encode(&Sha256::digest(public)[..16]);
        assert_eq!(id.to_string(), expected);
        assert_eq!(id.to_string().len(), 32);
        assert_eq!(expected.parse::<KeyId>(), Ok(id));
        assert_eq!(
            expected.to_uppercase().parse::<KeyId>(),
            Err(SignatureError::BadKeyId)
        );
        assert_eq!("abc".parse::<KeyId>(), Err(SignatureError::BadKeyId));
    }

    #[test]
    fn signature_covers_the_exact_bytes() {
        let signing = key();
        let public =
            PublicKey::from_base64(&URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes()))
                .unwrap();
        let body = br#"{"application_id":"a"}"#;
        let header = encode_signature(&signing.sign(body));
        let signature = decode_signature(header.as_bytes()).unwrap();
        assert_eq!(public.verify(body, &signature), Ok(()));
        assert_eq!(
            public.verify(br#"{"application_id": "a"}"#, &signature),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            decode_signature(b"not base64!").err(),
            Some(SignatureError::BadSignatureEncoding)
        );
        assert_eq!(
            decode_signature(&header.as_bytes()[..40]).err(),
            Some(SignatureError::BadSignatureEncoding)
        );
    }

    #[test]
    fn weak_and_malformed_public_keys_are_refused() {
        // The identity point encodes as 1 followed by zeros: small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            PublicKey::from_bytes(&identity).err(),
            Some(SignatureError::InvalidPublicKey)
        );
        assert_eq!(
            PublicKey::from_base64("AAAA").err(),
            Some(SignatureError::BadPublicKeyEncoding)
        );
    }

    #[test]
    fn batch_verification_agrees_with_single() {
        let signers: Vec<SigningKey> = (1..=8u8)
            .map(|i| SigningKey::from_bytes(&[i; 32]))
            .collect();
        let bodies: Vec<Vec<u8>> = (0..8).map(|i| format!("body {i}").into_bytes()).collect();
        let sigs: Vec<Signature> = signers
            .iter()
            .zip(&bodies)
            .map(|(k, b)| k.sign(b))
            .collect();
        let keys: Vec<VerifyingKey> = signers.iter().map(|k| k.verifying_key()).collect();
        let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
        assert_eq!(verify_batch(&refs, &sigs, &keys), Ok(()));
        let mut tampered = sigs.clone();
        tampered.swap(0, 1);
        assert_eq!(
            verify_batch(&refs, &tampered, &keys),
            Err(SignatureError::Mismatch)
        );
    }
}
