//! `clickday keys`: what the administration publishes so that anyone can
//! check a receipt — the receipt key and the arrival ledger's verifier key.

use anyhow::Context as _;
use clickday_config::Config;
use clickday_ledger::LogKey;
use std::io::Write as _;

#[derive(clap::Subcommand)]
pub enum Action {
    /// Prints the public keys to publish: the receipt key
    /// (`clickday-client verify-receipt --key`) and the arrival ledger's
    /// verifier key (`--ledger-key`). Both are made on the persister's
    /// first start; this never makes one.
    Public {
        /// Print only this key, bare (for scripts).
        #[arg(long, value_enum)]
        only: Option<Which>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Which {
    Receipt,
    Ledger,
}

pub fn run(cfg: &Config, action: Action) -> anyhow::Result<()> {
    let Action::Public { only } = action;
    let receipt = || -> anyhow::Result<(String, String)> {
        let path = &cfg.receipts.key_file;
        let key = clickday_persister::receipts::read_key(path).with_context(|| {
            format!(
                "reading the receipt key {} (it is made on the persister's first start)",
                path.display()
            )
        })?;
        let public = clickday_core::PublicKey::from_bytes(&key.verifying_key().to_bytes())?;
        Ok((public.to_base64(), public.id().to_string()))
    };
    let ledger = || -> anyhow::Result<String> {
        let path = &cfg.ledger.key_file;
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "reading the ledger key {} (it is made on the persister's first start)",
                path.display()
            )
        })?;
        Ok(LogKey::from_text(&text)?.verifier_key().to_string())
    };
    let mut out = std::io::stdout().lock();
    match only {
        Some(Which::Receipt) => writeln!(out, "{}", receipt()?.0)?,
        Some(Which::Ledger) => writeln!(out, "{}", ledger()?)?,
        None => {
            let (key, id) = receipt()?;
            writeln!(out, "receipt key (verify-receipt --key):        {key}")?;
            writeln!(out, "receipt key id (printed on receipts):      {id}")?;
            writeln!(
                out,
                "ledger key (verify-receipt --ledger-key):  {}",
                ledger()?
            )?;
        }
    }
    Ok(())
}
