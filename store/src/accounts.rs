//! Accounts and keys as values, and the rules for them.

use clickday_core::PublicKey;

/// One line of `clickday accounts import`, validated.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub account_id: String,
    pub email: String,
    pub public_key: PublicKey,
}

/// A key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub key_id: String,
    pub account_id: String,
    pub public_key: [u8; 32],
    pub revoked: bool,
}

/// Keys changed since a point in time, and the database time of the read.
#[derive(Debug, Clone)]
pub struct KeyChanges {
    /// Database time (Unix microseconds) taken before the rows were read.
    pub db_now: i64,
    pub rows: Vec<KeyRow>,
}

/// `[A-Za-z0-9._@-]{1,128}`: safe in logs, URLs and dedupe keys.
pub fn validate_account_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "account_id {id:?} must match [A-Za-z0-9._@-]{{1,128}}"
        ))
    }
}

/// A plausible address (the portal's forms apply the same rule).
pub fn validate_email(email: &str) -> Result<(), String> {
    if clickday_forms::looks_like_email(email) {
        Ok(())
    } else {
        Err(format!("email {email:?} is not a valid address"))
    }
}

/// Last line wins for an account listed twice: the file is the truth.
pub(crate) fn dedupe_accounts(accounts: &[NewAccount]) -> Vec<&NewAccount> {
    let mut index = std::collections::HashMap::new();
    for (i, a) in accounts.iter().enumerate() {
        index.insert(a.account_id.as_str(), i);
    }
    let mut keep: Vec<usize> = index.into_values().collect();
    keep.sort_unstable();
    keep.into_iter().map(|i| &accounts[i]).collect()
}

pub(crate) fn key_conflict(key_id: &str, owner: &str, wanted: &str) -> crate::StoreError {
    crate::StoreError::KeyConflict {
        key_id: key_id.to_string(),
        owner: owner.to_string(),
        wanted: wanted.to_string(),
    }
}
