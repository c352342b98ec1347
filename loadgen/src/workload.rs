//! The workload: virtual mini-clients (accounts with their own Ed25519 keys)
//! and their applications, derived deterministically from a seed. Every body
//! is built and signed before the run starts, as a real mini-client does, so
//! the instant of sending costs nothing but the send.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use clickday_core::KeyId;
use clickday_transport::{Fields, Protocol};
use ed25519_dalek::{Signer as _, SigningKey};
use http::{HeaderMap, HeaderValue};
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::str::FromStr;

/// Which part of the accounts this loadgen instance drives: `index/count`.
/// Shards started with the same seed and instant together make one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    fn owns(&self, account: u32) -> bool {
        account % self.count == self.index
    }

    /// How many of `total` accounts this shard owns, without deriving them.
    pub fn size_of(&self, total: u32) -> u32 {
        ((u64::from(total) + u64::from(self.count - 1 - self.index)) / u64::from(self.count)) as u32
    }
}

/// The accounts shard `shard` owns of `total` derived from `seed`, in index
/// order: what `clickday accounts import` needs, and what the run signs with.
pub fn accounts(seed: u64, total: u32, shard: Shard) -> Vec<Account> {
    (0..total)
        .filter(|a| shard.owns(*a))
        .map(|a| Account::derive(seed, a))
        .collect()
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("shard {text:?} must be i/n with 0 <= i < n, e.g. 0/4");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A virtual mini-client's account.
#[derive(Clone)]
pub struct Account {
    pub index: u32,
    pub account_id: String,
    pub email: String,
    key: SigningKey,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

impl Account {
    /// The same `seed` and `index` always give the same account and key.
    pub fn derive(seed: u64, index: u32) -> Account {
        let digest = Sha256::new()
            .chain_update(b"clickday-loadgen/account/v1")
            .chain_update(seed.to_le_bytes())
            .chain_update(index.to_le_bytes())
            .finalize();
        Account {
            index,
            account_id: format!("lg{seed}-{index}"),
            email: format!("lg{seed}-{index}@loadgen.example"),
            key: SigningKey::from_bytes(&digest.into()),
        }
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.public_key())
    }

    /// One line of the file `clickday accounts import` reads.
    pub fn import_line(&self) -> String {
        serde_json::json!({
            "account_id": self.account_id,
            "email": self.email,
            "public_key": URL_SAFE_NO_PAD.encode(self.public_key()),
        })
        .to_string()
    }

    fn sign(&self, body: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.key.sign(body).to_bytes())
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct WorkloadSpec {
    pub seed: u64,
    /// Accounts across all shards.
    pub accounts: u32,
    pub shard: Shard,
    pub click_day: String,
    /// Categories and provinces are spread over the applications in turn.
    pub categories: Vec<String>,
    pub provinces: Vec<String>,
}

/// One signed application, ready to send (and to resend, byte for byte):
/// its header fields prepared for the run's protocol.
#[derive(Debug, Clone)]
pub struct Job {
    pub account: u32,
    pub fields: Fields,
    pub body: Bytes,
}

impl Job {
    pub fn key_id(&self) -> &HeaderValue {
        &self.fields.map()[KEY]
    }

    pub fn signature(&self) -> &HeaderValue {
        &self.fields.map()[SIGNATURE]
    }
}

const KEY: &str = "clickday-key";
const SIGNATURE: &str = "clickday-signature";

/// Builds and signs `count` applications of this shard's accounts, the
/// accounts taking turns (job k belongs to account k mod A and is that
/// account's application k div A), on every core, their fields encoded
/// for `protocol`.
pub fn build(spec: &WorkloadSpec, count: usize, protocol: Protocol) -> Result<Vec<Job>, String> {
    let accounts = accounts(spec.seed, spec.accounts, spec.shard);
    if accounts.is_empty() {
        return Err(format!(
            "shard {} of {} accounts holds no account",
            spec.shard, spec.accounts
        ));
    }
    if spec.categories.is_empty() || spec.provinces.is_empty() {
        return Err("the workload needs at least one category and one province".into());
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = count.div_ceil(threads).max(1);
    let mut jobs = Vec::with_capacity(count);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|start| {
                let accounts = &accounts;
                scope.spawn(move || {
                    (start..(start + chunk).min(count))
                        .map(|k| job(spec, accounts, k, protocol))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for worker in workers {
            jobs.extend(worker.join().expect("signing thread panicked"));
        }
    });
    Ok(jobs)
}

fn job(spec: &WorkloadSpec, accounts: &[Account], k: usize, protocol: Protocol) -> Job {
    let account = &accounts[k % accounts.len()];
    let nth = k / accounts.len();
    let body = body(spec, account, nth);
    let signature = account.sign(&body);
    let mut fields = HeaderMap::with_capacity(3);
    fields.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let key_id = account.key_id().to_string();
    fields.insert(KEY, HeaderValue::try_from(key_id).expect("hex is a header"));
    let signature = HeaderValue::try_from(signature).expect("base64url is a header");
    fields.insert(SIGNATURE, signature);
    Job {
        account: account.index,
        fields: Fields::encode(fields, protocol),
        body: Bytes::from(body),
    }
}

/// A plausible compiled application: an employer asking for a named worker.
fn body(spec: &WorkloadSpec, account: &Account, nth: usize) -> Vec<u8> {
    let mix = account.index as usize * 7 + nth;
    let category = &spec.categories[mix % spec.categories.len()];
    let province = &spec.provinces[(mix / spec.categories.len()) % spec.provinces.len()];
    const NAMES: [&str; 6] = ["Ana", "Mihai", "Fatima", "Joseph", "Li", "Olena"];
    const SURNAMES: [&str; 6] = ["Pop", "Ionescu", "El Amrani", "Mensah", "Wang", "Kovalenko"];
    serde_json::json!({
        "application_id": format!("app-{nth}"),
        "click_day": spec.click_day,
        "category": category,
        "province": province,
        "form": "LG-2026",
        "data": {
            "employer": {"account": account.account_id, "province": province},
            "worker": {
                "name": NAMES[mix % NAMES.len()],
                "surname": SURNAMES[(mix / 3) % SURNAMES.len()],
                "birth_date": format!("19{:02}-0{}-1{}", 60 + mix % 40, 1 + mix % 9, mix % 10),
            },
            "hours_per_week": 20 + mix % 21,
        },
    })
    .to_string()
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(shard: Shard) -> WorkloadSpec {
        WorkloadSpec {
            seed: 7,
            accounts: 10,
            shard,
            click_day: "demo".into(),
            categories: vec!["a".into(), "b".into()],
            provinces: vec!["RM".into(), "MI".into()],
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_signed_bytes() {
        let one = build(&spec(Shard::WHOLE), 25, Protocol::Http2).unwrap();
        let two = build(&spec(Shard::WHOLE), 25, Protocol::Http2).unwrap();
        assert_eq!(one.len(), 25);
        for (a, b) in one.iter().zip(&two) {
            assert_eq!((&a.body, a.signature()), (&b.body, b.signature()));
        }
        let mut other = spec(Shard::WHOLE);
        other.seed = 8;
        assert_ne!(
            build(&other, 1, Protocol::Http2).unwrap()[0].key_id(),
            one[0].key_id()
        );
    }

    #[test]
    fn signatures_verify_with_the_registered_key() {
        let jobs = build(&spec(Shard::WHOLE), 3, Protocol::Http2).unwrap();
        let account = Account::derive(7, jobs[2].account);
        let key = clickday_core::PublicKey::from_bytes(&account.public_key()).unwrap();
        let sig = clickday_core::keys::decode_signature(jobs[2].signature().as_bytes()).unwrap();
        key.verify(&jobs[2].body, &sig).unwrap();
        assert_eq!(
            jobs[2].key_id().to_str().unwrap(),
            account.key_id().to_string()
        );
        let app = clickday_core::Application::parse(&jobs[2].body).unwrap();
        assert_eq!(app.click_day, "demo");
    }

    #[test]
    fn shards_split_the_accounts_without_overlap() {
        let all: Vec<u32> = (0..3)
            .flat_map(|i| {
                let shard = Shard { index: i, count: 3 };
                let owned = accounts(7, 10, shard);
                assert_eq!(owned.len() as u32, shard.size_of(10));
                owned
            })
            .map(|a| a.index)
            .collect();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_eq!(
            "2/3".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 3 }
        );
        for bad in ["3/3", "1", "a/2", "0/0"] {
            assert!(bad.parse::<Shard>().unwrap_err().contains(bad));
        }
    }

    #[test]
    fn applications_of_one_account_have_distinct_ids() {
        let jobs = build(&spec(Shard::WHOLE), 30, Protocol::Http2).unwrap();
        let ids: std::collections::HashSet<_> = jobs
            .iter()
            .map(|j| {
                let app = clickday_core::Application::parse(&j.body).unwrap();
                (j.account, app.application_id.to_string())
            })
            .collect();
        assert_eq!(ids.len(), 30);
    }
}
