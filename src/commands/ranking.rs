//! `clickday rank` and `clickday ranking`.

use super::UsageError;
use clickday_config::Config;
use clickday_core::ClickDay;
use clickday_core::time::format_rfc3339_nanos;
use clickday_store::RankingFilter;
use std::io::Write as _;

fn click_day<'a>(cfg: &'a Config, id: &str) -> Result<&'a ClickDay, UsageError> {
    cfg.calendar.get(id).ok_or_else(|| {
        let known: Vec<&str> = cfg.calendar.days().map(|d| d.id.as_str()).collect();
        UsageError(format!(
            "click day {id:?} is not in the calendar (known: {})",
            known.join(", ")
        ))
    })
}

pub async fn rank(cfg: &Config, id: &str) -> anyhow::Result<()> {
    let day = click_day(cfg, id)?;
    let store = super::open_store(cfg).await?;
    let ranked = clickday_persister::rank_click_day(&*store, day).await?;
    writeln!(
        std::io::stdout(),
        "ranked {ranked} submissions of click day {id}"
    )?;
    Ok(())
}

pub async fn print(
    cfg: &Config,
    id: &str,
    category: Option<String>,
    province: Option<String>,
) -> anyhow::Result<()> {
    click_day(cfg, id)?;
    let mut out = std::io::stdout();
    let store = super::open_store(cfg).await?;
    let rows = store
        .ranking(id, &RankingFilter { category, province })
        .await?;
    if store.ranked_at(id).await?.is_none() {
        eprintln!("click day {id} has not been ranked yet (clickday rank {id})");
    }
    writeln!(
        out,
        "{:<20} {:<8} {:>6}  {:<6} {:<31} {:<30} account / application",
        "category", "province", "rank", "quota", "received_at", "submission_id"
    )?;
    for r in rows {
        let rank = r.rank.map_or("-".to_string(), |n| n.to_string());
        let quota = match r.within_quota {
            Some(true) => "in",
            Some(false) => "out",
            None => "-",
        };
        writeln!(
            out,
            "{:<20} {:<8} {:>6}  {:<6} {:<31} {:<30} {} / {}",
            r.category,
            r.province,
            rank,
            quota,
            format_rfc3339_nanos(r.received_at),
            r.submission_id,
            r.account_id,
            r.application_id
        )?;
    }
    Ok(())
}
