//! Passwords, one-time links, session cookies and CSRF tokens.
//!
//! Passwords are kept as argon2id hashes (OWASP's second parameter set:
//! 19 MiB, 2 passes). Links and session cookies carry 256-bit random
//! secrets; the database keeps only their SHA-256, so a copy of it opens
//! nothing.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Passwords shorter than this are refused (NIST SP 800-63B's minimum).
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longer ones too: hashing is deliberately expensive.
pub const MAX_PASSWORD_LEN: usize = 128;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string of `password`, with a fresh random salt.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes fit a salt");
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2id hashes any password of bounded length")
        .to_string()
}

/// Whether `password` matches the stored PHC string. A stored value that
/// is not one ([`UNUSABLE_PASSWORD`]) matches nothing, after as long a
/// check as a real one, so sign-in timing does not tell invited accounts.
pub fn verify_password(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(hash) => argon2().verify_password(password.as_bytes(), &hash).is_ok(),
        Err(_) => {
            let decoy = PasswordHash::new(decoy_hash());
            let _ = decoy.map(|hash| argon2().verify_password(password.as_bytes(), &hash));
            false
        }
    }
}

/// The password of an account whose owner has not chosen one yet (an
/// invitation): no password matches it, and it costs no hashing to make,
/// so a bulk import of sub-accounts takes no CPU for hashes.
pub const UNUSABLE_PASSWORD: &str = "!invited";

/// A hash to verify against when the username is unknown, so a login
/// takes as long whether or not the account exists.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("not a password of anyone"))
}

/// A new random secret, URL-safe.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps of a secret.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Equal strings, compared in time independent of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A random id of `len` characters from an alphabet without look-alikes
/// (no 0/O, 1/I): users read application ids aloud to the help desk.
pub fn readable_id(len: usize) -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut bytes = vec![0u8; len];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_only_against_its_own_hash() {
        let stored = hash_password("correct horse");
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify_password("correct horse", &stored));
        assert!(!verify_password("correct horsE", &stored));
        assert!(!verify_password("correct horse", "not a phc string"));
        assert_ne!(stored, hash_password("correct horse"), "salted");
    }

    #[test]
    fn secrets_are_random_and_only_their_hash_is_kept() {
        let a = new_secret();
        assert_eq!(a.len(), 43);
        assert_ne!(a, new_secret());
        assert_eq!(secret_hash(&a), secret_hash(&a));
        assert!(!secret_hash(&a).contains(&a));
        assert!(same(&a, &a.clone()) && !same(&a, &new_secret()) && !same("a", "ab"));
        assert!(readable_id(10).bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
