//! `clickday status`: what is waiting where, for the operator on duty.

use clickday_config::Config;
use clickday_core::time::format_rfc3339_nanos;

pub async fn print(cfg: &Config) -> anyhow::Result<()> {
    let queue = super::open_queue(cfg).await?;
    let store = super::open_store(cfg).await?;
    println!("queue {}", cfg.queue.url.to_url());
    for shard in 0..queue.shards() {
        println!(
            "  shard {shard}: {} waiting, {} delivered and not yet acknowledged",
            queue.backlog(shard).await?,
            queue.pending(shard).await?
        );
    }
    let s = store.status().await?;
    println!("store {}", cfg.store.to_url());
    println!(
        "  {} submissions stored, {} dead letters",
        s.submissions, s.dead_letters
    );
    match s.oldest_without_receipt {
        Some(at) => {
            let age = super::now_nanos().saturating_sub(at) / 1_000_000_000;
            println!(
                "  {} without a receipt; the oldest arrived {} ({age} s ago)",
                s.without_receipt,
                format_rfc3339_nanos(at)
            );
        }
        None => println!("  every stored submission has its receipt"),
    }
    println!("  {} emails waiting to be sent", s.unsent_emails);
    for day in cfg.calendar.days() {
        match store.ranked_at(&day.id).await? {
            Some(_) => println!("  click day {}: ranked", day.id),
            None => println!(
                "  click day {}: not ranked yet (closes {})",
                day.id,
                format_rfc3339_nanos(day.closes_at)
            ),
        }
    }
    Ok(())
}
