//! `clickday accounts`: import, add, revoke and list applicant keys.

use super::UsageError;
use anyhow::Context as _;
use clickday_config::Config;
use clickday_core::PublicKey;
use clickday_store::{NewAccount, validate_account_id, validate_email};
use serde::Deserialize;
use std::io::BufRead as _;
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum Action {
    /// Imports JSON lines {"account_id","email","public_key"}; all or nothing.
    Import {
        /// The file, one JSON object per line (`-` for standard input).
        file: PathBuf,
    },
    /// Registers one account and key.
    Add {
        #[arg(long)]
        account_id: String,
        #[arg(long)]
        email: String,
        /// Base64url (no padding) of the raw 32-byte Ed25519 public key.
        #[arg(long)]
        public_key: String,
    },
    /// Revokes a key: the gateway refuses it within seconds.
    Revoke {
        /// The 32-hex-character key id.
        key_id: String,
    },
    /// Lists every key with its account and state.
    List {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    account_id: String,
    email: String,
    public_key: String,
}

fn parse_account(
    account_id: String,
    email: String,
    public_key: &str,
) -> Result<NewAccount, String> {
    validate_account_id(&account_id)?;
    validate_email(&email)?;
    let public_key = PublicKey::from_base64(public_key).map_err(|e| e.to_string())?;
    Ok(NewAccount {
        account_id,
        email,
        public_key,
    })
}

fn read_import(file: &PathBuf) -> anyhow::Result<Vec<NewAccount>> {
    let reader: Box<dyn std::io::BufRead> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(file)
            .map_err(|e| UsageError(format!("{}: {e}", file.display())))?;
        Box::new(std::io::BufReader::new(f))
    };
    let mut accounts = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", file.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = |msg: String| {
            UsageError(format!(
                "{} line {}: {msg}; nothing was imported",
                file.display(),
                n + 1
            ))
        };
        let parsed: Line = serde_json::from_str(&line).map_err(|e| at(e.to_string()))?;
        accounts
            .push(parse_account(parsed.account_id, parsed.email, &parsed.public_key).map_err(at)?);
    }
    Ok(accounts)
}

pub async fn run(cfg: &Config, action: Action) -> anyhow::Result<()> {
    match action {
        Action::Import { file } => {
            let accounts = read_import(&file)?;
            let store = super::open_store(cfg).await?;
            let started = std::time::Instant::now();
            store.import_accounts(&accounts).await.map_err(rejected)?;
            println!(
                "imported {} keys in {:.2?}",
                accounts.len(),
                started.elapsed()
            );
        }
        Action::Add {
            account_id,
            email,
            public_key,
        } => {
            let account = parse_account(account_id, email, &public_key).map_err(UsageError)?;
            let key_id = account.public_key.id();
            super::open_store(cfg)
                .await?
                .import_accounts(&[account])
                .await
                .map_err(rejected)?;
            println!("{key_id}");
        }
        Action::Revoke { key_id } => {
            key_id.parse::<clickday_core::KeyId>().map_err(|_| {
                UsageError(format!(
                    "{key_id:?} is not a key id (32 lowercase hex characters)"
                ))
            })?;
            if super::open_store(cfg).await?.revoke_key(&key_id).await? {
                println!("revoked {key_id}");
            } else {
                return Err(UsageError(format!("no active key {key_id}")).into());
            }
        }
        Action::List { json } => {
            for key in super::open_store(cfg).await?.list_keys().await? {
                let state = if key.revoked { "revoked" } else { "active" };
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"key_id": key.key_id, "account_id": key.account_id, "state": state})
                    );
                } else {
                    println!("{}  {:<8}  {}", key.key_id, state, key.account_id);
                }
            }
        }
    }
    Ok(())
}

/// A key owned by another account is the operator's input error.
fn rejected(e: clickday_store::StoreError) -> anyhow::Error {
    match e {
        e @ (clickday_store::StoreError::KeyConflict { .. }
        | clickday_store::StoreError::Invalid { .. }) => UsageError(e.to_string()).into(),
        other => other.into(),
    }
}
