//! `clickday status`: what is waiting where, for the operator on duty.

use clickday_config::Config;
use clickday_core::time::format_rfc3339_nanos;
use std::io::Write as _;

/// Writes to standard output; a reader that went away (`| head`) ends the
/// command quietly (see `main`), never with a panic.
pub async fn print(cfg: &Config) -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    let queue = super::open_queue(cfg).await?;
    let store = super::open_store(cfg).await?;
    writeln!(out, "queue {}", cfg.queue.url.to_url())?;
    for shard in 0..queue.shards() {
        writeln!(
            out,
            "  shard {shard}: {} waiting, {} delivered and not yet acknowledged",
            queue.backlog(shard).await?,
            queue.pending(shard).await?
        )?;
    }
    let s = store.status().await?;
    writeln!(out, "store {}", cfg.store.to_url())?;
    writeln!(
        out,
        "  {} submissions stored, {} dead letters",
        s.submissions, s.dead_letters
    )?;
    match s.oldest_without_receipt {
        Some(at) => {
            let age = super::now_nanos().saturating_sub(at) / 1_000_000_000;
            writeln!(
                out,
                "  {} without a receipt; the oldest arrived {} ({age} s ago)",
                s.without_receipt,
                format_rfc3339_nanos(at)
            )?;
        }
        None => writeln!(out, "  every stored submission has its receipt")?,
    }
    writeln!(out, "  {} emails waiting to be sent", s.unsent_emails)?;
    for day in cfg.calendar.days() {
        match store.ranked_at(&day.id).await? {
            Some(_) => writeln!(out, "  click day {}: ranked", day.id)?,
            None => writeln!(
                out,
                "  click day {}: not ranked yet (closes {})",
                day.id,
                format_rfc3339_nanos(day.closes_at)
            )?,
        }
    }
    Ok(())
}
