//! The subcommands, each in its own module.

pub mod accounts;
pub mod demo;
pub mod keys;
pub mod ledger;
pub mod ranking;
pub mod serve;
pub mod staff;
pub mod status;

use anyhow::Context as _;
use clickday_config::{Config, ConfigError};
use std::path::Path;
use std::sync::Arc;

/// A mistake in the command line or its input files (exit code 64).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Now, for the commands themselves (the services are handed a clock).
pub fn now_nanos() -> u64 {
    clickday_core::system_clock()()
}

pub fn load_config(path: Option<&Path>) -> Result<Config, ConfigError> {
    Config::load(path, std::env::vars(), now_nanos())
}

pub async fn open_store(cfg: &Config) -> anyhow::Result<Arc<dyn clickday_store::Store>> {
    let url = cfg.store.to_url();
    clickday_store::open(&url)
        .await
        .with_context(|| format!("opening the store at {url}"))
}

/// The store with the portal's side of it.
pub async fn open_portal_store(
    cfg: &Config,
) -> anyhow::Result<Arc<dyn clickday_store::PortalStore>> {
    let url = cfg.store.to_url();
    clickday_store::open_portal(&url)
        .await
        .with_context(|| format!("opening the store at {url}"))
}

pub async fn open_queue(cfg: &Config) -> anyhow::Result<Arc<dyn clickday_queue::Queue>> {
    let url = cfg.queue.url.to_url();
    clickday_queue::open(&url, &(&cfg.queue).into())
        .await
        .with_context(|| format!("opening the queue at {url}"))
}

/// Opening runs the migrations; nothing else to do.
pub async fn migrate(cfg: &Config) -> anyhow::Result<()> {
    open_store(cfg).await?;
    open_queue(cfg).await?;
    tracing::info!(store = %cfg.store.to_url(), queue = %cfg.queue.url.to_url(), "schemas are up to date");
    Ok(())
}
