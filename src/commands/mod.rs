//! The subcommands, each in its own module.

pub mod accounts;
pub mod demo;
pub mod history;
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

/// The configuration at `path` (or the embedded default). With
/// `keep_demo_day`, a zero-configuration calendar's opening is kept in
/// the data directory (see [`demo_opening`]).
pub fn load_config(path: Option<&Path>, keep_demo_day: bool) -> Result<Config, ConfigError> {
    let now = now_nanos();
    let cfg = Config::load(path, std::env::vars(), now)?;
    if !cfg.demo_calendar || !keep_demo_day {
        return Ok(cfg);
    }
    // The zero-configuration "demo" day opens when it was first used in
    // this data directory, for every process and across restarts — not
    // whenever each process happens to load its configuration.
    match demo_opening(&cfg.data_dir, now) {
        Ok(opens_at) if opens_at != now => Config::load(path, std::env::vars(), opens_at),
        Ok(_) => Ok(cfg),
        Err(e) => {
            tracing::warn!(error = %e, "cannot keep the demo click day's opening in the data directory; each process will date it itself");
            Ok(cfg)
        }
    }
}

/// The opening instant of the zero-configuration click day kept in
/// `<data_dir>/demo-click-day` (Unix nanoseconds), written with `now` by
/// the first process to ask (atomically: a loser of the race reads the
/// winner's).
fn demo_opening(data_dir: &Path, now: u64) -> std::io::Result<u64> {
    let path = data_dir.join("demo-click-day");
    if !path.exists() {
        std::fs::create_dir_all(data_dir)?;
        let tmp = data_dir.join(format!("demo-click-day.tmp-{}", std::process::id()));
        std::fs::write(&tmp, format!("{now}\n"))?;
        let linked = std::fs::hard_link(&tmp, &path);
        std::fs::remove_file(&tmp)?;
        match linked {
            Ok(()) => return Ok(now),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    let text = std::fs::read_to_string(&path)?;
    text.trim().parse().map_err(|_| {
        std::io::Error::other(format!(
            "{}: not a Unix time in nanoseconds",
            path.display()
        ))
    })
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

    #[test]
    fn the_demo_day_opens_when_first_used_in_its_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        assert_eq!(super::demo_opening(&data, 1_000).unwrap(), 1_000);
        // Later processes, and restarts, see the same day.
        assert_eq!(super::demo_opening(&data, 9_000).unwrap(), 1_000);
        std::fs::write(data.join("demo-click-day"), "yesterday").unwrap();
        let e = super::demo_opening(&data, 9_000).unwrap_err();
        assert!(e.to_string().contains("demo-click-day"), "{e}");
    }
}
