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

/// A plausible address: one `@`, something before, a dot after, no spaces.
pub fn validate_email(email: &str) -> Result<(), String> {
    let ok = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(char::is_whitespace)
                && !domain.contains('@')
                && email.len() <= 254
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("email {email:?} is not a valid address"))
    }
}

/// Maps a `key_id, account_id, public_key, revoked_at` row of either backend.
pub(crate) fn key_row<'r, R>(row: &'r R) -> Result<KeyRow, crate::StoreError>
where
    R: sqlx::Row,
    &'r str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let public_key: Vec<u8> = row.try_get("public_key")?;
    Ok(KeyRow {
        key_id: row.try_get("key_id")?,
        account_id: row.try_get("account_id")?,
        public_key: public_key
            .try_into()
            .map_err(|_| crate::StoreError::Rejected("stored public key is not 32 bytes".into()))?,
        revoked: row.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
    })
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
    crate::StoreError::Rejected(format!(
        "key {key_id} is registered to account {owner:?}, not {wanted:?}; nothing was imported"
    ))
}
